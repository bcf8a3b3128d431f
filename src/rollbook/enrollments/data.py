"""Value types of the enrollments app: what ``api.py`` takes and returns, and the events it sends."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from rollbook.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class EnrollmentState:
    """The bare state of one enrollment, for set-based callers: its row id, uuid, mode and active flag."""

    id: int
    uuid: uuid.UUID
    mode: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class EnrollmentData:
    """A user's enrollment in a course run, as other apps and the REST layer see it."""

    uuid: uuid.UUID
    user_id: int
    username: str
    course_key: str
    mode: str
    is_active: bool
    created: datetime
    modified: datetime


@dataclass(frozen=True, slots=True)
class EnrollRequest:
    """One item of a bulk enrollment: a user named by exactly one of id, username or email, a run, a mode.

    Usernames match exactly; emails match ignoring case and surrounding blanks. ``mode`` None means
    "the run's best mode" for a new enrollment and "keep the current mode" for an existing one.
    """

    course_key: str
    user_id: int | None = None
    username: str | None = None
    email: str | None = None
    mode: str | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("user_id", "username", "email") if getattr(self, name) is not None]
        if len(given) != 1:
            raise InvalidInput({"user": ["Name the user by exactly one of user_id, username or email."]})

    @property
    def user_key(self) -> str:
        """The user identifier as the request gave it, for reports."""
        if self.user_id is not None:
            return str(self.user_id)
        return self.username if self.username is not None else str(self.email)


class EnrollStatus(StrEnum):
    """Outcome of one enrollment request."""

    ENROLLED = "enrolled"  # a new enrollment was created
    ALREADY_ENROLLED = "already_enrolled"  # an active enrollment in the asked (or any, if none asked) mode existed
    REACTIVATED = "reactivated"  # an inactive enrollment was made active again
    MODE_CHANGED = "mode_changed"  # an active enrollment moved to the asked mode
    DUPLICATED = "duplicated"  # the same user and run appear more than once in one bulk call; none applied
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_COURSE = "unknown_course"
    INVALID_COURSE_KEY = "invalid_course_key"
    INVALID_MODE = "invalid_mode"  # the run does not offer the asked mode
    NOT_ENROLLABLE = "not_enrollable"  # outside the run's enrollment window (and access checks were not skipped)

    @property
    def is_success(self) -> bool:
        """True for the statuses that leave the user actively enrolled as asked."""
        return self in SUCCESS_STATUSES


SUCCESS_STATUSES: frozenset[EnrollStatus] = frozenset(
    {EnrollStatus.ENROLLED, EnrollStatus.ALREADY_ENROLLED, EnrollStatus.REACTIVATED, EnrollStatus.MODE_CHANGED}
)


@dataclass(frozen=True, slots=True)
class BulkEnrollResult:
    """The outcome of one EnrollRequest: its status, and the enrollment on success or a message otherwise."""

    request: EnrollRequest
    status: EnrollStatus
    enrollment: EnrollmentData | None = None
    message: str = ""

    @property
    def user_key(self) -> str:
        """The user identifier as the request gave it."""
        return self.request.user_key

    @property
    def course_key(self) -> str:
        """The course key as the request gave it."""
        return self.request.course_key


class ChangeKind(StrEnum):
    """What happened to an enrollment."""

    CREATED = "created"
    REACTIVATED = "reactivated"
    DEACTIVATED = "deactivated"
    MODE_CHANGED = "mode_changed"


@dataclass(frozen=True, slots=True)
class EnrollmentChange:
    """One committed change to an enrollment, as sent to ``signals.enrollments_changed`` subscribers.

    ``old_mode`` is None for a new enrollment. A reactivation that also changes the mode is one
    ``reactivated`` change with different old and new modes.
    """

    kind: ChangeKind
    enrollment_uuid: uuid.UUID
    user_id: int
    course_key: str
    old_mode: str | None
    new_mode: str
    is_active: bool
