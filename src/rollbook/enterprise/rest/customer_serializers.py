"""Request and response shapes of the enterprise customer, learner, consent, catalog, plan and license API
(edx-enterprise and license-manager shapes). Validation of shape only; the rules live in ``enterprise.api``.

Email lists (``user_emails``) can carry up to ``settings.BULK_MAX_ITEMS`` addresses, so they are checked by
``parse_user_emails`` (a plain loop) rather than a DRF list serializer; ``UserEmailsSerializer`` describes the
same shape for the OpenAPI document. A malformed address is not a 400: the operation reports it per email.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError

from rollbook.enterprise.data import ConsentEnforcement, LicenseStatus

ENFORCEMENT_CHOICES = [member.value for member in ConsentEnforcement]
LICENSE_STATUS_CHOICES = [member.value for member in LicenseStatus]


class PayloadTooLarge(APIException):
    """413: more items than ``settings.BULK_MAX_ITEMS``."""

    status_code = 413
    default_detail = "The request is larger than the configured maximum."
    default_code = "payload_too_large"


def bulk_max_items() -> int:
    """The most items one list in a request may carry (``settings.BULK_MAX_ITEMS``)."""
    return int(settings.BULK_MAX_ITEMS)


def refuse_oversized(data: Any, *fields: str) -> None:
    """Raise PayloadTooLarge when one of ``fields`` of the body is a list longer than ``bulk_max_items()``."""
    if not isinstance(data, dict):
        return
    limit = bulk_max_items()
    for field in fields:
        value = data.get(field)
        if isinstance(value, list) and len(value) > limit:
            raise PayloadTooLarge(f"At most {limit} items in {field}; got {len(value)}.")


def parse_user_emails(data: Any, field: str = "user_emails") -> list[str]:
    """The ``user_emails`` list of a body, as given. 400 when the body is not an object, the field is missing,
    not a list, empty, or holds something other than strings; 413 past ``settings.BULK_MAX_ITEMS`` items."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [f'Send a JSON object, e.g. {{"{field}": ["ann@example.com"]}}.']})
    emails = data.get(field)
    if emails is None:
        raise ValidationError({field: ["This field is required."]})
    if not isinstance(emails, list):
        raise ValidationError({field: ["Must be a list of email addresses."]})
    if not emails:
        raise ValidationError({field: ["Give at least one email address."]})
    refuse_oversized(data, field)
    errors = {str(index): ["Must be a string."] for index, email in enumerate(emails) if not isinstance(email, str)}
    if errors:
        raise ValidationError({field: errors})
    return emails


# --- customers -----------------------------------------------------------------------------------


class CustomerSerializer(serializers.Serializer):
    """An enterprise customer."""

    uuid = serializers.UUIDField()
    name = serializers.CharField()
    slug = serializers.CharField()
    active = serializers.BooleanField()
    enable_data_sharing_consent = serializers.BooleanField()
    enforce_data_sharing_consent = serializers.ChoiceField(choices=ENFORCEMENT_CHOICES)
    enable_audit_enrollment = serializers.BooleanField()
    enable_audit_data_reporting = serializers.BooleanField()
    identity_providers = serializers.SerializerMethodField(help_text="Slugs of the customer's identity providers.")
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()

    def get_identity_providers(self, customer) -> list[str]:
        return sorted(link.identity_provider.slug for link in customer.provider_links.all())


class CustomerUpdateSerializer(serializers.Serializer):
    """The customer fields to change (operators); absent fields are left as they are."""

    name = serializers.CharField(required=False, max_length=255)
    slug = serializers.CharField(required=False, max_length=64, help_text="Lower-case letters, digits and '-'.")
    active = serializers.BooleanField(required=False)
    enable_data_sharing_consent = serializers.BooleanField(required=False)
    enforce_data_sharing_consent = serializers.ChoiceField(choices=ENFORCEMENT_CHOICES, required=False)
    enable_audit_enrollment = serializers.BooleanField(required=False)
    enable_audit_data_reporting = serializers.BooleanField(required=False)
    identity_providers = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="Slugs of identity providers; replaces the customer's set.",
    )


class CustomerCreateSerializer(CustomerUpdateSerializer):
    """A new enterprise customer (operators)."""

    uuid = serializers.UUIDField(required=False, help_text="Choose the customer's uuid (default: a new one).")
    name = serializers.CharField(max_length=255)
    slug = serializers.CharField(max_length=64, help_text="Lower-case letters, digits and '-'; unique (any case).")
    active = serializers.BooleanField(default=True)
    enable_data_sharing_consent = serializers.BooleanField(default=True)
    enforce_data_sharing_consent = serializers.ChoiceField(
        choices=ENFORCEMENT_CHOICES, default=ConsentEnforcement.AT_ENROLLMENT.value
    )
    enable_audit_enrollment = serializers.BooleanField(default=False)
    enable_audit_data_reporting = serializers.BooleanField(default=False)
    identity_providers = serializers.ListField(
        child=serializers.CharField(max_length=64), default=list, help_text="Slugs of identity providers."
    )


class ContainsContentItemsSerializer(serializers.Serializer):
    contains_content_items = serializers.BooleanField()


# --- learners ------------------------------------------------------------------------------------


class UserEmailsSerializer(serializers.Serializer):
    """A list of email addresses (matched ignoring case), at most ROLLBOOK_BULK_MAX_ITEMS."""

    user_emails = serializers.ListField(child=serializers.CharField(), allow_empty=False)


class LinkResultSerializer(serializers.Serializer):
    email = serializers.CharField(help_text="As given.")
    status = serializers.CharField(
        help_text="linked, pending (no account with that email yet), already_linked, unlinked, not_linked, "
        "invalid_email or duplicated."
    )
    user_id = serializers.IntegerField(allow_null=True, help_text="The matching account, if any.")


class LinkResponseSerializer(serializers.Serializer):
    results = LinkResultSerializer(many=True, help_text="One result per email, in the order given.")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="How many results per status.")


class LearnerSerializer(serializers.Serializer):
    """A learner of a customer (an enterprise customer user): an account, or a pending email."""

    id = serializers.IntegerField()
    enterprise_customer_uuid = serializers.UUIDField(source="customer.uuid")
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField(help_text="The account's email, or the pending email.")
    active = serializers.BooleanField(help_text="Whether this is the user's active customer.")
    linked = serializers.BooleanField(help_text="False once unlinked (the row is kept).")
    pending = serializers.SerializerMethodField(help_text="True while no account is linked to the email.")
    created = serializers.DateTimeField()

    def get_username(self, row) -> str | None:
        return row.user.username if row.user_id else None

    def get_email(self, row) -> str:
        return row.user.email if row.user_id else row.user_email

    def get_pending(self, row) -> bool:
        return row.user_id is None


# --- consent -------------------------------------------------------------------------------------


class ConsentRequestSerializer(serializers.Serializer):
    """Whose consent, with which customer, for which course."""

    enterprise_customer_uuid = serializers.UUIDField()
    course_id = serializers.CharField(
        max_length=255, help_text="A course run key, a catalog course key (catalog-course:ORG:CODE) or ORG+CODE."
    )
    username = serializers.CharField(
        required=False,
        max_length=150,
        help_text="Whose consent (default: the caller). Reading: operators, and the customer's admins for its "
        "learners. Granting and revoking: operators only.",
    )


class ConsentSerializer(serializers.Serializer):
    """A learner's data-sharing consent for a course with a customer (edx-enterprise shape)."""

    username = serializers.CharField()
    enterprise_customer_uuid = serializers.UUIDField()
    course_id = serializers.CharField(help_text="As given.")
    exists = serializers.BooleanField(help_text="Whether a consent record exists.")
    consent_provided = serializers.BooleanField(help_text="True only when consent was granted.")
    consent_required = serializers.BooleanField(help_text="Whether the customer asks for consent for this course.")


# --- catalogs ------------------------------------------------------------------------------------


class CatalogSerializer(serializers.Serializer):
    """An enterprise catalog: explicit catalog courses and whole organizations."""

    uuid = serializers.UUIDField()
    enterprise_customer = serializers.UUIDField(source="customer.uuid")
    title = serializers.CharField()
    content_keys = serializers.SerializerMethodField(help_text="Catalog course keys (catalog-course:ORG:CODE).")
    organizations = serializers.SerializerMethodField(help_text="Short names of the whole organizations included.")
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()

    def get_content_keys(self, catalog) -> list[str]:
        return sorted(entry.catalog_course.key_str for entry in catalog.course_entries.all())

    def get_organizations(self, catalog) -> list[str]:
        return sorted(entry.organization.short_name for entry in catalog.organization_entries.all())


_KEYS_HELP = "Course run keys, catalog course keys (catalog-course:ORG:CODE) or ORG+CODE; a run names its course."


class CatalogCreateSerializer(serializers.Serializer):
    """A new enterprise catalog (operators)."""

    uuid = serializers.UUIDField(required=False, help_text="Choose the catalog's uuid (default: a new one).")
    enterprise_customer = serializers.UUIDField(help_text="The customer the catalog belongs to.")
    title = serializers.CharField(max_length=255, help_text="Unique within the customer.")
    content_keys = serializers.ListField(
        child=serializers.CharField(max_length=255), default=list, help_text=_KEYS_HELP
    )
    organizations = serializers.ListField(
        child=serializers.CharField(max_length=255), default=list, help_text="Organization short names."
    )


class CatalogUpdateSerializer(serializers.Serializer):
    """Changes to a catalog (operators)."""

    title = serializers.CharField(required=False, max_length=255)
    add_content_keys = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, help_text=_KEYS_HELP
    )
    remove_content_keys = serializers.ListField(child=serializers.CharField(max_length=255), required=False)
    add_organizations = serializers.ListField(child=serializers.CharField(max_length=255), required=False)
    remove_organizations = serializers.ListField(child=serializers.CharField(max_length=255), required=False)


# --- plans and licenses --------------------------------------------------------------------------


class PlanSerializer(serializers.Serializer):
    """A subscription plan and how its seats are used."""

    uuid = serializers.UUIDField()
    title = serializers.CharField()
    enterprise_customer_uuid = serializers.UUIDField(source="customer.uuid")
    enterprise_catalog_uuid = serializers.UUIDField(source="catalog.uuid")
    seats = serializers.IntegerField()
    seats_assigned = serializers.IntegerField(help_text="Licenses assigned and not yet activated.")
    seats_activated = serializers.IntegerField()
    seats_free = serializers.IntegerField(help_text="Unassigned licenses.")
    start = serializers.DateTimeField()
    expiration = serializers.DateTimeField()
    active = serializers.BooleanField()
    created = serializers.DateTimeField()
    modified = serializers.DateTimeField()


class PlanUpdateSerializer(serializers.Serializer):
    """Changes to a plan (operators). Fewer seats than are in use is refused."""

    title = serializers.CharField(required=False, max_length=255)
    seats = serializers.IntegerField(required=False, help_text="Between 1 and 1,000,000.")
    start = serializers.DateTimeField(required=False)
    expiration = serializers.DateTimeField(required=False)
    active = serializers.BooleanField(required=False)


class PlanCreateSerializer(serializers.Serializer):
    """A new subscription plan and its unassigned licenses (operators)."""

    uuid = serializers.UUIDField(required=False, help_text="Choose the plan's uuid (default: a new one).")
    enterprise_customer_uuid = serializers.UUIDField()
    enterprise_catalog_uuid = serializers.UUIDField(help_text="One of the customer's catalogs.")
    title = serializers.CharField(max_length=255)
    seats = serializers.IntegerField(help_text="Between 1 and 1,000,000.")
    start = serializers.DateTimeField()
    expiration = serializers.DateTimeField(help_text="After start.")
    active = serializers.BooleanField(default=True)


class LicenseSerializer(serializers.Serializer):
    """A subscription license (one seat of a plan)."""

    uuid = serializers.UUIDField()
    status = serializers.ChoiceField(choices=LICENSE_STATUS_CHOICES)
    user_email = serializers.CharField(help_text='The email it is assigned to; "" when unassigned.')
    user_id = serializers.IntegerField(allow_null=True)
    subscription_plan_uuid = serializers.UUIDField(source="plan.uuid")
    subscription_plan_title = serializers.CharField(source="plan.title")
    subscription_plan_expiration = serializers.DateTimeField(source="plan.expiration")
    enterprise_customer_uuid = serializers.UUIDField(source="plan.customer.uuid")
    assigned_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class LicenseAssignResponseSerializer(serializers.Serializer):
    assigned = serializers.ListField(child=serializers.CharField(), help_text="Emails given a license now.")
    already_assigned = serializers.ListField(child=serializers.CharField(), help_text="Emails holding one already.")
    errors = serializers.DictField(child=serializers.CharField(), help_text="{email: why it was refused}.")


class RevocationEffectSerializer(serializers.Serializer):
    course_run_key = serializers.CharField()
    course_enrollment_uuid = serializers.UUIDField()
    action = serializers.CharField(help_text="kept_completed, moved_to_audit, unenrolled or already_inactive.")


class RevokeResultSerializer(serializers.Serializer):
    email = serializers.CharField(help_text="As given.")
    status = serializers.ChoiceField(choices=["revoked", "failed"])
    effects = RevocationEffectSerializer(many=True, help_text="What the revocation did to each enrollment.")
    error = serializers.CharField(help_text='Why it failed; "" when revoked.')


class RevokeResponseSerializer(serializers.Serializer):
    results = RevokeResultSerializer(many=True, help_text="One result per distinct email, in the order given.")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="How many results per status.")
