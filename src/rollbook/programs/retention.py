"""Retention of program enrollment data: expiring never-linked enrollments, retiring student keys.

Public through ``rollbook.programs.api``:

- ``expire_waiting_enrollments(days=60)``: program enrollments nobody was ever linked to, unchanged for
  ``days`` days, are deleted with their program-course enrollments, pending staff assignments and every
  history row of both, so the student keys (personal data the university sent) are gone for good. The
  CLI runs it (``rollbook programs expire-waiting``); schedule it as a periodic job.
- ``retire_external_keys(user)``: when an account is retired, the student keys of its program
  enrollments are replaced, in the live rows and in every history row, by ``retired_external_key(key)``:
  ``retired_user_`` followed by the hex HMAC-SHA256 of the normalised key, keyed by a secret derived
  from ``settings.SECRET_KEY`` (Django's ``salted_hmac``). The same key always retires to the same value
  (while SECRET_KEY stays), so rows of one student in several programs stay comparable and rosters keep
  a non-empty, unique key (upstream's NULL broke Registrar downloads), but the key cannot be read back
  or guessed without the secret.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, CharField, Value, When
from django.utils import timezone
from django.utils.crypto import salted_hmac

from rollbook.core.bulk import batches, delete_rows, update_with_history
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment

__all__ = ["RETIRED_KEY_PREFIX", "expire_waiting_enrollments", "retire_external_keys", "retired_external_key"]

DEFAULT_EXPIRATION_DAYS = 60
RETIRED_KEY_PREFIX = "retired_user_"
_RETIREMENT_SALT = "rollbook.programs.retention.retired_external_key"
_RETIREMENT_REASON = "student key retired"


def expire_waiting_enrollments(days: int = DEFAULT_EXPIRATION_DAYS) -> int:
    """Delete the program enrollments never linked to an account whose ``modified`` is ``days`` days old or more.

    Their program-course enrollments and pending course-staff assignments are deleted too, and every
    history row of those enrollments and program-course enrollments, so no trace of the student key
    remains. Returns how many program enrollments were deleted. All in one transaction, set-based: a
    handful of statements per batch of ``settings.BULK_BATCH_SIZE`` enrollments. Raises InvalidInput
    (field ``days``) unless ``days`` is a whole number of 0 or more.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InvalidInput({"days": [f"Must be a whole number of days, 0 or more, not {days!r}."]})
    cutoff = timezone.now() - timedelta(days=days)
    enrollment_history = ProgramEnrollment.history.model
    course_enrollment_history = ProgramCourseEnrollment.history.model
    deleted = 0
    with transaction.atomic():
        expired = list(
            ProgramEnrollment.objects.select_for_update()
            .filter(user__isnull=True, modified__lte=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for batch in batches(expired):
            course_enrollment_ids = list(
                ProgramCourseEnrollment.objects.filter(program_enrollment_id__in=batch).values_list("pk", flat=True)
            )
            for children in batches(course_enrollment_ids):
                delete_rows(CourseStaffAssignment.objects.filter(program_course_enrollment_id__in=children))
                delete_rows(course_enrollment_history.objects.filter(id__in=children))
                delete_rows(ProgramCourseEnrollment.objects.filter(pk__in=children))
            delete_rows(enrollment_history.objects.filter(id__in=batch))
            deleted += delete_rows(ProgramEnrollment.objects.filter(pk__in=batch, user__isnull=True))
    return deleted


def retired_external_key(external_user_key: str) -> str:
    """The value that replaces ``external_user_key`` when its student's account is retired.

    ``retired_user_<64 hex digits>``: an HMAC-SHA256 of the normalised key (so keys differing only by
    case retire alike) keyed from ``settings.SECRET_KEY``. Deterministic while SECRET_KEY stays the same.
    """
    digest = salted_hmac(_RETIREMENT_SALT, normalise_key(external_user_key), algorithm="sha256").hexdigest()
    return RETIRED_KEY_PREFIX + digest


def retire_external_keys(user: Any) -> int:
    """Replace the student keys of ``user``'s program enrollments by ``retired_external_key(key)``.

    Part of retiring an account (``user`` is a user or a user id). The live rows get the retired key
    (and its normalised column), with a history row recording the change; then every earlier history
    row of those enrollments gets it too, so the original key survives nowhere in program enrollments.
    Keys already retired are left alone, so calling it again changes nothing. Returns how many
    enrollments were changed. One transaction, a few statements per batch of enrollments.
    """
    user_id = user if isinstance(user, int) else user.pk
    now = timezone.now()
    history = ProgramEnrollment.history.model
    with transaction.atomic():
        enrollments = list(
            ProgramEnrollment.objects.select_for_update()
            .filter(user_id=user_id, external_user_key__isnull=False)
            .exclude(external_user_key__startswith=RETIRED_KEY_PREFIX)
            .order_by("pk")
        )
        retired: dict[int, str] = {}
        for enrollment in enrollments:
            retired[enrollment.pk] = retired_external_key(enrollment.external_user_key)
            enrollment.external_user_key = retired[enrollment.pk]
            enrollment.external_user_key_normalized = normalise_key(retired[enrollment.pk])
            enrollment.modified = now
            enrollment._change_reason = _RETIREMENT_REASON
        update_with_history(
            enrollments, ["external_user_key", "external_user_key_normalized", "modified"], history_date=now
        )
        for batch in batches(list(retired)):
            new_key = Case(*(When(id=pk, then=Value(retired[pk])) for pk in batch), output_field=CharField())
            history.objects.filter(id__in=batch).update(external_user_key=new_key, external_user_key_normalized=new_key)
    return len(enrollments)
