"""Subscription plans and licenses: seats, assignment by email, activation, revocation and its effects.

A plan's licenses are its seats (``seats`` rows are created unassigned), so assignment can never
over-assign. Revoking a license frees its seat (a new unassigned license replaces it) and moves each of
its enterprise enrollments that is not completed to audit when the run offers audit, else unenrolls
it; completed ones (``records.api``) stay. Owned by: licenses helper.

Invariant kept by every function here: a plan has exactly ``seats`` licenses that are not revoked.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSlug
from rollbook.core.bulk import batches, delete_with_history, insert_with_history, update_with_history
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.lookup import one_by_uuid
from rollbook.core.normalise import normalise_key, parse_uuid
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollRequest
from rollbook.enterprise import customers
from rollbook.enterprise.catalogs import CatalogRef, get_catalog
from rollbook.enterprise.customers import CustomerRef
from rollbook.enterprise.data import SEAT_HOLDING_STATUSES, LicenseAssignResult, LicenseStatus, RevocationEffect
from rollbook.enterprise.models import (
    EMAIL_MAX_LENGTH,
    EnterpriseCourseEnrollment,
    License,
    PendingEnrollment,
    SubscriptionPlan,
)
from rollbook.identity import api as identity_api
from rollbook.records import api as records_api

PlanRef = SubscriptionPlan | uuid.UUID | str
LicenseRef = License | uuid.UUID | str

MAX_PLAN_SEATS = 1_000_000
TITLE_MAX_LENGTH = 255
PLAN_FIELDS = ("title", "start", "expiration", "active", "seats")
_SEAT_HOLDING = sorted(status.value for status in SEAT_HOLDING_STATUSES)


class RevocationAction:
    """What revoking a license did to one enrollment (``RevocationEffect.action``)."""

    KEPT_COMPLETED = "kept_completed"
    MOVED_TO_AUDIT = "moved_to_audit"
    UNENROLLED = "unenrolled"
    ALREADY_INACTIVE = "already_inactive"


# --- plans ---------------------------------------------------------------------------------------


def plans_queryset(customer: CustomerRef | None = None) -> QuerySet[SubscriptionPlan]:
    """Plans, optionally of one customer, annotated with ``seats_assigned``/``seats_activated``/``seats_free``."""
    queryset = SubscriptionPlan.objects.select_related("customer", "catalog").annotate(
        seats_assigned=Count("licenses", filter=Q(licenses__status=LicenseStatus.ASSIGNED)),
        seats_activated=Count("licenses", filter=Q(licenses__status=LicenseStatus.ACTIVATED)),
        seats_free=Count("licenses", filter=Q(licenses__status=LicenseStatus.UNASSIGNED)),
    )
    if customer is not None:
        queryset = queryset.filter(customer=customers.get_customer(customer))
    return queryset


def get_plan(plan: PlanRef) -> SubscriptionPlan:
    """The plan with this uuid (annotated as by ``plans_queryset``); raises NotFound (a malformed uuid too).
    A plan instance is returned as it is."""
    if isinstance(plan, SubscriptionPlan):
        return plan
    return one_by_uuid(plans_queryset(), plan, "subscription plan")


def _clean_title(value: object, errors: dict[str, list[str]]) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        errors["title"] = ["A title is required."]
    elif len(text) > TITLE_MAX_LENGTH:
        errors["title"] = [f"A title has at most {TITLE_MAX_LENGTH} characters."]
    else:
        return text
    return None


def _clean_seats(value: object, errors: dict[str, list[str]]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors["seats"] = ["The number of seats must be a whole number."]
    elif not 1 <= value <= MAX_PLAN_SEATS:
        errors["seats"] = [f"A plan has between 1 and {MAX_PLAN_SEATS:,} seats."]
    else:
        return value
    return None


def _clean_moment(value: object, field: str, errors: dict[str, list[str]]) -> datetime | None:
    moment = parse_datetime(value.strip()) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        errors[field] = [f"{value!r} is not a date and time (ISO 8601)."]
    elif timezone.is_naive(moment):
        errors[field] = ["Give a time zone (e.g. 2030-01-01T00:00:00Z)."]
    else:
        return moment
    return None


def _check_period(start: datetime | None, expiration: datetime | None, errors: dict[str, list[str]]) -> None:
    if start is not None and expiration is not None and expiration <= start:
        errors.setdefault("expiration", []).append("The expiration must come after the start.")


def create_plan(
    customer: CustomerRef,
    *,
    catalog: CatalogRef,
    title: str,
    seats: int,
    start: datetime,
    expiration: datetime,
    plan_uuid: uuid.UUID | None = None,
    active: bool = True,
) -> SubscriptionPlan:
    """Create a plan and its ``seats`` unassigned licenses (bulk). The catalog must be the customer's.
    Raises InvalidInput with field errors: ``title`` (empty, too long), ``seats`` (not 1 to 1,000,000),
    ``start``/``expiration`` (not aware times, or not in order), ``catalog`` (unknown or another
    customer's), ``uuid`` (malformed or taken), ``active`` (not a boolean)."""
    owner = customers.get_customer(customer)
    errors: dict[str, list[str]] = {}
    clean_title = _clean_title(title, errors)
    clean_seats = _clean_seats(seats, errors)
    clean_start = _clean_moment(start, "start", errors)
    clean_expiration = _clean_moment(expiration, "expiration", errors)
    _check_period(clean_start, clean_expiration, errors)
    try:
        plan_catalog = get_catalog(catalog)
    except NotFound:
        errors["catalog"] = [f"No enterprise catalog {catalog}."]
    else:
        if plan_catalog.customer_id != owner.pk:
            errors["catalog"] = [f"The catalog {plan_catalog.title!r} belongs to another customer."]
    if not isinstance(active, bool):
        errors["active"] = ["Must be true or false."]
    new_uuid = None
    if plan_uuid is not None:
        new_uuid = parse_uuid(plan_uuid)
        if new_uuid is None:
            errors["uuid"] = [f"{plan_uuid!r} is not a UUID."]
        elif SubscriptionPlan.objects.filter(uuid=new_uuid).exists():
            errors["uuid"] = [f"A plan with the uuid {new_uuid} exists already."]
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            plan = SubscriptionPlan.objects.create(
                customer=owner,
                catalog=plan_catalog,
                title=clean_title,
                seats=clean_seats,
                start=clean_start,
                expiration=clean_expiration,
                active=active,
                **({"uuid": new_uuid} if new_uuid else {}),
            )
            _add_free_licenses(plan.pk, clean_seats)
    except IntegrityError:  # the uuid was taken concurrently
        raise InvalidInput({"uuid": [f"A plan with the uuid {new_uuid} exists already."]}) from None
    return get_plan(plan.uuid)


def _add_free_licenses(plan_id: int, count: int) -> None:
    insert_with_history(License, [{"plan_id": plan_id} for _ in range(count)])


def _locked_plan(plan: SubscriptionPlan) -> SubscriptionPlan:
    """The plan's row, locked until the transaction ends (on SQLite the write transaction serialises)."""
    return SubscriptionPlan.objects.select_for_update().select_related("customer").get(pk=plan.pk)


def update_plan(plan: PlanRef, **changes: object) -> SubscriptionPlan:
    """Change title, start, expiration, active or seats. More seats add unassigned licenses; fewer remove
    unassigned ones and are refused (InvalidInput on ``seats``) below the seats in use.

    All or nothing; other names raise InvalidInput naming them. Returns the plan as ``get_plan`` does.
    """
    target = get_plan(plan)
    errors: dict[str, list[str]] = {
        name: ["This field cannot be changed."] for name in changes if name not in PLAN_FIELDS
    }
    cleaned: dict[str, object] = {}
    if "title" in changes:
        cleaned["title"] = _clean_title(changes["title"], errors)
    if "seats" in changes:
        cleaned["seats"] = _clean_seats(changes["seats"], errors)
    for moment in ("start", "expiration"):
        if moment in changes:
            cleaned[moment] = _clean_moment(changes[moment], moment, errors)
    if "active" in changes:
        if isinstance(changes["active"], bool):
            cleaned["active"] = changes["active"]
        else:
            errors["active"] = ["Must be true or false."]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        locked = _locked_plan(target)
        _check_period(cleaned.get("start", locked.start), cleaned.get("expiration", locked.expiration), errors)
        if "seats" in cleaned:
            _change_seats(locked, cleaned["seats"], errors)
        if errors:
            raise InvalidInput(errors)
        changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
        for name in changed:
            setattr(locked, name, cleaned[name])
        if changed:
            locked.save(update_fields=[*changed, "modified"])
    return get_plan(locked.uuid)


def _change_seats(plan: SubscriptionPlan, seats: int, errors: dict[str, list[str]]) -> None:
    """Add or remove unassigned licenses so the (locked) plan keeps ``seats`` licenses that are not revoked."""
    counts = dict(
        License.objects.filter(plan=plan)
        .exclude(status=LicenseStatus.REVOKED)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    free = counts.get(LicenseStatus.UNASSIGNED, 0)
    in_use = sum(counts.get(status, 0) for status in SEAT_HOLDING_STATUSES)
    current = free + in_use
    if seats < in_use:
        errors["seats"] = [f"{in_use} seats are assigned or activated; the plan cannot have fewer seats."]
    elif seats > current:
        _add_free_licenses(plan.pk, seats - current)
    elif seats < current:
        # The last free licenses go (assignment takes the first ones); none that a row still refers to.
        surplus = list(
            License.objects.filter(plan=plan, status=LicenseStatus.UNASSIGNED)
            .exclude(pk__in=PendingEnrollment.objects.filter(license__plan=plan).values("license_id"))
            .exclude(pk__in=EnterpriseCourseEnrollment.objects.filter(license__plan=plan).values("license_id"))
            .order_by("-id")[: current - seats]
        )
        if len(surplus) < current - seats:
            errors["seats"] = ["Some free licenses are still referenced by enrollments; the plan cannot shrink so far."]
        else:
            delete_with_history(surplus)


def licenses_queryset(plan: PlanRef | None = None) -> QuerySet[License]:
    """Licenses, optionally of one plan, with plan and user joined."""
    queryset = License.objects.select_related("plan", "user")
    if plan is not None:
        queryset = queryset.filter(plan=get_plan(plan))
    return queryset


def get_license(license: LicenseRef) -> License:
    """The license with this uuid; raises NotFound (a malformed uuid too). An instance is returned as it is."""
    if isinstance(license, License):
        return license
    return one_by_uuid(licenses_queryset(), license, "license")


# --- assignment ----------------------------------------------------------------------------------


def _email_error(value: object) -> str | None:
    """Why ``value`` is not an email address, or None when it is one."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return "An email address is required."
    if len(text) > EMAIL_MAX_LENGTH:
        return f"An email address has at most {EMAIL_MAX_LENGTH} characters."
    try:
        validate_email(text)
    except ValidationError:
        return f"{text!r} is not a valid email address."
    return None


def _users_by_normalized_email(emails: Sequence[str]) -> dict[str, AbstractBaseUser]:
    """``{normalised email: user}`` for the emails that belong to an account (one query per batch)."""
    return identity_api.users_by_emails(emails)


def _refuse_unless_current(plan: SubscriptionPlan, now: datetime, *, allow_future: bool) -> None:
    """Raise InvalidInput (``plan``) for an inactive or expired plan, and one not started unless allowed."""
    if not plan.active:
        raise InvalidInput({"plan": [f"The plan {plan.title!r} is inactive."]})
    if now >= plan.expiration:
        raise InvalidInput({"plan": [f"The plan {plan.title!r} expired on {plan.expiration.isoformat()}."]})
    if not allow_future and now < plan.start:
        raise InvalidInput({"plan": [f"The plan {plan.title!r} starts on {plan.start.isoformat()}."]})


def assign_licenses(plan: PlanRef, emails: Iterable[str]) -> LicenseAssignResult:
    """Assign a free license to each email (de-duplicated ignoring case); emails holding one already are
    reported ``already_assigned``; malformed ones in ``errors``. All or nothing when there are fewer free
    seats than new emails: raises InvalidInput (``user_emails``) saying how many are free. Emails of
    existing accounts get the user set. The plan row is locked for the call, so concurrent calls never
    over-assign. Set-based.

    Licenses may be assigned before the plan starts, not once it expired or while it is inactive
    (InvalidInput on ``plan``). The emails assigned are linked as learners of the plan's customer.
    ``assigned`` and ``already_assigned`` hold normalised emails; ``errors`` is keyed by the email as given.
    """
    target = get_plan(plan)
    if isinstance(emails, str):
        raise InvalidInput({"user_emails": ["Give a list of email addresses, not a single string."]})
    errors: dict[str, str] = {}
    wanted: dict[str, str] = {}  # normalised email -> the first spelling given
    for value in emails:
        error = _email_error(value)
        if error is not None:
            errors[str(value)] = error
        else:
            wanted.setdefault(normalise_key(value), value.strip())
    if not wanted:
        return LicenseAssignResult(errors=errors)
    now = timezone.now()
    with transaction.atomic():
        locked = _locked_plan(target)
        _refuse_unless_current(locked, now, allow_future=True)
        users = _users_by_normalized_email(list(wanted.values()))
        holding = _emails_holding_a_seat(locked, list(wanted), users)
        new = [email for email in wanted if email not in holding]
        already = tuple(email for email in wanted if email in holding)
        if new:
            free = License.objects.filter(plan=locked, status=LicenseStatus.UNASSIGNED).count()
            if free < len(new):
                raise InvalidInput({"user_emails": [f"{free} licenses are free; {len(new)} emails need one."]})
            licenses = list(
                License.objects.filter(plan=locked, status=LicenseStatus.UNASSIGNED).order_by("id")[: len(new)]
            )
            for license, email in zip(licenses, new, strict=True):
                user = users.get(email)
                license.status = LicenseStatus.ASSIGNED
                license.user_email = wanted[email]
                license.user_email_normalized = email
                license.user_id = None if user is None else user.pk
                license.assigned_at = license.modified = now
            update_with_history(
                licenses,
                ["status", "user_email", "user_email_normalized", "user", "assigned_at", "modified"],
                history_date=now,
            )
            customers.link_learners(locked.customer, [wanted[email] for email in new])
    return LicenseAssignResult(assigned=tuple(new), already_assigned=already, errors=errors)


def _emails_holding_a_seat(plan: SubscriptionPlan, emails: list[str], users: dict[str, AbstractBaseUser]) -> set[str]:
    """Of these normalised emails, those with an assigned or activated license in the plan, by email or
    through their account (a learner whose email changed since). One query per batch."""
    email_by_user_id = {user.pk: email for email, user in users.items()}
    holding: set[str] = set()
    for batch in batches(emails):
        user_ids = [users[email].pk for email in batch if email in users]
        rows = License.objects.filter(
            Q(user_email_normalized__in=batch) | Q(user_id__in=user_ids), plan=plan, status__in=_SEAT_HOLDING
        ).values_list("user_email_normalized", "user_id")
        for email, user_id in rows:
            holding.add(email)
            if user_id in email_by_user_id:
                holding.add(email_by_user_id[user_id])
    return holding


# --- activation ----------------------------------------------------------------------------------


def activate_license(license: LicenseRef, user: AbstractBaseUser) -> License:
    """The learner activates a license assigned to their email (ignoring case) or to them: status
    activated, user set, and the user is linked to the plan's customer. Idempotent for an activated one.
    Raises InvalidInput for a revoked license, one assigned to someone else, or an expired/inactive plan."""
    target = get_license(license)
    now = timezone.now()
    with transaction.atomic():
        locked = License.objects.select_for_update().select_related("plan__customer").get(pk=target.pk)
        plan = locked.plan
        if locked.status == LicenseStatus.REVOKED:
            raise InvalidInput({"license": ["This license was revoked."]})
        if locked.status == LicenseStatus.UNASSIGNED:
            raise InvalidInput({"license": ["This license is not assigned to anyone."]})
        if locked.user_id is not None:
            is_theirs = locked.user_id == user.pk
        else:
            is_theirs = locked.user_email_normalized == normalise_key(getattr(user, "email", ""))
        if not is_theirs:
            raise InvalidInput({"license": ["This license is assigned to someone else."]})
        if locked.status == LicenseStatus.ACTIVATED:
            return locked
        _refuse_unless_current(plan, now, allow_future=False)
        other = License.objects.filter(plan=plan, user=user, status__in=_SEAT_HOLDING).exclude(pk=locked.pk).first()
        if other is not None:
            raise InvalidInput({"license": [f"You hold another license of this plan already ({other.uuid})."]})
        locked.status = LicenseStatus.ACTIVATED
        locked.user = user
        locked.activated_at = now
        locked.save()
        customers.link_user(plan.customer, user, activate=True)
    return locked


# --- revocation ----------------------------------------------------------------------------------


def revoke_license(license: LicenseRef) -> list[RevocationEffect]:
    """Revoke an assigned or activated license (one transaction): status revoked, a new unassigned license
    replaces the seat, and each enterprise enrollment it paid for is kept if completed, moved to audit if
    the run offers it, else unenrolled (and marked unenrolled). Returns the effects. InvalidInput if the
    license is unassigned or already revoked.

    Effects come in the order the enterprise enrollments were made; enrollments already inactive are
    reported ``already_inactive`` and left alone. Every row changed gets a history row.
    """
    target = get_license(license)
    now = timezone.now()
    with transaction.atomic():
        locked = License.objects.select_for_update().get(pk=target.pk)
        if locked.status == LicenseStatus.REVOKED:
            raise InvalidInput({"license": ["This license is revoked already."]})
        if locked.status == LicenseStatus.UNASSIGNED:
            raise InvalidInput({"license": ["This license is not assigned to anyone; there is nothing to revoke."]})
        locked.status = LicenseStatus.REVOKED
        locked.revoked_at = now
        locked.save()
        _add_free_licenses(locked.plan_id, 1)
        effects = _revoke_enrollments(locked, now)
    if isinstance(license, License):
        license.refresh_from_db()
    return effects


def _revoke_enrollments(license: License, now: datetime) -> list[RevocationEffect]:
    """Apply the revocation to the enterprise enrollments the license paid for (set-based)."""
    enterprise_enrollments = list(
        EnterpriseCourseEnrollment.objects.select_for_update(of=("self",))
        .filter(license=license)
        .annotate(
            learner_id=F("course_enrollment__user_id"),
            run_id=F("course_enrollment__course_run_id"),
            run_key=F("course_enrollment__course_run__course_key"),
        )
        .order_by("id")
    )
    if not enterprise_enrollments:
        return []
    pairs = [(row.learner_id, row.run_id) for row in enterprise_enrollments]
    states = enrollments_api.enrollment_states(pairs)
    completed = records_api.completed_pairs(pairs)
    modes_by_run = catalog_api.mode_slugs_by_run({run_id for _user_id, run_id in pairs})
    action_by_row: dict[int, str] = {}
    to_audit: dict[tuple[int, int], EnterpriseCourseEnrollment] = {}
    for row in enterprise_enrollments:
        pair = (row.learner_id, row.run_id)
        state = states.get(pair)
        if pair in completed:
            action_by_row[row.pk] = RevocationAction.KEPT_COMPLETED
        elif state is None or not state.is_active:
            action_by_row[row.pk] = RevocationAction.ALREADY_INACTIVE
        elif _offers_audit(modes_by_run[row.run_id]):
            to_audit[pair] = row
        else:
            action_by_row[row.pk] = RevocationAction.UNENROLLED
    if to_audit:
        results = enrollments_api.bulk_enroll(
            [
                EnrollRequest(user_id=user_id, course_key=str(row.run_key), mode=ModeSlug.AUDIT.value)
                for (user_id, _run_id), row in to_audit.items()
            ],
            skip_access_checks=True,
        )
        for row, result in zip(to_audit.values(), results, strict=True):
            # Should the move fail (it should not: audit is offered), the learner loses the access instead.
            moved = result.status.is_success
            action_by_row[row.pk] = RevocationAction.MOVED_TO_AUDIT if moved else RevocationAction.UNENROLLED
    leaving = [row for row in enterprise_enrollments if action_by_row[row.pk] == RevocationAction.UNENROLLED]
    if leaving:
        enrollments_api.bulk_unenroll(states[(row.learner_id, row.run_id)].uuid for row in leaving)
        for row in leaving:
            row.unenrolled = True
            row.unenrolled_at = row.modified = now
        update_with_history(leaving, ["unenrolled", "unenrolled_at", "modified"], history_date=now)
    return [
        RevocationEffect(
            course_run_key=str(row.run_key),
            course_enrollment_uuid=states[(row.learner_id, row.run_id)].uuid,
            action=action_by_row[row.pk],
        )
        for row in enterprise_enrollments
    ]


def _offers_audit(mode_slugs: set[str]) -> bool:
    # A run that lists no modes offers audit (the enrollments app's rule).
    return not mode_slugs or ModeSlug.AUDIT.value in mode_slugs


def revoke_licenses(plan: PlanRef, emails: Iterable[str]) -> dict[str, list[RevocationEffect] | str]:
    """Revoke the plan's license of each email: ``{email as given: effects or an error message}``.

    An email that is malformed, holds no assigned or activated license of the plan, or appears more than
    once in the call (ignoring case; every occurrence is reported) gets a message and changes nothing.
    Each revocation is its own transaction.
    """
    target = get_plan(plan)
    if isinstance(emails, str):
        raise InvalidInput({"user_emails": ["Give a list of email addresses, not a single string."]})
    given = list(emails)
    results: dict[str, list[RevocationEffect] | str] = {}
    counts: dict[str, int] = defaultdict(int)
    for value in given:
        if _email_error(value) is None:
            counts[normalise_key(value)] += 1
    licenses_by_email: dict[str, License] = {}
    for batch in batches(sorted(counts)):
        for found in License.objects.filter(plan=target, status__in=_SEAT_HOLDING, user_email_normalized__in=batch):
            licenses_by_email[found.user_email_normalized] = found
    for value in given:
        key = str(value)
        error = _email_error(value)
        if error is not None:
            results[key] = error
            continue
        email = normalise_key(value)
        if counts[email] > 1:
            results[key] = "duplicated: this email appears more than once in the request."
        elif email not in licenses_by_email:
            results[key] = "This email holds no assigned or activated license of the plan."
        else:
            results[key] = revoke_license(licenses_by_email[email])
    return results


# --- reading for enrollment ----------------------------------------------------------------------


def activated_licenses_by_user(
    customer: CustomerRef, user_ids: Iterable[int], *, at: datetime | None = None
) -> dict[int, list[License]]:
    """Activated licenses of current, active plans of the customer, per user, with ``plan`` and
    ``plan.catalog`` loaded. Set-based: one query per batch of users.

    A plan is current at ``at`` (default now) when ``start <= at < expiration``. Each user's licenses come
    latest-expiring plan first; users without one are absent.
    """
    owner_id = customers.get_customer(customer).pk
    moment = at or timezone.now()
    found: dict[int, list[License]] = defaultdict(list)
    for batch in batches(list(dict.fromkeys(int(user_id) for user_id in user_ids))):
        licenses = (
            License.objects.filter(
                user_id__in=batch,
                status=LicenseStatus.ACTIVATED,
                plan__customer_id=owner_id,
                plan__active=True,
                plan__start__lte=moment,
                plan__expiration__gt=moment,
            )
            .select_related("plan", "plan__catalog")
            .order_by("-plan__expiration", "id")
        )
        for found_license in licenses:
            found[found_license.user_id].append(found_license)
    return dict(found)
