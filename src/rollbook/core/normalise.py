"""The one rule for case-insensitive identifiers (emails, external user keys, short names)."""


def normalise_key(value: str | None) -> str:
    """Trim and casefold ``value`` so that keys differing only in case or surrounding blanks compare equal."""
    return (value or "").strip().casefold()
