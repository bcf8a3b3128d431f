"""Budgets set up: create (every validation rule, the catalog belongs to the customer, the upstream
exclusivity rules, budget_created inside the transaction), update (same rules, fixed fields, a limit below
the spend), lookups, the row lock and is_active_now."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from rollbook.budgets import api, signals
from rollbook.budgets.data import AccessMethod, TransactionState
from rollbook.budgets.models import Budget, Transaction
from rollbook.core.errors import InvalidInput, NotFound
from tests.enterprise.conftest import PYTHON_KEY


@pytest.fixture
def window():
    now = timezone.now()
    return {"start": now - timedelta(days=1), "expiration": now + timedelta(days=364)}


def create(customer, catalog, window, **fields):
    values = {"title": "Learning fund", "spend_limit_cents": 100_000, **window, **fields}
    return api.create_budget(customer, catalog=catalog, **values)


def field_errors(excinfo) -> dict[str, list[str]]:
    return excinfo.value.errors


# --- create ---------------------------------------------------------------------------------------


def test_create_a_direct_budget(acme, acme_catalog, window):
    budget = create(acme, acme_catalog, window, per_learner_spend_limit_cents=20_000)

    stored = Budget.objects.get(uuid=budget.uuid)
    assert (stored.customer, stored.catalog, stored.title) == (acme, acme_catalog, "Learning fund")
    assert stored.access_method == AccessMethod.DIRECT
    assert (stored.spend_limit_cents, stored.per_learner_spend_limit_cents) == (100_000, 20_000)
    assert stored.active and not stored.retired
    assert stored.history.count() == 1


def test_create_by_customer_slug_and_catalog_uuid_with_a_chosen_uuid(acme, acme_catalog, window):
    chosen = uuid.uuid4()
    budget = create("acme", str(acme_catalog.uuid), window, budget_uuid=chosen)
    assert budget.uuid == chosen and budget.customer == acme


def test_create_trims_the_title_and_accepts_iso_dates(acme, acme_catalog):
    budget = api.create_budget(
        acme,
        catalog=acme_catalog,
        title="  Fund  ",
        spend_limit_cents=1,
        start="2030-01-01T00:00:00Z",
        expiration="2031-01-01T00:00:00+00:00",
    )
    assert budget.title == "Fund"
    assert budget.start.year == 2030 and budget.expiration.year == 2031


def test_every_bad_field_is_reported_at_once(acme, acme_catalog):
    with pytest.raises(InvalidInput) as excinfo:
        api.create_budget(
            acme,
            catalog=acme_catalog,
            title="  ",
            spend_limit_cents=0,
            start="2030-13-01T00:00:00Z",
            expiration=timezone.now().replace(tzinfo=None),
            access_method="by-carrier-pigeon",
            per_learner_spend_limit_cents=-5,
            per_learner_enrollment_limit=True,
            late_redemption_allowed_until=12,
            active="yes",
        )
    with pytest.raises(InvalidInput) as words:
        api.create_budget(acme, catalog=acme_catalog, title="x", spend_limit_cents=1, start="today", expiration=None)
    assert set(field_errors(excinfo)) == {
        "title",
        "spend_limit_cents",
        "start",
        "expiration",
        "access_method",
        "per_learner_spend_limit_cents",
        "per_learner_enrollment_limit",
        "late_redemption_allowed_until",
        "active",
    }
    assert "time zone" in field_errors(excinfo)["expiration"][0]
    assert set(field_errors(words)) == {"start", "expiration"}
    assert not Budget.objects.exists()


@pytest.mark.parametrize("limit", [1.5, "100", None, -1])
def test_the_spend_limit_is_positive_whole_cents(acme, acme_catalog, window, limit):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, acme_catalog, window, spend_limit_cents=limit)
    assert list(field_errors(excinfo)) == ["spend_limit_cents"]


def test_a_title_of_more_than_255_characters_is_refused(acme, acme_catalog, window):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, acme_catalog, window, title="x" * 256)
    assert list(field_errors(excinfo)) == ["title"]


def test_the_expiration_comes_after_the_start(acme, acme_catalog, window):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, acme_catalog, window, expiration=window["start"])
    assert field_errors(excinfo) == {"expiration": ["The expiration must come after the start."]}


def test_the_catalog_must_be_the_customers(acme, globex_catalog, window):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, globex_catalog, window)
    assert field_errors(excinfo)["catalog"] == ["The catalog 'Globex art' is not a catalog of Acme Corp."]
    assert not Budget.objects.exists()


def test_an_unknown_catalog_is_a_field_error(acme, acme_catalog, window):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, uuid.uuid4(), window)
    assert list(field_errors(excinfo)) == ["catalog"]


def test_an_unknown_customer_is_not_found(acme_catalog, window):
    with pytest.raises(NotFound):
        create("no-such-customer", acme_catalog, window)


def test_per_learner_spend_and_enrollment_limits_exclude_each_other(acme, acme_catalog, window):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, acme_catalog, window, per_learner_spend_limit_cents=100, per_learner_enrollment_limit=2)
    assert "not both" in field_errors(excinfo)["per_learner_enrollment_limit"][0]


def test_an_assigned_budget_has_no_per_learner_limits(acme, acme_catalog, window):
    with pytest.raises(InvalidInput) as excinfo:
        create(acme, acme_catalog, window, access_method="assigned", per_learner_enrollment_limit=2)
    assert field_errors(excinfo) == {"per_learner_enrollment_limit": ["An assigned budget has no per-learner limits."]}


def test_a_taken_or_malformed_uuid_is_refused(acme, acme_catalog, window):
    first = create(acme, acme_catalog, window)
    with pytest.raises(InvalidInput) as taken:
        create(acme, acme_catalog, window, budget_uuid=first.uuid)
    with pytest.raises(InvalidInput) as malformed:
        create(acme, acme_catalog, window, budget_uuid="not-a-uuid")
    assert list(field_errors(taken)) == list(field_errors(malformed)) == ["uuid"]
    assert Budget.objects.count() == 1


@pytest.fixture
def created_events():
    seen = []

    def receiver(sender, budget_id, **kwargs):
        seen.append((budget_id, connection.in_atomic_block, Budget.objects.filter(pk=budget_id).exists()))

    signals.budget_created.connect(receiver, dispatch_uid="test-budget-created")
    yield seen
    signals.budget_created.disconnect(dispatch_uid="test-budget-created")


def test_budget_created_is_sent_inside_the_transaction(acme, acme_catalog, window, created_events):
    budget = create(acme, acme_catalog, window, access_method="assigned")
    assert created_events == [(budget.pk, True, True)]


def test_a_failing_budget_created_receiver_undoes_the_creation(acme, acme_catalog, window):
    def refuse(sender, budget_id, **kwargs):
        raise RuntimeError("the configuration could not be made")

    signals.budget_created.connect(refuse, dispatch_uid="test-refuse")
    try:
        with pytest.raises(RuntimeError):
            create(acme, acme_catalog, window)
    finally:
        signals.budget_created.disconnect(dispatch_uid="test-refuse")
    assert not Budget.objects.exists()


# --- update ---------------------------------------------------------------------------------------


def test_update_changes_what_may_change_with_history(acme_budget):
    new_expiration = acme_budget.expiration + timedelta(days=30)
    updated = api.update_budget(
        str(acme_budget.uuid),
        title="Renamed",
        spend_limit_cents=50_000,
        per_learner_enrollment_limit=3,
        expiration=new_expiration,
        late_redemption_allowed_until=new_expiration,
        active=False,
        retired=True,
    )
    stored = Budget.objects.get(pk=acme_budget.pk)
    assert (stored.title, stored.spend_limit_cents, stored.per_learner_enrollment_limit) == ("Renamed", 50_000, 3)
    assert stored.expiration == new_expiration and stored.late_redemption_allowed_until == new_expiration
    assert (stored.active, stored.retired) == (False, True)
    assert updated.title == "Renamed"
    assert stored.history.count() == 2


def test_update_refuses_fixed_and_unknown_fields(acme_budget, globex_catalog):
    with pytest.raises(InvalidInput) as excinfo:
        api.update_budget(acme_budget, access_method="assigned", catalog=globex_catalog, colour="blue")
    assert set(field_errors(excinfo)) == {"access_method", "catalog", "colour"}


def test_update_checks_the_rules_against_the_stored_values(acme_budget, acme_assigned_budget):
    with pytest.raises(InvalidInput) as dates:
        api.update_budget(acme_budget, expiration=acme_budget.start - timedelta(seconds=1))
    api.update_budget(acme_budget, per_learner_spend_limit_cents=500)
    with pytest.raises(InvalidInput) as both:
        api.update_budget(acme_budget, per_learner_enrollment_limit=1)
    with pytest.raises(InvalidInput) as assigned:
        api.update_budget(acme_assigned_budget, per_learner_spend_limit_cents=500)
    assert list(field_errors(dates)) == ["expiration"]
    assert list(field_errors(both)) == ["per_learner_enrollment_limit"]
    assert list(field_errors(assigned)) == ["per_learner_spend_limit_cents"]
    # One limit may replace the other in the same call.
    api.update_budget(acme_budget, per_learner_spend_limit_cents=None, per_learner_enrollment_limit=1)
    assert Budget.objects.get(pk=acme_budget.pk).per_learner_enrollment_limit == 1


def commit_spend(budget, learner, run, cents):
    """A committed transaction written with the ORM (the redemption path has its own tests)."""
    from rollbook.enrollments import api as enrollments_api

    enrollment = enrollments_api.enroll(learner, run.course_key)
    state = enrollments_api.enrollment_states([(learner.pk, run.pk)])[(learner.pk, run.pk)]
    return Transaction.objects.create(
        budget=budget,
        idempotency_key=str(uuid.uuid4()),
        amount_cents=-cents,
        learner=learner,
        content_key=str(run.course_key),
        course_run=run,
        course_enrollment_id=state.id,
        state=TransactionState.COMMITTED,
    ), enrollment


def test_a_spend_limit_below_the_spend_is_refused_equal_is_allowed(acme_budget, acme_learner, runs):
    commit_spend(acme_budget, acme_learner, runs[PYTHON_KEY], 4900)
    with pytest.raises(InvalidInput) as excinfo:
        api.update_budget(acme_budget, spend_limit_cents=4899)
    assert field_errors(excinfo) == {"spend_limit_cents": ["4900 cents are spent already; the limit cannot be lower."]}
    assert api.update_budget(acme_budget, spend_limit_cents=4900).spend_limit_cents == 4900


def test_update_of_nothing_new_writes_no_history(acme_budget):
    api.update_budget(acme_budget, title=acme_budget.title)
    assert acme_budget.history.count() == 1


def test_update_of_an_unknown_budget_is_not_found(db):
    with pytest.raises(NotFound):
        api.update_budget(uuid.uuid4(), title="x")


# --- reading and locking --------------------------------------------------------------------------


def test_get_budget_by_uuid_and_not_found(acme_budget):
    assert api.get_budget(str(acme_budget.uuid)) == acme_budget
    assert api.get_budget(acme_budget) is acme_budget
    for missing in (uuid.uuid4(), "not-a-uuid", None):
        with pytest.raises(NotFound):
            api.get_budget(missing)


def test_budgets_queryset_of_one_customer(acme_budget, acme_assigned_budget, globex_budget):
    assert set(api.budgets_queryset("acme")) == {acme_budget, acme_assigned_budget}
    assert set(api.budgets_queryset()) == {acme_budget, acme_assigned_budget, globex_budget}
    with pytest.raises(NotFound):
        api.budgets_queryset("nobody")


def test_lock_budget_returns_the_row_fresh_inside_a_transaction(acme_budget):
    Budget.objects.filter(pk=acme_budget.pk).update(title="Changed elsewhere")
    with transaction.atomic():
        locked = api.lock_budget(acme_budget)
    assert locked.title == "Changed elsewhere" and locked is not acme_budget
    with transaction.atomic(), pytest.raises(NotFound):
        api.lock_budget(uuid.uuid4())


@pytest.mark.django_db(transaction=True)
def test_lock_budget_outside_a_transaction_is_a_programming_error(acme_budget):
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        api.lock_budget(acme_budget)


def test_is_active_now(acme_budget):
    assert api.is_active_now(acme_budget)
    assert not api.is_active_now(acme_budget, acme_budget.expiration)
    assert api.is_active_now(acme_budget, acme_budget.start)
    assert not api.is_active_now(acme_budget, acme_budget.start - timedelta(seconds=1))
    api.update_budget(acme_budget, retired=True)
    assert not api.is_active_now(acme_budget.uuid)
    api.update_budget(acme_budget, retired=False, active=False)
    assert not api.is_active_now(acme_budget.uuid)
