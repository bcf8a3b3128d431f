"""An assignment's life after allocation: cancel, remind, nudge, acknowledge, accept (redeem), reverse,
and linking learners who register later.

Public through ``rollbook.assignments.api``. Who records which action:

- these functions record the state changes they make, as completed actions, in the same transaction:
  ``cancelled``, ``redeemed`` (or its ``enrollment_error`` failure), ``reversed``, ``learner_linked``,
  ``cancelled_acknowledged`` / ``expired_acknowledged`` (and ``expiry.expire_due`` records ``expired``);
- the email tasks (``assignments.notifications``) record ``notified``, ``reminded`` and ``nudged`` when the
  email went out or finally failed, and for the cancel and expiry emails only a failure (an errored
  ``cancelled`` / ``expired`` action); a failed email never changes the assignment's state.

Every write locks the rows it changes, in id order, so concurrent callers wait for each other. Of these,
only ``accept`` spends money: like ``allocate`` it takes the budget's row lock first (then the assignment's),
so allocations and redemptions of one budget are serialised and never overspend it.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from rollbook.assignments import records
from rollbook.assignments.allocation import course_content_key
from rollbook.assignments.data import (
    ACKNOWLEDGEABLE_STATES,
    CANCELLABLE_STATES,
    REMINDABLE_STATES,
    ActionError,
    ActionType,
    AssignmentState,
    BulkActionResult,
)
from rollbook.assignments.models import LearnerContentAssignment
from rollbook.budgets import api as budgets_api
from rollbook.budgets.data import AccessMethod, RedeemReason
from rollbook.catalog import api as catalog_api
from rollbook.core.bulk import update_with_history
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key, parse_uuid
from rollbook.enterprise import api as enterprise_api

_STATE_REASONS = {
    AssignmentState.CANCELLED: RedeemReason.ASSIGNMENT_CANCELLED,
    AssignmentState.ERRORED: RedeemReason.ASSIGNMENT_FAILED,
    AssignmentState.EXPIRED: RedeemReason.ASSIGNMENT_EXPIRED,
    AssignmentState.REVERSED: RedeemReason.ASSIGNMENT_REVERSED,
}


def _selected(configuration: records.ConfigurationRef, assignment_uuids: Iterable[uuid.UUID | str]):
    """(configuration, requested uuids, the configuration's rows among them locked in id order)."""
    found = records.get_configuration(configuration)
    requested = records.clean_uuids(assignment_uuids)
    rows = list(records.locked_assignments(found.assignments.filter(uuid__in=requested)))
    return found, requested, rows


def _missing(requested: list[uuid.UUID], rows: list[LearnerContentAssignment]) -> dict[uuid.UUID, str]:
    present = {row.uuid for row in rows}
    return {wanted: records.NOT_FOUND for wanted in requested if wanted not in present}


# --- cancel, remind, nudge ---------------------------------------------------------------------------


def cancel(configuration: records.ConfigurationRef, assignment_uuids: Iterable[uuid.UUID | str]) -> BulkActionResult:
    """Cancel the configuration's cancellable assignments among these uuids (allocated, errored): state
    cancelled, ``cancelled_at`` now, a ``cancelled`` action, and a cancel email each after the commit. Ones
    cancelled already count as done (nothing written, no second email); the others are refused with
    ``not_cancellable``, uuids not of this configuration with ``not_found``. InvalidInput for malformed uuids;
    NotFound for the configuration. A constant number of statements."""
    with transaction.atomic():
        _found, requested, rows = _selected(configuration, assignment_uuids)
        now = timezone.now()
        refused = _missing(requested, rows)
        cancelled = [row for row in rows if row.state in CANCELLABLE_STATES]
        for row in rows:
            if row.state not in CANCELLABLE_STATES and row.state != AssignmentState.CANCELLED:
                refused[row.uuid] = records.NOT_CANCELLABLE
        for row in cancelled:
            row.state = AssignmentState.CANCELLED.value
            row.cancelled_at = now
            row.modified = now
        update_with_history(cancelled, ["state", "cancelled_at", "modified"], history_date=now)
        records.record_actions([records.ActionRow(row.pk, ActionType.CANCELLED) for row in cancelled], now)
        records.queue_emails("cancel", [row.pk for row in cancelled])
    done = [row.uuid for row in rows if row.uuid not in refused]
    return BulkActionResult(done=tuple(done), refused=refused)


def remind(configuration: records.ConfigurationRef, assignment_uuids: Iterable[uuid.UUID | str]) -> BulkActionResult:
    """Queue a reminder email (after the commit) for each of the configuration's allocated assignments among
    these uuids; the email task records the ``reminded`` action. Others are refused with ``not_remindable``,
    uuids not of this configuration with ``not_found``. InvalidInput for malformed uuids."""
    with transaction.atomic():
        _found, requested, rows = _selected(configuration, assignment_uuids)
        refused = _missing(requested, rows)
        remindable = [row for row in rows if row.state in REMINDABLE_STATES]
        refused.update({row.uuid: records.NOT_REMINDABLE for row in rows if row.state not in REMINDABLE_STATES})
        records.queue_emails("remind", [row.pk for row in remindable])
    return BulkActionResult(done=tuple(row.uuid for row in remindable), refused=refused)


def nudge(
    configuration: records.ConfigurationRef, assignment_uuids: Iterable[uuid.UUID | str], days_before_course_start: int
) -> BulkActionResult:
    """Queue a nudge email (after the commit) for each of the configuration's accepted assignments among
    these uuids whose preferred run starts exactly ``days_before_course_start`` days from today (dates in
    ``settings.TIME_ZONE``, UTC);
    the email task records the ``nudged`` action. Others are refused: ``not_accepted``,
    ``start_date_mismatch`` (including runs without a start date), ``not_found``. InvalidInput for malformed
    uuids or a number of days below 1."""
    days = days_before_course_start
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInput(
            {"days_before_course_start_date": [f"Give a whole number of days, 1 or more, not {days!r}."]}
        )
    with transaction.atomic():
        _found, requested, rows = _selected(configuration, assignment_uuids)
        refused = _missing(requested, rows)
        target_date = timezone.localdate() + timedelta(days=days)
        accepted = [row for row in rows if row.state == AssignmentState.ACCEPTED]
        refused.update({row.uuid: records.NOT_ACCEPTED for row in rows if row.state != AssignmentState.ACCEPTED})
        runs = catalog_api.get_course_runs(_run_key(row) for row in accepted)
        nudged = []
        for row in accepted:
            run = runs.get(_run_key(row))
            if run is not None and run.start is not None and timezone.localdate(run.start) == target_date:
                nudged.append(row)
            else:
                refused[row.uuid] = records.START_DATE_MISMATCH
        records.queue_emails("nudge", [row.pk for row in nudged])
    return BulkActionResult(done=tuple(row.uuid for row in nudged), refused=refused)


def _run_key(row: LearnerContentAssignment) -> str:
    """The run an accepted assignment is about: its preferred run, else the assigned run."""
    return row.preferred_course_run_key or (row.content_key if row.is_assigned_course_run else "")


# --- the learner's side ------------------------------------------------------------------------------


def learner_assignments(configuration: records.ConfigurationRef, user: AbstractBaseUser) -> QuerySet:
    """The learner's assignments in the configuration: matched by user, or by email ignoring case (those
    not linked yet), newest allocation first. NotFound for the configuration."""
    found = records.get_configuration(configuration)
    return found.assignments.filter(records.learner_q(user)).order_by("-allocated_at", "-id")


_ACKNOWLEDGEMENT_OF = {
    AssignmentState.CANCELLED: ActionType.CANCELLED_ACKNOWLEDGED,
    AssignmentState.EXPIRED: ActionType.EXPIRED_ACKNOWLEDGED,
}


def acknowledge(
    configuration: records.ConfigurationRef, assignment_uuids: Iterable[uuid.UUID | str], user: AbstractBaseUser
) -> dict[str, list[uuid.UUID]]:
    """The learner acknowledges their cancelled or expired assignments among these uuids: a
    ``cancelled_acknowledged`` / ``expired_acknowledged`` action each, unless the newest acknowledgement is
    already newer than the newest cancellation or expiry. Returns ``{acknowledged_assignments,
    already_acknowledged_assignments, unacknowledged_assignments}`` (the last: theirs but neither cancelled
    nor expired). InvalidInput when none of the uuids is an assignment of theirs in the configuration."""
    with transaction.atomic():
        found = records.get_configuration(configuration)
        requested = records.clean_uuids(assignment_uuids)
        rows = _acknowledgeable_rows(found, requested, user)
        if not rows:
            raise InvalidInput({"assignment_uuids": ["None of these assignments is yours in this configuration."]})
        now = timezone.now()
        result: dict[str, list[uuid.UUID]] = {
            "acknowledged_assignments": [],
            "already_acknowledged_assignments": [],
            "unacknowledged_assignments": [],
        }
        actions = []
        for row in rows:
            if row.state not in ACKNOWLEDGEABLE_STATES:
                result["unacknowledged_assignments"].append(row.uuid)
            elif row.last_acknowledgement is not None and (
                row.last_ending is None or row.last_acknowledgement > row.last_ending
            ):
                result["already_acknowledged_assignments"].append(row.uuid)
            else:
                actions.append(records.ActionRow(row.pk, _ACKNOWLEDGEMENT_OF[AssignmentState(row.state)]))
                result["acknowledged_assignments"].append(row.uuid)
        records.record_actions(actions, now, history_user=user)
    return result


def _acknowledgeable_rows(configuration: Any, requested: list[uuid.UUID], user: AbstractBaseUser) -> list:
    """The learner's rows among ``requested``, locked, with the times of their newest ending (cancel or
    expiry) and newest acknowledgement."""
    locked_ids = list(
        records.locked_assignments(
            configuration.assignments.filter(records.learner_q(user), uuid__in=requested)
        ).values_list("id", flat=True)
    )
    endings = [ActionType.CANCELLED.value, ActionType.EXPIRED.value]
    acknowledgements = [action.value for action in _ACKNOWLEDGEMENT_OF.values()]
    return list(
        LearnerContentAssignment.objects.filter(id__in=locked_ids)
        .annotate(
            # A failed cancel/expiry email is an errored action of the same type, not a new ending.
            last_ending=Max(
                "actions__created",
                filter=Q(actions__action_type__in=endings, actions__error_reason__isnull=True),
            ),
            last_acknowledgement=Max("actions__created", filter=Q(actions__action_type__in=acknowledgements)),
        )
        .order_by("id")
    )


# --- accept (redeem) ---------------------------------------------------------------------------------


def _content_match(content_key: str) -> Q | None:
    """Assignments a learner's content key reaches: the same key, or for a run key also an assignment of its
    course, or for a course key also assignments of its runs. None for a key that names nothing."""
    try:
        resolved = enterprise_api.resolve_content_key(content_key)
    except InvalidInput:
        return None
    course_key = course_content_key(resolved.course_key)
    if resolved.course_run_id is not None:
        return Q(content_key=resolved.content_key) | Q(content_key=course_key)
    return Q(content_key=course_key) | Q(parent_content_key=course_key)


def _learner_rows(budget: Any, user: AbstractBaseUser, content_key: str) -> QuerySet[LearnerContentAssignment]:
    """The learner's assignments reaching ``content_key`` in the budget's configuration (none when the budget
    is not an assigned one), exact content first, then newest allocation first."""
    match = _content_match(content_key) if isinstance(content_key, str) else None
    if budget.access_method != AccessMethod.ASSIGNED or match is None:
        return LearnerContentAssignment.objects.none()
    return (
        LearnerContentAssignment.objects.filter(configuration__budget_id=budget.pk, configuration__active=True)
        .filter(records.learner_q(user))
        .filter(match)
        .order_by("-allocated_at", "-id")
    )


def _pick(rows: list[LearnerContentAssignment]) -> LearnerContentAssignment | None:
    """The row that decides: an allocated one, else an accepted one, else the newest."""
    for state in (AssignmentState.ALLOCATED, AssignmentState.ACCEPTED):
        for row in rows:
            if row.state == state:
                return row
    return rows[0] if rows else None


def assignment_reasons(budget: object, user: AbstractBaseUser, content_key: str) -> tuple[RedeemReason, ...]:
    """Why the learner has no redeemable assignment of ``content_key`` (a course or one of its runs, or a run
    of an assigned course) in the budget: empty when an allocated one exists (or an accepted one, which
    ``accept`` returns as it is); else ``reason_learner_not_assigned_content`` when none exists, or the
    reason of the newest one's state (cancelled, failed = errored, expired, reversed)."""
    found = budgets_api.get_budget(budget)
    chosen = _pick(list(_learner_rows(found, user, content_key)))
    if chosen is None:
        return (RedeemReason.NOT_ASSIGNED,)
    reason = _STATE_REASONS.get(AssignmentState(chosen.state))
    return () if reason is None else (reason,)


def accept(budget: object, user: AbstractBaseUser, content_key: str) -> object:
    """Redeem the learner's allocated assignment of ``content_key`` (a course key, one of its runs, or the
    assigned run) against the budget, at the assignment's price: ``budgets.api.redeem(..., price_cents=price,
    for_assignment=True)`` enrolls them and writes the transaction; in the same database transaction the
    assignment becomes accepted (``accepted_at``, the user, the run actually redeemed as preferred run, the
    transaction) with a ``redeemed`` action. Its price moves from allocated to spent, so the budget's
    spent + allocated does not change (never counted twice). An accepted assignment returns its transaction
    again (no second charge).

    Raises budgets' RedemptionRefused with the assignment's reason (not assigned, cancelled, failed, expired,
    reversed) or the budget's (e.g. policy_expired, beyond_enrollment_deadline). When the enrollment itself
    fails, the assignment becomes errored (``errored_at``, a ``redeemed`` action with ``enrollment_error`` and
    the traceback; that is kept) and RedemptionRefused(``reason_learner_assignment_failed``) is raised with
    the enrollment's field errors. Returns the Transaction."""
    found = budgets_api.get_budget(budget)
    failure: InvalidInput | None = None
    with transaction.atomic():
        locked_budget = budgets_api.lock_budget(found)
        candidates = list(records.locked_assignments(_learner_rows(locked_budget, user, content_key)))
        chosen = _pick(candidates)
        if chosen is not None and chosen.state == AssignmentState.ACCEPTED and chosen.transaction_id is not None:
            return budgets_api.transactions_queryset().get(pk=chosen.transaction_id)
        if chosen is None or chosen.state != AssignmentState.ALLOCATED:
            reasons = (RedeemReason.NOT_ASSIGNED,) if chosen is None else (_STATE_REASONS[chosen.state],)
            raise budgets_api.RedemptionRefused(reasons, "No allocated assignment of this content.")
        # A run assignment always redeems its run; a course assignment the key the learner chose.
        redeemed_key = chosen.content_key if chosen.is_assigned_course_run else content_key
        now = timezone.now()
        try:
            ledger_transaction = budgets_api.redeem(
                locked_budget, user, redeemed_key, price_cents=-chosen.content_quantity, for_assignment=True
            )
        except budgets_api.RedemptionRefused:
            raise
        except InvalidInput as exc:  # the enrollments app refused: the savepoint rolled the redemption back
            failure = exc
            _mark_errored(chosen, user, exc, now)
        else:
            _mark_accepted(chosen, user, ledger_transaction, now)
            return ledger_transaction
    refused = budgets_api.RedemptionRefused((RedeemReason.ASSIGNMENT_FAILED,), "The enrollment failed.")
    refused.errors.update({key: value for key, value in failure.errors.items() if key != "reasons"})
    raise refused from failure


def _mark_accepted(row: LearnerContentAssignment, user: Any, ledger_transaction: Any, now: Any) -> None:
    row.state = AssignmentState.ACCEPTED.value
    row.accepted_at = now
    row.user = user
    row.transaction = ledger_transaction
    row.preferred_course_run_key = str(ledger_transaction.course_run.course_key)
    row.modified = now
    update_with_history(
        [row], ["state", "accepted_at", "user", "transaction", "preferred_course_run_key", "modified"], history_date=now
    )
    records.record_actions([records.ActionRow(row.pk, ActionType.REDEEMED)], now, history_user=user)


def _mark_errored(row: LearnerContentAssignment, user: Any, exc: Exception, now: Any) -> None:
    row.state = AssignmentState.ERRORED.value
    row.errored_at = now
    row.modified = now
    update_with_history([row], ["state", "errored_at", "modified"], history_date=now)
    text = "".join(traceback.format_exception(exc))
    records.record_actions(
        [records.ActionRow(row.pk, ActionType.REDEEMED, ActionError.ENROLLMENT_ERROR, text)], now, history_user=user
    )


# --- reversal and linking ----------------------------------------------------------------------------


def reverse_for_transaction(transaction_uuid: uuid.UUID) -> LearnerContentAssignment | None:
    """An accepted assignment paid by this ledger transaction becomes reversed (``reversed_at``, a
    ``reversed`` action); returned. None when no assignment is paid by it or it is no longer accepted
    (nothing written). Idempotent."""
    wanted = parse_uuid(transaction_uuid)
    if wanted is None:
        return None
    with transaction.atomic():
        row = records.locked_assignments(LearnerContentAssignment.objects.filter(transaction__uuid=wanted)).first()
        if row is None or row.state != AssignmentState.ACCEPTED:
            return None
        now = timezone.now()
        row.state = AssignmentState.REVERSED.value
        row.reversed_at = now
        row.modified = now
        update_with_history([row], ["state", "reversed_at", "modified"], history_date=now)
        records.record_actions([records.ActionRow(row.pk, ActionType.REVERSED)], now)
    return row


def link_learner(user: AbstractBaseUser) -> int:
    """Give the user to every assignment with their email (ignoring case) and no user yet, with a
    ``learner_linked`` action each — except where the user already has an assignment of the same content in
    the same configuration (the older one stays theirs). Returns how many. Set-based."""
    email = normalise_key(getattr(user, "email", "") or "")
    if not email:
        return 0
    with transaction.atomic():
        theirs = LearnerContentAssignment.objects.filter(
            configuration_id=OuterRef("configuration_id"), content_key=OuterRef("content_key"), user_id=user.pk
        )
        rows = list(
            records.locked_assignments(
                LearnerContentAssignment.objects.filter(learner_email_normalized=email, user__isnull=True)
            ).filter(~Exists(theirs))
        )
        now = timezone.now()
        for row in rows:
            row.user = user
            row.modified = now
        update_with_history(rows, ["user", "modified"], history_date=now)
        records.record_actions([records.ActionRow(row.pk, ActionType.LEARNER_LINKED) for row in rows], now)
    return len(rows)
