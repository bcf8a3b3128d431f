"""The administrators' view of a configuration's assignments: the figures the list shows and orders by,
computed by the database in the listing query itself (no query per row, nothing stored twice).

Public through ``rollbook.assignments.api``. Only actions since the assignment's latest allocation count:
a re-allocated assignment is ``notifying`` again until its new notification goes out, and an old failure
does not show as its ``error_reason``.

- ``learner_state``: allocated with a successful notification → waiting; allocated with only failed
  notifications → failed; allocated, not notified yet → notifying; expired → expired; errored → failed;
  otherwise null (accepted, cancelled, reversed: not shown as waiting for the learner).
- ``learner_state_sort_order``: notifying 0, waiting 1, expired 2, failed 3, null 999.
- ``recent_action`` / ``recent_action_time``: "reminded" and the newest successful reminder's time when one
  was sent after the allocation, else "assigned" and ``allocated_at``.
- ``error_reason``: the reason of the newest failed action (null when none failed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from rollbook.assignments import records
from rollbook.assignments.data import (
    LEARNER_STATE_SORT_ORDER,
    LEARNER_STATE_SORT_ORDER_OTHER,
    ActionType,
    AssignmentState,
    LearnerState,
    RecentActionType,
)
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key


def _actions_since_allocation(action_type: ActionType | None = None) -> QuerySet:
    actions = LearnerContentAssignmentAction.objects.filter(
        assignment_id=OuterRef("pk"), created__gte=OuterRef("allocated_at")
    )
    return actions if action_type is None else actions.filter(action_type=action_type.value)


def _learner_state_conditions() -> list[tuple[Q, LearnerState]]:
    """(condition, learner state) pairs, the first that holds wins."""
    notified = Exists(_actions_since_allocation(ActionType.NOTIFIED).filter(error_reason__isnull=True))
    notification_failed = Exists(_actions_since_allocation(ActionType.NOTIFIED).filter(error_reason__isnull=False))
    allocated = Q(state=AssignmentState.ALLOCATED.value)
    return [
        (allocated & Q(notified), LearnerState.WAITING),
        (allocated & Q(notification_failed), LearnerState.FAILED),
        (allocated, LearnerState.NOTIFYING),
        (Q(state=AssignmentState.EXPIRED.value), LearnerState.EXPIRED),
        (Q(state=AssignmentState.ERRORED.value), LearnerState.FAILED),
    ]


def annotate_admin_fields(queryset: QuerySet[LearnerContentAssignment]) -> QuerySet[LearnerContentAssignment]:
    """``queryset`` annotated with learner_state, learner_state_sort_order, recent_action, recent_action_time
    and error_reason (see the module docstring), all computed in its one query."""
    conditions = _learner_state_conditions()
    newest_reminder = Subquery(
        _actions_since_allocation(ActionType.REMINDED)
        .filter(error_reason__isnull=True, completed_at__isnull=False)
        .order_by("-completed_at", "-id")
        .values("completed_at")[:1],
        output_field=DateTimeField(),
    )
    newest_error = Subquery(
        _actions_since_allocation()
        .filter(error_reason__isnull=False)
        .order_by("-created", "-id")
        .values("error_reason")[:1],
        output_field=CharField(),
    )
    reminded_since = Q(newest_reminder__isnull=False) & Q(newest_reminder__gt=F("allocated_at"))
    return queryset.annotate(
        learner_state=Case(
            *(When(condition, then=Value(state.value)) for condition, state in conditions),
            default=Value(None),
            output_field=CharField(),
        ),
        learner_state_sort_order=Case(
            *(When(condition, then=Value(LEARNER_STATE_SORT_ORDER[state])) for condition, state in conditions),
            default=Value(LEARNER_STATE_SORT_ORDER_OTHER),
            output_field=IntegerField(),
        ),
        newest_reminder=newest_reminder,
        error_reason=newest_error,
    ).annotate(
        recent_action=Case(
            When(reminded_since, then=Value(RecentActionType.REMINDED.value)),
            default=Value(RecentActionType.ASSIGNED.value),
            output_field=CharField(),
        ),
        recent_action_time=Case(
            When(reminded_since, then="newest_reminder"),
            default="allocated_at",
            output_field=DateTimeField(),
        ),
    )


def admin_assignments(configuration: records.ConfigurationRef) -> QuerySet[LearnerContentAssignment]:
    """The configuration's assignments annotated in the query with learner_state, learner_state_sort_order,
    recent_action, recent_action_time and error_reason (reference §2), ready to filter and order (default
    order: newest recent action first). NotFound for an unknown or deactivated configuration."""
    found = records.get_configuration(configuration)
    queryset = LearnerContentAssignment.objects.filter(configuration=found)
    return annotate_admin_fields(queryset).order_by("-recent_action_time", "-id")


_STATES = frozenset(state.value for state in AssignmentState)
_LEARNER_STATES = frozenset(state.value for state in LearnerState)


def _choices(field: str, value: object, allowed: frozenset[str]) -> list[str]:
    """One value or several (a list, or a comma-separated text) each in ``allowed``; InvalidInput otherwise."""
    if isinstance(value, str):
        values = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable):
        values = [str(part).strip() for part in value if str(part).strip()]
    else:
        values = [str(value)]
    unknown = sorted({value for value in values if value not in allowed})
    if unknown:
        raise InvalidInput({field: [f"Unknown value(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}."]})
    return values


def filtered_assignments(configuration: records.ConfigurationRef, filters: Mapping[str, object]) -> QuerySet:
    """The configuration's annotated assignments (``admin_assignments``) narrowed by the admin list filters:
    ``content_key`` (exact), ``learner_email`` (ignoring case), ``lms_user_id`` (the user's id), ``state`` /
    ``state__in``, ``learner_state`` / ``learner_state__in`` (a value, a list or a comma-separated text) and
    ``search`` (content title or email, ignoring case). Blank values and other keys are ignored, so a query
    dictionary can be passed as it is. Used by the list, cancel-all and remind-all. InvalidInput for unknown
    states or a malformed user id."""
    queryset = admin_assignments(configuration)

    def given(name: str) -> Any:
        value = filters.get(name)
        return None if value is None or (isinstance(value, str) and not value.strip()) else value

    if (content_key := given("content_key")) is not None:
        queryset = queryset.filter(content_key=str(content_key).strip())
    if (email := given("learner_email")) is not None:
        queryset = queryset.filter(learner_email_normalized=normalise_key(str(email)))
    if (user_id := given("lms_user_id")) is not None:
        text = str(user_id).strip()
        if isinstance(user_id, bool) or not text.isdigit():
            raise InvalidInput({"lms_user_id": [f"{user_id!r} is not a user id."]})
        queryset = queryset.filter(user_id=int(text))
    for name, field, allowed in (
        ("state", "state", _STATES),
        ("learner_state", "learner_state", _LEARNER_STATES),
    ):
        if (value := given(name)) is not None:
            queryset = queryset.filter(**{f"{field}__in": _choices(name, value, allowed)})
        if (values := given(f"{name}__in")) is not None:
            queryset = queryset.filter(**{f"{field}__in": _choices(f"{name}__in", values, allowed)})
    if (term := given("search")) is not None:
        text = str(term).strip()
        queryset = queryset.filter(
            Q(content_title__icontains=text) | Q(learner_email_normalized__contains=normalise_key(text))
        )
    return queryset


def learner_state_counts(queryset: QuerySet) -> list[dict[str, object]]:
    """``[{"learner_state": s, "count": n}, ...]`` over an annotated queryset (``admin_assignments`` or
    ``filtered_assignments``), in one query: states with at least one assignment, most frequent first
    (ties by name); assignments without a learner state are not counted."""
    rows = (
        queryset.order_by()
        .filter(learner_state__isnull=False)
        .values("learner_state")
        .annotate(count=Count("pk"))
        .order_by("-count", "learner_state")
    )
    return [{"learner_state": row["learner_state"], "count": row["count"]} for row in rows]
