"""Request and response shapes of the enrollments REST API. Validation of shape only; rules live in api.py."""

from __future__ import annotations

from rest_framework import serializers

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSlug
from rollbook.core.errors import InvalidInput
from rollbook.enrollments.data import EnrollStatus

MODE_CHOICES = [mode.value for mode in ModeSlug]
STATUS_CHOICES = [status.value for status in EnrollStatus]


def validate_course_key_text(value: str) -> str:
    """Return the course key in its canonical string form; a malformed key is a field error."""
    try:
        return str(catalog_api.parse_course_key(value))
    except InvalidInput as exc:
        raise serializers.ValidationError(exc.errors.get("course_key", [str(exc)])) from None


class EnrollmentSerializer(serializers.Serializer):
    """An enrollment as the API shows it (serializes ``data.EnrollmentData``)."""

    uuid = serializers.UUIDField(read_only=True)
    user = serializers.CharField(source="username", read_only=True, help_text="Username of the enrolled user.")
    user_id = serializers.IntegerField(read_only=True)
    course_key = serializers.CharField(read_only=True, help_text="Course run key, e.g. course-v1:ORG+CODE+RUN.")
    mode = serializers.ChoiceField(choices=MODE_CHOICES, read_only=True)
    is_active = serializers.BooleanField(read_only=True, help_text="False once the user has unenrolled.")
    created = serializers.DateTimeField(read_only=True)
    modified = serializers.DateTimeField(read_only=True)


class EnrollmentCreateSerializer(serializers.Serializer):
    """Enroll a user (yourself by default) in a course run."""

    user = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Username to enroll; defaults to the caller. Only operators may enroll someone else.",
    )
    course_key = serializers.CharField(max_length=255, help_text="Course run key, e.g. course-v1:ORG+CODE+RUN.")
    mode = serializers.ChoiceField(
        choices=MODE_CHOICES,
        required=False,
        allow_null=True,
        help_text="A mode the run offers. Defaults to the run's best mode (for learners: the best free mode). "
        "Learners may only choose a free mode (price 0).",
    )
    skip_access_checks = serializers.BooleanField(
        default=False, help_text="Operators only: enroll even outside the run's enrollment window."
    )

    def validate_course_key(self, value: str) -> str:
        return validate_course_key_text(value)


class EnrollmentUpdateSerializer(serializers.Serializer):
    """Change an enrollment's mode and/or active flag (``is_active: false`` unenrolls)."""

    mode = serializers.ChoiceField(
        choices=MODE_CHOICES,
        required=False,
        help_text="A mode the run offers; learners may only choose a free mode (price 0).",
    )
    is_active = serializers.BooleanField(
        required=False,
        help_text="false unenrolls; true re-enrolls (within the enrollment window unless an operator skips checks).",
    )
    skip_access_checks = serializers.BooleanField(
        default=False, help_text="Operators only: reactivate even outside the run's enrollment window."
    )

    def validate(self, attrs: dict) -> dict:
        if "mode" not in attrs and "is_active" not in attrs:
            raise serializers.ValidationError("Give mode and/or is_active.")
        return attrs


class BulkEnrollItemSerializer(serializers.Serializer):
    """One enrollment request: a user named by exactly one of username, email or user_id, and a run.

    Unknown users and runs, malformed course keys and modes the run does not offer are reported per item.
    """

    username = serializers.CharField(required=False, max_length=150)
    email = serializers.CharField(required=False, max_length=254, help_text="Matched ignoring case.")
    user_id = serializers.IntegerField(required=False, min_value=1)
    course_key = serializers.CharField(max_length=255)
    mode = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="Defaults to the run's best mode for a new enrollment, and to the current mode otherwise.",
    )

    def validate(self, attrs: dict) -> dict:
        given = [name for name in ("username", "email", "user_id") if attrs.get(name) is not None]
        if len(given) != 1:
            raise serializers.ValidationError("Name the user by exactly one of username, email or user_id.")
        return attrs


class BulkEnrollRequestSerializer(serializers.Serializer):
    """Many enrollment requests, applied together in one transaction."""

    requests = serializers.ListField(child=BulkEnrollItemSerializer(), allow_empty=False)
    skip_access_checks = serializers.BooleanField(
        default=False, help_text="Enroll even outside the runs' enrollment windows."
    )


class BulkEnrollResultSerializer(serializers.Serializer):
    """The outcome of one request, echoing the keys it was given."""

    username = serializers.CharField(source="request.username", allow_null=True)
    email = serializers.CharField(source="request.email", allow_null=True)
    user_id = serializers.IntegerField(source="request.user_id", allow_null=True)
    course_key = serializers.CharField(source="request.course_key")
    mode = serializers.CharField(source="request.mode", allow_null=True, help_text="The mode asked for.")
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    message = serializers.CharField(help_text="Why the request was not applied; empty on success.")
    enrollment = EnrollmentSerializer(allow_null=True, help_text="The enrollment on success, else null.")


class BulkEnrollResponseSerializer(serializers.Serializer):
    """One result per request in request order, and how many requests ended in each status."""

    results = BulkEnrollResultSerializer(many=True)
    summary = serializers.DictField(child=serializers.IntegerField(), help_text="Count of results per status.")
