"""A budget's ledger: its arithmetic (sums, never counters), its transactions and their reversals.

Public through ``rollbook.budgets.api``. Transactions are written by ``redemption.redeem``; this module
refunds them (``reverse``) when a learner leaves the course soon enough.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from rollbook.budgets import signals
from rollbook.budgets.data import REFUND_WINDOW, BudgetSpend, TransactionReversed, TransactionState
from rollbook.budgets.models import Reversal, Transaction
from rollbook.budgets.setup import BudgetRef, get_budget
from rollbook.budgets.totals import ledger_totals
from rollbook.core.errors import InvalidInput
from rollbook.core.lookup import one_by_uuid

logger = logging.getLogger(__name__)

TransactionRef = Transaction | uuid.UUID | str


def spend(budget: BudgetRef) -> BudgetSpend:
    """The budget's limit, spent (committed transactions minus reversals, positive cents) and available
    (``max(0, limit - spent)``), from the ledger: one query for a Budget instance, two for a uuid."""
    found = get_budget(budget)
    spent = ledger_totals(found.pk).spent_cents
    return BudgetSpend(
        spend_limit_cents=found.spend_limit_cents,
        spent_cents=spent,
        available_cents=max(0, found.spend_limit_cents - spent),
    )


def learner_spend(budget: BudgetRef, user_id: int) -> tuple[int, int]:
    """(cents spent, enrollments redeemed) by one learner in the budget, net of reversals: a reversed
    redemption counts for neither."""
    totals = ledger_totals(get_budget(budget).pk, user_id)
    return totals.learner_spent_cents, totals.learner_redemptions


def transactions_queryset(budget: BudgetRef | None = None) -> QuerySet[Transaction]:
    """Ledger transactions, optionally of one budget, newest first, with budget, learner, run and reversal
    joined. NotFound for an unknown budget."""
    queryset = Transaction.objects.select_related("budget", "learner", "course_run", "reversal").order_by(
        "-created", "-id"
    )
    if budget is not None:
        queryset = queryset.filter(budget=get_budget(budget))
    return queryset


def get_transaction(transaction_ref: TransactionRef) -> Transaction:
    """The transaction with this uuid (an instance is returned as it is); NotFound otherwise (malformed too)."""
    if isinstance(transaction_ref, Transaction):
        return transaction_ref
    return one_by_uuid(transactions_queryset(), transaction_ref, "transaction")


def refund_deadline(committed: Transaction) -> datetime:
    """The moment from which leaving the course is no longer refunded: 14 days after the later of the
    run's start and the purchase."""
    start = committed.course_run.start
    return max(start, committed.created) + REFUND_WINDOW if start else committed.created + REFUND_WINDOW


def reverse(transaction_ref: TransactionRef, *, unenrolled_at: datetime | None = None) -> Reversal | None:
    """Refund a committed transaction whose enrollment was left within 14 days of the later of course start
    and purchase (``unenrolled_at`` defaults to now): a Reversal of +amount, with history, and
    ``signals.transaction_reversed`` after commit. Idempotent: a transaction reversed already gets its
    existing Reversal back (no second refund, no second signal). Returns None when outside the window
    (nothing written). InvalidInput for a transaction that is not committed; NotFound for an unknown one."""
    wanted = get_transaction(transaction_ref)
    moment = unenrolled_at or timezone.now()
    with transaction.atomic():
        # The row lock makes concurrent reversals of one transaction wait: the second finds the first's row.
        locked = (
            Transaction.objects.select_for_update(of=("self",)).select_related("budget", "course_run").get(pk=wanted.pk)
        )
        existing = Reversal.objects.filter(transaction=locked).first()
        if existing is not None:
            return existing
        if locked.state != TransactionState.COMMITTED:
            raise InvalidInput(
                {"transaction": [f"Only committed transactions are reversed; this one is {locked.state}."]}
            )
        if moment >= refund_deadline(locked):
            return None
        try:
            with transaction.atomic():
                reversal = Reversal.objects.create(
                    transaction=locked, idempotency_key=f"reversal:{locked.uuid}", amount_cents=-locked.amount_cents
                )
        except IntegrityError:  # without row locks (SQLite), a concurrent reversal may have won
            return Reversal.objects.get(transaction=locked)
        event = TransactionReversed(
            transaction_uuid=locked.uuid,
            budget_uuid=locked.budget.uuid,
            user_id=locked.learner_id,
            content_key=locked.content_key,
        )
        transaction.on_commit(partial(_announce_reversal, event))
    return reversal


def _announce_reversal(event: TransactionReversed) -> None:
    for receiver, outcome in signals.transaction_reversed.send_robust(sender=Reversal, event=event):
        if isinstance(outcome, Exception):
            logger.error("transaction_reversed receiver %r failed", receiver, exc_info=outcome)


def reverse_for_enrollments(course_enrollment_uuids: list[uuid.UUID], *, unenrolled_at: datetime | None = None) -> int:
    """Reverse the committed, non-reversed transactions paid for these course enrollments (found in one
    query) when they are still inside their refund window; each reversal stands alone, and an error in one
    is logged, not raised. Returns how many were reversed."""
    moment = unenrolled_at or timezone.now()
    candidates = list(
        Transaction.objects.filter(
            course_enrollment__uuid__in=list(dict.fromkeys(course_enrollment_uuids)),
            state=TransactionState.COMMITTED,
            reversal__isnull=True,
        )
        .select_related("budget", "course_run")
        .order_by("id")
    )
    reversed_count = 0
    for candidate in candidates:
        try:
            if reverse(candidate, unenrolled_at=moment) is not None:
                reversed_count += 1
        except Exception:  # one transaction's problem must not keep the others from their refund
            logger.exception("Reversing transaction %s after an unenrollment failed.", candidate.uuid)
    return reversed_count
