"""Request and response shapes of the program-enrollments REST API (Open edX LMS v1 shape).

Write bodies can carry up to ``settings.PROGRAM_WRITE_MAX_RECORDS`` (100,000 by default) items, so they are
checked by ``parse_program_items`` / ``parse_course_items`` (plain loops with DRF-style field errors) rather
than by a DRF list serializer; the serializers below describe the same shapes for the OpenAPI document.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError

from rollbook.programs.data import (
    PROGRAM_COURSE_ENROLLMENT_STATUSES,
    PROGRAM_ENROLLMENT_STATUSES,
    JobKind,
    JobState,
    ProgramCourseEnrollmentRequest,
    ProgramEnrollmentRequest,
)
from rollbook.programs.models import KEY_MAX_LENGTH

PROGRAM_STATUS_TEXT = ", ".join(sorted(PROGRAM_ENROLLMENT_STATUSES))
COURSE_STATUS_TEXT = ", ".join(sorted(PROGRAM_COURSE_ENROLLMENT_STATUSES))


class PayloadTooLarge(APIException):
    """413: more records (or bytes) than the configured maximum."""

    status_code = 413
    default_detail = "The request is larger than the configured maximum."
    default_code = "payload_too_large"


# --- write bodies --------------------------------------------------------------------------------


class ProgramEnrollmentItemSerializer(serializers.Serializer):
    """One program enrollment to create or update (documentation of the items of a write body)."""

    student_key = serializers.CharField(max_length=KEY_MAX_LENGTH, help_text="The university's own student id.")
    status = serializers.CharField(
        help_text=f"One of {PROGRAM_STATUS_TEXT}. Checked per record: a bad one is reported `invalid-status`."
    )
    curriculum_uuid = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="For new enrollments: the curriculum (default: the program's first active curriculum).",
    )


class ProgramCourseEnrollmentItemSerializer(serializers.Serializer):
    """One program-course enrollment to create or update (documentation of the items of a write body)."""

    student_key = serializers.CharField(max_length=KEY_MAX_LENGTH, help_text="The university's own student id.")
    status = serializers.CharField(
        help_text=f"One of {COURSE_STATUS_TEXT}. Checked per record: a bad one is reported `invalid-status`."
    )
    course_staff = serializers.BooleanField(
        required=False,
        allow_null=True,
        help_text="true: the student is course staff of the run; false: not; absent or null: leave as it is.",
    )


def _max_records() -> int:
    return int(settings.PROGRAM_WRITE_MAX_RECORDS)


def _check_list(data: Any) -> list:
    if not isinstance(data, list):
        raise ValidationError(
            {
                "non_field_errors": [
                    'Send a JSON list of enrollment objects, e.g. [{"student_key": "…", "status": "…"}].'
                ]
            }
        )
    limit = _max_records()
    if len(data) > limit:
        raise PayloadTooLarge(f"At most {limit} records per request; got {len(data)}.")
    return data


def _text(item: dict, name: str, errors: dict[str, list[str]], *, max_length: int | None = None) -> str:
    if name not in item or item[name] is None:
        errors[name] = ["This field is required."]
        return ""
    value = item[name]
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return ""
    if not value.strip():
        errors[name] = ["This field may not be blank."]
    elif max_length is not None and len(value) > max_length:
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
    return value


def _parse(data: Any, parse_item) -> list:
    items = _check_list(data)
    requests = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(items):
        item_errors: dict[str, list[str]] = {}
        if not isinstance(item, dict):
            errors[str(index)] = {"non_field_errors": ["Each record must be an object with student_key and status."]}
            continue
        request = parse_item(item, item_errors)
        if item_errors:
            errors[str(index)] = item_errors
        else:
            requests.append(request)
    if errors:
        raise ValidationError(errors)
    return requests


def _program_item(item: dict, errors: dict[str, list[str]]) -> ProgramEnrollmentRequest:
    key = _text(item, "student_key", errors, max_length=KEY_MAX_LENGTH)
    status = _text(item, "status", errors)
    curriculum = item.get("curriculum_uuid")
    if curriculum is not None:
        try:
            curriculum = str(uuid.UUID(curriculum)) if isinstance(curriculum, str) else None
        except ValueError:
            curriculum = None
        if curriculum is None:
            errors["curriculum_uuid"] = [f"{item.get('curriculum_uuid')!r} is not a UUID."]
    return ProgramEnrollmentRequest(key, status, curriculum)


def _course_item(item: dict, errors: dict[str, list[str]]) -> ProgramCourseEnrollmentRequest:
    key = _text(item, "student_key", errors, max_length=KEY_MAX_LENGTH)
    status = _text(item, "status", errors)
    staff = item.get("course_staff")
    if staff is not None and not isinstance(staff, bool):
        errors["course_staff"] = ["Must be true, false or null."]
        staff = None
    return ProgramCourseEnrollmentRequest(key, status, staff)


def parse_program_items(data: Any) -> list[ProgramEnrollmentRequest]:
    """Check a program-enrollment write body; return its requests in order.

    400 (ValidationError) when the body is not a list, or an item is not an object, lacks a non-blank
    string ``student_key`` or ``status``, or has a ``curriculum_uuid`` that is not a UUID (errors keyed by
    the item's index); 413 (PayloadTooLarge) beyond ``settings.PROGRAM_WRITE_MAX_RECORDS`` items.
    Statuses are not checked here: the write reports a bad one per key.
    """
    return _parse(data, _program_item)


def parse_course_items(data: Any) -> list[ProgramCourseEnrollmentRequest]:
    """Check a program-course-enrollment write body (as ``parse_program_items``; ``course_staff`` must be
    a boolean or null)."""
    return _parse(data, _course_item)


# --- list rows -----------------------------------------------------------------------------------


class ProgramEnrollmentRowSerializer(serializers.Serializer):
    """A program enrollment as listed."""

    student_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=sorted(PROGRAM_ENROLLMENT_STATUSES))
    account_exists = serializers.BooleanField(help_text="Whether the student key is linked to an account.")
    curriculum_uuid = serializers.UUIDField()
    username = serializers.CharField(help_text='"" when not linked.')
    email = serializers.CharField(help_text='"" when not linked.')


class ProgramCourseEnrollmentRowSerializer(serializers.Serializer):
    """A program-course enrollment as listed."""

    student_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=sorted(PROGRAM_COURSE_ENROLLMENT_STATUSES))
    account_exists = serializers.BooleanField(help_text="Whether the student key is linked to an account.")
    curriculum_uuid = serializers.UUIDField()
    course_staff = serializers.BooleanField(help_text="Whether the student is (or will be, once linked) course staff.")


class ProgramEnrollmentPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProgramEnrollmentRowSerializer(many=True)


class ProgramCourseEnrollmentPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ProgramCourseEnrollmentRowSerializer(many=True)


# --- jobs ----------------------------------------------------------------------------------------


class UploadSerializer(serializers.Serializer):
    """A CSV upload as a multipart form."""

    file = serializers.FileField(help_text="The CSV file (UTF-8).")


class JobCreatedSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    job_url = serializers.URLField(help_text="Where to follow the job.")
    state = serializers.ChoiceField(choices=[s.value for s in JobState])


class JobProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Rows written so far.")
    total = serializers.IntegerField(help_text="Rows in the file.")


class JobSerializer(serializers.Serializer):
    """An upload job as its creator (or an operator) sees it."""

    job_id = serializers.UUIDField(source="uuid")
    kind = serializers.ChoiceField(choices=[k.value for k in JobKind])
    program_uuid = serializers.UUIDField(source="program.uuid")
    state = serializers.ChoiceField(choices=[s.value for s in JobState])
    dry_run = serializers.BooleanField()
    file_name = serializers.CharField()
    progress = serializers.SerializerMethodField()
    summary = serializers.DictField(
        help_text="Once finished: total, code (200/207/422), statuses {status: count}, created, updated, "
        "unchanged, refused, dry_run."
    )
    error = serializers.CharField(help_text="Why the job failed; empty otherwise.")
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    result_url = serializers.SerializerMethodField()

    @extend_schema_field(JobProgressSerializer)
    def get_progress(self, job) -> dict[str, int]:
        return {"done": job.done, "total": job.total}

    def get_result_url(self, job) -> str | None:
        if job.state not in (JobState.SUCCEEDED, JobState.FAILED):
            return None
        return self.context["result_url"](job)
