"""Sums over a budget's ledger, in one query: what is spent, in all and by one learner.

Only committed transactions are spend; a reversal gives its transaction's amount back. Nothing is kept as a
counter, so the figures cannot drift from the rows they sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from rollbook.budgets.data import TransactionState
from rollbook.budgets.models import Transaction


@dataclass(frozen=True, slots=True)
class LedgerTotals:
    """Positive cents spent net of reversals, in the budget and by the learner asked about (0 when none),
    and how many of that learner's redemptions stand (committed, not reversed)."""

    spent_cents: int
    learner_spent_cents: int = 0
    learner_redemptions: int = 0


def ledger_totals(budget_id: int, user_id: int | None = None) -> LedgerTotals:
    """The budget's totals and, with ``user_id``, that learner's: one aggregate query over the committed
    transactions and their reversals (a transaction has at most one reversal, so the join adds no rows)."""
    sums = {"amount": Sum("amount_cents"), "refunded": Sum("reversal__amount_cents")}
    if user_id is not None:
        mine = Q(learner_id=user_id)
        sums |= {
            "learner_amount": Sum("amount_cents", filter=mine),
            "learner_refunded": Sum("reversal__amount_cents", filter=mine),
            "learner_redemptions": Count("pk", filter=mine & Q(reversal__isnull=True)),
        }
    row = Transaction.objects.filter(budget_id=budget_id, state=TransactionState.COMMITTED).aggregate(**sums)
    return LedgerTotals(
        spent_cents=-(row["amount"] or 0) - (row["refunded"] or 0),
        learner_spent_cents=-(row.get("learner_amount") or 0) - (row.get("learner_refunded") or 0),
        learner_redemptions=row.get("learner_redemptions") or 0,
    )
