"""Twenty learners redeeming against one budget at the same moment never overspend it (PostgreSQL): the
budget's row lock makes them wait for each other; no one is told to retry."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from rollbook.budgets import api
from rollbook.budgets.data import RedeemReason, TransactionState
from rollbook.budgets.models import Transaction
from rollbook.enrollments.models import CourseEnrollment
from tests.budgets.conftest import PRICE, make_budget
from tests.enterprise.conftest import PYTHON_KEY

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions"),
]

LEARNERS = 20
AFFORDABLE = 7


def test_concurrent_redemptions_stay_within_the_limit(transactional_db, acme, acme_catalog, make_acme_learner):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=AFFORDABLE * PRICE + PRICE - 1)
    learners = [make_acme_learner(licensed=False) for _ in range(LEARNERS)]
    start_together = threading.Barrier(LEARNERS, timeout=30)
    made, refused, errors = [], [], []

    def redeem(learner):
        try:
            start_together.wait()
            made.append(api.redeem(budget.uuid, learner, PYTHON_KEY))
        except api.RedemptionRefused as exc:
            refused.append(exc.reasons)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=redeem, args=(learner,)) for learner in learners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(made) == AFFORDABLE
    assert refused == [(RedeemReason.POLICY_SPEND_LIMIT_REACHED,)] * (LEARNERS - AFFORDABLE)
    committed = Transaction.objects.filter(budget=budget, state=TransactionState.COMMITTED)
    assert committed.count() == AFFORDABLE
    assert api.spend(budget).spent_cents == AFFORDABLE * PRICE <= budget.spend_limit_cents
    assert CourseEnrollment.objects.filter(course_run__course_key=PYTHON_KEY, mode="verified").count() == AFFORDABLE
