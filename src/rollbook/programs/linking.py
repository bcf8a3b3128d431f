"""Linking program students (the university's student keys) to Rollbook accounts.

Public through ``rollbook.programs.api``:

- ``link_program_enrollments(program, {key: username})``: an operator's or a partner's explicit links
  (the upstream ``link_program_enrollments`` command, for universities without an identity provider);
- ``link_waiting_enrollments(provider_slug, organization_id, key, user_id)``: the *realization* run when
  an SSO link ``provider:key`` is saved (``programs.signals`` subscribes it to ``identity.signals
  .sso_link_saved``): every waiting enrollment with that key in a program whose first authoring
  organization owns the provider is linked to the account.

Linking an enrollment to an account (either way):

1. when the enrollment was linked to another account, that account's course enrollments behind the
   enrollment's program-course enrollments are deactivated (no refund) and moved to ``audit`` when the
   run offers it, and detached from the program-course enrollments;
2. the enrollment gets the account;
3. every program-course enrollment of the enrollment is realised through the Master's track
   (``masters.enroll_in_masters_track`` with the program-course status: audit/honor converted, other
   paid modes left alone, no enrollment → enrolled in masters, inactive → deactivated) and records the
   course enrollment, except where the account is already active in that run through another program
   (one active program-course enrollment per learner and run): that one stays unrealised, and logged;
4. pending course-staff assignments become ``course_staff`` roles on their runs and are deleted.

Each student key is its own transaction: a key that fails (the run offers no masters mode, a
concurrent writer...) is rolled back alone and reported; the others stay linked. Keys are written
set-based a batch (``settings.BULK_BATCH_SIZE`` keys) at a time; only when a batch fails are its keys
retried one by one, to tell the failing keys from the others.
"""

from __future__ import annotations

import logging
import uuid as uuid_module
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSlug
from rollbook.core import api as core_api
from rollbook.core.bulk import batches, update_with_history
from rollbook.core.data import Scope, ScopeKind
from rollbook.core.errors import InvalidInput, NotFound, RollbookError
from rollbook.core.normalise import normalise_key
from rollbook.enrollments import api as enrollments_api
from rollbook.identity import api as identity_api
from rollbook.programs.data import MastersOutcome, ProgramCourseEnrollmentStatus
from rollbook.programs.masters import enroll_in_masters_track
from rollbook.programs.models import (
    CourseStaffAssignment,
    Program,
    ProgramCourseEnrollment,
    ProgramEnrollment,
)
from rollbook.programs.setup import _program

logger = logging.getLogger(__name__)

__all__ = ["WaitingLinkResult", "link_program_enrollments", "link_waiting_enrollments"]

AUDIT = ModeSlug.AUDIT.value
ACTIVE = ProgramCourseEnrollmentStatus.ACTIVE.value


@dataclass(frozen=True, slots=True)
class WaitingLinkResult:
    """What the realization did with one waiting program enrollment: linked (``error`` None) or not, and why."""

    program_uuid: uuid_module.UUID
    external_user_key: str
    error: str | None = None

    @property
    def linked(self) -> bool:
        """True when the enrollment is now linked to the account."""
        return self.error is None


class _LinkFailed(RollbookError):
    """A planned link could not be written; ``errors`` says which keys failed and why."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))


@dataclass(frozen=True, slots=True)
class _Request:
    """One key to link: the key as given, the username as given, and the account (None: no such user)."""

    key: str
    username: str
    user: Any


@dataclass(slots=True)
class _Link:
    """A checked link about to be written."""

    key: str
    enrollment: ProgramEnrollment
    user: Any


# What a failed key's transaction may raise and still leave the other keys to be linked.
_KEY_FAILURES = (DatabaseError, RollbookError)


# --- explicit links --------------------------------------------------------------------------------


def link_program_enrollments(
    program: Program | str | uuid_module.UUID, key_to_username: Mapping[str, str]
) -> dict[str, str]:
    """Link the program's enrollments of these student keys to the accounts with these usernames.

    Returns errors only, ``{key as given: message}``; a key absent from the result is linked. A key
    fails when: no user has the username (exact match); the program has no enrollment with the key
    (keys match ignoring case and surrounding blanks); the enrollment is already linked to that same
    account; the key is given twice ignoring case (every copy fails); the account is named for more
    than one key, or is already linked to another enrollment of the program; or writing fails (e.g. a
    run of the student's program-course enrollments offers no masters mode). An enrollment linked to
    another account is moved to this one (see the module documentation for what linking does).

    Each key is its own transaction, so one failure undoes nothing else. Set-based per batch of
    ``settings.BULK_BATCH_SIZE`` keys: the statement count grows with batches (plus one role grant per
    pending staff assignment and a few statements per course enrollment taken from a previously linked
    account). Raises NotFound for an unknown program and InvalidInput when a key or username is not text.
    """
    program = _program(program)
    pairs = list(key_to_username.items())
    for key, username in pairs:
        if not isinstance(key, str) or not isinstance(username, str):
            raise InvalidInput({"key_to_username": ["Student keys and usernames must be text."]})
    errors: dict[str, str] = {}
    counts = Counter(normalise_key(key) for key, _username in pairs)
    wanted: list[tuple[str, str]] = []
    for key, username in pairs:
        if not normalise_key(key):
            errors[key] = "A student key is required."
        elif counts[normalise_key(key)] > 1:
            errors[key] = "The student key is given more than once (keys match ignoring case)."
        else:
            wanted.append((key, username))

    users = _users_by_username(username for _key, username in wanted)
    requests = [_Request(key, username, users.get(username.strip())) for key, username in wanted]
    for batch in batches(requests):
        errors.update(_link_each_key(program, batch))
    return errors


def _users_by_username(usernames: Iterable[str]) -> dict[str, Any]:
    """``{username: user}`` for the usernames (trimmed, exact) that name a user; one query per batch."""
    found = identity_api.users_by_identifiers(usernames)
    # users_by_identifiers also accepts emails; only usernames count here.
    return {user.username: user for value, user in found.items() if user.username == value.strip()}


def _link_each_key(program: Program, requests: Sequence[_Request], *, waiting_only: bool = False) -> dict[str, str]:
    """Link the keys together in one transaction; return the errors.

    When the transaction fails for keys it can name (``_LinkFailed``), those keys are reported and the
    others tried together again; when it fails otherwise, every remaining key gets its own transaction.
    """
    errors: dict[str, str] = {}
    pending = list(requests)
    while pending:
        try:
            with transaction.atomic():
                errors.update(_link_keys(program, pending, waiting_only=waiting_only))
            return errors
        except _LinkFailed as exc:
            failed = [request for request in pending if request.key in exc.errors]
            if not failed:
                break
            for request in failed:
                errors[request.key] = _failure_message(program, request, exc)
            pending = [request for request in pending if request.key not in exc.errors]
        except _KEY_FAILURES as exc:
            if len(pending) == 1:
                errors[pending[0].key] = _failure_message(program, pending[0], exc)
                return errors
            logger.info(
                "Linking %d keys of program %s at once failed (%s); linking them one by one.",
                len(pending),
                program.uuid,
                exc,
            )
            break
    for request in pending:
        try:
            with transaction.atomic():
                errors.update(_link_keys(program, [request], waiting_only=waiting_only))
        except _KEY_FAILURES as exc:
            errors[request.key] = _failure_message(program, request, exc)
    return errors


def _failure_message(program: Program, request: _Request, exc: Exception) -> str:
    logger.warning(
        "Could not link student key %r of program %s to %s; rolled back: %s",
        request.key,
        program.uuid,
        request.username,
        exc,
    )
    if isinstance(exc, _LinkFailed):
        return exc.errors.get(request.key) or str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _link_keys(program: Program, requests: Sequence[_Request], *, waiting_only: bool) -> dict[str, str]:
    """Check and link these keys in the current transaction; return the errors of the keys refused.

    Raises when a checked link cannot be written (``_LinkFailed``, database errors): the caller rolls back.
    """
    now = timezone.now()
    normalized = {request.key: normalise_key(request.key) for request in requests}
    enrollments = {
        enrollment.external_user_key_normalized: enrollment
        for enrollment in ProgramEnrollment.objects.select_for_update(of=("self",))
        .filter(program=program, external_user_key_normalized__in=list(normalized.values()))
        .select_related("user")
    }
    user_ids = {request.user.pk for request in requests if request.user is not None}
    keys_of_user: dict[int, str] = {}
    if user_ids:
        for user_id, key in ProgramEnrollment.objects.filter(program=program, user_id__in=user_ids).values_list(
            "user_id", "external_user_key"
        ):
            keys_of_user[user_id] = key
    named = Counter(
        request.user.pk for request in requests if request.user is not None and normalized[request.key] in enrollments
    )

    errors: dict[str, str] = {}
    links: list[_Link] = []
    for request in requests:
        user = request.user
        enrollment = enrollments.get(normalized[request.key])
        if user is None:
            errors[request.key] = f"No user found with username {request.username!r}."
        elif enrollment is None:
            errors[request.key] = f"No enrollment in program {program.uuid} has the student key {request.key!r}."
        elif enrollment.user_id == user.pk:
            errors[request.key] = f"The student key {request.key!r} is already linked to the account {user.username}."
        elif waiting_only and enrollment.user_id is not None:
            errors[request.key] = f"The student key {request.key!r} was linked to another account meanwhile."
        elif named[user.pk] > 1:
            errors[request.key] = f"The account {user.username} is named for more than one student key."
        elif user.pk in keys_of_user:
            errors[request.key] = (
                f"The account {user.username} is already linked to the student key "
                f"{keys_of_user[user.pk]!r} in program {program.uuid}."
            )
        else:
            links.append(_Link(request.key, enrollment, user))
    if links:
        _write_links(links, now)
    return errors


def _write_links(links: Sequence[_Link], now: Any) -> None:
    """Relink, link, realise the program-course enrollments and the pending staff roles of these links."""
    enrollment_ids = [link.enrollment.pk for link in links]
    course_enrollments = list(
        ProgramCourseEnrollment.objects.select_for_update(of=("self",))
        .filter(program_enrollment_id__in=enrollment_ids)
        .select_related("course_run")
        .order_by("pk")
    )
    previously_linked = {link.enrollment.pk for link in links if link.enrollment.user_id is not None}
    detached = [
        row for row in course_enrollments if row.program_enrollment_id in previously_linked and row.course_enrollment_id
    ]
    _release_course_enrollments([row.course_enrollment_id for row in detached])
    for link in links:
        if link.enrollment.user_id is not None:
            logger.warning(
                "Moving the program enrollment %s (student key %r) from user %s to user %s.",
                link.enrollment.pk,
                link.key,
                link.enrollment.user_id,
                link.user.pk,
            )
    original_course_enrollment = {row.pk: row.course_enrollment_id for row in course_enrollments}
    for row in detached:
        row.course_enrollment_id = None

    for link in links:
        link.enrollment.user = link.user
        link.enrollment.modified = now
    update_with_history([link.enrollment for link in links], ["user", "modified"], history_date=now)

    link_by_enrollment = {link.enrollment.pk: link for link in links}
    _realise_course_enrollments(course_enrollments, link_by_enrollment)
    changed = [row for row in course_enrollments if row.course_enrollment_id != original_course_enrollment[row.pk]]
    for row in changed:
        row.modified = now
    update_with_history(changed, ["course_enrollment", "modified"], history_date=now)
    _grant_pending_staff_roles(course_enrollments, link_by_enrollment)


def _release_course_enrollments(course_enrollment_ids: Sequence[int]) -> None:
    """Deactivate the course enrollments a previous account held through the program (no refund: Rollbook
    keeps no payments here) and move them to ``audit`` when their run offers it, as upstream does.

    One enrollment update per course enrollment: relinking corrects a mistaken link and is rare.
    """
    if not course_enrollment_ids:
        return
    rows = []
    for batch in batches(list(course_enrollment_ids)):
        rows.extend(
            enrollments_api.enrollments_queryset()
            .filter(pk__in=batch)
            .values_list("uuid", "course_run_id", "mode", "is_active")
        )
    offered = catalog_api.mode_slugs_by_run({run_id for _uuid, run_id, _mode, _active in rows})
    for enrollment_uuid, run_id, mode, is_active in rows:
        slugs = offered.get(run_id) or {AUDIT}  # a run listing no modes offers audit
        new_mode = AUDIT if AUDIT in slugs and mode != AUDIT else None
        if new_mode is not None or is_active:
            enrollments_api.update_enrollment(enrollment_uuid, mode=new_mode, is_active=False, skip_access_checks=True)


def _realise_course_enrollments(course_enrollments: Sequence[ProgramCourseEnrollment], links: dict[int, _Link]) -> None:
    """Put each newly linked account in the Master's track of its program-course enrollments' runs and
    record the course enrollments on the rows (in memory). Raises _LinkFailed for the keys that cannot be."""
    if not course_enrollments:
        return
    active_elsewhere = _active_elsewhere(course_enrollments, links)
    items = []
    for row in course_enrollments:
        user_id = links[row.program_enrollment_id].user.pk
        if (user_id, row.course_run_id) in active_elsewhere:
            logger.warning(
                "User %s is active in %s through another program; the program-course enrollment %s stays unrealised.",
                user_id,
                row.course_run.course_key,
                row.pk,
            )
            continue
        items.append((user_id, row.course_run, row.status))
    results = enroll_in_masters_track(items)
    failed: dict[str, str] = {}
    for row in course_enrollments:
        link = links[row.program_enrollment_id]
        result = results.get((link.user.pk, row.course_run_id))
        if result is None:
            continue
        if result.outcome.startswith(MastersOutcome.FAILED):
            reason = result.outcome.partition(":")[2] or "unknown"
            failed[link.key] = (
                f"Could not enroll the account in the masters mode of {row.course_run.course_key} ({reason})."
            )
        else:
            row.course_enrollment_id = result.course_enrollment_id
    if failed:
        raise _LinkFailed(failed)


def _active_elsewhere(
    course_enrollments: Sequence[ProgramCourseEnrollment], links: dict[int, _Link]
) -> set[tuple[int, int]]:
    """The (user id, run id) pairs of these rows where the user is active in the run through another program
    enrollment; one query per batch of users."""
    runs_by_user: dict[int, set[int]] = defaultdict(set)
    for row in course_enrollments:
        runs_by_user[links[row.program_enrollment_id].user.pk].add(row.course_run_id)
    found: set[tuple[int, int]] = set()
    for batch in batches(sorted(runs_by_user)):
        runs = sorted({run_id for user_id in batch for run_id in runs_by_user[user_id]})
        found.update(
            ProgramCourseEnrollment.objects.filter(
                status=ACTIVE, program_enrollment__user_id__in=list(batch), course_run_id__in=runs
            )
            .exclude(program_enrollment_id__in=list(links))
            .values_list("program_enrollment__user_id", "course_run_id")
        )
    return found


def _grant_pending_staff_roles(course_enrollments: Sequence[ProgramCourseEnrollment], links: dict[int, _Link]) -> None:
    """Turn the pending staff assignments of these rows into ``course_staff`` roles of the linked accounts,
    then delete them (one grant per assignment: ``core.api`` grants one role at a time)."""
    rows = {row.pk: row for row in course_enrollments}
    assignment_ids = []
    for batch in batches(list(rows)):
        for assignment_id, row_id in CourseStaffAssignment.objects.filter(
            program_course_enrollment_id__in=batch
        ).values_list("pk", "program_course_enrollment_id"):
            row = rows[row_id]
            user = links[row.program_enrollment_id].user
            core_api.grant(
                user, core_api.Role.COURSE_STAFF, Scope(ScopeKind.COURSE_RUN, str(row.course_run.course_key))
            )
            assignment_ids.append(assignment_id)
    for batch in batches(assignment_ids):
        CourseStaffAssignment.objects.filter(pk__in=batch).delete()


# --- realization -----------------------------------------------------------------------------------


def link_waiting_enrollments(
    provider_slug: str, organization_id: int | None, external_user_key: str, user_id: int
) -> list[WaitingLinkResult]:
    """Link every waiting program enrollment of ``external_user_key`` to the account ``user_id`` (realization).

    Called when the SSO link ``provider_slug:external_user_key`` of the account is saved (created or
    confirmed). A waiting enrollment (no account yet, any status) is linked when its key matches ignoring
    case and its program's first authoring organization is the provider's organization. The provider
    must exist, be enabled and belong to an organization; its organization as stored now is used
    (``organization_id``, what the link event carried, only serves the log when they differ).

    Each program's enrollment is linked in its own transaction; a failure is logged with the key and the
    program and undoes neither the SSO link nor the other programs' links. Returns one result per waiting
    enrollment found, in program enrollment order (empty when the provider does not qualify or the
    account does not exist). Raises nothing for bad data.
    """
    normalized = normalise_key(external_user_key) if isinstance(external_user_key, str) else ""
    if not normalized:
        return []
    try:
        provider = identity_api.get_identity_provider(provider_slug)
        user = identity_api.get_user(id=user_id)
    except (NotFound, InvalidInput) as exc:
        logger.warning("Not linking waiting program enrollments for %s: %s", provider_slug, exc)
        return []
    if not provider.enabled or provider.organization_id is None:
        logger.info(
            "Identity provider %s is disabled or has no organization; no program enrollment linked.", provider.slug
        )
        return []
    if organization_id is not None and organization_id != provider.organization_id:
        logger.info(
            "Identity provider %s moved from organization %s to %s; linking for the latter.",
            provider.slug,
            organization_id,
            provider.organization_id,
        )
    waiting = list(
        ProgramEnrollment.objects.filter(
            user__isnull=True,
            external_user_key_normalized=normalized,
            program__authoring_organizations__position=0,
            program__authoring_organizations__organization_id=provider.organization_id,
        )
        .select_related("program")
        .order_by("pk")
    )
    results = []
    for enrollment in waiting:
        request = _Request(enrollment.external_user_key, user.get_username(), user)
        try:
            errors = _link_each_key(enrollment.program, [request], waiting_only=True)
        except Exception as exc:  # one program's failure must not stop the others
            logger.exception(
                "Linking student key %r of program %s to user %s failed.", request.key, enrollment.program.uuid, user.pk
            )
            errors = {request.key: f"{type(exc).__name__}: {exc}"}
        error = errors.get(request.key)
        if error is not None:
            logger.error(
                "Student key %r of program %s was not linked to user %s: %s",
                request.key,
                enrollment.program.uuid,
                user.pk,
                error,
            )
        results.append(WaitingLinkResult(enrollment.program.uuid, enrollment.external_user_key, error))
    return results
