"""Enterprise course enrollments: enrolling learners with a license (``enroll_learners_in_courses``),
pending enrollments for emails without an account, keeping ``unenrolled`` in step with the course
enrollment, and the learner's ``saved_for_later`` mark. Rows are never deleted. Owned by: defaults helper.

``enroll_learners_in_courses`` follows edx-enterprise's endpoint of that name: each item names a learner
(a user id, or an email ignoring case), a run and exactly one subsidy. Only subscription licenses pay for
now (learner credit comes with budgets). A license may pay when it belongs to a current, active plan of
this customer whose catalog contains the run's course, and is activated by the learner (for an email with
no account: assigned to that email). The learner is enrolled in the run's best mode (an audit enrollment is
upgraded, an active paid one kept), the enterprise enrollment records the source and the license, and items
flagged ``is_default_auto_enrollment`` are linked to the customer's default-enrollment intention for that
run. Items stand alone: one item's failure is reported, never raised, and undoes nothing else.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.bulk import batches, delete_rows, insert_with_history, update_with_history
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.normalise import normalise_key, parse_uuid
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollmentState, EnrollRequest, EnrollStatus
from rollbook.enterprise import catalogs, customers
from rollbook.enterprise.customers import CustomerRef
from rollbook.enterprise.data import (
    AUDIT_MODES,
    EnrollItem,
    EnrollItemResult,
    EnrollmentSource,
    EnrollOutcome,
    LicenseStatus,
)
from rollbook.enterprise.models import (
    EMAIL_MAX_LENGTH,
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    EnterpriseCustomer,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
)
from rollbook.identity import api as identity_api

LEARNER_CREDIT_UNAVAILABLE = (
    "learner credit (transaction_id) is not available yet: budgets are not part of this service version"
)


class EnterpriseEnrollmentWrite(NamedTuple):
    """One enterprise enrollment to create or refresh: a customer user, a course enrollment, and how.
    (A named tuple: set-based callers make one per enrollment, and a tuple is the cheapest record to make.)"""

    customer_user_id: int
    course_enrollment_id: int
    source: EnrollmentSource
    license_id: int | None = None


def enterprise_enrollments_queryset(customer: CustomerRef | None = None) -> QuerySet[EnterpriseCourseEnrollment]:
    """Enterprise enrollments (optionally of one customer) with customer user, user, course enrollment and
    run joined."""
    queryset = EnterpriseCourseEnrollment.objects.select_related(
        "customer_user__customer", "customer_user__user", "course_enrollment__course_run", "license"
    )
    if customer is not None:
        queryset = queryset.filter(customer_user__customer=customers.get_customer(customer))
    return queryset.order_by("id")


# --- writing enterprise enrollments and realizations -----------------------------------------------


def upsert_enterprise_enrollments(
    writes: Sequence[EnterpriseEnrollmentWrite], *, created_course_enrollment_ids: Collection[int] = frozenset()
) -> dict[tuple[int, int], int]:
    """Create the missing enterprise enrollments and refresh existing ones (unenrolled cleared, license and
    source set when given), with history; return ``{(customer_user_id, course_enrollment_id): row id}``.
    A write repeated for the same pair counts once (the last one wins). Rows that already say what a write
    says are left alone. ``created_course_enrollment_ids`` names course enrollments created in the current
    transaction: no enterprise enrollment can refer to them yet, so theirs are inserted without being
    looked for. Set-based: a constant number of statements per batch."""
    wanted: dict[tuple[int, int], EnterpriseEnrollmentWrite] = {}
    for write in writes:
        wanted[(write.customer_user_id, write.course_enrollment_id)] = write
    if not wanted:
        return {}
    now = timezone.now()
    ids: dict[tuple[int, int], int] = {}
    existing: dict[tuple[int, int], EnterpriseCourseEnrollment] = {}
    changed: list[EnterpriseCourseEnrollment] = []
    looked_for = [key for key in wanted if key[1] not in created_course_enrollment_ids]
    with transaction.atomic():
        for chunk in batches(looked_for):
            keys = set(chunk)
            for row in EnterpriseCourseEnrollment.objects.select_for_update().filter(
                customer_user_id__in={key[0] for key in chunk}, course_enrollment_id__in={key[1] for key in chunk}
            ):
                key = (row.customer_user_id, row.course_enrollment_id)
                if key in keys:
                    existing[key] = row
        new_keys: list[tuple[int, int]] = []
        new_rows: list[dict[str, Any]] = []
        for key, write in wanted.items():
            row = existing.get(key)
            if row is None:
                new_keys.append(key)
                new_rows.append(
                    {
                        "customer_user_id": key[0],
                        "course_enrollment_id": key[1],
                        "source": str(write.source),
                        "license_id": write.license_id,
                        "created": now,
                        "modified": now,
                    }
                )
                continue
            ids[key] = row.pk
            if _refresh(row, write):
                row.modified = now
                changed.append(row)
        new_ids = insert_with_history(EnterpriseCourseEnrollment, new_rows, history_date=now)
        ids.update(zip(new_keys, new_ids, strict=True))
        update_with_history(changed, ["source", "license", "unenrolled", "unenrolled_at", "modified"], history_date=now)
    return ids


def _refresh(row: EnterpriseCourseEnrollment, write: EnterpriseEnrollmentWrite) -> bool:
    """Apply the write to an existing row; True when something changed."""
    changed = False
    if row.unenrolled:
        row.unenrolled, row.unenrolled_at, changed = False, None, True
    if row.source != write.source:
        row.source, changed = str(write.source), True
    if write.license_id is not None and row.license_id != write.license_id:
        row.license_id, changed = write.license_id, True
    return changed


def record_realizations(
    links: Sequence[tuple[int, int]], *, created_enterprise_enrollment_ids: Collection[int] = frozenset()
) -> tuple[dict[int, int], int]:
    """Link enterprise enrollments to the intentions that produced them: ``links`` are
    ``(intention id, enterprise enrollment id)``. An enterprise enrollment that has a realization already
    keeps it (never a second one). Returns ``({enterprise enrollment id: intention id of its realization},
    realizations created)``. ``created_enterprise_enrollment_ids`` names enterprise enrollments created in
    the current transaction, which have no realization yet: they are not looked for. Set-based, with history."""
    wanted: dict[int, int] = {}
    for intention_id, enrollment_id in links:
        wanted.setdefault(enrollment_id, intention_id)
    if not wanted:
        return {}, 0
    found: dict[int, int] = {}
    for chunk in batches(
        [enrollment_id for enrollment_id in wanted if enrollment_id not in created_enterprise_enrollment_ids]
    ):
        found.update(
            DefaultEnrollmentRealization.objects.filter(realized_enrollment_id__in=chunk).values_list(
                "realized_enrollment_id", "intention_id"
            )
        )
    now = timezone.now()
    new = [
        {"intention_id": intention_id, "realized_enrollment_id": enrollment_id, "created": now, "modified": now}
        for enrollment_id, intention_id in wanted.items()
        if enrollment_id not in found
    ]
    insert_with_history(DefaultEnrollmentRealization, new, history_date=now)
    for row in new:
        found[row["realized_enrollment_id"]] = row["intention_id"]
    return found, len(new)


def mark_unenrolled(course_enrollment_uuids: Iterable[uuid.UUID], *, unenrolled: bool) -> int:
    """Set (or clear) ``unenrolled``/``unenrolled_at`` on the enterprise enrollments of these course
    enrollments, with history; returns the rows changed (rows already so are left alone; unknown and
    malformed uuids are ignored). Called when course enrollments are deactivated/reactivated. Set-based."""
    wanted: list[uuid.UUID] = []
    for value in course_enrollment_uuids:
        try:
            wanted.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    wanted = list(dict.fromkeys(wanted))
    now = timezone.now()
    changed: list[EnterpriseCourseEnrollment] = []
    with transaction.atomic():
        for chunk in batches(wanted):
            rows = EnterpriseCourseEnrollment.objects.select_for_update(of=("self",)).filter(
                course_enrollment__uuid__in=chunk
            )
            rows = rows.exclude(unenrolled=True) if unenrolled else rows.filter(unenrolled=True)
            for row in rows:
                row.unenrolled = unenrolled
                row.unenrolled_at = now if unenrolled else None
                row.modified = now
                changed.append(row)
        update_with_history(changed, ["unenrolled", "unenrolled_at", "modified"], history_date=now)
    return len(changed)


def set_saved_for_later(enterprise_enrollment_id: int, saved_for_later: bool) -> EnterpriseCourseEnrollment:
    """Mark the enterprise enrollment with this id as saved for later (or clear the mark), with a history row,
    and return it as ``enterprise_enrollments_queryset`` loads it. Idempotent: a row that already says so is
    returned unchanged, with no history row. Raises NotFound for an unknown id and InvalidInput
    (``saved_for_later``) unless ``saved_for_later`` is a boolean."""
    if not isinstance(saved_for_later, bool):
        raise InvalidInput({"saved_for_later": [f"{saved_for_later!r} is not a boolean; use true or false."]})
    if isinstance(enterprise_enrollment_id, bool) or not isinstance(enterprise_enrollment_id, int):
        raise NotFound(f"No enterprise course enrollment has the id {enterprise_enrollment_id!r}.")
    with transaction.atomic():
        row = (
            enterprise_enrollments_queryset()
            .select_for_update(of=("self",))
            .filter(pk=enterprise_enrollment_id)
            .first()
        )
        if row is None:
            raise NotFound(f"No enterprise course enrollment has the id {enterprise_enrollment_id}.")
        if row.saved_for_later != saved_for_later:
            row.saved_for_later = saved_for_later
            row.save(update_fields=["saved_for_later", "modified"])
    return row


# --- licenses ------------------------------------------------------------------------------------


def _license_problem(
    found: License | None,
    wanted: str,
    customer_id: int,
    user_id: int | None,
    email_normalized: str,
    now: datetime,
    *,
    assigned_to_email_ok: bool = False,
) -> str | None:
    """Why ``found`` (the license with uuid ``wanted``, plan loaded) may not pay for this learner, or None.

    A learner with an account needs a license they activated (or, with ``assigned_to_email_ok``, one
    assigned to their email); an email without an account needs one assigned to it."""
    if found is None or found.plan.customer_id != customer_id:
        return f"No license {wanted} in a subscription plan of this customer."
    if found.status == LicenseStatus.REVOKED:
        return f"The license {wanted} is revoked."
    if user_id is None:
        if found.status != LicenseStatus.ASSIGNED or found.user_email_normalized != email_normalized:
            return f"The license {wanted} is not assigned to this email."
    elif found.status == LicenseStatus.ACTIVATED:
        if found.user_id != user_id:
            return f"The license {wanted} is activated by another learner."
    elif assigned_to_email_ok and found.status == LicenseStatus.ASSIGNED and email_normalized:
        if found.user_email_normalized != email_normalized:
            return f"The license {wanted} is assigned to another email."
    elif found.status == LicenseStatus.ASSIGNED and found.user_email_normalized == email_normalized:
        return f"The license {wanted} is assigned to this learner but not activated yet."
    else:
        return f"The license {wanted} is not activated by this learner."
    plan = found.plan
    if not plan.active:
        return f"The subscription plan of the license {wanted} is not active."
    if now < plan.start:
        return f"The subscription plan of the license {wanted} starts on {plan.start.isoformat()}."
    if now >= plan.expiration:
        return f"The subscription plan of the license {wanted} expired on {plan.expiration.isoformat()}."
    return None


def _catalog_problem(found: License, catalog_uuids: Sequence[uuid.UUID], course_key: str) -> str | None:
    if found.plan.catalog.uuid in catalog_uuids:
        return None
    return f"The catalog of the license's plan ({found.plan.catalog.title}) does not contain {course_key}."


def _licenses_by_uuid(values: Iterable[object]) -> dict[uuid.UUID, License]:
    wanted = sorted({parsed for parsed in map(parse_uuid, values) if parsed is not None})
    found: dict[uuid.UUID, License] = {}
    for chunk in batches(wanted):
        found.update(
            (row.uuid, row) for row in License.objects.select_related("plan__catalog").filter(uuid__in=list(chunk))
        )
    return found


def license_for_item(
    customer_id: int,
    user_id: int | None,
    email: str | None,
    license_uuid: str,
    *,
    catalog_course_id: int | None = None,
) -> License | str:
    """The license an item may use, or the failure message saying why not (see enroll_learners_in_courses):
    of a plan of this customer that is active and current, activated by the user (``user_id``) or, for an
    email with no account (``user_id`` None), assigned to that email; with ``catalog_course_id``, the plan's
    catalog must contain that course."""
    wanted = parse_uuid(license_uuid)
    if wanted is None:
        return f"{license_uuid!r} is not a license uuid."
    found = _licenses_by_uuid([wanted]).get(wanted)
    problem = _license_problem(found, str(wanted), customer_id, user_id, normalise_key(email), timezone.now())
    if problem is not None:
        return problem
    if catalog_course_id is not None:
        containing = catalogs.catalogs_containing(found.plan.customer, [catalog_course_id])
        if found.plan.catalog.uuid not in containing.get(catalog_course_id, []):
            return f"The catalog of the license's plan ({found.plan.catalog.title}) does not contain the course."
    return found


# --- enrolling -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    """A checked item about to be enrolled: the learner's row and user, the run, the mode and the license."""

    index: int
    customer_user_id: int
    user_id: int
    run: Any
    mode: str | None
    license: License
    source: str
    realize: bool
    skip_access_checks: bool = False


@dataclass(frozen=True, slots=True)
class _Done:
    """What enrolling an entry did: ``ok`` with the mode, or a message."""

    ok: bool
    mode: str | None = None
    created: bool = False
    realization_intention_uuid: uuid.UUID | None = None
    message: str = ""


def _wanted_mode(run: Any, best_modes: Mapping[int, str], state: EnrollmentState | None) -> str | None:
    """The run's best mode, except that an active paid enrollment keeps its mode (None)."""
    if state is not None and state.is_active and state.mode not in AUDIT_MODES:
        return None
    return best_modes[run.pk]


def _enroll_entries(owner: EnterpriseCustomer, entries: Sequence[_Entry]) -> dict[int, _Done]:
    """Enroll checked entries (at most two ``bulk_enroll`` calls: with and without access checks), record
    their enterprise enrollments and, for entries asking for it, realizations of the customer's first
    intention resolving to the run. ``{entry index: what was done}``. Call inside a transaction."""
    done: dict[int, _Done] = {}
    succeeded: list[tuple[_Entry, Any, EnrollmentState]] = []
    for skip in (False, True):
        group = [entry for entry in entries if entry.skip_access_checks is skip]
        if not group:
            continue
        results = enrollments_api.bulk_enroll_with_states(
            (
                EnrollRequest(user_id=entry.user_id, course_key=str(entry.run.course_key), mode=entry.mode)
                for entry in group
            ),
            skip_access_checks=skip,
        )
        for entry, (result, state) in zip(group, results, strict=True):
            if result.status.is_success:
                succeeded.append((entry, result, state))
            else:
                done[entry.index] = _Done(False, message=result.message or result.status.value)
    if not succeeded:
        return done
    created_course_enrollments = {
        state.id for _entry, result, state in succeeded if result.status == EnrollStatus.ENROLLED
    }
    row_ids = upsert_enterprise_enrollments(
        [
            EnterpriseEnrollmentWrite(
                customer_user_id=entry.customer_user_id,
                course_enrollment_id=state.id,
                source=entry.source,
                license_id=entry.license.pk,
            )
            for entry, _result, state in succeeded
        ],
        created_course_enrollment_ids=created_course_enrollments,
    )
    intentions: dict[int, Any] = {}
    if any(entry.realize for entry, _result, _state in succeeded):
        from rollbook.enterprise import defaults  # defaults imports this module

        intentions = defaults.first_intention_by_run(owner)
    links = []
    created_rows = set()  # the enterprise enrollments of new course enrollments are new too
    for entry, _result, state in succeeded:
        intention = intentions.get(entry.run.pk) if entry.realize else None
        if intention is not None:
            row_id = row_ids[(entry.customer_user_id, state.id)]
            links.append((intention.pk, row_id))
            if state.id in created_course_enrollments:
                created_rows.add(row_id)
    realized, _created = record_realizations(links, created_enterprise_enrollment_ids=created_rows)
    uuid_of = {intention.pk: intention.uuid for intention in intentions.values()}
    if set(realized.values()) - set(uuid_of):  # kept realizations of intentions that resolve elsewhere now
        uuid_of.update(
            DefaultEnrollmentIntention.objects.filter(pk__in=set(realized.values()) - set(uuid_of)).values_list(
                "pk", "uuid"
            )
        )
    for entry, result, state in succeeded:
        row_id = row_ids[(entry.customer_user_id, state.id)]
        intention_id = realized.get(row_id) if entry.realize else None
        message = ""
        if entry.realize and intention_id is None:
            message = "No default enrollment intention of this customer resolves to this run; no realization."
        done[entry.index] = _Done(
            True,
            mode=result.enrollment.mode,
            created=result.status == EnrollStatus.ENROLLED,
            realization_intention_uuid=None if intention_id is None else uuid_of[intention_id],
            message=message,
        )
    return done


@dataclass(slots=True)
class _Item:
    """An item being checked: what it names, and what was found for it."""

    index: int
    item: EnrollItem
    run: Any = None
    user: Any = None
    email: str = ""  # trimmed, for an item naming the learner by email
    email_normalized: str = ""
    license_uuid: uuid.UUID | None = None
    failure: str = ""

    @property
    def learner_key(self) -> tuple[str, object]:
        if self.user is not None:
            return ("user", self.user.pk)
        return ("email", self.email_normalized)


def _check_shape(entry: _Item) -> None:
    """Fill ``entry.failure`` for an item that is wrong on its face (subsidy, learner, key, email)."""
    item = entry.item
    has_license = item.license_uuid not in (None, "")
    has_transaction = item.transaction_id not in (None, "")
    if has_license and has_transaction:
        entry.failure = "Give exactly one of license_uuid and transaction_id, not both."
    elif has_transaction:
        entry.failure = LEARNER_CREDIT_UNAVAILABLE
    elif not has_license:
        entry.failure = "Give exactly one of license_uuid and transaction_id: a license_uuid is needed."
    elif (parsed := parse_uuid(item.license_uuid)) is None:
        entry.failure = f"{item.license_uuid!r} is not a license uuid."
    else:
        entry.license_uuid = parsed
    if entry.failure:
        return
    if item.user_id is None:
        email = item.email.strip() if isinstance(item.email, str) else ""
        if not email:
            entry.failure = "Give user_id or email."
            return
        try:
            if len(email) > EMAIL_MAX_LENGTH:
                raise ValidationError("too long")
            validate_email(email)
        except ValidationError:
            entry.failure = f"{item.email!r} is not a valid email address."
            return
        entry.email, entry.email_normalized = email, normalise_key(email)
    elif isinstance(item.user_id, bool) or not isinstance(item.user_id, int):
        entry.failure = f"{item.user_id!r} is not a user id."
        return
    try:
        catalog_api.parse_course_key(item.course_run_key)
    except InvalidInput:
        entry.failure = f"{item.course_run_key!r} is not a valid course run key."


def _find(checked: Sequence[_Item]) -> None:
    """Find the runs and users of the items (two queries per batch); fill failures for unknown ones."""
    if not checked:
        return
    runs = catalog_api.get_course_runs(entry.item.course_run_key for entry in checked)
    user_ids = {entry.item.user_id for entry in checked if entry.item.user_id is not None}
    emails = {entry.email_normalized for entry in checked if entry.item.user_id is None}
    by_id = identity_api.users_by_ids(user_ids)
    by_email = identity_api.users_by_emails(emails)
    for entry in checked:
        key = str(catalog_api.parse_course_key(entry.item.course_run_key))
        entry.run = runs.get(key)
        if entry.run is None:
            entry.failure = f"No course run {key}."
            continue
        if entry.item.user_id is not None:
            entry.user = by_id.get(entry.item.user_id)
            if entry.user is None:
                entry.failure = f"No user with id {entry.item.user_id}."
        else:
            entry.user = by_email.get(entry.email_normalized)


def enroll_learners_in_courses(
    customer: CustomerRef, items: Iterable[EnrollItem], *, source: EnrollmentSource = EnrollmentSource.API
) -> list[EnrollItemResult]:
    """Enroll each item's learner (user id or email) in the run with the item's license, in the run's best
    mode; one result per item, in order: success, pending (an email with no account: a pending learner and
    a pending enrollment are recorded and realized at registration), or failure with a message (unknown
    user or run, malformed key or email, neither or both of license and transaction id, a license that is
    not the learner's, not activated (assigned for pending), of another customer, expired, or whose catalog
    lacks the course, a closed run). Not all-or-nothing: each item stands alone. Successful items with
    ``is_default_auto_enrollment`` get a realization for the customer's first non-removed intention whose
    resolved run is the item's run. A learner with an account who is not a linked learner of the customer
    is linked (without changing their active customer). Set-based per batch; each batch is one transaction,
    so a database error leaves nothing of the batch written. Raises NotFound for an unknown customer."""
    owner = customers.get_customer(customer)
    items = list(items)
    results: list[EnrollItemResult | None] = [None] * len(items)
    for chunk in batches(list(enumerate(items))):
        with transaction.atomic():
            _enroll_batch(owner, [_Item(index, item) for index, item in chunk], EnrollmentSource(source), results)
    return results  # type: ignore[return-value]  # every position is filled


def _result(entry: _Item, outcome: EnrollOutcome, message: str = "", **fields: Any) -> EnrollItemResult:
    return EnrollItemResult(
        item=entry.item,
        outcome=outcome,
        user_id=None if entry.user is None else entry.user.pk,
        email=entry.email or (None if entry.user is None else entry.user.email),
        course_run_key=str(entry.run.course_key) if entry.run is not None else str(entry.item.course_run_key),
        message=message,
        **fields,
    )


def _enroll_batch(
    owner: EnterpriseCustomer, entries: list[_Item], source: EnrollmentSource, results: list[EnrollItemResult | None]
) -> None:
    now = timezone.now()
    for entry in entries:
        _check_shape(entry)
    _find([entry for entry in entries if not entry.failure])
    live = [entry for entry in entries if not entry.failure]
    pair_counts = Counter((entry.learner_key, entry.run.pk) for entry in live)
    for entry in live:
        if pair_counts[(entry.learner_key, entry.run.pk)] > 1:
            entry.failure = "This learner and course run appear more than once in the request."
    live = [entry for entry in live if not entry.failure]
    found_licenses = _licenses_by_uuid(entry.license_uuid for entry in live)
    containing = catalogs.catalogs_containing(owner, {entry.run.catalog_course_id for entry in live}) if live else {}
    for entry in live:
        found = found_licenses.get(entry.license_uuid)
        user_id = None if entry.user is None else entry.user.pk
        email = entry.email_normalized if entry.user is None else entry.user.email_normalized
        entry.failure = _license_problem(found, str(entry.license_uuid), owner.pk, user_id, email, now) or ""
        if not entry.failure:
            entry.failure = (
                _catalog_problem(found, containing.get(entry.run.catalog_course_id, []), str(entry.run.course_key))
                or ""
            )
    for entry in entries:
        if entry.failure:
            results[entry.index] = _result(entry, EnrollOutcome.FAILURE, entry.failure)
    live = [entry for entry in entries if not entry.failure]
    _record_pending(owner, [entry for entry in live if entry.user is None], found_licenses, source, results)
    known = [entry for entry in live if entry.user is not None]
    if not known:
        return
    rows = _linked_rows(owner, [entry.user for entry in known])
    states = enrollments_api.enrollment_states((entry.user.pk, entry.run.pk) for entry in known)
    best_modes = _best_modes({entry.run.pk for entry in known})
    planned = [
        _Entry(
            index=entry.index,
            customer_user_id=rows[entry.user.pk],
            user_id=entry.user.pk,
            run=entry.run,
            mode=_wanted_mode(entry.run, best_modes, states.get((entry.user.pk, entry.run.pk))),
            license=found_licenses[entry.license_uuid],
            source=source,
            realize=bool(entry.item.is_default_auto_enrollment),
            skip_access_checks=bool(entry.item.force_enrollment),
        )
        for entry in known
    ]
    done = _enroll_entries(owner, planned)
    for entry in known:
        outcome = done[entry.index]
        if outcome.ok:
            results[entry.index] = _result(
                entry,
                EnrollOutcome.SUCCESS,
                outcome.message,
                mode=outcome.mode,
                created=outcome.created,
                realization_intention_uuid=outcome.realization_intention_uuid,
            )
        else:
            results[entry.index] = _result(entry, EnrollOutcome.FAILURE, outcome.message)


def _best_modes(run_ids: set[int]) -> dict[int, str]:
    return {
        run_id: catalog_api.choose_best_mode(slugs) for run_id, slugs in catalog_api.mode_slugs_by_run(run_ids).items()
    }


def _linked_rows(owner: EnterpriseCustomer, users: Sequence[Any]) -> dict[int, int]:
    """``{user id: customer user id}``, linking (without activating) the users who are not linked learners."""
    distinct = {user.pk: user for user in users}
    rows = {
        row.user_id: row for row in EnterpriseCustomerUser.objects.filter(customer=owner, user_id__in=list(distinct))
    }
    for user_id, user in distinct.items():
        row = rows.get(user_id)
        if row is None or not row.linked:
            rows[user_id] = customers.link_user(owner, user, activate=False)
    return {user_id: row.pk for user_id, row in rows.items()}


def _record_pending(
    owner: EnterpriseCustomer,
    entries: Sequence[_Item],
    found_licenses: Mapping[uuid.UUID, License],
    source: EnrollmentSource,
    results: list[EnrollItemResult | None],
) -> None:
    """Pending learners for the emails, and a pending enrollment per item (replacing the license and flag
    of one the learner had for the same run)."""
    if not entries:
        return
    # One email per learner: link_learners refuses an email given twice, even in another case.
    customers.link_learners(owner, list({entry.email_normalized: entry.email for entry in entries}.values()))
    pending_rows = {
        row.user_email_normalized: row.pk
        for row in EnterpriseCustomerUser.objects.filter(
            customer=owner, user__isnull=True, user_email_normalized__in={entry.email_normalized for entry in entries}
        )
    }
    existing = {
        (row.customer_user_id, row.course_run_id): row
        for row in PendingEnrollment.objects.filter(customer_user_id__in=list(pending_rows.values()))
    }
    new: list[PendingEnrollment] = []
    changed: list[PendingEnrollment] = []
    for entry in entries:
        row_id = pending_rows.get(entry.email_normalized)
        if row_id is None:  # an account with this email appeared meanwhile
            results[entry.index] = _result(entry, EnrollOutcome.FAILURE, "An account has this email now; try again.")
            continue
        values = {
            "license": found_licenses[entry.license_uuid],
            "source": str(source),
            "is_default_auto_enrollment": bool(entry.item.is_default_auto_enrollment),
        }
        row = existing.get((row_id, entry.run.pk))
        if row is None:
            new.append(PendingEnrollment(customer_user_id=row_id, course_run=entry.run, **values))
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            changed.append(row)
        results[entry.index] = _result(
            entry,
            EnrollOutcome.PENDING,
            "No account has this email yet: the learner is enrolled when they register.",
        )
    PendingEnrollment.objects.bulk_create(new)
    PendingEnrollment.objects.bulk_update(changed, ["license", "source", "is_default_auto_enrollment"])


def realize_pending_enrollments(customer_user: EnterpriseCustomerUser) -> list[EnrollItemResult]:
    """Enroll a newly linked learner in their pending enrollments, as ``enroll_learners_in_courses`` would
    with the pending license (which may be assigned to the learner's email or activated by them: it is not
    activated here), then delete the pending rows that succeeded; the others are kept and reported as
    failures. The enterprise enrollments keep the pending row's source. One transaction. Nothing to do
    (an empty list) for a row that has no user yet."""
    if customer_user.user_id is None:
        return []
    owner = customer_user.customer
    user = customer_user.user
    now = timezone.now()
    with transaction.atomic():
        pending = list(
            PendingEnrollment.objects.select_for_update(of=("self",))
            .filter(customer_user=customer_user)
            .select_related("course_run", "license__plan__catalog")
            .order_by("pk")
        )
        if not pending:
            return []
        containing = catalogs.catalogs_containing(owner, {row.course_run.catalog_course_id for row in pending})
        states = enrollments_api.enrollment_states((user.pk, row.course_run_id) for row in pending)
        best_modes = _best_modes({row.course_run_id for row in pending})
        items: list[EnrollItem] = []
        failures: dict[int, str] = {}
        planned: list[_Entry] = []
        for index, row in enumerate(pending):
            course_key = str(row.course_run.course_key)
            items.append(
                EnrollItem(
                    course_run_key=course_key,
                    user_id=user.pk,
                    license_uuid=None if row.license is None else str(row.license.uuid),
                    is_default_auto_enrollment=row.is_default_auto_enrollment,
                )
            )
            if row.license is None:
                failures[index] = "The pending enrollment has no license."
                continue
            problem = _license_problem(
                row.license,
                str(row.license.uuid),
                owner.pk,
                user.pk,
                user.email_normalized,
                now,
                assigned_to_email_ok=True,
            ) or _catalog_problem(row.license, containing.get(row.course_run.catalog_course_id, []), course_key)
            if problem:
                failures[index] = problem
                continue
            planned.append(
                _Entry(
                    index=index,
                    customer_user_id=customer_user.pk,
                    user_id=user.pk,
                    run=row.course_run,
                    mode=_wanted_mode(row.course_run, best_modes, states.get((user.pk, row.course_run_id))),
                    license=row.license,
                    source=row.source,
                    realize=row.is_default_auto_enrollment,
                )
            )
        done = _enroll_entries(owner, planned)
        delete_rows(PendingEnrollment.objects.filter(pk__in=[pending[index].pk for index, d in done.items() if d.ok]))
    results = []
    for index in range(len(pending)):
        outcome = done.get(index)
        common = {
            "item": items[index],
            "user_id": user.pk,
            "email": user.email,
            "course_run_key": items[index].course_run_key,
        }
        if outcome is not None and outcome.ok:
            results.append(
                EnrollItemResult(
                    outcome=EnrollOutcome.SUCCESS,
                    mode=outcome.mode,
                    created=outcome.created,
                    realization_intention_uuid=outcome.realization_intention_uuid,
                    message=outcome.message,
                    **common,
                )
            )
        else:
            message = failures.get(index) or (outcome.message if outcome is not None else "")
            results.append(EnrollItemResult(outcome=EnrollOutcome.FAILURE, message=message, **common))
    return results
