"""Subscription plans and licenses: plan validation and seat changes, assignment by email within the seats,
activation by the learner, and the activated licenses enrollment code looks up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enterprise import api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import EnterpriseCustomerUser, License, PendingEnrollment, SubscriptionPlan
from tests.enterprise.conftest import PYTHON_KEY, activate_license_for


def _period(days_before: int = 30, days_after: int = 300) -> dict[str, datetime]:
    now = timezone.now()
    return {"start": now - timedelta(days=days_before), "expiration": now + timedelta(days=days_after)}


@pytest.fixture
def make_plan(acme_catalog):
    def _make(seats: int = 5, catalog=None, **fields):
        catalog = catalog or acme_catalog
        values = {"title": f"Plan of {seats}", "seats": seats, **_period(), **fields}
        return api.create_plan(catalog.customer, catalog=catalog, **values)

    return _make


def _statuses(plan) -> list[str]:
    return list(License.objects.filter(plan=plan).order_by("id").values_list("status", flat=True))


# --- plans ---------------------------------------------------------------------------------------


def test_create_plan_makes_its_seats_as_unassigned_licenses_with_history(acme, acme_catalog):
    wanted = uuid.uuid4()

    plan = api.create_plan(
        str(acme.uuid), catalog=str(acme_catalog.uuid), title=" Gold ", seats=7, plan_uuid=wanted, **_period()
    )

    assert (plan.uuid, plan.title, plan.seats, plan.catalog, plan.active) == (wanted, "Gold", 7, acme_catalog, True)
    assert _statuses(plan) == ["unassigned"] * 7
    assert License.history.filter(plan_id=plan.pk, history_type="+").count() == 7
    assert (plan.seats_free, plan.seats_assigned, plan.seats_activated) == (7, 0, 0)
    assert api.get_plan(str(wanted)) == plan
    assert list(api.plans_queryset(acme)) == [plan]


def test_create_plan_refuses_bad_input_and_writes_nothing(acme, acme_catalog, globex_catalog):
    now = timezone.now()
    with pytest.raises(InvalidInput) as raised:
        api.create_plan(acme, catalog=globex_catalog, title=" ", seats=0, start=now, expiration=now - timedelta(days=1))
    assert set(raised.value.errors) == {"title", "seats", "expiration", "catalog"}

    bad_inputs = [
        ({"seats": 1_000_001}, "seats"),
        ({"seats": "5"}, "seats"),
        ({"seats": True}, "seats"),
        ({"seats": 2.5}, "seats"),
        ({"start": datetime(2030, 1, 1)}, "start"),
        ({"expiration": "tomorrow"}, "expiration"),
        ({"start": now, "expiration": now}, "expiration"),
        ({"catalog": uuid.uuid4()}, "catalog"),
        ({"title": "x" * 256}, "title"),
        ({"plan_uuid": "not-a-uuid"}, "uuid"),
        ({"active": "yes"}, "active"),
    ]
    for change, field in bad_inputs:
        values = {"catalog": acme_catalog, "title": "T", "seats": 3, **_period(), **change}
        with pytest.raises(InvalidInput) as raised:
            api.create_plan(acme, **values)
        assert set(raised.value.errors) == {field}, change
    assert not SubscriptionPlan.objects.exists()
    assert not License.objects.exists()


def test_create_plan_accepts_iso_times(acme, acme_catalog):
    plan = api.create_plan(
        acme, catalog=acme_catalog, title="ISO", seats=1, start="2030-01-01T00:00:00Z", expiration="2031-01-01T00:00Z"
    )
    assert (plan.start, plan.expiration) == (datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))


def test_plan_uuid_taken(make_plan):
    plan = make_plan()
    with pytest.raises(InvalidInput) as raised:
        make_plan(plan_uuid=plan.uuid)
    assert set(raised.value.errors) == {"uuid"}


def test_get_plan_and_license_not_found(db):
    for lookup in (api.get_plan, api.get_license):
        with pytest.raises(NotFound):
            lookup(uuid.uuid4())
        with pytest.raises(NotFound):
            lookup("nope")


def test_seat_counts_follow_the_licenses_and_leave_revoked_ones_out(make_plan, make_user):
    plan = make_plan(4)
    learner = make_user("counted", email="counted@example.com")
    api.assign_licenses(plan, ["counted@example.com", "two@example.com", "three@example.com"])
    api.activate_license(License.objects.get(plan=plan, user_email="counted@example.com"), learner)
    api.revoke_license(License.objects.get(plan=plan, user_email="three@example.com"))

    counted = api.get_plan(plan.uuid)

    assert (counted.seats_assigned, counted.seats_activated, counted.seats_free) == (1, 1, 2)
    assert License.objects.filter(plan=plan).count() == 5  # the revoked one stays


def test_update_plan_adds_and_removes_free_seats(make_plan):
    plan = make_plan(3)
    api.assign_licenses(plan, ["a@example.com"])

    grown = api.update_plan(plan, seats=6, title="Bigger")

    assert (grown.seats, grown.title, grown.seats_free, grown.seats_assigned) == (6, "Bigger", 5, 1)
    assert License.objects.filter(plan=plan).count() == 6

    shrunk = api.update_plan(str(plan.uuid), seats=2)

    assert (shrunk.seats, shrunk.seats_free, shrunk.seats_assigned) == (2, 1, 1)
    assert _statuses(plan) == ["assigned", "unassigned"]
    assert License.history.filter(plan_id=plan.pk, history_type="-").count() == 4
    assert plan.history.count() == 3


def test_update_plan_refuses_fewer_seats_than_in_use(make_plan):
    plan = make_plan(3)
    api.assign_licenses(plan, ["a@example.com", "b@example.com"])

    with pytest.raises(InvalidInput) as raised:
        api.update_plan(plan, seats=1, title="Smaller")

    assert "2 seats are assigned or activated" in raised.value.errors["seats"][0]
    plan.refresh_from_db()
    assert (plan.seats, plan.title) == (3, "Plan of 3")
    assert len(_statuses(plan)) == 3
    assert api.update_plan(plan, seats=2).seats_free == 0


def test_update_plan_validates_fields_and_the_period(make_plan):
    plan = make_plan(2)
    for changes, field in [
        ({"seats": 0}, "seats"),
        ({"title": ""}, "title"),
        ({"expiration": plan.start - timedelta(days=1)}, "expiration"),
        ({"start": plan.expiration}, "expiration"),
        ({"active": None}, "active"),
        ({"customer": "globex"}, "customer"),
    ]:
        with pytest.raises(InvalidInput) as raised:
            api.update_plan(plan, **changes)
        assert set(raised.value.errors) == {field}, changes

    changed = api.update_plan(plan, active=False, expiration=plan.expiration + timedelta(days=5))

    assert changed.active is False
    assert changed.expiration == plan.expiration + timedelta(days=5)


# --- assignment ----------------------------------------------------------------------------------


def test_assign_licenses_dedupes_ignoring_case_and_sets_known_users(make_plan, make_user):
    plan = make_plan(5)
    known = make_user("known", email="Known.Person@Example.com")

    result = api.assign_licenses(
        plan, ["known.person@example.COM", " New@Example.com", "new@example.com", "not an email", ""]
    )

    assert result.assigned == ("known.person@example.com", "new@example.com")
    assert result.already_assigned == ()
    assert set(result.errors) == {"not an email", ""}
    first, second = License.objects.filter(plan=plan, status=LicenseStatus.ASSIGNED).order_by("id")
    assert (first.user_email, first.user, first.assigned_at is not None) == ("known.person@example.COM", known, True)
    assert (second.user_email, second.user) == ("New@Example.com", None)
    assert list(License.objects.filter(plan=plan).order_by("id").values_list("status", flat=True)[:2]) == [
        "assigned",
        "assigned",
    ]
    assert License.history.filter(plan_id=plan.pk, history_type="~").count() == 2
    learners = EnterpriseCustomerUser.objects.filter(customer=plan.customer)
    assert set(learners.values_list("user_id", "user_email_normalized")) == {
        (known.pk, "known.person@example.com"),
        (None, "new@example.com"),
    }


def test_emails_holding_a_license_are_reported_and_take_no_seat(make_plan, make_user):
    plan = make_plan(2)
    moved = make_user("moved", email="old@example.com")
    api.assign_licenses(plan, ["held@example.com", "old@example.com"])
    moved.email = "new-address@example.com"
    moved.save()

    result = api.assign_licenses(plan, ["HELD@example.com", "new-address@example.com"])

    assert result.assigned == ()
    assert result.already_assigned == ("held@example.com", "new-address@example.com")
    assert api.get_plan(plan.uuid).seats_free == 0


def test_the_exact_number_of_free_seats_can_be_assigned_and_not_one_more(make_plan):
    plan = make_plan(3)

    result = api.assign_licenses(plan, [f"p{n}@example.com" for n in range(3)])

    assert len(result.assigned) == 3
    with pytest.raises(InvalidInput) as raised:
        api.assign_licenses(plan, ["p0@example.com", "late@example.com"])
    assert raised.value.errors == {"user_emails": ["0 licenses are free; 1 emails need one."]}
    assert api.assign_licenses(plan, ["P1@example.com"]).already_assigned == ("p1@example.com",)


def test_assignment_is_all_or_nothing_when_seats_are_short(make_plan):
    plan = make_plan(4)
    api.assign_licenses(plan, ["first@example.com"])

    with pytest.raises(InvalidInput) as raised:
        api.assign_licenses(plan, ["first@example.com", *(f"n{n}@example.com" for n in range(4))])

    assert raised.value.errors == {"user_emails": ["3 licenses are free; 4 emails need one."]}
    assert _statuses(plan) == ["assigned", "unassigned", "unassigned", "unassigned"]
    assert EnterpriseCustomerUser.objects.filter(customer=plan.customer).count() == 1


def test_assignment_refuses_inactive_and_expired_plans_but_not_future_ones(make_plan):
    inactive = make_plan(1, active=False, title="Off")
    expired = make_plan(1, title="Old", **_period(days_before=400, days_after=-1))
    future = make_plan(1, title="Soon", **_period(days_before=-10, days_after=300))

    for plan, words in ((inactive, "inactive"), (expired, "expired")):
        with pytest.raises(InvalidInput) as raised:
            api.assign_licenses(plan, ["x@example.com"])
        assert words in raised.value.errors["plan"][0]
        assert _statuses(plan) == ["unassigned"]
    assert api.assign_licenses(future, ["x@example.com"]).assigned == ("x@example.com",)


def test_assignment_takes_a_list(make_plan):
    with pytest.raises(InvalidInput):
        api.assign_licenses(make_plan(1), "a@example.com")
    assert api.assign_licenses(make_plan(1, title="again"), ["bad"]).assigned == ()


def test_assignment_statements_do_not_grow_with_the_number_of_emails(make_plan, make_user):
    small, large = make_plan(60, title="small"), make_plan(60, title="large")
    for n in range(3):
        make_user(f"small{n}", email=f"small{n}@example.com")
    for n in range(30):
        make_user(f"large{n}", email=f"large{n}@example.com")

    with CaptureQueriesContext(connection) as few:
        api.assign_licenses(small, [f"small{n}@example.com" for n in range(3)] + ["s-new@example.com"])
    with CaptureQueriesContext(connection) as many:
        api.assign_licenses(
            large, [f"large{n}@example.com" for n in range(30)] + [f"l-new{n}@e.com" for n in range(20)]
        )

    assert len(many) == len(few)
    assert api.get_plan(large.uuid).seats_assigned == 50


# --- activation ----------------------------------------------------------------------------------


def test_the_learner_activates_a_license_assigned_to_their_email_in_any_case(make_plan, make_user):
    plan = make_plan(2)
    api.assign_licenses(plan, ["Casey@Example.com"])
    casey = make_user("casey", email="casey@EXAMPLE.com")  # registered after the assignment
    license = License.objects.get(plan=plan, status=LicenseStatus.ASSIGNED)

    activated = api.activate_license(str(license.uuid), casey)

    assert (activated.status, activated.user, activated.activated_at is not None) == ("activated", casey, True)
    assert License.objects.get(pk=license.pk).status == LicenseStatus.ACTIVATED
    row = EnterpriseCustomerUser.objects.get(customer=plan.customer, user=casey)
    assert (row.linked, row.active) == (True, True)
    again = api.activate_license(license, casey)
    assert (again.status, again.activated_at) == ("activated", activated.activated_at)
    assert license.history.filter(status="activated").count() == 1


def test_a_license_assigned_to_an_account_is_activated_by_that_account(make_plan, make_user):
    plan = make_plan(1)
    owner = make_user("owner", email="owner@example.com")
    api.assign_licenses(plan, ["owner@example.com"])
    owner.email = "owner-changed@example.com"
    owner.save()

    assert api.activate_license(License.objects.get(plan=plan, status="assigned"), owner).user == owner


def test_activation_refusals(make_plan, make_user):
    plan = make_plan(4)
    stranger = make_user("stranger", email="stranger@example.com")
    owner = make_user("owner2", email="owner2@example.com")
    api.assign_licenses(plan, ["someone@example.com", "owner2@example.com", "gone@example.com"])
    someone_license, owner_license, gone_license = License.objects.filter(plan=plan, status="assigned").order_by("id")
    free_license = License.objects.get(plan=plan, status="unassigned")
    api.revoke_license(gone_license)

    cases = [
        (someone_license, stranger, "someone else"),
        (owner_license, stranger, "someone else"),
        (gone_license, make_user("gone", email="gone@example.com"), "revoked"),
        (free_license, stranger, "not assigned"),
    ]
    for license, user, words in cases:
        with pytest.raises(InvalidInput) as raised:
            api.activate_license(license, user)
        assert words in raised.value.errors["license"][0]
    api.activate_license(owner_license, owner)
    with pytest.raises(InvalidInput):
        api.activate_license(owner_license, stranger)


@pytest.mark.parametrize(
    ("plan_fields", "words"),
    [
        ({"active": False}, "inactive"),
        (_period(days_before=400, days_after=-1), "expired"),
        (_period(days_before=-5, days_after=300), "starts"),
    ],
)
def test_activation_needs_an_active_current_plan(make_plan, make_user, plan_fields, words):
    plan = make_plan(1)
    api.assign_licenses(plan, ["late@example.com"])
    SubscriptionPlan.objects.filter(pk=plan.pk).update(**plan_fields)
    late = make_user("late", email="late@example.com")

    with pytest.raises(InvalidInput) as raised:
        api.activate_license(License.objects.get(plan=plan, status="assigned"), late)

    assert words in raised.value.errors["plan"][0]
    assert License.objects.get(plan=plan, status="assigned").activated_at is None


# --- activated licenses for enrollment -----------------------------------------------------------


def test_activated_licenses_by_user_keeps_current_active_plans_of_the_customer(
    acme, acme_plan, acme_learner, make_acme_learner, make_plan, globex_plan, make_user, django_assert_num_queries
):
    second_plan = make_plan(2, title="Second", **_period(days_after=900))
    both = make_acme_learner("both")
    activate_license_for(second_plan, both)
    expired_plan = make_plan(1, title="Expired", **_period(days_before=100, days_after=300))
    SubscriptionPlan.objects.filter(pk=expired_plan.pk).update(expiration=timezone.now() - timedelta(days=1))
    inactive_plan = make_plan(1, title="Inactive")
    SubscriptionPlan.objects.filter(pk=inactive_plan.pk).update(active=False)
    lapsed = make_acme_learner("lapsed", licensed=False)
    activate_license_for(expired_plan, lapsed)
    paused = make_acme_learner("paused", licensed=False)
    activate_license_for(inactive_plan, paused)
    elsewhere = make_user("elsewhere")
    activate_license_for(globex_plan, elsewhere)
    assigned_only = make_user("assigned-only", email="assigned-only@example.com")
    api.assign_licenses(acme_plan, [assigned_only.email])
    user_ids = [acme_learner.pk, both.pk, lapsed.pk, paused.pk, elsewhere.pk, assigned_only.pk, 10**9]

    with django_assert_num_queries(1):
        found = api.activated_licenses_by_user(acme, user_ids)
        plans = {user_id: [(lic.plan.title, lic.plan.catalog.title) for lic in lics] for user_id, lics in found.items()}

    assert plans == {
        acme_learner.pk: [("Acme Corp plan", "Acme all EntU")],
        both.pk: [("Second", "Acme all EntU"), ("Acme Corp plan", "Acme all EntU")],
    }
    later = timezone.now() + timedelta(days=400)
    assert list(api.activated_licenses_by_user(acme, user_ids, at=later)) == [both.pk]
    assert api.activated_licenses_by_user(acme, []) == {}


def test_shrinking_never_deletes_a_free_license_something_refers_to(make_plan, acme, runs):
    plan = make_plan(3)
    api.assign_licenses(plan, ["held@example.com"])
    waiting = EnterpriseCustomerUser.objects.create(customer=acme, user_email="w@example.com")
    referenced = License.objects.filter(plan=plan, status="unassigned").order_by("id").last()
    PendingEnrollment.objects.create(customer_user=waiting, course_run=runs[PYTHON_KEY], license=referenced)

    assert api.update_plan(plan, seats=2).seats_free == 1  # the other free license went

    with pytest.raises(InvalidInput) as raised:
        api.update_plan(plan, seats=1)
    assert "referenced" in raised.value.errors["seats"][0]
    assert License.objects.filter(pk=referenced.pk).exists()
    assert api.get_plan(plan.uuid).seats == 2
