"""Public API of the catalog app: organizations, catalog courses, course runs and modes.

Other apps, the REST layer, the admin, the CLI and tasks use only this module (and ``catalog.data``);
it re-exports the public functions of ``catalog.rules`` (key, language and mode parsing),
``catalog.offers`` (enrollability, prices, advertised runs) and ``catalog.importing`` (the CSV import).
None of them checks permissions: callers do. Bad input raises ``InvalidInput`` (a ValueError)
carrying field errors; a missing object raises the model's ``DoesNotExist``.

Case rules: organization short names match case-insensitively; course codes are unique per
organization ignoring case but must be spelled as stored; course keys are case-sensitive, and a key
that differs from an existing one only by case is refused. "Ignoring case" means equal after
``normalise_key`` (trim and casefold), which stored normalised columns enforce on every database.

CCX runs (``ccx-v1:ORG+CODE+RUN+ccx@N``) are custom copies of an existing run, their master
(``course-v1:ORG+CODE+RUN``): they belong to its catalog course and share its run code.
"""

from __future__ import annotations

import contextlib
import logging
import uuid as uuid_module
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ccx_keys.locator import CCXLocator
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet, RestrictedError, Value
from django.db.models.functions import Left
from django.db.models.lookups import Exact
from django.utils import timezone
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey
from opaque_keys.edx.locator import CourseLocator
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from rollbook.catalog import rules
from rollbook.catalog.data import (
    BEST_MODE_PRIORITY,
    CATALOG_COURSE_KEY_PREFIX,
    DEFAULT_MODE,
    UNSET,
    ModeSpec,
    Pacing,
    Unset,
)
from rollbook.catalog.importing import import_catalog_rows, validate_import_columns
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.catalog.offers import (
    advertised_run,
    advertised_runs,
    choose_advertised_run,
    enroll_by_date,
    enrollable_q,
    is_enrollable,
    is_upgradeable,
    paid_mode,
    run_price,
)
from rollbook.catalog.rules import (
    format_mode_specs,
    language_short,
    master_course_key,
    normalise_language,
    parse_course_key,
    parse_mode_specs,
)
from rollbook.core.bulk import batches
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
    "ccx_of_q",
    "choose_advertised_run",
    "choose_best_mode",
    "course_runs_of_organizations",
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
    "master_course_key",
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


class UnknownOrganization(InvalidInput):
    """The organization does not exist or is inactive, and auto-creating organizations is off."""


# --- organizations -------------------------------------------------------------------------------


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
    name = rules.clean_short_name(short_name, "org")
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
        short = rules.clean_short_name(short_name)
    except InvalidInput as exc:
        errors.update(exc.errors)
        short = None
    display_name = rules.clean_text(short if name is None else name, "name", errors, max_length=rules.MAX_NAME_LENGTH)
    if not isinstance(description, str):
        rules.add_error(errors, "description", "Must be text.")
    rules.clean_bool(active, "active", errors)
    rules.raise_if(errors)
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
            new_short = rules.clean_short_name(short_name)
        except InvalidInput as exc:
            errors.update(exc.errors)
        else:
            if normalise_key(new_short) != org.short_name_normalized:
                if CourseRun.objects.filter(catalog_course__org=org).exists():
                    rules.add_error(
                        errors,
                        "short_name",
                        f'"{org.short_name}" has course runs whose keys name it; only its capitalization may change.',
                    )
                elif Organization.objects.filter(short_name_normalized=normalise_key(new_short)).exists():
                    rules.add_error(errors, "short_name", f'An organization "{new_short}" exists already.')
            if new_short != org.short_name:
                changes["short_name"] = new_short
    if name is not None:
        new_name = rules.clean_text(name, "name", errors, max_length=rules.MAX_NAME_LENGTH)
        if new_name is not None and new_name != org.name:
            changes["name"] = new_name
    if description is not None:
        if not isinstance(description, str):
            rules.add_error(errors, "description", "Must be text.")
        elif description != org.description:
            changes["description"] = description
    if active is not None and rules.clean_bool(active, "active", errors) is not None and active != org.active:
        changes["active"] = active
    rules.raise_if(errors)
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
        for name_batch in batches(sorted(names))
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
    code = rules.clean_text(value, "course_code", errors, max_length=rules.MAX_NAME_LENGTH)
    if code is None:
        return None
    try:
        CourseLocator(org=org_short_name, course=code, run="run")
    except InvalidKeyError:
        rules.add_error(
            errors, "course_code", f"{code!r} cannot be part of a course key; use letters, digits, '.', '-'."
        )
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
        lang = rules.resolve_language(language, language_short)
    except InvalidInput as exc:
        errors.update(exc.errors)
        lang = None
    clean_title = None if title is None else rules.clean_text(title, "title", errors, max_length=rules.MAX_NAME_LENGTH)
    if not isinstance(description, str):
        rules.add_error(errors, "description", "Must be text.")
    try:
        org_name = rules.clean_short_name(org_code, "org")
    except InvalidInput as exc:
        errors.update(exc.errors)
        org_name = "org"
    code = _clean_course_code(course_code, org_name, errors)
    rules.raise_if(errors)
    assert code is not None
    with transaction.atomic():
        org = ensure_organization(org_name)
        existing = CatalogCourse.objects.filter(org=org, course_code_normalized=normalise_key(code)).first()
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
        new_title = rules.clean_text(title, "title", errors, max_length=rules.MAX_NAME_LENGTH)
        if new_title is not None and new_title != cc.title:
            changes["title"] = new_title
    try:
        lang = rules.resolve_language(language, language_short)
    except InvalidInput as exc:
        errors.update(exc.errors)
    else:
        if lang is not None and lang != cc.language:
            changes["language"] = lang
    if description is not None:
        if not isinstance(description, str):
            rules.add_error(errors, "description", "Must be text.")
        elif description != cc.description:
            changes["description"] = description
    rules.raise_if(errors)
    if changes:
        for attribute, value in changes.items():
            setattr(cc, attribute, value)
        cc.save(update_fields=[*changes, "modified"])
    return cc


def delete_catalog_course(catalog_course: CatalogCourse | int) -> None:
    """Delete a catalog course (by instance or pk). Raises ProtectedError while it has runs."""
    _catalog_course(catalog_course).delete()


# --- course runs ---------------------------------------------------------------------------------


def ccx_of_q(master_key: str | CourseKey) -> Q:
    """A filter for the CCX runs of the run with exactly the key ``master_key`` (none when it is itself a
    CCX key). Raises InvalidInput (field ``master_course_key``) for a malformed key."""
    key = parse_course_key(master_key, "master_course_key")
    if not isinstance(key, CourseLocator) or rules.is_ccx(key) or key.deprecated:
        return Q(pk__in=[])
    prefix = str(CCXLocator.from_course_locator(key.for_branch(None).version_agnostic(), "0")).removesuffix("0")
    # The normalised prefix narrows the rows; the exact comparison keeps the match case-sensitive on SQLite too,
    # whose LIKE (behind __startswith) ignores ASCII case.
    return Q(course_key_normalized__startswith=normalise_key(prefix)) & Q(
        Exact(Left("course_key", len(prefix)), Value(prefix))
    )


def course_runs_queryset() -> QuerySet[CourseRun]:
    """All runs with their catalog course, organization and modes loaded, for listing."""
    return CourseRun.objects.select_related("catalog_course__org").prefetch_related("modes")


def course_runs_of_organizations(short_names: Iterable[str]) -> QuerySet[CourseRun]:
    """The runs offered by these organizations (short names in any case), for use as a subquery filter."""
    return CourseRun.objects.filter(
        catalog_course__org__short_name_normalized__in=[normalise_key(name) for name in short_names]
    )


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
        return rules.parse_new_run_key(key)
    key = rules.parse_new_run_key(course_key)
    errors: dict[str, list[str]] = {}
    if run_code is not None and run_code != key.run:
        rules.add_error(errors, "run_code", f"The run code must be the key's run, {key.run!r}.")
    if catalog_course is not None:
        if catalog_course.course_code != key.course:
            rules.add_error(
                errors, "course_key", f"The key's course {key.course!r} is not {catalog_course}'s course code."
            )
        elif normalise_key(catalog_course.org.short_name) != normalise_key(key.org):
            rules.add_error(errors, "course_key", f"The key's organization {key.org!r} is not {catalog_course}'s.")
        elif catalog_course.org.short_name != key.org:
            log.warning(
                'Course key "%s" names organization "%s", which is stored as "%s".',
                key,
                key.org,
                catalog_course.org.short_name,
            )
    rules.raise_if(errors)
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
    same_code = CatalogCourse.objects.select_related("org").filter(
        org=org, course_code_normalized=normalise_key(key.course)
    )
    found = same_code.first()
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
            found = same_code.first()
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


def _lock_master_run(key: CCXLocator) -> CourseRun:
    """The run a new CCX customises, locked until the end of the transaction so it cannot be deleted meanwhile.

    Raises InvalidInput when no run has the master key, or one spells it differently: all CCXs of a course
    share its organization, course code and run code exactly.
    """
    wanted = key.to_course_locator()
    master = CourseRun.objects.select_for_update().filter(course_key_normalized=normalise_key(str(wanted))).first()
    if master is None:
        raise InvalidInput({"course_key": [f"{key} is a CCX of {wanted}, which is not a course run; create it first."]})
    if master.course_key != wanted:
        raise InvalidInput({"course_key": [rules.master_spelled_differently(key, master.course_key)]})
    return master


def _refuse_case_twins(key: CourseKey, catalog_course: CatalogCourse) -> None:
    clash = Q(course_key_normalized=normalise_key(str(key)))
    if not rules.is_ccx(key):
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
        cleaned["title"] = rules.clean_text(title, "title", errors, max_length=rules.MAX_NAME_LENGTH)
    for name, value in schedule.items():
        if value is not UNSET:
            cleaned[name] = rules.clean_datetime(value, name, errors)
    if pacing is not None:
        cleaned["pacing"] = rules.clean_pacing(pacing, errors)
    if marketable is not None:
        cleaned["marketable"] = rules.clean_bool(marketable, "marketable", errors)
    return cleaned


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

    A CCX key (``ccx-v1:ORG+CODE+RUN+ccx@N``) creates a CCX run of the existing run ``course-v1:ORG+CODE+RUN``
    (its master, which must exist with exactly that spelling, else InvalidInput): it belongs to the
    master's catalog course and has the master's run code.
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
        lang = rules.resolve_language(language, language_short)
    except InvalidInput as exc:
        errors.update(exc.errors)
        lang = None
    mode_specs = rules.clean_mode_specs(modes, errors)
    if not errors:
        errors.update(rules.schedule_errors(*(fields[name] for name in rules.SCHEDULE_FIELDS)))
    rules.raise_if(errors)
    with transaction.atomic():
        if rules.is_ccx(key):
            _lock_master_run(key)
        # A CCX shares its master's organization and course code, so this is its master's catalog course.
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
            bulk_create_with_history([rules.new_mode(run, spec) for spec in mode_specs], CourseMode)
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
        errors.update(rules.schedule_errors(*(cleaned.get(name, getattr(run, name)) for name in rules.SCHEDULE_FIELDS)))
    rules.raise_if(errors)
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
        for key_batch in batches(keys)
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
    runs are left. Raises CourseRun.DoesNotExist for an unknown key, and Conflict while the run is
    referenced (e.g. by enrollments) or is the master of CCX runs (delete those first)."""
    run = get_course_run(course_key)
    try:
        with transaction.atomic():
            # Locked first, so that a CCX being created for this run (which locks it too) is seen below.
            CourseRun.objects.select_for_update().filter(pk=run.pk).exists()
            ccx_count = CourseRun.objects.filter(ccx_of_q(run.course_key)).count()
            if ccx_count:
                raise Conflict(
                    f"Course run {run.course_key} is the master of {ccx_count} CCX run(s); delete them first."
                )
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
    spec = rules.clean_mode_spec(
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
    CourseMode.objects.get(course_run=run, slug=rules.clean_slug(slug)).delete()
