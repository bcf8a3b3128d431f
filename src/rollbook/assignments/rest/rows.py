"""The dicts the assignment and policy views answer with, built from rows fetched in bulk: nothing here
queries per row (assignments come with their actions prefetched)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from rollbook.assignments import api
from rollbook.assignments.data import ActionType, AssignmentState
from rollbook.assignments.models import AssignmentConfiguration, LearnerContentAssignment
from rollbook.budgets.data import AccessMethod

_ACKNOWLEDGEMENTS = frozenset({ActionType.CANCELLED_ACKNOWLEDGED, ActionType.EXPIRED_ACKNOWLEDGED})
_ENDINGS = frozenset({ActionType.CANCELLED, ActionType.EXPIRED})


def _actions(assignment: LearnerContentAssignment) -> list:
    """The assignment's actions, oldest first (from the prefetch cache)."""
    return sorted(assignment.actions.all(), key=lambda action: (action.created, action.id))


def learner_acknowledged(actions: Sequence) -> bool:
    """True when the newest acknowledgement is newer than the newest cancellation or expiry (reference §2)."""
    acknowledged = [a.created for a in actions if a.action_type in _ACKNOWLEDGEMENTS]
    ended = [a.created for a in actions if a.action_type in _ENDINGS]
    return bool(acknowledged) and (not ended or max(acknowledged) > max(ended))


def expirations(assignments: Sequence[LearnerContentAssignment]) -> dict[int, dict[str, Any] | None]:
    """``{assignment id: {date, reason} or None}``: for allocated assignments when they will expire (the
    api's earliest expiration), for expired ones when and why they did, for the others None."""
    allocated = [a for a in assignments if a.state == AssignmentState.ALLOCATED]
    upcoming = api.earliest_expirations(allocated) if allocated else {}
    result: dict[int, dict[str, Any] | None] = {}
    for assignment in assignments:
        if assignment.state == AssignmentState.EXPIRED and assignment.expired_at:
            result[assignment.id] = {"date": assignment.expired_at, "reason": assignment.expiry_reason}
        elif assignment.id in upcoming and upcoming[assignment.id] is not None:
            found = upcoming[assignment.id]
            result[assignment.id] = {"date": found.date, "reason": found.reason}
        else:
            result[assignment.id] = None
    return result


def _base_fields(
    assignment: LearnerContentAssignment, configuration_uuid, actions: list, expiration: dict | None
) -> dict[str, Any]:
    return {
        "uuid": assignment.uuid,
        "assignment_configuration": configuration_uuid,
        "learner_email": assignment.learner_email,
        "lms_user_id": assignment.user_id,
        "content_key": assignment.content_key,
        "parent_content_key": assignment.parent_content_key,
        "is_assigned_course_run": assignment.is_assigned_course_run,
        "content_title": assignment.content_title,
        "content_quantity": assignment.content_quantity,
        "state": assignment.state,
        "preferred_course_run_key": assignment.preferred_course_run_key,
        "allocation_batch_id": assignment.allocation_batch_id,
        "created": assignment.created,
        "modified": assignment.modified,
        "actions": [
            {
                "uuid": action.uuid,
                "action_type": action.action_type,
                "completed_at": action.completed_at,
                "error_reason": action.error_reason,
            }
            for action in actions
        ],
        "earliest_possible_expiration": expiration,
    }


def _error_reason(assignment: LearnerContentAssignment, actions: list) -> dict[str, str | None] | None:
    """The newest failed action since the latest allocation (the api's ``error_reason`` annotation), with
    its type: what to tell the administrator."""
    reason = getattr(assignment, "error_reason", None)
    if not reason:
        return None
    failed = [a for a in actions if a.error_reason == reason and a.created >= assignment.allocated_at]
    return {"action_type": failed[-1].action_type if failed else None, "error_reason": reason}


def admin_rows(
    assignments: Sequence[LearnerContentAssignment], configuration: AssignmentConfiguration
) -> list[dict[str, Any]]:
    """Assignments annotated by ``api.admin_assignments`` (actions prefetched), as administrators list them."""
    dates = expirations(assignments)
    rows = []
    for assignment in assignments:
        actions = _actions(assignment)
        rows.append(
            {
                **_base_fields(assignment, configuration.uuid, actions, dates[assignment.id]),
                "recent_action": {
                    "action_type": assignment.recent_action,
                    "timestamp": assignment.recent_action_time,
                },
                "learner_state": assignment.learner_state,
                "learner_state_sort_order": assignment.learner_state_sort_order,
                "error_reason": _error_reason(assignment, actions),
            }
        )
    return rows


def learner_rows(
    assignments: Sequence[LearnerContentAssignment], configuration_uuids: dict[int, Any]
) -> list[dict[str, Any]]:
    """Assignments (actions prefetched) as their learner sees them; ``configuration_uuids`` maps each
    configuration id to its uuid."""
    dates = expirations(assignments)
    rows = []
    for assignment in assignments:
        actions = _actions(assignment)
        rows.append(
            {
                **_base_fields(
                    assignment, configuration_uuids[assignment.configuration_id], actions, dates[assignment.id]
                ),
                "learner_acknowledged": learner_acknowledged(actions),
            }
        )
    return rows


def policy_type(budget) -> str:
    """The enterprise-access policy class a budget corresponds to."""
    if budget.access_method == AccessMethod.ASSIGNED:
        return "AssignedLearnerCreditAccessPolicy"
    if budget.per_learner_enrollment_limit is not None:
        return "PerLearnerEnrollmentCreditAccessPolicy"
    return "PerLearnerSpendCreditAccessPolicy"


def policy_fields(budget, configuration_uuid=None) -> dict[str, Any]:
    """A budget in the subsidy-access-policy shape (``customer`` and ``catalog`` should be joined)."""
    return {
        "uuid": budget.uuid,
        "policy_type": policy_type(budget),
        "display_name": budget.title,
        "access_method": budget.access_method,
        "active": budget.active,
        "retired": budget.retired,
        "enterprise_customer_uuid": budget.customer.uuid,
        "catalog_uuid": budget.catalog.uuid,
        "spend_limit": budget.spend_limit_cents,
        "per_learner_spend_limit": budget.per_learner_spend_limit_cents,
        "per_learner_enrollment_limit": budget.per_learner_enrollment_limit,
        "subsidy_active_datetime": budget.start,
        "subsidy_expiration_datetime": budget.expiration,
        "late_redemption_allowed_until": budget.late_redemption_allowed_until,
        "assignment_configuration": configuration_uuid,
    }


def transaction_fields(transaction, budget_uuid) -> dict[str, Any]:
    """A ledger transaction (``course_run``, ``course_enrollment`` and ``reversal`` should be joined)."""
    reversal = reversal_of(transaction)
    enrollment = transaction.course_enrollment
    return {
        "uuid": transaction.uuid,
        "state": transaction.state,
        "idempotency_key": transaction.idempotency_key,
        "lms_user_id": transaction.learner_id,
        "content_key": transaction.content_key,
        "course_run_key": str(transaction.course_run.course_key),
        "amount_cents": transaction.amount_cents,
        "quantity": transaction.amount_cents,
        "unit": "usd_cents",
        "subsidy_access_policy_uuid": budget_uuid,
        "course_enrollment_uuid": enrollment.uuid if enrollment is not None else None,
        "reversal": (
            {"uuid": reversal.uuid, "amount_cents": reversal.amount_cents, "created": reversal.created}
            if reversal is not None
            else None
        ),
        "created": transaction.created,
        "modified": transaction.modified,
    }


def reversal_of(transaction):
    """The transaction's reversal, or None."""
    try:
        return transaction.reversal
    except ObjectDoesNotExist:
        return None
