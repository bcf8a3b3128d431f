"""The one rule for case-insensitive identifiers (emails, external user keys, short names), and the one way
to read a uuid the caller may have typed."""

import uuid


def normalise_key(value: str | None) -> str:
    """Trim and casefold ``value`` so that keys differing only in case or surrounding blanks compare equal."""
    return (value or "").strip().casefold()


def parse_uuid(value: object) -> uuid.UUID | None:
    """``value`` as a UUID (a UUID, or text in any form ``uuid.UUID`` reads, blanks trimmed); None otherwise."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        return None
