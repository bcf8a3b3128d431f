"""The Master's track: putting linked program students into the ``masters`` mode of their program's runs.

Public through ``rollbook.programs.api``. Set-based: existing enrollments are read in one query per batch,
and enrollments are made, converted and deactivated through ``enrollments.api.bulk_enroll`` and
``bulk_unenroll`` (a handful of statements per batch, whatever the number of learners).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import AUDIT_MODES, ModeSlug
from rollbook.core.bulk import batches
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollmentState, EnrollRequest
from rollbook.programs.data import (
    PROGRAM_COURSE_ENROLLMENT_STATUSES,
    MastersOutcome,
    MastersResult,
    ProgramCourseEnrollmentStatus,
)

logger = logging.getLogger(__name__)

MASTERS = ModeSlug.MASTERS.value


def course_enrollment_ids_by_uuid(uuids: Iterable[Any]) -> dict[str, int]:
    """``{str(uuid): primary key}`` of these course enrollments, one query per batch."""
    wanted = [str(value) for value in dict.fromkeys(uuids)]
    found: dict[str, int] = {}
    for chunk in batches(wanted):
        rows = enrollments_api.enrollments_queryset().filter(uuid__in=chunk)
        found.update((str(uuid), pk) for uuid, pk in rows.values_list("uuid", "pk"))
    return found


def enroll_in_masters_track(
    items: Sequence[tuple[int, Any, str]], *, dry_run: bool = False
) -> dict[tuple[int, int], MastersResult]:
    """Make each learner's enrollment in the run fit a program-course status, in the Master's track.

    ``items`` are ``(user_id, course run, program-course status)``; the status is ``active`` or
    ``inactive`` (ValueError otherwise, or when one (user, run) pair comes twice with different statuses).
    Returns ``{(user_id, run_id): MastersResult}``, the result's ``course_enrollment_id`` being the row to
    store in ``ProgramCourseEnrollment.course_enrollment``. Per item:

    - an active enrollment in ``masters``: ``unchanged`` for ``active``; deactivated for ``inactive``
      → ``deactivated``;
    - an active ``audit`` or ``honor`` enrollment: moved to masters → ``converted`` (then deactivated for
      ``inactive`` → ``deactivated``);
    - an active enrollment in any other mode (verified, professional...): left as it is and logged as an
      error → ``left-alone:<mode>`` (the enrollment is still returned, for linking);
    - no active enrollment and ``active``: enrolled (or reactivated) in masters without access checks
      (enrollment windows do not apply) → ``enrolled``;
    - no active enrollment and ``inactive``: nothing to do → ``unchanged`` (the inactive enrollment, if
      there is one, is returned, else None);
    - when the run does not offer a masters mode, or the enrollment cannot be made, → ``failed:<reason>``
      with the reason bulk_enroll gave (e.g. ``failed:invalid_mode``) and nothing changed for that item.

    With ``dry_run`` nothing is written and the outcomes are what would happen (a new enrollment's id is
    then None). Set-based: one read per batch of ``settings.BULK_BATCH_SIZE`` items plus at most one
    ``bulk_enroll`` and one ``bulk_unenroll`` call for the whole list; all in one transaction.
    """
    wanted: dict[tuple[int, int], tuple[Any, str]] = {}
    for user_id, run, status in items:
        if status not in PROGRAM_COURSE_ENROLLMENT_STATUSES:
            raise ValueError(f"{status!r} is not a program-course enrollment status.")
        pair = (int(user_id), run.pk)
        if pair in wanted and wanted[pair][1] != status:
            raise ValueError(f"User {user_id} and run {run.course_key} are given twice with different statuses.")
        wanted[pair] = (run, status)
    if not wanted:
        return {}

    existing = enrollments_api.enrollment_states(wanted)
    offered = catalog_api.mode_slugs_by_run({run.pk for run, _status in wanted.values()})
    results: dict[tuple[int, int], MastersResult] = {}
    converted = 0
    left_alone: list[str] = []
    to_enroll: list[tuple[tuple[int, int], EnrollRequest, str]] = []  # (pair, request, outcome)
    to_deactivate: set[tuple[int, int]] = set()

    for pair, (run, status) in wanted.items():
        user_id, _run_id = pair
        inactive = status == ProgramCourseEnrollmentStatus.INACTIVE
        enrollment = existing.get(pair)
        masters_offered = MASTERS in offered.get(run.pk, ())
        if enrollment is not None and enrollment.is_active:
            mode = enrollment.mode
            if mode == MASTERS:
                if inactive:
                    to_deactivate.add(pair)
                results[pair] = _result(
                    MastersOutcome.DEACTIVATED if inactive else MastersOutcome.UNCHANGED, enrollment, not inactive
                )
            elif mode in AUDIT_MODES:
                if not masters_offered:
                    results[pair] = _failed(run, user_id, "invalid_mode")
                    continue
                outcome = MastersOutcome.DEACTIVATED if inactive else MastersOutcome.CONVERTED
                to_enroll.append((pair, EnrollRequest(str(run.course_key), user_id=user_id, mode=MASTERS), outcome))
                if inactive:
                    to_deactivate.add(pair)
                converted += 1
                results[pair] = MastersResult(outcome, enrollment.id, MASTERS, not inactive)
            else:
                left_alone.append(f"user {user_id} ({mode}) in {run.course_key}")
                results[pair] = MastersResult(
                    f"{MastersOutcome.LEFT_ALONE}:{mode}", enrollment.id, mode, enrollment.is_active
                )
        elif inactive:
            results[pair] = (
                _result(MastersOutcome.UNCHANGED, enrollment, False)
                if enrollment is not None
                else MastersResult(MastersOutcome.UNCHANGED, None)
            )
        elif not masters_offered:
            results[pair] = _failed(run, user_id, "invalid_mode")
        else:
            to_enroll.append(
                (pair, EnrollRequest(str(run.course_key), user_id=user_id, mode=MASTERS), MastersOutcome.ENROLLED)
            )
            results[pair] = MastersResult(
                MastersOutcome.ENROLLED, None if enrollment is None else enrollment.id, MASTERS, True
            )

    # one line per call, not per row: bulk calls carry tens of thousands of rows
    if converted:
        logger.info("Moving %d audit or honor enrollments to the Master's track.", converted)
    if left_alone:
        logger.warning(
            "%d enrollments in another paid mode cannot move to the Master's track and are left as they are, e.g. %s.",
            len(left_alone),
            "; ".join(left_alone[:5]),
        )
    if dry_run:
        return results

    with transaction.atomic():
        new_uuids: dict[tuple[int, int], str] = {}
        if to_enroll:
            outcomes = enrollments_api.bulk_enroll(
                [request for _pair, request, _o in to_enroll], skip_access_checks=True
            )
            for (pair, _request, _outcome), enrolled in zip(to_enroll, outcomes, strict=True):
                if enrolled.status.is_success:
                    if results[pair].course_enrollment_id is None:
                        new_uuids[pair] = str(enrolled.enrollment.uuid)
                else:
                    run = wanted[pair][0]
                    results[pair] = _failed(run, pair[0], enrolled.status.value)
                    to_deactivate.discard(pair)
        if new_uuids:
            ids = course_enrollment_ids_by_uuid(new_uuids.values())
            for pair, uuid in new_uuids.items():
                old = results[pair]
                results[pair] = MastersResult(old.outcome, ids[uuid], old.mode, old.is_active)
        if to_deactivate:
            enrollments_api.bulk_unenroll(existing[pair].uuid for pair in to_deactivate)
    return results


def _result(outcome: str, enrollment: EnrollmentState, is_active: bool) -> MastersResult:
    return MastersResult(outcome, enrollment.id, enrollment.mode, is_active)


def _failed(run: Any, user_id: int, reason: str) -> MastersResult:
    logger.error("Could not enroll user %s in the Master's track of %s: %s.", user_id, run.course_key, reason)
    return MastersResult(f"{MastersOutcome.FAILED}:{reason}", None)
