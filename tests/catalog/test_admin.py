"""The catalog admin: pages load, and saves, deletes and actions go through catalog.api."""

import pytest
from django.contrib.messages import get_messages

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization

KEY = "course-v1:edX+DemoX+2027"


@pytest.fixture
def run(db):
    return catalog_api.create_course_run(KEY, title="Demo", modes=[ModeSpec("audit"), ModeSpec("verified", 4900)])


def messages_of(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


@pytest.mark.parametrize(
    "url",
    [
        "/admin/catalog/organization/?q=ed&active__exact=1",
        "/admin/catalog/catalogcourse/?q=demo",
        "/admin/catalog/courserun/?q=demo&pacing__exact=instructor",
        "/admin/catalog/coursemode/?slug__exact=verified",
        "/admin/catalog/organization/add/",
        "/admin/catalog/catalogcourse/add/",
        "/admin/catalog/courserun/add/",
        "/admin/catalog/coursemode/add/",
    ],
)
def test_pages_load(admin_client, run, url):
    assert admin_client.get(url).status_code == 200


def test_run_search_finds_keys_ignoring_case(admin_client, run):
    catalog_api.create_course_run("course-v1:MITx+Bio+1", title="Biology")
    response = admin_client.get("/admin/catalog/courserun/?q=demox")
    assert [str(r.course_key) for r in response.context["cl"].result_list] == [KEY]


def test_change_and_history_pages_load(admin_client, run):
    mode = run.modes.get(slug="verified")
    for url in (
        f"/admin/catalog/organization/{run.catalog_course.org.pk}/change/",
        f"/admin/catalog/catalogcourse/{run.catalog_course.pk}/change/",
        f"/admin/catalog/courserun/{run.pk}/change/",
        f"/admin/catalog/courserun/{run.pk}/history/",
        f"/admin/catalog/coursemode/{mode.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_add_organization(admin_client, db):
    response = admin_client.post(
        "/admin/catalog/organization/add/", {"short_name": "MITx", "name": "MIT", "description": "", "active": "on"}
    )
    assert response.status_code == 302
    org = Organization.objects.get()
    assert (org.short_name, org.short_name_normalized, org.history.count()) == ("MITx", "mitx", 1)


def test_renaming_an_organization_with_runs_is_refused_with_a_message(admin_client, run):
    org = run.catalog_course.org
    response = admin_client.post(
        f"/admin/catalog/organization/{org.pk}/change/",
        {"short_name": "Other", "name": "edX", "description": "", "active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    assert "course runs whose keys name it" in messages_of(response)
    org.refresh_from_db()
    assert org.short_name == "edX"


def test_add_catalog_course_uses_the_api(admin_client, db):
    response = admin_client.post(
        "/admin/catalog/catalogcourse/add/",
        {"org_short_name": "edX", "course_code": "New", "title": "", "language": "zh-hans", "description": ""},
    )
    assert response.status_code == 302
    cc = CatalogCourse.objects.get()
    assert (cc.key_str, cc.title, cc.language) == ("catalog-course:edX:New", "New", "zh-cn")


def add_run_form(**overrides) -> dict:
    form = {
        "new_course_key": "course-v1:edX+DemoX+2028",
        "title": "",
        "language": "",
        "start_0": "2027-01-01",
        "start_1": "00:00:00",
        "end_0": "2027-03-01",
        "end_1": "00:00:00",
        "enrollment_start_0": "",
        "enrollment_start_1": "",
        "enrollment_end_0": "",
        "enrollment_end_1": "",
        "pacing": "self",
        "marketable": "on",
        "modes": "audit:0;verified:4900",
    }
    return {**form, **overrides}


def test_add_run_uses_the_api(admin_client, run):
    response = admin_client.post("/admin/catalog/courserun/add/", add_run_form())
    assert response.status_code == 302
    new = CourseRun.objects.get(run_code="2028")
    assert (new.catalog_course, new.title, new.pacing) == (run.catalog_course, "Demo", "self")
    assert sorted(new.modes.values_list("slug", flat=True)) == ["audit", "verified"]


def test_add_run_with_a_case_only_duplicate_key_is_refused_without_a_500(admin_client, run):
    response = admin_client.post(
        "/admin/catalog/courserun/add/", add_run_form(new_course_key="course-v1:EDX+DemoX+2027"), follow=True
    )
    assert response.status_code == 200
    assert "differs only in case" in messages_of(response)
    assert CourseRun.objects.count() == 1


def test_add_run_form_errors_are_shown(admin_client, run):
    response = admin_client.post("/admin/catalog/courserun/add/", add_run_form(modes="gold:1", end_0="2026-01-01"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors.keys() >= {"modes"}
    assert CourseRun.objects.count() == 1


def test_change_run_and_its_modes_through_the_inline(admin_client, run):
    audit, verified = run.modes.order_by("slug")
    form = {
        "title": "Renamed",
        "start_0": "",
        "start_1": "",
        "end_0": "",
        "end_1": "",
        "enrollment_start_0": "",
        "enrollment_start_1": "",
        "enrollment_end_0": "",
        "enrollment_end_1": "",
        "pacing": "instructor",
        "modes-TOTAL_FORMS": "3",
        "modes-INITIAL_FORMS": "2",
        "modes-MIN_NUM_FORMS": "0",
        "modes-MAX_NUM_FORMS": "1000",
        "modes-0-id": str(audit.pk),
        "modes-0-course_run": str(run.pk),
        "modes-0-slug": "audit",
        "modes-0-name": "",
        "modes-0-price_cents": "0",
        "modes-0-currency": "usd",
        "modes-0-DELETE": "on",
        "modes-1-id": str(verified.pk),
        "modes-1-course_run": str(run.pk),
        "modes-1-slug": "verified",
        "modes-1-name": "",
        "modes-1-price_cents": "5900",
        "modes-1-currency": "usd",
        "modes-2-course_run": str(run.pk),
        "modes-2-slug": "honor",
        "modes-2-name": "",
        "modes-2-price_cents": "0",
        "modes-2-currency": "usd",
    }
    response = admin_client.post(f"/admin/catalog/courserun/{run.pk}/change/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    run.refresh_from_db()
    assert (run.title, run.marketable) == ("Renamed", False)
    assert sorted(run.modes.values_list("slug", "price_cents")) == [("honor", 0), ("verified", 5900)]
    assert CourseMode.history.filter(history_type="-").count() == 1


def test_marketable_actions(admin_client, run):
    response = admin_client.post(
        "/admin/catalog/courserun/", {"action": "mark_unmarketable", "_selected_action": [str(run.pk)]}, follow=True
    )
    assert "1 run(s) marked not marketable" in messages_of(response)
    run.refresh_from_db()
    assert not run.marketable


def test_organization_actions(admin_client, run):
    org = run.catalog_course.org
    admin_client.post("/admin/catalog/organization/", {"action": "deactivate", "_selected_action": [str(org.pk)]})
    org.refresh_from_db()
    assert not org.active


def test_delete_run_through_the_admin(admin_client, run):
    response = admin_client.post(f"/admin/catalog/courserun/{run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not CourseRun.objects.exists()
    assert CourseRun.history.filter(history_type="-").count() == 1


def test_change_mode_through_its_own_page(admin_client, run):
    mode = run.modes.get(slug="verified")
    response = admin_client.post(
        f"/admin/catalog/coursemode/{mode.pk}/change/",
        {
            "name": "Verified",
            "price_cents": "100",
            "currency": "usd",
            "upgrade_deadline_0": "",
            "upgrade_deadline_1": "",
        },
    )
    assert response.status_code == 302
    mode.refresh_from_db()
    assert (mode.price_cents, mode.name) == (100, "Verified")
