"""Course runs: creation (idempotent, key consistency, case rules, auto-create), updates, deletes."""

import logging
from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.core.errors import Conflict, InvalidInput
from tests.catalog.conftest import NOW, days

KEY = "course-v1:edX+DemoX+2027"


def test_create_makes_the_organization_and_catalog_course_from_the_run(db):
    run = catalog_api.create_course_run(KEY, title="Demo", language_short="zh_HANS")
    cc = run.catalog_course
    assert (run.course_key, run.run_code, run.title) == (CourseKey.from_string(KEY), "2027", "Demo")
    assert (cc.org.short_name, cc.course_code, cc.title, cc.language) == ("edX", "DemoX", "Demo", "zh-cn")
    assert run.history.count() == 1


def test_create_uses_an_existing_catalog_course_unchanged_and_takes_its_title(db):
    cc = catalog_api.create_catalog_course("edX", "DemoX", title="Catalog title", language="fr")
    run = catalog_api.create_course_run(KEY, language="de")
    assert run.catalog_course == cc
    assert run.title == "Catalog title"
    cc.refresh_from_db()
    assert cc.language == "fr"


def test_create_is_idempotent_and_warns(db, caplog):
    first = catalog_api.create_course_run(KEY, title="First")
    with caplog.at_level(logging.WARNING, logger="rollbook.catalog.api"):
        again = catalog_api.create_course_run(KEY, title="Second", marketable=False)
    assert again.pk == first.pk
    again.refresh_from_db()
    assert (again.title, again.marketable) == ("First", True)
    assert "exists already" in caplog.text
    assert CourseRun.objects.count() == 1


def test_modulestore_entry_point_delegates(db, caplog):
    run = catalog_api.create_course_run_for_modulestore_course_with(KEY, title="Demo", language_short="es")
    assert run.catalog_course.language == "es"
    with caplog.at_level(logging.WARNING):
        assert catalog_api.create_course_run_for_modulestore_course_with(KEY, title="Other").pk == run.pk
    assert "exists already" in caplog.text


def test_an_organization_differing_only_in_case_is_used_with_a_warning(db, caplog):
    org = catalog_api.create_organization("edX")
    with caplog.at_level(logging.WARNING, logger="rollbook.catalog.api"):
        run = catalog_api.create_course_run("course-v1:EDX+Other+1")
    assert run.catalog_course.org == org
    assert 'stored as "edX"' in caplog.text
    assert Organization.objects.count() == 1


def test_unknown_organization_with_autocreate_off_is_a_value_error(db, settings):
    settings.ORGANIZATIONS_AUTOCREATE = False
    with pytest.raises(ValueError) as exc:
        catalog_api.create_course_run(KEY)
    assert isinstance(exc.value, catalog_api.UnknownOrganization)
    assert "course_key" in exc.value.errors
    assert not CourseRun.objects.exists()
    assert not Organization.objects.exists()


def test_keys_differing_only_in_case_are_refused_clearly(db):
    catalog_api.create_course_run(KEY)
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run("course-v1:edx+demox+2027")
    assert "course_key" in exc.value.errors
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run("course-v1:EDX+DemoX+2027")
    assert "differs only in case" in str(exc.value)
    assert CourseRun.objects.count() == 1


def test_a_course_code_spelled_differently_from_the_catalog_course_is_refused(db):
    catalog_api.create_course_run(KEY)
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run("course-v1:edX+demox+2028")
    assert "course_key" in exc.value.errors
    assert CatalogCourse.objects.count() == 1


@pytest.mark.parametrize(
    "key",
    ["course-v1:edX+DemoX", "course-v1:edX+Demo X+1", "edX/DemoX/2027", "nonsense", "course-v1:édX+DemoX+1", ""],
)
def test_malformed_or_unusable_keys_are_refused(db, key):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(key)
    assert "course_key" in exc.value.errors
    assert not CourseRun.objects.exists()


def test_branch_and_version_are_dropped(db):
    run = catalog_api.create_course_run("course-v1:edX+DemoX+2027+branch@draft")
    assert str(run.course_key) == KEY


def test_key_built_from_catalog_course_and_run_code(db):
    cc = catalog_api.create_catalog_course("edX", "DemoX")
    run = catalog_api.create_course_run(catalog_course=cc, run_code="2027")
    assert str(run.course_key) == KEY
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(catalog_course=cc, run_code="bad run")
    assert "run_code" in exc.value.errors


def test_run_code_and_catalog_course_must_match_the_key(db, caplog):
    cc = catalog_api.create_catalog_course("edX", "DemoX")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(KEY, catalog_course=cc, run_code="2028")
    assert set(exc.value.errors) == {"run_code"}
    other = catalog_api.create_catalog_course("edX", "Other")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(KEY, catalog_course=other)
    assert set(exc.value.errors) == {"course_key"}
    mit = catalog_api.create_catalog_course("MITx", "DemoX")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(KEY, catalog_course=mit)
    assert set(exc.value.errors) == {"course_key"}
    with caplog.at_level(logging.WARNING, logger="rollbook.catalog.api"):
        run = catalog_api.create_course_run("course-v1:EDX+DemoX+2027", catalog_course=cc, run_code="2027")
    assert run.catalog_course == cc
    assert "EDX" in caplog.text


def test_schedule_and_fields_are_validated_together(db):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(
            KEY,
            title="",
            pacing="fast",
            marketable="yes",
            start=NOW,
            end=datetime(2027, 1, 1),
            modes=[ModeSpec("gold", 100), ModeSpec("verified", -5)],
        )
    assert set(exc.value.errors) == {"title", "pacing", "marketable", "end", "modes"}
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(KEY, start=NOW, end=NOW - days(1), enrollment_start=NOW, enrollment_end=NOW)
    assert set(exc.value.errors) == {"end", "enrollment_end"}
    assert not Organization.objects.exists()


def test_create_with_modes_writes_modes_and_their_history(db):
    run = catalog_api.create_course_run(
        KEY, modes=[ModeSpec("audit"), ModeSpec("verified", 4900, upgrade_deadline=NOW)]
    )
    assert sorted(run.modes.values_list("slug", "price_cents")) == [("audit", 0), ("verified", 4900)]
    assert CourseMode.history.count() == 2


def test_repeated_modes_are_refused(db):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(KEY, modes=[ModeSpec("audit"), ModeSpec("audit", 10)])
    assert "modes" in exc.value.errors


def test_update_changes_given_fields_and_can_clear_dates(make_run):
    run = make_run(KEY, title="Old", start=NOW, end=NOW + days(30))
    catalog_api.update_course_run(KEY, title="New", end=None, pacing="self")
    run.refresh_from_db()
    assert (run.title, run.start, run.end, run.pacing, run.marketable) == ("New", NOW, None, "self", True)
    assert run.history.count() == 2


def test_update_checks_the_resulting_schedule(make_run):
    make_run(KEY, start=NOW, end=NOW + days(30))
    with pytest.raises(InvalidInput) as exc:
        catalog_api.update_course_run(KEY, start=NOW + days(31))
    assert set(exc.value.errors) == {"end"}
    with pytest.raises(InvalidInput) as exc:
        catalog_api.update_course_run(KEY, marketable=None, pacing="slow", title=3)
    assert set(exc.value.errors) == {"pacing", "title"}


def test_update_of_unknown_run(db):
    with pytest.raises(CourseRun.DoesNotExist):
        catalog_api.update_course_run("course-v1:edX+Nope+1", title="x")


def test_sync_course_run_details_sets_the_title(make_run):
    make_run(KEY, title="Old")
    assert catalog_api.sync_course_run_details(KEY, title="Synced").title == "Synced"
    assert catalog_api.sync_course_run_details(KEY, title="").title == "Synced"
    with pytest.raises(CourseRun.DoesNotExist):
        catalog_api.sync_course_run_details("course-v1:edX+Nope+1", title="x")


def test_get_course_run_is_exact(make_run):
    run = make_run(KEY)
    assert catalog_api.get_course_run(KEY) == run
    with pytest.raises(CourseRun.DoesNotExist):
        catalog_api.get_course_run("course-v1:EDX+DemoX+2027")
    with pytest.raises(InvalidInput):
        catalog_api.get_course_run("not a key")


def test_get_course_runs_skips_unknown_and_malformed_keys(make_run, django_assert_num_queries):
    run = make_run(KEY)
    with django_assert_num_queries(1):
        found = catalog_api.get_course_runs([KEY, "course-v1:edX+Nope+1", "bad"])
    assert found == {KEY: run}


def test_delete_run_removes_its_modes(make_run):
    make_run(KEY, modes={"audit": 0})
    catalog_api.delete_course_run(KEY)
    assert not CourseRun.objects.exists()
    assert not CourseMode.objects.exists()
    assert CatalogCourse.objects.count() == 1


def test_delete_run_can_remove_the_emptied_catalog_course(make_run):
    make_run(KEY)
    make_run("course-v1:edX+DemoX+2028")
    catalog_api.delete_course_run(KEY, delete_empty_catalog_course=True)
    assert CatalogCourse.objects.count() == 1
    catalog_api.delete_course_run("course-v1:edX+DemoX+2028", delete_empty_catalog_course=True)
    assert not CatalogCourse.objects.exists()


def test_delete_run_referenced_by_an_enrollment_is_a_conflict(make_run):
    from rollbook.enrollments.models import CourseEnrollment

    run = make_run(KEY, modes={"audit": 0})
    user = get_user_model().objects.create_user(username="u", email="u@example.com")
    CourseEnrollment.objects.create(user=user, course_run=run, mode="audit")
    with pytest.raises(Conflict):
        catalog_api.delete_course_run(KEY)
    assert CourseRun.objects.filter(pk=run.pk).exists()
    assert CourseMode.objects.filter(course_run=run).exists()


def test_set_runs_marketable_is_set_based(make_run, django_assert_max_num_queries):
    keys = [str(make_run(f"course-v1:edX+DemoX+R{n}").course_key) for n in range(6)]
    with django_assert_max_num_queries(4):
        assert catalog_api.set_runs_marketable(keys, marketable=False) == 6
    assert not CourseRun.objects.filter(marketable=True).exists()
    assert CourseRun.history.filter(history_type="~").count() == 6
