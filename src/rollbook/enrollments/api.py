"""Public API of the enrollments app: course enrollments and their modes.

Every write to enrollments goes through a function here (REST views, the admin, commands and other
apps call them). None of them checks who the caller is; callers decide that, and ask for the
learner-facing rules with ``free_modes_only`` and ``skip_access_checks``:

- the enrollment window (``catalog.api.is_enrollable``) is enforced whenever an enrollment becomes
  active (created or reactivated) unless ``skip_access_checks`` is true;
- a mode must be one the run offers (a run that offers no modes offers ``audit``); with
  ``free_modes_only`` it must also cost nothing.

Every call that changes enrollments sends ``signals.enrollments_changed`` once, after commit.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import DEFAULT_MODE
from rollbook.core import bulk
from rollbook.core.bulk import insert_with_history, paused_gc, update_with_history
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.enrollments.data import (
    BulkEnrollResult,
    ChangeKind,
    EnrollmentChange,
    EnrollmentData,
    EnrollmentState,
    EnrollRequest,
    EnrollStatus,
)
from rollbook.enrollments.models import CourseEnrollment
from rollbook.enrollments.signals import enrollments_changed

logger = logging.getLogger(__name__)

__all__ = [
    "bulk_enroll",
    "bulk_enroll_with_states",
    "bulk_unenroll",
    "change_mode",
    "enroll",
    "enroll_with_outcome",
    "enrollment_data",
    "enrollment_states",
    "enrollments_queryset",
    "get_enrollment",
    "get_enrollment_by_uuid",
    "get_enrollments",
    "is_enrolled",
    "offered_modes",
    "unenroll",
    "update_enrollment",
]

_UPDATED_FIELDS = ["mode", "is_active", "modified"]


# --- reading -------------------------------------------------------------------------------------


def enrollments_queryset() -> QuerySet[CourseEnrollment]:
    """Every enrollment, with its user and run joined in, for the REST layer and the admin to filter and page.

    Callers narrow it to what their caller may see; nothing is filtered here.
    """
    return CourseEnrollment.objects.select_related("user", "course_run")


def enrollment_data(enrollment: CourseEnrollment) -> EnrollmentData:
    """The data object for an enrollment row fetched through ``enrollments_queryset`` (no extra queries)."""
    return _data(enrollment, enrollment.user.get_username(), str(enrollment.course_run.course_key))


def get_enrollment(user: AbstractBaseUser, course_key: str | CourseKey) -> EnrollmentData | None:
    """The user's enrollment in the run, active or not; None when there is none (or no such run).

    Raises InvalidInput (field ``course_key``) when the key is malformed.
    """
    key = catalog_api.parse_course_key(course_key)
    enrollment = enrollments_queryset().filter(user=user, course_run__course_key=key).first()
    return enrollment_data(enrollment) if enrollment else None


def get_enrollment_by_uuid(enrollment_uuid: uuid.UUID | str) -> EnrollmentData:
    """The enrollment with this public identifier. Raises NotFound when there is none."""
    return enrollment_data(_fetch_by_uuid(enrollment_uuid, lock=False))


def is_enrolled(user: AbstractBaseUser, course_key: str | CourseKey) -> bool:
    """True when the user has an *active* enrollment in the run. Raises InvalidInput for a malformed key."""
    key = catalog_api.parse_course_key(course_key)
    return CourseEnrollment.objects.filter(user=user, course_run__course_key=key, is_active=True).exists()


def get_enrollments(
    *,
    user: AbstractBaseUser | None = None,
    course_keys: Iterable[str | CourseKey] | None = None,
    is_active: bool | None = None,
    modes: Collection[str] | None = None,
) -> list[EnrollmentData]:
    """Enrollments matching every filter given, oldest first, in one query.

    ``course_keys`` limits to those runs (malformed keys raise InvalidInput); ``is_active`` None means both.
    """
    queryset = enrollments_queryset()
    if user is not None:
        queryset = queryset.filter(user=user)
    if course_keys is not None:
        keys = [catalog_api.parse_course_key(key) for key in course_keys]
        queryset = queryset.filter(course_run__course_key__in=keys)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    if modes is not None:
        queryset = queryset.filter(mode__in=list(modes))
    return [enrollment_data(enrollment) for enrollment in queryset.order_by("created", "id")]


def offered_modes(course_key: str | CourseKey, *, free_only: bool = False) -> frozenset[str]:
    """The mode slugs one may enroll in for the run (``audit`` when it lists none); only free ones if asked.

    Raises InvalidInput (field ``course_key``) for a malformed key or an unknown run.
    """
    run = _run_or_invalid(course_key)
    offered = _offered(catalog_api.mode_slugs_by_run([run.pk])[run.pk])
    return _free_modes(run, offered) if free_only else offered


# --- writing one enrollment ----------------------------------------------------------------------


def enroll(
    user: AbstractBaseUser,
    course_key: str | CourseKey,
    mode: str | None = None,
    *,
    skip_access_checks: bool = False,
    free_modes_only: bool = False,
) -> EnrollmentData:
    """Make ``user`` actively enrolled in the run and return the enrollment (see ``enroll_with_outcome``)."""
    enrollment, _status = enroll_with_outcome(
        user, course_key, mode, skip_access_checks=skip_access_checks, free_modes_only=free_modes_only
    )
    return enrollment


def enroll_with_outcome(
    user: AbstractBaseUser,
    course_key: str | CourseKey,
    mode: str | None = None,
    *,
    skip_access_checks: bool = False,
    free_modes_only: bool = False,
) -> tuple[EnrollmentData, EnrollStatus]:
    """Make ``user`` actively enrolled in the run; return the enrollment and what was done.

    - No enrollment yet: creates one in ``mode``, or the run's best mode (best free mode with
      ``free_modes_only``) → ``enrolled``.
    - Inactive enrollment: reactivates it in ``mode``, or its old mode if still allowed → ``reactivated``.
    - Active enrollment: moves it to ``mode`` if another one is asked → ``mode_changed``;
      otherwise leaves it alone → ``already_enrolled``.

    Raises InvalidInput: field ``course_key`` for a malformed key, an unknown run, or (unless
    ``skip_access_checks``) a closed enrollment window when the enrollment would become active;
    field ``mode`` for a mode the run does not offer (or that costs money, with ``free_modes_only``).
    """
    run = _run_or_invalid(course_key)
    offered = _offered(catalog_api.mode_slugs_by_run([run.pk])[run.pk])
    allowed = _free_modes(run, offered) if free_modes_only else offered
    if mode is not None:
        _check_mode(mode, run, offered, allowed)
    now = timezone.now()
    with transaction.atomic():
        enrollment = _locked_enrollment(user, run)
        if enrollment is None:
            _check_window(run, now, skip_access_checks)
            try:
                with transaction.atomic():
                    enrollment = CourseEnrollment.objects.create(
                        user=user, course_run=run, mode=mode or _default_mode(allowed, run)
                    )
            except IntegrityError:
                # A concurrent call enrolled the user first; carry on with that row.
                enrollment = _locked_enrollment(user, run)
                if enrollment is None:
                    raise
            else:
                data = _data(enrollment, user.get_username(), str(run.course_key))
                _announce([_change(ChangeKind.CREATED, data, old_mode=None)])
                return data, EnrollStatus.ENROLLED
        if enrollment.is_active:
            if mode is None or mode == enrollment.mode:
                return _data(enrollment, user.get_username(), str(run.course_key)), EnrollStatus.ALREADY_ENROLLED
            data = _apply(enrollment, user.get_username(), run, mode=mode, is_active=True)
            return data, EnrollStatus.MODE_CHANGED
        _check_window(run, now, skip_access_checks)
        new_mode = mode or (enrollment.mode if enrollment.mode in allowed else _default_mode(allowed, run))
        data = _apply(enrollment, user.get_username(), run, mode=new_mode, is_active=True)
        return data, EnrollStatus.REACTIVATED


def update_enrollment(
    enrollment_uuid: uuid.UUID | str,
    *,
    mode: str | None = None,
    is_active: bool | None = None,
    skip_access_checks: bool = False,
    free_modes_only: bool = False,
) -> EnrollmentData:
    """Change the mode and/or active flag of the enrollment with this uuid; None leaves a field as it is.

    Reactivating is subject to the enrollment window unless ``skip_access_checks``; a reactivated
    enrollment whose mode is no longer allowed moves to the default (free, with ``free_modes_only``) mode.
    Raises NotFound for an unknown uuid; InvalidInput with field ``mode`` for a mode that is not allowed
    (as in ``enroll_with_outcome``) or ``is_active`` for a reactivation outside the window.
    """
    with transaction.atomic():
        enrollment = _fetch_by_uuid(enrollment_uuid, lock=True)
        return _update(
            enrollment,
            mode=mode,
            is_active=is_active,
            skip_access_checks=skip_access_checks,
            free_modes_only=free_modes_only,
        )


def unenroll(user: AbstractBaseUser, course_key: str | CourseKey) -> EnrollmentData:
    """Deactivate the user's enrollment in the run (idempotent: an inactive one is returned unchanged).

    Raises InvalidInput for a malformed key and NotFound when the user has no enrollment in the run.
    """
    with transaction.atomic():
        return _update(_enrollment_or_not_found(user, course_key), is_active=False)


def change_mode(user: AbstractBaseUser, course_key: str | CourseKey, mode: str) -> EnrollmentData:
    """Move the user's enrollment in the run (active or not) to ``mode``, which the run must offer.

    Raises InvalidInput (``mode``) for a mode the run does not offer, NotFound when there is no enrollment.
    """
    with transaction.atomic():
        return _update(_enrollment_or_not_found(user, course_key), mode=mode)


# --- bulk ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    """A request that named a known user and run, once, with an acceptable mode."""

    index: int
    user_id: int
    username: str
    run_id: int
    course_key: str
    mode: str | None


def bulk_enroll(requests: Iterable[EnrollRequest], *, skip_access_checks: bool = False) -> list[BulkEnrollResult]:
    """Apply many enrollment requests at once; return one result per request, in request order.

    Each request is treated like ``enroll_with_outcome`` (statuses ``enrolled``, ``already_enrolled``,
    ``reactivated``, ``mode_changed``) or reported and skipped: ``invalid_course_key``,
    ``unknown_course``, ``unknown_user``, ``invalid_mode``, ``not_enrollable`` (window closed, unless
    ``skip_access_checks``), and ``duplicated`` for every request naming a user and run that another
    request of the same call also names. Nothing is raised for a bad request.

    Set-based: users, runs, modes and existing enrollments are read in one query per batch of
    ``settings.BULK_BATCH_SIZE`` (runs and modes in one query each), and rows and their history are
    written in batches, so the statement count grows with batches, not rows. Every enrollment the
    call creates or changes gets the call's timestamp as ``modified`` (and ``created``, for new ones).
    All or nothing: the call runs in one transaction, and sends ``enrollments_changed`` once after it
    commits.
    """
    return [result for result, _state in _bulk_enroll(list(requests), skip_access_checks)]


def bulk_enroll_with_states(
    requests: Iterable[EnrollRequest], *, skip_access_checks: bool = False
) -> list[tuple[BulkEnrollResult, EnrollmentState | None]]:
    """``bulk_enroll``, each result paired with the enrollment's state after the call (row id included) when
    the request succeeded, else None: for set-based callers that link rows to the enrollments, without
    reading them again. The same statements as ``bulk_enroll``."""
    return _bulk_enroll(list(requests), skip_access_checks)


def _bulk_enroll(
    requests: list[EnrollRequest], skip_access_checks: bool
) -> list[tuple[BulkEnrollResult, EnrollmentState | None]]:
    batch_size = bulk.batch_size()
    now = timezone.now()
    results: list[tuple[BulkEnrollResult, EnrollmentState | None] | None] = [None] * len(requests)

    def report(index: int, status: EnrollStatus, message: str = "") -> None:
        results[index] = (BulkEnrollResult(requests[index], status, None, message), None)

    def succeed(index: int, status: EnrollStatus, data: EnrollmentData, row_id: int) -> None:
        results[index] = (
            BulkEnrollResult(requests[index], status, data),
            EnrollmentState(row_id, data.uuid, data.mode, data.is_active),
        )

    with transaction.atomic(), paused_gc():
        course_key_text: dict[str, str | None] = {}
        for request in requests:
            if request.course_key not in course_key_text:
                course_key_text[request.course_key] = _parsed_key_text(request.course_key)
        runs = catalog_api.get_course_runs({text for text in course_key_text.values() if text is not None})
        slugs_by_run = catalog_api.mode_slugs_by_run(run.pk for run in runs.values())
        offered_by_run = {run_id: _offered(slugs) for run_id, slugs in slugs_by_run.items()}
        default_mode_by_run = {run.pk: _default_mode(offered_by_run[run.pk], run) for run in runs.values()}
        enrollable_runs = {run.pk for run in runs.values() if skip_access_checks or catalog_api.is_enrollable(run, now)}
        users = _resolve_users(requests, batch_size)

        resolved: list[tuple[int, tuple[int, str], int, str]] = []
        for index, request in enumerate(requests):
            key_text = course_key_text[request.course_key]
            if key_text is None:
                report(index, EnrollStatus.INVALID_COURSE_KEY, f"{request.course_key!r} is not a valid course key.")
            elif key_text not in runs:
                report(index, EnrollStatus.UNKNOWN_COURSE, f"No course run has the key {key_text}.")
            elif users[index] is None:
                report(index, EnrollStatus.UNKNOWN_USER, f"No user matches {request.user_key!r}.")
            else:
                resolved.append((index, users[index], runs[key_text].pk, key_text))

        pair_counts = Counter((user[0], run_id) for _index, user, run_id, _key_text in resolved)
        candidates: list[_Candidate] = []
        for index, (user_id, username), run_id, key_text in resolved:
            mode = requests[index].mode
            if pair_counts[(user_id, run_id)] > 1:
                report(index, EnrollStatus.DUPLICATED, "This user and course run appear more than once in the request.")
            elif mode is not None and mode not in offered_by_run[run_id]:
                report(index, EnrollStatus.INVALID_MODE, _mode_message(mode, runs[key_text], offered_by_run[run_id]))
            else:
                candidates.append(_Candidate(index, user_id, username, run_id, key_text, mode))

        to_create: list[tuple[_Candidate, dict[str, Any]]] = []
        to_update: list[tuple[_Candidate, CourseEnrollment, ChangeKind, str]] = []
        for start in range(0, len(candidates), batch_size):
            batch = candidates[start : start + batch_size]
            existing = _existing_enrollments(batch)
            for candidate in batch:
                run_id, wanted_mode = candidate.run_id, candidate.mode
                enrollment = existing.get((candidate.user_id, run_id))
                if enrollment is not None and enrollment.is_active:
                    if wanted_mode is None or wanted_mode == enrollment.mode:
                        data = _data(enrollment, candidate.username, candidate.course_key)
                        succeed(candidate.index, EnrollStatus.ALREADY_ENROLLED, data, enrollment.pk)
                        continue
                    to_update.append((candidate, enrollment, ChangeKind.MODE_CHANGED, enrollment.mode))
                    enrollment.mode = wanted_mode
                    enrollment.modified = now
                elif run_id not in enrollable_runs:
                    report(
                        candidate.index, EnrollStatus.NOT_ENROLLABLE, f"Enrollment in {candidate.course_key} is closed."
                    )
                elif enrollment is None:
                    row = {
                        "uuid": uuid.uuid4(),
                        "user_id": candidate.user_id,
                        "course_run_id": run_id,
                        "mode": wanted_mode or default_mode_by_run[run_id],
                        "is_active": True,
                        "created": now,
                        "modified": now,
                    }
                    to_create.append((candidate, row))
                else:
                    to_update.append((candidate, enrollment, ChangeKind.REACTIVATED, enrollment.mode))
                    if wanted_mode is not None:
                        enrollment.mode = wanted_mode
                    elif enrollment.mode not in offered_by_run[run_id]:
                        enrollment.mode = default_mode_by_run[run_id]
                    enrollment.is_active = True
                    enrollment.modified = now

        changes: list[EnrollmentChange] = []
        new_ids = insert_with_history(
            CourseEnrollment, [row for _candidate, row in to_create], history_date=now, batch_size=batch_size
        )
        for (candidate, row), row_id in zip(to_create, new_ids, strict=True):
            data = EnrollmentData(
                uuid=row["uuid"],
                user_id=candidate.user_id,
                username=candidate.username,
                course_key=candidate.course_key,
                mode=row["mode"],
                is_active=True,
                created=now,
                modified=now,
            )
            succeed(candidate.index, EnrollStatus.ENROLLED, data, row_id)
            changes.append(_change(ChangeKind.CREATED, data, old_mode=None))
        update_with_history(
            [enrollment for _candidate, enrollment, _kind, _old in to_update],
            _UPDATED_FIELDS,
            history_date=now,
            batch_size=batch_size,
        )
        for candidate, enrollment, kind, old_mode in to_update:
            data = _data(enrollment, candidate.username, candidate.course_key)
            status = EnrollStatus.MODE_CHANGED if kind == ChangeKind.MODE_CHANGED else EnrollStatus.REACTIVATED
            succeed(candidate.index, status, data, enrollment.pk)
            changes.append(_change(kind, data, old_mode=old_mode))
        _announce(changes)
    return results  # type: ignore[return-value]  # every index was reported above


def bulk_unenroll(enrollment_uuids: Iterable[uuid.UUID | str]) -> int:
    """Deactivate the active enrollments among these uuids, set-based; return how many were deactivated.

    Unknown and already inactive uuids are ignored. Sends one ``enrollments_changed`` after commit.
    """
    wanted = list(dict.fromkeys(str(value) for value in enrollment_uuids))
    batch_size = bulk.batch_size()
    now = timezone.now()
    changes: list[EnrollmentChange] = []
    with transaction.atomic(), paused_gc():
        for start in range(0, len(wanted), batch_size):
            batch = list(
                enrollments_queryset()
                .select_for_update(of=("self",))
                .filter(uuid__in=wanted[start : start + batch_size], is_active=True)
            )
            for enrollment in batch:
                enrollment.is_active = False
                enrollment.modified = now
            update_with_history(batch, _UPDATED_FIELDS, history_date=now, batch_size=batch_size)
            changes.extend(
                _change(ChangeKind.DEACTIVATED, enrollment_data(enrollment), old_mode=enrollment.mode)
                for enrollment in batch
            )
        _announce(changes)
    return len(changes)


# --- helpers -------------------------------------------------------------------------------------


def _data(enrollment: CourseEnrollment, username: str, course_key: str) -> EnrollmentData:
    return EnrollmentData(
        uuid=enrollment.uuid,
        user_id=enrollment.user_id,
        username=username,
        course_key=course_key,
        mode=enrollment.mode,
        is_active=enrollment.is_active,
        created=enrollment.created,
        modified=enrollment.modified,
    )


def _change(kind: ChangeKind, data: EnrollmentData, *, old_mode: str | None) -> EnrollmentChange:
    return EnrollmentChange(
        kind=kind,
        enrollment_uuid=data.uuid,
        user_id=data.user_id,
        course_key=data.course_key,
        old_mode=old_mode,
        new_mode=data.mode,
        is_active=data.is_active,
    )


def _announce(changes: Sequence[EnrollmentChange]) -> None:
    """Send ``enrollments_changed`` with ``changes`` once the current transaction commits (not at all if empty)."""
    if changes:
        transaction.on_commit(partial(_send_changes, list(changes)))


def _send_changes(changes: list[EnrollmentChange]) -> None:
    for receiver, outcome in enrollments_changed.send_robust(sender=EnrollmentChange, changes=changes):
        if isinstance(outcome, Exception):
            logger.error("enrollments_changed receiver %r failed", receiver, exc_info=outcome)


def _parsed_key_text(value: Any) -> str | None:
    try:
        return str(catalog_api.parse_course_key(value))
    except InvalidInput:
        return None


def _run_or_invalid(course_key: str | CourseKey) -> Any:
    key = catalog_api.parse_course_key(course_key)
    try:
        return catalog_api.get_course_run(key)
    except ObjectDoesNotExist:
        raise InvalidInput({"course_key": [f"No course run has the key {key}."]}) from None


def _offered(slugs: Iterable[str]) -> frozenset[str]:
    return frozenset(slugs) or frozenset({DEFAULT_MODE.value})


def _free_modes(run: Any, offered: frozenset[str]) -> frozenset[str]:
    """The offered modes that cost nothing (a run listing no modes offers a free ``audit``)."""
    prices = dict(run.modes.values_list("slug", "price_cents"))
    return frozenset(slug for slug in offered if prices.get(slug, 0) == 0)


def _default_mode(allowed: frozenset[str], run: Any) -> str:
    if not allowed:
        raise InvalidInput({"mode": [f"{run.course_key} offers no mode you may enroll in."]})
    best = catalog_api.choose_best_mode(allowed)
    return best if best in allowed else min(allowed)


def _mode_message(mode: str, run: Any, offered: Collection[str]) -> str:
    return f"{run.course_key} does not offer mode {mode!r}; choose one of {', '.join(sorted(offered))}."


def _check_mode(mode: str, run: Any, offered: frozenset[str], allowed: frozenset[str]) -> None:
    if mode not in offered:
        raise InvalidInput({"mode": [_mode_message(mode, run, offered)]})
    if mode not in allowed:
        choices = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput({"mode": [f"Mode {mode!r} of {run.course_key} is paid; free modes: {choices}."]})


def _check_window(run: Any, now: datetime, skip_access_checks: bool, field: str = "course_key") -> None:
    if not skip_access_checks and not catalog_api.is_enrollable(run, now):
        raise InvalidInput({field: [f"Enrollment in {run.course_key} is closed."]})


def _locked_enrollment(user: AbstractBaseUser, run: Any) -> CourseEnrollment | None:
    return CourseEnrollment.objects.select_for_update().filter(user=user, course_run=run).first()


def _fetch_by_uuid(enrollment_uuid: uuid.UUID | str, *, lock: bool) -> CourseEnrollment:
    try:
        wanted = enrollment_uuid if isinstance(enrollment_uuid, uuid.UUID) else uuid.UUID(str(enrollment_uuid))
    except ValueError:
        raise NotFound(f"No enrollment has the uuid {enrollment_uuid}.") from None
    queryset = enrollments_queryset()
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(uuid=wanted)
    except CourseEnrollment.DoesNotExist:
        raise NotFound(f"No enrollment has the uuid {wanted}.") from None


def _enrollment_or_not_found(user: AbstractBaseUser, course_key: str | CourseKey) -> CourseEnrollment:
    key = catalog_api.parse_course_key(course_key)
    enrollment = (
        enrollments_queryset().select_for_update(of=("self",)).filter(user=user, course_run__course_key=key).first()
    )
    if enrollment is None:
        raise NotFound(f"{user.get_username()} has no enrollment in {key}.")
    return enrollment


def _update(
    enrollment: CourseEnrollment,
    *,
    mode: str | None = None,
    is_active: bool | None = None,
    skip_access_checks: bool = False,
    free_modes_only: bool = False,
) -> EnrollmentData:
    run = enrollment.course_run
    username = enrollment.user.get_username()
    activating = is_active is True and not enrollment.is_active
    new_mode = enrollment.mode if mode is None else mode
    if (mode is not None and mode != enrollment.mode) or activating:
        offered = _offered(catalog_api.mode_slugs_by_run([run.pk])[run.pk])
        allowed = _free_modes(run, offered) if free_modes_only else offered
        if mode is not None and mode != enrollment.mode:
            _check_mode(mode, run, offered, allowed)
        if activating:
            _check_window(run, timezone.now(), skip_access_checks, field="is_active")
            if mode is None and new_mode not in allowed:
                new_mode = _default_mode(allowed, run)
    new_active = enrollment.is_active if is_active is None else is_active
    if new_mode == enrollment.mode and new_active == enrollment.is_active:
        return _data(enrollment, username, str(run.course_key))
    return _apply(enrollment, username, run, mode=new_mode, is_active=new_active)


def _apply(enrollment: CourseEnrollment, username: str, run: Any, *, mode: str, is_active: bool) -> EnrollmentData:
    """Save a changed mode/active flag (with a history row) and announce it."""
    old_mode, was_active = enrollment.mode, enrollment.is_active
    enrollment.mode, enrollment.is_active = mode, is_active
    enrollment.save(update_fields=_UPDATED_FIELDS)
    if is_active and not was_active:
        kind = ChangeKind.REACTIVATED
    elif was_active and not is_active:
        kind = ChangeKind.DEACTIVATED
    else:
        kind = ChangeKind.MODE_CHANGED
    data = _data(enrollment, username, str(run.course_key))
    _announce([_change(kind, data, old_mode=old_mode)])
    return data


def _resolve_users(requests: Sequence[EnrollRequest], batch_size: int) -> list[tuple[int, str] | None]:
    """``(user id, username)`` for each request's user, or None; one query per batch of distinct identifiers."""
    asked = [_user_lookup(request) for request in requests]
    found: dict[tuple[str, Any], tuple[int, str]] = {}
    user_model = get_user_model()
    lookups = list(dict.fromkeys(asked))
    for start in range(0, len(lookups), batch_size):
        by_field: dict[str, list[Any]] = defaultdict(list)
        for field, value in lookups[start : start + batch_size]:
            by_field[field].append(value)
        condition = Q()
        for field, values in by_field.items():
            condition |= Q(**{f"{field}__in": [value for value in values if value is not None]})
        for user_id, username, email_normalized in user_model.objects.filter(condition).values_list(
            "pk", "username", "email_normalized"
        ):
            found[("pk", user_id)] = (user_id, username)
            found[("username", username)] = (user_id, username)
            found[("email_normalized", email_normalized)] = (user_id, username)
    return [found.get(lookup) for lookup in asked]


def _user_lookup(request: EnrollRequest) -> tuple[str, Any]:
    if request.user_id is not None:
        try:
            return ("pk", int(request.user_id))
        except (TypeError, ValueError):
            return ("pk", None)  # matches no user
    if request.username is not None:
        return ("username", request.username)
    return ("email_normalized", normalise_key(request.email))


def enrollment_states(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], EnrollmentState]:
    """``{(user_id, run_id): EnrollmentState}`` for those of these pairs that have an enrollment (active or not).

    One query per ``settings.BULK_BATCH_SIZE`` pairs; pairs without an enrollment are absent.
    """
    found: dict[tuple[int, int], EnrollmentState] = {}
    for chunk in bulk.batches(list(dict.fromkeys(pairs))):
        rows = CourseEnrollment.objects.filter(_pairs_condition(chunk)).values_list(
            "pk", "uuid", "user_id", "course_run_id", "mode", "is_active"
        )
        for pk, enrollment_uuid, user_id, run_id, mode, is_active in rows:
            found[(user_id, run_id)] = EnrollmentState(pk, enrollment_uuid, mode, is_active)
    return found


def _existing_enrollments(batch: Sequence[_Candidate]) -> dict[tuple[int, int], CourseEnrollment]:
    """The enrollments of the batch's (user, run) pairs, locked, in one query (one OR term per run)."""
    if not batch:
        return {}
    condition = _pairs_condition((candidate.user_id, candidate.run_id) for candidate in batch)
    return {
        (enrollment.user_id, enrollment.course_run_id): enrollment
        for enrollment in CourseEnrollment.objects.select_for_update().filter(condition)
    }


def _pairs_condition(pairs: Iterable[tuple[int, int]]) -> RawSQL:
    """A WHERE condition matching the enrollments of these (user_id, run_id) pairs: one OR term per run."""
    users_by_run: dict[int, set[int]] = defaultdict(set)
    for user_id, run_id in pairs:
        users_by_run[run_id].add(user_id)
    # Written as SQL rather than Q(course_run_id=..., user_id__in=...): Django prepares each key of a
    # foreign-key __in lookup one by one, which took longer than running the query. The keys are ints.
    # On PostgreSQL a run's users travel as one array literal (= ANY): psycopg binds client-side, parsing
    # every placeholder of the text and quoting list items one by one, and a thousand-item IN list cost
    # more to send than to run. "+ 0" keeps the run's own indexes out of the plan: the users' few
    # enrollments are what to read, and with statistics older than the table's growth (a batch run right
    # after an ANALYZE of a near-empty table) the planner otherwise read every enrollment of each run.
    run_column, user_column = (
        connection.ops.quote_name(CourseEnrollment._meta.get_field(name).column) for name in ("course_run", "user")
    )
    terms: list[str] = []
    params: list[Any] = []
    for run_id, user_ids in users_by_run.items():
        wanted = sorted(int(user_id) for user_id in user_ids)
        if connection.vendor == "postgresql":
            terms.append(f"({run_column} + 0 = %s AND {user_column} = ANY(%s::bigint[]))")
            params.extend([int(run_id), _int_array(wanted)])
        else:
            terms.append(f"({run_column} = %s AND {user_column} IN ({', '.join(['%s'] * len(wanted))}))")
            params.extend([int(run_id), *wanted])
    return RawSQL(" OR ".join(terms) or "1 = 0", params, output_field=BooleanField())


def _int_array(values: list[int]) -> str:
    """A PostgreSQL array literal of whole numbers (``{1,2,3}``): one string for psycopg to quote, where a list
    would be quoted item by item."""
    return "{" + ",".join(map(str, values)) + "}"
