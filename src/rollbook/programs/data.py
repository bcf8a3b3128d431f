"""Statuses, result codes and value types of the programs app."""

from __future__ import annotations

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
