"""Tenant isolation of the customer, learner, consent, catalog, plan and license endpoints: on every one of
them, globex's administrator and a globex learner can neither read nor change acme's data (403 or 404), and
nothing of acme's changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.enterprise import api
from rollbook.enterprise.models import (
    DataSharingConsent,
    EnterpriseCatalog,
    EnterpriseCatalogCourse,
    EnterpriseCatalogOrganization,
    EnterpriseCustomer,
    EnterpriseCustomerUser,
    License,
    SubscriptionPlan,
)
from tests.enterprise.conftest import ART_KEY, PYTHON_KEY

pytestmark = pytest.mark.django_db

BASE = "/enterprise/api/v1"
INTRUDERS = ("globex_admin", "globex_learner")


@dataclass
class Acme:
    """Acme's data the intruders aim at."""

    customer: EnterpriseCustomer
    catalog: EnterpriseCatalog
    plan: SubscriptionPlan
    learner: object
    license: License
    assigned: License


@pytest.fixture
def world(acme, acme_catalog, acme_plan, acme_learner, acme_admin, globex_plan, globex_learner, globex_admin):
    api.grant_consent(acme, acme_learner, PYTHON_KEY)
    api.link_learners(acme, ["waiting@example.com"])
    api.assign_licenses(acme_plan, ["assigned@example.com"])
    return Acme(
        customer=acme,
        catalog=acme_catalog,
        plan=acme_plan,
        learner=acme_learner,
        license=License.objects.get(plan=acme_plan, user=acme_learner),
        assigned=License.objects.get(plan=acme_plan, user_email_normalized="assigned@example.com"),
    )


def snapshot() -> dict[str, list]:
    """Everything the enterprise endpoints of this module can change."""
    return {
        "customers": list(
            EnterpriseCustomer.objects.order_by("pk").values_list(
                "uuid", "name", "slug", "active", "enable_data_sharing_consent", "enable_audit_data_reporting"
            )
        ),
        "learners": list(
            EnterpriseCustomerUser.objects.order_by("pk").values_list(
                "customer_id", "user_id", "user_email_normalized", "active", "linked"
            )
        ),
        "consents": list(
            DataSharingConsent.objects.order_by("pk").values_list(
                "customer_id", "user_id", "catalog_course_id", "granted"
            )
        ),
        "catalogs": list(EnterpriseCatalog.objects.order_by("pk").values_list("uuid", "customer_id", "title")),
        "catalog_courses": list(
            EnterpriseCatalogCourse.objects.order_by("pk").values_list("catalog_id", "catalog_course_id")
        ),
        "catalog_orgs": list(
            EnterpriseCatalogOrganization.objects.order_by("pk").values_list("catalog_id", "organization_id")
        ),
        "plans": list(
            SubscriptionPlan.objects.order_by("pk").values_list(
                "uuid", "title", "seats", "active", "start", "expiration"
            )
        ),
        "licenses": list(
            License.objects.order_by("pk").values_list("uuid", "status", "user_id", "user_email_normalized")
        ),
    }


def _customer(world: Acme, action: str = "") -> str:
    return f"{BASE}/enterprise-customer/{world.customer.uuid}/" + (f"{action}/" if action else "")


def _consent(world: Acme, **extra) -> dict:
    return {"enterprise_customer_uuid": str(world.customer.uuid), "course_id": PYTHON_KEY, **extra}


def _plan_body(world: Acme) -> dict:
    now = timezone.now()
    return {
        "enterprise_customer_uuid": str(world.customer.uuid),
        "enterprise_catalog_uuid": str(world.catalog.uuid),
        "title": "Sneaky",
        "seats": 50,
        "start": now.isoformat(),
        "expiration": (now + timedelta(days=9)).isoformat(),
    }


def _query(world: Acme) -> str:
    return f"enterprise_customer_uuid={world.customer.uuid}"


# (name, method, url, body or query)
Call = Callable[[Acme], tuple[str, str, object]]
CALLS: dict[str, Call] = {
    # customers
    "read customer": lambda w: ("get", _customer(w), None),
    "change customer": lambda w: ("patch", _customer(w), {"name": "Pwned", "active": False}),
    "create customer with acme's slug": lambda w: (
        "post",
        f"{BASE}/enterprise-customer/",
        {"name": "A", "slug": "acme2"},
    ),
    "customer contains items": lambda w: (
        "get",
        _customer(w, "contains_content_items"),
        {"course_run_ids": PYTHON_KEY},
    ),
    "link learners": lambda w: ("post", _customer(w, "link_learners"), {"user_emails": ["spy@example.com"]}),
    "unlink learners": lambda w: (
        "post",
        _customer(w, "unlink_users"),
        {"user_emails": [w.learner.email, "waiting@example.com"]},
    ),
    "activate customer": lambda w: ("post", _customer(w, "activate"), None),
    # learners
    "list acme's learners": lambda w: ("get", f"{BASE}/enterprise-learner/?{_query(w)}", None),
    # consent
    "read own consent with acme": lambda w: ("get", f"{BASE}/data_sharing_consent/", _consent(w)),
    "read acme learner's consent": lambda w: (
        "get",
        f"{BASE}/data_sharing_consent/",
        _consent(w, username=w.learner.username),
    ),
    "grant consent with acme": lambda w: ("post", f"{BASE}/data_sharing_consent/", _consent(w)),
    "grant for acme learner": lambda w: (
        "post",
        f"{BASE}/data_sharing_consent/",
        _consent(w, username=w.learner.username),
    ),
    "revoke acme learner's consent": lambda w: (
        "delete",
        f"{BASE}/data_sharing_consent/",
        _consent(w, username=w.learner.username),
    ),
    # catalogs
    "list acme's catalogs": lambda w: ("get", f"{BASE}/enterprise_catalogs/?{_query(w)}", None),
    "create acme catalog": lambda w: (
        "post",
        f"{BASE}/enterprise_catalogs/",
        {"enterprise_customer": str(w.customer.uuid), "title": "Sneaky", "content_keys": [ART_KEY]},
    ),
    "read catalog": lambda w: ("get", f"{BASE}/enterprise_catalogs/{w.catalog.uuid}/", None),
    "change catalog": lambda w: (
        "patch",
        f"{BASE}/enterprise_catalogs/{w.catalog.uuid}/",
        {"title": "Pwned", "add_content_keys": [ART_KEY], "remove_organizations": ["EntU"]},
    ),
    "delete catalog": lambda w: ("delete", f"{BASE}/enterprise_catalogs/{w.catalog.uuid}/", None),
    "catalog contains items": lambda w: (
        "get",
        f"{BASE}/enterprise_catalogs/{w.catalog.uuid}/contains_content_items/",
        {"course_run_ids": PYTHON_KEY},
    ),
    # plans and licenses
    "list acme's plans": lambda w: ("get", f"{BASE}/subscriptions/?{_query(w)}", None),
    "create acme plan": lambda w: ("post", f"{BASE}/subscriptions/", _plan_body(w)),
    "read plan": lambda w: ("get", f"{BASE}/subscriptions/{w.plan.uuid}/", None),
    "change plan": lambda w: ("patch", f"{BASE}/subscriptions/{w.plan.uuid}/", {"seats": 500, "active": False}),
    "list plan licenses": lambda w: ("get", f"{BASE}/subscriptions/{w.plan.uuid}/licenses/", None),
    "assign licenses": lambda w: (
        "post",
        f"{BASE}/subscriptions/{w.plan.uuid}/licenses/assign/",
        {"user_emails": ["spy@example.com"]},
    ),
    "revoke licenses": lambda w: (
        "post",
        f"{BASE}/subscriptions/{w.plan.uuid}/licenses/revoke/",
        {"user_emails": [w.learner.email, "assigned@example.com"]},
    ),
    "list acme learner's licenses": lambda w: ("get", f"{BASE}/licenses/?username={w.learner.username}", None),
    "activate acme learner's license": lambda w: ("post", f"{BASE}/licenses/{w.license.uuid}/activate/", None),
    "activate an assigned acme license": lambda w: ("post", f"{BASE}/licenses/{w.assigned.uuid}/activate/", None),
}


@pytest.mark.parametrize("intruder", INTRUDERS)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_another_tenant_can_neither_read_nor_change_acmes_data(request, client_for, world, intruder, call):
    client = client_for(request.getfixturevalue(intruder))
    method, url, data = CALLS[call](world)
    before = snapshot()
    if method == "get":
        response = client.get(url, data)
    elif method == "delete" and data is not None:
        response = client.delete(url, data, format="json")
    else:
        response = getattr(client, method)(url, data, format="json")
    assert response.status_code in (403, 404), f"{call}: {response.status_code} {response.content[:300]!r}"
    assert snapshot() == before
    text = response.content.decode()
    for secret in (world.learner.email, "waiting@example.com", "assigned@example.com"):
        assert secret not in text


@pytest.mark.parametrize("intruder", INTRUDERS)
def test_lists_without_a_filter_show_nothing_of_acme(request, client_for, world, intruder):
    client = client_for(request.getfixturevalue(intruder))
    acme_ids = {
        str(world.customer.uuid),
        str(world.catalog.uuid),
        str(world.plan.uuid),
        str(world.license.uuid),
        str(world.assigned.uuid),
    }
    for path in ("enterprise-customer/", "enterprise-learner/", "enterprise_catalogs/", "subscriptions/", "licenses/"):
        response = client.get(f"{BASE}/{path}")
        assert response.status_code == 200, path
        text = response.content.decode()
        assert not any(key in text for key in acme_ids), path
        assert world.learner.email not in text and "waiting@example.com" not in text, path


def test_the_intruders_still_see_their_own_tenant(client_for, world, globex, globex_admin, globex_learner):
    """The refusals above are about acme, not a blanket refusal: globex's own data stays reachable."""
    admin = client_for(globex_admin)
    assert admin.get(f"{BASE}/enterprise-customer/{globex.uuid}/").status_code == 200
    assert admin.get(f"{BASE}/enterprise-learner/?enterprise_customer_uuid={globex.uuid}").json()["count"] == 1
    assert admin.get(f"{BASE}/subscriptions/?enterprise_customer_uuid={globex.uuid}").json()["count"] == 1
    assert admin.get(f"{BASE}/enterprise_catalogs/?enterprise_customer_uuid={globex.uuid}").json()["count"] == 1
    learner = client_for(globex_learner)
    assert learner.get(f"{BASE}/licenses/").json()["count"] == 1
    assert (
        learner.get(
            f"{BASE}/data_sharing_consent/", {"enterprise_customer_uuid": str(globex.uuid), "course_id": ART_KEY}
        ).json()["consent_required"]
        is True
    )


def test_an_admin_cannot_reach_another_tenants_learner_through_their_own_customer(
    client_for, world, globex, globex_admin
):
    """Naming acme's learner with globex as the customer reads as "no learner of this customer"."""
    response = client_for(globex_admin).get(
        f"{BASE}/data_sharing_consent/",
        {"enterprise_customer_uuid": str(globex.uuid), "course_id": PYTHON_KEY, "username": world.learner.username},
    )
    assert response.status_code == 400
    assert "username" in response.json()
