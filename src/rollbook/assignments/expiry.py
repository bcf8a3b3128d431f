"""When allocated assignments expire, and the daily job that expires them.

Public through ``rollbook.assignments.api``. An allocated assignment expires at the earliest of: 90 days
after its (latest) allocation — reminders do not move it —, the enroll-by date of its preferred run
(``catalog.api.enroll_by_date``), and the budget's expiration. The reason stored is the date that decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone

from rollbook.assignments import records
from rollbook.assignments.data import AUTO_EXPIRATION, ActionType, AssignmentState, EarliestExpiration, ExpiryReason
from rollbook.assignments.models import AssignmentConfiguration, LearnerContentAssignment
from rollbook.catalog import api as catalog_api
from rollbook.core.bulk import batch_size, update_with_history


def _runs_by_key(run_keys: Iterable[str]) -> dict[str, object]:
    """``{run key: run}`` with modes loaded (enroll-by dates need the paid mode): two queries."""
    keys = sorted({key for key in run_keys if key})
    if not keys:
        return {}
    runs = catalog_api.get_course_runs(keys)
    prefetch_related_objects(list(runs.values()), "modes")
    return runs


def earliest_expirations(assignments: Sequence[LearnerContentAssignment]) -> dict[int, EarliestExpiration]:
    """``{assignment id: EarliestExpiration}`` for these assignments (whatever their state: the date their
    current allocation expires or expired), in at most three queries (budgets' expirations, runs, modes)."""
    if not assignments:
        return {}
    expirations_by_configuration = dict(
        AssignmentConfiguration.objects.filter(pk__in={a.configuration_id for a in assignments}).values_list(
            "pk", "budget__expiration"
        )
    )
    runs = _runs_by_key(a.preferred_course_run_key for a in assignments)
    result: dict[int, EarliestExpiration] = {}
    for assignment in assignments:
        candidates: list[tuple[datetime, ExpiryReason]] = [
            (assignment.allocated_at + AUTO_EXPIRATION, ExpiryReason.NINETY_DAYS_PASSED)
        ]
        run = runs.get(assignment.preferred_course_run_key or "")
        enroll_by = catalog_api.enroll_by_date(run) if run is not None else None
        if enroll_by is not None:
            candidates.append((enroll_by, ExpiryReason.ENROLLMENT_DATE_PASSED))
        budget_expiration = expirations_by_configuration.get(assignment.configuration_id)
        if budget_expiration is not None:
            candidates.append((budget_expiration, ExpiryReason.SUBSIDY_EXPIRED))
        date, reason = min(candidates, key=lambda candidate: candidate[0])  # min keeps the first of equals
        result[assignment.id] = EarliestExpiration(date=date, reason=reason)
    return result


def earliest_expiration(assignment: LearnerContentAssignment) -> EarliestExpiration:
    """The earliest of allocated_at + 90 days, the preferred run's enroll-by date and the budget's expiration,
    with the reason naming it."""
    return earliest_expirations([assignment])[assignment.id]


def _possibly_due(moment: datetime) -> Q:
    """A superset of the allocated assignments due at ``moment``, as a filter the database can use: 90 days
    passed, the budget expired, or the preferred run has a date that may bound its enroll-by date passed."""
    runs_past_a_date = (
        catalog_api.course_runs_queryset()
        .prefetch_related(None)
        .filter(Q(enrollment_end__lte=moment) | Q(end__lte=moment) | Q(modes__upgrade_deadline__lte=moment))
        .values("course_key")
    )
    return Q(state=AssignmentState.ALLOCATED.value) & (
        Q(allocated_at__lte=moment - AUTO_EXPIRATION)
        | Q(configuration__budget__expiration__lte=moment)
        | Q(preferred_course_run_key__in=runs_past_a_date)
    )


def expire_due(now: datetime | None = None) -> int:
    """Expire every allocated assignment whose earliest expiration is at or before ``now`` (default: now):
    state expired, ``expired_at``, ``expiry_reason``, a history row and an ``expired`` action each, and an
    expiry email queued after the commit. Returns how many.
    Set-based: the database selects the candidates, then each batch of ``ROLLBOOK_BULK_BATCH_SIZE`` is
    locked, checked and written in its own transaction with a constant number of statements."""
    moment = now or timezone.now()
    expired = 0
    last_id = 0
    while True:
        candidate_ids = list(
            LearnerContentAssignment.objects.filter(_possibly_due(moment), id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[: batch_size()]
        )
        if not candidate_ids:
            return expired
        last_id = candidate_ids[-1]
        expired += _expire_batch(candidate_ids, moment)


def _expire_batch(candidate_ids: list[int], moment: datetime) -> int:
    with transaction.atomic():
        rows = list(
            records.locked_assignments(
                LearnerContentAssignment.objects.filter(id__in=candidate_ids, state=AssignmentState.ALLOCATED.value)
            )
        )
        expirations = earliest_expirations(rows)
        due = [row for row in rows if expirations[row.id].date <= moment]
        for row in due:
            row.state = AssignmentState.EXPIRED.value
            row.expired_at = moment
            row.expiry_reason = expirations[row.id].reason.value
            row.modified = moment
        update_with_history(due, ["state", "expired_at", "expiry_reason", "modified"], history_date=moment)
        records.record_actions([records.ActionRow(row.pk, ActionType.EXPIRED) for row in due], moment)
        records.queue_emails("expire", [row.pk for row in due])
    return len(due)
