"""Reading program and program-course enrollments with the upstream filters.

Public through ``rollbook.programs.api``. Student keys match case-insensitively (through the normalised
column). Every function returns a lazy queryset with the related rows the REST layer shows joined in.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterable

from django.db.models import QuerySet
from opaque_keys.edx.keys import CourseKey

from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key
from rollbook.programs.data import PROGRAM_COURSE_ENROLLMENT_STATUSES, PROGRAM_ENROLLMENT_STATUSES
from rollbook.programs.models import Program, ProgramCourseEnrollment, ProgramEnrollment
from rollbook.programs.setup import _program, course_run_in_program, parse_uuid


def _exclusive(errors: dict[str, list[str]], **flags: bool) -> None:
    given = [name for name, value in flags.items() if value]
    if len(given) > 1:
        errors.setdefault("non_field_errors", []).append(f"{' and '.join(given)} cannot be combined.")


def _statuses(statuses: Iterable[str] | None, allowed: frozenset[str], errors: dict[str, list[str]]) -> list[str]:
    if statuses is None:
        return []
    if isinstance(statuses, str):
        statuses = [statuses]
    wanted = list(dict.fromkeys(statuses))
    unknown = [status for status in wanted if status not in allowed]
    if unknown:
        errors["statuses"] = [f"Unknown status {unknown[0]!r}; choose from {', '.join(sorted(allowed))}."]
    return wanted


def _normalised_keys(keys: Iterable[str]) -> list[str]:
    if isinstance(keys, str):
        keys = [keys]
    return list(dict.fromkeys(normalise_key(key) for key in keys if isinstance(key, str)))


def _user_ids(users: Iterable) -> list[int]:
    return [user if isinstance(user, int) else user.pk for user in users]


def program_enrollments_queryset() -> QuerySet[ProgramEnrollment]:
    """Every program enrollment with its user, program and curriculum joined in (unscoped: callers filter)."""
    return ProgramEnrollment.objects.select_related("user", "program", "curriculum")


def program_course_enrollments_queryset() -> QuerySet[ProgramCourseEnrollment]:
    """Every program-course enrollment with its program enrollment (user, curriculum), run and course
    enrollment joined in (unscoped: callers filter)."""
    return ProgramCourseEnrollment.objects.select_related(
        "program_enrollment__user", "program_enrollment__curriculum", "course_run", "course_enrollment"
    )


def fetch_program_enrollments(
    program: Program | str | uuid_module.UUID,
    *,
    curriculum_uuids: Iterable[str | uuid_module.UUID] | None = None,
    users: Iterable | None = None,
    external_user_keys: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    realized_only: bool = False,
    waiting_only: bool = False,
) -> QuerySet[ProgramEnrollment]:
    """The program's enrollments matching every filter given, ordered by id.

    ``curriculum_uuids``: in these curricula; ``users``: of these users (instances or ids);
    ``external_user_keys``: with these student keys, ignoring case; ``statuses``: in these statuses;
    ``realized_only``: linked to a user; ``waiting_only``: not linked yet. Raises InvalidInput for a
    malformed curriculum uuid, an unknown status, or realized_only with waiting_only; NotFound for an
    unknown program (given by uuid).
    """
    program = _program(program)
    errors: dict[str, list[str]] = {}
    _exclusive(errors, realized_only=realized_only, waiting_only=waiting_only)
    wanted_statuses = _statuses(statuses, PROGRAM_ENROLLMENT_STATUSES, errors)
    curricula = []
    if curriculum_uuids is not None:
        for value in [curriculum_uuids] if isinstance(curriculum_uuids, str) else curriculum_uuids:
            try:
                curricula.append(parse_uuid(value, "curriculum_uuids"))
            except InvalidInput as exc:
                errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    queryset = program_enrollments_queryset().filter(program=program)
    if curriculum_uuids is not None:
        queryset = queryset.filter(curriculum__uuid__in=curricula)
    if users is not None:
        queryset = queryset.filter(user_id__in=_user_ids(users))
    if external_user_keys is not None:
        queryset = queryset.filter(external_user_key_normalized__in=_normalised_keys(external_user_keys))
    if statuses is not None:
        queryset = queryset.filter(status__in=wanted_statuses)
    if realized_only:
        queryset = queryset.filter(user__isnull=False)
    if waiting_only:
        queryset = queryset.filter(user__isnull=True)
    return queryset.order_by("pk")


def fetch_program_enrollments_by_student(
    *,
    user=None,
    external_user_key: str | None = None,
    program_uuids: Iterable[str | uuid_module.UUID] | None = None,
    statuses: Iterable[str] | None = None,
    realized_only: bool = False,
    waiting_only: bool = False,
) -> QuerySet[ProgramEnrollment]:
    """One student's enrollments across programs: by ``user`` (instance or id) and/or ``external_user_key``
    (ignoring case; at least one of them), optionally limited to programs and statuses, ordered by id.

    Raises InvalidInput when neither user nor key is given, for a malformed program uuid, an unknown
    status, or realized_only with waiting_only.
    """
    errors: dict[str, list[str]] = {}
    if user is None and not (isinstance(external_user_key, str) and normalise_key(external_user_key)):
        errors["non_field_errors"] = ["Give a user or an external user key."]
    _exclusive(errors, realized_only=realized_only, waiting_only=waiting_only)
    wanted_statuses = _statuses(statuses, PROGRAM_ENROLLMENT_STATUSES, errors)
    programs = []
    if program_uuids is not None:
        for value in [program_uuids] if isinstance(program_uuids, str) else program_uuids:
            try:
                programs.append(parse_uuid(value, "program_uuids"))
            except InvalidInput as exc:
                errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    queryset = program_enrollments_queryset()
    if user is not None:
        queryset = queryset.filter(user_id=user if isinstance(user, int) else user.pk)
    if external_user_key is not None:
        queryset = queryset.filter(external_user_key_normalized=normalise_key(external_user_key))
    if program_uuids is not None:
        queryset = queryset.filter(program__uuid__in=programs)
    if statuses is not None:
        queryset = queryset.filter(status__in=wanted_statuses)
    if realized_only:
        queryset = queryset.filter(user__isnull=False)
    if waiting_only:
        queryset = queryset.filter(user__isnull=True)
    return queryset.order_by("pk")


def fetch_program_course_enrollments(
    program: Program | str | uuid_module.UUID,
    course_key: str | CourseKey,
    *,
    users: Iterable | None = None,
    external_user_keys: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    active_only: bool = False,
    inactive_only: bool = False,
    realized_only: bool = False,
    waiting_only: bool = False,
) -> QuerySet[ProgramCourseEnrollment]:
    """The program's enrollments in the run ``course_key`` matching every filter given, ordered by id.

    ``users``: of these users (instances or ids); ``external_user_keys``: ignoring case; ``statuses``:
    in these (active / inactive); ``active_only`` / ``inactive_only``; ``realized_only`` / ``waiting_only``:
    whose program enrollment is / is not linked to a user. Raises InvalidInput for a malformed course
    key, an unknown status or contradictory flags; NotFound when the run does not exist or is not in the
    program (or the program does not exist).
    """
    program = _program(program)
    errors: dict[str, list[str]] = {}
    _exclusive(errors, active_only=active_only, inactive_only=inactive_only)
    _exclusive(errors, realized_only=realized_only, waiting_only=waiting_only)
    wanted_statuses = _statuses(statuses, PROGRAM_COURSE_ENROLLMENT_STATUSES, errors)
    if errors:
        raise InvalidInput(errors)
    run = course_run_in_program(program, course_key)
    queryset = program_course_enrollments_queryset().filter(program_enrollment__program=program, course_run_id=run.pk)
    if users is not None:
        queryset = queryset.filter(program_enrollment__user_id__in=_user_ids(users))
    if external_user_keys is not None:
        queryset = queryset.filter(
            program_enrollment__external_user_key_normalized__in=_normalised_keys(external_user_keys)
        )
    if statuses is not None:
        queryset = queryset.filter(status__in=wanted_statuses)
    if active_only:
        queryset = queryset.filter(status="active")
    if inactive_only:
        queryset = queryset.filter(status="inactive")
    if realized_only:
        queryset = queryset.filter(program_enrollment__user__isnull=False)
    if waiting_only:
        queryset = queryset.filter(program_enrollment__user__isnull=True)
    return queryset.order_by("pk")
