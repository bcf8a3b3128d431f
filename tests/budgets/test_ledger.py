"""The ledger: spend and available are sums (only committed transactions spend, reversals give back),
learner_spend, reverse (the 14-day window from the later of course start and purchase, idempotency,
transaction_reversed after commit, only committed transactions), and the statement counts of spend."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.budgets import api, signals
from rollbook.budgets.data import BudgetSpend, TransactionReversed, TransactionState
from rollbook.budgets.models import Budget, Reversal, Transaction
from rollbook.core.errors import InvalidInput, NotFound
from tests.budgets.conftest import PRICE, make_budget
from tests.enterprise.conftest import DATA_KEY, PYTHON_COURSE, PYTHON_KEY


def write_transaction(budget, learner, run, cents, state, **fields) -> Transaction:
    """A ledger row written with the ORM, to put the sums to the test in every state."""
    return Transaction.objects.create(
        budget=budget,
        idempotency_key=str(uuid.uuid4()),
        amount_cents=-cents,
        learner=learner,
        content_key=str(run.course_key),
        course_run=run,
        state=state,
        **fields,
    )


@pytest.fixture
def reversals():
    seen: list[TransactionReversed] = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    signals.transaction_reversed.connect(receiver, dispatch_uid="test-reversals")
    yield seen
    signals.transaction_reversed.disconnect(dispatch_uid="test-reversals")


# --- arithmetic -----------------------------------------------------------------------------------


def test_an_untouched_budget_has_its_whole_limit_available(acme_budget):
    assert api.spend(acme_budget) == BudgetSpend(spend_limit_cents=10_000, spent_cents=0, available_cents=10_000)


def test_only_committed_transactions_spend_and_reversals_give_back(acme_budget, acme_learner):
    first = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    api.redeem(acme_budget, acme_learner, DATA_KEY)
    run = first.course_run
    write_transaction(acme_budget, acme_learner, run, 1000, TransactionState.FAILED)
    write_transaction(acme_budget, acme_learner, run, 2000, TransactionState.CREATED)
    assert api.spend(acme_budget) == BudgetSpend(10_000, 2 * PRICE, 10_000 - 2 * PRICE)

    api.reverse(first)

    assert api.spend(acme_budget) == BudgetSpend(10_000, PRICE, 10_000 - PRICE)
    assert api.learner_spend(acme_budget, acme_learner.pk) == (PRICE, 1)


def test_available_never_goes_below_zero(acme_budget, acme_learner):
    api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    Budget.objects.filter(pk=acme_budget.pk).update(spend_limit_cents=100)  # an operator's repair, say
    assert api.spend(acme_budget.uuid) == BudgetSpend(100, PRICE, 0)


def test_budgets_do_not_share_their_ledgers(acme_budget, acme_catalog, acme_learner, make_acme_learner):
    other = make_budget(acme_catalog.customer, acme_catalog)
    api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    second_learner = make_acme_learner(licensed=False)
    api.redeem(other, second_learner, DATA_KEY)
    assert api.spend(other).spent_cents == PRICE
    assert api.learner_spend(acme_budget, second_learner.pk) == (0, 0)
    assert api.learner_spend(other, second_learner.pk) == (PRICE, 1)
    assert api.learner_spend(other, acme_learner.pk) == (0, 0)


def test_spend_is_one_query_for_a_budget_and_two_for_a_uuid(
    acme_budget, acme_learner, django_assert_num_queries, make_acme_learner
):
    for key in (PYTHON_KEY, DATA_KEY):
        api.redeem(acme_budget, acme_learner, key)
    with django_assert_num_queries(1):
        api.spend(acme_budget)
    with django_assert_num_queries(2):
        api.spend(str(acme_budget.uuid))
    with django_assert_num_queries(1):
        api.learner_spend(acme_budget, acme_learner.pk)


def test_spend_of_an_unknown_budget_is_not_found(db):
    with pytest.raises(NotFound):
        api.spend(uuid.uuid4())


# --- reverse --------------------------------------------------------------------------------------


def test_reverse_within_the_window_refunds_once_and_tells_after_commit(
    acme_budget, acme_learner, reversals, django_capture_on_commit_callbacks
):
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        reversal = api.reverse(made.uuid)
        assert reversals == []  # not before the commit
    assert len(callbacks) == 1
    assert (reversal.transaction, reversal.amount_cents) == (made, PRICE)
    assert reversal.history.count() == 1
    assert reversals == [
        TransactionReversed(
            transaction_uuid=made.uuid, budget_uuid=acme_budget.uuid, user_id=acme_learner.pk, content_key=PYTHON_KEY
        )
    ]

    with django_capture_on_commit_callbacks(execute=True):
        again = api.reverse(str(made.uuid))

    assert again == reversal
    assert Reversal.objects.count() == 1 and len(reversals) == 1
    assert api.spend(acme_budget).spent_cents == 0


def test_the_window_ends_14_days_after_the_later_of_start_and_purchase(acme_budget, acme_learner, make_run):
    now = timezone.now()
    # Python started 10 days ago: the purchase (now) is later, so the window ends 14 days from now.
    started = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    assert api.refund_deadline(started) == started.created + timedelta(days=14)
    assert api.reverse(started, unenrolled_at=started.created + timedelta(days=14)) is None
    assert not Reversal.objects.exists()
    assert api.reverse(started, unenrolled_at=started.created + timedelta(days=14, seconds=-1)) is not None

    # A run starting in 20 days: the window runs to 14 days after its start.
    make_run("course-v1:EntU+Soon+2030", start=now + timedelta(days=20))
    upcoming = api.redeem(acme_budget, acme_learner, "course-v1:EntU+Soon+2030")
    deadline = upcoming.course_run.start + timedelta(days=14)
    assert api.refund_deadline(upcoming) == deadline
    assert api.reverse(upcoming, unenrolled_at=deadline) is None
    assert api.reverse(upcoming, unenrolled_at=now + timedelta(days=30)) is not None


def test_outside_the_window_nothing_is_written_or_sent(acme_budget, acme_learner, reversals):
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    assert api.reverse(made, unenrolled_at=timezone.now() + timedelta(days=15)) is None
    assert not Reversal.objects.exists() and reversals == []
    assert api.spend(acme_budget).spent_cents == PRICE


@pytest.mark.parametrize("state", [TransactionState.CREATED, TransactionState.FAILED])
def test_only_committed_transactions_are_reversed(acme_budget, acme_learner, runs, state):
    pending = write_transaction(acme_budget, acme_learner, runs[PYTHON_KEY], PRICE, state)
    with pytest.raises(InvalidInput) as excinfo:
        api.reverse(pending)
    assert list(excinfo.value.errors) == ["transaction"]


def test_reverse_of_an_unknown_transaction_is_not_found(db):
    for missing in (uuid.uuid4(), "nope"):
        with pytest.raises(NotFound):
            api.reverse(missing)


def test_get_transaction(acme_budget, acme_learner):
    made = api.redeem(acme_budget, acme_learner, PYTHON_COURSE)
    assert api.get_transaction(str(made.uuid)) == made
    assert api.get_transaction(made) is made
