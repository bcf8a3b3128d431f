"""Default enrollments (seed 003): intentions, learner status with the eight ordered rules, and
realization for one learner or every active learner of a customer. Owned by: defaults helper.

An intention names a catalog course (enroll in the run it advertises at the time) or a run (that run).
Resolving an intention for now gives its run, whether the run is open, its enroll-by date, its best mode
and the customer's catalogs that contain the course (none without a run).

Learner status classifies each resolved intention for one learner by the first rule that applies; the
existing enrollment is the learner's course enrollment in the resolved run, "audit" means a mode in
``data.AUDIT_MODES``, and the learner "left" it when it is inactive or the customer's enterprise
enrollment for it is marked unenrolled ("active" below, and ``is_existing_enrollment_active``, mean
active and not left):

1. an active non-audit enrollment → already enrolled;
2. a non-audit enrollment the learner left → not enrollable (never re-enrolled automatically);
3. no run, or a run not open for enrollment → not enrollable;
4. an audit enrollment (active or not), a non-audit best mode and applicable catalogs → enrollable (upgrade);
5. the same without applicable catalogs → not enrollable;
6. an active audit enrollment in a run offering only audit modes → already enrolled;
7. no applicable catalogs → not enrollable;
8. otherwise → enrollable.

Realization enrolls the learner in each enrollable intention's run, in its best mode, paid by an activated
license whose plan's catalog is one of the applicable catalogs, and links the enterprise enrollment to the
intention (one realization per enterprise enrollment, kept when the advertised run changes later).
Learner status and realization share the classification (``_classify``), and realization for one learner
and for a whole customer share the batch code (``_realize_batch``).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.bulk import batch_size, batches, paused_gc
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollmentState, EnrollRequest, EnrollStatus
from rollbook.enterprise import catalogs, customers, enrolling
from rollbook.enterprise.customers import CustomerRef
from rollbook.enterprise.data import (
    AUDIT_MODES,
    ContentType,
    CustomerRealizeResult,
    EnrollmentSource,
    IntentionProblem,
    IntentionStatus,
    LearnerStatus,
    LearnerStatusGroup,
    LearnerStatusReason,
    LicenseStatus,
    Realization,
    RealizationFailure,
    RealizeResult,
    ResolvedIntention,
)
from rollbook.enterprise.models import (
    DefaultEnrollmentIntention,
    EnterpriseCourseEnrollment,
    EnterpriseCustomer,
    EnterpriseCustomerUser,
    License,
    SubscriptionPlan,
)

IntentionRef = DefaultEnrollmentIntention | uuid.UUID | str

RESTORE_REST_PATH = "/enterprise/api/v1/default-enterprise-enrollment-intentions/{uuid}/restore/"
RESTORE_COMMAND = "rollbook enterprise restore-intention {uuid}"


def _customer(customer: CustomerRef) -> EnterpriseCustomer:
    return customers.get_customer(customer)


# --- intentions ----------------------------------------------------------------------------------


def intentions_queryset(customer: CustomerRef | None = None, *, include_removed: bool = False) -> QuerySet:
    """Intentions (optionally of one customer), soft-deleted ones only with ``include_removed``; oldest
    first, with customer, catalog course (and its organization) and run joined."""
    queryset = DefaultEnrollmentIntention.objects.select_related("customer", "catalog_course__org", "course_run")
    if customer is not None:
        queryset = queryset.filter(customer=_customer(customer))
    if not include_removed:
        queryset = queryset.filter(is_removed=False)
    return queryset.order_by("created", "id")


def get_intention(intention: IntentionRef, *, include_removed: bool = False) -> DefaultEnrollmentIntention:
    """The intention with this uuid (or the instance itself); raises NotFound for an unknown or malformed
    uuid, and for a soft-deleted intention unless ``include_removed``."""
    if isinstance(intention, DefaultEnrollmentIntention):
        if intention.is_removed and not include_removed:
            raise NotFound(f"The default enrollment intention {intention.uuid} is deleted.")
        return intention
    try:
        wanted = intention if isinstance(intention, uuid.UUID) else uuid.UUID(str(intention).strip())
    except (ValueError, AttributeError, TypeError):
        raise NotFound(f"No default enrollment intention has the uuid {intention!r}.") from None
    found = intentions_queryset(include_removed=include_removed).filter(uuid=wanted).first()
    if found is None:
        raise NotFound(f"No default enrollment intention has the uuid {wanted}.")
    return found


def _duplicate_message(existing: DefaultEnrollmentIntention) -> str:
    message = (
        f"The customer {existing.customer.slug!r} has a default enrollment intention for "
        f"{existing.content_key} already ({existing.uuid})."
    )
    if existing.is_removed:
        message += (
            " It is deleted; restore it instead of creating a new one: "
            f"POST {RESTORE_REST_PATH.format(uuid=existing.uuid)} or `{RESTORE_COMMAND.format(uuid=existing.uuid)}`."
        )
    return message


def create_intention(customer: CustomerRef, content_key: str) -> DefaultEnrollmentIntention:
    """Create an intention for a course or run key (stored canonically; type derived from the key).
    Raises InvalidInput (``content_key``) for a malformed key, one naming nothing, or one the customer has
    already — a soft-deleted one included, with a message saying how to restore it.
    Does not check catalog membership (``validate_intentions`` does). Realization for existing learners
    is the caller's choice (``realize_for_customer``)."""
    owner = _customer(customer)
    resolved = catalogs.resolve_content_key(content_key, "content_key")
    if resolved.course_run_id is not None:
        content_type = ContentType.COURSE_RUN
        same = Q(content_type=ContentType.COURSE_RUN, course_run_id=resolved.course_run_id)
    else:
        content_type = ContentType.COURSE
        same = Q(content_type=ContentType.COURSE, catalog_course_id=resolved.catalog_course_id)
    clashes = DefaultEnrollmentIntention.objects.select_related("customer").filter(customer=owner)
    existing = clashes.filter(Q(content_key=resolved.content_key) | same).order_by("id").first()
    if existing is not None:
        raise InvalidInput({"content_key": [_duplicate_message(existing)]})
    try:
        with transaction.atomic():
            return DefaultEnrollmentIntention.objects.create(
                customer=owner,
                content_key=resolved.content_key,
                content_type=content_type,
                catalog_course_id=resolved.catalog_course_id,
                course_run_id=resolved.course_run_id,
            )
    except IntegrityError:  # created concurrently
        existing = clashes.filter(content_key=resolved.content_key).first()
        if existing is None:
            raise
        raise InvalidInput({"content_key": [_duplicate_message(existing)]}) from None


def _set_removed(intention: IntentionRef, removed: bool) -> DefaultEnrollmentIntention:
    found = get_intention(intention, include_removed=True)
    if found.is_removed != removed:
        found.is_removed = removed
        found.save(update_fields=["is_removed", "modified"])
    return found


def delete_intention(intention: IntentionRef) -> DefaultEnrollmentIntention:
    """Soft-delete (``is_removed``, with a history row); realizations are kept. Idempotent. Raises NotFound."""
    return _set_removed(intention, True)


def restore_intention(intention: IntentionRef) -> DefaultEnrollmentIntention:
    """Undo a soft delete (with a history row). Idempotent. Raises NotFound."""
    return _set_removed(intention, False)


# --- resolving -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolved:
    """An intention row with its resolution, and the customer's catalogs containing its course (whatever
    the run: ``validate_intentions`` needs them for courses with no run too)."""

    row: DefaultEnrollmentIntention
    resolved: ResolvedIntention
    course_catalogs: tuple[uuid.UUID, ...]


def _resolve(owner: EnterpriseCustomer, rows: Sequence[DefaultEnrollmentIntention]) -> list[_Resolved]:
    """Resolve intention rows (catalog course and organization loaded) of ``owner`` for now. Queries: two
    for advertised runs, two for the runs of run intentions (with their modes), two for the catalogs."""
    now = timezone.now()
    courses = {row.catalog_course_id: row.catalog_course for row in rows if row.content_type == ContentType.COURSE}
    advertised = catalog_api.advertised_runs(courses.values(), now) if courses else {}
    run_ids = sorted({row.course_run_id for row in rows if row.content_type == ContentType.COURSE_RUN})
    exact_runs = {run.pk: run for run in catalog_api.course_runs_queryset().filter(pk__in=run_ids)} if run_ids else {}
    catalogs_by_course = catalogs.catalogs_containing(owner, {row.catalog_course_id for row in rows}) if rows else {}
    result = []
    for row in rows:
        if row.content_type == ContentType.COURSE:
            run = advertised.get(row.catalog_course_id)
        else:
            run = exact_runs.get(row.course_run_id)
        course_catalogs = tuple(catalogs_by_course.get(row.catalog_course_id, ()))
        resolved = ResolvedIntention(
            uuid=row.uuid,
            content_key=row.content_key,
            content_type=ContentType(row.content_type),
            course_key=row.catalog_course.key_str,
            course_run_id=None if run is None else run.pk,
            course_run_key=None if run is None else str(run.course_key),
            is_course_run_enrollable=run is not None and catalog_api.is_enrollable(run, now),
            course_run_enroll_by_date=None if run is None else catalog_api.enroll_by_date(run),
            # The run's modes are prefetched: best_mode is choose_best_mode over them, without a query.
            best_mode_for_course_run=None if run is None else catalog_api.best_mode(run),
            applicable_catalog_uuids=() if run is None else course_catalogs,
            created=row.created,
            modified=row.modified,
        )
        result.append(_Resolved(row, resolved, course_catalogs))
    return result


def _rows(owner: EnterpriseCustomer, intentions: Iterable[DefaultEnrollmentIntention] | None) -> list:
    queryset = intentions_queryset(owner)
    if intentions is not None:
        wanted = [intention.pk for intention in intentions]
        queryset = intentions_queryset(include_removed=True).filter(customer=owner, pk__in=wanted)
    return list(queryset)


def resolve_intentions(
    customer: CustomerRef, intentions: Iterable[DefaultEnrollmentIntention] | None = None
) -> list[ResolvedIntention]:
    """Resolve the customer's non-removed intentions (or those given, which must be the customer's),
    oldest first, for now: run (advertised run for a course), enrollability, enroll-by date, best mode,
    applicable catalogs. A constant number of queries whatever the number of intentions."""
    owner = _customer(customer)
    return [item.resolved for item in _resolve(owner, _rows(owner, intentions))]


def first_intention_by_run(customer: CustomerRef) -> dict[int, DefaultEnrollmentIntention]:
    """``{run id: the oldest non-removed intention of the customer that resolves to that run now}``.
    A constant number of queries."""
    owner = _customer(customer)
    found: dict[int, DefaultEnrollmentIntention] = {}
    for item in _resolve(owner, _rows(owner, None)):
        if item.resolved.course_run_id is not None:
            found.setdefault(item.resolved.course_run_id, item.row)
    return found


# --- learner status ------------------------------------------------------------------------------


def _classify(intention: ResolvedIntention, state: EnrollmentState | None, marked_unenrolled: bool) -> IntentionStatus:
    """Place one resolved intention for one learner by the first of the eight rules that applies."""
    has_enrollment = state is not None
    # "Active" for the customer: the course enrollment is active and the enterprise enrollment is not marked
    # unenrolled; otherwise the learner left it.
    active = None if state is None else state.is_active and not marked_unenrolled
    audit = None if state is None else state.mode in AUDIT_MODES
    left = state is not None and not active
    best = intention.best_mode_for_course_run
    paid_best_mode = best is not None and best not in AUDIT_MODES
    has_catalogs = bool(intention.applicable_catalog_uuids)
    group, reason = LearnerStatusGroup, LearnerStatusReason
    if has_enrollment and not audit and active:
        placed = (group.ALREADY_ENROLLED, reason.ACTIVE_PAID_ENROLLMENT)
    elif has_enrollment and not audit and left:
        placed = (group.NOT_ENROLLABLE, reason.LEFT_PAID_ENROLLMENT)
    elif intention.course_run_id is None or not intention.is_course_run_enrollable:
        placed = (group.NOT_ENROLLABLE, reason.RUN_NOT_ENROLLABLE)
    elif audit and paid_best_mode:
        placed = (
            (group.ENROLLABLE, reason.AUDIT_UPGRADE)
            if has_catalogs
            else (group.NOT_ENROLLABLE, reason.AUDIT_UPGRADE_NO_CATALOG)
        )
    elif audit and active:
        placed = (group.ALREADY_ENROLLED, reason.AUDIT_ONLY_ENROLLED)
    elif not has_catalogs:
        placed = (group.NOT_ENROLLABLE, reason.NO_CATALOG)
    else:
        placed = (group.ENROLLABLE, reason.ENROLLABLE)
    return IntentionStatus(
        intention=intention,
        group=placed[0],
        reason=placed[1],
        has_existing_enrollment=has_enrollment,
        is_existing_enrollment_active=active,
        is_existing_enrollment_audit=audit,
    )


@dataclass(frozen=True, slots=True)
class _Learner:
    customer_user_id: int
    user_id: int


def _statuses(resolved: Sequence[_Resolved], learners: Sequence[_Learner]) -> dict[int, list[IntentionStatus]]:
    """``{customer_user_id: [status per intention, in order]}``. Two queries (per batch of pairs): the course
    enrollments, and the learners' unenrolled marks."""
    run_ids = [item.resolved.course_run_id for item in resolved]
    pairs = [(learner.user_id, run_id) for learner in learners for run_id in run_ids if run_id is not None]
    states = enrollments_api.enrollment_states(pairs) if pairs else {}
    marked: set[tuple[int, int]] = set()
    if pairs:
        marked = set(
            EnterpriseCourseEnrollment.objects.filter(
                customer_user_id__in=[learner.customer_user_id for learner in learners], unenrolled=True
            ).values_list("customer_user_id", "course_enrollment_id")
        )
    # A status depends only on the intention and the enrollment's mode, active flag and mark, which take few
    # values: each combination is classified once, and learners in the same situation share the status.
    placed: dict[tuple[int, str | None, bool | None, bool], IntentionStatus] = {}
    statuses: dict[int, list[IntentionStatus]] = {}
    for learner in learners:
        row = []
        for position, run_id in enumerate(run_ids):
            state = None if run_id is None else states.get((learner.user_id, run_id))
            if state is None:
                key = (position, None, None, False)
            else:
                key = (position, state.mode, state.is_active, (learner.customer_user_id, state.id) in marked)
            status = placed.get(key)
            if status is None:
                status = placed[key] = _classify(resolved[position].resolved, state, key[3])
            row.append(status)
        statuses[learner.customer_user_id] = row
    return statuses


def _linked_learner(owner: EnterpriseCustomer, user: AbstractBaseUser) -> EnterpriseCustomerUser:
    row = customers.customer_user_for(owner, user) if user is not None and user.pk is not None else None
    if row is None or not row.linked:
        who = getattr(user, "pk", None)
        raise InvalidInput({"lms_user_id": [f"User {who} is not a linked learner of the customer {owner.slug!r}."]})
    return row


def learner_status(customer: CustomerRef, user: AbstractBaseUser) -> LearnerStatus:
    """Classify every non-removed intention for the learner with the eight ordered rules. Raises
    InvalidInput (``lms_user_id``) when the user is not a linked learner of the customer, NotFound for an
    unknown customer. A constant number of queries whatever the number of intentions."""
    owner = _customer(customer)
    row = _linked_learner(owner, user)
    resolved = _resolve(owner, _rows(owner, None))
    statuses = _statuses(resolved, [_Learner(row.pk, user.pk)])
    grouped: dict[LearnerStatusGroup, list[IntentionStatus]] = defaultdict(list)
    for status in statuses[row.pk]:
        grouped[status.group].append(status)
    return LearnerStatus(
        customer_uuid=owner.uuid,
        user_id=user.pk,
        user_email=getattr(user, "email", "") or "",
        already_enrolled=tuple(grouped[LearnerStatusGroup.ALREADY_ENROLLED]),
        enrollable=tuple(grouped[LearnerStatusGroup.ENROLLABLE]),
        not_enrollable=tuple(grouped[LearnerStatusGroup.NOT_ENROLLABLE]),
    )


# --- realization ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _BatchOutcome:
    realized: dict[int, list[Realization]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[int, list[RealizationFailure]] = field(default_factory=lambda: defaultdict(list))
    enrollments_changed: int = 0
    realizations_created: int = 0
    skipped_without_license: int = 0
    refused: int = 0


class _HeldLicense(NamedTuple):
    """An activated license as realization needs it: its id and uuid, and its plan's catalog."""

    id: int
    uuid: uuid.UUID
    catalog_uuid: uuid.UUID


def _held_licenses(owner: EnterpriseCustomer, user_ids: Sequence[int]) -> dict[int, list[_HeldLicense]]:
    """``{user id: activated licenses}``: the licenses ``licenses.activated_licenses_by_user`` gives (activated,
    of the customer's active plans current now, latest-expiring plan first, then by id), read as bare values.

    Two queries per batch of users: the customer's current plans, then the users' activated licenses, found
    by user (a plan filter in the same statement leads SQLite to walk the plan's every license for each
    batch) and kept when their plan is one of those."""
    now = timezone.now()
    plans = {
        plan_id: (expiration, catalog_uuid)
        for plan_id, expiration, catalog_uuid in SubscriptionPlan.objects.filter(
            customer=owner, active=True, start__lte=now, expiration__gt=now
        ).values_list("pk", "expiration", "catalog__uuid")
    }
    found: dict[int, list[tuple[datetime, int, _HeldLicense]]] = defaultdict(list)
    for chunk in batches(list(dict.fromkeys(user_ids))):
        rows = License.objects.filter(user_id__in=chunk, status=LicenseStatus.ACTIVATED).values_list(
            "user_id", "id", "uuid", "plan_id"
        )
        for user_id, license_id, license_uuid, plan_id in rows:
            plan = plans.get(plan_id)
            if plan is not None:
                found[user_id].append((plan[0], license_id, _HeldLicense(license_id, license_uuid, plan[1])))
    held: dict[int, list[_HeldLicense]] = {}
    for user_id, licenses in found.items():
        if len(licenses) > 1:
            licenses.sort(key=lambda entry: entry[1])
            licenses.sort(key=lambda entry: entry[0], reverse=True)  # stable: latest expiration first, then id
        held[user_id] = [entry[2] for entry in licenses]
    return held


@dataclass(slots=True)
class _Planned:
    learner: _Learner
    item: _Resolved
    license: _HeldLicense


def _covering_license(held: Sequence[_HeldLicense], catalog_uuids: frozenset[uuid.UUID]) -> _HeldLicense | None:
    """The first of the learner's activated licenses (latest-expiring plan first) whose plan's catalog is one
    of these."""
    for held_license in held:
        if held_license.catalog_uuid in catalog_uuids:
            return held_license
    return None


def _no_license_message(item: _Resolved) -> str:
    return (
        f"No activated license covers {item.resolved.course_run_key}: none of the learner's activated licenses "
        "belongs to a plan whose catalog contains the course."
    )


def _realize_batch(
    owner: EnterpriseCustomer, resolved: Sequence[_Resolved], learners: Sequence[_Learner], *, details: bool = True
) -> _BatchOutcome:
    """Classify, enroll and record realizations for a batch of learners, set-based: reads (enrollments,
    unenrolled marks, licenses) and writes (bulk_enroll, enterprise enrollments, realizations) take a
    constant number of statements per batch. With ``details`` false only the counts are kept (not one
    Realization or RealizationFailure per pair). Call inside a transaction."""
    outcome = _BatchOutcome()
    statuses = _statuses(resolved, learners)
    wanted = [
        (learner, position)
        for learner in learners
        for position, status in enumerate(statuses[learner.customer_user_id])
        if status.group == LearnerStatusGroup.ENROLLABLE
    ]
    if not wanted:
        return outcome
    held_by_user = _held_licenses(owner, sorted({learner.user_id for learner, _ in wanted}))
    catalogs_at = [frozenset(item.resolved.applicable_catalog_uuids) for item in resolved]
    planned: list[_Planned] = []
    planned_pairs: set[tuple[int, int]] = set()
    for learner, position in wanted:
        item = resolved[position]
        run_id = item.resolved.course_run_id
        if (learner.user_id, run_id) in planned_pairs:
            continue  # an older intention resolving to the same run is realized; one enrollment per run
        covering = _covering_license(held_by_user.get(learner.user_id, ()), catalogs_at[position])
        if covering is None:
            outcome.skipped_without_license += 1
            if details:
                outcome.failures[learner.customer_user_id].append(
                    RealizationFailure(item.resolved.uuid, item.resolved.course_run_key, _no_license_message(item))
                )
            continue
        planned_pairs.add((learner.user_id, run_id))
        planned.append(_Planned(learner, item, covering))
    if not planned:
        return outcome
    results = enrollments_api.bulk_enroll_with_states(
        EnrollRequest(
            user_id=plan.learner.user_id,
            course_key=plan.item.resolved.course_run_key,
            mode=plan.item.resolved.best_mode_for_course_run,
        )
        for plan in planned
    )
    enrolled: list[tuple[_Planned, str, EnrollmentState]] = []
    created_course_enrollments: set[int] = set()
    for plan, (result, state) in zip(planned, results, strict=True):
        if result.status.is_success:
            enrolled.append((plan, result.enrollment.mode, state))
            if result.status == EnrollStatus.ENROLLED:
                created_course_enrollments.add(state.id)
            if result.status != EnrollStatus.ALREADY_ENROLLED:
                outcome.enrollments_changed += 1
        else:
            outcome.refused += 1
            if details:
                outcome.failures[plan.learner.customer_user_id].append(
                    RealizationFailure(
                        plan.item.resolved.uuid,
                        plan.item.resolved.course_run_key,
                        result.message or result.status.value,
                    )
                )
    if not enrolled:
        return outcome
    row_ids = enrolling.upsert_enterprise_enrollments(
        [
            enrolling.EnterpriseEnrollmentWrite(
                customer_user_id=plan.learner.customer_user_id,
                course_enrollment_id=state.id,
                source=EnrollmentSource.DEFAULT_ENROLLMENT,
                license_id=plan.license.id,
            )
            for plan, _mode, state in enrolled
        ],
        created_course_enrollment_ids=created_course_enrollments,
    )
    links = []
    created_rows = set()  # the enterprise enrollments of new course enrollments are new too
    for plan, _mode, state in enrolled:
        row_id = row_ids[(plan.learner.customer_user_id, state.id)]
        links.append((plan.item.row.pk, row_id))
        if state.id in created_course_enrollments:
            created_rows.add(row_id)
    _kept, outcome.realizations_created = enrolling.record_realizations(
        links, created_enterprise_enrollment_ids=created_rows
    )
    if details:
        for plan, mode, state in enrolled:
            outcome.realized[plan.learner.customer_user_id].append(
                Realization(
                    intention_uuid=plan.item.resolved.uuid,
                    course_run_key=plan.item.resolved.course_run_key,
                    course_enrollment_uuid=state.uuid,
                    mode=mode,
                    license_uuid=plan.license.uuid,
                )
            )
    return outcome


def realize_default_enrollments(customer: CustomerRef, user: AbstractBaseUser) -> RealizeResult:
    """Enroll the learner in every enrollable intention with an activated license whose plan's catalog
    covers it, in the best mode (upgrading an audit enrollment), and record realizations; an enrollable
    intention no license covers is reported as a failure. Idempotent: a second call writes nothing. One
    transaction. Raises InvalidInput (``lms_user_id``) when the user is not a linked learner of the customer."""
    owner = _customer(customer)
    row = _linked_learner(owner, user)
    with transaction.atomic():
        resolved = _resolve(owner, _rows(owner, None))
        outcome = _realize_batch(owner, resolved, [_Learner(row.pk, user.pk)])
    return RealizeResult(realized=tuple(outcome.realized[row.pk]), failures=tuple(outcome.failures[row.pk]))


def realize_for_customer(customer: CustomerRef) -> CustomerRealizeResult:
    """``realize_default_enrollments`` for every active, linked learner of the customer (pending ones
    excluded), set-based: a constant number of statements per batch of ``core.bulk.batch_size()`` learners,
    each batch in its own transaction. Returns the counts."""
    owner = _customer(customer)
    resolved = _resolve(owner, _rows(owner, None))
    size = batch_size()
    learners_seen = changed = created = skipped = refused = 0
    last_id = 0
    learners = EnterpriseCustomerUser.objects.filter(customer=owner, active=True, linked=True, user__isnull=False)
    while True:
        batch = [
            _Learner(customer_user_id, user_id)
            for customer_user_id, user_id in learners.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "user_id")[:size]
        ]
        if not batch:
            break
        with transaction.atomic(), paused_gc():
            outcome = _realize_batch(owner, resolved, batch, details=False)
        learners_seen += len(batch)
        changed += outcome.enrollments_changed
        created += outcome.realizations_created
        skipped += outcome.skipped_without_license
        refused += outcome.refused
        last_id = batch[-1].customer_user_id
        if len(batch) < size:
            break
    return CustomerRealizeResult(
        learners=learners_seen,
        enrollments_created=changed,
        realizations_created=created,
        skipped_without_license=skipped,
        failures=refused,
    )


# --- validation ----------------------------------------------------------------------------------


def _problems(owner: EnterpriseCustomer, item: _Resolved) -> list[IntentionProblem]:
    resolved = item.resolved

    def problem(text: str) -> IntentionProblem:
        return IntentionProblem(resolved.uuid, owner.slug, resolved.content_key, text)

    found = []
    if not item.course_catalogs:
        found.append(problem(f"Outside the customer's catalogs: none of them contains {resolved.course_key}."))
    if resolved.course_run_id is None:
        found.append(problem(f"No advertised run: {resolved.course_key} has no marketable run to enroll in."))
    elif not resolved.is_course_run_enrollable:
        found.append(problem(f"The run {resolved.course_run_key} is not open for enrollment now."))
    return found


def validate_intentions(customer: CustomerRef | None = None) -> list[IntentionProblem]:
    """Non-removed intentions outside their customer's catalogs, or with no run (a course advertising
    none), or whose run cannot be enrolled in now: one row per problem, for every customer unless one is
    given. A constant number of queries per customer with intentions."""
    rows = list(intentions_queryset(customer))
    by_customer: dict[int, list[DefaultEnrollmentIntention]] = defaultdict(list)
    for row in rows:
        by_customer[row.customer_id].append(row)
    problems: list[IntentionProblem] = []
    for customer_rows in by_customer.values():
        owner = customer_rows[0].customer
        for item in _resolve(owner, customer_rows):
            problems.extend(_problems(owner, item))
    return problems
