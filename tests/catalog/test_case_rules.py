"""The case rule for course codes and course keys holds for non-ASCII letters, on SQLite as on PostgreSQL.

Course codes are unique per organization ignoring case; two course keys that differ only by case are
refused. "Ignoring case" is Unicode casefolding (``É`` = ``é``, ``ß`` = ``ss``), enforced by the api with
clear errors and by unique constraints on stored normalised columns whatever writes the row.
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog import api as catalog_api
from rollbook.catalog.models import CatalogCourse, CourseRun, Organization
from rollbook.core.errors import InvalidInput

RUN = "course-v1:edX+Démo+été"
RUN_TWIN = "course-v1:edX+Démo+ÉTÉ"


def refused(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


# --- through the api -----------------------------------------------------------------------------


def test_api_refuses_a_run_key_differing_only_in_non_ascii_case(db):
    catalog_api.create_course_run(RUN)
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run(RUN_TWIN)
    assert "differs only in case" in exc.value.errors["course_key"][0]
    assert list(CourseRun.objects.values_list("course_key", flat=True)) == [CourseKey.from_string(RUN)]


def test_api_refuses_a_course_code_differing_only_in_non_ascii_case(db):
    catalog_api.create_catalog_course("edX", "Démo")
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_catalog_course("edX", "DÉMO")
    assert "exists already" in exc.value.errors["course_code"][0]
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_course_run("course-v1:edX+DÉMO+1")
    assert "spells its course code differently" in exc.value.errors["course_key"][0]
    assert CatalogCourse.objects.count() == 1
    assert not CourseRun.objects.exists()


def test_case_is_compared_by_casefolding_not_lower_casing(db):
    catalog_api.create_catalog_course("edX", "Straße")
    with pytest.raises(InvalidInput):
        catalog_api.create_catalog_course("edX", "STRASSE")
    assert catalog_api.create_catalog_course("MITx", "STRASSE").course_code == "STRASSE"


def test_casefolding_may_lengthen_a_key_beyond_its_own_maximum(db):
    code = "ﬃ" * 120  # each ligature casefolds to three letters
    run = catalog_api.create_course_run(f"course-v1:edX+{code}+1")
    assert run.catalog_course.course_code == code
    with pytest.raises(InvalidInput):
        catalog_api.create_course_run(f"course-v1:edX+{code}+1".replace("ﬃ", "FFI"))


def test_import_refuses_non_ascii_case_twins_of_stored_runs_and_of_each_other(db):
    catalog_api.create_course_run(RUN)
    results = catalog_api.import_catalog_rows(
        [
            {"course_key": RUN_TWIN},
            {"course_key": "course-v1:edX+Ünï+1"},
            {"course_key": "course-v1:edX+ÜNÏ+1"},
            {"course_key": "course-v1:edX+DÉMO+2"},
        ]
    )
    assert [result.status.value for result in results] == ["error", "duplicated", "duplicated", "error"]
    assert "differs only in case" in results[0].errors["course_key"][0]
    assert "spells its course code" in results[3].errors["course_key"][0]
    assert CourseRun.objects.count() == 1


# --- at the database, bypassing the api ----------------------------------------------------------


@pytest.fixture
def org(db):
    return Organization.objects.create(short_name="edX", name="edX")


def test_database_refuses_course_codes_differing_only_in_non_ascii_case(org):
    CatalogCourse.objects.create(org=org, course_code="Démo", title="t")
    assert refused(lambda: CatalogCourse.objects.create(org=org, course_code="DÉMO", title="t"))
    assert refused(lambda: CatalogCourse.objects.create(org=org, course_code=" démo", title="t"))
    other = Organization.objects.create(short_name="MITx", name="MIT")
    assert not refused(lambda: CatalogCourse.objects.create(org=other, course_code="DÉMO", title="t"))


def test_database_refuses_run_keys_differing_only_in_non_ascii_case(org):
    course = CatalogCourse.objects.create(org=org, course_code="Démo", title="t")
    CourseRun.objects.create(catalog_course=course, course_key=RUN, run_code="été", title="t")
    assert refused(
        lambda: CourseRun.objects.create(catalog_course=course, course_key=RUN_TWIN, run_code="ÉTÉ", title="t")
    )
    assert not refused(
        lambda: CourseRun.objects.create(
            catalog_course=course, course_key="course-v1:edX+Démo+hiver", run_code="hiver", title="t"
        )
    )


def test_rows_written_in_bulk_by_the_import_carry_the_database_rule(db):
    results = catalog_api.import_catalog_rows([{"course_key": RUN}])
    assert results[0].status.value == "created"
    course = CatalogCourse.objects.get()
    assert refused(lambda: CatalogCourse.objects.create(org=course.org, course_code="DÉMO", title="t"))
    assert refused(
        lambda: CourseRun.objects.create(catalog_course=course, course_key=RUN_TWIN, run_code="ÉTÉ", title="t")
    )


def test_saving_only_some_fields_keeps_the_normalised_columns_in_step(org):
    course = CatalogCourse.objects.create(org=org, course_code="Démo", title="t")
    course.course_code = "Autre"
    course.save(update_fields=["course_code"])
    assert not refused(lambda: CatalogCourse.objects.create(org=org, course_code="DÉMO", title="t"))
    assert refused(lambda: CatalogCourse.objects.create(org=org, course_code="AUTRE", title="t"))


# --- the migration that introduced the columns ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_fills_the_normalised_columns_from_existing_rows():
    before = [("catalog", "0002_initial")]
    after = [("catalog", "0003_normalized_course_code_and_key")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        org = old.get_model("catalog", "Organization").objects.create(
            short_name="edX", short_name_normalized="edx", name="edX"
        )
        course = old.get_model("catalog", "CatalogCourse").objects.create(org=org, course_code="Démo", title="t")
        old.get_model("catalog", "CourseRun").objects.create(
            catalog_course=course, course_key=CourseKey.from_string(RUN), run_code="été", title="t"
        )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(after).apps
    assert list(new.get_model("catalog", "CatalogCourse").objects.values_list("course_code_normalized", flat=True)) == [
        "démo"
    ]
    assert list(new.get_model("catalog", "CourseRun").objects.values_list("course_key_normalized", flat=True)) == [
        RUN.casefold()
    ]
    assert refused(
        lambda: CourseRun.objects.create(
            catalog_course=CatalogCourse.objects.get(), course_key=RUN_TWIN, run_code="ÉTÉ", title="t"
        )
    )
