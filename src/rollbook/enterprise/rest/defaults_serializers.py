"""Request and response shapes of the enterprise enrollment and default-enrollment REST API (edx-enterprise
shapes): ``enroll_learners_in_courses``, default enrollment intentions with learner status and realization,
and enterprise course enrollments.

An ``enroll_learners_in_courses`` body may carry up to ``settings.BULK_MAX_ITEMS`` items, so it is checked by
``parse_enrollments_info`` (a plain loop with DRF-style field errors per item index) rather than by a DRF list
serializer; the serializers below describe the same shape for the OpenAPI document. Only the shape is
checked here: whether a user, run or license exists is the api's answer, reported per item.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError

from rollbook.enterprise.data import EnrollItem, LearnerStatusReason

ITEMS_FIELD = "enrollments_info"
ITEMS_ALIAS = "licenses_info"
CONTENT_KEY_MAX_LENGTH = 255
TEXT_MAX_LENGTH = 255


class PayloadTooLarge(APIException):
    """413: more items than ``settings.BULK_MAX_ITEMS``."""

    status_code = 413
    default_detail = "The request carries more items than the configured maximum."
    default_code = "payload_too_large"


# --- enroll_learners_in_courses --------------------------------------------------------------------


class EnrollItemSerializer(serializers.Serializer):
    """One learner to enroll (documentation of the items of an ``enroll_learners_in_courses`` body)."""

    user_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="The learner's user id; give this or email."
    )
    email = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="The learner's email (any case); an email with no account yet gets a pending enrollment.",
    )
    course_run_key = serializers.CharField(help_text="The run, course-v1:ORG+CODE+RUN.")
    license_uuid = serializers.CharField(
        required=False, allow_null=True, help_text="The subscription license that pays; give this or transaction_id."
    )
    transaction_id = serializers.CharField(
        required=False, allow_null=True, help_text="A learner-credit transaction that pays; give this or license_uuid."
    )
    is_default_auto_enrollment = serializers.BooleanField(
        default=False, help_text="true: record the enrollment as the realization of the matching default intention."
    )
    force_enrollment = serializers.BooleanField(default=False, help_text="Accepted for compatibility.")


class EnrollLearnersRequestSerializer(serializers.Serializer):
    """The body of ``enroll_learners_in_courses``: a list of items (``licenses_info`` is accepted as an alias)."""

    enrollments_info = EnrollItemSerializer(many=True, required=False)
    licenses_info = EnrollItemSerializer(many=True, required=False, help_text="Alias of enrollments_info.")


class EnrollSuccessSerializer(serializers.Serializer):
    """An item that left the learner enrolled."""

    user_id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    course_run_key = serializers.CharField()
    created = serializers.BooleanField(
        help_text="true: a new course enrollment; false: an existing one was kept, reactivated or upgraded."
    )
    mode = serializers.CharField(allow_null=True)


class EnrollPendingSerializer(serializers.Serializer):
    """An item whose email has no account yet: the enrollment is made when the learner registers."""

    user_id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    course_run_key = serializers.CharField()


class EnrollFailureSerializer(serializers.Serializer):
    """An item that was not applied, and why."""

    user_id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    course_run_key = serializers.CharField()
    message = serializers.CharField()


class EnrollLearnersResponseSerializer(serializers.Serializer):
    """One entry per item, in the order given, in the list of its outcome."""

    successes = EnrollSuccessSerializer(many=True)
    pending = EnrollPendingSerializer(many=True)
    failures = EnrollFailureSerializer(many=True)


def _optional_text(item: dict, name: str, errors: dict[str, list[str]]) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = ["Must be a string or null."]
        return None
    if len(value) > TEXT_MAX_LENGTH:
        errors[name] = [f"Ensure this field has no more than {TEXT_MAX_LENGTH} characters."]
        return None
    return value


def _flag(item: dict, name: str, errors: dict[str, list[str]]) -> bool:
    value = item.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        errors[name] = ["Must be true or false."]
        return False
    return value


def _user_id(item: dict, errors: dict[str, list[str]]) -> int | None:
    value = item.get("user_id")
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())  # edx-enterprise clients send ids as text too
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors["user_id"] = ["Must be a positive whole number."]
        return None
    return value


def _enroll_item(item: dict, errors: dict[str, list[str]]) -> EnrollItem:
    course_run_key = item.get("course_run_key")
    if course_run_key is None:
        errors["course_run_key"] = ["This field is required."]
    elif not isinstance(course_run_key, str) or not course_run_key.strip():
        errors["course_run_key"] = ["Must be a non-empty string."]
    elif len(course_run_key) > TEXT_MAX_LENGTH:
        errors["course_run_key"] = [f"Ensure this field has no more than {TEXT_MAX_LENGTH} characters."]
    user_id = _user_id(item, errors)
    email = _optional_text(item, "email", errors)
    if user_id is None and email is None and "user_id" not in errors and "email" not in errors:
        errors["non_field_errors"] = ["Name the learner with user_id or email."]
    license_uuid = _optional_text(item, "license_uuid", errors)
    transaction_id = _optional_text(item, "transaction_id", errors)
    is_default = _flag(item, "is_default_auto_enrollment", errors)
    force = _flag(item, "force_enrollment", errors)
    if errors:
        return EnrollItem(course_run_key="")
    return EnrollItem(
        course_run_key=course_run_key,
        user_id=user_id,
        email=email,
        license_uuid=license_uuid,
        transaction_id=transaction_id,
        is_default_auto_enrollment=is_default,
        force_enrollment=force,
    )


def parse_enrollments_info(data: Any) -> list[EnrollItem]:
    """Check an ``enroll_learners_in_courses`` body and return its items in order.

    400 (ValidationError) when the body is not an object with a non-empty list under ``enrollments_info`` (or
    its alias ``licenses_info``), or when an item is not an object, lacks ``course_run_key`` or a learner, or
    has a field of the wrong type; the errors are keyed by item index. 413 (PayloadTooLarge) above
    ``settings.BULK_MAX_ITEMS`` items. Nothing is applied unless every item has the right shape.
    """
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [f'Send a JSON object: {{"{ITEMS_FIELD}": [{{…}}, …]}}.']})
    given = [name for name in (ITEMS_FIELD, ITEMS_ALIAS) if name in data]
    if not given:
        raise ValidationError({ITEMS_FIELD: ["This field is required."]})
    if len(given) > 1:
        raise ValidationError({ITEMS_FIELD: [f"Send {ITEMS_FIELD} or its alias {ITEMS_ALIAS}, not both."]})
    field = given[0]
    items = data[field]
    if not isinstance(items, list):
        raise ValidationError({field: ["Must be a list of objects."]})
    if not items:
        raise ValidationError({field: ["Must not be empty."]})
    limit = int(settings.BULK_MAX_ITEMS)
    if len(items) > limit:
        raise PayloadTooLarge(f"At most {limit} items per request; got {len(items)}.")
    parsed: list[EnrollItem] = []
    errors: dict[str, Any] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors[str(index)] = {"non_field_errors": ["Each item must be an object with course_run_key."]}
            continue
        item_errors: dict[str, list[str]] = {}
        enroll_item = _enroll_item(item, item_errors)
        if item_errors:
            errors[str(index)] = item_errors
        else:
            parsed.append(enroll_item)
    if errors:
        raise ValidationError({field: errors})
    return parsed


# --- default enrollment intentions -----------------------------------------------------------------


class IntentionFieldsSerializer(serializers.Serializer):
    """A default enrollment intention resolved for now (serializes a dict built from ``ResolvedIntention``)."""

    uuid = serializers.UUIDField()
    content_key = serializers.CharField(help_text="A run key, or a catalog course key catalog-course:ORG:CODE.")
    content_type = serializers.ChoiceField(choices=["course", "course_run"])
    enterprise_customer = serializers.UUIDField(help_text="The customer's uuid.")
    course_run_key = serializers.CharField(
        allow_null=True, help_text="The run it enrolls in now (a course's advertised run); null when there is none."
    )
    is_course_run_enrollable = serializers.BooleanField()
    course_run_enroll_by_date = serializers.DateTimeField(allow_null=True)
    best_mode_for_course_run = serializers.CharField(allow_null=True)
    applicable_enterprise_catalog_uuids = serializers.ListField(
        child=serializers.UUIDField(), help_text="The customer's catalogs containing the course (empty without a run)."
    )
    course_key = serializers.CharField(help_text="The catalog course, catalog-course:ORG:CODE.")
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()


class IntentionSerializer(IntentionFieldsSerializer):
    """An intention as listed and shown by the intention endpoints."""

    is_removed = serializers.BooleanField(help_text="Soft-deleted (only listed with include_removed=true).")


class IntentionCreateSerializer(serializers.Serializer):
    """Create an intention: a customer and a course or run key."""

    enterprise_customer = serializers.UUIDField(help_text="The customer's uuid.")
    content_key = serializers.CharField(
        max_length=CONTENT_KEY_MAX_LENGTH,
        help_text="A run key (course-v1:ORG+CODE+RUN: that run) or a course (catalog-course:ORG:CODE or ORG+CODE: "
        "its advertised run at enrollment time).",
    )


class LearnerStatusItemSerializer(IntentionFieldsSerializer):
    """An intention as learner status sees it for one learner."""

    has_existing_enrollment = serializers.BooleanField()
    is_existing_enrollment_active = serializers.BooleanField(allow_null=True)
    is_existing_enrollment_audit = serializers.BooleanField(allow_null=True)
    reason = serializers.ChoiceField(
        choices=[reason.value for reason in LearnerStatusReason], help_text="Which of the eight rules placed it."
    )


class NeedsEnrollmentSerializer(serializers.Serializer):
    enrollable = LearnerStatusItemSerializer(many=True)
    not_enrollable = LearnerStatusItemSerializer(many=True)


class EnrollmentStatusesSerializer(serializers.Serializer):
    needs_enrollment = NeedsEnrollmentSerializer()
    already_enrolled = LearnerStatusItemSerializer(many=True)


class NeedsEnrollmentCountsSerializer(serializers.Serializer):
    enrollable = serializers.IntegerField()
    not_enrollable = serializers.IntegerField()


class LearnerStatusMetadataSerializer(serializers.Serializer):
    total_default_enterprise_enrollment_intentions = serializers.IntegerField()
    total_needs_enrollment = NeedsEnrollmentCountsSerializer()
    total_already_enrolled = serializers.IntegerField()


class LearnerStatusSerializer(serializers.Serializer):
    """Every non-removed intention of a customer, grouped for one learner (the edx-enterprise shape)."""

    lms_user_id = serializers.IntegerField()
    user_email = serializers.CharField()
    enterprise_customer_uuid = serializers.UUIDField()
    enrollment_statuses = EnrollmentStatusesSerializer()
    metadata = LearnerStatusMetadataSerializer()


class RealizeRequestSerializer(serializers.Serializer):
    """Realize default enrollments: for the caller, a named learner (operators), or every learner (admins)."""

    enterprise_customer_uuid = serializers.UUIDField()
    lms_user_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Operators only: the learner to realize for."
    )
    all_learners = serializers.BooleanField(
        default=False, help_text="Administrators and operators: every active learner of the customer."
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["all_learners"] and attrs.get("lms_user_id") is not None:
            raise serializers.ValidationError({"all_learners": ["Give all_learners or lms_user_id, not both."]})
        return attrs


class RealizedSerializer(serializers.Serializer):
    """A default enrollment made (or found already made)."""

    intention_uuid = serializers.UUIDField()
    course_run_key = serializers.CharField()
    course_enrollment_uuid = serializers.UUIDField()
    mode = serializers.CharField()
    license_uuid = serializers.UUIDField()


class RealizationFailureSerializer(serializers.Serializer):
    """An enrollable intention that could not be realized, and why."""

    intention_uuid = serializers.UUIDField()
    course_run_key = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class RealizeResponseSerializer(serializers.Serializer):
    """What realization did for one learner."""

    realized = RealizedSerializer(many=True)
    failures = RealizationFailureSerializer(many=True)


class CustomerRealizeResponseSerializer(serializers.Serializer):
    """What realization did for every active learner of a customer (``all_learners``)."""

    learners = serializers.IntegerField()
    enrollments_created = serializers.IntegerField()
    realizations_created = serializers.IntegerField()
    skipped_without_license = serializers.IntegerField()
    failures = serializers.IntegerField()


# --- enterprise course enrollments -----------------------------------------------------------------


class EnterpriseEnrollmentSerializer(serializers.Serializer):
    """A course enrollment made through a customer."""

    id = serializers.IntegerField()
    enterprise_customer_user = serializers.IntegerField(help_text="The id of the learner's customer-user row.")
    user_id = serializers.IntegerField()
    course_run_key = serializers.CharField()
    mode = serializers.CharField()
    is_active = serializers.BooleanField()
    source = serializers.CharField()
    license_uuid = serializers.UUIDField(allow_null=True)
    saved_for_later = serializers.BooleanField()
    unenrolled = serializers.BooleanField(allow_null=True)
    unenrolled_at = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()
    default_intention_uuid = serializers.UUIDField(
        allow_null=True, help_text="The default enrollment intention this enrollment realized, if any."
    )


class SavedForLaterSerializer(serializers.Serializer):
    """The body of ``PATCH enterprise-course-enrollment/{id}/``: only ``saved_for_later``."""

    saved_for_later = serializers.BooleanField(help_text="true: saved for later; false: not.")


def parse_saved_for_later(data: Any) -> bool:
    """The ``saved_for_later`` of a PATCH body. 400 (ValidationError) unless the body is a JSON object whose
    only field is ``saved_for_later`` and it is a JSON boolean (text such as "true" is refused too)."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ['Send a JSON object: {"saved_for_later": true}.']})
    unknown = sorted(str(name) for name in data if name != "saved_for_later")
    if unknown:
        raise ValidationError({name: ["Only saved_for_later can be changed here."] for name in unknown})
    if "saved_for_later" not in data:
        raise ValidationError({"saved_for_later": ["This field is required."]})
    value = data["saved_for_later"]
    if not isinstance(value, bool):
        raise ValidationError({"saved_for_later": ["Must be a JSON boolean: true or false."]})
    return value
