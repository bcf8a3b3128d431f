"""Enterprise customers: creation and update with validation, lookups by uuid or slug, identity providers,
and the read helpers over customer users."""

import uuid

import pytest

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enterprise import api
from rollbook.enterprise.models import EnterpriseCustomer, EnterpriseCustomerIdentityProvider, EnterpriseCustomerUser
from rollbook.identity import api as identity_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def providers(db):
    """Two identity providers, ``north-sso`` and ``south-sso``, serving no customer yet."""
    return (
        identity_api.create_identity_provider("north-sso", "North"),
        identity_api.create_identity_provider("south-sso", "South"),
    )


def _errors(exc_info) -> dict[str, list[str]]:
    return exc_info.value.errors


# --- create ------------------------------------------------------------------------------------------


def test_create_stores_the_slug_lower_case_and_links_providers(providers):
    customer = api.create_customer(
        name="  Initech ",
        slug=" IniTech-2 ",
        enforce_data_sharing_consent="externally_managed",
        enable_audit_enrollment=True,
        identity_provider_slugs=["NORTH-SSO"],
    )
    customer.refresh_from_db()
    assert (customer.name, customer.slug) == ("Initech", "initech-2")
    assert customer.enforce_data_sharing_consent == "externally_managed"
    assert customer.enable_audit_enrollment and customer.enable_data_sharing_consent and customer.active
    assert api.customer_for_identity_provider("north-sso") == customer
    assert api.customer_for_identity_provider("North-SSO") == customer
    assert api.customer_for_identity_provider("south-sso") is None
    assert api.customer_for_identity_provider("nobody") is None
    assert customer.history.count() == 1


def test_create_takes_a_chosen_uuid_once(db):
    chosen = uuid.uuid4()
    assert api.create_customer(name="Chosen", slug="chosen", customer_uuid=chosen).uuid == chosen
    with pytest.raises(InvalidInput) as exc_info:
        api.create_customer(name="Again", slug="again", customer_uuid=chosen)
    assert list(_errors(exc_info)) == ["uuid"]
    with pytest.raises(InvalidInput) as exc_info:
        api.create_customer(name="Bad", slug="bad", customer_uuid="not-a-uuid")
    assert list(_errors(exc_info)) == ["uuid"]


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": None}, "name"),
        ({"slug": ""}, "slug"),
        ({"slug": "has space"}, "slug"),
        ({"slug": "-leading"}, "slug"),
        ({"slug": "trailing-"}, "slug"),
        ({"slug": "under_score"}, "slug"),
        ({"slug": "x" * 65}, "slug"),
        ({"enforce_data_sharing_consent": "sometimes"}, "enforce_data_sharing_consent"),
        ({"active": "yes"}, "active"),
        ({"enable_audit_data_reporting": 1}, "enable_audit_data_reporting"),
        ({"identity_provider_slugs": ["nowhere-sso"]}, "identity_provider_slugs"),
        ({"identity_provider_slugs": "north-sso"}, "identity_provider_slugs"),
        ({"identity_provider_slugs": [None]}, "identity_provider_slugs"),
    ],
)
def test_create_refuses_bad_fields_and_writes_nothing(providers, fields, bad_field):
    values = {"name": "Initech", "slug": "initech", **fields}
    with pytest.raises(InvalidInput) as exc_info:
        api.create_customer(**values)
    assert list(_errors(exc_info)) == [bad_field]
    assert all(isinstance(message, str) and message for message in _errors(exc_info)[bad_field])
    assert not EnterpriseCustomer.objects.exists()


def test_create_reports_every_bad_field_at_once(db):
    with pytest.raises(InvalidInput) as exc_info:
        api.create_customer(name="", slug="Not OK", enforce_data_sharing_consent="never")
    assert set(_errors(exc_info)) == {"name", "slug", "enforce_data_sharing_consent"}


def test_a_slug_is_taken_whatever_its_case(db):
    api.create_customer(name="Initech", slug="initech")
    with pytest.raises(InvalidInput) as exc_info:
        api.create_customer(name="Initech again", slug="INITECH")
    assert "already taken" in _errors(exc_info)["slug"][0]
    assert EnterpriseCustomer.objects.count() == 1


def test_an_identity_provider_serves_one_customer(providers):
    first = api.create_customer(name="First", slug="first", identity_provider_slugs=["north-sso"])
    with pytest.raises(InvalidInput) as exc_info:
        api.create_customer(name="Second", slug="second", identity_provider_slugs=["south-sso", "north-sso"])
    assert _errors(exc_info)["identity_provider_slugs"] == [
        "The identity provider 'north-sso' already serves the customer 'first'."
    ]
    assert list(EnterpriseCustomer.objects.values_list("slug", flat=True)) == ["first"]
    assert EnterpriseCustomerIdentityProvider.objects.get().customer == first


# --- get ---------------------------------------------------------------------------------------------


def test_get_customer_by_instance_uuid_text_or_slug(acme, globex):
    assert api.get_customer(acme) is acme
    assert api.get_customer(acme.uuid) == acme
    assert api.get_customer(str(acme.uuid)) == acme
    assert api.get_customer(str(acme.uuid).upper()) == acme
    assert api.get_customer("ACME") == acme
    assert api.get_customer(" globex ") == globex


@pytest.mark.parametrize("ref", ["", "   ", "no-such-customer", "not a uuid!", str(uuid.UUID(int=7)), 42, None])
def test_get_customer_raises_not_found_for_unknown_or_malformed_refs(acme, ref):
    with pytest.raises(NotFound):
        api.get_customer(ref)
    with pytest.raises(NotFound):
        api.get_customer(uuid.UUID(int=7))


def test_inactive_customers_are_found_unless_excluded(acme):
    api.update_customer(acme, active=False)
    assert api.get_customer("acme") == acme
    with pytest.raises(NotFound):
        api.get_customer("acme", include_inactive=False)
    with pytest.raises(NotFound):
        api.get_customer(api.get_customer("acme"), include_inactive=False)


def test_customers_queryset_lists_every_customer_by_name(acme, globex):
    api.update_customer(globex, active=False)
    assert list(api.customers_queryset()) == [acme, globex]


# --- update ------------------------------------------------------------------------------------------


def test_update_changes_the_given_fields_with_history(acme):
    updated = api.update_customer(
        str(acme.uuid), name="Acme Corporation", slug="Acme-Corp", enable_data_sharing_consent=False
    )
    assert (updated.name, updated.slug, updated.enable_data_sharing_consent) == ("Acme Corporation", "acme-corp", False)
    acme.refresh_from_db()
    assert acme.slug == "acme-corp" and acme.enforce_data_sharing_consent == "at_enrollment"
    assert acme.history.count() == 2
    api.update_customer(acme, name="Acme Corporation")  # nothing changes: no history row
    assert acme.history.count() == 2


def test_update_refuses_unknown_fields_and_bad_values(acme, globex):
    with pytest.raises(InvalidInput) as exc_info:
        api.update_customer(acme, colour="red", uuid=uuid.uuid4())
    assert set(_errors(exc_info)) == {"colour", "uuid"}
    with pytest.raises(InvalidInput) as exc_info:
        api.update_customer(acme, slug="GLOBEX", name="")
    assert set(_errors(exc_info)) == {"slug", "name"}
    acme.refresh_from_db()
    assert (acme.slug, acme.name) == ("acme", "Acme Corp")
    api.update_customer(acme, slug="ACME")  # its own slug in another case is fine
    with pytest.raises(NotFound):
        api.update_customer("nobody", name="x")


def test_update_replaces_the_identity_providers(acme, globex, providers):
    api.update_customer(acme, identity_provider_slugs=["north-sso"])
    assert api.customer_for_identity_provider("north-sso") == acme
    api.update_customer(acme, identity_provider_slugs=["south-sso"])
    assert api.customer_for_identity_provider("north-sso") is None
    assert api.customer_for_identity_provider("south-sso") == acme
    api.update_customer(acme, identity_provider_slugs=["south-sso", "north-sso"])  # keeping one is not a clash
    with pytest.raises(InvalidInput) as exc_info:
        api.update_customer(globex, identity_provider_slugs=["north-sso"])
    assert "already serves the customer 'acme'" in _errors(exc_info)["identity_provider_slugs"][0]
    api.update_customer(acme, identity_provider_slugs=[])
    assert not EnterpriseCustomerIdentityProvider.objects.exists()


# --- learner lookups ---------------------------------------------------------------------------------


def test_learner_lookups(acme, globex, make_acme_learner, make_user, django_assert_num_queries):
    learner = make_acme_learner()
    outsider = make_user()
    EnterpriseCustomerUser.objects.create(customer=globex, user=learner, active=False, linked=False)
    EnterpriseCustomerUser.objects.create(customer=globex, user_email="waiting@example.com", active=False)

    assert api.customer_user_for(acme, learner).active
    assert api.customer_user_for("globex", learner.pk).linked is False
    assert api.customer_user_for(acme, outsider) is None
    assert api.is_linked_learner(acme, learner) and api.is_linked_learner(str(acme.uuid), learner.pk)
    assert not api.is_linked_learner(globex, learner)  # unlinked rows do not count
    assert not api.is_linked_learner(acme, outsider)
    assert api.customer_uuids_of_learner(learner) == {acme.uuid}
    assert api.customer_uuids_of_learner(outsider.pk) == set()
    with pytest.raises(NotFound):
        api.is_linked_learner("nobody", learner)

    with django_assert_num_queries(1):
        rows = list(api.learners_queryset())
        described = [(row.customer.slug, row.user.username if row.user else row.user_email) for row in rows]
    assert sorted(described) == sorted(
        [("acme", learner.username), ("globex", learner.username), ("globex", "waiting@example.com")]
    )
    assert [row.user_email for row in api.learners_queryset(globex) if row.is_pending] == ["waiting@example.com"]
