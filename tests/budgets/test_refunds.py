"""Leaving a course refunds its budget transaction through ``enrollments_changed``: within 14 days a refund,
after that nothing, and re-enrolling then leaving again never refunds twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.budgets import api, signals
from rollbook.budgets.models import Reversal, Transaction
from rollbook.enrollments import api as enrollments_api
from tests.budgets.conftest import PRICE, make_budget
from tests.enterprise.conftest import DATA_KEY, PYTHON_KEY


@pytest.fixture
def reversals():
    seen = []
    signals.transaction_reversed.connect(
        lambda sender, event, **kwargs: seen.append(event), dispatch_uid="t-refunds", weak=False
    )
    yield seen
    signals.transaction_reversed.disconnect(dispatch_uid="t-refunds")


@pytest.fixture
def leave(django_capture_on_commit_callbacks):
    """Unenroll the learner from the run and run what waits for the commit (signals and their receivers)."""

    def _leave(learner, key=PYTHON_KEY):
        with django_capture_on_commit_callbacks(execute=True):
            enrollments_api.unenroll(learner, key)

    return _leave


@pytest.fixture
def redeem(django_capture_on_commit_callbacks):
    def _redeem(budget, learner, key=PYTHON_KEY):
        with django_capture_on_commit_callbacks(execute=True):
            return api.redeem(budget, learner, key)

    return _redeem


def test_leaving_within_14_days_refunds(acme_budget, acme_learner, leave, redeem, reversals):
    made = redeem(acme_budget, acme_learner)
    leave(acme_learner)
    assert Reversal.objects.get(transaction=made).amount_cents == PRICE
    assert api.spend(acme_budget).spent_cents == 0
    assert [event.transaction_uuid for event in reversals] == [made.uuid]


def test_leaving_after_14_days_refunds_nothing(acme_budget, acme_learner, make_run, leave, redeem, reversals):
    now = timezone.now()
    old = make_run("course-v1:EntU+Old+2030", start=now - timedelta(days=30), enrollment_start=now - timedelta(days=60))
    made = redeem(acme_budget, acme_learner, str(old.course_key))
    Transaction.objects.filter(pk=made.pk).update(created=now - timedelta(days=20))  # bought 20 days ago

    leave(acme_learner, str(old.course_key))

    assert not Reversal.objects.exists() and reversals == []
    assert api.spend(acme_budget).spent_cents == PRICE


def test_re_enrolling_and_leaving_again_does_not_refund_twice(acme_budget, acme_learner, leave, redeem):
    made = redeem(acme_budget, acme_learner)
    leave(acme_learner)
    enrollments_api.enroll(acme_learner, PYTHON_KEY)  # back in without paying
    leave(acme_learner)
    assert Reversal.objects.filter(transaction=made).count() == 1
    assert api.spend(acme_budget).spent_cents == 0


def test_a_second_purchase_is_refunded_on_its_own(acme_budget, acme_learner, leave, redeem):
    first = redeem(acme_budget, acme_learner)
    leave(acme_learner)
    second = redeem(acme_budget, acme_learner)
    assert api.spend(acme_budget).spent_cents == PRICE
    leave(acme_learner)
    assert {reversal.transaction for reversal in Reversal.objects.all()} == {first, second}
    assert api.spend(acme_budget).spent_cents == 0


def test_only_the_left_enrollments_are_refunded(acme, acme_catalog, acme_learner, make_acme_learner, redeem, leave):
    acme_budget = make_budget(acme, acme_catalog, spend_limit_cents=3 * PRICE)
    other = make_acme_learner(licensed=False)
    kept = redeem(acme_budget, other)
    left = redeem(acme_budget, acme_learner)
    also_kept = redeem(acme_budget, acme_learner, DATA_KEY)
    leave(acme_learner)
    assert [reversal.transaction for reversal in Reversal.objects.all()] == [left]
    assert api.spend(acme_budget).spent_cents == 2 * PRICE
    assert {kept, also_kept}.isdisjoint(reversal.transaction for reversal in Reversal.objects.all())


def test_bulk_unenrollment_finds_the_transactions_in_one_query(
    acme, acme_catalog, make_acme_learner, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=100 * PRICE)
    learners = [make_acme_learner(licensed=False) for _ in range(4)]
    made = [api.redeem(budget, learner, PYTHON_KEY) for learner in learners]
    uuids = [transaction.course_enrollment.uuid for transaction in made]
    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.bulk_unenroll(uuids)
    assert Reversal.objects.count() == 4
    assert api.spend(budget).spent_cents == 0
    with django_assert_max_num_queries(1):  # nothing left to reverse: the finding query only
        assert api.reverse_for_enrollments(uuids) == 0
