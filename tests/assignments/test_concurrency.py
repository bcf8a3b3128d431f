"""Allocations and redemptions of one assigned budget at the same moment never overspend it (PostgreSQL):
both hold the budget's row lock, so they wait for each other; nobody is told to retry."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.db.models import Sum

from rollbook.assignments import api
from rollbook.assignments.data import AssignmentState
from rollbook.assignments.models import LearnerContentAssignment
from rollbook.budgets import api as budgets_api
from rollbook.budgets.data import TransactionState
from tests.assignments.conftest import PRICE, PYTHON_KEY, make_budget

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs real concurrent transactions and row locks (PostgreSQL)"
    ),
]

THREADS = 20
ACCEPTING = 8  # learners holding an allocated assignment, accepting it
ALLOCATING = THREADS - ACCEPTING  # administrators allocating to a new email each
ROOM_FOR = 3  # new allocations the limit leaves room for


def test_concurrent_allocations_and_redemptions_stay_within_the_limit(
    transactional_db, acme, acme_catalog, make_acme_learner
):
    # the accepting learners' allocations hold ACCEPTING x PRICE; the limit leaves room for ROOM_FOR more
    # (and 1 cent less than one further price), while ALLOCATING administrators ask for one each
    limit = (ACCEPTING + ROOM_FOR + 1) * PRICE - 1
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=limit)
    learners = [make_acme_learner(licensed=False) for _ in range(ACCEPTING)]
    api.allocate(budget, [learner.email for learner in learners], PYTHON_KEY, PRICE)
    start_together = threading.Barrier(THREADS, timeout=30)
    accepted, allocated, refused, errors = [], [], [], []

    def accept(learner):
        try:
            start_together.wait()
            accepted.append(api.accept(budget.uuid, learner, PYTHON_KEY))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def allocate(n: int):
        try:
            start_together.wait()
            allocated.append(api.allocate(budget.uuid, [f"new{n}@example.com"], PYTHON_KEY, PRICE))
        except api.AllocationRefused as exc:
            refused.append(exc.reasons)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=accept, args=(learner,)) for learner in learners]
    threads += [threading.Thread(target=allocate, args=(n,)) for n in range(ALLOCATING)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert len(accepted) == ACCEPTING  # accepting never needs room: the price moves from allocated to spent
    assert len(allocated) == ROOM_FOR
    assert refused == [("policy_spend_limit_reached",)] * (ALLOCATING - ROOM_FOR)

    spent = budgets_api.spend(budget).spent_cents
    held = api.allocated_cents(budget)
    assert spent == ACCEPTING * PRICE and held == ROOM_FOR * PRICE
    assert spent + held <= limit
    ledger = budgets_api.transactions_queryset(budget).filter(state=TransactionState.COMMITTED)
    assert -(ledger.aggregate(total=Sum("amount_cents"))["total"]) == spent <= limit
    # no assignment counted twice: each transaction pays exactly one accepted assignment, and no allocated
    # assignment carries a transaction
    assignments = LearnerContentAssignment.objects.filter(configuration__budget=budget)
    paid = assignments.filter(state=AssignmentState.ACCEPTED)
    assert sorted(paid.values_list("transaction_id", flat=True)) == sorted(ledger.values_list("id", flat=True))
    assert not assignments.filter(state=AssignmentState.ALLOCATED, transaction__isnull=False).exists()
    assert assignments.filter(state=AssignmentState.ALLOCATED).count() == ROOM_FOR
