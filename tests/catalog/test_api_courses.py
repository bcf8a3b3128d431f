"""Catalog courses: lookup forms, create, update, delete, languages."""

import pytest
from django.db.models import ProtectedError

from rollbook.catalog import api as catalog_api
from rollbook.catalog.models import CatalogCourse
from rollbook.core.errors import InvalidInput


@pytest.fixture
def course(db):
    return catalog_api.create_catalog_course("edX", "DemoX", title="Demo Course", language="es-419")


def test_create_defaults_title_to_the_course_code_and_language_to_the_site_language(db, settings):
    settings.LANGUAGE_CODE = "fr"
    cc = catalog_api.create_catalog_course("edX", "DemoX")
    assert (cc.title, cc.language, cc.key_str) == ("DemoX", "fr", "catalog-course:edX:DemoX")


def test_create_refuses_a_course_code_taken_ignoring_case(course):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_catalog_course("EDX", "demox")
    assert "course_code" in exc.value.errors


def test_create_refuses_course_codes_that_cannot_be_in_a_key(db):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_catalog_course("edX", "Demo X")
    assert "course_code" in exc.value.errors


def test_create_with_autocreate_off_and_unknown_organization(db, settings):
    settings.ORGANIZATIONS_AUTOCREATE = False
    with pytest.raises(catalog_api.UnknownOrganization) as exc:
        catalog_api.create_catalog_course("MITx", "C1")
    assert "org" in exc.value.errors
    assert not CatalogCourse.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"language": "es-419"}, "es-419"),
        ({"language_short": "zh_HANS"}, "zh-cn"),
        ({"language_short": "zh_HANT"}, "zh-hk"),
        ({"language": "zh-hans"}, "zh-cn"),
        ({"language_short": "en"}, "en"),
    ],
)
def test_language_forms(db, kwargs, expected):
    assert catalog_api.create_catalog_course("edX", "C", **kwargs).language == expected


@pytest.mark.parametrize("language", ["EN", "en_us", "english", "e", "", 7])
def test_invalid_languages_are_refused(db, language):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.create_catalog_course("edX", "C", language=language)
    assert "language" in exc.value.errors


@pytest.mark.parametrize(
    ("language", "short"), [("zh-cn", "zh_HANS"), ("zh-hk", "zh_HANT"), ("es-419", "es"), ("en", "en")]
)
def test_language_short(language, short):
    assert catalog_api.language_short(language) == short


def test_get_by_each_form(course):
    assert catalog_api.get_catalog_course(pk=course.pk) == course
    assert catalog_api.get_catalog_course(uuid=course.uuid) == course
    assert catalog_api.get_catalog_course(key_str="catalog-course:edX:DemoX") == course
    assert catalog_api.get_catalog_course(key_str="catalog-course:EDX:DemoX") == course
    assert catalog_api.get_catalog_course(org_code="edx", course_code="DemoX") == course


def test_get_matches_the_course_code_exactly(course):
    with pytest.raises(CatalogCourse.DoesNotExist):
        catalog_api.get_catalog_course(key_str="catalog-course:edX:demox")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"pk": 1, "key_str": "catalog-course:edX:DemoX"},
        {"org_code": "edX"},
        {"course_code": "DemoX"},
        {"key_str": "course-v1:edX+DemoX+1"},
        {"key_str": "catalog-course:edX"},
        {"uuid": "not-a-uuid"},
    ],
)
def test_get_needs_exactly_one_well_formed_lookup(course, kwargs):
    with pytest.raises(InvalidInput):
        catalog_api.get_catalog_course(**kwargs)


def test_update_changes_only_given_fields(course):
    catalog_api.update_catalog_course(course.pk, title="New title")
    course.refresh_from_db()
    assert (course.title, course.language) == ("New title", "es-419")
    catalog_api.update_catalog_course(course, language_short="zh_HANT")
    course.refresh_from_db()
    assert (course.title, course.language) == ("New title", "zh-hk")
    assert course.history.count() == 3


def test_update_refuses_blank_titles_and_bad_languages(course):
    with pytest.raises(InvalidInput) as exc:
        catalog_api.update_catalog_course(course, title="  ", language="EN")
    assert set(exc.value.errors) == {"title", "language"}
    course.refresh_from_db()
    assert course.title == "Demo Course"


def test_delete_is_protected_while_runs_exist(course, make_run):
    make_run("course-v1:edX+DemoX+2027")
    with pytest.raises(ProtectedError):
        catalog_api.delete_catalog_course(course)
    empty = catalog_api.create_catalog_course("edX", "Empty")
    catalog_api.delete_catalog_course(empty.pk)
    assert not CatalogCourse.objects.filter(pk=empty.pk).exists()
