"""Constants and value types of the catalog app."""

from __future__ import annotations

from enum import StrEnum

CATALOG_COURSE_KEY_PREFIX = "catalog-course"
LANGUAGE_CODE_PATTERN = r"^[a-z][a-z](-[a-z0-9]+)*$"
ORGANIZATION_SHORT_NAME_PATTERN = r"^[A-Za-z0-9._-]+$"


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
