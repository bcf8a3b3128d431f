"""Value types and constants of the enterprise app: what ``api.py`` takes and returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rollbook.catalog.data import ModeSlug

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"


class ConsentEnforcement(StrEnum):
    """When data-sharing consent is asked for (edx-enterprise ``enforce_data_sharing_consent``)."""

    AT_ENROLLMENT = "at_enrollment"
    EXTERNALLY_MANAGED = "externally_managed"


class EnrollmentSource(StrEnum):
    """How an enterprise course enrollment came to be."""

    MANUAL = "manual"  # an operator or admin enrolled the learner by hand
    API = "api"  # enroll_learners_in_courses
    CUSTOMER_ADMIN = "customer_admin"
    LICENSE = "license"  # the learner enrolled with a subscription license
    LEARNER_CREDIT = "learner_credit"  # redeemed against a budget
    ASSIGNMENT = "assignment"  # accepted a content assignment
    DEFAULT_ENROLLMENT = "default_enrollment"  # realized a default-enrollment intention
    PENDING = "pending"  # a pending enrollment realized when the learner registered


class LicenseStatus(StrEnum):
    """The life of a subscription license (license-manager's statuses)."""

    UNASSIGNED = "unassigned"  # a free seat
    ASSIGNED = "assigned"  # given to an email, not yet activated by the learner
    ACTIVATED = "activated"  # the learner activated it; it can pay for enrollments
    REVOKED = "revoked"  # taken back; its seat was replaced by a new unassigned license


# Licenses that hold a seat.
SEAT_HOLDING_STATUSES: frozenset[LicenseStatus] = frozenset({LicenseStatus.ASSIGNED, LicenseStatus.ACTIVATED})


class ContentType(StrEnum):
    """What a default-enrollment intention's content key names."""

    COURSE = "course"  # a catalog course: enroll in its advertised run at the time of enrollment
    COURSE_RUN = "course_run"  # that exact run


# Modes counted as "audit" by learner status (edx-enterprise ENTERPRISE_COURSE_ENROLLMENT_AUDIT_MODES).
AUDIT_MODES: frozenset[str] = frozenset({ModeSlug.AUDIT.value, ModeSlug.HONOR.value})


class LearnerStatusGroup(StrEnum):
    """Where learner status puts an intention for one learner."""

    ALREADY_ENROLLED = "already_enrolled"
    ENROLLABLE = "enrollable"  # needs_enrollment.enrollable
    NOT_ENROLLABLE = "not_enrollable"  # needs_enrollment.not_enrollable


class LearnerStatusReason(StrEnum):
    """Which of the eight ordered learner-status rules placed an intention (for tests, logs and the API)."""

    ACTIVE_PAID_ENROLLMENT = "active_paid_enrollment"  # 1
    LEFT_PAID_ENROLLMENT = "left_paid_enrollment"  # 2: never re-enrolled
    RUN_NOT_ENROLLABLE = "run_not_enrollable"  # 3 (also: a course with no advertised run)
    AUDIT_UPGRADE = "audit_upgrade"  # 4
    AUDIT_UPGRADE_NO_CATALOG = "audit_upgrade_no_catalog"  # 5
    AUDIT_ONLY_ENROLLED = "audit_only_enrolled"  # 6
    NO_CATALOG = "no_catalog"  # 7
    ENROLLABLE = "enrollable"  # 8


class EnrollOutcome(StrEnum):
    """Where one item of ``enroll_learners_in_courses`` ended up."""

    SUCCESS = "success"
    PENDING = "pending"  # the email has no account yet: a pending enrollment waits for it
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class ResolvedIntention:
    """An intention resolved for today: the run it enrolls in (None if none), its best mode and catalogs.

    ``course_key`` is the catalog course key string (``catalog-course:ORG:CODE``); ``course_run_key`` the
    run's key or None when a course has no advertised run; ``best_mode`` is None without a run;
    ``applicable_catalog_uuids`` are the customer's catalogs that contain the course (empty without a run).
    """

    uuid: uuid.UUID
    content_key: str
    content_type: ContentType
    course_key: str
    course_run_id: int | None
    course_run_key: str | None
    is_course_run_enrollable: bool
    course_run_enroll_by_date: datetime | None
    best_mode_for_course_run: str | None
    applicable_catalog_uuids: tuple[uuid.UUID, ...]
    created: datetime
    modified: datetime


@dataclass(frozen=True, slots=True)
class IntentionStatus:
    """One intention as learner status sees it for one learner."""

    intention: ResolvedIntention
    group: LearnerStatusGroup
    reason: LearnerStatusReason
    has_existing_enrollment: bool
    is_existing_enrollment_active: bool | None
    is_existing_enrollment_audit: bool | None


@dataclass(frozen=True, slots=True)
class LearnerStatus:
    """``learner_status(customer, user)``: every non-removed intention of the customer, grouped."""

    customer_uuid: uuid.UUID
    user_id: int
    user_email: str
    already_enrolled: tuple[IntentionStatus, ...]
    enrollable: tuple[IntentionStatus, ...]
    not_enrollable: tuple[IntentionStatus, ...]

    @property
    def total(self) -> int:
        """How many intentions were classified."""
        return len(self.already_enrolled) + len(self.enrollable) + len(self.not_enrollable)


@dataclass(frozen=True, slots=True)
class Realization:
    """One default enrollment made (or found already made) for a learner."""

    intention_uuid: uuid.UUID
    course_run_key: str
    course_enrollment_uuid: uuid.UUID
    mode: str
    license_uuid: uuid.UUID


@dataclass(frozen=True, slots=True)
class RealizationFailure:
    """An enrollable intention that could not be realized, and why."""

    intention_uuid: uuid.UUID
    course_run_key: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class RealizeResult:
    """What ``realize_default_enrollments`` did for one learner."""

    realized: tuple[Realization, ...] = ()
    failures: tuple[RealizationFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class CustomerRealizeResult:
    """What ``realize_for_customer`` did: counts over every active learner of a customer."""

    learners: int = 0
    enrollments_created: int = 0  # course enrollments created, reactivated or upgraded
    realizations_created: int = 0
    skipped_without_license: int = 0  # enrollable (learner, intention) pairs with no activated license covering them
    failures: int = 0  # pairs the enrollment step refused (e.g. the window closed meanwhile)


@dataclass(frozen=True, slots=True)
class EnrollItem:
    """One item of ``enroll_learners_in_courses``: a learner (user id or email), a run, and a license."""

    course_run_key: str
    user_id: int | None = None
    email: str | None = None
    license_uuid: str | None = None
    transaction_id: str | None = None
    is_default_auto_enrollment: bool = False
    force_enrollment: bool = False


@dataclass(frozen=True, slots=True)
class EnrollItemResult:
    """The outcome of one EnrollItem: success / pending / failure, with the enrollment or the reason."""

    item: EnrollItem
    outcome: EnrollOutcome
    user_id: int | None = None
    email: str | None = None
    course_run_key: str = ""
    mode: str | None = None
    created: bool = False  # a new course enrollment (False: it existed and was reactivated/upgraded/kept)
    realization_intention_uuid: uuid.UUID | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class LicenseAssignResult:
    """What ``assign_licenses`` did per email (normalised): assigned, already assigned, or refused."""

    assigned: tuple[str, ...] = ()
    already_assigned: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RevocationEffect:
    """What revoking a license did to one of its enrollments."""

    course_run_key: str
    course_enrollment_uuid: uuid.UUID
    action: str  # "kept_completed", "moved_to_audit", "unenrolled", "already_inactive"


@dataclass(frozen=True, slots=True)
class IntentionProblem:
    """An intention the validation command reports, and why."""

    intention_uuid: uuid.UUID
    customer_slug: str
    content_key: str
    problem: str
