"""Enterprise customers, their learners, consent, catalogs, subscription licenses, enterprise course
enrollments, and default-enrollment intentions with their realizations.

Emails are stored as given and in a normalised column (``rollbook.core.normalise.normalise_key``) that
carries the uniqueness rules, so the rules hold on SQLite and PostgreSQL alike. ``save()`` fills the
normalised columns; bulk writes must fill them themselves (``enterprise.api`` does).
"""

import uuid

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.core.normalise import normalise_key
from rollbook.enterprise.data import (
    SEAT_HOLDING_STATUSES,
    SLUG_PATTERN,
    ConsentEnforcement,
    ContentType,
    EnrollmentSource,
    LicenseStatus,
)

EMAIL_MAX_LENGTH = 254
NORMALIZED_EMAIL_MAX_LENGTH = 3 * EMAIL_MAX_LENGTH  # casefolding can triple the length


def _choices(enum) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum]


def _values(members) -> list[str]:
    return sorted(member.value for member in members)


class EnterpriseCustomer(models.Model):
    """A corporate customer: its learners, catalogs, plans and the rules for consent and audit reporting."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=255)
    slug = models.CharField(max_length=64, unique=True, help_text="Lower-case letters, digits and '-'.")
    active = models.BooleanField(default=True)
    enable_data_sharing_consent = models.BooleanField(
        default=True, help_text="Learners must grant consent before their results are shared with the customer."
    )
    enforce_data_sharing_consent = models.CharField(
        max_length=32, choices=_choices(ConsentEnforcement), default=ConsentEnforcement.AT_ENROLLMENT
    )
    enable_audit_enrollment = models.BooleanField(
        default=False, help_text="Learners may enroll in audit mode through the customer."
    )
    enable_audit_data_reporting = models.BooleanField(
        default=False, help_text="Audit enrollments are reported to the customer's channels."
    )
    identity_providers = models.ManyToManyField(
        "identity.IdentityProvider", through="EnterpriseCustomerIdentityProvider", related_name="+", blank=True
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[])

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(name__gt=""), name="enterprise_customer_name_not_empty"),
            models.CheckConstraint(condition=models.Q(slug__regex=SLUG_PATTERN), name="enterprise_customer_slug_chars"),
            models.CheckConstraint(
                condition=models.Q(enforce_data_sharing_consent__in=_values(ConsentEnforcement)),
                name="enterprise_customer_known_enforcement",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EnterpriseCustomerIdentityProvider(models.Model):
    """An identity provider through which a customer's learners sign in; a provider serves one customer."""

    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.CASCADE, related_name="provider_links")
    identity_provider = models.OneToOneField(
        "identity.IdentityProvider", on_delete=models.PROTECT, related_name="enterprise_customer_link"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.customer_id} via {self.identity_provider_id}"


class EnterpriseCustomerUser(models.Model):
    """A learner of a customer: a user, or (pending) an email with no account yet.

    A user is active in at most one customer at a time (a partial unique index). A pending row has no
    user and a non-empty email; when a user with that email registers or signs in through the
    customer's SSO, the row gets the user.
    """

    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.PROTECT, related_name="customer_users")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="enterprise_learners"
    )
    user_email = models.CharField(max_length=EMAIL_MAX_LENGTH, blank=True, default="")
    user_email_normalized = models.CharField(max_length=NORMALIZED_EMAIL_MAX_LENGTH, blank=True, default="")
    active = models.BooleanField(default=True)
    linked = models.BooleanField(default=True, help_text="False once unlinked; the row is kept.")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "user"], condition=models.Q(user__isnull=False), name="unique_customer_user"
            ),
            models.UniqueConstraint(
                fields=["customer", "user_email_normalized"],
                condition=models.Q(user__isnull=True),
                name="unique_pending_customer_email",
            ),
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(user__isnull=False, active=True),
                name="one_active_customer_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(user_email_normalized__gt=""),
                name="customer_user_has_user_or_email",
            ),
        ]
        indexes = [models.Index(fields=["customer", "active", "linked"])]

    def save(self, *args, **kwargs):
        self.user_email = (self.user_email or "").strip()
        self.user_email_normalized = normalise_key(self.user_email)
        super().save(*args, **kwargs)

    @property
    def is_pending(self) -> bool:
        """True while no account is linked to the row."""
        return self.user_id is None

    def __str__(self) -> str:
        return f"{self.user_id or self.user_email} @ {self.customer_id}"


class DataSharingConsent(models.Model):
    """A learner's answer to sharing their results in a course with a customer: yes, no, or not asked (null).

    A missing row means consent was not granted.
    """

    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.PROTECT, related_name="consents")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="data_sharing_consents")
    catalog_course = models.ForeignKey("catalog.CatalogCourse", on_delete=models.PROTECT, related_name="+")
    granted = models.BooleanField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "user", "catalog_course"], name="unique_consent_per_customer_user_course"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} / {self.catalog_course_id} @ {self.customer_id}: {self.granted}"


class EnterpriseCatalog(models.Model):
    """Which catalog courses a customer may use: explicit courses, and every course of some organizations."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.PROTECT, related_name="catalogs")
    title = models.CharField(max_length=255)
    courses = models.ManyToManyField(
        "catalog.CatalogCourse", through="EnterpriseCatalogCourse", related_name="+", blank=True
    )
    organizations = models.ManyToManyField(
        "catalog.Organization", through="EnterpriseCatalogOrganization", related_name="+", blank=True
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "title", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(title__gt=""), name="enterprise_catalog_title_not_empty"),
            models.UniqueConstraint(fields=["customer", "title"], name="unique_enterprise_catalog_title"),
        ]

    def __str__(self) -> str:
        return self.title


class EnterpriseCatalogCourse(models.Model):
    """A catalog course named explicitly in an enterprise catalog."""

    catalog = models.ForeignKey(EnterpriseCatalog, on_delete=models.CASCADE, related_name="course_entries")
    catalog_course = models.ForeignKey("catalog.CatalogCourse", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["catalog", "catalog_course"], name="unique_enterprise_catalog_course"),
        ]
        indexes = [models.Index(fields=["catalog_course", "catalog"])]

    def __str__(self) -> str:
        return f"{self.catalog_id}: {self.catalog_course_id}"


class EnterpriseCatalogOrganization(models.Model):
    """An organization all of whose catalog courses an enterprise catalog contains."""

    catalog = models.ForeignKey(EnterpriseCatalog, on_delete=models.CASCADE, related_name="organization_entries")
    organization = models.ForeignKey("catalog.Organization", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["catalog", "organization"], name="unique_enterprise_catalog_organization"),
        ]
        indexes = [models.Index(fields=["organization", "catalog"])]

    def __str__(self) -> str:
        return f"{self.catalog_id}: {self.organization_id}"


class SubscriptionPlan(models.Model):
    """A customer's subscription: a number of seats (licenses) for a catalog, between two dates.

    The plan's licenses are its seats: creating a plan creates ``seats`` unassigned licenses, so
    assigning one can never exceed the seat count.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(EnterpriseCustomer, on_delete=models.PROTECT, related_name="subscription_plans")
    catalog = models.ForeignKey(EnterpriseCatalog, on_delete=models.PROTECT, related_name="subscription_plans")
    title = models.CharField(max_length=255)
    seats = models.PositiveIntegerField()
    start = models.DateTimeField()
    expiration = models.DateTimeField()
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "-start", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(title__gt=""), name="subscription_plan_title_not_empty"),
            models.CheckConstraint(
                condition=models.Q(expiration__gt=models.F("start")), name="subscription_plan_expires_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class License(models.Model):
    """One seat of a plan: unassigned, assigned to an email, activated by its learner, or revoked."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    plan = models.ForeignKey(SubscriptionPlan, on_delete=models.PROTECT, related_name="licenses")
    status = models.CharField(max_length=16, choices=_choices(LicenseStatus), default=LicenseStatus.UNASSIGNED)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="licenses"
    )
    user_email = models.CharField(max_length=EMAIL_MAX_LENGTH, blank=True, default="")
    user_email_normalized = models.CharField(max_length=NORMALIZED_EMAIL_MAX_LENGTH, blank=True, default="")
    assigned_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["plan", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=_values(LicenseStatus)), name="license_known_status"),
            models.CheckConstraint(
                condition=~models.Q(status=LicenseStatus.UNASSIGNED)
                | models.Q(user__isnull=True, user_email_normalized="", assigned_at__isnull=True),
                name="unassigned_license_is_blank",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=LicenseStatus.ASSIGNED)
                | (models.Q(user_email_normalized__gt="") & models.Q(assigned_at__isnull=False)),
                name="assigned_license_has_email",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=LicenseStatus.ACTIVATED)
                | models.Q(user__isnull=False, activated_at__isnull=False),
                name="activated_license_has_user",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=LicenseStatus.REVOKED) | models.Q(revoked_at__isnull=False),
                name="revoked_license_has_time",
            ),
            models.UniqueConstraint(
                fields=["plan", "user_email_normalized"],
                condition=models.Q(status__in=_values(SEAT_HOLDING_STATUSES)),
                name="one_license_per_plan_email",
            ),
            models.UniqueConstraint(
                fields=["plan", "user"],
                condition=models.Q(status__in=_values(SEAT_HOLDING_STATUSES), user__isnull=False),
                name="one_license_per_plan_user",
            ),
        ]
        indexes = [
            models.Index(fields=["plan", "status"]),
            models.Index(fields=["user", "status"]),
            models.Index(fields=["user_email_normalized"]),
        ]

    def save(self, *args, **kwargs):
        self.user_email = (self.user_email or "").strip()
        self.user_email_normalized = normalise_key(self.user_email)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.uuid} ({self.status})"


class EnterpriseCourseEnrollment(models.Model):
    """A course enrollment made through a customer. Never deleted: leaving sets ``unenrolled``."""

    customer_user = models.ForeignKey(
        EnterpriseCustomerUser, on_delete=models.PROTECT, related_name="enterprise_enrollments"
    )
    course_enrollment = models.ForeignKey(
        "enrollments.CourseEnrollment", on_delete=models.PROTECT, related_name="enterprise_enrollments"
    )
    source = models.CharField(max_length=32, choices=_choices(EnrollmentSource), default=EnrollmentSource.MANUAL)
    license = models.ForeignKey(
        License,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="enterprise_enrollments",
        help_text="The license that paid for the enrollment, if any.",
    )
    saved_for_later = models.BooleanField(default=False)
    unenrolled = models.BooleanField(null=True, blank=True)
    unenrolled_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_user", "course_enrollment"], name="unique_enterprise_enrollment"),
            models.CheckConstraint(
                condition=models.Q(source__in=_values(EnrollmentSource)), name="enterprise_enrollment_known_source"
            ),
            models.CheckConstraint(
                condition=~models.Q(unenrolled=True) | models.Q(unenrolled_at__isnull=False),
                name="unenrolled_enrollment_has_time",
            ),
        ]
        indexes = [models.Index(fields=["course_enrollment"])]

    def __str__(self) -> str:
        return f"{self.customer_user_id}: {self.course_enrollment_id}"


class PendingEnrollment(models.Model):
    """An enrollment asked for an email with no account yet; made when the learner registers."""

    customer_user = models.ForeignKey(
        EnterpriseCustomerUser, on_delete=models.CASCADE, related_name="pending_enrollments"
    )
    course_run = models.ForeignKey("catalog.CourseRun", on_delete=models.PROTECT, related_name="+")
    license = models.ForeignKey(License, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=32, choices=_choices(EnrollmentSource), default=EnrollmentSource.API)
    is_default_auto_enrollment = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_user", "course_run"], name="unique_pending_enrollment"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_user_id} → {self.course_run_id}"


class DefaultEnrollmentIntention(models.Model):
    """A course or run every learner of a customer should be enrolled into.

    ``content_key`` is stored in canonical form (a run's key as stored, or ``catalog-course:ORG:CODE``)
    and is unique per customer, soft-deleted rows included. ``catalog_course`` is always set;
    ``course_run`` only for a run intention.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        EnterpriseCustomer, on_delete=models.PROTECT, related_name="default_enrollment_intentions"
    )
    content_key = models.CharField(max_length=255)
    content_type = models.CharField(max_length=16, choices=_choices(ContentType))
    catalog_course = models.ForeignKey("catalog.CatalogCourse", on_delete=models.PROTECT, related_name="+")
    course_run = models.ForeignKey(
        "catalog.CourseRun", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_removed = models.BooleanField(default=False, help_text="Soft-deleted: kept, but no longer applied.")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["customer", "created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "content_key"], name="unique_default_enrollment_intention"),
            models.CheckConstraint(
                condition=models.Q(content_type=ContentType.COURSE, course_run__isnull=True)
                | models.Q(content_type=ContentType.COURSE_RUN, course_run__isnull=False),
                name="intention_run_matches_type",
            ),
            models.CheckConstraint(condition=models.Q(content_key__gt=""), name="intention_content_key_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.content_key} @ {self.customer_id}"


class DefaultEnrollmentRealization(models.Model):
    """The enterprise enrollment an intention produced; it keeps the link if the advertised run changes."""

    intention = models.ForeignKey(DefaultEnrollmentIntention, on_delete=models.PROTECT, related_name="realizations")
    realized_enrollment = models.OneToOneField(
        EnterpriseCourseEnrollment, on_delete=models.PROTECT, related_name="default_enrollment_realization"
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.intention_id} → {self.realized_enrollment_id}"
