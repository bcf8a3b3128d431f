"""Constants and value types of the catalog app.

Standard library only: settings.py imports ModeSlug from here before Django is set up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Final

CATALOG_COURSE_KEY_PREFIX = "catalog-course"
LANGUAGE_CODE_PATTERN = r"^[a-z][a-z](-[a-z0-9]+)*$"
ORGANIZATION_SHORT_NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
CURRENCY_PATTERN = r"^[a-z]{3}$"

# A run that has started counts as "current" for advertising only while its end is at least this far away.
CURRENT_RUN_MIN_REMAINING_DAYS = 14


class Pacing(StrEnum):
    SELF = "self"
    INSTRUCTOR = "instructor"


class ModeSlug(StrEnum):
    """Course modes Rollbook knows, as Open edX names them."""

    AUDIT = "audit"
    HONOR = "honor"
    VERIFIED = "verified"
    PROFESSIONAL = "professional"
    NO_ID_PROFESSIONAL = "no-id-professional"
    CREDIT = "credit"
    MASTERS = "masters"
    EXECUTIVE_EDUCATION = "executive-education"
    PAID_EXECUTIVE_EDUCATION = "paid-executive-education"
    UNPAID_EXECUTIVE_EDUCATION = "unpaid-executive-education"


# best_mode() picks the first of these a run offers; audit when it offers none of them.
BEST_MODE_PRIORITY: tuple[ModeSlug, ...] = (
    ModeSlug.VERIFIED,
    ModeSlug.PROFESSIONAL,
    ModeSlug.NO_ID_PROFESSIONAL,
    ModeSlug.AUDIT,
    ModeSlug.HONOR,
    ModeSlug.UNPAID_EXECUTIVE_EDUCATION,
)
DEFAULT_MODE = ModeSlug.AUDIT

# Modes that carry no payment and give no certificate of their own.
AUDIT_MODES: frozenset[str] = frozenset({ModeSlug.AUDIT, ModeSlug.HONOR})

# Which paid mode (price above zero) is "the" paid mode of a run, for its price, enroll-by date and upgradeability.
PAID_MODE_PRIORITY: tuple[ModeSlug, ...] = (
    ModeSlug.VERIFIED,
    ModeSlug.PROFESSIONAL,
    ModeSlug.NO_ID_PROFESSIONAL,
    ModeSlug.CREDIT,
    ModeSlug.MASTERS,
    ModeSlug.PAID_EXECUTIVE_EDUCATION,
    ModeSlug.EXECUTIVE_EDUCATION,
)

# Executive-education seats are sold until enrollment closes; their upgrade deadline does not bound enrollment.
EXECUTIVE_EDUCATION_MODES: frozenset[str] = frozenset(
    {ModeSlug.EXECUTIVE_EDUCATION, ModeSlug.PAID_EXECUTIVE_EDUCATION, ModeSlug.UNPAID_EXECUTIVE_EDUCATION}
)


class Unset(Enum):
    """Type of ``UNSET``: "argument not given", for parameters where None is a meaningful value."""

    TOKEN = 0


UNSET: Final = Unset.TOKEN


@dataclass(frozen=True, slots=True)
class ModeSpec:
    """A course mode to offer on a run: its slug, price in integer cents and optional upgrade deadline."""

    slug: str
    price_cents: int = 0
    currency: str = "usd"
    upgrade_deadline: datetime | None = None
    name: str = ""


# --- catalog import ------------------------------------------------------------------------------

IMPORT_REQUIRED_COLUMNS: tuple[str, ...] = ("course_key",)
IMPORT_OPTIONAL_COLUMNS: tuple[str, ...] = (
    "title",
    "language",
    "start",
    "end",
    "enrollment_start",
    "enrollment_end",
    "pacing",
    "marketable",
    "modes",
)
IMPORT_COLUMNS: tuple[str, ...] = IMPORT_REQUIRED_COLUMNS + IMPORT_OPTIONAL_COLUMNS
# A cell holding this word (any case) clears an optional date; an empty cell leaves the value as it is.
IMPORT_CLEAR_VALUE = "none"


class ImportStatus(StrEnum):
    """What importing one catalog row did (or, in a dry run, would do)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"
    DUPLICATED = "duplicated"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field an import row changes, with the old and new values as displayed text."""

    field: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class RowResult:
    """The outcome of one catalog import row. ``row`` counts data rows from 1 (the header is not a row)."""

    row: int
    course_key: str
    status: ImportStatus
    changes: tuple[FieldChange, ...] = ()
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True unless the row was refused (an error or a duplicate)."""
        return self.status not in (ImportStatus.ERROR, ImportStatus.DUPLICATED)
