"""CCX runs (``ccx-v1:ORG+CODE+RUN+ccx@N``): custom copies of a master run, stored in its catalog course.

All CCXs of a course share its organization, course code and run code, so the one-run-code-per-catalog-course
rule does not apply to them; their master run must exist, spelled exactly as their key names it.
"""

from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import IntegrityError, transaction
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.catalog.models import CatalogCourse, CourseRun, Organization
from rollbook.core.errors import Conflict, InvalidInput
from tests.catalog.test_admin import add_run_form

BASE = "/api/catalog/v1"
MASTER = "course-v1:edX+DemoX+2027"
CCX = "ccx-v1:edX+DemoX+2027+ccx@3"
CCX_2 = "ccx-v1:edX+DemoX+2027+ccx@4"


@pytest.fixture
def master(db):
    return catalog_api.create_course_run(MASTER, title="Demo 2027")


def keys(runs) -> list[str]:
    return sorted(str(run.course_key) for run in runs)


# --- api: create ---------------------------------------------------------------------------------


def test_a_ccx_belongs_to_its_masters_catalog_course_and_shares_its_run_code(master):
    first = catalog_api.create_course_run(CCX, title="Coached", modes=[ModeSpec("audit")])
    second = catalog_api.create_course_run(CCX_2)
    assert first.course_key == CourseKey.from_string(CCX)
    assert (first.catalog_course, first.run_code, first.title) == (master.catalog_course, "2027", "Coached")
    assert (second.catalog_course, second.run_code, second.title) == (master.catalog_course, "2027", "Demo 2027")
    assert catalog_api.best_mode(first) == "audit"
    assert first.history.count() == 1
    assert CatalogCourse.objects.count() == Organization.objects.count() == 1


def test_creating_a_ccx_is_idempotent_and_its_key_is_stored_canonically(master):
    created = catalog_api.create_course_run("ccx-v1:edX+DemoX+2027+branch@draft+CCX@3")
    assert str(created.course_key) == CCX
    assert catalog_api.create_course_run(CCX).pk == created.pk
    assert CourseRun.objects.count() == 2


def test_a_ccx_needs_its_master_run(db):
    catalog_api.create_catalog_course("edX", "DemoX")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(CCX)
    assert f"CCX of {MASTER}, which is not a course run" in exc.value.errors["course_key"][0]
    assert not CourseRun.objects.exists()


def test_a_ccx_without_master_creates_no_organization_or_catalog_course(db):
    with pytest.raises(InvalidInput):
        catalog_api.create_course_run(CCX)
    assert not Organization.objects.exists()
    assert not CatalogCourse.objects.exists()


@pytest.mark.parametrize(
    "key", ["ccx-v1:EDX+DemoX+2027+ccx@3", "ccx-v1:edX+DEMOX+2027+ccx@3", "ccx-v1:edx+demox+2027+ccx@3"]
)
def test_a_ccx_must_spell_its_master_exactly(master, key):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(key)
    assert "course_key" in exc.value.errors
    assert CourseRun.objects.count() == 1


def test_ccx_numbers_are_written_without_leading_zeros(master):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run("ccx-v1:edX+DemoX+2027+ccx@03")
    assert "leading zeros" in exc.value.errors["course_key"][0]


@pytest.mark.parametrize(
    "key", ["ccx-v1:edX+DemoX+ccx@3", "ccx-v1:edX+DemoX+2027+ccx@x", "CCX-V1:edX+DemoX+2027+ccx@3"]
)
def test_malformed_ccx_keys_are_refused(master, key):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(key)
    assert "course_key" in exc.value.errors


def test_an_explicit_catalog_course_or_run_code_must_be_the_masters(master):
    other = catalog_api.create_catalog_course("edX", "Other")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(CCX, catalog_course=other)
    assert set(exc.value.errors) == {"course_key"}
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(CCX, run_code="ccx@3")
    assert set(exc.value.errors) == {"run_code"}
    run = catalog_api.create_course_run(CCX, catalog_course=master.catalog_course, run_code="2027")
    assert run.catalog_course == master.catalog_course


# --- api: lookups and deletes --------------------------------------------------------------------


def test_lookups_find_ccx_runs_by_their_exact_key(master):
    ccx = catalog_api.create_course_run(CCX)
    assert catalog_api.get_course_run(CCX) == ccx
    assert catalog_api.get_course_runs([CCX, MASTER, CCX_2]) == {CCX: ccx, MASTER: master}
    with pytest.raises(CourseRun.DoesNotExist):
        catalog_api.get_course_run(CCX_2)


def test_master_course_key():
    assert catalog_api.master_course_key(CCX) == CourseKey.from_string(MASTER)
    assert catalog_api.master_course_key(MASTER) is None
    with pytest.raises(InvalidInput):
        catalog_api.master_course_key("nonsense")


def test_ccx_of_q_selects_the_ccx_runs_of_one_master_only(master):
    neighbour = catalog_api.create_course_run("course-v1:edX+DemoX+2027a")
    catalog_api.create_course_run(CCX)
    catalog_api.create_course_run(CCX_2)
    catalog_api.create_course_run(f"ccx-v1:{str(neighbour.course_key).removeprefix('course-v1:')}+ccx@3")
    assert keys(CourseRun.objects.filter(catalog_api.ccx_of_q(MASTER))) == [CCX, CCX_2]
    assert keys(CourseRun.objects.filter(catalog_api.ccx_of_q(neighbour.course_key))) == [
        "ccx-v1:edX+DemoX+2027a+ccx@3"
    ]
    assert not CourseRun.objects.filter(catalog_api.ccx_of_q(CCX)).exists()
    assert not CourseRun.objects.filter(catalog_api.ccx_of_q(MASTER.replace("edX", "EDX"))).exists()
    assert CourseRun.objects.exclude(catalog_api.ccx_of_q(MASTER)).count() == 3


def test_a_master_with_ccx_runs_cannot_be_deleted(master):
    catalog_api.create_course_run(CCX)
    with pytest.raises(Conflict, match="CCX"):
        catalog_api.delete_course_run(MASTER)
    assert CourseRun.objects.count() == 2
    catalog_api.delete_course_run(CCX)
    catalog_api.delete_course_run(MASTER, delete_empty_catalog_course=True)
    assert not CourseRun.objects.exists()
    assert not CatalogCourse.objects.exists()


def test_a_ccx_with_enrollments_cannot_be_deleted(master):
    from rollbook.enrollments.models import CourseEnrollment

    ccx = catalog_api.create_course_run(CCX, modes=[ModeSpec("audit")])
    user = get_user_model().objects.create_user(username="u", email="u@example.com")
    CourseEnrollment.objects.create(user=user, course_run=ccx, mode="audit")
    with pytest.raises(Conflict):
        catalog_api.delete_course_run(CCX)
    assert CourseRun.objects.filter(pk=ccx.pk).exists()


# --- database ------------------------------------------------------------------------------------


def refused(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def test_database_lets_ccx_runs_share_a_run_code_but_refuses_case_twins(master):
    course = master.catalog_course

    def add(key: str):
        return lambda: CourseRun.objects.create(catalog_course=course, course_key=key, run_code="2027", title="t")

    assert not refused(add(CCX))
    assert not refused(add(CCX_2))
    assert refused(add("ccx-v1:EDX+DemoX+2027+ccx@3"))
    assert refused(add("course-v1:edX+DemoX+2027"))


# --- import --------------------------------------------------------------------------------------


def statuses(results) -> list[str]:
    return [result.status.value for result in results]


def test_import_creates_and_updates_ccx_runs_of_stored_masters(master):
    results = catalog_api.import_catalog_rows([{"course_key": CCX, "title": "Coached", "modes": "audit:0"}])
    assert statuses(results) == ["created"]
    ccx = CourseRun.objects.get(course_key=CCX)
    assert (ccx.catalog_course, ccx.run_code, ccx.title) == (master.catalog_course, "2027", "Coached")
    assert list(ccx.modes.values_list("slug", flat=True)) == ["audit"]
    again = catalog_api.import_catalog_rows([{"course_key": CCX, "title": "Renamed"}])
    assert statuses(again) == ["updated"]
    assert CourseRun.objects.get(course_key=CCX).title == "Renamed"


def test_import_creates_a_master_and_its_ccx_from_the_same_file_in_any_order(db):
    results = catalog_api.import_catalog_rows([{"course_key": CCX}, {"course_key": MASTER, "title": "Demo"}])
    assert statuses(results) == ["created", "created"]
    ccx, master = CourseRun.objects.get(course_key=CCX), CourseRun.objects.get(course_key=MASTER)
    assert ccx.catalog_course == master.catalog_course
    assert CatalogCourse.objects.count() == 1


def test_import_refuses_ccx_rows_without_a_usable_master(master):
    results = catalog_api.import_catalog_rows(
        [
            {"course_key": "ccx-v1:edX+DemoX+2028+ccx@1"},
            {"course_key": "ccx-v1:EDX+DemoX+2027+ccx@1"},
            {"course_key": "course-v1:edX+DemoX+2029", "start": "2027-02-01", "end": "2027-01-01"},
            {"course_key": "ccx-v1:edX+DemoX+2029+ccx@1"},
            {"course_key": "course-v1:edX+DemoX+2030"},
            {"course_key": "ccx-v1:edX+DemoX+2030+ccx@1"},
        ]
    )
    assert statuses(results) == ["error", "error", "error", "error", "created", "created"]
    assert "no valid row of this import creates" in results[0].errors["course_key"][0]
    assert "spelled" in results[1].errors["course_key"][0]
    assert "no valid row of this import creates" in results[3].errors["course_key"][0]
    assert CourseRun.objects.count() == 3


def test_import_dry_run_reports_ccx_rows_like_a_real_run(db):
    rows = [{"course_key": MASTER}, {"course_key": CCX}, {"course_key": CCX_2.replace("edX", "MITx")}]
    dry = catalog_api.import_catalog_rows(rows, dry_run=True)
    assert statuses(dry) == ["created", "created", "error"]
    assert not CourseRun.objects.exists()
    real = catalog_api.import_catalog_rows(rows)
    assert [(r.status, r.errors) for r in real] == [(r.status, r.errors) for r in dry]


# --- REST ----------------------------------------------------------------------------------------


def test_rest_creates_a_ccx_and_shows_its_master(operator_api, master):
    response = operator_api.post(f"{BASE}/runs/", {"course_key": CCX, "title": "Coached"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["course_key"], body["master_course_key"], body["catalog_course"], body["run_code"]) == (
        CCX,
        MASTER,
        "catalog-course:edX:DemoX",
        "2027",
    )
    assert operator_api.post(f"{BASE}/runs/", {"course_key": CCX}, format="json").status_code == 200
    assert operator_api.get(f"{BASE}/runs/{MASTER}/").json()["master_course_key"] is None


def test_rest_refuses_a_ccx_without_master_with_a_400(operator_api, db):
    response = operator_api.post(f"{BASE}/runs/", {"course_key": CCX}, format="json")
    assert response.status_code == 400
    assert "not a course run" in response.json()["course_key"][0]


def test_rest_looks_ccx_runs_up_by_key_and_by_master(learner_api, master):
    catalog_api.create_course_run(CCX)
    catalog_api.create_course_run(CCX_2)
    for path in (CCX, quote(CCX, safe="")):
        response = learner_api.get(f"{BASE}/runs/{path}/")
        assert response.status_code == 200, path
        assert response.json()["course_key"] == CCX
    assert learner_api.get(f"{BASE}/runs/{CCX.replace('edX', 'EDX')}/").status_code == 404
    listed = learner_api.get(f"{BASE}/runs/", {"master_course_key": MASTER})
    assert sorted(item["course_key"] for item in listed.json()["results"]) == [CCX, CCX_2]
    by_course = learner_api.get(f"{BASE}/runs/", {"catalog_course": "catalog-course:edX:DemoX"})
    assert len(by_course.json()["results"]) == 3
    bad = learner_api.get(f"{BASE}/runs/", {"master_course_key": "nonsense"})
    assert bad.status_code == 400
    assert "master_course_key" in bad.json()


def test_rest_refuses_to_delete_a_master_with_ccx_runs(operator_api, master):
    catalog_api.create_course_run(CCX)
    response = operator_api.delete(f"{BASE}/runs/{MASTER}/")
    assert response.status_code == 409
    assert "CCX" in response.json()["detail"]
    assert operator_api.delete(f"{BASE}/runs/{CCX}/").status_code == 204
    assert operator_api.delete(f"{BASE}/runs/{MASTER}/").status_code == 204


# --- admin ---------------------------------------------------------------------------------------


def test_admin_adds_a_ccx_and_refuses_to_delete_its_master(admin_client, master):
    added = admin_client.post("/admin/catalog/courserun/add/", add_run_form(new_course_key=CCX))
    assert added.status_code == 302
    assert CourseRun.objects.get(course_key=CCX).catalog_course == master.catalog_course
    refused_delete = admin_client.post(f"/admin/catalog/courserun/{master.pk}/delete/", {"post": "yes"}, follow=True)
    assert "Not deleted" in " ".join(str(m) for m in get_messages(refused_delete.wsgi_request))
    assert CourseRun.objects.filter(pk=master.pk).exists()
