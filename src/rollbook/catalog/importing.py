"""The catalog CSV import: check every row, then write all the changes set-based, with history.

Use it through ``catalog.api`` (``import_catalog_rows``, ``validate_import_columns``), which re-exports
it. Rows are checked in batches of ``settings.BULK_BATCH_SIZE`` with a few queries per batch; the writes
are bulk inserts and updates (with their history rows) in one transaction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from rollbook.catalog import rules
from rollbook.catalog.data import (
    CATALOG_COURSE_KEY_PREFIX,
    IMPORT_CLEAR_VALUE,
    IMPORT_COLUMNS,
    IMPORT_REQUIRED_COLUMNS,
    FieldChange,
    ImportStatus,
    ModeSpec,
    RowResult,
)
from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.core.bulk import batches, delete_with_history
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key

_TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0"})


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
    # A new CCX whose master run is not stored: some row of the same import must create it.
    master_in_import: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors and not self.duplicated

    @property
    def master_key(self) -> CourseKey | None:
        return self.key.to_course_locator() if self.key is not None and rules.is_ccx(self.key) else None

    @property
    def org_ref(self) -> str:
        assert self.key is not None
        return normalise_key(self.key.org)

    @property
    def course_ref(self) -> tuple[str, str]:
        assert self.key is not None
        return (self.org_ref, normalise_key(self.key.course))


def _parse_import_row(row_number: int, raw: Mapping[str | None, str | list[str] | None]) -> _PlannedRow:
    cells = {(name or "").strip().lower(): value for name, value in raw.items() if name is not None}
    key_text = (cells.get("course_key") or "").strip()
    plan = _PlannedRow(row=row_number, raw_key=key_text)
    if raw.get(None):
        rules.add_error(plan.errors, "row", "The row has more cells than the header has columns.")

    def cell(name: str) -> str:
        value = cells.get(name)
        return value.strip() if isinstance(value, str) else ""

    if not key_text:
        rules.add_error(plan.errors, "course_key", "Required.")
    else:
        try:
            plan.key = rules.parse_new_run_key(key_text)
        except InvalidInput as exc:
            plan.errors.update(exc.errors)
    if cell("title"):
        plan.values["title"] = rules.clean_text(cell("title"), "title", plan.errors, max_length=rules.MAX_NAME_LENGTH)
    if cell("language"):
        try:
            plan.language = rules.normalise_language(cell("language"))
        except InvalidInput as exc:
            plan.errors.update(exc.errors)
    for name in rules.SCHEDULE_FIELDS:
        text = cell(name)
        if text.lower() == IMPORT_CLEAR_VALUE:
            plan.values[name] = None
        elif text:
            try:
                plan.values[name] = rules.parse_iso_datetime(text)
            except ValueError:
                rules.add_error(
                    plan.errors, name, f"{text!r} is not an ISO 8601 date and time, e.g. 2027-01-31T00:00Z."
                )
    if cell("pacing"):
        plan.values["pacing"] = rules.clean_pacing(cell("pacing").lower(), plan.errors)
    if cell("marketable"):
        try:
            plan.values["marketable"] = _parse_import_bool(cell("marketable"))
        except ValueError:
            rules.add_error(plan.errors, "marketable", f"{cell('marketable')!r} is not true or false.")
    if cell("modes"):
        try:
            plan.modes = rules.parse_mode_specs(cell("modes"))
        except InvalidInput as exc:
            plan.errors.update(exc.errors)
    return plan


def _mark_duplicates(plans: list[_PlannedRow]) -> None:
    counts = Counter(normalise_key(str(plan.key)) for plan in plans if plan.key is not None)
    for plan in plans:
        if plan.key is not None and counts[normalise_key(str(plan.key))] > 1:
            plan.duplicated = True


def _load_existing(plans: Sequence[_PlannedRow], orgs: dict[str, Organization], courses: dict) -> None:
    """Attach existing runs, organizations and catalog courses to one batch of rows (a few queries)."""
    keyed = [plan for plan in plans if plan.key is not None and plan.ok]
    runs = {
        str(run.course_key): run
        for run in CourseRun.objects.select_related("catalog_course__org")
        .prefetch_related("modes")
        .filter(course_key__in=[plan.key for plan in keyed])
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
    wanted_keys = {normalise_key(str(key)) for plan in new for key in (plan.key, plan.master_key) if key is not None}
    stored_keys = dict(
        CourseRun.objects.filter(course_key_normalized__in=wanted_keys).values_list(
            "course_key_normalized", "course_key"
        )
    )
    for plan in new:
        twin = stored_keys.get(normalise_key(str(plan.key)))
        if twin is not None:
            rules.add_error(plan.errors, "course_key", f"{plan.key} differs only in case from the existing run {twin}.")
        if plan.master_key is not None:
            master = stored_keys.get(normalise_key(str(plan.master_key)))
            if master is None:
                plan.master_in_import = True
            elif master != plan.master_key:
                rules.add_error(plan.errors, "course_key", rules.master_spelled_differently(plan.key, master))
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
        found = CatalogCourse.objects.select_related("org").filter(
            org_id__in={orgs[org_ref].pk for org_ref, _ in wanted_courses},
            course_code_normalized__in={code for _, code in wanted_courses},
        )
        courses.update({(cc.org.short_name_normalized, cc.course_code_normalized): cc for cc in found})


def _plan_new_row(
    plan: _PlannedRow,
    orgs: dict[str, Organization],
    courses: dict[tuple[str, str], CatalogCourse],
    new_course_codes: dict[tuple[str, str], str],
) -> None:
    """Check a row that creates a run: organization, catalog course and schedule."""
    assert plan.key is not None
    try:
        rules.clean_short_name(plan.key.org, "course_key")
    except InvalidInput:
        rules.add_error(
            plan.errors, "course_key", f"The key's organization {plan.key.org!r} is not a valid short name."
        )
        return
    org = orgs.get(plan.org_ref)
    if (org is None or not org.active) and not settings.ORGANIZATIONS_AUTOCREATE:
        state = "inactive" if org else "unknown"
        rules.add_error(
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
        rules.add_error(
            plan.errors,
            "course_key",
            f'The catalog course spells its course code "{code}"; course codes in keys are case-sensitive.',
        )
        return
    plan.catalog_course = cc
    plan.errors.update(rules.schedule_errors(*(plan.values.get(name) for name in rules.SCHEDULE_FIELDS)))


def _refuse_language_conflicts(plans: list[_PlannedRow]) -> None:
    languages: dict[tuple[str, str], set[str]] = defaultdict(set)
    for plan in plans:
        if plan.ok and plan.language is not None:
            languages[plan.course_ref].add(plan.language)
    for plan in plans:
        if plan.ok and plan.language is not None and len(languages[plan.course_ref]) > 1:
            others = ", ".join(sorted(languages[plan.course_ref]))
            rules.add_error(
                plan.errors, "language", f"Rows for this catalog course give different languages: {others}."
            )


def _refuse_ccx_without_master(plans: list[_PlannedRow]) -> None:
    created = {str(plan.key) for plan in plans if plan.ok and plan.run is None and plan.master_key is None}
    for plan in plans:
        if plan.ok and plan.master_in_import and str(plan.master_key) not in created:
            rules.add_error(
                plan.errors,
                "course_key",
                f"{plan.key} is a CCX of {plan.master_key}, which is not a course run and which no valid row of "
                "this import creates (with that exact spelling).",
            )


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
                course_code_normalized=normalise_key(plan.key.course),
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
            course_key_normalized=normalise_key(str(plan.key)),
            run_code=plan.key.run,
            title=plan.values.get("title") or cc.title,
            **{
                name: plan.values[name]
                for name in (*rules.SCHEDULE_FIELDS, "pacing", "marketable")
                if name in plan.values
            },
        )
        changes.extend(
            FieldChange(name, "", rules.display(getattr(run, name)))
            for name in ("title", *rules.SCHEDULE_FIELDS, "pacing", "marketable")
            if getattr(run, name) is not None
        )
        if plan.modes:
            changes.append(FieldChange("modes", "", rules.format_mode_specs(plan.modes)))
        writes.new_runs.append((run, plan.modes or []))
        return changes
    run = plan.run
    run_changes = {name: value for name, value in plan.values.items() if getattr(run, name) != value}
    if run_changes:
        changes.extend(
            FieldChange(name, rules.display(getattr(run, name)), rules.display(v)) for name, v in run_changes.items()
        )
        for attribute, value in run_changes.items():
            setattr(run, attribute, value)
        run.modified = now
        writes.changed_runs.append(run)
        writes.changed_run_fields.update(run_changes)
    if plan.modes is not None:
        before = rules.format_mode_specs(run.modes.all())
        to_create, to_update, to_delete = _mode_changes(run, plan.modes)
        if to_create or to_update or to_delete:
            changes.append(FieldChange("modes", before, rules.format_mode_specs(plan.modes)))
            writes.new_modes.extend(rules.new_mode(run, spec) for spec in to_create)
            for mode in to_update:
                mode.modified = now
            writes.changed_modes.extend(to_update)
            writes.removed_modes.extend(to_delete)
    return changes


def _delete_modes_with_history(modes: list[CourseMode], *, user: AbstractBaseUser | None, now: datetime) -> None:
    """Delete ``modes`` set-based, each leaving its '-' history row (nothing depends on a mode)."""
    delete_with_history(modes, history_user=user, history_date=now)


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
            writes.new_modes.extend(rules.new_mode(run, spec) for run, specs in writes.new_runs for spec in specs)
        if writes.changed_runs:
            fields = sorted(writes.changed_run_fields | {"modified"})
            bulk_update_with_history(writes.changed_runs, CourseRun, fields, **common)
        if writes.new_modes:
            bulk_create_with_history(writes.new_modes, CourseMode, **common)
        if writes.changed_modes:
            mode_fields = ["price_cents", "currency", "upgrade_deadline", "modified"]
            bulk_update_with_history(writes.changed_modes, CourseMode, mode_fields, **common)
        if writes.removed_modes:
            _delete_modes_with_history(writes.removed_modes, user=user, now=now)


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
    rules (organization auto-create, case-only duplicates refused, title defaulting to the catalog course's);
    a new CCX run needs its master run, stored already or created by another row of the same call.

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
    for batch in batches(plans):
        _load_existing(batch, orgs, courses)
        for plan in batch:
            if plan.ok and plan.run is None:
                _plan_new_row(plan, orgs, courses, new_course_codes)
            elif plan.ok:
                assert plan.run is not None
                merged = (plan.values.get(name, getattr(plan.run, name)) for name in rules.SCHEDULE_FIELDS)
                plan.errors.update(rules.schedule_errors(*merged))
        progress("check", len(batch))
    _refuse_language_conflicts(plans)
    _refuse_ccx_without_master(plans)

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
