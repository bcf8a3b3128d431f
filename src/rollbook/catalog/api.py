"""Public API of the catalog app: organizations, catalog courses, course runs and modes.

Other apps, the REST layer, the admin, the CLI and tasks use only these functions.
None of them checks permissions: callers do. Bad input raises ``InvalidInput`` (a ValueError)
carrying field errors; a missing object raises the model's ``DoesNotExist``.

Case rules: organization short names match case-insensitively; course codes and course keys
are case-sensitive, and a key that differs from an existing one only by case is refused.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid as uuid_module
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import CharField, ProtectedError, Q, QuerySet, RestrictedError
from django.db.models.functions import Lower
from django.utils import timezone
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey
from opaque_keys.edx.locator import CourseLocator
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from rollbook.catalog.data import (
    BEST_MODE_PRIORITY,
    CATALOG_COURSE_KEY_PREFIX,
    CURRENCY_PATTERN,
    CURRENT_RUN_MIN_REMAINING_DAYS,
    DEFAULT_MODE,
    EXECUTIVE_EDUCATION_MODES,
    IMPORT_CLEAR_VALUE,
    IMPORT_COLUMNS,
    IMPORT_REQUIRED_COLUMNS,
    LANGUAGE_CODE_PATTERN,
    ORGANIZATION_SHORT_NAME_PATTERN,
    PAID_MODE_PRIORITY,
    UNSET,
    FieldChange,
    ImportStatus,
    ModeSlug,
    ModeSpec,
    Pacing,
    RowResult,
    Unset,
)
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.core.errors import Conflict, InvalidInput
from rollbook.core.normalise import normalise_key

log = logging.getLogger(__name__)

__all__ = [
    "UNSET",
    "UnknownOrganization",
    "advertised_run",
    "advertised_runs",
    "best_mode",
    "catalog_courses_queryset",
    "choose_advertised_run",
    "choose_best_mode",
    "course_runs_queryset",
    "create_catalog_course",
    "create_course_run",
    "create_course_run_for_modulestore_course_with",
    "create_organization",
    "delete_catalog_course",
    "delete_course_mode",
    "delete_course_run",
    "delete_organization",
    "enroll_by_date",
    "enrollable_q",
    "ensure_organization",
    "format_mode_specs",
    "get_catalog_course",
    "get_course_run",
    "get_course_runs",
    "get_organization",
    "import_catalog_rows",
    "is_enrollable",
    "is_upgradeable",
    "language_short",
    "mode_slugs_by_run",
    "normalise_language",
    "organizations_queryset",
    "paid_mode",
    "parse_course_key",
    "parse_mode_specs",
    "run_price",
    "set_course_mode",
    "set_organizations_active",
    "set_runs_marketable",
    "sync_course_run_details",
    "update_catalog_course",
    "update_course_run",
    "update_organization",
    "validate_import_columns",
]

_T = TypeVar("_T")

_MAX_NAME_LENGTH = 255
_MAX_KEY_LENGTH = 255
_MAX_RUN_CODE_LENGTH = 128
_MAX_LANGUAGE_LENGTH = 64
_SCHEDULE_FIELDS = ("start", "end", "enrollment_start", "enrollment_end")
_LANGUAGE_ALIASES = {"zh_hans": "zh-cn", "zh-hans": "zh-cn", "zh_hant": "zh-hk", "zh-hant": "zh-hk"}
_LANGUAGE_SHORT_BY_CODE = {"zh-cn": "zh_HANS", "zh-hk": "zh_HANT"}
_TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0"})


class UnknownOrganization(InvalidInput):
    """The organization does not exist or is inactive, and auto-creating organizations is off."""


# --- small helpers -------------------------------------------------------------------------------


def _chunks(items: Sequence[_T], size: int | None = None) -> Iterator[Sequence[_T]]:
    size = max(1, size or settings.BULK_BATCH_SIZE)
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


def _add_error(errors: dict[str, list[str]], field_name: str, message: str) -> None:
    errors.setdefault(field_name, []).append(message)


def _raise_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidInput(errors)


def _clean_text(value: object, field_name: str, errors: dict[str, list[str]], *, max_length: int) -> str | None:
    if not isinstance(value, str):
        _add_error(errors, field_name, "Must be text.")
        return None
    text = value.strip()
    if not text:
        _add_error(errors, field_name, "Must not be blank.")
        return None
    if len(text) > max_length:
        _add_error(errors, field_name, f"Must be at most {max_length} characters.")
        return None
    return text


def _clean_datetime(value: object, field_name: str, errors: dict[str, list[str]]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        _add_error(errors, field_name, "Must be a date and time, e.g. 2027-01-31T00:00Z.")
        return None
    if timezone.is_naive(value):
        _add_error(errors, field_name, "Must include a time zone, e.g. 2027-01-31T00:00Z.")
        return None
    return value


def _schedule_errors(
    start: datetime | None,
    end: datetime | None,
    enrollment_start: datetime | None,
    enrollment_end: datetime | None,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if start and end and end <= start:
        _add_error(errors, "end", "The run must end after it starts.")
    if enrollment_start and enrollment_end and enrollment_end <= enrollment_start:
        _add_error(errors, "enrollment_end", "Enrollment must close after it opens.")
    return errors


def _clean_pacing(value: object, errors: dict[str, list[str]]) -> str | None:
    try:
        return Pacing(value).value
    except ValueError:
        choices = ", ".join(p.value for p in Pacing)
        _add_error(errors, "pacing", f"{value!r} is not a pacing; use one of {choices}.")
        return None


def _clean_bool(value: object, field_name: str, errors: dict[str, list[str]]) -> bool | None:
    if isinstance(value, bool):
        return value
    _add_error(errors, field_name, "Must be true or false.")
    return None


def _display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


# --- languages -----------------------------------------------------------------------------------


def normalise_language(value: object, field_name: str = "language") -> str:
    """Return ``value`` as a stored language code, or raise InvalidInput naming ``field_name``.

    Codes are lower-case letters with optional dash-separated parts (``en``, ``es-419``, ``zh-cn``):
    ``EN`` and ``en_us`` are refused. The Open edX short forms ``zh_HANS``/``zh_HANT`` (and ``zh-hans``/
    ``zh-hant``) are mapped to ``zh-cn``/``zh-hk``.
    """
    text = value.strip() if isinstance(value, str) else ""
    text = _LANGUAGE_ALIASES.get(text.casefold(), text)
    if not text or len(text) > _MAX_LANGUAGE_LENGTH or not re.fullmatch(LANGUAGE_CODE_PATTERN, text):
        raise InvalidInput(
            {field_name: [f"{value!r} is not a language code; use lower-case codes such as en, es-419 or zh-cn."]}
        )
    return text


def language_short(language: str) -> str:
    """The Open edX short form of a stored language code: zh-cn → zh_HANS, zh-hk → zh_HANT, else its first two
    letters (es-419 → es)."""
    return _LANGUAGE_SHORT_BY_CODE.get(language, language[:2])


def _resolve_language(language: object, language_short_value: object) -> str | None:
    if language is None and language_short_value is None:
        return None
    if language_short_value is None:
        return normalise_language(language)
    short = normalise_language(language_short_value, "language_short")
    if language is not None and normalise_language(language) != short:
        raise InvalidInput({"language": ["Give language or language_short, not two different languages."]})
    return short


# --- organizations -------------------------------------------------------------------------------


def _clean_short_name(value: object, field_name: str = "short_name") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > _MAX_NAME_LENGTH or not re.fullmatch(ORGANIZATION_SHORT_NAME_PATTERN, text):
        raise InvalidInput(
            {field_name: [f"{value!r} is not a valid organization short name; use letters, digits, '.', '_' and '-'."]}
        )
    return text


def organizations_queryset() -> QuerySet[Organization]:
    """All organizations, for listing (filter and paginate it; it is not scoped to a caller)."""
    return Organization.objects.all()


def ensure_organization(short_name: str) -> Organization:
    """Return the organization to use for ``short_name`` (matched case-insensitively).

    An active match is returned as it is. Otherwise, with ``settings.ORGANIZATIONS_AUTOCREATE`` on, an
    inactive match is reactivated (nothing else about it changes) or a new organization is created with
    ``name = short_name``. With auto-create off, a missing or inactive organization raises
    ``UnknownOrganization`` (an InvalidInput, field ``org``). Invalid characters raise InvalidInput.
    """
    name = _clean_short_name(short_name, "org")
    org = Organization.objects.filter(short_name_normalized=normalise_key(name)).first()
    if org is not None and org.active:
        return org
    if not settings.ORGANIZATIONS_AUTOCREATE:
        if org is not None:
            message = (
                f'Organization "{org.short_name}" is inactive and auto-creating organizations is off; '
                "reactivate it first."
            )
        else:
            message = (
                f'Unknown organization "{name}", and auto-creating organizations is off; create it first '
                "(REST, admin) or set ROLLBOOK_ORGANIZATIONS_AUTOCREATE=true."
            )
        raise UnknownOrganization({"org": [message]})
    if org is not None:
        org.active = True
        org.save(update_fields=["active", "modified"])
        log.info('Reactivated organization "%s".', org.short_name)
        return org
    try:
        with transaction.atomic():
            return Organization.objects.create(short_name=name, name=name)
    except IntegrityError:  # created concurrently
        return Organization.objects.get(short_name_normalized=normalise_key(name))


def create_organization(
    short_name: str, *, name: str | None = None, description: str = "", active: bool = True
) -> Organization:
    """Create an organization. ``name`` defaults to ``short_name``.

    Raises InvalidInput for invalid characters or when an organization with the same short name
    (ignoring case) exists.
    """
    errors: dict[str, list[str]] = {}
    try:
        short = _clean_short_name(short_name)
    except InvalidInput as exc:
        errors.update(exc.errors)
        short = None
    display_name = _clean_text(short if name is None else name, "name", errors, max_length=_MAX_NAME_LENGTH)
    if not isinstance(description, str):
        _add_error(errors, "description", "Must be text.")
    _clean_bool(active, "active", errors)
    _raise_if(errors)
    assert short is not None and display_name is not None
    existing = Organization.objects.filter(short_name_normalized=normalise_key(short)).first()
    if existing is not None:
        raise InvalidInput({"short_name": [f'An organization "{existing.short_name}" exists already.']})
    try:
        with transaction.atomic():
            return Organization.objects.create(
                short_name=short, name=display_name, description=description, active=active
            )
    except IntegrityError:
        raise InvalidInput({"short_name": [f'An organization "{short}" exists already.']}) from None


def get_organization(short_name_or_uuid: str | uuid_module.UUID) -> Organization:
    """Return the organization with this UUID, or with this short name (case-insensitive).

    Raises Organization.DoesNotExist.
    """
    if isinstance(short_name_or_uuid, uuid_module.UUID):
        return Organization.objects.get(uuid=short_name_or_uuid)
    text = str(short_name_or_uuid).strip()
    match = Q(short_name_normalized=normalise_key(text))
    with contextlib.suppress(ValueError):
        match |= Q(uuid=uuid_module.UUID(text))
    orgs = list(Organization.objects.filter(match)[:2])
    if not orgs:
        raise Organization.DoesNotExist(f'No organization "{text}".')
    # A short name that happens to look like another organization's UUID: the UUID wins.
    return next((org for org in orgs if str(org.uuid) == text.lower()), orgs[0])


def _organization(organization: Organization | str | uuid_module.UUID) -> Organization:
    return organization if isinstance(organization, Organization) else get_organization(organization)


def update_organization(
    organization: Organization | str | uuid_module.UUID,
    *,
    short_name: str | None = None,
    name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> Organization:
    """Change the given fields of an organization (the others stay as they are); return it.

    A change of ``short_name`` other than its capitalization is refused while the organization has
    course runs, because their keys name it; a short name another organization uses is refused too.
    """
    org = _organization(organization)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if short_name is not None:
        try:
            new_short = _clean_short_name(short_name)
        except InvalidInput as exc:
            errors.update(exc.errors)
        else:
            if normalise_key(new_short) != org.short_name_normalized:
                if CourseRun.objects.filter(catalog_course__org=org).exists():
                    _add_error(
                        errors,
                        "short_name",
                        f'"{org.short_name}" has course runs whose keys name it; only its capitalization may change.',
                    )
                elif Organization.objects.filter(short_name_normalized=normalise_key(new_short)).exists():
                    _add_error(errors, "short_name", f'An organization "{new_short}" exists already.')
            if new_short != org.short_name:
                changes["short_name"] = new_short
    if name is not None:
        new_name = _clean_text(name, "name", errors, max_length=_MAX_NAME_LENGTH)
        if new_name is not None and new_name != org.name:
            changes["name"] = new_name
    if description is not None:
        if not isinstance(description, str):
            _add_error(errors, "description", "Must be text.")
        elif description != org.description:
            changes["description"] = description
    if active is not None and _clean_bool(active, "active", errors) is not None and active != org.active:
        changes["active"] = active
    _raise_if(errors)
    if changes:
        for attribute, value in changes.items():
            setattr(org, attribute, value)
        try:
            with transaction.atomic():
                org.save(update_fields=[*changes, "short_name_normalized", "modified"])
        except IntegrityError:
            raise InvalidInput({"short_name": [f'An organization "{org.short_name}" exists already.']}) from None
    return org


def set_organizations_active(organizations: Iterable[Organization | str], *, active: bool) -> int:
    """Activate or deactivate several organizations at once (set-based); return how many changed."""
    names = {normalise_key(o.short_name if isinstance(o, Organization) else o) for o in organizations}
    changed = [
        org
        for name_batch in _chunks(sorted(names))
        for org in Organization.objects.filter(short_name_normalized__in=name_batch)
        if org.active != active
    ]
    now = timezone.now()
    for org in changed:
        org.active = active
        org.modified = now
    if changed:
        bulk_update_with_history(
            changed, Organization, ["active", "modified"], batch_size=settings.BULK_BATCH_SIZE, default_date=now
        )
    return len(changed)


def delete_organization(organization: Organization | str | uuid_module.UUID) -> None:
    """Delete an organization. Raises ProtectedError while it has catalog courses (deactivate it instead)."""
    _organization(organization).delete()


# --- catalog courses -----------------------------------------------------------------------------


def catalog_courses_queryset() -> QuerySet[CatalogCourse]:
    """All catalog courses with their organization, for listing."""
    return CatalogCourse.objects.select_related("org")


def get_catalog_course(
    *,
    pk: int | None = None,
    uuid: str | uuid_module.UUID | None = None,
    key_str: str | None = None,
    org_code: str | None = None,
    course_code: str | None = None,
) -> CatalogCourse:
    """Return one catalog course, found by exactly one of: ``pk``; ``uuid``; ``key_str``
    (``catalog-course:ORG:CODE``); or ``org_code`` with ``course_code``.

    The organization matches case-insensitively, the course code exactly. Raises InvalidInput when not
    exactly one form is given or the key is malformed, and CatalogCourse.DoesNotExist when none matches.
    """
    forms = [pk is not None, uuid is not None, key_str is not None, org_code is not None or course_code is not None]
    if sum(forms) != 1:
        raise InvalidInput("Give exactly one of pk, uuid, key_str, or org_code with course_code.")
    courses = catalog_courses_queryset()
    if pk is not None:
        return courses.get(pk=pk)
    if uuid is not None:
        try:
            return courses.get(uuid=uuid if isinstance(uuid, uuid_module.UUID) else uuid_module.UUID(str(uuid)))
        except ValueError:
            raise InvalidInput({"uuid": [f"{uuid!r} is not a UUID."]}) from None
    if key_str is not None:
        prefix, _, rest = str(key_str).partition(":")
        org_code, _, course_code = rest.partition(":")
        if prefix != CATALOG_COURSE_KEY_PREFIX or not org_code or not course_code:
            raise InvalidInput(
                {"key_str": [f"{key_str!r} is not a catalog course key ({CATALOG_COURSE_KEY_PREFIX}:ORG:CODE)."]}
            )
    if not org_code or not course_code:
        raise InvalidInput("Give both org_code and course_code.")
    return courses.get(org__short_name_normalized=normalise_key(org_code), course_code=course_code)


def _clean_course_code(value: object, org_short_name: str, errors: dict[str, list[str]]) -> str | None:
    code = _clean_text(value, "course_code", errors, max_length=_MAX_NAME_LENGTH)
    if code is None:
        return None
    try:
        CourseLocator(org=org_short_name, course=code, run="run")
    except InvalidKeyError:
        _add_error(errors, "course_code", f"{code!r} cannot be part of a course key; use letters, digits, '.', '-'.")
        return None
    return code


def create_catalog_course(
    org_code: str,
    course_code: str,
    *,
    title: str | None = None,
    language: str | None = None,
    language_short: str | None = None,
    description: str = "",
) -> CatalogCourse:
    """Create a catalog course ORG+CODE; return it.

    The organization is resolved by ``ensure_organization`` (so it may be created or refused, following
    ``ORGANIZATIONS_AUTOCREATE``). ``title`` defaults to the course code, the language to
    ``settings.LANGUAGE_CODE``. A course code that exists in the organization (ignoring case) is refused.
    """
    errors: dict[str, list[str]] = {}
    try:
        lang = _resolve_language(language, language_short)
    except InvalidInput as exc:
        errors.update(exc.errors)
        lang = None
    clean_title = None if title is None else _clean_text(title, "title", errors, max_length=_MAX_NAME_LENGTH)
    if not isinstance(description, str):
        _add_error(errors, "description", "Must be text.")
    try:
        org_name = _clean_short_name(org_code, "org")
    except InvalidInput as exc:
        errors.update(exc.errors)
        org_name = "org"
    code = _clean_course_code(course_code, org_name, errors)
    _raise_if(errors)
    assert code is not None
    with transaction.atomic():
        org = ensure_organization(org_name)
        existing = CatalogCourse.objects.filter(org=org, course_code__iexact=code).first()
        if existing is not None:
            raise InvalidInput({"course_code": [f"The catalog course {existing.key_str} exists already."]})
        try:
            with transaction.atomic():
                return CatalogCourse.objects.create(
                    org=org,
                    course_code=code,
                    title=clean_title or code,
                    language=lang or settings.LANGUAGE_CODE,
                    description=description,
                )
        except IntegrityError:
            raise InvalidInput(
                {"course_code": [f"The catalog course {org.short_name}+{code} exists already."]}
            ) from None


def _catalog_course(catalog_course: CatalogCourse | int) -> CatalogCourse:
    return catalog_course if isinstance(catalog_course, CatalogCourse) else get_catalog_course(pk=catalog_course)


def update_catalog_course(
    catalog_course: CatalogCourse | int,
    *,
    title: str | None = None,
    language: str | None = None,
    language_short: str | None = None,
    description: str | None = None,
) -> CatalogCourse:
    """Change only the given fields of a catalog course (by instance or pk); return it.

    ``language_short`` takes the Open edX short form (``en``, ``zh_HANS``); ``language`` the stored code.
    """
    cc = _catalog_course(catalog_course)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if title is not None:
        new_title = _clean_text(title, "title", errors, max_length=_MAX_NAME_LENGTH)
        if new_title is not None and new_title != cc.title:
            changes["title"] = new_title
    try:
        lang = _resolve_language(language, language_short)
    except InvalidInput as exc:
        errors.update(exc.errors)
    else:
        if lang is not None and lang != cc.language:
            changes["language"] = lang
    if description is not None:
        if not isinstance(description, str):
            _add_error(errors, "description", "Must be text.")
        elif description != cc.description:
            changes["description"] = description
    _raise_if(errors)
    if changes:
        for attribute, value in changes.items():
            setattr(cc, attribute, value)
        cc.save(update_fields=[*changes, "modified"])
    return cc


def delete_catalog_course(catalog_course: CatalogCourse | int) -> None:
    """Delete a catalog course (by instance or pk). Raises ProtectedError while it has runs."""
    _catalog_course(catalog_course).delete()


# --- course runs ---------------------------------------------------------------------------------


def parse_course_key(value: str | CourseKey, field: str = "course_key") -> CourseKey:
    """Return ``value`` as a CourseKey; raise InvalidInput naming ``field`` when it is malformed."""
    if isinstance(value, CourseKey):
        return value
    try:
        return CourseKey.from_string(str(value).strip())
    except InvalidKeyError:
        raise InvalidInput({field: [f"{value!r} is not a valid course key (e.g. course-v1:ORG+CODE+RUN)."]}) from None


def _is_ccx(key: CourseKey) -> bool:
    return str(key).startswith("ccx")


def _parse_new_run_key(value: str | CourseKey, field_name: str = "course_key") -> CourseKey:
    """Parse a key for a new run: course-v1 form only, branch and version dropped, lengths checked."""
    text = value if isinstance(value, CourseKey) else str(value).strip()
    try:
        key = parse_course_key(text, field_name)
    except InvalidInput:
        if isinstance(text, str) and text.lower().startswith("ccx-v1:"):
            raise InvalidInput(
                {field_name: [f"{text!r}: CCX keys can be stored only when the edx-ccx-keys package is installed."]}
            ) from None
        raise
    if key.deprecated:
        raise InvalidInput(
            {field_name: [f"{str(key)!r} uses the old ORG/COURSE/RUN form; use {key.replace(deprecated=False)}."]}
        )
    if isinstance(key, CourseLocator):
        key = key.for_branch(None).version_agnostic()
    if len(str(key)) > _MAX_KEY_LENGTH:
        raise InvalidInput({field_name: [f"A course key may be at most {_MAX_KEY_LENGTH} characters."]})
    if len(key.run) > _MAX_RUN_CODE_LENGTH:
        raise InvalidInput({field_name: [f"The run code may be at most {_MAX_RUN_CODE_LENGTH} characters."]})
    return key


def course_runs_queryset() -> QuerySet[CourseRun]:
    """All runs with their catalog course, organization and modes loaded, for listing."""
    return CourseRun.objects.select_related("catalog_course__org").prefetch_related("modes")


def get_course_run(course_key: str | CourseKey) -> CourseRun:
    """Return the run with exactly this key (case-sensitive). Raises CourseRun.DoesNotExist."""
    return CourseRun.objects.select_related("catalog_course__org").get(course_key=parse_course_key(course_key))


def get_course_runs(course_keys: Iterable[str | CourseKey]) -> dict[str, CourseRun]:
    """Return ``{str(course_key): run}`` for the keys that exist, in one query; unknown keys are absent.

    Malformed keys are simply absent too: callers validate keys they report on.
    """
    keys = []
    for value in course_keys:
        try:
            keys.append(parse_course_key(value))
        except InvalidInput:
            continue
    runs = CourseRun.objects.filter(course_key__in=keys).select_related("catalog_course__org")
    return {str(run.course_key): run for run in runs}


def _run(course_run: CourseRun | str | CourseKey) -> CourseRun:
    return course_run if isinstance(course_run, CourseRun) else get_course_run(course_run)


def _key_for_new_run(
    course_key: str | CourseKey | None, catalog_course: CatalogCourse | None, run_code: str | None
) -> CourseKey:
    """The key of a run to create, checked against the catalog course and run code when those are given."""
    if course_key is None:
        if catalog_course is None or not isinstance(run_code, str) or not run_code.strip():
            raise InvalidInput({"course_key": ["Give a course key, or a catalog course and a run code."]})
        try:
            key = CourseLocator(org=catalog_course.org.short_name, course=catalog_course.course_code, run=run_code)
        except InvalidKeyError:
            raise InvalidInput(
                {"run_code": [f"Could not generate a valid course key from {catalog_course} and {run_code!r}."]}
            ) from None
        return _parse_new_run_key(key)
    key = _parse_new_run_key(course_key)
    errors: dict[str, list[str]] = {}
    if run_code is not None and run_code != key.run:
        _add_error(errors, "run_code", f"The run code must be the key's run, {key.run!r}.")
    if catalog_course is not None:
        if catalog_course.course_code != key.course:
            _add_error(errors, "course_key", f"The key's course {key.course!r} is not {catalog_course}'s course code.")
        elif normalise_key(catalog_course.org.short_name) != normalise_key(key.org):
            _add_error(errors, "course_key", f"The key's organization {key.org!r} is not {catalog_course}'s.")
        elif catalog_course.org.short_name != key.org:
            log.warning(
                'Course key "%s" names organization "%s", which is stored as "%s".',
                key,
                key.org,
                catalog_course.org.short_name,
            )
    _raise_if(errors)
    return key


def _organization_for_key(key: CourseKey) -> Organization:
    try:
        org = ensure_organization(key.org)
    except UnknownOrganization as exc:
        raise UnknownOrganization({"course_key": exc.errors["org"]}) from None
    except InvalidInput:
        raise InvalidInput(
            {"course_key": [f"The key's organization {key.org!r} is not a valid organization short name."]}
        ) from None
    if org.short_name != key.org:
        log.warning('Course key "%s" names organization "%s", which is stored as "%s".', key, key.org, org.short_name)
    return org


def _catalog_course_for_new_run(key: CourseKey, *, title: str | None, language: str | None) -> CatalogCourse:
    org = _organization_for_key(key)
    found = CatalogCourse.objects.select_related("org").filter(org=org, course_code__iexact=key.course).first()
    if found is None:
        try:
            with transaction.atomic():
                return CatalogCourse.objects.create(
                    org=org,
                    course_code=key.course,
                    title=title or key.course,
                    language=language or settings.LANGUAGE_CODE,
                )
        except IntegrityError:  # created concurrently
            found = CatalogCourse.objects.select_related("org").filter(org=org, course_code__iexact=key.course).first()
    if found is None or found.course_code != key.course:
        raise InvalidInput(
            {
                "course_key": [
                    f"The catalog course {found} spells its course code differently; course codes in keys are "
                    "case-sensitive, so use its spelling."
                ]
            }
        )
    return found


def _refuse_case_twins(key: CourseKey, catalog_course: CatalogCourse) -> None:
    clash = Q(course_key__iexact=str(key))
    if not _is_ccx(key):
        clash |= Q(catalog_course=catalog_course, run_code=key.run) & ~Q(course_key__startswith="ccx")
    twin = CourseRun.objects.filter(clash).exclude(course_key=key).first()
    if twin is not None:
        raise InvalidInput(
            {"course_key": [f"{key} differs only in case from the existing run {twin.course_key}; use that key."]}
        )


def _clean_run_fields(
    errors: dict[str, list[str]],
    *,
    title: object = None,
    pacing: object = None,
    marketable: object = None,
    **schedule: object,
) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    if title is not None:
        cleaned["title"] = _clean_text(title, "title", errors, max_length=_MAX_NAME_LENGTH)
    for name, value in schedule.items():
        if value is not UNSET:
            cleaned[name] = _clean_datetime(value, name, errors)
    if pacing is not None:
        cleaned["pacing"] = _clean_pacing(pacing, errors)
    if marketable is not None:
        cleaned["marketable"] = _clean_bool(marketable, "marketable", errors)
    return cleaned


def _clean_slug(value: object, field_name: str = "slug") -> str:
    try:
        return ModeSlug(value).value
    except ValueError:
        choices = ", ".join(m.value for m in ModeSlug)
        raise InvalidInput({field_name: [f"{value!r} is not a course mode; use one of {choices}."]}) from None


def _clean_mode_spec(spec: ModeSpec) -> ModeSpec:
    """Validate one mode (fields slug, price_cents, currency, upgrade_deadline, name); return it normalised."""
    errors: dict[str, list[str]] = {}
    try:
        slug = _clean_slug(spec.slug)
    except InvalidInput as exc:
        errors.update(exc.errors)
        slug = str(spec.slug)
    if isinstance(spec.price_cents, bool) or not isinstance(spec.price_cents, int) or spec.price_cents < 0:
        _add_error(errors, "price_cents", "Must be a whole number of cents, 0 or more.")
    currency = spec.currency.strip().lower() if isinstance(spec.currency, str) else ""
    if not re.fullmatch(CURRENCY_PATTERN, currency):
        _add_error(errors, "currency", f"{spec.currency!r} is not a three-letter currency code such as usd.")
    deadline = _clean_datetime(spec.upgrade_deadline, "upgrade_deadline", errors)
    name = spec.name if isinstance(spec.name, str) else None
    if name is None or len(name) > _MAX_NAME_LENGTH:
        _add_error(errors, "name", f"Must be text of at most {_MAX_NAME_LENGTH} characters.")
    _raise_if(errors)
    return ModeSpec(
        slug=slug, price_cents=spec.price_cents, currency=currency, upgrade_deadline=deadline, name=name.strip()
    )


def _clean_mode_specs(modes: Iterable[ModeSpec], errors: dict[str, list[str]]) -> list[ModeSpec]:
    cleaned: list[ModeSpec] = []
    for spec in modes:
        try:
            cleaned.append(_clean_mode_spec(spec))
        except InvalidInput as exc:
            for field_name, messages in exc.errors.items():
                for message in messages:
                    _add_error(errors, "modes", f"{spec.slug}: {field_name}: {message}")
    repeated = sorted(slug for slug, count in Counter(s.slug for s in cleaned).items() if count > 1)
    if repeated:
        _add_error(errors, "modes", f"Each mode may be given once; repeated: {', '.join(repeated)}.")
    return cleaned


def _new_mode(run: CourseRun, spec: ModeSpec) -> CourseMode:
    return CourseMode(
        course_run=run,
        slug=spec.slug,
        name=spec.name,
        price_cents=spec.price_cents,
        currency=spec.currency,
        upgrade_deadline=spec.upgrade_deadline,
    )


def create_course_run(
    course_key: str | CourseKey | None = None,
    *,
    catalog_course: CatalogCourse | None = None,
    run_code: str | None = None,
    title: str | None = None,
    language: str | None = None,
    language_short: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    enrollment_start: datetime | None = None,
    enrollment_end: datetime | None = None,
    pacing: str = Pacing.INSTRUCTOR,
    marketable: bool = True,
    modes: Iterable[ModeSpec] = (),
) -> CourseRun:
    """Create a course run and, when needed, its organization and catalog course; return the run.

    Give ``course_key``, or ``catalog_course`` and ``run_code`` (the key is then built as
    ``course-v1:ORG+CODE+RUN``); when both are given they must agree (the key's run is the run code, its
    course the catalog course's code, its organization the catalog course's, a case-only organization
    difference being logged as a warning). The organization comes from ``ensure_organization`` (auto-create
    off and unknown organization → ``UnknownOrganization``, a ValueError). A missing catalog course is
    created with the run's title and language; an existing one is used unchanged.

    Idempotent: if the run exists, a warning is logged and it is returned unchanged. A key that differs
    from an existing run's only by case is refused with InvalidInput. Times must be timezone-aware; the run
    must end after it starts and enrollment close after it opens. The title defaults to the catalog
    course's title.
    """
    key = _key_for_new_run(course_key, catalog_course, run_code)
    existing = CourseRun.objects.select_related("catalog_course__org").filter(course_key=key).first()
    if existing is not None:
        log.warning('Expected to create course run "%s", but it exists already; leaving it unchanged.', key)
        return existing
    errors: dict[str, list[str]] = {}
    fields = _clean_run_fields(
        errors,
        title=title,
        pacing=pacing,
        marketable=marketable,
        start=start,
        end=end,
        enrollment_start=enrollment_start,
        enrollment_end=enrollment_end,
    )
    try:
        lang = _resolve_language(language, language_short)
    except InvalidInput as exc:
        errors.update(exc.errors)
        lang = None
    mode_specs = _clean_mode_specs(modes, errors)
    if not errors:
        errors.update(_schedule_errors(*(fields[name] for name in _SCHEDULE_FIELDS)))
    _raise_if(errors)
    with transaction.atomic():
        if catalog_course is None:
            catalog_course = _catalog_course_for_new_run(key, title=fields.get("title"), language=lang)
        _refuse_case_twins(key, catalog_course)
        run = CourseRun(
            catalog_course=catalog_course,
            course_key=key,
            run_code=key.run,
            title=fields.get("title") or catalog_course.title,
            start=fields["start"],
            end=fields["end"],
            enrollment_start=fields["enrollment_start"],
            enrollment_end=fields["enrollment_end"],
            pacing=fields["pacing"],
            marketable=fields["marketable"],
        )
        try:
            with transaction.atomic():
                run.save()
        except IntegrityError:
            existing = CourseRun.objects.select_related("catalog_course__org").filter(course_key=key).first()
            if existing is not None:  # created concurrently
                log.warning('Expected to create course run "%s", but it exists already; leaving it unchanged.', key)
                return existing
            raise InvalidInput({"course_key": [f"{key} conflicts with an existing run."]}) from None
        if mode_specs:
            bulk_create_with_history([_new_mode(run, spec) for spec in mode_specs], CourseMode)
    return run


def create_course_run_for_modulestore_course_with(
    course_key: str | CourseKey, *, title: str, language_short: str | None = None
) -> CourseRun:
    """Sync entry point (the upstream name): make sure a run exists for a course published elsewhere.

    Same as ``create_course_run(course_key, title=title, language_short=language_short)``: creates the
    organization (if allowed) and catalog course as needed; an existing run is logged and returned unchanged.
    """
    return create_course_run(course_key, title=title or None, language_short=language_short or None)


def sync_course_run_details(course_key: str | CourseKey, *, title: str | None) -> CourseRun:
    """Copy details from a more authoritative source onto the run: for now only its title (ignored when
    empty). Raises CourseRun.DoesNotExist for an unknown key."""
    run = get_course_run(course_key)
    if title:
        update_course_run(run, title=title)
    return run


def update_course_run(
    course_run: CourseRun | str | CourseKey,
    *,
    title: str | None = None,
    start: datetime | Unset | None = UNSET,
    end: datetime | Unset | None = UNSET,
    enrollment_start: datetime | Unset | None = UNSET,
    enrollment_end: datetime | Unset | None = UNSET,
    pacing: str | None = None,
    marketable: bool | None = None,
) -> CourseRun:
    """Change the given fields of a run; return it. Dates may be set to None to clear them (leave a
    parameter out to keep its value). The resulting schedule must still be ordered (end after start,
    enrollment end after enrollment start)."""
    run = _run(course_run)
    errors: dict[str, list[str]] = {}
    cleaned = _clean_run_fields(
        errors,
        title=title,
        pacing=pacing,
        marketable=marketable,
        start=start,
        end=end,
        enrollment_start=enrollment_start,
        enrollment_end=enrollment_end,
    )
    if not errors:
        errors.update(_schedule_errors(*(cleaned.get(name, getattr(run, name)) for name in _SCHEDULE_FIELDS)))
    _raise_if(errors)
    changes = {name: value for name, value in cleaned.items() if getattr(run, name) != value}
    if changes:
        for attribute, value in changes.items():
            setattr(run, attribute, value)
        run.save(update_fields=[*changes, "modified"])
    return run


def set_runs_marketable(course_keys: Iterable[str | CourseKey], *, marketable: bool) -> int:
    """Mark several runs (un)marketable at once (set-based); return how many changed. Unknown keys are ignored."""
    keys = [parse_course_key(k) for k in course_keys]
    now = timezone.now()
    changed = [
        run
        for key_batch in _chunks(keys)
        for run in CourseRun.objects.filter(course_key__in=key_batch)
        if run.marketable != marketable
    ]
    for run in changed:
        run.marketable = marketable
        run.modified = now
    if changed:
        bulk_update_with_history(
            changed, CourseRun, ["marketable", "modified"], batch_size=settings.BULK_BATCH_SIZE, default_date=now
        )
    return len(changed)


def delete_course_run(course_key: str | CourseKey, *, delete_empty_catalog_course: bool = False) -> None:
    """Delete a run and its modes; with ``delete_empty_catalog_course``, also its catalog course when no
    runs are left. Raises CourseRun.DoesNotExist for an unknown key and Conflict while the run is
    referenced (e.g. by enrollments)."""
    run = get_course_run(course_key)
    try:
        with transaction.atomic():
            run.delete()
            if delete_empty_catalog_course and not CourseRun.objects.filter(catalog_course=run.catalog_course).exists():
                run.catalog_course.delete()
    except (ProtectedError, RestrictedError, IntegrityError) as exc:
        raise Conflict(f"Course run {run.course_key} is still referenced (e.g. by enrollments).") from exc


# --- course modes --------------------------------------------------------------------------------


def mode_slugs_by_run(run_ids: Iterable[int]) -> dict[int, set[str]]:
    """Return ``{run_id: {mode slugs}}`` for the given runs, in one query (runs without modes map to an empty set)."""
    ids = set(run_ids)
    result: dict[int, set[str]] = {run_id: set() for run_id in ids}
    for run_id, slug in CourseMode.objects.filter(course_run_id__in=ids).values_list("course_run_id", "slug"):
        result[run_id].add(slug)
    return result


def choose_best_mode(slugs: Iterable[str]) -> str:
    """The best of the offered mode slugs: verified > professional > no-id-professional > audit > honor >
    unpaid-executive-education; ``audit`` when none of those is offered."""
    offered = set(slugs)
    for slug in BEST_MODE_PRIORITY:
        if slug in offered:
            return slug.value
    return DEFAULT_MODE.value


def best_mode(run: CourseRun) -> str:
    """The mode a learner is enrolled in when none is asked for (see ``choose_best_mode``).

    Uses the run's prefetched modes when they are loaded, else one query.
    """
    return choose_best_mode(mode.slug for mode in run.modes.all())


def set_course_mode(
    course_run: CourseRun | str | CourseKey,
    slug: str,
    *,
    price_cents: int,
    currency: str = "usd",
    upgrade_deadline: datetime | None = None,
    name: str = "",
) -> CourseMode:
    """Offer mode ``slug`` on the run at this price, or change it if offered already (an upsert); return it.

    The slug must be a ``ModeSlug``, the price a whole number of cents >= 0, the currency a three-letter
    code, the deadline timezone-aware. Raises CourseRun.DoesNotExist for an unknown run.
    """
    run = _run(course_run)
    spec = _clean_mode_spec(
        ModeSpec(slug=slug, price_cents=price_cents, currency=currency, upgrade_deadline=upgrade_deadline, name=name)
    )
    wanted = {
        "name": spec.name,
        "price_cents": spec.price_cents,
        "currency": spec.currency,
        "upgrade_deadline": spec.upgrade_deadline,
    }
    with transaction.atomic():
        mode = CourseMode.objects.select_for_update().filter(course_run=run, slug=spec.slug).first()
        if mode is None:
            try:
                with transaction.atomic():
                    mode = CourseMode.objects.create(course_run=run, slug=spec.slug, **wanted)
                    return mode
            except IntegrityError:  # created concurrently
                mode = CourseMode.objects.select_for_update().get(course_run=run, slug=spec.slug)
        changed = [name for name, value in wanted.items() if getattr(mode, name) != value]
        if changed:
            for attribute in changed:
                setattr(mode, attribute, wanted[attribute])
            mode.save(update_fields=[*changed, "modified"])
    mode.course_run = run
    return mode


def delete_course_mode(course_run: CourseRun | str | CourseKey, slug: str) -> None:
    """Stop offering mode ``slug`` on the run. Raises CourseMode.DoesNotExist when the run does not offer it."""
    run = _run(course_run)
    CourseMode.objects.get(course_run=run, slug=_clean_slug(slug)).delete()


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
            _add_error(errors, "modes", f"{item!r} is not slug:price_cents[@deadline], e.g. verified:4900.")
            continue
        try:
            deadline = _parse_import_datetime(deadline_text) if deadline_text else None
        except ValueError:
            _add_error(errors, "modes", f"{item!r}: {deadline_text!r} is not an ISO 8601 date and time.")
            continue
        specs.append(ModeSpec(slug=slug.strip(), price_cents=int(price_text), upgrade_deadline=deadline))
    cleaned = _clean_mode_specs(specs, errors)
    _raise_if(errors)
    return cleaned


def format_mode_specs(modes: Iterable[ModeSpec | CourseMode]) -> str:
    """The ``parse_mode_specs`` text for these modes, sorted by slug (e.g. ``audit:0;verified:4900@…``)."""
    parts = []
    for mode in sorted(modes, key=lambda m: m.slug):
        text = f"{mode.slug}:{mode.price_cents}"
        if mode.upgrade_deadline is not None:
            text += f"@{_display(mode.upgrade_deadline)}"
        parts.append(text)
    return ";".join(parts)


# --- enrollability, prices, advertised runs ------------------------------------------------------


def is_enrollable(run: CourseRun, now: datetime | None = None) -> bool:
    """True when ``now`` lies in the run's enrollment window and the run has not ended.

    A missing enrollment start means "open since creation"; a missing enrollment end means "until the run ends".
    """
    now = now or timezone.now()
    if run.enrollment_start and now < run.enrollment_start:
        return False
    if run.enrollment_end and now >= run.enrollment_end:
        return False
    return not (run.end and now >= run.end)


def enrollable_q(now: datetime | None = None) -> Q:
    """A filter for runs open for enrollment at ``now`` (the queryset form of ``is_enrollable``)."""
    now = now or timezone.now()
    return (
        (Q(enrollment_start__isnull=True) | Q(enrollment_start__lte=now))
        & (Q(enrollment_end__isnull=True) | Q(enrollment_end__gt=now))
        & (Q(end__isnull=True) | Q(end__gt=now))
    )


def paid_mode(run: CourseRun) -> CourseMode | None:
    """The run's paid mode (price above zero) that sets its price: the first of ``PAID_MODE_PRIORITY`` it
    offers, else its most expensive paid mode; None for a free run. Uses prefetched modes when loaded."""
    paid = {mode.slug: mode for mode in run.modes.all() if mode.price_cents > 0}
    for slug in PAID_MODE_PRIORITY:
        if slug in paid:
            return paid[slug]
    return max(paid.values(), key=lambda mode: mode.price_cents, default=None)


def run_price(run: CourseRun) -> tuple[int, str]:
    """``(price_cents, currency)`` of the run's paid mode, or ``(0, "usd")`` for a free run."""
    mode = paid_mode(run)
    return (mode.price_cents, mode.currency) if mode else (0, "usd")


def is_upgradeable(run: CourseRun, now: datetime | None = None) -> bool:
    """True when a learner can still pay for a certificate: the run has not ended and offers a paid mode
    (price above zero) whose upgrade deadline is absent or still ahead."""
    now = now or timezone.now()
    if run.end and now >= run.end:
        return False
    return any(
        mode.price_cents > 0 and (mode.upgrade_deadline is None or now < mode.upgrade_deadline)
        for mode in run.modes.all()
    )


def enroll_by_date(run: CourseRun) -> datetime | None:
    """The last moment to enroll with the paid seat: the earlier of the enrollment end (or, without one,
    the run's end) and the upgrade deadline of the run's paid mode (executive-education seats: the
    enrollment end only). None when nothing bounds it."""
    candidates = [moment for moment in (run.enrollment_end or run.end,) if moment]
    mode = paid_mode(run)
    if mode and mode.upgrade_deadline and mode.slug not in EXECUTIVE_EDUCATION_MODES:
        candidates.append(mode.upgrade_deadline)
    return min(candidates, default=None)


def choose_advertised_run(runs: Iterable[CourseRun], now: datetime | None = None) -> CourseRun | None:
    """The run a catalog course advertises, among ``runs`` (their modes should be prefetched).

    Only marketable runs count. First choice: current runs (started, and ending at least 14 days from
    ``now`` or open-ended) that are upgradeable (``is_upgradeable``) — the one that started last. Else
    upgradeable runs that have not started — the one starting first. Else any remaining marketable run —
    the one that starts last (runs without a start date come last). None when no run is marketable.
    """
    now = now or timezone.now()
    candidates = sorted((run for run in runs if run.marketable), key=lambda run: str(run.course_key))
    min_remaining = timedelta(days=CURRENT_RUN_MIN_REMAINING_DAYS)
    current = [
        run
        for run in candidates
        if run.start
        and run.start <= now
        and (run.end is None or run.end - now >= min_remaining)
        and is_upgradeable(run, now)
    ]
    if current:
        return max(current, key=lambda run: run.start)
    upcoming = [run for run in candidates if run.start and run.start > now and is_upgradeable(run, now)]
    if upcoming:
        return min(upcoming, key=lambda run: run.start)
    dated = [run for run in candidates if run.start]
    if dated:
        return max(dated, key=lambda run: run.start)
    return candidates[0] if candidates else None


def advertised_runs(
    catalog_courses: Iterable[CatalogCourse], now: datetime | None = None
) -> dict[int, CourseRun | None]:
    """``{catalog_course.pk: advertised run or None}`` for many courses, in two queries per batch
    (runs, then their modes). See ``choose_advertised_run`` for the rule."""
    courses = {cc.pk: cc for cc in catalog_courses}
    runs_by_course: dict[int, list[CourseRun]] = defaultdict(list)
    for id_batch in _chunks(list(courses)):
        for run in CourseRun.objects.filter(catalog_course_id__in=id_batch, marketable=True).prefetch_related("modes"):
            run.catalog_course = courses[run.catalog_course_id]
            runs_by_course[run.catalog_course_id].append(run)
    return {pk: choose_advertised_run(runs_by_course[pk], now) for pk in courses}


def advertised_run(catalog_course: CatalogCourse, now: datetime | None = None) -> CourseRun | None:
    """The run ``catalog_course`` advertises at ``now`` (default: now), or None. See ``choose_advertised_run``."""
    return advertised_runs([catalog_course], now)[catalog_course.pk]


# --- catalog import ------------------------------------------------------------------------------


def validate_import_columns(columns: Iterable[str | None]) -> list[str]:
    """Check a catalog CSV header and return its column names trimmed and lower-cased.

    Raises InvalidInput (field ``columns``) when a required column is missing, or a column is unknown,
    blank or repeated.
    """
    names = [(column or "").strip().lower() for column in columns]
    problems = []
    missing = [column for column in IMPORT_REQUIRED_COLUMNS if column not in names]
    if missing:
        problems.append(f"Missing required column(s): {', '.join(missing)}.")
    unknown = [name or "(blank)" for name in names if name not in IMPORT_COLUMNS]
    if unknown:
        problems.append(f"Unknown column(s): {', '.join(unknown)}; the columns are {', '.join(IMPORT_COLUMNS)}.")
    repeated = sorted(name for name, count in Counter(names).items() if count > 1 and name)
    if repeated:
        problems.append(f"Repeated column(s): {', '.join(repeated)}.")
    if problems:
        raise InvalidInput({"columns": problems})
    return names


def _parse_import_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip())
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _parse_import_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(text)


@dataclass
class _PlannedRow:
    """One import row while it is being checked (private to import_catalog_rows)."""

    row: int
    raw_key: str
    key: CourseKey | None = None
    values: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    modes: list[ModeSpec] | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    duplicated: bool = False
    run: CourseRun | None = None
    org: Organization | None = None
    catalog_course: CatalogCourse | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.duplicated

    @property
    def org_ref(self) -> str:
        assert self.key is not None
        return normalise_key(self.key.org)

    @property
    def course_ref(self) -> tuple[str, str]:
        assert self.key is not None
        return (self.org_ref, self.key.course.lower())


def _parse_import_row(row_number: int, raw: Mapping[str | None, str | list[str] | None]) -> _PlannedRow:
    cells = {(name or "").strip().lower(): value for name, value in raw.items() if name is not None}
    key_text = (cells.get("course_key") or "").strip()
    plan = _PlannedRow(row=row_number, raw_key=key_text)
    if raw.get(None):
        _add_error(plan.errors, "row", "The row has more cells than the header has columns.")

    def cell(name: str) -> str:
        value = cells.get(name)
        return value.strip() if isinstance(value, str) else ""

    if not key_text:
        _add_error(plan.errors, "course_key", "Required.")
    else:
        try:
            plan.key = _parse_new_run_key(key_text)
        except InvalidInput as exc:
            plan.errors.update(exc.errors)
    if cell("title"):
        plan.values["title"] = _clean_text(cell("title"), "title", plan.errors, max_length=_MAX_NAME_LENGTH)
    if cell("language"):
        try:
            plan.language = normalise_language(cell("language"))
        except InvalidInput as exc:
            plan.errors.update(exc.errors)
    for name in _SCHEDULE_FIELDS:
        text = cell(name)
        if text.lower() == IMPORT_CLEAR_VALUE:
            plan.values[name] = None
        elif text:
            try:
                plan.values[name] = _parse_import_datetime(text)
            except ValueError:
                _add_error(plan.errors, name, f"{text!r} is not an ISO 8601 date and time, e.g. 2027-01-31T00:00Z.")
    if cell("pacing"):
        plan.values["pacing"] = _clean_pacing(cell("pacing").lower(), plan.errors)
    if cell("marketable"):
        try:
            plan.values["marketable"] = _parse_import_bool(cell("marketable"))
        except ValueError:
            _add_error(plan.errors, "marketable", f"{cell('marketable')!r} is not true or false.")
    if cell("modes"):
        try:
            plan.modes = parse_mode_specs(cell("modes"))
        except InvalidInput as exc:
            plan.errors.update(exc.errors)
    return plan


def _mark_duplicates(plans: list[_PlannedRow]) -> None:
    counts = Counter(str(plan.key).casefold() for plan in plans if plan.key is not None)
    for plan in plans:
        if plan.key is not None and counts[str(plan.key).casefold()] > 1:
            plan.duplicated = True


def _load_existing(plans: Sequence[_PlannedRow], orgs: dict[str, Organization], courses: dict) -> None:
    """Attach existing runs, organizations and catalog courses to one batch of rows (a few queries)."""
    keyed = [plan for plan in plans if plan.key is not None and plan.ok]
    runs = {
        str(run.course_key): run for run in course_runs_queryset().filter(course_key__in=[plan.key for plan in keyed])
    }
    new = []
    for plan in keyed:
        plan.run = runs.get(str(plan.key))
        if plan.run is None:
            new.append(plan)
        else:
            plan.org, plan.catalog_course = plan.run.catalog_course.org, plan.run.catalog_course
    if not new:
        return
    lowered_key = Lower("course_key", output_field=CharField())
    twins = {
        key_lower: run_key
        for run_key, key_lower in CourseRun.objects.annotate(key_lower=lowered_key)
        .filter(key_lower__in=[str(plan.key).lower() for plan in new])
        .values_list("course_key", "key_lower")
    }
    for plan in new:
        twin = twins.get(str(plan.key).lower())
        if twin is not None:
            _add_error(plan.errors, "course_key", f"{plan.key} differs only in case from the existing run {twin}.")
    wanted_orgs = {plan.org_ref for plan in new if plan.ok} - set(orgs)
    if wanted_orgs:
        orgs.update(
            {
                org.short_name_normalized: org
                for org in Organization.objects.filter(short_name_normalized__in=wanted_orgs)
            }
        )
    wanted_courses = {plan.course_ref for plan in new if plan.ok and plan.org_ref in orgs} - set(courses)
    if wanted_courses:
        lowered_code = Lower("course_code", output_field=CharField())
        found = (
            CatalogCourse.objects.select_related("org")
            .annotate(code_lower=lowered_code)
            .filter(
                org_id__in={orgs[org_ref].pk for org_ref, _ in wanted_courses},
                code_lower__in={code for _, code in wanted_courses},
            )
        )
        courses.update({(cc.org.short_name_normalized, cc.code_lower): cc for cc in found})


def _plan_new_row(
    plan: _PlannedRow,
    orgs: dict[str, Organization],
    courses: dict[tuple[str, str], CatalogCourse],
    new_course_codes: dict[tuple[str, str], str],
) -> None:
    """Check a row that creates a run: organization, catalog course and schedule."""
    assert plan.key is not None
    try:
        _clean_short_name(plan.key.org, "course_key")
    except InvalidInput:
        _add_error(plan.errors, "course_key", f"The key's organization {plan.key.org!r} is not a valid short name.")
        return
    org = orgs.get(plan.org_ref)
    if (org is None or not org.active) and not settings.ORGANIZATIONS_AUTOCREATE:
        state = "inactive" if org else "unknown"
        _add_error(
            plan.errors,
            "course_key",
            f'Organization "{plan.key.org}" is {state} and auto-creating organizations is off.',
        )
        return
    if org is not None and org.short_name != plan.key.org:
        plan.warnings.append(f'The key names organization "{plan.key.org}", which is stored as "{org.short_name}".')
    plan.org = org
    cc = courses.get(plan.course_ref)
    code = cc.course_code if cc else new_course_codes.setdefault(plan.course_ref, plan.key.course)
    if code != plan.key.course:
        _add_error(
            plan.errors,
            "course_key",
            f'The catalog course spells its course code "{code}"; course codes in keys are case-sensitive.',
        )
        return
    plan.catalog_course = cc
    plan.errors.update(_schedule_errors(*(plan.values.get(name) for name in _SCHEDULE_FIELDS)))


def _refuse_language_conflicts(plans: list[_PlannedRow]) -> None:
    languages: dict[tuple[str, str], set[str]] = defaultdict(set)
    for plan in plans:
        if plan.ok and plan.language is not None:
            languages[plan.course_ref].add(plan.language)
    for plan in plans:
        if plan.ok and plan.language is not None and len(languages[plan.course_ref]) > 1:
            others = ", ".join(sorted(languages[plan.course_ref]))
            _add_error(plan.errors, "language", f"Rows for this catalog course give different languages: {others}.")


def _mode_changes(run: CourseRun, wanted: list[ModeSpec]) -> tuple[list[ModeSpec], list[CourseMode], list[CourseMode]]:
    """(modes to create, modes to update (already changed in memory), modes to delete) for an existing run."""
    current = {mode.slug: mode for mode in run.modes.all()}
    to_create, to_update = [], []
    for spec in wanted:
        mode = current.pop(spec.slug, None)
        if mode is None:
            to_create.append(spec)
        elif (mode.price_cents, mode.currency, mode.upgrade_deadline) != (
            spec.price_cents,
            spec.currency,
            spec.upgrade_deadline,
        ):
            mode.price_cents, mode.currency, mode.upgrade_deadline = (
                spec.price_cents,
                spec.currency,
                spec.upgrade_deadline,
            )
            to_update.append(mode)
    return to_create, to_update, list(current.values())


@dataclass
class _ImportWrites:
    """Everything an import will write, gathered before writing (private to import_catalog_rows)."""

    new_orgs: dict[str, Organization] = field(default_factory=dict)
    reactivated_orgs: dict[str, Organization] = field(default_factory=dict)
    new_courses: dict[tuple[str, str], CatalogCourse] = field(default_factory=dict)
    relabelled_courses: dict[int, CatalogCourse] = field(default_factory=dict)
    new_runs: list[tuple[CourseRun, list[ModeSpec]]] = field(default_factory=list)
    changed_runs: list[CourseRun] = field(default_factory=list)
    changed_run_fields: set[str] = field(default_factory=set)
    new_modes: list[CourseMode] = field(default_factory=list)
    changed_modes: list[CourseMode] = field(default_factory=list)
    removed_modes: list[CourseMode] = field(default_factory=list)


def _plan_writes(plan: _PlannedRow, writes: _ImportWrites, now: datetime) -> list[FieldChange]:
    """Record what ``plan`` writes and return the changes it makes, as displayed."""
    assert plan.key is not None
    changes: list[FieldChange] = []
    org = plan.org or writes.new_orgs.get(plan.org_ref)
    if org is None:
        org = writes.new_orgs[plan.org_ref] = Organization(
            short_name=plan.key.org, short_name_normalized=plan.org_ref, name=plan.key.org, active=True
        )
        changes.append(FieldChange("organization", "", org.short_name))
    elif not org.active:
        org.active, org.modified = True, now
        writes.reactivated_orgs[plan.org_ref] = org
        changes.append(FieldChange("organization", "inactive", "active"))
    cc = plan.catalog_course
    if cc is None:
        cc = writes.new_courses.get(plan.course_ref)
        if cc is None:
            cc = writes.new_courses[plan.course_ref] = CatalogCourse(
                org=org,
                course_code=plan.key.course,
                title=plan.values.get("title") or plan.key.course,
                language=plan.language or settings.LANGUAGE_CODE,
            )
            changes.append(
                FieldChange("catalog_course", "", f"{CATALOG_COURSE_KEY_PREFIX}:{org.short_name}:{cc.course_code}")
            )
    elif plan.language is not None and plan.language != cc.language:
        changes.append(FieldChange("language", cc.language, plan.language))
        cc.language, cc.modified = plan.language, now
        writes.relabelled_courses[cc.pk] = cc
    if plan.run is None:
        run = CourseRun(
            catalog_course=cc,
            course_key=plan.key,
            run_code=plan.key.run,
            title=plan.values.get("title") or cc.title,
            **{name: plan.values[name] for name in (*_SCHEDULE_FIELDS, "pacing", "marketable") if name in plan.values},
        )
        changes.extend(
            FieldChange(name, "", _display(getattr(run, name)))
            for name in ("title", *_SCHEDULE_FIELDS, "pacing", "marketable")
            if getattr(run, name) is not None
        )
        if plan.modes:
            changes.append(FieldChange("modes", "", format_mode_specs(plan.modes)))
        writes.new_runs.append((run, plan.modes or []))
        return changes
    run = plan.run
    run_changes = {name: value for name, value in plan.values.items() if getattr(run, name) != value}
    if run_changes:
        changes.extend(FieldChange(name, _display(getattr(run, name)), _display(v)) for name, v in run_changes.items())
        for attribute, value in run_changes.items():
            setattr(run, attribute, value)
        run.modified = now
        writes.changed_runs.append(run)
        writes.changed_run_fields.update(run_changes)
    if plan.modes is not None:
        before = format_mode_specs(run.modes.all())
        to_create, to_update, to_delete = _mode_changes(run, plan.modes)
        if to_create or to_update or to_delete:
            changes.append(FieldChange("modes", before, format_mode_specs(plan.modes)))
            writes.new_modes.extend(_new_mode(run, spec) for spec in to_create)
            for mode in to_update:
                mode.modified = now
            writes.changed_modes.extend(to_update)
            writes.removed_modes.extend(to_delete)
    return changes


def _bulk_delete_with_history(
    model: type[CourseMode], objs: list[CourseMode], *, user: AbstractBaseUser | None, now: datetime
) -> None:
    """Delete rows set-based and write their '-' history rows in bulk (simple_history has no bulk delete)."""
    history_model = model.history.model
    history_rows = [
        history_model(
            history_date=now,
            history_type="-",
            history_user=user,
            history_change_reason=None,
            **{f.attname: getattr(obj, f.attname) for f in history_model.tracked_fields},
        )
        for obj in objs
    ]
    history_model.objects.bulk_create(history_rows, batch_size=settings.BULK_BATCH_SIZE)
    for id_batch in _chunks([obj.pk for obj in objs]):
        # The history rows are written above; a plain DELETE avoids one history INSERT per row.
        model.objects.filter(pk__in=id_batch)._raw_delete(model.objects.db)


def _write_import(writes: _ImportWrites, *, user: AbstractBaseUser | None, now: datetime) -> None:
    batch = settings.BULK_BATCH_SIZE
    common = {"batch_size": batch, "default_user": user, "default_date": now}
    # bulk_create fills each object's foreign-key id from the related object saved just before it.
    with transaction.atomic():
        if writes.new_orgs:
            bulk_create_with_history(list(writes.new_orgs.values()), Organization, **common)
        if writes.reactivated_orgs:
            bulk_update_with_history(
                list(writes.reactivated_orgs.values()), Organization, ["active", "modified"], **common
            )
        if writes.new_courses:
            bulk_create_with_history(list(writes.new_courses.values()), CatalogCourse, **common)
        if writes.relabelled_courses:
            bulk_update_with_history(
                list(writes.relabelled_courses.values()), CatalogCourse, ["language", "modified"], **common
            )
        if writes.new_runs:
            bulk_create_with_history([run for run, _ in writes.new_runs], CourseRun, **common)
            writes.new_modes.extend(_new_mode(run, spec) for run, specs in writes.new_runs for spec in specs)
        if writes.changed_runs:
            fields = sorted(writes.changed_run_fields | {"modified"})
            bulk_update_with_history(writes.changed_runs, CourseRun, fields, **common)
        if writes.new_modes:
            bulk_create_with_history(writes.new_modes, CourseMode, **common)
        if writes.changed_modes:
            mode_fields = ["price_cents", "currency", "upgrade_deadline", "modified"]
            bulk_update_with_history(writes.changed_modes, CourseMode, mode_fields, **common)
        if writes.removed_modes:
            _bulk_delete_with_history(CourseMode, writes.removed_modes, user=user, now=now)


def import_catalog_rows(
    rows: Iterable[Mapping[str | None, Any]],
    *,
    dry_run: bool = False,
    changed_by: AbstractBaseUser | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> list[RowResult]:
    """Create or update course runs (and their organizations, catalog courses and modes) from CSV rows.

    Each row maps column names (see ``IMPORT_COLUMNS``) to cell text; ``course_key`` is required. An empty
    cell leaves a field as it is (or at its default on a new run); ``none`` clears an optional date.
    ``language`` applies to the run's catalog course; ``modes`` (``audit:0;verified:4900@2027-01-31T00:00Z``)
    sets the run's modes exactly (modes not listed are removed). New runs follow ``create_course_run``'s
    rules (organization auto-create, case-only duplicates refused, title defaulting to the catalog course's).

    Returns one result per row, in order: ``created``, ``updated`` (with the changes), ``unchanged``,
    ``error`` (with field messages) or ``duplicated`` (the same key, ignoring case, appears on several rows;
    none of them is applied). A bad row never stops the others. Reads and writes are set-based: the number
    of queries grows with the number of batches (``settings.BULK_BATCH_SIZE``), not rows. With ``dry_run``
    nothing is written and the results tell what would happen. ``on_progress(stage, rows)`` is called as
    rows are checked (stage ``check``) and written (stage ``write``).
    """
    progress = on_progress or (lambda stage, count: None)
    plans = [_parse_import_row(number, raw) for number, raw in enumerate(rows, start=1)]
    _mark_duplicates(plans)
    orgs: dict[str, Organization] = {}
    courses: dict[tuple[str, str], CatalogCourse] = {}
    new_course_codes: dict[tuple[str, str], str] = {}
    for batch in _chunks(plans):
        _load_existing(batch, orgs, courses)
        for plan in batch:
            if plan.ok and plan.run is None:
                _plan_new_row(plan, orgs, courses, new_course_codes)
            elif plan.ok:
                assert plan.run is not None
                merged = (plan.values.get(name, getattr(plan.run, name)) for name in _SCHEDULE_FIELDS)
                plan.errors.update(_schedule_errors(*merged))
        progress("check", len(batch))
    _refuse_language_conflicts(plans)

    now = timezone.now()
    writes = _ImportWrites()
    results = []
    for plan in plans:
        key_text = str(plan.key) if plan.key is not None else plan.raw_key
        if plan.duplicated:
            message = "This course key (ignoring case) appears on several rows; none of them was applied."
            results.append(RowResult(plan.row, key_text, ImportStatus.DUPLICATED, errors={"course_key": [message]}))
        elif plan.errors:
            results.append(RowResult(plan.row, key_text, ImportStatus.ERROR, errors=plan.errors))
        else:
            changes = tuple(_plan_writes(plan, writes, now))
            if plan.run is None:
                status = ImportStatus.CREATED
            else:
                status = ImportStatus.UPDATED if changes else ImportStatus.UNCHANGED
            results.append(RowResult(plan.row, key_text, status, changes=changes, warnings=tuple(plan.warnings)))
    if not dry_run:
        _write_import(writes, user=changed_by, now=now)
    progress("write", len(plans))
    return results
