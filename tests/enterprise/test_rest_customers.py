"""The enterprise customer and learner REST API (``/enterprise/api/v1/enterprise-customer/``,
``enterprise-learner/``): shapes, who sees what, link and unlink in bulk, activation, contains_content_items,
bad input and statement counts."""

from __future__ import annotations

import uuid

import pytest

from rollbook.enterprise.models import EnterpriseCustomer, EnterpriseCustomerIdentityProvider, EnterpriseCustomerUser
from rollbook.identity import api as identity_api
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

pytestmark = pytest.mark.django_db

BASE = "/enterprise/api/v1"
CUSTOMER_FIELDS = {
    "uuid",
    "name",
    "slug",
    "active",
    "enable_data_sharing_consent",
    "enforce_data_sharing_consent",
    "enable_audit_enrollment",
    "enable_audit_data_reporting",
    "identity_providers",
    "created",
    "modified",
}


def customer_url(customer, action: str = "") -> str:
    key = customer if isinstance(customer, str) else customer.uuid
    return f"{BASE}/enterprise-customer/{key}/" + (f"{action}/" if action else "")


def slugs(response) -> list[str]:
    return [row["slug"] for row in response.json()["results"]]


def customer_state(customer) -> dict:
    row = EnterpriseCustomer.objects.get(pk=customer.pk)
    providers = sorted(
        EnterpriseCustomerIdentityProvider.objects.filter(customer=row).values_list(
            "identity_provider__slug", flat=True
        )
    )
    return {"name": row.name, "slug": row.slug, "active": row.active, "providers": providers}


@pytest.fixture
def providers(db):
    return (
        identity_api.create_identity_provider("north-sso", "North"),
        identity_api.create_identity_provider("south-sso", "South"),
    )


@pytest.fixture
def acme_admin_api(acme_admin, client_for):
    return client_for(acme_admin)


@pytest.fixture
def acme_learner_api(acme_learner, client_for):
    return client_for(acme_learner)


# --- listing and reading customers ---------------------------------------------------------------


def test_operators_list_every_customer_by_name_in_the_edx_page_shape(operator_api, acme, globex):
    response = operator_api.get(f"{BASE}/enterprise-customer/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert slugs(response) == ["acme", "globex"]
    assert set(body["results"][0]) == CUSTOMER_FIELDS
    assert body["results"][0]["uuid"] == str(acme.uuid)
    assert body["results"][0]["enforce_data_sharing_consent"] == "at_enrollment"


def test_admins_see_their_customers_and_learners_the_ones_they_are_linked_to(
    client_for, acme_admin, acme_learner, globex, learner
):
    assert slugs(client_for(acme_admin).get(f"{BASE}/enterprise-customer/")) == ["acme"]
    assert slugs(client_for(acme_learner).get(f"{BASE}/enterprise-customer/")) == ["acme"]
    assert slugs(client_for(learner).get(f"{BASE}/enterprise-customer/")) == []


def test_an_unlinked_learner_no_longer_sees_the_customer(client_for, acme, acme_learner):
    EnterpriseCustomerUser.objects.filter(user=acme_learner).update(linked=False, active=False)
    assert slugs(client_for(acme_learner).get(f"{BASE}/enterprise-customer/")) == []
    assert client_for(acme_learner).get(customer_url(acme)).status_code == 404


def test_customer_list_pages_and_refuses_bad_page_sizes(operator_api, acme, globex):
    first = operator_api.get(f"{BASE}/enterprise-customer/?page_size=1").json()
    assert (first["count"], len(first["results"]), first["previous"]) == (2, 1, None)
    second = operator_api.get(first["next"]).json()
    assert [row["slug"] for row in second["results"]] == ["globex"]
    for size in ("0", "abc", "100000"):
        response = operator_api.get(f"{BASE}/enterprise-customer/?page_size={size}")
        assert response.status_code == 400
        assert "page_size" in response.json()
    assert operator_api.get(f"{BASE}/enterprise-customer/?page=99").status_code == 404


def test_listing_customers_takes_the_same_statements_for_many(operator_api, providers, django_assert_max_num_queries):
    for number in range(30):
        customer = EnterpriseCustomer.objects.create(name=f"Customer {number:02}", slug=f"customer-{number}")
        if number < 2:
            EnterpriseCustomerIdentityProvider.objects.create(customer=customer, identity_provider=providers[number])
    with django_assert_max_num_queries(6):
        response = operator_api.get(f"{BASE}/enterprise-customer/?page_size=100")
    assert response.json()["count"] == 30
    assert response.json()["results"][0]["identity_providers"] == ["north-sso"]


def test_reading_one_customer(client_for, operator, acme_admin, acme_learner, acme):
    for user in (operator, acme_admin, acme_learner):
        response = client_for(user).get(customer_url(acme))
        assert response.status_code == 200
        assert response.json()["slug"] == "acme"
        assert set(response.json()) == CUSTOMER_FIELDS


def test_unknown_and_malformed_customer_uuids_are_not_found(operator_api, acme):
    assert operator_api.get(customer_url(str(uuid.uuid4()))).status_code == 404
    assert operator_api.get(customer_url("not-a-uuid")).status_code == 404
    assert operator_api.patch(customer_url("not-a-uuid"), {"name": "x"}, format="json").status_code == 404


# --- creating and changing customers -------------------------------------------------------------


def test_operators_create_customers(operator_api, providers):
    chosen = uuid.uuid4()
    response = operator_api.post(
        f"{BASE}/enterprise-customer/",
        {
            "uuid": str(chosen),
            "name": "Initech",
            "slug": "initech",
            "enforce_data_sharing_consent": "externally_managed",
            "enable_audit_enrollment": True,
            "identity_providers": ["north-sso"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["uuid"] == str(chosen)
    assert body["identity_providers"] == ["north-sso"]
    assert body["enable_data_sharing_consent"] is True
    assert body["enable_audit_enrollment"] is True
    assert body["enable_audit_data_reporting"] is False
    assert body["enforce_data_sharing_consent"] == "externally_managed"
    customer = EnterpriseCustomer.objects.get(uuid=chosen)
    assert customer_state(customer)["providers"] == ["north-sso"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "x"}, "name"),
        ({"name": "X"}, "slug"),
        ({"name": "X", "slug": "Not A Slug"}, "slug"),
        ({"name": "X", "slug": "ACME"}, "slug"),  # taken, ignoring case
        ({"name": "X", "slug": "x", "identity_providers": ["nobody-sso"]}, "identity_providers"),
        ({"name": "X", "slug": "x", "identity_providers": "north-sso"}, "identity_providers"),
        ({"name": "X", "slug": "x", "enforce_data_sharing_consent": "sometimes"}, "enforce_data_sharing_consent"),
        ({"name": "X", "slug": "x", "uuid": "not-a-uuid"}, "uuid"),
        ({"name": "X", "slug": "x", "active": "perhaps"}, "active"),
        ({"name": ["X"], "slug": "x"}, "name"),
    ],
)
def test_creating_a_customer_with_bad_input_is_a_400_and_writes_nothing(operator_api, acme, providers, body, field):
    response = operator_api.post(f"{BASE}/enterprise-customer/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert EnterpriseCustomer.objects.count() == 1


def test_a_provider_serving_another_customer_is_refused(operator_api, acme, providers):
    EnterpriseCustomerIdentityProvider.objects.create(customer=acme, identity_provider=providers[0])
    response = operator_api.post(
        f"{BASE}/enterprise-customer/", {"name": "X", "slug": "x", "identity_providers": ["north-sso"]}, format="json"
    )
    assert response.status_code == 400
    assert "identity_providers" in response.json()


def test_a_body_that_is_not_an_object_is_a_400(operator_api, db):
    assert operator_api.post(f"{BASE}/enterprise-customer/", ["a"], format="json").status_code == 400
    assert operator_api.post(f"{BASE}/enterprise-customer/", "text", format="json").status_code == 400


def test_only_operators_create_customers(client_for, acme_admin, acme_learner):
    for user in (acme_admin, acme_learner):
        response = client_for(user).post(f"{BASE}/enterprise-customer/", {"name": "X", "slug": "x"}, format="json")
        assert response.status_code == 403
    assert not EnterpriseCustomer.objects.filter(slug="x").exists()


def test_operators_change_customers(operator_api, acme, providers):
    EnterpriseCustomerIdentityProvider.objects.create(customer=acme, identity_provider=providers[0])
    response = operator_api.patch(
        customer_url(acme),
        {"name": "Acme Corporation", "enable_audit_data_reporting": True, "identity_providers": ["south-sso"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Acme Corporation"
    assert response.json()["enable_audit_data_reporting"] is True
    assert response.json()["identity_providers"] == ["south-sso"]
    assert response.json()["slug"] == "acme"  # untouched
    assert customer_state(acme) == {
        "name": "Acme Corporation",
        "slug": "acme",
        "active": True,
        "providers": ["south-sso"],
    }


def test_a_bad_change_is_a_400_and_changes_nothing(operator_api, acme, globex):
    before = customer_state(acme)
    for body, field in (
        ({"name": "Acme 2", "slug": "globex"}, "slug"),
        ({"name": ""}, "name"),
        ({"identity_providers": ["nobody-sso"]}, "identity_providers"),
        ({"enforce_data_sharing_consent": 3}, "enforce_data_sharing_consent"),
    ):
        response = operator_api.patch(customer_url(acme), body, format="json")
        assert response.status_code == 400
        assert field in response.json()
    assert customer_state(acme) == before


def test_admins_and_learners_may_not_change_their_customer(client_for, acme, acme_admin, acme_learner):
    before = customer_state(acme)
    for user in (acme_admin, acme_learner):
        assert client_for(user).patch(customer_url(acme), {"name": "Mine"}, format="json").status_code == 403
    assert customer_state(acme) == before


# --- contains_content_items ----------------------------------------------------------------------


def test_contains_content_items_for_the_customers_catalogs(acme_learner_api, acme, acme_catalog):
    def ask(**query):
        response = acme_learner_api.get(customer_url(acme, "contains_content_items"), query)
        assert response.status_code == 200, response.json()
        return response.json()["contains_content_items"]

    assert ask(course_run_ids=PYTHON_KEY) is True
    assert ask(course_run_ids=f"{PYTHON_KEY},{DATA_KEY}") is True
    assert ask(course_run_ids=[PYTHON_KEY, DATA_KEY]) is True
    assert ask(course_keys=PYTHON_COURSE) is True
    assert ask(course_keys="EntU+Python") is True
    assert ask(course_run_ids=PYTHON_KEY, course_keys="catalog-course:ElseU:Art") is False
    assert ask(course_run_ids=ART_KEY) is False
    assert ask(course_run_ids="not a key") is False
    assert ask(course_run_ids="course-v1:EntU+Nothing+2030") is False


def test_contains_content_items_reads_an_unencoded_plus_as_written(acme_learner_api, acme, acme_catalog):
    response = acme_learner_api.get(customer_url(acme, "contains_content_items") + f"?course_run_ids={PYTHON_KEY}")
    assert response.json() == {"contains_content_items": True}


def test_contains_content_items_needs_keys_and_a_bounded_number_of_them(acme_admin_api, acme, acme_catalog, settings):
    response = acme_admin_api.get(customer_url(acme, "contains_content_items"))
    assert response.status_code == 400
    assert "course_run_ids" in response.json()
    settings.BULK_MAX_ITEMS = 2
    response = acme_admin_api.get(
        customer_url(acme, "contains_content_items"), {"course_run_ids": [PYTHON_KEY, DATA_KEY, ART_KEY]}
    )
    assert response.status_code == 413


def test_contains_content_items_statements_do_not_grow_with_the_keys(
    acme_admin_api, acme, acme_catalog, django_assert_max_num_queries
):
    keys = [PYTHON_KEY, DATA_KEY] + [f"course-v1:EntU+Nothing{n}+2030" for n in range(40)]
    with django_assert_max_num_queries(7):
        response = acme_admin_api.get(customer_url(acme, "contains_content_items"), {"course_run_ids": keys})
    assert response.json() == {"contains_content_items": False}


# --- linking and unlinking learners --------------------------------------------------------------


def link(client, customer, emails, action: str = "link_learners"):
    return client.post(customer_url(customer, action), {"user_emails": emails}, format="json")


def test_admins_link_learners_by_email_with_a_result_per_email(acme_admin_api, acme, make_user):
    ann = make_user("ann", "Ann@Example.com")
    response = link(
        acme_admin_api, acme, ["ANN@example.com", "new.person@example.com", "not-an-email", "dup@x.org", "DUP@x.org"]
    )
    assert response.status_code == 207
    body = response.json()
    assert body["results"] == [
        {"email": "ANN@example.com", "status": "linked", "user_id": ann.pk},
        {"email": "new.person@example.com", "status": "pending", "user_id": None},
        {"email": "not-an-email", "status": "invalid_email", "user_id": None},
        {"email": "dup@x.org", "status": "duplicated", "user_id": None},
        {"email": "DUP@x.org", "status": "duplicated", "user_id": None},
    ]
    assert body["counts"] == {"linked": 1, "pending": 1, "invalid_email": 1, "duplicated": 2}
    assert EnterpriseCustomerUser.objects.get(customer=acme, user=ann).linked
    assert EnterpriseCustomerUser.objects.filter(
        customer=acme, user__isnull=True, user_email_normalized="new.person@example.com"
    ).exists()
    assert not EnterpriseCustomerUser.objects.filter(user_email_normalized__in=["dup@x.org", "not-an-email"]).exists()


def test_linking_answers_200_when_all_succeed_and_422_when_none_does(acme_admin_api, acme, acme_learner):
    response = link(acme_admin_api, acme, [acme_learner.email, "someone@example.com"])
    assert response.status_code == 200
    assert [row["status"] for row in response.json()["results"]] == ["already_linked", "pending"]
    response = link(acme_admin_api, acme, ["bad", "worse"])
    assert response.status_code == 422
    assert response.json()["counts"] == {"invalid_email": 2}


def test_operators_link_learners_too(operator_api, acme):
    assert link(operator_api, acme, ["someone@example.com"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_emails": "a@example.com"},
        {"user_emails": []},
        {"user_emails": [1]},
        {"user_emails": None},
        ["a@x.org"],
    ],
)
def test_a_malformed_email_list_is_a_400_and_links_nothing(acme_admin_api, acme, body):
    before = EnterpriseCustomerUser.objects.count()
    response = acme_admin_api.post(customer_url(acme, "link_learners"), body, format="json")
    assert response.status_code == 400
    assert EnterpriseCustomerUser.objects.count() == before


def test_too_many_emails_is_a_413(acme_admin_api, acme, settings):
    settings.BULK_MAX_ITEMS = 3
    response = link(acme_admin_api, acme, [f"p{n}@example.com" for n in range(4)])
    assert response.status_code == 413
    assert not EnterpriseCustomerUser.objects.filter(user__isnull=True).exists()
    assert link(acme_admin_api, acme, [f"p{n}@example.com" for n in range(3)]).status_code == 200


def test_learners_may_not_link_or_unlink(acme_learner_api, acme):
    assert link(acme_learner_api, acme, ["someone@example.com"]).status_code == 403
    assert link(acme_learner_api, acme, ["someone@example.com"], "unlink_users").status_code == 403
    assert not EnterpriseCustomerUser.objects.filter(user__isnull=True).exists()


def test_linking_statements_do_not_grow_with_the_emails(acme_admin_api, acme, make_user, django_assert_max_num_queries):
    def emails(prefix: str, count: int) -> list[str]:
        for n in range(count // 2):
            make_user(f"{prefix}{n}")
        return [f"{prefix}{n}@example.com" for n in range(count)]

    few, many = emails("few", 4), emails("many", 60)
    with django_assert_max_num_queries(30) as counted:
        assert link(acme_admin_api, acme, few).status_code == 200
    with django_assert_max_num_queries(len(counted.captured_queries)):
        assert link(acme_admin_api, acme, many).status_code == 200


def test_admins_unlink_learners_keeping_their_rows(acme_admin_api, acme, acme_learner, make_acme_learner):
    other = make_acme_learner("other-learner")
    link(acme_admin_api, acme, ["waiting@example.com"])
    response = link(acme_admin_api, acme, [acme_learner.email.upper(), "waiting@example.com"], "unlink_users")
    assert response.status_code == 200
    assert response.json()["results"] == [
        {"email": acme_learner.email.upper(), "status": "unlinked", "user_id": acme_learner.pk},
        {"email": "waiting@example.com", "status": "unlinked", "user_id": None},
    ]
    row = EnterpriseCustomerUser.objects.get(customer=acme, user=acme_learner)
    assert (row.linked, row.active) == (False, False)
    assert EnterpriseCustomerUser.objects.get(customer=acme, user=other).linked
    assert not EnterpriseCustomerUser.objects.filter(user__isnull=True).exists()


def test_unlinking_someone_who_is_no_learner_is_reported(acme_admin_api, acme, acme_learner, make_user):
    stranger = make_user("stranger")
    response = link(acme_admin_api, acme, [stranger.email], "unlink_users")
    assert response.status_code == 422
    assert response.json()["results"][0]["status"] == "not_linked"
    response = link(acme_admin_api, acme, [stranger.email, acme_learner.email], "unlink_users")
    assert response.status_code == 207
    assert response.json()["counts"] == {"not_linked": 1, "unlinked": 1}


# --- activating a customer -----------------------------------------------------------------------


def test_a_learner_makes_one_of_their_customers_active(client_for, acme, globex, acme_learner):
    EnterpriseCustomerUser.objects.filter(user=acme_learner).update(active=False)
    EnterpriseCustomerUser.objects.create(customer=globex, user=acme_learner, active=True)
    response = client_for(acme_learner).post(customer_url(acme, "activate"))
    assert response.status_code == 200
    assert response.json()["enterprise_customer_uuid"] == str(acme.uuid)
    assert response.json()["active"] is True
    active = dict(EnterpriseCustomerUser.objects.filter(user=acme_learner).values_list("customer__slug", "active"))
    assert active == {"acme": True, "globex": False}


def test_only_linked_learners_activate_a_customer(client_for, acme, acme_admin, acme_learner, learner, operator):
    EnterpriseCustomerUser.objects.filter(user=acme_learner).update(linked=False, active=False)
    for user in (acme_learner, acme_admin, learner, operator):
        assert client_for(user).post(customer_url(acme, "activate")).status_code == 403
    assert client_for(learner).post(customer_url("not-a-uuid", "activate")).status_code == 404
    assert not EnterpriseCustomerUser.objects.filter(user=acme_learner, active=True).exists()


# --- listing learners ----------------------------------------------------------------------------


def learners(client, query: str = "") -> list[dict]:
    response = client.get(f"{BASE}/enterprise-learner/" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def test_admins_list_their_customers_learners_pending_ones_included(acme_admin_api, acme, acme_learner, globex_learner):
    link(acme_admin_api, acme, ["Waiting@Example.com"])
    rows = learners(acme_admin_api, f"enterprise_customer_uuid={acme.uuid}")
    assert [row["email"] for row in rows] == [acme_learner.email, "Waiting@Example.com"]
    linked, pending = rows
    assert set(linked) == {
        "id",
        "enterprise_customer_uuid",
        "user_id",
        "username",
        "email",
        "active",
        "linked",
        "pending",
        "created",
    }
    assert (linked["user_id"], linked["username"], linked["pending"], linked["linked"], linked["active"]) == (
        acme_learner.pk,
        "acme-learner",
        False,
        True,
        True,
    )
    assert (pending["user_id"], pending["username"], pending["pending"]) == (None, None, True)
    assert pending["enterprise_customer_uuid"] == str(acme.uuid)
    assert learners(acme_admin_api) == rows  # without the filter: the customers they administer


def test_learners_see_only_their_own_rows(client_for, acme, globex, acme_learner, make_acme_learner):
    make_acme_learner("classmate")
    EnterpriseCustomerUser.objects.create(customer=globex, user=acme_learner, active=False)
    client = client_for(acme_learner)
    assert [(row["username"], row["enterprise_customer_uuid"]) for row in learners(client)] == [
        ("acme-learner", str(acme.uuid)),
        ("acme-learner", str(globex.uuid)),
    ]
    assert [row["username"] for row in learners(client, f"enterprise_customer_uuid={acme.uuid}")] == ["acme-learner"]


def test_operators_list_every_learner(operator_api, acme_learner, globex_learner):
    assert {row["username"] for row in learners(operator_api)} == {"acme-learner", "globex-learner"}


def test_learner_list_filter_errors(operator_api, acme):
    response = operator_api.get(f"{BASE}/enterprise-learner/?enterprise_customer_uuid=nope")
    assert response.status_code == 400
    assert "enterprise_customer_uuid" in response.json()
    response = operator_api.get(f"{BASE}/enterprise-learner/?enterprise_customer_uuid={uuid.uuid4()}")
    assert response.status_code == 400
    assert "enterprise_customer_uuid" in response.json()


def test_listing_learners_takes_the_same_statements_for_many(
    acme_admin_api, acme, make_acme_learner, django_assert_max_num_queries
):
    for n in range(25):
        make_acme_learner(f"many{n}", licensed=False, active=False)
    link(acme_admin_api, acme, [f"pending{n}@example.com" for n in range(10)])
    with django_assert_max_num_queries(6):
        rows = learners(acme_admin_api, f"enterprise_customer_uuid={acme.uuid}&page_size=100")
    assert len(rows) == 35
