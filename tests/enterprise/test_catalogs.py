"""Enterprise catalogs: content keys, catalog set-up and the containment checks that licenses and default
enrollments rely on (explicit courses, whole organizations, runs through their course)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.enterprise import api
from rollbook.enterprise.models import (
    EnterpriseCatalog,
    EnterpriseCatalogCourse,
    EnterpriseCatalogOrganization,
)
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

CCX_KEY = "ccx-v1:EntU+Python+2030+ccx@1"


@pytest.fixture
def ccx_run(runs):
    return catalog_api.create_course_run(CCX_KEY)


# --- content keys --------------------------------------------------------------------------------


def test_every_accepted_form_resolves_to_its_catalog_course(runs, ccx_run):
    python = runs[PYTHON_KEY]
    keys = [PYTHON_KEY, CCX_KEY, PYTHON_COURSE, "entu+Python", "  catalog-course:ENTU:Python  "]

    resolved, errors = api.resolve_content_keys(keys)

    assert errors == {}
    assert {key: item.catalog_course_id for key, item in resolved.items()} == dict.fromkeys(
        keys, python.catalog_course_id
    )
    assert resolved[PYTHON_KEY].content_key == PYTHON_KEY
    assert (resolved[PYTHON_KEY].course_run_id, resolved[PYTHON_KEY].course_run_key) == (python.pk, PYTHON_KEY)
    assert (resolved[CCX_KEY].course_run_id, resolved[CCX_KEY].content_key) == (ccx_run.pk, CCX_KEY)
    for course_form in keys[2:]:
        assert resolved[course_form].content_key == PYTHON_COURSE
        assert resolved[course_form].course_key == PYTHON_COURSE
        assert resolved[course_form].course_run_id is None


def test_errors_tell_malformed_keys_from_keys_that_name_nothing(runs):
    malformed = ["nonsense", "", "catalog-course:EntU", "catalog-course::Python", "EntU+Python+2030+x", "a b+c"]
    unknown = ["course-v1:EntU+Nope+2030", "catalog-course:EntU:Nope", "NoSuchU+Python"]

    resolved, errors = api.resolve_content_keys([*malformed, *unknown])

    assert resolved == {}
    assert all("malformed" in errors[key] for key in malformed)
    assert errors["course-v1:EntU+Nope+2030"] == "No course run course-v1:EntU+Nope+2030."
    assert errors["catalog-course:EntU:Nope"] == "No catalog course catalog-course:EntU:Nope."
    assert "No catalog course" in errors["NoSuchU+Python"]


def test_run_keys_and_course_codes_are_case_sensitive_and_the_message_says_what_was_meant(runs):
    resolved, errors = api.resolve_content_keys(["course-v1:entu+python+2030", "EntU+python"])

    assert resolved == {}
    assert "did you mean course-v1:EntU+Python+2030?" in errors["course-v1:entu+python+2030"]
    assert "did you mean catalog-course:EntU:Python?" in errors["EntU+python"]


def test_resolve_content_key_raises_on_the_field_given(runs):
    assert api.resolve_content_key("ElseU+Art").content_key == "catalog-course:ElseU:Art"
    with pytest.raises(InvalidInput) as raised:
        api.resolve_content_key("course-v1:EntU+Nope+2030", field="course_run_key")
    assert raised.value.errors == {"course_run_key": ["No course run course-v1:EntU+Nope+2030."]}
    with pytest.raises(InvalidInput) as raised:
        api.resolve_content_key("???")
    assert "malformed" in raised.value.errors["content_key"][0]


def test_resolving_costs_two_queries_whatever_the_number_of_keys(runs, make_run, django_assert_num_queries):
    for number in range(20):
        make_run(f"course-v1:EntU+Many{number}+2030")
    many = [f"course-v1:EntU+Many{n}+2030" for n in range(100)] + [f"EntU+Many{n}" for n in range(100)]

    with django_assert_num_queries(2):
        small_resolved, _ = api.resolve_content_keys([PYTHON_KEY, PYTHON_COURSE])
    with django_assert_num_queries(2):
        resolved, errors = api.resolve_content_keys(many)

    assert len(small_resolved) == 2
    assert len(resolved) == 40 and len(errors) == 160


# --- catalogs ------------------------------------------------------------------------------------


def test_create_catalog_with_courses_and_organizations(acme, runs, ent_orgs):
    wanted = uuid.uuid4()

    catalog = api.create_catalog(
        acme,
        title="  Mixed  ",
        content_keys=[ART_KEY, "ElseU+Art", PYTHON_COURSE],
        organization_short_names=["entu", "EntU"],
        catalog_uuid=wanted,
    )

    assert (catalog.title, catalog.uuid, catalog.customer) == ("Mixed", wanted, acme)
    assert sorted(
        EnterpriseCatalogCourse.objects.filter(catalog=catalog).values_list("catalog_course_id", flat=True)
    ) == sorted([runs[ART_KEY].catalog_course_id, runs[PYTHON_KEY].catalog_course_id])
    assert list(
        EnterpriseCatalogOrganization.objects.filter(catalog=catalog).values_list("organization", flat=True)
    ) == [ent_orgs[0].pk]
    assert catalog.history.count() == 1
    assert api.get_catalog(str(wanted)) == catalog
    assert list(api.catalogs_queryset(acme)) == [catalog]
    assert list(api.catalogs_queryset(acme.slug)) == [catalog]


def test_create_catalog_lists_every_error_and_writes_nothing(acme_catalog):
    with pytest.raises(InvalidInput) as raised:
        api.create_catalog(
            acme_catalog.customer,
            title="Acme all EntU",
            content_keys=["bad key", "course-v1:EntU+Nope+2030", PYTHON_KEY],
            organization_short_names=["NoSuchU", "EntU"],
            catalog_uuid=acme_catalog.uuid,
        )

    errors = raised.value.errors
    assert set(errors) == {"title", "content_keys", "organizations", "uuid"}
    assert len(errors["content_keys"]) == 2
    assert errors["organizations"] == ["No organization 'NoSuchU'."]
    assert EnterpriseCatalog.objects.count() == 1
    for title in ("", "   ", None, "x" * 256):
        with pytest.raises(InvalidInput) as raised:
            api.create_catalog(acme_catalog.customer, title=title)
        assert set(raised.value.errors) == {"title"}
    with pytest.raises(InvalidInput) as raised:
        api.create_catalog(acme_catalog.customer, title="One", content_keys=PYTHON_KEY)
    assert set(raised.value.errors) == {"content_keys"}


def test_the_same_title_is_fine_for_another_customer(acme_catalog, globex):
    assert api.create_catalog(globex, title=acme_catalog.title).customer == globex


def test_update_catalog_changes_title_and_entries(acme_catalog, runs):
    api.update_catalog(
        acme_catalog,
        title="Acme art and Python",
        add_content_keys=[ART_KEY, PYTHON_COURSE],
        remove_organizations=["entu"],
    )

    acme_catalog.refresh_from_db()
    assert acme_catalog.title == "Acme art and Python"
    assert api.contains(acme_catalog, [ART_KEY, PYTHON_KEY])
    assert not api.contains(acme_catalog, [DATA_KEY])

    api.update_catalog(str(acme_catalog.uuid), remove_content_keys=["ElseU+Art"], add_organizations=["EntU"])

    assert not api.contains(acme_catalog, [ART_KEY])
    assert api.contains(acme_catalog, [DATA_KEY, PYTHON_KEY])
    assert acme_catalog.history.count() == 3


def test_update_catalog_is_all_or_nothing(acme_catalog, globex_catalog, runs):
    with pytest.raises(InvalidInput) as raised:
        api.update_catalog(
            acme_catalog,
            title="",
            add_content_keys=[ART_KEY, "nope"],
            remove_content_keys=["ElseU+Art"],
            add_organizations=["NoSuchU"],
            remove_organizations=["EntU"],
        )
    assert set(raised.value.errors) == {"title", "add_content_keys", "remove_content_keys", "add_organizations"}
    assert api.contains(acme_catalog, [PYTHON_KEY]) and not api.contains(acme_catalog, [ART_KEY])

    api.update_catalog(globex_catalog, title="Renamed")
    with pytest.raises(InvalidInput) as raised:
        api.create_catalog(globex_catalog.customer, title="Renamed")
    assert "title" in raised.value.errors
    other = api.create_catalog(acme_catalog.customer, title="Other")
    with pytest.raises(InvalidInput) as raised:
        api.update_catalog(other, title="Acme all EntU")
    assert "title" in raised.value.errors


def test_delete_catalog_refuses_while_a_plan_uses_it(acme_plan, acme):
    with pytest.raises(Conflict):
        api.delete_catalog(acme_plan.catalog)
    spare = api.create_catalog(acme, title="Spare", content_keys=[PYTHON_KEY], organization_short_names=["EntU"])

    api.delete_catalog(str(spare.uuid))

    assert not EnterpriseCatalog.objects.filter(pk=spare.pk).exists()
    assert not EnterpriseCatalogCourse.objects.filter(catalog_id=spare.pk).exists()
    with pytest.raises(NotFound):
        api.delete_catalog(spare.uuid)


def test_get_catalog_not_found(db):
    with pytest.raises(NotFound):
        api.get_catalog(uuid.uuid4())
    with pytest.raises(NotFound):
        api.get_catalog("not-a-uuid")


# --- containment ---------------------------------------------------------------------------------


def test_contains_an_explicitly_named_course_through_any_of_its_keys(globex_catalog, ccx_run):
    assert api.contains(globex_catalog, [ART_KEY])
    assert api.contains(globex_catalog, ["catalog-course:ElseU:Art", "elseu+Art", ART_KEY])
    assert not api.contains(globex_catalog, [ART_KEY, PYTHON_KEY])
    assert not api.contains(globex_catalog, [PYTHON_COURSE])


def test_contains_every_course_of_an_organization_and_their_runs(acme_catalog, ccx_run, make_run):
    later = make_run("course-v1:EntU+Brandnew+2031")

    assert api.contains(acme_catalog, [PYTHON_KEY, DATA_KEY, CCX_KEY, PYTHON_COURSE, str(later.course_key)])
    assert not api.contains(acme_catalog, [ART_KEY])


def test_unknown_malformed_or_no_keys_are_not_contained(acme_catalog):
    assert not api.contains(acme_catalog, [])
    assert not api.contains(acme_catalog, ["course-v1:EntU+Nope+2030"])
    assert not api.contains(acme_catalog, ["garbage"])
    assert not api.contains(acme_catalog, [PYTHON_KEY, "course-v1:entu+python+2030"])
    assert api.contained_keys(acme_catalog, [PYTHON_KEY, "garbage", ART_KEY, "EntU+Data"]) == {
        PYTHON_KEY,
        "EntU+Data",
    }


def test_containment_costs_the_same_queries_for_one_key_and_for_two_hundred(
    acme_catalog, make_run, django_assert_num_queries
):
    for number in range(30):
        make_run(f"course-v1:EntU+Bulk{number}+2030")
        make_run(f"course-v1:ElseU+Bulk{number}+2030")
    many = [f"course-v1:{org}+Bulk{n}+2030" for org in ("EntU", "ElseU") for n in range(30)]
    many += [f"catalog-course:EntU:Bulk{n}" for n in range(30)] + [f"EntU+Bulk{n}" for n in range(30)]
    many += [f"course-v1:EntU+Missing{n}+2030" for n in range(40)] + [f"bad {n}" for n in range(40)]
    assert len(many) == 200

    with django_assert_num_queries(1):
        assert api.contains(acme_catalog, [PYTHON_KEY])
    with django_assert_num_queries(2):
        assert api.contains(acme_catalog, [PYTHON_KEY, PYTHON_COURSE])
    with django_assert_num_queries(2):
        contained = api.contained_keys(acme_catalog, many)

    assert contained == {key for key in many if "EntU" in key and "Missing" not in key}
    with django_assert_num_queries(2):
        assert not api.customer_contains(acme_catalog.customer, many)


def test_customer_contains_uses_the_union_of_its_catalogs(acme_catalog, acme, runs):
    assert not api.customer_contains(acme, [PYTHON_KEY, ART_KEY])
    api.create_catalog(acme, title="Art", content_keys=[ART_KEY])

    assert api.customer_contains(acme, [PYTHON_KEY, ART_KEY])
    assert api.customer_contains(str(acme.uuid), ["ElseU+Art"])
    assert not api.customer_contains(acme, [PYTHON_KEY, "course-v1:EntU+Nope+2030"])
    assert not api.customer_contains(acme, [])


def test_customer_contains_ignores_other_customers_catalogs(acme_catalog, globex_catalog):
    assert not api.customer_contains(globex_catalog.customer, [PYTHON_KEY])
    assert not api.customer_contains(acme_catalog.customer, [ART_KEY])


def test_catalogs_containing_lists_the_customers_catalogs_per_course(
    acme_catalog, globex_catalog, acme, runs, django_assert_num_queries
):
    art_and_python = api.create_catalog(acme, title="A art and python", content_keys=[ART_KEY, PYTHON_KEY])
    python_id, art_id, data_id = (runs[key].catalog_course_id for key in (PYTHON_KEY, ART_KEY, DATA_KEY))
    nowhere = catalog_api.create_course_run(
        "course-v1:ElseU+Lonely+2030", start=timezone.now(), end=timezone.now() + timedelta(days=9)
    ).catalog_course_id

    with django_assert_num_queries(2):
        found = api.catalogs_containing(acme, [python_id, art_id, data_id, nowhere, python_id])

    assert found == {
        python_id: [art_and_python.uuid, acme_catalog.uuid],
        art_id: [art_and_python.uuid],
        data_id: [acme_catalog.uuid],
        nowhere: [],
    }
    assert api.catalogs_containing(globex_catalog.customer, [art_id, python_id]) == {
        art_id: [globex_catalog.uuid],
        python_id: [],
    }
