"""Value types and constants of the budgets app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class AccessMethod(StrEnum):
    """How learners reach a budget's credit (enterprise-access ``access_method``)."""

    DIRECT = "direct"  # learners redeem catalog content themselves
    ASSIGNED = "assigned"  # only content an administrator assigned to them


class TransactionState(StrEnum):
    """Where a ledger transaction stands (openedx-ledger): only committed ones are spend."""

    CREATED = "created"
    COMMITTED = "committed"
    FAILED = "failed"


class RedeemReason(StrEnum):
    """Why a learner cannot redeem content against a budget, in the order ``can_redeem`` checks them
    (the upstream reason strings)."""

    POLICY_EXPIRED = "policy_expired"  # inactive, retired, not started or expired
    LEARNER_NOT_IN_ENTERPRISE = "learner_not_in_enterprise"
    CONTENT_NOT_IN_CATALOG = "content_not_in_catalog"
    BEYOND_ENROLLMENT_DEADLINE = "beyond_enrollment_deadline"
    NOT_ENOUGH_VALUE_IN_SUBSIDY = "not_enough_value_in_subsidy"
    POLICY_SPEND_LIMIT_REACHED = "policy_spend_limit_reached"
    LEARNER_MAX_ENROLLMENTS_REACHED = "learner_max_enrollments_reached"
    LEARNER_MAX_SPEND_REACHED = "learner_max_spend_reached"
    NOT_ASSIGNED = "reason_learner_not_assigned_content"  # assigned budgets: no allocated assignment
    ASSIGNMENT_CANCELLED = "reason_learner_assignment_cancelled"
    ASSIGNMENT_FAILED = "reason_learner_assignment_failed"
    ASSIGNMENT_EXPIRED = "reason_learner_assignment_expired"
    ASSIGNMENT_REVERSED = "reason_learner_assignment_reversed"
    CONTENT_NOT_REDEEMABLE = "content_not_redeemable"  # no enrollable run / no paid mode / unknown key


# An unenrollment within this long after the later of course start and purchase is refunded.
REFUND_WINDOW = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class RedeemCheck:
    """``can_redeem``'s answer: whether, the price in cents, and the reasons (first = the deciding one)."""

    can_redeem: bool
    content_key: str
    price_cents: int | None
    reasons: tuple[RedeemReason, ...] = ()


@dataclass(frozen=True, slots=True)
class BudgetSpend:
    """A budget's arithmetic, all sums over the ledger (never stored counters), in cents (spent ≥ 0)."""

    spend_limit_cents: int
    spent_cents: int  # committed transactions minus reversals, as a positive number
    available_cents: int  # max(0, limit - spent)


@dataclass(frozen=True, slots=True)
class TransactionReversed:
    """Sent with ``signals.transaction_reversed`` after the reversal commits."""

    transaction_uuid: uuid.UUID
    budget_uuid: uuid.UUID
    user_id: int
    content_key: str
