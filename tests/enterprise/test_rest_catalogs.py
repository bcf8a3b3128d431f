"""The enterprise catalog REST API (``/enterprise/api/v1/enterprise_catalogs/``): list, create, read, change,
delete, contains_content_items; who may do what; bad input; statement counts."""

from __future__ import annotations

import uuid

import pytest

from rollbook.enterprise.models import EnterpriseCatalog, EnterpriseCatalogCourse, EnterpriseCatalogOrganization
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

pytestmark = pytest.mark.django_db

BASE = "/enterprise/api/v1/enterprise_catalogs/"
CATALOG_FIELDS = {"uuid", "enterprise_customer", "title", "content_keys", "organizations", "created", "modified"}


def catalog_url(catalog, action: str = "") -> str:
    key = catalog if isinstance(catalog, str) else catalog.uuid
    return f"{BASE}{key}/" + (f"{action}/" if action else "")


def catalog_state(catalog) -> tuple:
    row = EnterpriseCatalog.objects.get(pk=catalog.pk)
    courses = sorted(
        EnterpriseCatalogCourse.objects.filter(catalog=row).values_list("catalog_course__course_code", flat=True)
    )
    orgs = sorted(
        EnterpriseCatalogOrganization.objects.filter(catalog=row).values_list("organization__short_name", flat=True)
    )
    return row.title, courses, orgs


def titles(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["title"] for row in response.json()["results"]]


@pytest.fixture
def acme_admin_api(acme_admin, client_for):
    return client_for(acme_admin)


# --- reading -------------------------------------------------------------------------------------


def test_operators_list_every_catalog_and_admins_their_customers(
    operator_api, acme_admin_api, acme, acme_catalog, globex_catalog
):
    assert titles(operator_api.get(BASE)) == ["Acme all EntU", "Globex art"]
    assert titles(operator_api.get(BASE, {"enterprise_customer_uuid": str(acme.uuid)})) == ["Acme all EntU"]
    assert titles(acme_admin_api.get(BASE)) == ["Acme all EntU"]
    assert titles(acme_admin_api.get(BASE, {"enterprise_customer_uuid": str(acme.uuid)})) == ["Acme all EntU"]


def test_the_catalog_shape(acme_admin_api, acme, acme_catalog, runs):
    EnterpriseCatalogCourse.objects.create(catalog=acme_catalog, catalog_course=runs[ART_KEY].catalog_course)
    body = acme_admin_api.get(catalog_url(acme_catalog)).json()
    assert set(body) == CATALOG_FIELDS
    assert body["uuid"] == str(acme_catalog.uuid)
    assert body["enterprise_customer"] == str(acme.uuid)
    assert body["content_keys"] == ["catalog-course:ElseU:Art"]
    assert body["organizations"] == ["EntU"]


def test_learners_see_no_catalog_list_or_detail(client_for, acme, acme_catalog, acme_learner):
    client = client_for(acme_learner)
    assert titles(client.get(BASE)) == []
    assert client.get(BASE, {"enterprise_customer_uuid": str(acme.uuid)}).status_code == 403
    assert client.get(catalog_url(acme_catalog)).status_code == 403


def test_catalog_list_filter_errors(operator_api, db):
    assert operator_api.get(BASE, {"enterprise_customer_uuid": "nope"}).status_code == 400
    response = operator_api.get(BASE, {"enterprise_customer_uuid": str(uuid.uuid4())})
    assert response.status_code == 400
    assert "enterprise_customer_uuid" in response.json()


def test_unknown_and_malformed_catalog_uuids_are_not_found(operator_api, db):
    for key in (str(uuid.uuid4()), "not-a-uuid"):
        assert operator_api.get(catalog_url(key)).status_code == 404
        assert operator_api.patch(catalog_url(key), {"title": "x"}, format="json").status_code == 404
        assert operator_api.delete(catalog_url(key)).status_code == 404
        assert operator_api.get(catalog_url(key, "contains_content_items"), {"course_keys": "x"}).status_code == 404


def test_listing_catalogs_takes_the_same_statements_for_many(
    operator_api, acme, runs, ent_orgs, django_assert_max_num_queries
):
    for number in range(20):
        catalog = EnterpriseCatalog.objects.create(customer=acme, title=f"Catalog {number:02}")
        EnterpriseCatalogCourse.objects.create(catalog=catalog, catalog_course=runs[PYTHON_KEY].catalog_course)
        EnterpriseCatalogOrganization.objects.create(catalog=catalog, organization=ent_orgs[1])
    with django_assert_max_num_queries(10):
        response = operator_api.get(BASE, {"page_size": 100})
    assert response.json()["count"] == 20
    assert response.json()["results"][0]["content_keys"] == [PYTHON_COURSE]
    assert response.json()["results"][0]["organizations"] == ["ElseU"]


# --- creating ------------------------------------------------------------------------------------


def test_operators_create_catalogs_from_any_content_key(operator_api, acme, runs, ent_orgs):
    chosen = uuid.uuid4()
    response = operator_api.post(
        BASE,
        {
            "uuid": str(chosen),
            "enterprise_customer": str(acme.uuid),
            "title": "Data and art",
            "content_keys": [DATA_KEY, "catalog-course:ElseU:Art", "EntU+Python"],
            "organizations": ["elseu"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["uuid"] == str(chosen)
    assert body["content_keys"] == ["catalog-course:ElseU:Art", "catalog-course:EntU:Data", PYTHON_COURSE]
    assert body["organizations"] == ["ElseU"]
    assert catalog_state(EnterpriseCatalog.objects.get(uuid=chosen)) == (
        "Data and art",
        ["Art", "Data", "Python"],
        ["ElseU"],
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "Acme all EntU"}, "title"),  # taken within the customer
        ({"content_keys": ["course-v1:EntU+Nothing+2030"]}, "content_keys"),
        ({"content_keys": ["not a key"]}, "content_keys"),
        ({"content_keys": "EntU+Python"}, "content_keys"),
        ({"content_keys": [3]}, "content_keys"),
        ({"organizations": ["NoSuchU"]}, "organizations"),
        ({"enterprise_customer": "not-a-uuid"}, "enterprise_customer"),
        ({"enterprise_customer": str(uuid.UUID(int=7))}, "enterprise_customer"),
        ({"uuid": "nope"}, "uuid"),
    ],
)
def test_creating_a_catalog_with_bad_input_is_a_400_and_writes_nothing(operator_api, acme, acme_catalog, change, field):
    body = {"enterprise_customer": str(acme.uuid), "title": "New", "content_keys": [PYTHON_KEY], **change}
    response = operator_api.post(BASE, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert EnterpriseCatalog.objects.count() == 1


def test_every_bad_key_is_reported_at_once(operator_api, acme, runs):
    response = operator_api.post(
        BASE,
        {"enterprise_customer": str(acme.uuid), "title": "New", "content_keys": ["bad one", PYTHON_KEY, "Nope+Nope"]},
        format="json",
    )
    assert response.status_code == 400
    assert len(response.json()["content_keys"]) == 2


def test_too_many_content_keys_is_a_413(operator_api, acme, runs, settings):
    settings.BULK_MAX_ITEMS = 2
    body = {"enterprise_customer": str(acme.uuid), "title": "New", "content_keys": [PYTHON_KEY, DATA_KEY, ART_KEY]}
    assert operator_api.post(BASE, body, format="json").status_code == 413
    assert not EnterpriseCatalog.objects.exists()


def test_only_operators_create_catalogs(acme_admin_api, client_for, acme_learner, acme, runs):
    body = {"enterprise_customer": str(acme.uuid), "title": "Mine", "content_keys": [PYTHON_KEY]}
    assert acme_admin_api.post(BASE, body, format="json").status_code == 403
    assert client_for(acme_learner).post(BASE, body, format="json").status_code == 403
    assert not EnterpriseCatalog.objects.filter(title="Mine").exists()


# --- changing and deleting -----------------------------------------------------------------------


def test_operators_change_a_catalogs_title_and_entries(operator_api, acme_catalog, runs):
    response = operator_api.patch(
        catalog_url(acme_catalog),
        {
            "title": "Acme picks",
            "add_content_keys": [ART_KEY],
            "remove_organizations": ["entu"],
            "add_organizations": ["ElseU"],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["content_keys"] == ["catalog-course:ElseU:Art"]
    assert response.json()["organizations"] == ["ElseU"]
    assert catalog_state(acme_catalog) == ("Acme picks", ["Art"], ["ElseU"])
    response = operator_api.patch(catalog_url(acme_catalog), {"remove_content_keys": ["ElseU+Art"]}, format="json")
    assert response.json()["content_keys"] == []


def test_a_bad_change_is_a_400_and_changes_nothing(operator_api, acme_catalog, acme, runs):
    EnterpriseCatalog.objects.create(customer=acme, title="Other")
    before = catalog_state(acme_catalog)
    for body, field in (
        ({"title": "Other"}, "title"),
        ({"title": "Fine", "add_content_keys": ["bad key"]}, "add_content_keys"),
        ({"add_organizations": ["NoSuchU"]}, "add_organizations"),
        ({"add_content_keys": [ART_KEY], "remove_content_keys": [ART_KEY]}, "remove_content_keys"),
        ({"add_content_keys": ART_KEY}, "add_content_keys"),
    ):
        response = operator_api.patch(catalog_url(acme_catalog), body, format="json")
        assert response.status_code == 400
        assert field in response.json()
    assert catalog_state(acme_catalog) == before


def test_admins_and_learners_may_not_change_or_delete_catalogs(client_for, acme_admin, acme_learner, acme_catalog):
    before = catalog_state(acme_catalog)
    for user in (acme_admin, acme_learner):
        client = client_for(user)
        assert client.patch(catalog_url(acme_catalog), {"title": "Mine"}, format="json").status_code == 403
        assert client.delete(catalog_url(acme_catalog)).status_code == 403
    assert catalog_state(acme_catalog) == before


def test_operators_delete_unused_catalogs_and_not_those_a_plan_uses(operator_api, acme, acme_plan):
    spare = EnterpriseCatalog.objects.create(customer=acme, title="Spare")
    assert operator_api.delete(catalog_url(spare)).status_code == 204
    assert not EnterpriseCatalog.objects.filter(pk=spare.pk).exists()
    response = operator_api.delete(catalog_url(acme_plan.catalog))
    assert response.status_code == 409
    assert "subscription plan" in response.json()["detail"]
    assert EnterpriseCatalog.objects.filter(pk=acme_plan.catalog_id).exists()


# --- contains_content_items ----------------------------------------------------------------------


def test_a_catalog_tells_whether_it_contains_content(client_for, operator, acme_admin, acme_learner, acme_catalog):
    for user in (operator, acme_admin, acme_learner):
        client = client_for(user)

        def ask(client=client, **query):
            response = client.get(catalog_url(acme_catalog, "contains_content_items"), query)
            assert response.status_code == 200, response.json()
            return response.json()["contains_content_items"]

        assert ask(course_run_ids=[PYTHON_KEY, DATA_KEY]) is True
        assert ask(course_keys=PYTHON_COURSE) is True
        assert ask(course_run_ids=PYTHON_KEY, course_keys="ElseU+Art") is False
        assert ask(course_run_ids="garbage") is False


def test_contains_content_items_needs_keys(operator_api, acme_catalog):
    response = operator_api.get(catalog_url(acme_catalog, "contains_content_items"))
    assert response.status_code == 400
    assert "course_run_ids" in response.json()


def test_contains_content_items_statements_do_not_grow_with_the_keys(
    operator_api, acme_catalog, django_assert_max_num_queries
):
    keys = [PYTHON_KEY] + [f"course-v1:EntU+Nothing{n}+2030" for n in range(40)] + [f"EntU+C{n}" for n in range(40)]
    with django_assert_max_num_queries(7):
        response = operator_api.get(catalog_url(acme_catalog, "contains_content_items"), {"course_run_ids": keys})
    assert response.json() == {"contains_content_items": False}


def test_a_run_added_later_to_a_catalog_organization_is_contained(operator_api, acme_catalog, make_run):
    make_run("course-v1:EntU+Fresh+2031")
    response = operator_api.get(
        catalog_url(acme_catalog, "contains_content_items"), {"course_run_ids": "course-v1:EntU+Fresh+2031"}
    )
    assert response.json() == {"contains_content_items": True}
