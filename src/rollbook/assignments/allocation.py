"""Allocating content to learners within an assigned budget, and the budget's allocated total.

Public through ``rollbook.assignments.api``. ``allocate`` holds the budget's row lock
(``budgets.api.lock_budget``) from its checks to its commit, as redemptions do, so allocations and
redemptions of one budget wait for each other and together never exceed its limit: after every commit,
spent (the ledger) + allocated (this app's allocated rows) ≤ the spend limit.

Upstream quirks fixed (reference §3, §7): a re-allocated assignment gets a clean slate (accepted_at,
reversed_at, the transaction and every old date cleared); an allocated assignment asked again is left
alone — its price kept, no second email — even when its advertised run changed; only the rows that will
really be (re)allocated count against the limit; emails match ignoring case everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from rollbook.assignments import records
from rollbook.assignments.data import (
    PRICE_LOWER_RATIO,
    PRICE_UPPER_RATIO,
    REALLOCATABLE_STATES,
    ActionType,
    AllocationResult,
    AssignmentState,
)
from rollbook.assignments.models import EMAIL_MAX_LENGTH, AssignmentConfiguration, LearnerContentAssignment
from rollbook.budgets import api as budgets_api
from rollbook.budgets.data import AccessMethod, RedeemReason
from rollbook.core.bulk import batches, insert_with_history, update_with_history
from rollbook.core.errors import Conflict, InvalidInput
from rollbook.core.normalise import normalise_key
from rollbook.enterprise import api as enterprise_api
from rollbook.identity import api as identity_api

PRICE_OUT_OF_RANGE = "price_out_of_range"

# The fields an allocation writes on an existing row (re-allocation writes all of them; a row left alone
# may still get its user, its email spelling or its refreshed run).
_WRITTEN_FIELDS = [
    "learner_email",
    "learner_email_normalized",
    "user",
    "parent_content_key",
    "is_assigned_course_run",
    "content_title",
    "content_quantity",
    "preferred_course_run_key",
    "state",
    "allocated_at",
    "accepted_at",
    "cancelled_at",
    "expired_at",
    "expiry_reason",
    "errored_at",
    "reversed_at",
    "transaction",
    "allocation_batch_id",
    "admin_user",
    "modified",
]


class AllocationRefused(InvalidInput):
    """``allocate`` refused as a whole: ``reasons`` (price_out_of_range, policy_expired, content_not_in_catalog,
    policy_spend_limit_reached), first the deciding one; the field ``detail`` says why in words. (Upstream's
    not_enough_value_in_subsidy cannot happen here: a budget is its own subsidy, so its limit decides.)"""

    def __init__(self, reasons: Iterable[str], message: str):
        self.reasons = tuple(str(reason) for reason in reasons)
        super().__init__({"reasons": list(self.reasons), "detail": [message]})


# --- configurations --------------------------------------------------------------------------------


def ensure_configuration(budget: object) -> AssignmentConfiguration:
    """The assignment configuration of an assigned budget (a Budget or its uuid), created if missing (a
    deactivated one is returned as it is). InvalidInput (``budget``) for a direct-access budget; NotFound
    for an unknown one."""
    found = budgets_api.get_budget(budget)
    if found.access_method != AccessMethod.ASSIGNED:
        raise InvalidInput({"budget": [f"{found.title!r} is a direct-access budget: nothing is assigned from it."]})
    configuration, _created = AssignmentConfiguration.objects.get_or_create(
        budget=found, defaults={"customer_id": found.customer_id}
    )
    return configuration


def _active_configuration(budget: Any) -> AssignmentConfiguration:
    configuration = ensure_configuration(budget)
    if not configuration.active:
        raise InvalidInput({"budget": [f"The assignment configuration of {budget.title!r} is deactivated."]})
    return configuration


# --- the allocated total -----------------------------------------------------------------------------


def allocated_cents(budget: object) -> int:
    """The sum of the prices of the budget's allocated assignments (positive cents; one query for a Budget)."""
    found = budgets_api.get_budget(budget)
    total = LearnerContentAssignment.objects.filter(
        configuration__budget_id=found.pk, state=AssignmentState.ALLOCATED
    ).aggregate(total=Sum("content_quantity"))["total"]
    return -(total or 0)


# --- input -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Email:
    given: str  # trimmed, as the administrator typed it
    normalized: str


def _clean_emails(emails: Iterable[str]) -> list[_Email]:
    """The valid emails, de-duplicated ignoring case (the first spelling wins); InvalidInput
    (``learner_emails``) listing every invalid one, or when none is given."""
    if isinstance(emails, (str, bytes)) or not isinstance(emails, Iterable):
        raise InvalidInput({"learner_emails": ["Give a list of email addresses."]})
    cleaned: dict[str, _Email] = {}
    invalid: list[str] = []
    for value in emails:
        text = value.strip() if isinstance(value, str) else ""
        try:
            if not text or len(text) > EMAIL_MAX_LENGTH:
                raise ValidationError("bad length")
            validate_email(text)
        except ValidationError:
            invalid.append(repr(value))
            continue
        cleaned.setdefault(normalise_key(text), _Email(text, normalise_key(text)))
    if invalid:
        shown = ", ".join(invalid[:50]) + (f" and {len(invalid) - 50} more" if len(invalid) > 50 else "")
        raise InvalidInput({"learner_emails": [f"Not valid email addresses: {shown}."]})
    if not cleaned:
        raise InvalidInput({"learner_emails": ["Give at least one email address."]})
    return list(cleaned.values())


def _clean_price(price_cents: object) -> int:
    if isinstance(price_cents, bool) or not isinstance(price_cents, int) or price_cents < 0:
        raise InvalidInput({"price_cents": [f"Give a whole number of cents, zero or more, not {price_cents!r}."]})
    return price_cents


@dataclass(frozen=True, slots=True)
class _Content:
    """What is being assigned, in the form stored on assignments."""

    given_key: str
    content_key: str  # a run key, or a course as ORG+CODE
    parent_content_key: str | None  # the run's course (ORG+CODE), for run assignments only
    is_run: bool
    title: str
    preferred_run_key: str  # the run a redemption would enroll in now
    list_price_cents: int


def course_content_key(catalog_course_key: str) -> str:
    """``catalog-course:ORG:CODE`` as the ``ORG+CODE`` form assignments store."""
    _prefix, org, code = catalog_course_key.split(":", 2)
    return f"{org}+{code}"


def _describe_content(content_key: object) -> _Content:
    """The content of ``content_key``; InvalidInput (``content_key``) when malformed, unknown, without a run
    to enroll in or without a paid mode."""
    if not isinstance(content_key, str) or not content_key.strip():
        raise InvalidInput({"content_key": ["A content key (a course or a course run) is required."]})
    key = content_key.strip()
    resolved = enterprise_api.resolve_content_key(key)
    run, list_price = budgets_api.resolve_content(key)
    is_run = resolved.course_run_id is not None
    course_key = course_content_key(resolved.course_key)
    return _Content(
        given_key=key,
        content_key=resolved.content_key if is_run else course_key,
        parent_content_key=course_key if is_run else None,
        is_run=is_run,
        title=(run.catalog_course.title or "")[:255],
        preferred_run_key=str(run.course_key),
        list_price_cents=list_price,
    )


def _price_in_range(price_cents: int, list_price_cents: int) -> bool:
    """Within 0.95 to 1.05 of the list price, ends included (compared in whole numbers, no float rounding)."""
    lower, upper = round(PRICE_LOWER_RATIO * 100), round(PRICE_UPPER_RATIO * 100)
    return list_price_cents * lower <= price_cents * 100 <= list_price_cents * upper


def _refusals(budget: Any, content: _Content, price_cents: int) -> list[str]:
    """The reasons to refuse the whole allocation before counting money, in the upstream order."""
    reasons: list[str] = []
    if not _price_in_range(price_cents, content.list_price_cents):
        reasons.append(PRICE_OUT_OF_RANGE)
    if not budgets_api.is_active_now(budget):
        reasons.append(RedeemReason.POLICY_EXPIRED.value)
    if not enterprise_api.contains(budget.catalog, [content.given_key]):
        reasons.append(RedeemReason.CONTENT_NOT_IN_CATALOG.value)
    return reasons


_MESSAGES = {
    PRICE_OUT_OF_RANGE: "The price must be within 5% of the content's list price ({list_price} cents).",
    RedeemReason.POLICY_EXPIRED.value: "The budget is not active now.",
    RedeemReason.CONTENT_NOT_IN_CATALOG.value: "The content is not in the budget's catalog.",
}


# --- planning: which rows are created, re-allocated or left alone ------------------------------------


@dataclass
class _Plan:
    new: list[tuple[_Email, Any]] = field(default_factory=list)  # (email, user or None)
    reallocated: list[LearnerContentAssignment] = field(default_factory=list)
    untouched: list[LearnerContentAssignment] = field(default_factory=list)  # allocated or accepted
    linked: list[LearnerContentAssignment] = field(default_factory=list)  # rows given their user now
    order: list[tuple[str, Any]] = field(default_factory=list)  # ("new", index) or ("row", row), request order


def _existing_rows(
    configuration: AssignmentConfiguration, content_key: str, batch: Sequence[_Email], users: dict[str, Any]
) -> list[LearnerContentAssignment]:
    """The configuration's rows of this exact content for these emails or their users, locked."""
    user_ids = sorted({users[email.normalized].pk for email in batch if email.normalized in users})
    match = Q(learner_email_normalized__in=[email.normalized for email in batch])
    if user_ids:
        match |= Q(user_id__in=user_ids)
    return list(
        records.locked_assignments(
            LearnerContentAssignment.objects.filter(configuration=configuration, content_key=content_key).filter(match)
        )
    )


def _plan(configuration: AssignmentConfiguration, content: _Content, emails: list[_Email]) -> _Plan:
    """Classify every email against the existing rows: one query for users and one for rows per batch."""
    users = identity_api.users_by_emails([email.normalized for email in emails])
    plan = _Plan()
    seen_rows: set[int] = set()
    for batch in batches(emails):
        rows = _existing_rows(configuration, content.content_key, batch, users)
        by_email = {row.learner_email_normalized: row for row in rows}
        by_user = {row.user_id: row for row in rows if row.user_id is not None}
        for email in batch:
            user = users.get(email.normalized)
            by_its_user = by_user.get(user.pk) if user is not None else None
            by_its_email = by_email.get(email.normalized)
            row = by_its_user or by_its_email
            if row is None:
                plan.order.append(("new", len(plan.new)))
                plan.new.append((email, user))
                continue
            plan.order.append(("row", row))
            if row.pk in seen_rows:  # two emails of the request reach one row (an email and its account's)
                continue
            seen_rows.add(row.pk)
            # Another row holds this email (not linked to the account): leave the email of this one alone.
            email_free = by_its_email is None or by_its_email is row
            _classify(plan, row, email, user, email_free)
    return plan


def _classify(plan: _Plan, row: LearnerContentAssignment, email: _Email, user: Any, email_free: bool) -> None:
    if row.user_id is None and user is not None:
        row.user = user
        plan.linked.append(row)
    if row.state in REALLOCATABLE_STATES:
        if email_free:
            row.learner_email, row.learner_email_normalized = email.given, email.normalized
        plan.reallocated.append(row)
        return
    plan.untouched.append(row)


def _refresh_run(row: LearnerContentAssignment, content: _Content) -> bool:
    """Give an allocated row the run a redemption would use now (silently: no email); True if it changed."""
    fresh = {
        "preferred_course_run_key": content.preferred_run_key,
        "parent_content_key": content.parent_content_key,
        "content_title": content.title,
    }
    changed = False
    for name, value in fresh.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


# --- allocate ----------------------------------------------------------------------------------------


def allocate(
    budget: object, emails: Iterable[str], content_key: str, price_cents: int, admin: AbstractBaseUser | None = None
) -> AllocationResult:
    """Assign ``content_key`` at ``price_cents`` to each email, within the assigned ``budget`` (a Budget or
    its uuid), for the administrator ``admin``. Returns the uuids created, updated (re-allocated) and left
    alone (no_change), in the order of the request.

    - Emails are trimmed, validated and de-duplicated ignoring case (InvalidInput ``learner_emails`` listing
      the invalid ones; nothing is written). Accounts are found by email ignoring case; an existing
      assignment of the exact content matches by email or by account, and gets the account if it had none.
    - Cancelled, errored, expired and reversed assignments are re-allocated: allocated now, at the new price,
      in this call's batch, with accepted/cancelled/expired/errored/reversed dates, the expiry reason and the
      transaction cleared. Allocated ones keep their price and get no second email (their preferred run is
      refreshed quietly); accepted ones are untouched.
    - Refused as a whole (AllocationRefused, nothing written) for: a price outside 0.95 to 1.05 of the list price
      of the run the content redeems (``price_out_of_range``), a budget not active now (``policy_expired``),
      content outside the budget's catalog (``content_not_in_catalog``), and, counting only the rows to
      (re)allocate, spent + allocated + their cost above the limit (``policy_spend_limit_reached``; equal
      is allowed). InvalidInput for a direct budget, a bad price or content key; NotFound for an unknown budget.
    - Under the budget's row lock, in one transaction; set-based (a constant number of statements per batch of
      ``ROLLBOOK_BULK_BATCH_SIZE`` emails, with history rows). Notification emails for the created and
      re-allocated rows are queued for after the commit.
    """
    requested = _clean_emails(emails)
    price = _clean_price(price_cents)
    found = budgets_api.get_budget(budget)
    configuration = _active_configuration(found)
    content = _describe_content(content_key)
    try:
        with transaction.atomic():
            locked = budgets_api.lock_budget(found)
            return _allocate_locked(locked, configuration, content, requested, price, admin)
    except IntegrityError:  # a learner linked concurrently (linking takes no budget lock)
        raise Conflict("These assignments changed while allocating; try again.") from None


def _allocate_locked(
    budget: Any,
    configuration: AssignmentConfiguration,
    content: _Content,
    requested: list[_Email],
    price: int,
    admin: AbstractBaseUser | None,
) -> AllocationResult:
    reasons = _refusals(budget, content, price)
    if reasons:
        message = _MESSAGES[reasons[0]].format(list_price=content.list_price_cents)
        raise AllocationRefused(reasons, message)
    plan = _plan(configuration, content, requested)
    cost = price * (len(plan.new) + len(plan.reallocated))
    spent = budgets_api.spend(budget).spent_cents
    held = allocated_cents(budget)
    if cost and spent + held + cost > budget.spend_limit_cents:
        raise AllocationRefused(
            [RedeemReason.POLICY_SPEND_LIMIT_REACHED.value],
            f"{len(plan.new) + len(plan.reallocated)} assignment(s) at {price} cents cost {cost} cents; "
            f"{spent} are spent and {held} allocated of the limit of {budget.spend_limit_cents}.",
        )
    now = timezone.now()
    batch_id = uuid.uuid4()
    new_ids, new_uuids = _insert_new(configuration, content, plan.new, price, batch_id, admin, now)
    for row in plan.reallocated:
        _reallocate(row, content, price, batch_id, admin, now)
    linked_ids = {row.pk for row in plan.linked}
    refreshed = [
        row
        for row in plan.untouched
        # evaluated for every allocated row (no short-circuit before the refresh)
        if (row.state == AssignmentState.ALLOCATED and _refresh_run(row, content)) | (row.pk in linked_ids)
    ]
    changed = plan.reallocated + refreshed
    for row in changed:
        row.modified = now
    update_with_history(changed, _WRITTEN_FIELDS, history_user=admin, history_date=now)
    records.record_actions(
        [records.ActionRow(row.pk, ActionType.LEARNER_LINKED) for row in plan.linked], now, history_user=admin
    )
    records.queue_emails("notify", [*new_ids, *(row.pk for row in plan.reallocated)])
    return _result(plan, new_uuids)


def _insert_new(
    configuration: AssignmentConfiguration,
    content: _Content,
    new: list[tuple[_Email, Any]],
    price: int,
    batch_id: uuid.UUID,
    admin: AbstractBaseUser | None,
    now: Any,
) -> tuple[list[int], list[uuid.UUID]]:
    uuids = [uuid.uuid4() for _ in new]
    rows = [
        {
            "uuid": row_uuid,
            "configuration_id": configuration.pk,
            "learner_email": email.given,
            "learner_email_normalized": email.normalized,
            "user_id": user.pk if user is not None else None,
            "content_key": content.content_key,
            "parent_content_key": content.parent_content_key,
            "is_assigned_course_run": content.is_run,
            "content_title": content.title,
            "content_quantity": -price,
            "preferred_course_run_key": content.preferred_run_key,
            "state": AssignmentState.ALLOCATED.value,
            "allocated_at": now,
            "allocation_batch_id": batch_id,
            "admin_user_id": admin.pk if admin is not None else None,
            "created": now,
            "modified": now,
        }
        for row_uuid, (email, user) in zip(uuids, new, strict=True)
    ]
    ids = insert_with_history(LearnerContentAssignment, rows, history_user=admin, history_date=now)
    return ids, uuids


def _reallocate(
    row: LearnerContentAssignment,
    content: _Content,
    price: int,
    batch_id: uuid.UUID,
    admin: AbstractBaseUser | None,
    now: Any,
) -> None:
    """A clean slate: allocated now at the new price, every trace of the previous round cleared."""
    row.state = AssignmentState.ALLOCATED.value
    row.content_quantity = -price
    row.allocation_batch_id = batch_id
    row.allocated_at = now
    row.accepted_at = row.cancelled_at = row.expired_at = row.errored_at = row.reversed_at = None
    row.expiry_reason = None
    row.transaction = None
    row.admin_user = admin
    row.parent_content_key = content.parent_content_key
    row.is_assigned_course_run = content.is_run
    row.content_title = content.title
    row.preferred_course_run_key = content.preferred_run_key


def _result(plan: _Plan, new_uuids: list[uuid.UUID]) -> AllocationResult:
    reallocated = {row.pk for row in plan.reallocated}
    created: list[uuid.UUID] = []
    updated: list[uuid.UUID] = []
    no_change: list[uuid.UUID] = []
    for kind, item in plan.order:
        if kind == "new":
            created.append(new_uuids[item])
        elif item.pk in reallocated:
            updated.append(item.uuid)
        else:
            no_change.append(item.uuid)
    return AllocationResult(
        created=tuple(dict.fromkeys(created)),
        updated=tuple(dict.fromkeys(updated)),
        no_change=tuple(dict.fromkeys(no_change)),
    )
