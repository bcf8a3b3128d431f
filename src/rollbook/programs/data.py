"""Statuses, result codes and value types of the programs app."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProgramType(StrEnum):
    MASTERS = "masters"
    MICROMASTERS = "micromasters"
    PROFESSIONAL_CERTIFICATE = "professional-certificate"
    XSERIES = "xseries"
    DEGREE = "degree"
    OTHER = "other"


class ProgramEnrollmentStatus(StrEnum):
    """Where a student stands in a program. ``enrolled`` and ``pending`` count as active."""

    ENROLLED = "enrolled"
    PENDING = "pending"
    SUSPENDED = "suspended"
    CANCELED = "canceled"
    ENDED = "ended"


ACTIVE_PROGRAM_STATUSES: frozenset[str] = frozenset({ProgramEnrollmentStatus.ENROLLED, ProgramEnrollmentStatus.PENDING})


class ProgramCourseEnrollmentStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class WriteError(StrEnum):
    """Per-key results of a bulk write that mean "not written"."""

    DUPLICATED = "duplicated"
    INVALID_STATUS = "invalid-status"
    CONFLICT = "conflict"
    ILLEGAL_OPERATION = "illegal-operation"
    NOT_IN_PROGRAM = "not-in-program"
    NOT_FOUND = "not-found"
    INTERNAL_ERROR = "internal-error"


class CourseStaffRole(StrEnum):
    STAFF = "staff"


class JobKind(StrEnum):
    PROGRAM_ENROLLMENTS = "program_enrollments"
    COURSE_ENROLLMENTS = "course_enrollments"


class JobState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


RUNNING_JOB_STATES: frozenset[str] = frozenset({JobState.PENDING, JobState.IN_PROGRESS})


PROGRAM_ENROLLMENT_STATUSES: frozenset[str] = frozenset(status.value for status in ProgramEnrollmentStatus)
PROGRAM_COURSE_ENROLLMENT_STATUSES: frozenset[str] = frozenset(status.value for status in ProgramCourseEnrollmentStatus)


@dataclass(frozen=True, slots=True)
class ProgramEnrollmentRequest:
    """One item of ``write_program_enrollments``: a student key, the wanted program status and, for a new
    enrollment, the curriculum (None: the program's first active curriculum).

    Nothing is validated here: the write reports a bad status or curriculum per key instead of raising.
    """

    external_user_key: str
    status: str
    curriculum_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class ProgramCourseEnrollmentRequest:
    """One item of ``write_program_course_enrollments``: a student key, the wanted course status, and whether
    the student is course staff (None: leave the staff role as it is)."""

    external_user_key: str
    status: str
    course_staff: bool | None = None


class MastersOutcome(StrEnum):
    """What ``enroll_in_masters_track`` did to one learner's course enrollment."""

    ENROLLED = "enrolled"  # no enrollment (or an inactive one): now active in masters
    CONVERTED = "converted"  # an active audit/honor enrollment moved to masters
    UNCHANGED = "unchanged"  # already an active masters enrollment, nothing to do
    DEACTIVATED = "deactivated"  # a masters enrollment made inactive because the program-course status is inactive
    LEFT_ALONE = (
        "left-alone"  # an active enrollment in another paid mode: kept as it is (reported as left-alone:<mode>)
    )
    FAILED = "failed"  # the course enrollment could not be made (reported as failed:<enrollment status>)


@dataclass(frozen=True, slots=True)
class MastersResult:
    """The outcome for one (user, run) of ``enroll_in_masters_track`` and the course enrollment it concerns.

    ``outcome`` is a MastersOutcome value, with ``:<mode>`` appended for ``left-alone`` and
    ``:<status>`` for ``failed``. ``course_enrollment_id`` is the primary key of the learner's
    enrollment in the run (to store in ``ProgramCourseEnrollment.course_enrollment``), None when
    there is none (a ``failed`` outcome, or ``inactive`` asked for a learner never enrolled).
    """

    outcome: str
    course_enrollment_id: int | None
    mode: str | None = None
    is_active: bool | None = None


class WriteAction(StrEnum):
    """What a bulk write did (or, in a dry run, would do) with one request."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # the row exists with the asked status (course staff may still have changed)
    REFUSED = "refused"  # the result is a WriteError


@dataclass(frozen=True, slots=True)
class WriteReport:
    """The full outcome of a bulk write, keyed like its results by each request's key as given.

    ``results``: the written status or a WriteError value (what the REST API answers); ``actions``: the
    WriteAction taken; ``course_enrollments``: for program-course writes, what happened to the course
    enrollment of each linked student whose course enrollment was looked at: a Master's-track outcome
    (a MastersOutcome value, ``left-alone:<mode>``, ``failed:<reason>``) for new or unrealised
    enrollments, ``activated`` / ``deactivated`` for status changes of realised ones; ``dry_run``: True
    when nothing was written.
    """

    results: dict[str, str]
    actions: dict[str, str]
    course_enrollments: dict[str, str]
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        """How many requests were created, updated, unchanged and refused (every action, zero included)."""
        counts = {action.value: 0 for action in WriteAction}
        for action in self.actions.values():
            counts[action] += 1
        return counts
