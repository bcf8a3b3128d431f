"""The row-at-a-time comparator of the ``program_writes`` benchmark (not a benchmark itself: it has no ``run``).

The same rules as ``rollbook.programs.writing`` (results, refusals, Master's track, course staff), written
the way the upstream seed writes them: requests are grouped in memory, then every request is looked up
with its own queries and written with ``Model.save()`` (so simple-history writes one history row per
save), and course enrollments are made one at a time through ``enrollments.api``. It exists only to be
measured against the set-based implementation and to cross-check its per-key results; nothing in
``src/`` uses it.

Django-dependent imports are made inside the functions, since ``python -m bench`` imports every module of
the package before it sets Django up.
"""

from __future__ import annotations

import uuid as uuid_module
from collections import Counter
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

ACTIVE = "active"
INACTIVE = "inactive"
MASTERS = "masters"


def _unique_requests(requests: list[Any], results: dict[str, str]) -> list[tuple[str, str, Any]]:
    """``(key, normalised key, request)`` for requests whose key is well-formed and appears once (any case);
    the others are reported as the writing module reports them."""
    from rollbook.core.errors import InvalidInput
    from rollbook.core.normalise import normalise_key
    from rollbook.programs.data import WriteError
    from rollbook.programs.models import KEY_MAX_LENGTH

    if not all(isinstance(request.external_user_key, str) for request in requests):
        raise InvalidInput({"external_user_key": ["A student key must be text."]})
    counts = Counter(normalise_key(request.external_user_key) for request in requests)
    unique = []
    for request in requests:
        key = request.external_user_key
        normalized = normalise_key(key)
        if counts[normalized] > 1:
            results[key] = WriteError.DUPLICATED.value
        elif not normalized or len(key) > KEY_MAX_LENGTH:
            results[key] = WriteError.ILLEGAL_OPERATION.value
        else:
            unique.append((key, normalized, request))
    return unique


def _provider_ids(program: Any) -> list[int]:
    """Ids of the enabled identity providers of the program's first authoring organization, oldest first."""
    from rollbook.identity.models import IdentityProvider
    from rollbook.programs.models import ProgramOrganization

    first = ProgramOrganization.objects.filter(program=program, position=0).values_list("organization_id").first()
    if first is None:
        return []
    providers = IdentityProvider.objects.filter(organization_id=first[0], enabled=True)
    return list(providers.order_by("pk").values_list("pk", flat=True))


def _linked_user_id(provider_ids: list[int], normalized: str) -> int | None:
    """The account linked to the key at the first provider that knows it: one query per provider asked."""
    from rollbook.identity.models import SsoLink

    for provider_id in provider_ids:
        links = SsoLink.objects.filter(provider_id=provider_id, external_user_key_normalized=normalized)
        user_id = links.values_list("user_id", flat=True).first()
        if user_id is not None:
            return user_id
    return None


def _curriculum_for(value: object, curricula: dict[str, Any], default: Any) -> Any:
    """The curriculum the request names (None when malformed or another program's), else ``default``."""
    if value is None:
        return default
    try:
        wanted = value if isinstance(value, uuid_module.UUID) else uuid_module.UUID(str(value).strip())
    except ValueError:
        return None
    return curricula.get(str(wanted))


def write_program_enrollments(program: Any, requests: Iterable[Any], *, create: bool, update: bool) -> dict[str, str]:
    """Row at a time, what ``programs.api.write_program_enrollments`` does; the same ``{key: result}``."""
    from django.db import transaction

    from rollbook.core.errors import InvalidInput
    from rollbook.programs.data import PROGRAM_ENROLLMENT_STATUSES, WriteError
    from rollbook.programs.models import ProgramEnrollment

    if not (create or update):
        raise InvalidInput("At least one of create or update must be true.")
    requests = list(requests)
    results: dict[str, str] = {}
    provider_ids = _provider_ids(program)
    # Program-level facts are read once; everything about a student is read and written row by row.
    curricula = {str(curriculum.uuid): curriculum for curriculum in program.curricula.all()}
    default_curriculum = program.curricula.filter(is_active=True).order_by("created", "pk").first()
    with transaction.atomic():
        new: list[tuple[str, str, Any, Any, int | None]] = []
        for key, normalized, request in _unique_requests(requests, results):
            status = request.status
            if not isinstance(status, str) or status not in PROGRAM_ENROLLMENT_STATUSES:
                results[key] = WriteError.INVALID_STATUS.value
                continue
            curriculum = _curriculum_for(request.curriculum_uuid, curricula, default_curriculum)
            if curriculum is None and request.curriculum_uuid is not None:
                results[key] = WriteError.ILLEGAL_OPERATION.value
                continue
            enrollment = ProgramEnrollment.objects.filter(
                program=program, external_user_key_normalized=normalized
            ).first()
            if enrollment is not None:
                if not update:
                    results[key] = WriteError.CONFLICT.value
                    continue
                if enrollment.status != status:
                    enrollment.status = status
                    enrollment.save()
                results[key] = status
            elif not create:
                results[key] = WriteError.NOT_IN_PROGRAM.value
            elif curriculum is None:
                results[key] = WriteError.ILLEGAL_OPERATION.value
            else:
                new.append((key, normalized, request, curriculum, _linked_user_id(provider_ids, normalized)))
        # A linked account gets one enrollment per program: two new keys of one account are both refused.
        user_counts = Counter(user_id for *_rest, user_id in new if user_id is not None)
        for key, _normalized, request, curriculum, user_id in new:
            if user_id is not None and (
                user_counts[user_id] > 1 or ProgramEnrollment.objects.filter(program=program, user_id=user_id).exists()
            ):
                results[key] = WriteError.CONFLICT.value
                continue
            ProgramEnrollment(
                program=program,
                curriculum=curriculum,
                user_id=user_id,
                external_user_key=key,
                status=request.status,
            ).save()
            results[key] = request.status
    return results


def _masters_offered(run: Any) -> bool:
    from rollbook.catalog import api as catalog_api

    return MASTERS in catalog_api.mode_slugs_by_run([run.pk]).get(run.pk, set())


def _enroll_in_masters_track(user: Any, run: Any, status: str) -> tuple[bool, int | None]:
    """One learner's Master's-track step, as ``programs.masters`` rules it: (succeeded, course enrollment id)."""
    from rollbook.catalog.data import AUDIT_MODES
    from rollbook.enrollments import api as enrollments_api

    course_key = str(run.course_key)
    enrollment = enrollments_api.enrollments_queryset().filter(user=user, course_run=run).first()
    inactive = status == INACTIVE
    if enrollment is not None and enrollment.is_active:
        if enrollment.mode == MASTERS:
            if inactive:
                enrollments_api.unenroll(user, course_key)
        elif enrollment.mode in AUDIT_MODES:
            if not _masters_offered(run):
                return False, None
            enrollments_api.change_mode(user, course_key, MASTERS)
            if inactive:
                enrollments_api.unenroll(user, course_key)
        return True, enrollment.pk  # other paid modes are left alone
    if inactive:
        return True, None if enrollment is None else enrollment.pk
    if not _masters_offered(run):
        return False, None
    data = enrollments_api.enroll(user, course_key, MASTERS, skip_access_checks=True)
    if enrollment is not None:
        return True, enrollment.pk
    return True, enrollments_api.enrollments_queryset().values_list("pk", flat=True).get(uuid=data.uuid)


def _active_elsewhere(program: Any, run: Any, normalized: str, user_id: int | None) -> bool:
    from rollbook.programs.models import ProgramCourseEnrollment

    others = ProgramCourseEnrollment.objects.filter(course_run=run, status=ACTIVE).exclude(
        program_enrollment__program=program
    )
    if others.filter(program_enrollment__external_user_key_normalized=normalized).exists():
        return True
    return user_id is not None and others.filter(program_enrollment__user_id=user_id).exists()


def write_program_course_enrollments(
    program: Any, course_key: str, requests: Iterable[Any], *, create: bool, update: bool
) -> dict[str, str]:
    """Row at a time, what ``programs.api.write_program_course_enrollments`` does; the same ``{key: result}``."""
    from django.db import transaction

    from rollbook.core import api as core_api
    from rollbook.core.data import Scope, ScopeKind
    from rollbook.core.errors import InvalidInput
    from rollbook.enrollments import api as enrollments_api
    from rollbook.programs import api as programs_api
    from rollbook.programs.data import PROGRAM_COURSE_ENROLLMENT_STATUSES, CourseStaffRole, WriteError
    from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment

    if not (create or update):
        raise InvalidInput("At least one of create or update must be true.")
    run = programs_api.course_run_in_program(program, course_key)
    requests = list(requests)
    if any(request.course_staff is not None and not isinstance(request.course_staff, bool) for request in requests):
        raise InvalidInput({"course_staff": ["Must be true, false or null."]})
    results: dict[str, str] = {}
    scope = Scope(ScopeKind.COURSE_RUN, str(run.course_key))
    with transaction.atomic():
        for key, normalized, request in _unique_requests(requests, results):
            status = request.status
            if not isinstance(status, str) or status not in PROGRAM_COURSE_ENROLLMENT_STATUSES:
                results[key] = WriteError.INVALID_STATUS.value
                continue
            program_enrollment = (
                ProgramEnrollment.objects.filter(program=program, external_user_key_normalized=normalized)
                .select_related("user")
                .first()
            )
            if program_enrollment is None:
                results[key] = WriteError.NOT_IN_PROGRAM.value
                continue
            user = program_enrollment.user
            shared = _active_elsewhere(program, run, normalized, program_enrollment.user_id)
            enrollment = ProgramCourseEnrollment.objects.filter(
                program_enrollment=program_enrollment, course_run=run
            ).first()
            if status == ACTIVE and shared:
                results[key] = WriteError.CONFLICT.value
                continue
            if enrollment is not None and not update:
                results[key] = WriteError.CONFLICT.value
                continue
            if enrollment is None and not create:
                results[key] = WriteError.NOT_FOUND.value
                continue

            course_enrollment_id = None if enrollment is None else enrollment.course_enrollment_id
            if user is not None and not shared and (enrollment is None or enrollment.status != status):
                if course_enrollment_id is None:
                    succeeded, course_enrollment_id = _enroll_in_masters_track(user, run, status)
                    if not succeeded:
                        results[key] = WriteError.ILLEGAL_OPERATION.value
                        continue
                else:
                    course_enrollment = enrollments_api.enrollments_queryset().get(pk=course_enrollment_id)
                    if status == ACTIVE and not course_enrollment.is_active:
                        # A failed reactivation is logged and the status kept, as the set-based code does.
                        with suppress(InvalidInput):
                            enrollments_api.enroll(user, str(run.course_key), skip_access_checks=True)
                    elif status == INACTIVE and course_enrollment.is_active:
                        enrollments_api.unenroll(user, str(run.course_key))

            if enrollment is None:
                enrollment = ProgramCourseEnrollment(
                    program_enrollment=program_enrollment,
                    course_run=run,
                    course_enrollment_id=course_enrollment_id,
                    status=status,
                )
                enrollment.save()
            elif enrollment.status != status or enrollment.course_enrollment_id != course_enrollment_id:
                enrollment.status = status
                enrollment.course_enrollment_id = course_enrollment_id
                enrollment.save()
            results[key] = status

            if request.course_staff is None:
                continue
            if user is not None:
                if request.course_staff:
                    core_api.grant(user, core_api.Role.COURSE_STAFF, scope)
                else:
                    core_api.revoke(user, core_api.Role.COURSE_STAFF, scope)
                CourseStaffAssignment.objects.filter(program_course_enrollment=enrollment).delete()
            elif request.course_staff:
                CourseStaffAssignment.objects.get_or_create(
                    program_course_enrollment=enrollment, role=CourseStaffRole.STAFF
                )
            else:
                CourseStaffAssignment.objects.filter(program_course_enrollment=enrollment).delete()
    return results
