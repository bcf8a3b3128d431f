"""Bulk writes of program and program-course enrollments, keyed by the university's student keys.

Public through ``rollbook.programs.api``. Set-based: requests are grouped by normalised student key,
existing rows are read in one query per batch of ``settings.BULK_BATCH_SIZE`` keys, new rows are
inserted and changed rows updated in batches with their history rows (``core.bulk``), and course
enrollments of linked students go through ``enrollments.api`` in bulk. The number of SQL statements
grows with the number of batches, not of requests (course-staff role changes of linked students are the
exception: one grant or revoke per changed role, as ``core.api`` offers no bulk form).
"""

from __future__ import annotations

import logging
import uuid as uuid_module
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from rollbook.core import api as core_api
from rollbook.core.bulk import batch_size, batches, insert_with_history, paused_gc, update_with_history
from rollbook.core.data import Scope, ScopeKind
from rollbook.core.errors import Conflict, InvalidInput
from rollbook.core.normalise import normalise_key
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollRequest
from rollbook.identity import api as identity_api
from rollbook.programs.data import (
    PROGRAM_COURSE_ENROLLMENT_STATUSES,
    PROGRAM_ENROLLMENT_STATUSES,
    CourseStaffRole,
    MastersOutcome,
    ProgramCourseEnrollmentRequest,
    ProgramCourseEnrollmentStatus,
    ProgramEnrollmentRequest,
    WriteAction,
    WriteError,
    WriteReport,
)
from rollbook.programs.masters import enroll_in_masters_track
from rollbook.programs.models import (
    KEY_MAX_LENGTH,
    CourseStaffAssignment,
    Program,
    ProgramCourseEnrollment,
    ProgramEnrollment,
    ProgramOrganization,
)
from rollbook.programs.setup import _program, course_run_in_program

logger = logging.getLogger(__name__)

ACTIVE = ProgramCourseEnrollmentStatus.ACTIVE.value
INACTIVE = ProgramCourseEnrollmentStatus.INACTIVE.value
_PE_UPDATED_FIELDS = ["status", "modified"]
_PCE_UPDATED_FIELDS = ["status", "course_enrollment", "modified"]


@dataclass(slots=True)
class _Candidate:
    """A request whose student key is unique in the call and well-formed."""

    key: str  # as given
    normalized: str
    request: Any


class _Outcomes:
    """Results and actions of one call, keyed by each request's key as given."""

    def __init__(self) -> None:
        self.results: dict[str, str] = {}
        self.actions: dict[str, str] = {}
        self.course_enrollments: dict[str, str] = {}

    def refuse(self, key: str, error: WriteError) -> None:
        self.results[key] = error.value
        self.actions[key] = WriteAction.REFUSED.value

    def done(self, key: str, status: str, action: WriteAction) -> None:
        self.results[key] = status
        self.actions[key] = action.value

    def report(self, dry_run: bool) -> WriteReport:
        return WriteReport(self.results, self.actions, self.course_enrollments, dry_run)


def _check_flags(create: bool, update: bool) -> None:
    if not (create or update):
        raise InvalidInput("At least one of create or update must be true.")


def _group_by_key(requests: Sequence[Any], outcomes: _Outcomes) -> list[_Candidate]:
    """Candidates for the requests whose key is well-formed and appears once (ignoring case); the others
    are reported ``duplicated`` (every copy) or ``illegal-operation`` (blank or over-long keys)."""
    normalized_keys = []
    for request in requests:
        key = request.external_user_key
        if not isinstance(key, str):
            raise InvalidInput({"external_user_key": [f"A student key must be text, not {type(key).__name__}."]})
        normalized_keys.append(normalise_key(key))
    counts = Counter(normalized_keys)
    candidates = []
    for request, normalized in zip(requests, normalized_keys, strict=True):
        key = request.external_user_key
        if counts[normalized] > 1:
            outcomes.refuse(key, WriteError.DUPLICATED)
        elif not normalized or len(key) > KEY_MAX_LENGTH:
            outcomes.refuse(key, WriteError.ILLEGAL_OPERATION)
        else:
            candidates.append(_Candidate(key, normalized, request))
    return candidates


def _identity_provider_slugs(program: Program) -> list[str]:
    """Slugs of the enabled identity providers of the program's first authoring organization, oldest first."""
    return [
        slug
        for slug in ProgramOrganization.objects.filter(
            program=program, position=0, organization__identity_providers__enabled=True
        )
        .order_by("organization__identity_providers__pk")
        .values_list("organization__identity_providers__slug", flat=True)
        if slug
    ]


def _linked_user_ids(provider_slugs: Sequence[str], normalized_keys: Sequence[str]) -> dict[str, int]:
    """``{normalised key: user id}`` of the keys linked at one of the providers (the first provider wins)."""
    found: dict[str, int] = {}
    if not normalized_keys:
        return found
    for slug in provider_slugs:
        missing = [key for key in normalized_keys if key not in found]
        if not missing:
            break
        for key, user in identity_api.users_for_external_keys(slug, missing).items():
            found.setdefault(key, user.pk)
    return found


# --- program enrollments ---------------------------------------------------------------------------


def write_program_enrollments(
    program: Program | str | uuid_module.UUID,
    requests: Iterable[ProgramEnrollmentRequest],
    *,
    create: bool,
    update: bool,
    dry_run: bool = False,
) -> dict[str, str]:
    """Create and/or update the program's enrollments; return ``{key as given: written status or WriteError}``.

    See ``write_program_enrollments_report``, whose ``results`` this returns.
    """
    return write_program_enrollments_report(program, requests, create=create, update=update, dry_run=dry_run).results


def write_program_enrollments_report(
    program: Program | str | uuid_module.UUID,
    requests: Iterable[ProgramEnrollmentRequest],
    *,
    create: bool,
    update: bool,
    dry_run: bool = False,
) -> WriteReport:
    """Create (``create``) and/or update (``update``) the program's enrollments of these student keys.

    Keys match existing enrollments ignoring case (and surrounding blanks) and are stored as given on
    create. Per key, the result is the written status, or:

    - ``duplicated``: the key (ignoring case) appears more than once in the call; every copy is refused;
    - ``illegal-operation``: a blank or over-long key, a curriculum uuid that is malformed or not one
      of the program's, no curriculum given for a new enrollment while the program has no active one;
    - ``invalid-status``: the status is not one of enrolled, pending, suspended, canceled, ended;
    - ``conflict``: the enrollment exists and ``update`` is false, or (creating) the account linked to
      the key already has an enrollment in the program under another key;
    - ``not-in-program``: the enrollment does not exist and ``create`` is false.

    A new enrollment goes to the request's curriculum, else the program's first active curriculum, and
    is linked to the account the key is linked to at an enabled identity provider of the program's first
    authoring organization (unlinked when there is none). An update changes the status only (the
    curriculum stays). ``dry_run`` writes nothing and reports what would happen. Raises InvalidInput
    when both flags are false or a key is not text, NotFound for an unknown program, Conflict when a
    concurrent write made the same enrollment first; all or nothing, in one transaction.
    """
    _check_flags(create, update)
    program = _program(program)
    requests = list(requests)
    outcomes = _Outcomes()
    now = timezone.now()
    with transaction.atomic(), paused_gc():
        candidates = _group_by_key(requests, outcomes)
        curricula = {str(curriculum.uuid): curriculum.pk for curriculum in program.curricula.all()}
        default_curriculum = (
            program.curricula.filter(is_active=True).order_by("created", "pk").values_list("pk", flat=True).first()
        )
        valid: list[tuple[_Candidate, int | None]] = []
        for candidate in candidates:
            request = candidate.request
            if not isinstance(request.status, str) or request.status not in PROGRAM_ENROLLMENT_STATUSES:
                outcomes.refuse(candidate.key, WriteError.INVALID_STATUS)
                continue
            curriculum_id = _curriculum_id(request.curriculum_uuid, curricula, default_curriculum)
            if curriculum_id is None and request.curriculum_uuid is not None:
                outcomes.refuse(candidate.key, WriteError.ILLEGAL_OPERATION)
                continue
            valid.append((candidate, curriculum_id))

        to_update: list[ProgramEnrollment] = []
        new: list[tuple[_Candidate, int]] = []
        for batch in batches(valid):
            existing_rows = ProgramEnrollment.objects.filter(
                program=program, external_user_key_normalized__in=[candidate.normalized for candidate, _ in batch]
            )
            if not dry_run:
                existing_rows = existing_rows.select_for_update(of=("self",))
            existing = {row.external_user_key_normalized: row for row in existing_rows}
            for candidate, curriculum_id in batch:
                status = candidate.request.status
                enrollment = existing.get(candidate.normalized)
                if enrollment is not None:
                    if not update:
                        outcomes.refuse(candidate.key, WriteError.CONFLICT)
                    elif enrollment.status == status:
                        outcomes.done(candidate.key, status, WriteAction.UNCHANGED)
                    else:
                        enrollment.status = status
                        enrollment.modified = now
                        to_update.append(enrollment)
                        outcomes.done(candidate.key, status, WriteAction.UPDATED)
                elif not create:
                    outcomes.refuse(candidate.key, WriteError.NOT_IN_PROGRAM)
                elif curriculum_id is None:
                    outcomes.refuse(candidate.key, WriteError.ILLEGAL_OPERATION)
                else:
                    new.append((candidate, curriculum_id))

        to_create: list[dict[str, Any]] = []
        users = _linked_user_ids(_identity_provider_slugs(program), [candidate.normalized for candidate, _ in new])
        users_taken = _users_enrolled(program, set(users.values()))
        user_counts = Counter(users.values())
        for candidate, curriculum_id in new:
            user_id = users.get(candidate.normalized)
            if user_id is not None and (user_id in users_taken or user_counts[user_id] > 1):
                outcomes.refuse(candidate.key, WriteError.CONFLICT)
                continue
            to_create.append(
                {
                    "program_id": program.pk,
                    "curriculum_id": curriculum_id,
                    "user_id": user_id,
                    "external_user_key": candidate.key,
                    "external_user_key_normalized": candidate.normalized,
                    "status": candidate.request.status,
                    "created": now,
                    "modified": now,
                }
            )
            outcomes.done(candidate.key, candidate.request.status, WriteAction.CREATED)
        if not dry_run:
            try:
                with transaction.atomic():
                    insert_with_history(ProgramEnrollment, to_create, history_date=now)
                    update_with_history(to_update, _PE_UPDATED_FIELDS, history_date=now)
            except IntegrityError:
                raise Conflict("Another write enrolled some of these students at the same time; try again.") from None
    return outcomes.report(dry_run)


def _users_enrolled(program: Program, user_ids: set[int]) -> set[int]:
    """The users among ``user_ids`` who already have an enrollment in the program, one query per batch."""
    taken: set[int] = set()
    for batch in batches(sorted(user_ids)):
        taken.update(
            ProgramEnrollment.objects.filter(program=program, user_id__in=batch).values_list("user_id", flat=True)
        )
    return taken


def _curriculum_id(value: object, curricula: dict[str, int], default: int | None) -> int | None:
    """The curriculum a request names (None when it names a malformed or foreign one), else the default."""
    if value is None:
        return default
    try:
        wanted = value if isinstance(value, uuid_module.UUID) else uuid_module.UUID(str(value).strip())
    except ValueError:
        return None
    return curricula.get(str(wanted))


# --- program-course enrollments ---------------------------------------------------------------------


def write_program_course_enrollments(
    program: Program | str | uuid_module.UUID,
    course_key: str | CourseKey,
    requests: Iterable[ProgramCourseEnrollmentRequest],
    *,
    create: bool,
    update: bool,
    dry_run: bool = False,
) -> dict[str, str]:
    """Create and/or update the program's enrollments in one run; return ``{key as given: status or WriteError}``.

    See ``write_program_course_enrollments_report``, whose ``results`` this returns.
    """
    return write_program_course_enrollments_report(
        program, course_key, requests, create=create, update=update, dry_run=dry_run
    ).results


@dataclass(slots=True)
class _CourseWrite:
    """A program-course request that will be written."""

    candidate: _Candidate
    program_enrollment_id: int
    user_id: int | None
    enrollment: ProgramCourseEnrollment | None  # None: to create
    shares_course_enrollment: bool  # the student's account is active in the run through another program
    course_enrollment_id: int | None = None  # the course enrollment to record (set when realised)
    program_course_enrollment_id: int | None = None  # set once saved


def write_program_course_enrollments_report(
    program: Program | str | uuid_module.UUID,
    course_key: str | CourseKey,
    requests: Iterable[ProgramCourseEnrollmentRequest],
    *,
    create: bool,
    update: bool,
    dry_run: bool = False,
) -> WriteReport:
    """Create (``create``) and/or update (``update``) the program's enrollments in the run ``course_key``.

    The run must exist and belong to the program: InvalidInput for a malformed key, NotFound otherwise
    (before anything else is looked at). Keys match ignoring case. Per key, the result is the written
    status (active / inactive), or:

    - ``duplicated``: the key (ignoring case) appears more than once in the call; every copy is refused;
    - ``illegal-operation``: a blank or over-long key, or a linked student who cannot be enrolled in the
      run's Master's track (the run offers no masters mode);
    - ``invalid-status``: the status is not active or inactive;
    - ``not-in-program``: the key has no enrollment in the program;
    - ``conflict``: ``active`` is asked while the student (same key ignoring case, or same account) is
      active in this run through another program — even on update; or the enrollment exists and
      ``update`` is false;
    - ``not-found``: the enrollment does not exist and ``create`` is false.

    Program-course status is independent of program status. For a student linked to an account, a new
    enrollment puts the account in the run's Master's track (``enroll_in_masters_track``: audit/honor
    converted, other paid modes left alone and logged, no enrollment → enrolled in masters without
    access checks, inactive → deactivated) and records the course enrollment; a status change
    activates or deactivates that course enrollment (an unrealised one goes through the Master's track).
    ``course_staff`` true gives a linked student the course-staff role on the run (an unlinked one a
    pending staff assignment, turned into the role when linked); false removes the role and any
    assignment; None leaves them. ``dry_run`` writes nothing and reports what would happen. Raises
    InvalidInput when both flags are false, a key is not text or course_staff is not a boolean or None;
    Conflict when a concurrent write got there first; all or nothing, in one transaction.
    """
    _check_flags(create, update)
    program = _program(program)
    run = course_run_in_program(program, course_key)
    requests = list(requests)
    for request in requests:
        if request.course_staff is not None and not isinstance(request.course_staff, bool):
            raise InvalidInput({"course_staff": ["Must be true, false or null."]})
    outcomes = _Outcomes()
    now = timezone.now()
    with transaction.atomic(), paused_gc():
        candidates = []
        for candidate in _group_by_key(requests, outcomes):
            status = candidate.request.status
            if not isinstance(status, str) or status not in PROGRAM_COURSE_ENROLLMENT_STATUSES:
                outcomes.refuse(candidate.key, WriteError.INVALID_STATUS)
            else:
                candidates.append(candidate)

        writes: list[_CourseWrite] = []
        for batch in batches(candidates):
            writes.extend(_classify_course_batch(program, run, batch, create, update, dry_run, outcomes))

        _apply_course_enrollments(run, writes, outcomes, dry_run)
        # What remains is written (refused keys were dropped above).
        writes = [write for write in writes if outcomes.actions.get(write.candidate.key) != WriteAction.REFUSED]
        if not dry_run:
            try:
                with transaction.atomic():
                    _save_course_writes(run, writes, now)
                    _apply_course_staff(run, writes)
            except IntegrityError:
                raise Conflict("Another write changed some of these enrollments at the same time; try again.") from None
    return outcomes.report(dry_run)


def _classify_course_batch(
    program: Program,
    run: Any,
    batch: Sequence[_Candidate],
    create: bool,
    update: bool,
    dry_run: bool,
    outcomes: _Outcomes,
) -> list[_CourseWrite]:
    """Look one batch of keys up (three queries) and decide, per key, to refuse, create or update."""
    normalized = [candidate.normalized for candidate in batch]
    program_enrollments = {
        key: (pk, user_id)
        for pk, key, user_id in ProgramEnrollment.objects.filter(
            program=program, external_user_key_normalized__in=normalized
        ).values_list("pk", "external_user_key_normalized", "user_id")
    }
    rows = ProgramCourseEnrollment.objects.filter(
        course_run_id=run.pk, program_enrollment_id__in=[pk for pk, _user in program_enrollments.values()]
    )
    if not dry_run:
        rows = rows.select_for_update(of=("self",))
    existing = {row.program_enrollment_id: row for row in rows}
    user_ids = [user_id for _pk, user_id in program_enrollments.values() if user_id is not None]
    elsewhere = Q(program_enrollment__external_user_key_normalized__in=normalized)
    if user_ids:
        elsewhere |= Q(program_enrollment__user_id__in=user_ids)
    active_elsewhere_keys: set[str] = set()
    active_elsewhere_users: set[int] = set()
    for key, user_id in (
        ProgramCourseEnrollment.objects.filter(elsewhere, course_run_id=run.pk, status=ACTIVE)
        .exclude(program_enrollment__program=program)
        .values_list("program_enrollment__external_user_key_normalized", "program_enrollment__user_id")
    ):
        active_elsewhere_keys.add(key)
        if user_id is not None:
            active_elsewhere_users.add(user_id)

    writes = []
    for candidate in batch:
        found = program_enrollments.get(candidate.normalized)
        if found is None:
            outcomes.refuse(candidate.key, WriteError.NOT_IN_PROGRAM)
            continue
        program_enrollment_id, user_id = found
        status = candidate.request.status
        account_active_elsewhere = user_id is not None and user_id in active_elsewhere_users
        enrollment = existing.get(program_enrollment_id)
        if status == ACTIVE and (account_active_elsewhere or candidate.normalized in active_elsewhere_keys):
            outcomes.refuse(candidate.key, WriteError.CONFLICT)
        elif enrollment is not None:
            if not update:
                outcomes.refuse(candidate.key, WriteError.CONFLICT)
                continue
            action = WriteAction.UNCHANGED if enrollment.status == status else WriteAction.UPDATED
            outcomes.done(candidate.key, status, action)
            writes.append(
                _CourseWrite(
                    candidate,
                    program_enrollment_id,
                    user_id,
                    enrollment,
                    account_active_elsewhere,
                    enrollment.course_enrollment_id,
                )
            )
        elif not create:
            outcomes.refuse(candidate.key, WriteError.NOT_FOUND)
        else:
            outcomes.done(candidate.key, status, WriteAction.CREATED)
            writes.append(_CourseWrite(candidate, program_enrollment_id, user_id, None, account_active_elsewhere))
    return writes


def _apply_course_enrollments(run: Any, writes: list[_CourseWrite], outcomes: _Outcomes, dry_run: bool) -> None:
    """Realise the writes as course enrollments of linked students (or, in a dry run, find which would fail).

    New and unrealised enrollments go through the Master's track; realised ones whose status changes have
    their course enrollment activated or deactivated. Students refused here are marked in ``outcomes``.
    """
    masters_writes: list[_CourseWrite] = []
    toggles: list[_CourseWrite] = []
    users_seen: set[int] = set()
    for write in writes:
        # A student active in the run through another program keeps that course enrollment as it is.
        if write.user_id is None or write.shares_course_enrollment:
            continue
        status = write.candidate.request.status
        if write.enrollment is not None and write.enrollment.status == status:
            continue
        if write.user_id in users_seen:
            # One account behind two of the program's enrollments (two curricula) has one course enrollment.
            outcomes.refuse(write.candidate.key, WriteError.CONFLICT)
            continue
        users_seen.add(write.user_id)
        if write.enrollment is None or write.enrollment.course_enrollment_id is None:
            masters_writes.append(write)
        else:
            toggles.append(write)

    masters = enroll_in_masters_track(
        [(write.user_id, run, write.candidate.request.status) for write in masters_writes], dry_run=dry_run
    )
    for write in masters_writes:
        result = masters[(write.user_id, run.pk)]
        outcomes.course_enrollments[write.candidate.key] = result.outcome
        if result.outcome.startswith(MastersOutcome.FAILED):
            outcomes.refuse(write.candidate.key, WriteError.ILLEGAL_OPERATION)
        else:
            write.course_enrollment_id = result.course_enrollment_id
    if toggles:
        _toggle_course_enrollments(run, toggles, outcomes, dry_run)


def _toggle_course_enrollments(run: Any, toggles: list[_CourseWrite], outcomes: _Outcomes, dry_run: bool) -> None:
    """Activate or deactivate the course enrollments behind these status changes (two bulk calls at most)."""
    ids = [write.enrollment.course_enrollment_id for write in toggles]
    found: dict[int, tuple[Any, int, bool]] = {}
    for batch in batches(ids):
        rows = enrollments_api.enrollments_queryset().filter(pk__in=batch)
        found.update(
            (pk, (uuid, user_id, is_active))
            for pk, uuid, user_id, is_active in rows.values_list("pk", "uuid", "user_id", "is_active")
        )
    to_activate: list[_CourseWrite] = []
    to_deactivate: list[Any] = []
    for write in toggles:
        write.course_enrollment_id = write.enrollment.course_enrollment_id
        uuid, _user_id, is_active = found[write.course_enrollment_id]
        if write.candidate.request.status == ACTIVE and not is_active:
            to_activate.append(write)
            outcomes.course_enrollments[write.candidate.key] = "activated"
        elif write.candidate.request.status == INACTIVE and is_active:
            to_deactivate.append(uuid)
            outcomes.course_enrollments[write.candidate.key] = MastersOutcome.DEACTIVATED.value
    if dry_run:
        return
    if to_activate:
        requests = [
            EnrollRequest(str(run.course_key), user_id=found[write.course_enrollment_id][1]) for write in to_activate
        ]
        for write, result in zip(
            to_activate, enrollments_api.bulk_enroll(requests, skip_access_checks=True), strict=True
        ):
            if not result.status.is_success:
                logger.error(
                    "Could not reactivate course enrollment %s for %s: %s.",
                    write.course_enrollment_id,
                    run.course_key,
                    result.status,
                )
                outcomes.course_enrollments[write.candidate.key] = f"{MastersOutcome.FAILED}:{result.status}"
    if to_deactivate:
        enrollments_api.bulk_unenroll(to_deactivate)


def _save_course_writes(run: Any, writes: list[_CourseWrite], now: Any) -> None:
    """Insert the new program-course enrollments and update the changed ones, with history rows."""
    new = [write for write in writes if write.enrollment is None]
    keys = insert_with_history(
        ProgramCourseEnrollment,
        [
            {
                "program_enrollment_id": write.program_enrollment_id,
                "course_run_id": run.pk,
                "course_enrollment_id": write.course_enrollment_id,
                "status": write.candidate.request.status,
                "created": now,
                "modified": now,
            }
            for write in new
        ],
        history_date=now,
    )
    for write, key in zip(new, keys, strict=True):
        write.program_course_enrollment_id = key
    changed = []
    for write in writes:
        enrollment = write.enrollment
        if enrollment is None:
            continue
        write.program_course_enrollment_id = enrollment.pk
        status = write.candidate.request.status
        if enrollment.status != status or enrollment.course_enrollment_id != write.course_enrollment_id:
            enrollment.status = status
            enrollment.course_enrollment_id = write.course_enrollment_id
            enrollment.modified = now
            changed.append(enrollment)
    update_with_history(changed, _PCE_UPDATED_FIELDS, history_date=now)


def _apply_course_staff(run: Any, writes: list[_CourseWrite]) -> None:
    """Give or take the course-staff role (linked students) or pending assignment (unlinked ones) as asked."""
    staff = [write for write in writes if write.candidate.request.course_staff is not None]
    if not staff:
        return
    scope = Scope(ScopeKind.COURSE_RUN, str(run.course_key))
    linked = [write for write in staff if write.user_id is not None]
    held: set[int] = set()
    if linked:
        roles = core_api.roles_by_user(write.user_id for write in linked)
        held = {user_id for user_id, assignments in roles.items() if (core_api.Role.COURSE_STAFF, scope) in assignments}
    users = _users_of(
        write.program_enrollment_id
        for write in linked
        if write.candidate.request.course_staff != (write.user_id in held)
    )
    for write in linked:
        wanted = write.candidate.request.course_staff
        if wanted and write.user_id not in held:
            core_api.grant(users[write.user_id], core_api.Role.COURSE_STAFF, scope)
        elif not wanted and write.user_id in held:
            core_api.revoke(users[write.user_id], core_api.Role.COURSE_STAFF, scope)
    # Assignments wait for unlinked students only; a linked student's role is real, so none of theirs remain.
    drop = [
        write.program_course_enrollment_id
        for write in staff
        if write.user_id is not None or not write.candidate.request.course_staff
    ]
    for batch in batches(drop):
        CourseStaffAssignment.objects.filter(program_course_enrollment_id__in=batch).delete()
    pending = [
        write.program_course_enrollment_id
        for write in staff
        if write.user_id is None and write.candidate.request.course_staff
    ]
    CourseStaffAssignment.objects.bulk_create(
        [CourseStaffAssignment(program_course_enrollment_id=pk, role=CourseStaffRole.STAFF) for pk in pending],
        batch_size=batch_size(),
        ignore_conflicts=True,
    )


def _users_of(program_enrollment_ids: Iterable[int]) -> dict[int, Any]:
    """``{user id: user}`` of the accounts linked to these program enrollments, one query per batch."""
    ids = sorted(set(program_enrollment_ids))
    found: dict[int, Any] = {}
    for batch in batches(ids):
        rows = ProgramEnrollment.objects.filter(pk__in=batch, user__isnull=False).select_related("user")
        found.update((row.user_id, row.user) for row in rows)
    return found
