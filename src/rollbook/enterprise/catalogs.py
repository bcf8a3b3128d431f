"""Enterprise catalogs: which catalog courses a customer may use, and fast containment checks.

Content keys accepted everywhere in the enterprise app: a course run key (``course-v1:ORG+CODE+RUN``,
``ccx-v1:…``), a catalog course key (``catalog-course:ORG:CODE``) or the upstream course form
(``ORG+CODE``). A run is contained when its catalog course is. Owned by: licenses helper.

Matching follows the catalog's case rules: run keys are compared exactly (a key that differs from a
stored one only by case names nothing, and the message says which key was meant); organization short
names ignore case; course codes must be spelled as stored.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q, QuerySet
from opaque_keys import InvalidKeyError
from opaque_keys.edx.locator import CourseLocator

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import CATALOG_COURSE_KEY_PREFIX, ORGANIZATION_SHORT_NAME_PATTERN
from rollbook.core.bulk import batches
from rollbook.core.errors import Conflict, InvalidInput
from rollbook.core.lookup import one_by_uuid
from rollbook.core.normalise import normalise_key, parse_uuid
from rollbook.enterprise import customers
from rollbook.enterprise.customers import CustomerRef
from rollbook.enterprise.models import (
    EnterpriseCatalog,
    EnterpriseCatalogCourse,
    EnterpriseCatalogOrganization,
    EnterpriseCustomer,
    SubscriptionPlan,
)

CatalogRef = EnterpriseCatalog | uuid.UUID | str

TITLE_MAX_LENGTH = 255
_ACCEPTED_FORMS = "a course run key (course-v1:ORG+CODE+RUN), catalog-course:ORG:CODE or ORG+CODE"


@dataclass(frozen=True, slots=True)
class ResolvedContent:
    """A content key resolved: its catalog course (id and key string) and, for a run key, the run."""

    content_key: str  # canonical: the run key as stored, or catalog-course:ORG:CODE
    catalog_course_id: int
    course_key: str  # catalog-course:ORG:CODE
    course_run_id: int | None = None
    course_run_key: str | None = None


# --- resolving content keys ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ParsedKey:
    """A well-formed content key: a run key (``run_key`` set) or a course (``org`` and ``code`` set)."""

    run_key: str | None = None
    org: str | None = None
    code: str | None = None


def _malformed(key: object) -> str:
    return f"{key!r} is malformed: expected {_ACCEPTED_FORMS}."


def _course_parts_ok(org: str, code: str) -> bool:
    if not org or not code or not re.fullmatch(ORGANIZATION_SHORT_NAME_PATTERN, org):
        return False
    try:
        CourseLocator(org=org, course=code, run="run")
    except InvalidKeyError:
        return False
    return True


def _parse(key: object) -> _ParsedKey | None:
    """The form of one content key, or None when it is malformed. Reads nothing from the database."""
    if not isinstance(key, str) or not key.strip():
        return None
    text = key.strip()
    if text.startswith(f"{CATALOG_COURSE_KEY_PREFIX}:"):
        org, _, code = text.removeprefix(f"{CATALOG_COURSE_KEY_PREFIX}:").partition(":")
        return _ParsedKey(org=org, code=code) if _course_parts_ok(org, code) else None
    if ":" not in text and "/" not in text:
        org, plus, code = text.partition("+")
        if plus and "+" not in code and _course_parts_ok(org, code):
            return _ParsedKey(org=org, code=code)
        return None
    try:
        return _ParsedKey(run_key=str(catalog_api.parse_course_key(text)))
    except InvalidInput:
        return None


def _containment_annotations(catalog_filter: Q | None, course_ref: str, org_ref: str) -> dict[str, Any]:
    """``in_catalog``: the catalog course at ``course_ref`` is named by, or its organization at ``org_ref`` is in,
    one of the catalogs ``catalog_filter`` selects (one EXISTS each, evaluated in the resolving query)."""
    if catalog_filter is None:
        return {}
    return {
        "named_in_catalog": Exists(
            EnterpriseCatalogCourse.objects.filter(catalog_filter, catalog_course_id=OuterRef(course_ref))
        ),
        "org_in_catalog": Exists(
            EnterpriseCatalogOrganization.objects.filter(catalog_filter, organization_id=OuterRef(org_ref))
        ),
    }


def _resolve(
    keys: Iterable[str], catalog_filter: Q | None = None
) -> tuple[dict[str, ResolvedContent], dict[str, str], set[str]]:
    """Resolve keys in bulk; with ``catalog_filter`` (a condition on EnterpriseCatalog rows, written from
    the entry tables: ``Q(catalog=…)``), also tell which resolved keys those catalogs contain.

    Returns ``(resolved, errors, contained)`` keyed by the keys as given. At most two queries per batch of
    distinct keys: one for the runs, one for the catalog courses (each only when the batch has such keys).
    """
    resolved: dict[str, ResolvedContent] = {}
    errors: dict[str, str] = {}
    contained: set[str] = set()
    distinct = list(dict.fromkeys(keys))
    for batch in batches(distinct):
        parsed: dict[Any, _ParsedKey] = {}
        for key in batch:
            form = _parse(key)
            if form is None:
                errors[key] = _malformed(key)
            else:
                parsed[key] = form
        run_keys = {form.run_key for form in parsed.values() if form.run_key is not None}
        course_parts = [(form.org, form.code) for form in parsed.values() if form.run_key is None]
        runs_by_normalized: dict[str, list[Any]] = defaultdict(list)
        if run_keys:
            runs = (
                catalog_api.course_runs_queryset()
                .prefetch_related(None)
                .filter(course_key_normalized__in=sorted({normalise_key(key) for key in run_keys}))
                .annotate(**_containment_annotations(catalog_filter, "catalog_course_id", "catalog_course__org_id"))
            )
            for run in runs:
                runs_by_normalized[run.course_key_normalized].append(run)
        courses_by_org_code: dict[tuple[str, str], list[Any]] = defaultdict(list)
        if course_parts:
            courses = (
                catalog_api.catalog_courses_queryset()
                .filter(
                    org__short_name_normalized__in=sorted({normalise_key(org) for org, _code in course_parts}),
                    course_code_normalized__in=sorted({normalise_key(code) for _org, code in course_parts}),
                )
                .annotate(**_containment_annotations(catalog_filter, "pk", "org_id"))
            )
            for course in courses:
                courses_by_org_code[(course.org.short_name_normalized, course.course_code_normalized)].append(course)
        for key, form in parsed.items():
            if form.run_key is not None:
                candidates = runs_by_normalized.get(normalise_key(form.run_key), [])
                run = next((run for run in candidates if str(run.course_key) == form.run_key), None)
                if run is None:
                    errors[key] = _unknown_run(form.run_key, candidates)
                    continue
                course = run.catalog_course
                resolved[key] = ResolvedContent(
                    content_key=str(run.course_key),
                    catalog_course_id=course.pk,
                    course_key=course.key_str,
                    course_run_id=run.pk,
                    course_run_key=str(run.course_key),
                )
                found = run
            else:
                candidates = courses_by_org_code.get((normalise_key(form.org), normalise_key(form.code)), [])
                course = next((course for course in candidates if course.course_code == form.code), None)
                if course is None:
                    errors[key] = _unknown_course(form.org, form.code, candidates)
                    continue
                resolved[key] = ResolvedContent(
                    content_key=course.key_str, catalog_course_id=course.pk, course_key=course.key_str
                )
                found = course
            if catalog_filter is not None and (found.named_in_catalog or found.org_in_catalog):
                contained.add(key)
    return resolved, errors, contained


def _unknown_run(run_key: str, case_twins: Sequence[Any]) -> str:
    if case_twins:
        return f"No course run {run_key}; course keys are case-sensitive: did you mean {case_twins[0].course_key}?"
    return f"No course run {run_key}."


def _unknown_course(org: str, code: str, case_twins: Sequence[Any]) -> str:
    wanted = f"{CATALOG_COURSE_KEY_PREFIX}:{org}:{code}"
    if case_twins:
        return f"No catalog course {wanted}; course codes are case-sensitive: did you mean {case_twins[0].key_str}?"
    return f"No catalog course {wanted}."


def resolve_content_keys(keys: Iterable[str]) -> tuple[dict[str, ResolvedContent], dict[str, str]]:
    """Resolve content keys in bulk: ``({key as given: ResolvedContent}, {key as given: error message})``.

    Errors say whether the key is malformed or names nothing. A constant number of queries per batch.
    """
    resolved, errors, _contained = _resolve(keys)
    return resolved, errors


def resolve_content_key(key: str, field: str = "content_key") -> ResolvedContent:
    """Resolve one content key; raises InvalidInput (``field``) when malformed or unknown."""
    resolved, errors = resolve_content_keys([key])
    if key in errors or key not in resolved:
        raise InvalidInput({field: [errors.get(key, _malformed(key))]})
    return resolved[key]


# --- catalogs ------------------------------------------------------------------------------------


def catalogs_queryset(customer: CustomerRef | None = None) -> QuerySet[EnterpriseCatalog]:
    """Enterprise catalogs, optionally of one customer."""
    queryset = EnterpriseCatalog.objects.select_related("customer")
    if customer is not None:
        queryset = queryset.filter(customer=customers.get_customer(customer))
    return queryset


def get_catalog(catalog: CatalogRef) -> EnterpriseCatalog:
    """The catalog with this uuid; raises NotFound (a malformed uuid too)."""
    if isinstance(catalog, EnterpriseCatalog):
        return catalog
    return one_by_uuid(catalogs_queryset(), catalog, "enterprise catalog")


def _clean_title(title: object, errors: dict[str, list[str]]) -> str | None:
    text = title.strip() if isinstance(title, str) else ""
    if not text:
        errors.setdefault("title", []).append("A title is required.")
        return None
    if len(text) > TITLE_MAX_LENGTH:
        errors.setdefault("title", []).append(f"A title has at most {TITLE_MAX_LENGTH} characters.")
        return None
    return text


def _title_taken(customer: EnterpriseCustomer, title: str, exclude_pk: int | None = None) -> bool:
    return EnterpriseCatalog.objects.filter(customer=customer, title=title).exclude(pk=exclude_pk).exists()


def _as_list(values: Iterable[str], field: str, errors: dict[str, list[str]]) -> list[str]:
    if isinstance(values, str):
        errors.setdefault(field, []).append("Give a list, not a single string.")
        return []
    return list(values)


def _course_ids(keys: list[str], field: str, errors: dict[str, list[str]]) -> list[int]:
    """The catalog course ids the keys name, in order and de-duplicated; bad keys add to ``errors``."""
    resolved, key_errors = resolve_content_keys(keys)
    for key in keys:
        if key in key_errors:
            errors.setdefault(field, []).append(key_errors.pop(key))
    return list(dict.fromkeys(resolved[key].catalog_course_id for key in keys if key in resolved))


def _organization_ids(short_names: list[str], field: str, errors: dict[str, list[str]]) -> list[int]:
    """The ids of the organizations with these short names (any case); unknown ones add to ``errors``."""
    ids: list[int] = []
    for short_name in short_names:
        try:
            ids.append(catalog_api.get_organization(str(short_name)).pk)
        except ObjectDoesNotExist:
            errors.setdefault(field, []).append(f"No organization {short_name!r}.")
    return list(dict.fromkeys(ids))


def create_catalog(
    customer: CustomerRef,
    *,
    title: str,
    content_keys: Iterable[str] = (),
    organization_short_names: Iterable[str] = (),
    catalog_uuid: uuid.UUID | None = None,
) -> EnterpriseCatalog:
    """Create a catalog of explicit courses (any accepted content key; runs name their course) and whole
    organizations. All or nothing: InvalidInput lists every bad key / unknown organization / taken title."""
    owner = customers.get_customer(customer)
    errors: dict[str, list[str]] = {}
    clean_title = _clean_title(title, errors)
    if clean_title is not None and _title_taken(owner, clean_title):
        errors["title"] = [f"{owner.name} has a catalog titled {clean_title!r} already."]
    course_ids = _course_ids(_as_list(content_keys, "content_keys", errors), "content_keys", errors)
    org_ids = _organization_ids(_as_list(organization_short_names, "organizations", errors), "organizations", errors)
    new_uuid = None
    if catalog_uuid is not None:
        new_uuid = parse_uuid(catalog_uuid)
        if new_uuid is None:
            errors["uuid"] = [f"{catalog_uuid!r} is not a UUID."]
        elif EnterpriseCatalog.objects.filter(uuid=new_uuid).exists():
            errors["uuid"] = [f"A catalog with the uuid {new_uuid} exists already."]
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            catalog = EnterpriseCatalog.objects.create(
                customer=owner, title=clean_title, **({"uuid": new_uuid} if new_uuid else {})
            )
            _add_entries(catalog, course_ids, org_ids)
    except IntegrityError:  # the title or uuid was taken concurrently
        raise InvalidInput({"title": [f"{owner.name} has a catalog titled {clean_title!r} already."]}) from None
    return catalog


def _add_entries(catalog: EnterpriseCatalog, course_ids: Iterable[int], org_ids: Iterable[int]) -> None:
    EnterpriseCatalogCourse.objects.bulk_create(
        [EnterpriseCatalogCourse(catalog=catalog, catalog_course_id=course_id) for course_id in course_ids],
        ignore_conflicts=True,
    )
    EnterpriseCatalogOrganization.objects.bulk_create(
        [EnterpriseCatalogOrganization(catalog=catalog, organization_id=org_id) for org_id in org_ids],
        ignore_conflicts=True,
    )


def update_catalog(
    catalog: CatalogRef,
    *,
    title: str | None = None,
    add_content_keys: Iterable[str] = (),
    remove_content_keys: Iterable[str] = (),
    add_organizations: Iterable[str] = (),
    remove_organizations: Iterable[str] = (),
) -> EnterpriseCatalog:
    """Change a catalog's title and entries; all or nothing, InvalidInput on bad keys.

    Adding an entry the catalog has, or removing one it lacks, changes nothing; naming the same course or
    organization to be both added and removed is refused.
    """
    target = get_catalog(catalog)
    errors: dict[str, list[str]] = {}
    new_title = None
    if title is not None:
        new_title = _clean_title(title, errors)
        if new_title is not None and _title_taken(target.customer, new_title, exclude_pk=target.pk):
            errors["title"] = [f"{target.customer.name} has a catalog titled {new_title!r} already."]
    add_courses = _course_ids(_as_list(add_content_keys, "add_content_keys", errors), "add_content_keys", errors)
    remove_courses = _course_ids(
        _as_list(remove_content_keys, "remove_content_keys", errors), "remove_content_keys", errors
    )
    add_orgs = _organization_ids(_as_list(add_organizations, "add_organizations", errors), "add_organizations", errors)
    remove_orgs = _organization_ids(
        _as_list(remove_organizations, "remove_organizations", errors), "remove_organizations", errors
    )
    if set(add_courses) & set(remove_courses):
        errors.setdefault("remove_content_keys", []).append("A course cannot be both added and removed.")
    if set(add_orgs) & set(remove_orgs):
        errors.setdefault("remove_organizations", []).append("An organization cannot be both added and removed.")
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            if remove_courses:
                EnterpriseCatalogCourse.objects.filter(catalog=target, catalog_course_id__in=remove_courses).delete()
            if remove_orgs:
                EnterpriseCatalogOrganization.objects.filter(catalog=target, organization_id__in=remove_orgs).delete()
            _add_entries(target, add_courses, add_orgs)
            if new_title is not None:
                target.title = new_title
            # Saved even when only entries changed: ``modified`` and the history tell that the catalog changed.
            target.save()
    except IntegrityError:  # the title was taken concurrently
        raise InvalidInput({"title": [f"{target.customer.name} has a catalog titled {new_title!r} already."]}) from None
    return target


def delete_catalog(catalog: CatalogRef) -> None:
    """Delete a catalog; raises Conflict when a subscription plan uses it."""
    target = get_catalog(catalog)
    plans = SubscriptionPlan.objects.filter(catalog=target).count()
    if plans:
        raise Conflict(
            f"The catalog {target.title!r} is used by {plans} subscription plan(s); delete or move them first."
        )
    try:
        with transaction.atomic():
            target.delete()
    except ProtectedError:  # a plan was created meanwhile
        raise Conflict(f"The catalog {target.title!r} is used by a subscription plan.") from None


# --- containment ---------------------------------------------------------------------------------


def _catalog_id(catalog: CatalogRef) -> int:
    return get_catalog(catalog).pk


def contained_keys(catalog: CatalogRef, keys: Iterable[str]) -> set[str]:
    """The given keys (as given) that the catalog contains; unknown or malformed keys are not contained.
    A constant number of queries whatever the number of keys (per batch)."""
    _resolved, _errors, contained = _resolve(keys, Q(catalog_id=_catalog_id(catalog)))
    return contained


def contains(catalog: CatalogRef, keys: Iterable[str]) -> bool:
    """True when the catalog contains every one of the keys (and at least one key was given)."""
    wanted = list(keys)
    return bool(wanted) and len(contained_keys(catalog, wanted)) == len(set(wanted))


def customer_contained_keys(customer: CustomerRef, keys: Iterable[str]) -> set[str]:
    """The given keys (as given) that at least one of the customer's catalogs contains. Same cost as
    ``contained_keys``."""
    _resolved, _errors, contained = _resolve(keys, Q(catalog__customer_id=customers.get_customer(customer).pk))
    return contained


def customer_contains(customer: CustomerRef, keys: Iterable[str]) -> bool:
    """True when the customer's catalogs together contain every key."""
    wanted = list(keys)
    return bool(wanted) and len(customer_contained_keys(customer, wanted)) == len(set(wanted))


def catalogs_containing(customer: CustomerRef, catalog_course_ids: Iterable[int]) -> dict[int, list[uuid.UUID]]:
    """``{catalog_course_id: [uuids of the customer's catalogs containing it]}`` (empty list when none).
    Set-based: two queries per batch of courses. The uuids come in the order of the catalogs' titles."""
    owner_id = customers.get_customer(customer).pk
    ids = list(dict.fromkeys(int(course_id) for course_id in catalog_course_ids))
    found: dict[int, dict[uuid.UUID, tuple[str, int]]] = {course_id: {} for course_id in ids}
    for batch in batches(ids):
        named = EnterpriseCatalogCourse.objects.filter(
            catalog__customer_id=owner_id, catalog_course_id__in=batch
        ).values_list("catalog_course_id", "catalog__uuid", "catalog__title", "catalog_id")
        # The catalog course -> organization step goes through the foreign keys of the catalog's tables.
        by_org = EnterpriseCatalogOrganization.objects.filter(
            catalog__customer_id=owner_id, organization__catalog_courses__in=batch
        ).values_list("organization__catalog_courses", "catalog__uuid", "catalog__title", "catalog_id")
        for rows in (named, by_org):
            for course_id, catalog_uuid, title, catalog_id in rows:
                found[course_id][catalog_uuid] = (title, catalog_id)
    return {
        course_id: [catalog_uuid for catalog_uuid, _order in sorted(catalogs.items(), key=lambda item: item[1])]
        for course_id, catalogs in found.items()
    }
