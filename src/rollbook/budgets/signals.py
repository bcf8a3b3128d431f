"""Events the budgets app publishes, and its reactions to other apps' events.

Published:

``budget_created`` is sent INSIDE the transaction of ``api.create_budget``, once the budget row exists,
with ``budget_id`` (its primary key). A receiver that raises aborts the creation, so what receivers write
for a budget exists exactly when the budget does. The assignments app subscribes to create the
assignment configuration of an assigned budget.

``transaction_reversed`` is sent after the transaction that wrote a Reversal commits (never when it rolls
back, and once per transaction: a repeated ``api.reverse`` sends nothing), with ``event:
data.TransactionReversed``. Receivers run after the commit: an error in one is logged and does not undo
the refund. The assignments app subscribes to mark the accepted assignment paid by it reversed.

Received (connected by ``BudgetsConfig.ready()``):

- ``enrollments.signals.enrollments_changed`` → ``ledger.reverse_for_enrollments``: when course enrollments
  are deactivated, the committed, non-reversed transactions that paid for them (found in one query) are
  refunded if the learner left within the refund window. Runs after the enrollments' commit; errors are
  logged, never raised to the code that unenrolled.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

from rollbook.enrollments.data import ChangeKind, EnrollmentChange
from rollbook.enrollments.signals import enrollments_changed

logger = logging.getLogger(__name__)

budget_created = Signal()
transaction_reversed = Signal()

UNENROLLMENT_DISPATCH_UID = "rollbook.budgets.refund_unenrollments"


def refund_unenrollments(sender: Any, changes: list[EnrollmentChange], **kwargs: Any) -> None:
    """Receiver of ``enrollments_changed``: refund the budget transactions of deactivated enrollments that
    are still inside their refund window."""
    from rollbook.budgets import ledger  # the ledger sends this module's signals

    left = [change.enrollment_uuid for change in changes if change.kind == ChangeKind.DEACTIVATED]
    if not left:
        return
    try:
        ledger.reverse_for_enrollments(left)
    except Exception:  # the unenrollments committed: a missed refund is logged, not raised
        logger.exception("Refunding budget transactions after %d unenrollments failed.", len(left))


def connect() -> None:
    """Subscribe this app's receivers (idempotent)."""
    enrollments_changed.connect(refund_unenrollments, dispatch_uid=UNENROLLMENT_DISPATCH_UID)
