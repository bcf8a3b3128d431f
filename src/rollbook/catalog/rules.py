"""Input rules of the catalog, shared by ``catalog.api`` and ``catalog.importing``.

Internal to the catalog app: other code uses ``catalog.api``, which re-exports the public functions
(``parse_course_key``, ``master_course_key``, ``normalise_language``, ``language_short``,
``parse_mode_specs``, ``format_mode_specs``). Nothing here reads or writes the database. Checks that
collect several problems take an ``errors`` dict (field name → messages) and add to it; the others
raise ``InvalidInput``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar

from ccx_keys.locator import CCXLocator
from django.utils import timezone
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey
from opaque_keys.edx.locator import CourseLocator

from rollbook.catalog.data import (
    CURRENCY_PATTERN,
    LANGUAGE_CODE_PATTERN,
    ORGANIZATION_SHORT_NAME_PATTERN,
    ModeSlug,
    ModeSpec,
    Pacing,
)
from rollbook.catalog.models import CourseMode, CourseRun
from rollbook.core.errors import InvalidInput

_T = TypeVar("_T")

MAX_NAME_LENGTH = 255
MAX_KEY_LENGTH = 255
MAX_RUN_CODE_LENGTH = 128
MAX_LANGUAGE_LENGTH = 64
SCHEDULE_FIELDS = ("start", "end", "enrollment_start", "enrollment_end")
_LANGUAGE_ALIASES = {"zh_hans": "zh-cn", "zh-hans": "zh-cn", "zh_hant": "zh-hk", "zh-hant": "zh-hk"}
_LANGUAGE_SHORT_BY_CODE = {"zh-cn": "zh_HANS", "zh-hk": "zh_HANT"}


# --- collecting errors, batches, display ---------------------------------------------------------


def add_error(errors: dict[str, list[str]], field_name: str, message: str) -> None:
    """Add ``message`` to the messages of ``field_name`` in ``errors``."""
    errors.setdefault(field_name, []).append(message)


def raise_if(errors: dict[str, list[str]]) -> None:
    """Raise InvalidInput carrying ``errors`` when there are any."""
    if errors:
        raise InvalidInput(errors)


def display(value: object) -> str:
    """``value`` as import reports show it: "" for None, true/false, times in UTC ISO 8601 with "Z"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


# --- text, dates, choices ------------------------------------------------------------------------


def clean_text(value: object, field_name: str, errors: dict[str, list[str]], *, max_length: int) -> str | None:
    """``value`` trimmed, or None after adding an error when it is not text, blank or longer than ``max_length``."""
    if not isinstance(value, str):
        add_error(errors, field_name, "Must be text.")
        return None
    text = value.strip()
    if not text:
        add_error(errors, field_name, "Must not be blank.")
        return None
    if len(text) > max_length:
        add_error(errors, field_name, f"Must be at most {max_length} characters.")
        return None
    return text


def clean_datetime(value: object, field_name: str, errors: dict[str, list[str]]) -> datetime | None:
    """``value`` when it is None or a timezone-aware datetime; otherwise None after adding an error."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        add_error(errors, field_name, "Must be a date and time, e.g. 2027-01-31T00:00Z.")
        return None
    if timezone.is_naive(value):
        add_error(errors, field_name, "Must include a time zone, e.g. 2027-01-31T00:00Z.")
        return None
    return value


def parse_iso_datetime(text: str) -> datetime:
    """Parse ISO 8601 text (a date alone means midnight); no offset means UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip())
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def schedule_errors(
    start: datetime | None,
    end: datetime | None,
    enrollment_start: datetime | None,
    enrollment_end: datetime | None,
) -> dict[str, list[str]]:
    """Errors of a run schedule: it must end after it starts and enrollment must close after it opens."""
    errors: dict[str, list[str]] = {}
    if start and end and end <= start:
        add_error(errors, "end", "The run must end after it starts.")
    if enrollment_start and enrollment_end and enrollment_end <= enrollment_start:
        add_error(errors, "enrollment_end", "Enrollment must close after it opens.")
    return errors


def clean_pacing(value: object, errors: dict[str, list[str]]) -> str | None:
    """``value`` as a Pacing value, or None after adding an error naming the choices."""
    try:
        return Pacing(value).value
    except ValueError:
        choices = ", ".join(p.value for p in Pacing)
        add_error(errors, "pacing", f"{value!r} is not a pacing; use one of {choices}.")
        return None


def clean_bool(value: object, field_name: str, errors: dict[str, list[str]]) -> bool | None:
    """``value`` when it is a bool, else None after adding an error."""
    if isinstance(value, bool):
        return value
    add_error(errors, field_name, "Must be true or false.")
    return None


# --- languages -----------------------------------------------------------------------------------


def normalise_language(value: object, field_name: str = "language") -> str:
    """Return ``value`` as a stored language code, or raise InvalidInput naming ``field_name``.

    Codes are lower-case letters with optional dash-separated parts (``en``, ``es-419``, ``zh-cn``):
    ``EN`` and ``en_us`` are refused. The Open edX short forms ``zh_HANS``/``zh_HANT`` (and ``zh-hans``/
    ``zh-hant``) are mapped to ``zh-cn``/``zh-hk``.
    """
    text = value.strip() if isinstance(value, str) else ""
    text = _LANGUAGE_ALIASES.get(text.casefold(), text)
    if not text or len(text) > MAX_LANGUAGE_LENGTH or not re.fullmatch(LANGUAGE_CODE_PATTERN, text):
        raise InvalidInput(
            {field_name: [f"{value!r} is not a language code; use lower-case codes such as en, es-419 or zh-cn."]}
        )
    return text


def language_short(language: str) -> str:
    """The Open edX short form of a stored language code: zh-cn → zh_HANS, zh-hk → zh_HANT, else its first two
    letters (es-419 → es)."""
    return _LANGUAGE_SHORT_BY_CODE.get(language, language[:2])


def resolve_language(language: object, language_short_value: object) -> str | None:
    """The stored language code given as ``language`` and/or ``language_short`` (None when neither is given).

    Raises InvalidInput for an invalid code, or when both are given and name different languages.
    """
    if language is None and language_short_value is None:
        return None
    if language_short_value is None:
        return normalise_language(language)
    short = normalise_language(language_short_value, "language_short")
    if language is not None and normalise_language(language) != short:
        raise InvalidInput({"language": ["Give language or language_short, not two different languages."]})
    return short


# --- organizations and course keys ---------------------------------------------------------------


def clean_short_name(value: object, field_name: str = "short_name") -> str:
    """``value`` trimmed when it is a valid organization short name; raises InvalidInput naming ``field_name``."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_NAME_LENGTH or not re.fullmatch(ORGANIZATION_SHORT_NAME_PATTERN, text):
        raise InvalidInput(
            {field_name: [f"{value!r} is not a valid organization short name; use letters, digits, '.', '_' and '-'."]}
        )
    return text


def parse_course_key(value: str | CourseKey, field: str = "course_key") -> CourseKey:
    """Return ``value`` as a CourseKey; raise InvalidInput naming ``field`` when it is malformed."""
    if isinstance(value, CourseKey):
        return value
    try:
        return CourseKey.from_string(str(value).strip())
    except InvalidKeyError:
        raise InvalidInput({field: [f"{value!r} is not a valid course key (e.g. course-v1:ORG+CODE+RUN)."]}) from None


def is_ccx(key: CourseKey) -> bool:
    """True for a CCX key (``ccx-v1:…``)."""
    return isinstance(key, CCXLocator)


def master_course_key(course_key: str | CourseKey) -> CourseKey | None:
    """For a CCX key (``ccx-v1:ORG+CODE+RUN+ccx@N``), the key of the run it customises
    (``course-v1:ORG+CODE+RUN``); None for any other key. Raises InvalidInput for a malformed key."""
    key = parse_course_key(course_key)
    return key.to_course_locator() if isinstance(key, CCXLocator) else None


def parse_new_run_key(value: str | CourseKey, field_name: str = "course_key") -> CourseKey:
    """Parse a key for a new run: course-v1 or ccx-v1 form, branch and version dropped, lengths checked."""
    key = parse_course_key(value if isinstance(value, CourseKey) else str(value).strip(), field_name)
    if is_ccx(key) and key.ccx != str(int(key.ccx)):
        raise InvalidInput({field_name: [f"{str(key)!r}: write the CCX number without leading zeros."]})
    if key.deprecated:
        raise InvalidInput(
            {field_name: [f"{str(key)!r} uses the old ORG/COURSE/RUN form; use {key.replace(deprecated=False)}."]}
        )
    if isinstance(key, CourseLocator):
        key = key.for_branch(None).version_agnostic()
    if len(str(key)) > MAX_KEY_LENGTH:
        raise InvalidInput({field_name: [f"A course key may be at most {MAX_KEY_LENGTH} characters."]})
    if len(key.run) > MAX_RUN_CODE_LENGTH:
        raise InvalidInput({field_name: [f"The run code may be at most {MAX_RUN_CODE_LENGTH} characters."]})
    return key


def master_spelled_differently(key: CourseKey, stored_master_key: CourseKey) -> str:
    """The error message for a CCX key whose master run is stored with a different spelling."""
    return (
        f"{key} is a CCX of {key.to_course_locator()}, but that run is spelled {stored_master_key}; a CCX key must "
        "name its master course exactly."
    )


# --- course modes --------------------------------------------------------------------------------


def clean_slug(value: object, field_name: str = "slug") -> str:
    """``value`` as a ModeSlug value; raises InvalidInput naming ``field_name`` and the choices."""
    try:
        return ModeSlug(value).value
    except ValueError:
        choices = ", ".join(m.value for m in ModeSlug)
        raise InvalidInput({field_name: [f"{value!r} is not a course mode; use one of {choices}."]}) from None


def clean_mode_spec(spec: ModeSpec) -> ModeSpec:
    """Validate one mode (fields slug, price_cents, currency, upgrade_deadline, name); return it normalised."""
    errors: dict[str, list[str]] = {}
    try:
        slug = clean_slug(spec.slug)
    except InvalidInput as exc:
        errors.update(exc.errors)
        slug = str(spec.slug)
    if isinstance(spec.price_cents, bool) or not isinstance(spec.price_cents, int) or spec.price_cents < 0:
        add_error(errors, "price_cents", "Must be a whole number of cents, 0 or more.")
    currency = spec.currency.strip().lower() if isinstance(spec.currency, str) else ""
    if not re.fullmatch(CURRENCY_PATTERN, currency):
        add_error(errors, "currency", f"{spec.currency!r} is not a three-letter currency code such as usd.")
    deadline = clean_datetime(spec.upgrade_deadline, "upgrade_deadline", errors)
    name = spec.name if isinstance(spec.name, str) else None
    if name is None or len(name) > MAX_NAME_LENGTH:
        add_error(errors, "name", f"Must be text of at most {MAX_NAME_LENGTH} characters.")
    raise_if(errors)
    return ModeSpec(
        slug=slug, price_cents=spec.price_cents, currency=currency, upgrade_deadline=deadline, name=name.strip()
    )


def clean_mode_specs(modes: Iterable[ModeSpec], errors: dict[str, list[str]]) -> list[ModeSpec]:
    """The cleaned modes; each problem (and any repeated slug) is added to ``errors`` under ``modes``."""
    cleaned: list[ModeSpec] = []
    for spec in modes:
        try:
            cleaned.append(clean_mode_spec(spec))
        except InvalidInput as exc:
            for field_name, messages in exc.errors.items():
                for message in messages:
                    add_error(errors, "modes", f"{spec.slug}: {field_name}: {message}")
    repeated = sorted(slug for slug, count in Counter(s.slug for s in cleaned).items() if count > 1)
    if repeated:
        add_error(errors, "modes", f"Each mode may be given once; repeated: {', '.join(repeated)}.")
    return cleaned


def parse_mode_specs(text: str) -> list[ModeSpec]:
    """Parse ``slug:price_cents[@upgrade_deadline]`` items separated by ``;``, e.g.
    ``audit:0;verified:4900@2027-01-31T00:00Z`` (prices in cents, deadlines ISO 8601, UTC when no offset).
    Raises InvalidInput (field ``modes``) on a malformed item, an unknown slug or a repeated slug."""
    specs: list[ModeSpec] = []
    errors: dict[str, list[str]] = {}
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        slug, sep, rest = item.partition(":")
        price_text, _, deadline_text = rest.partition("@")
        price_text, deadline_text = price_text.strip(), deadline_text.strip()
        if not sep or not price_text.isdigit():
            add_error(errors, "modes", f"{item!r} is not slug:price_cents[@deadline], e.g. verified:4900.")
            continue
        try:
            deadline = parse_iso_datetime(deadline_text) if deadline_text else None
        except ValueError:
            add_error(errors, "modes", f"{item!r}: {deadline_text!r} is not an ISO 8601 date and time.")
            continue
        specs.append(ModeSpec(slug=slug.strip(), price_cents=int(price_text), upgrade_deadline=deadline))
    cleaned = clean_mode_specs(specs, errors)
    raise_if(errors)
    return cleaned


def format_mode_specs(modes: Iterable[ModeSpec | CourseMode]) -> str:
    """The ``parse_mode_specs`` text for these modes, sorted by slug (e.g. ``audit:0;verified:4900@…``)."""
    parts = []
    for mode in sorted(modes, key=lambda m: m.slug):
        text = f"{mode.slug}:{mode.price_cents}"
        if mode.upgrade_deadline is not None:
            text += f"@{display(mode.upgrade_deadline)}"
        parts.append(text)
    return ";".join(parts)


def new_mode(run: CourseRun, spec: ModeSpec) -> CourseMode:
    """An unsaved CourseMode offering ``spec`` on ``run``."""
    return CourseMode(
        course_run=run,
        slug=spec.slug,
        name=spec.name,
        price_cents=spec.price_cents,
        currency=spec.currency,
        upgrade_deadline=spec.upgrade_deadline,
    )
