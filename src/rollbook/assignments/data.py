"""Value types and constants of the assignments app (enterprise-access content assignments)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class AssignmentState(StrEnum):
    """An assignment's state."""

    ALLOCATED = "allocated"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    ERRORED = "errored"
    EXPIRED = "expired"
    REVERSED = "reversed"


REALLOCATABLE_STATES = frozenset(
    {AssignmentState.CANCELLED, AssignmentState.ERRORED, AssignmentState.EXPIRED, AssignmentState.REVERSED}
)
CANCELLABLE_STATES = frozenset({AssignmentState.ALLOCATED, AssignmentState.ERRORED})
REMINDABLE_STATES = frozenset({AssignmentState.ALLOCATED})
EXPIRABLE_STATES = frozenset({AssignmentState.ALLOCATED})
REVERSIBLE_STATES = frozenset({AssignmentState.ACCEPTED})
ACKNOWLEDGEABLE_STATES = frozenset({AssignmentState.CANCELLED, AssignmentState.EXPIRED})


class ActionType(StrEnum):
    """What happened to an assignment (one action row each)."""

    LEARNER_LINKED = "learner_linked"
    NOTIFIED = "notified"
    REMINDED = "reminded"
    REDEEMED = "redeemed"
    CANCELLED = "cancelled"
    CANCELLED_ACKNOWLEDGED = "cancelled_acknowledged"
    EXPIRED = "expired"
    EXPIRED_ACKNOWLEDGED = "expired_acknowledged"
    REVERSED = "reversed"
    NUDGED = "nudged"


class ActionError(StrEnum):
    """Why an action failed (None on success)."""

    EMAIL_ERROR = "email_error"
    INTERNAL_API_ERROR = "internal_api_error"
    ENROLLMENT_ERROR = "enrollment_error"


class RecentActionType(StrEnum):
    """The admin view's ``recent_action``: the later of allocation and the newest reminder."""

    ASSIGNED = "assigned"
    REMINDED = "reminded"


class LearnerState(StrEnum):
    """The admin view's ``learner_state`` (computed in the query)."""

    NOTIFYING = "notifying"  # allocated, not yet notified
    WAITING = "waiting"  # allocated and notified
    FAILED = "failed"  # allocated with only failed notifications, or errored
    EXPIRED = "expired"


LEARNER_STATE_SORT_ORDER = {
    LearnerState.NOTIFYING: 0,
    LearnerState.WAITING: 1,
    LearnerState.EXPIRED: 2,
    LearnerState.FAILED: 3,
}
LEARNER_STATE_SORT_ORDER_OTHER = 999


class ExpiryReason(StrEnum):
    """Why an assignment expired (the earliest of three dates passed)."""

    NINETY_DAYS_PASSED = "NINETY_DAYS_PASSED"
    ENROLLMENT_DATE_PASSED = "ENROLLMENT_DATE_PASSED"
    SUBSIDY_EXPIRED = "SUBSIDY_EXPIRED"


DAYS_BEFORE_AUTO_EXPIRATION = 90
AUTO_EXPIRATION = timedelta(days=DAYS_BEFORE_AUTO_EXPIRATION)
# The allocation price must be within these ratios of the run's list price.
PRICE_LOWER_RATIO = 0.95
PRICE_UPPER_RATIO = 1.05
RETIRED_EMAIL_FORMAT = "retired_user{}@retired.invalid"  # filled with 16 random hex characters


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """What ``allocate`` did: the assignments created, re-allocated (updated) and left alone."""

    created: tuple[uuid.UUID, ...] = ()
    updated: tuple[uuid.UUID, ...] = ()
    no_change: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class BulkActionResult:
    """Per-assignment outcome of cancel / remind / acknowledge / nudge: done, and refused (with why)."""

    done: tuple[uuid.UUID, ...] = ()
    refused: dict[uuid.UUID, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EarliestExpiration:
    """When an allocated assignment will expire, and which of the three dates decides it."""

    date: datetime
    reason: ExpiryReason
