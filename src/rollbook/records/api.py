"""Public API of the records app: course grades, subsection grades and certificates.

Owned by: licenses helper (this issue needs completion; the bulk upsert API comes with records & reporting).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Model, Q
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSlug
from rollbook.core.bulk import batches
from rollbook.core.errors import InvalidInput
from rollbook.records.data import PASSING_CERTIFICATE_STATUSES, CertificateStatus
from rollbook.records.models import Certificate, CourseGrade

LETTER_GRADE_MAX_LENGTH = 64
_FOUR_PLACES = Decimal("0.0001")


def _run(course_key: object, errors: dict[str, list[str]]):
    """The run with exactly this key; a malformed or unknown key adds to ``errors`` (field ``course_key``)."""
    try:
        return catalog_api.get_course_run(course_key)
    except InvalidInput as exc:
        errors.update(exc.errors)
    except ObjectDoesNotExist:
        errors["course_key"] = [f"No course run {course_key}."]
    return None


def _fraction(value: object, field: str, errors: dict[str, list[str]]) -> Decimal | None:
    """``value`` as a Decimal in [0, 1] rounded to four places; else an error on ``field``."""
    if isinstance(value, bool):
        number = None
    else:
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            number = None
    if number is None or not number.is_finite() or not 0 <= number <= 1:
        errors[field] = [f"{value!r} is not a fraction between 0 and 1."]
        return None
    return number.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)


def _moment(value: object, field: str, errors: dict[str, list[str]]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        errors[field] = ["Give a date and time with a time zone."]
        return None
    return value


def _upsert(model: type[Model], user: AbstractBaseUser, run, values: dict) -> tuple[Model, bool]:
    """Lock and update the (user, run) row of ``model`` with ``values`` (a callable value gets the existing
    row, or None, and returns the value), or create it; return the row and whether it was created."""
    for _attempt in range(2):
        with transaction.atomic():
            row = model.objects.select_for_update().filter(user=user, course_run=run).first()
            resolved = {name: value(row) if callable(value) else value for name, value in values.items()}
            if row is not None:
                changed = [name for name, value in resolved.items() if getattr(row, name) != value]
                for name in changed:
                    setattr(row, name, resolved[name])
                if changed:
                    row.save()
                return row, False
            try:
                with transaction.atomic():
                    return model.objects.create(user=user, course_run=run, **resolved), True
            except IntegrityError:
                continue  # created concurrently: update that row on the second attempt
    raise IntegrityError(f"Could not record the {model.__name__} of user {user.pk} in {run.course_key}.")


def record_course_grade(
    user: AbstractBaseUser,
    course_key: str,
    *,
    percent: Decimal | float | str,
    letter_grade: str = "",
    passed: bool,
    passed_timestamp: datetime | None = None,
) -> CourseGrade:
    """Create or update the learner's course grade in the run. A passing grade without a timestamp gets now
    (or keeps its earlier one). Raises InvalidInput for a percent outside [0, 1] or an unknown run.

    A grade that does not pass has no passed timestamp (as in Open edX). Percent is kept to four places.
    """
    errors: dict[str, list[str]] = {}
    run = _run(course_key, errors)
    clean_percent = _fraction(percent, "percent", errors)
    if not isinstance(letter_grade, str) or len(letter_grade.strip()) > LETTER_GRADE_MAX_LENGTH:
        errors["letter_grade"] = [f"Text of at most {LETTER_GRADE_MAX_LENGTH} characters."]
    if not isinstance(passed, bool):
        errors["passed"] = ["Must be true or false."]
    timestamp = _moment(passed_timestamp, "passed_timestamp", errors)
    if errors:
        raise InvalidInput(errors)
    now = timezone.now()

    def passed_at(existing: CourseGrade | None) -> datetime | None:
        if not passed:
            return None
        if timestamp is not None:
            return timestamp
        return existing.passed_timestamp if existing is not None and existing.passed_timestamp else now

    grade, _created = _upsert(
        CourseGrade,
        user,
        run,
        {
            "percent": clean_percent,
            "letter_grade": letter_grade.strip(),
            "passed": passed,
            "passed_timestamp": passed_at,
        },
    )
    return grade


def record_certificate(
    user: AbstractBaseUser,
    course_key: str,
    *,
    mode: str,
    status: str,
    grade: Decimal | float | str | None = None,
    created: datetime | None = None,
) -> Certificate:
    """Create or update the learner's certificate in the run; ``passing`` follows the status.

    ``created`` is when the runtime issued it (default: now for a new certificate; an update without it
    keeps the earlier time). Raises InvalidInput for an unknown run or mode, status, or a grade outside [0, 1].
    """
    errors: dict[str, list[str]] = {}
    run = _run(course_key, errors)
    if mode not in {slug.value for slug in ModeSlug}:
        errors["mode"] = [f"{mode!r} is not a course mode ({', '.join(slug.value for slug in ModeSlug)})."]
    if status not in {known.value for known in CertificateStatus}:
        errors["status"] = [
            f"{status!r} is not a certificate status ({', '.join(known.value for known in CertificateStatus)})."
        ]
    clean_grade = None if grade is None else _fraction(grade, "grade", errors)
    issued = _moment(created, "created", errors)
    if errors:
        raise InvalidInput(errors)
    now = timezone.now()
    certificate, _created = _upsert(
        Certificate,
        user,
        run,
        {
            "mode": mode,
            "status": status,
            "grade": clean_grade,
            "passing": status in PASSING_CERTIFICATE_STATUSES,
            "created": lambda existing: issued or (existing.created if existing is not None else now),
        },
    )
    return certificate


def _pairs_q(pairs: Sequence[tuple[int, int]]) -> Q:
    """Rows of these (user_id, course_run_id) pairs: one OR term per run."""
    users_by_run: dict[int, set[int]] = defaultdict(set)
    for user_id, run_id in pairs:
        users_by_run[int(run_id)].add(int(user_id))
    condition = Q(pk__in=[])
    for run_id, user_ids in users_by_run.items():
        condition |= Q(course_run_id=run_id, user_id__in=sorted(user_ids))
    return condition


def completed_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of the (user_id, course_run_id) pairs, those the learner completed: a passing certificate
    (downloadable or audit_passing) or a passed course grade. One query per batch for each table."""
    wanted = list(dict.fromkeys((int(user_id), int(run_id)) for user_id, run_id in pairs))
    completed: set[tuple[int, int]] = set()
    for batch in batches(wanted):
        condition = _pairs_q(batch)
        completed.update(
            Certificate.objects.filter(
                condition, status__in=sorted(status.value for status in PASSING_CERTIFICATE_STATUSES)
            ).values_list("user_id", "course_run_id")
        )
        completed.update(CourseGrade.objects.filter(condition, passed=True).values_list("user_id", "course_run_id"))
    return completed
