"""The subscription plan and license REST API (``/enterprise/api/v1/subscriptions/``, ``licenses/``): plans and
their seat counts, listing a plan's licenses, assignment by email within the seats, revocation with its
effects on enrollments, the learner's own licenses and activation; bad input; statement counts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import (
    EnterpriseCourseEnrollment,
    EnterpriseCustomerUser,
    License,
    SubscriptionPlan,
)
from rollbook.records import api as records_api
from tests.enterprise.conftest import DATA_KEY, PAID_ONLY_KEY, PYTHON_KEY

pytestmark = pytest.mark.django_db

BASE = "/enterprise/api/v1"
PLAN_FIELDS = {
    "uuid",
    "title",
    "enterprise_customer_uuid",
    "enterprise_catalog_uuid",
    "seats",
    "seats_assigned",
    "seats_activated",
    "seats_free",
    "start",
    "expiration",
    "active",
    "created",
    "modified",
}
LICENSE_FIELDS = {
    "uuid",
    "status",
    "user_email",
    "user_id",
    "subscription_plan_uuid",
    "subscription_plan_title",
    "subscription_plan_expiration",
    "enterprise_customer_uuid",
    "assigned_at",
    "activated_at",
    "revoked_at",
}


def plan_url(plan, action: str = "") -> str:
    key = plan if isinstance(plan, str) else plan.uuid
    return f"{BASE}/subscriptions/{key}/" + (f"{action}/" if action else "")


def statuses(plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in License.objects.filter(plan=plan).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def held(plan) -> dict[str, str]:
    return dict(
        License.objects.filter(plan=plan)
        .exclude(status=LicenseStatus.UNASSIGNED)
        .values_list("user_email_normalized", "status")
    )


@pytest.fixture
def acme_admin_api(acme_admin, client_for):
    return client_for(acme_admin)


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- plans ---------------------------------------------------------------------------------------


def test_plans_are_listed_with_their_seat_counts(
    operator_api, acme_admin_api, acme, acme_plan, acme_learner, globex_plan
):
    response = operator_api.get(f"{BASE}/subscriptions/")
    assert response.status_code == 200
    assert response.json()["count"] == 2
    rows = acme_admin_api.get(f"{BASE}/subscriptions/").json()["results"]
    assert [row["uuid"] for row in rows] == [str(acme_plan.uuid)]
    row = rows[0]
    assert set(row) == PLAN_FIELDS
    assert (row["seats"], row["seats_assigned"], row["seats_activated"], row["seats_free"]) == (5, 0, 1, 4)
    assert row["enterprise_customer_uuid"] == str(acme.uuid)
    assert row["enterprise_catalog_uuid"] == str(acme_plan.catalog.uuid)
    filtered = operator_api.get(f"{BASE}/subscriptions/", {"enterprise_customer_uuid": str(acme.uuid)}).json()
    assert [row["uuid"] for row in filtered["results"]] == [str(acme_plan.uuid)]


def test_learners_see_no_plans(client_for, acme, acme_plan, acme_learner):
    client = client_for(acme_learner)
    assert client.get(f"{BASE}/subscriptions/").json()["results"] == []
    assert client.get(f"{BASE}/subscriptions/", {"enterprise_customer_uuid": str(acme.uuid)}).status_code == 403
    assert client.get(plan_url(acme_plan)).status_code == 403
    assert client.get(plan_url(acme_plan, "licenses")).status_code == 403


def test_listing_plans_takes_the_same_statements_for_many(
    operator_api, acme, acme_catalog, django_assert_max_num_queries
):
    now = timezone.now()
    for number in range(15):
        plan = SubscriptionPlan.objects.create(
            customer=acme,
            catalog=acme_catalog,
            title=f"Plan {number}",
            seats=2,
            start=now,
            expiration=now + timedelta(1),
        )
        License.objects.bulk_create([License(plan=plan), License(plan=plan)])
    with django_assert_max_num_queries(5):
        response = operator_api.get(f"{BASE}/subscriptions/", {"page_size": 100})
    assert response.json()["count"] == 15
    assert {row["seats_free"] for row in response.json()["results"]} == {2}


def test_operators_create_plans_with_their_seats(operator_api, acme, acme_catalog):
    now = timezone.now()
    chosen = uuid.uuid4()
    body = {
        "uuid": str(chosen),
        "enterprise_customer_uuid": str(acme.uuid),
        "enterprise_catalog_uuid": str(acme_catalog.uuid),
        "title": "Pilot",
        "seats": 3,
        "start": _iso(now),
        "expiration": _iso(now + timedelta(days=90)),
    }
    response = operator_api.post(f"{BASE}/subscriptions/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["uuid"] == str(chosen)
    assert (response.json()["seats"], response.json()["seats_free"], response.json()["active"]) == (3, 3, True)
    assert statuses(SubscriptionPlan.objects.get(uuid=chosen)) == {"unassigned": 3}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"seats": 0}, "seats"),
        ({"seats": 2_000_000}, "seats"),
        ({"seats": "many"}, "seats"),
        ({"expiration": "2000-01-01T00:00:00Z"}, "expiration"),
        ({"start": "yesterday"}, "start"),
        ({"enterprise_catalog_uuid": "nope"}, "enterprise_catalog_uuid"),
        ({"enterprise_catalog_uuid": str(uuid.UUID(int=5))}, "enterprise_catalog_uuid"),
        ({"enterprise_customer_uuid": str(uuid.UUID(int=5))}, "enterprise_customer_uuid"),
        ({"uuid": "nope"}, "uuid"),
    ],
)
def test_creating_a_plan_with_bad_input_is_a_400_and_writes_nothing(operator_api, acme, acme_catalog, change, field):
    now = timezone.now()
    body = {
        "enterprise_customer_uuid": str(acme.uuid),
        "enterprise_catalog_uuid": str(acme_catalog.uuid),
        "title": "Pilot",
        "seats": 3,
        "start": _iso(now),
        "expiration": _iso(now + timedelta(days=90)),
        **change,
    }
    response = operator_api.post(f"{BASE}/subscriptions/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not SubscriptionPlan.objects.exists()
    assert not License.objects.exists()


def test_a_plan_must_use_its_customers_catalog(operator_api, acme, globex_catalog):
    now = timezone.now()
    body = {
        "enterprise_customer_uuid": str(acme.uuid),
        "enterprise_catalog_uuid": str(globex_catalog.uuid),
        "title": "Pilot",
        "seats": 3,
        "start": _iso(now),
        "expiration": _iso(now + timedelta(days=90)),
    }
    response = operator_api.post(f"{BASE}/subscriptions/", body, format="json")
    assert response.status_code == 400
    assert "enterprise_catalog_uuid" in response.json()


def test_operators_change_plans_and_seats_never_drop_below_those_in_use(operator_api, acme_plan, acme_learner):
    response = operator_api.patch(plan_url(acme_plan), {"seats": 8, "title": "Bigger"}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["seats"], response.json()["seats_free"], response.json()["title"]) == (8, 7, "Bigger")
    assert operator_api.patch(plan_url(acme_plan), {"seats": 1}, format="json").json()["seats_free"] == 0
    response = operator_api.patch(plan_url(acme_plan), {"seats": 0}, format="json")
    assert response.status_code == 400
    assert "seats" in response.json()
    response = operator_api.patch(plan_url(acme_plan), {"expiration": _iso(acme_plan.start)}, format="json")
    assert response.status_code == 400
    assert "expiration" in response.json()
    assert statuses(acme_plan) == {"activated": 1}


def test_admins_may_not_create_or_change_plans(acme_admin_api, acme, acme_plan):
    body = {"enterprise_customer_uuid": str(acme.uuid), "enterprise_catalog_uuid": str(acme_plan.catalog.uuid)}
    assert (
        acme_admin_api.post(f"{BASE}/subscriptions/", {**body, "title": "x", "seats": 1}, format="json").status_code
        == 403
    )
    assert acme_admin_api.patch(plan_url(acme_plan), {"seats": 50}, format="json").status_code == 403
    assert SubscriptionPlan.objects.get(pk=acme_plan.pk).seats == 5
    assert acme_admin_api.get(plan_url(acme_plan)).json()["seats"] == 5


def test_unknown_and_malformed_plan_uuids_are_not_found(operator_api, db):
    for key in (str(uuid.uuid4()), "not-a-uuid"):
        assert operator_api.get(plan_url(key)).status_code == 404
        assert operator_api.patch(plan_url(key), {"seats": 1}, format="json").status_code == 404
        assert operator_api.get(plan_url(key, "licenses")).status_code == 404
        assert (
            operator_api.post(plan_url(key, "licenses/assign"), {"user_emails": ["a@x.org"]}, format="json").status_code
            == 404
        )
        assert (
            operator_api.post(plan_url(key, "licenses/revoke"), {"user_emails": ["a@x.org"]}, format="json").status_code
            == 404
        )


# --- a plan's licenses ---------------------------------------------------------------------------


def test_admins_list_a_plans_licenses_by_status_and_email(acme_admin_api, acme_plan, acme_learner):
    acme_admin_api.post(plan_url(acme_plan, "licenses/assign"), {"user_emails": ["Zed@Example.com"]}, format="json")
    rows = acme_admin_api.get(plan_url(acme_plan, "licenses")).json()["results"]
    assert len(rows) == 5
    assert set(rows[0]) == LICENSE_FIELDS
    activated = acme_admin_api.get(plan_url(acme_plan, "licenses"), {"status": "activated"}).json()["results"]
    assert [(row["user_email"], row["user_id"]) for row in activated] == [(acme_learner.email, acme_learner.pk)]
    found = acme_admin_api.get(plan_url(acme_plan, "licenses"), {"search": "ZED@"}).json()["results"]
    assert [(row["user_email"], row["status"]) for row in found] == [("Zed@Example.com", "assigned")]
    both = acme_admin_api.get(plan_url(acme_plan, "licenses"), {"status": "assigned,activated"}).json()
    assert both["count"] == 2
    response = acme_admin_api.get(plan_url(acme_plan, "licenses"), {"status": "lost"})
    assert response.status_code == 400
    assert "status" in response.json()


def test_listing_licenses_takes_the_same_statements_for_many(acme_admin_api, acme_plan, django_assert_max_num_queries):
    License.objects.bulk_create([License(plan=acme_plan) for _ in range(40)])
    with django_assert_max_num_queries(6):
        response = acme_admin_api.get(plan_url(acme_plan, "licenses"), {"page_size": 100})
    assert response.json()["count"] == 45


# --- assignment ----------------------------------------------------------------------------------


def assign(client, plan, emails):
    return client.post(plan_url(plan, "licenses/assign"), {"user_emails": emails}, format="json")


def test_admins_assign_licenses_by_email(acme_admin_api, acme, acme_plan, make_user):
    ann = make_user("ann", "Ann@Example.com")
    response = assign(acme_admin_api, acme_plan, ["ANN@example.com", "new@example.com", "ann@EXAMPLE.com", "nope"])
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "assigned": ["ann@example.com", "new@example.com"],
        "already_assigned": [],
        "errors": {"nope": response.json()["errors"]["nope"]},
    }
    assert held(acme_plan) == {"ann@example.com": "assigned", "new@example.com": "assigned"}
    assert License.objects.get(plan=acme_plan, user_email_normalized="ann@example.com").user_id == ann.pk
    again = assign(acme_admin_api, acme_plan, ["new@example.com"]).json()
    assert (again["assigned"], again["already_assigned"]) == ([], ["new@example.com"])
    assert EnterpriseCustomerUser.objects.filter(customer=acme, user=ann).exists()


def test_assignment_never_exceeds_the_seats_and_is_all_or_nothing(acme_admin_api, acme_plan, acme_learner):
    response = assign(acme_admin_api, acme_plan, [f"p{n}@example.com" for n in range(5)])
    assert response.status_code == 400
    assert "user_emails" in response.json()
    assert held(acme_plan) == {acme_learner.email: "activated"}
    assert assign(acme_admin_api, acme_plan, [f"p{n}@example.com" for n in range(4)]).status_code == 200
    assert statuses(acme_plan) == {"activated": 1, "assigned": 4}


@pytest.mark.parametrize("body", [{}, {"user_emails": "a@x.org"}, {"user_emails": []}, {"user_emails": [None]}])
def test_a_malformed_assignment_is_a_400(acme_admin_api, acme_plan, body):
    assert acme_admin_api.post(plan_url(acme_plan, "licenses/assign"), body, format="json").status_code == 400
    assert statuses(acme_plan) == {"unassigned": 5}


def test_too_many_emails_is_a_413(acme_admin_api, acme_plan, settings):
    settings.BULK_MAX_ITEMS = 2
    assert assign(acme_admin_api, acme_plan, ["a@x.org", "b@x.org", "c@x.org"]).status_code == 413
    assert statuses(acme_plan) == {"unassigned": 5}


def test_assigning_from_an_expired_plan_is_refused(acme_admin_api, acme_plan):
    SubscriptionPlan.objects.filter(pk=acme_plan.pk).update(expiration=timezone.now() - timedelta(days=1))
    response = assign(acme_admin_api, acme_plan, ["a@x.org"])
    assert response.status_code == 400
    assert statuses(acme_plan) == {"unassigned": 5}


def test_assignment_statements_do_not_grow_with_the_emails(
    acme_admin_api, acme_plan, django_assert_max_num_queries, make_user
):
    SubscriptionPlan.objects.filter(pk=acme_plan.pk).update(seats=120)
    License.objects.bulk_create([License(plan=acme_plan) for _ in range(115)])
    few = [f"few{n}@example.com" for n in range(3)]
    many = [f"many{n}@example.com" for n in range(100)]
    for n in range(50):
        make_user(f"many{n}")
    with django_assert_max_num_queries(40) as counted:
        assert assign(acme_admin_api, acme_plan, few).status_code == 200
    with django_assert_max_num_queries(len(counted.captured_queries)):
        assert assign(acme_admin_api, acme_plan, many).status_code == 200
    assert statuses(acme_plan)["assigned"] == 103


# --- revocation ----------------------------------------------------------------------------------


def _enroll_with_license(customer, user, course_key: str, license) -> None:
    data, _outcome = enrollments_api.enroll_with_outcome(user, course_key, "verified", skip_access_checks=True)
    EnterpriseCourseEnrollment.objects.create(
        customer_user=EnterpriseCustomerUser.objects.get(customer=customer, user=user),
        course_enrollment=enrollments_api.enrollments_queryset().get(uuid=data.uuid),
        license=license,
        source="license",
    )


def test_revoking_frees_the_seat_and_reports_the_effects_on_enrollments(acme_admin_api, acme, acme_plan, acme_learner):
    license = License.objects.get(plan=acme_plan, user=acme_learner)
    for key in (PYTHON_KEY, PAID_ONLY_KEY, DATA_KEY):
        _enroll_with_license(acme, acme_learner, key, license)
    records_api.record_course_grade(acme_learner, DATA_KEY, percent="0.9", passed=True)

    response = acme_admin_api.post(
        plan_url(acme_plan, "licenses/revoke"), {"user_emails": [acme_learner.email.upper()]}, format="json"
    )
    assert response.status_code == 200, response.json()
    (result,) = response.json()["results"]
    assert (result["email"], result["status"], result["error"]) == (acme_learner.email.upper(), "revoked", "")
    actions = {effect["course_run_key"]: effect["action"] for effect in result["effects"]}
    assert actions == {PYTHON_KEY: "moved_to_audit", PAID_ONLY_KEY: "unenrolled", DATA_KEY: "kept_completed"}
    assert response.json()["counts"] == {"revoked": 1}
    modes = {
        key: (state.mode, state.is_active)
        for key in (PYTHON_KEY, PAID_ONLY_KEY, DATA_KEY)
        for state in [enrollments_api.get_enrollment(acme_learner, key)]
    }
    assert modes == {PYTHON_KEY: ("audit", True), PAID_ONLY_KEY: ("verified", False), DATA_KEY: ("verified", True)}
    assert statuses(acme_plan) == {"revoked": 1, "unassigned": 5}


def test_revocation_answers_422_when_any_email_fails(acme_admin_api, acme_plan, acme_learner):
    response = acme_admin_api.post(
        plan_url(acme_plan, "licenses/revoke"),
        {"user_emails": [acme_learner.email, "nobody@example.com", "bad"]},
        format="json",
    )
    assert response.status_code == 422
    results = {row["email"]: row for row in response.json()["results"]}
    assert results[acme_learner.email]["status"] == "revoked"
    assert results["nobody@example.com"]["status"] == "failed"
    assert results["nobody@example.com"]["error"]
    assert results["bad"]["status"] == "failed"
    assert response.json()["counts"] == {"revoked": 1, "failed": 2}
    again = acme_admin_api.post(
        plan_url(acme_plan, "licenses/revoke"), {"user_emails": [acme_learner.email]}, format="json"
    )
    assert again.status_code == 422


def test_a_malformed_revocation_is_a_400(acme_admin_api, acme_plan, acme_learner):
    response = acme_admin_api.post(
        plan_url(acme_plan, "licenses/revoke"), {"user_emails": acme_learner.email}, format="json"
    )
    assert response.status_code == 400
    assert held(acme_plan) == {acme_learner.email: "activated"}


# --- the learner's licenses ----------------------------------------------------------------------


def test_a_learner_lists_their_own_licenses(
    client_for, acme_admin_api, acme_plan, acme_learner, make_user, globex_learner
):
    newcomer = make_user("newcomer", "Newcomer@Example.com")
    assign(acme_admin_api, acme_plan, ["newcomer@example.com", "someone.else@example.com"])
    rows = client_for(acme_learner).get(f"{BASE}/licenses/").json()["results"]
    assert [(row["status"], row["user_id"]) for row in rows] == [("activated", acme_learner.pk)]
    assert set(rows[0]) == LICENSE_FIELDS
    assert rows[0]["subscription_plan_uuid"] == str(acme_plan.uuid)
    rows = client_for(newcomer).get(f"{BASE}/licenses/").json()["results"]
    assert [(row["status"], row["user_email"]) for row in rows] == [("assigned", "newcomer@example.com")]
    assert client_for(newcomer).get(f"{BASE}/licenses/", {"status": "activated"}).json()["results"] == []


def test_a_license_assigned_before_the_account_existed_is_listed_by_email(
    client_for, acme_admin_api, acme_plan, make_user
):
    assign(acme_admin_api, acme_plan, ["Later@Example.com"])
    later = make_user("later", "later@example.com")
    rows = client_for(later).get(f"{BASE}/licenses/").json()["results"]
    assert [row["status"] for row in rows] == ["assigned"]


def test_only_operators_list_someone_elses_licenses(client_for, operator_api, acme_learner, globex_learner):
    rows = operator_api.get(f"{BASE}/licenses/", {"username": "acme-learner"}).json()["results"]
    assert [row["user_id"] for row in rows] == [acme_learner.pk]
    assert client_for(globex_learner).get(f"{BASE}/licenses/", {"username": "acme-learner"}).status_code == 403
    response = operator_api.get(f"{BASE}/licenses/", {"username": "nobody-at-all"})
    assert response.status_code == 400
    assert "username" in response.json()


def test_a_learner_activates_a_license_assigned_to_them(client_for, acme_admin_api, acme, acme_plan, make_user):
    newcomer = make_user("newcomer", "newcomer@example.com")
    assign(acme_admin_api, acme_plan, ["NEWCOMER@example.com"])
    license = License.objects.get(plan=acme_plan, user_email_normalized="newcomer@example.com")
    response = client_for(newcomer).post(f"{BASE}/licenses/{license.uuid}/activate/")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["user_id"]) == ("activated", newcomer.pk)
    assert response.json()["activated_at"]
    assert EnterpriseCustomerUser.objects.get(customer=acme, user=newcomer).linked
    assert client_for(newcomer).post(f"{BASE}/licenses/{license.uuid}/activate/").status_code == 200  # idempotent


def test_someone_elses_license_is_not_found_and_stays_as_it_is(client_for, acme_admin_api, acme_plan, make_user):
    make_user("owner", "owner@example.com")
    intruder = make_user("intruder")
    assign(acme_admin_api, acme_plan, ["owner@example.com"])
    license = License.objects.get(plan=acme_plan, user_email_normalized="owner@example.com")
    free = License.objects.filter(plan=acme_plan, status=LicenseStatus.UNASSIGNED).first()
    for key in (license.uuid, free.uuid, uuid.uuid4(), "not-a-uuid"):
        assert client_for(intruder).post(f"{BASE}/licenses/{key}/activate/").status_code == 404
    assert License.objects.get(pk=license.pk).status == LicenseStatus.ASSIGNED


def test_a_revoked_license_cannot_be_activated(client_for, acme_admin_api, acme_plan, make_user):
    owner = make_user("owner", "owner@example.com")
    assign(acme_admin_api, acme_plan, ["owner@example.com"])
    license = License.objects.get(plan=acme_plan, user_email_normalized="owner@example.com")
    acme_admin_api.post(plan_url(acme_plan, "licenses/revoke"), {"user_emails": ["owner@example.com"]}, format="json")
    response = client_for(owner).post(f"{BASE}/licenses/{license.uuid}/activate/")
    assert response.status_code == 400
    assert License.objects.get(pk=license.pk).status == LicenseStatus.REVOKED
