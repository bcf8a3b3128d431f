"""Database constraints of the catalog models hold whatever writes the row."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization


@pytest.fixture
def org(db):
    return Organization.objects.create(short_name="edX", name="edX")


@pytest.fixture
def course(org):
    return CatalogCourse.objects.create(org=org, course_code="DemoX", title="Demo")


def refused(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def test_organization_short_names_are_unique_ignoring_case(org):
    assert refused(lambda: Organization.objects.create(short_name="EDX", name="other"))
    assert not refused(lambda: Organization.objects.create(short_name="edX2", name="other"))


def test_organization_short_name_characters(db):
    assert refused(lambda: Organization.objects.create(short_name="ed X", name="x"))
    assert not refused(lambda: Organization.objects.create(short_name="Ed.X_1-a", name="x"))


def test_course_codes_are_unique_per_organization_ignoring_case(org, course):
    assert refused(lambda: CatalogCourse.objects.create(org=org, course_code="demox", title="t"))
    other = Organization.objects.create(short_name="MITx", name="MIT")
    assert not refused(lambda: CatalogCourse.objects.create(org=other, course_code="DemoX", title="t"))


@pytest.mark.parametrize(
    ("language", "valid"),
    [("en", True), ("es-419", True), ("zh-cn", True), ("EN", False), ("en_us", False), ("e", False), ("", False)],
)
def test_language_code_format(org, language, valid):
    assert (
        refused(lambda: CatalogCourse.objects.create(org=org, course_code="C", title="t", language=language)) != valid
    )


def test_empty_course_code_and_title_are_refused(org):
    assert refused(lambda: CatalogCourse.objects.create(org=org, course_code="", title="t"))
    assert refused(lambda: CatalogCourse.objects.create(org=org, course_code="C", title=""))


def test_course_keys_differing_only_in_case_are_refused(course):
    CourseRun.objects.create(catalog_course=course, course_key="course-v1:edX+DemoX+2027", run_code="2027", title="t")
    other = CatalogCourse.objects.create(org=course.org, course_code="Other", title="t")
    assert refused(
        lambda: CourseRun.objects.create(
            catalog_course=other, course_key="course-v1:EDX+DEMOX+2027", run_code="2027", title="t"
        )
    )


def test_run_code_must_appear_in_the_key(course):
    assert refused(
        lambda: CourseRun.objects.create(
            catalog_course=course, course_key="course-v1:edX+DemoX+2027", run_code="2099", title="t"
        )
    )


def test_run_codes_are_unique_per_catalog_course(course):
    CourseRun.objects.create(catalog_course=course, course_key="course-v1:edX+DemoX+2027", run_code="2027", title="t")
    assert refused(
        lambda: CourseRun.objects.create(
            catalog_course=course, course_key="course-v1:edX+DemoX+2027a", run_code="2027", title="t"
        )
    )


def test_run_must_end_after_it_starts(course):
    start = datetime(2027, 1, 1, tzinfo=UTC)
    assert refused(
        lambda: CourseRun.objects.create(
            catalog_course=course, course_key="course-v1:edX+DemoX+R", run_code="R", title="t", start=start, end=start
        )
    )


def test_modes_need_a_known_slug_and_a_price_of_at_least_zero(course):
    run = CourseRun.objects.create(catalog_course=course, course_key="course-v1:edX+DemoX+R", run_code="R", title="t")
    assert refused(lambda: CourseMode.objects.create(course_run=run, slug="gold", price_cents=0))
    assert refused(lambda: CourseMode.objects.create(course_run=run, slug="verified", price_cents=-1))
    assert refused(lambda: CourseMode.objects.create(course_run=run, slug="verified", price_cents=1, currency="USD"))
    CourseMode.objects.create(course_run=run, slug="verified", price_cents=0)
    assert refused(lambda: CourseMode.objects.create(course_run=run, slug="verified", price_cents=5))


def test_catalog_course_key_str(course):
    assert course.key_str == "catalog-course:edX:DemoX"
