"""What the assignments modules share: finding a configuration, reading assignment uuids, writing action
rows in bulk, and queueing emails. Private to the app (the public API is ``assignments.api``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from rollbook.assignments.data import ActionError, ActionType
from rollbook.assignments.models import (
    AssignmentConfiguration,
    LearnerContentAssignment,
    LearnerContentAssignmentAction,
)
from rollbook.core.bulk import insert_with_history
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.lookup import one_by_uuid
from rollbook.core.normalise import normalise_key, parse_uuid
from rollbook.enterprise import api as enterprise_api

ConfigurationRef = AssignmentConfiguration | uuid.UUID | str

# Why cancel / remind / nudge left an assignment alone (``BulkActionResult.refused`` values).
NOT_FOUND = "not_found"
NOT_CANCELLABLE = "not_cancellable"
NOT_REMINDABLE = "not_remindable"
NOT_ACCEPTED = "not_accepted"
START_DATE_MISMATCH = "start_date_mismatch"


def configurations_queryset(customer: object | None = None) -> QuerySet[AssignmentConfiguration]:
    """Active configurations, optionally of one customer (an EnterpriseCustomer, uuid or slug; NotFound for
    an unknown one), with customer and budget joined."""
    queryset = AssignmentConfiguration.objects.filter(active=True).select_related("customer", "budget")
    if customer is not None:
        queryset = queryset.filter(customer=enterprise_api.get_customer(customer))
    return queryset


def get_configuration(configuration: ConfigurationRef) -> AssignmentConfiguration:
    """The active configuration with this uuid (an instance is returned as it is when active); NotFound for
    a malformed, unknown or deactivated one."""
    if isinstance(configuration, AssignmentConfiguration):
        if not configuration.active:
            raise NotFound(f"The assignment configuration {configuration.uuid} is deactivated.")
        return configuration
    return one_by_uuid(configurations_queryset(), configuration, "assignment configuration")


def clean_uuids(values: Iterable[uuid.UUID | str], field: str = "assignment_uuids") -> list[uuid.UUID]:
    """The distinct uuids of ``values`` in order; InvalidInput (``field``) naming the malformed ones."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidInput({field: ["Give a list of assignment uuids."]})
    parsed: list[uuid.UUID] = []
    malformed: list[str] = []
    for value in values:
        found = parse_uuid(value)
        if found is None:
            malformed.append(repr(value))
        else:
            parsed.append(found)
    if malformed:
        raise InvalidInput({field: [f"Not uuids: {', '.join(malformed)}."]})
    return list(dict.fromkeys(parsed))


def learner_q(user: Any, prefix: str = "") -> Q:
    """Rows of the learner: their user, or their email ignoring case (assignments not linked yet)."""
    email = normalise_key(getattr(user, "email", "") or "")
    condition = Q(**{f"{prefix}user_id": user.pk})
    if email:
        condition |= Q(**{f"{prefix}learner_email_normalized": email})
    return condition


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One action to record: for which assignment (id), its type, and for a failure why and how."""

    assignment_id: int
    action_type: ActionType
    error_reason: ActionError | None = None
    traceback: str = ""


def record_actions(actions: Sequence[ActionRow], now: datetime, history_user: Any = None) -> None:
    """Insert the action rows (with history) in bulk: a success is completed at ``now``; a failure has no
    completion time, its reason and its traceback."""
    if not actions:
        return
    insert_with_history(
        LearnerContentAssignmentAction,
        [
            {
                "uuid": uuid.uuid4(),
                "assignment_id": action.assignment_id,
                "action_type": action.action_type.value,
                "completed_at": now if action.error_reason is None else None,
                "error_reason": None if action.error_reason is None else action.error_reason.value,
                "traceback": action.traceback,
                "created": now,
                "modified": now,
            }
            for action in actions
        ],
        history_user=history_user,
        history_date=now,
    )


def queue_emails(kind_name: str, assignment_ids: Sequence[int]) -> None:
    """Queue ``kind_name`` emails (an ``EmailKind`` value) for these assignments, after the commit."""
    if not assignment_ids:
        return
    # Imported here: the notifications module uses this app's api, which imports this module.
    from rollbook.assignments import notifications

    notifications.queue_emails(notifications.EmailKind(kind_name), list(assignment_ids))


def locked_assignments(queryset: QuerySet[LearnerContentAssignment]) -> QuerySet[LearnerContentAssignment]:
    """The queryset's rows locked until the transaction ends (a no-op on SQLite), in id order."""
    return queryset.select_for_update(of=("self",)).order_by("id")
