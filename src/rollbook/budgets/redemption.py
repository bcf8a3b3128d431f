"""Redeeming a budget: what a content key costs, whether a learner may redeem it, and the redemption itself.

Public through ``rollbook.budgets.api``. ``redeem`` enrolls the learner, records the enterprise enrollment
and writes a committed transaction in one database transaction, holding the budget's row lock from the
first check to the commit: concurrent redemptions of one budget wait for each other instead of
overspending or being told to retry (upstream answered 429).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rollbook.budgets.data import AccessMethod, RedeemCheck, RedeemReason, TransactionState
from rollbook.budgets.models import Budget, Transaction
from rollbook.budgets.setup import BudgetRef, get_budget, is_active_now, lock_budget
from rollbook.budgets.totals import ledger_totals
from rollbook.catalog import api as catalog_api
from rollbook.core.errors import Conflict, InvalidInput
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api as enterprise_api
from rollbook.enterprise.data import EnrollmentSource

IDEMPOTENCY_KEY_MAX_LENGTH = 255


class RedemptionRefused(InvalidInput):
    """``redeem`` refused: ``reasons`` are the RedeemReasons in check order (field ``reasons`` on the wire);
    ``field_errors`` add details (e.g. why ``content_key`` cannot be redeemed)."""

    def __init__(
        self,
        reasons: Iterable[RedeemReason],
        message: str = "",
        *,
        field_errors: Mapping[str, list[str]] | None = None,
    ):
        self.reasons = tuple(reasons)
        super().__init__(
            {"reasons": [str(reason) for reason in self.reasons] or [message or "Refused."], **(field_errors or {})}
        )


@dataclass(frozen=True, slots=True)
class RedeemableContent:
    """A content key resolved for redemption: its canonical form, the run it enrolls in, and the run's paid
    mode (slug and list price in cents)."""

    content_key: str  # the run key as stored, or catalog-course:ORG:CODE for a course
    run: Any
    mode_slug: str
    price_cents: int


def resolve_redeemable(content_key: str) -> RedeemableContent:
    """Resolve ``content_key`` for redemption (see ``resolve_content``); InvalidInput (``content_key``)."""
    resolved = enterprise_api.resolve_content_key(content_key)
    if resolved.course_run_id is not None:
        run = catalog_api.course_runs_queryset().get(pk=resolved.course_run_id)
    else:
        run = catalog_api.advertised_run(catalog_api.get_catalog_course(pk=resolved.catalog_course_id))
        if run is None:
            raise InvalidInput({"content_key": [f"{resolved.content_key} advertises no run to enroll in now."]})
    mode = catalog_api.paid_mode(run)
    if mode is None:
        raise InvalidInput({"content_key": [f"{run.course_key} has no paid mode: there is nothing to pay for."]})
    return RedeemableContent(
        content_key=resolved.content_key, run=run, mode_slug=mode.slug, price_cents=mode.price_cents
    )


def resolve_content(content_key: str) -> tuple[object, int]:
    """The run a content key redeems (a run key: that run; a course key — ORG+CODE or catalog-course:ORG:CODE —
    its advertised run now) and its list price in cents (the run's paid mode). InvalidInput (``content_key``)
    when malformed, unknown, without a run or without a paid mode."""
    content = resolve_redeemable(content_key)
    return content.run, content.price_cents


def _clean_price(price_cents: int | None) -> None:
    if price_cents is not None and (
        isinstance(price_cents, bool) or not isinstance(price_cents, int) or price_cents < 0
    ):
        raise InvalidInput({"price_cents": [f"Give a whole number of cents, zero or more, not {price_cents!r}."]})


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The checks' outcome: reasons in order, the price used, and whether enrollment must skip the window."""

    reasons: tuple[RedeemReason, ...]
    price_cents: int | None
    late_enrollment: bool


def _late_redemption_open(budget: Budget, now: datetime) -> bool:
    until = budget.late_redemption_allowed_until
    return until is not None and now < until


def _deadline_reasons(budget: Budget, run: Any, now: datetime) -> tuple[list[RedeemReason], bool]:
    """(reasons, enroll without the window check): a run whose enrollment has not opened is not redeemable;
    one that ended, or whose enroll-by date passed, is beyond the deadline unless late redemption is open
    (an ended run stays beyond it: there is nothing left to take)."""
    if run.enrollment_start and now < run.enrollment_start:
        return [RedeemReason.CONTENT_NOT_REDEEMABLE], False
    if run.end and now >= run.end:
        return [RedeemReason.BEYOND_ENROLLMENT_DEADLINE], False
    enroll_by = catalog_api.enroll_by_date(run)
    past = (enroll_by is not None and now >= enroll_by) or not catalog_api.is_enrollable(run, now)
    if not past:
        return [], False
    if _late_redemption_open(budget, now):
        return [], True
    return [RedeemReason.BEYOND_ENROLLMENT_DEADLINE], False


def _verdict(
    budget: Budget,
    user: AbstractBaseUser,
    content_key: str,
    content: RedeemableContent | None,
    price_cents: int | None,
    for_assignment: bool,
    now: datetime,
) -> _Verdict:
    """Every check of ``can_redeem``, in the upstream order; a constant number of queries."""
    reasons: list[RedeemReason] = []
    late = False
    if not is_active_now(budget, now):
        reasons.append(RedeemReason.POLICY_EXPIRED)
    if not enterprise_api.is_linked_learner(budget.customer, user):
        reasons.append(RedeemReason.LEARNER_NOT_IN_ENTERPRISE)
    if not enterprise_api.contains(budget.catalog, [content_key]):
        reasons.append(RedeemReason.CONTENT_NOT_IN_CATALOG)
    if content is None:
        reasons.append(RedeemReason.CONTENT_NOT_REDEEMABLE)
    else:
        deadline_reasons, late = _deadline_reasons(budget, content.run, now)
        reasons.extend(deadline_reasons)
    price = price_cents if price_cents is not None else (content.price_cents if content else None)
    if price is not None:
        totals = ledger_totals(budget.pk, user.pk)
        if totals.spent_cents + price > budget.spend_limit_cents:
            reasons.append(RedeemReason.POLICY_SPEND_LIMIT_REACHED)
        enrollment_cap = budget.per_learner_enrollment_limit
        if enrollment_cap is not None and totals.learner_redemptions >= enrollment_cap:
            reasons.append(RedeemReason.LEARNER_MAX_ENROLLMENTS_REACHED)
        spend_cap = budget.per_learner_spend_limit_cents
        if spend_cap is not None and totals.learner_spent_cents + price > spend_cap:
            reasons.append(RedeemReason.LEARNER_MAX_SPEND_REACHED)
    if budget.access_method == AccessMethod.ASSIGNED and not for_assignment:
        reasons.append(RedeemReason.NOT_ASSIGNED)
    return _Verdict(tuple(dict.fromkeys(reasons)), price, late)


def _try_resolve(content_key: str) -> tuple[RedeemableContent | None, dict[str, list[str]]]:
    try:
        return resolve_redeemable(content_key), {}
    except InvalidInput as exc:
        return None, exc.errors


def can_redeem(
    budget: BudgetRef,
    user: AbstractBaseUser,
    content_key: str,
    *,
    price_cents: int | None = None,
    for_assignment: bool = False,
) -> RedeemCheck:
    """Whether ``user`` may redeem ``content_key`` now. ``reasons`` lists every check that fails, in the
    upstream order (the first decides): policy_expired (inactive, retired, not started or expired),
    learner_not_in_enterprise (not a linked learner of the budget's customer), content_not_in_catalog (the
    budget's catalog), content_not_redeemable (unknown or malformed key, no run, no paid mode, enrollment not
    open yet), beyond_enrollment_deadline (the enroll-by date passed, unless late redemption is open; a run
    that ended), policy_spend_limit_reached (spent + price > limit; equal is allowed),
    learner_max_enrollments_reached (redemptions ≥ the per-learner limit), learner_max_spend_reached (the
    learner's spend + price > their limit), and for an assigned budget ``reason_learner_not_assigned_content``
    unless ``for_assignment`` (the assignments app checks the assignment). ``price_cents`` overrides the list
    price (an assignment's price). Reads only, a constant number of queries; NotFound for an unknown budget,
    InvalidInput for a negative price."""
    _clean_price(price_cents)
    found = get_budget(budget)
    content, _errors = _try_resolve(content_key)
    verdict = _verdict(found, user, content_key, content, price_cents, for_assignment, timezone.now())
    return RedeemCheck(
        can_redeem=not verdict.reasons,
        content_key=content_key,
        price_cents=verdict.price_cents,
        reasons=verdict.reasons,
    )


def default_idempotency_key(budget: Budget, user_id: int, canonical_content_key: str) -> str:
    """sha256 of the budget, the learner, the content and the uuids of the learner's earlier failed or
    reversed transactions for it: a repeat of a standing redemption gets the same key, a new attempt after a
    failure or a refund a new one. One query."""
    earlier = (
        Transaction.objects.filter(budget=budget, learner_id=user_id, content_key=canonical_content_key)
        .filter(Q(state=TransactionState.FAILED) | Q(reversal__isnull=False))
        .order_by("id")
        .values_list("uuid", flat=True)
    )
    parts = [str(budget.uuid), str(user_id), canonical_content_key, *(str(value) for value in earlier)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _clean_idempotency_key(value: object) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidInput(
            {"idempotency_key": [f"Give a non-empty text of at most {IDEMPOTENCY_KEY_MAX_LENGTH} characters."]}
        )
    return text


def _standing(existing: Transaction, budget: Budget, user: AbstractBaseUser, content_key: str | None) -> Transaction:
    """The transaction already recorded under the key, if it is this redemption and still stands; else Conflict."""
    if (
        existing.budget_id != budget.pk
        or existing.learner_id != user.pk
        or (content_key is not None and existing.content_key != content_key)
    ):
        raise Conflict("This idempotency key belongs to another redemption.")
    if existing.state != TransactionState.COMMITTED or hasattr(existing, "reversal"):
        raise Conflict(f"This idempotency key belongs to a {_describe(existing)} transaction; use a new key.")
    return existing


def _describe(existing: Transaction) -> str:
    return "reversed" if hasattr(existing, "reversal") else str(existing.state)


def redeem(
    budget: BudgetRef,
    user: AbstractBaseUser,
    content_key: str,
    *,
    price_cents: int | None = None,
    for_assignment: bool = False,
    idempotency_key: str | None = None,
) -> Transaction:
    """Enroll the learner in the run's paid mode (an audit enrollment is upgraded; an enroll-by date passed
    during late redemption skips the window check), record the enterprise enrollment (source learner_credit,
    or assignment when ``for_assignment``) and a committed transaction of -price with history, all in one
    database transaction under the budget's row lock. Idempotent: a committed, non-reversed transaction
    with the same key is returned unchanged (no second charge, no second enrollment); the default key is
    ``default_idempotency_key``. Raises RedemptionRefused with the reasons of ``can_redeem``; Conflict for
    a key of another redemption or of a failed or reversed transaction; InvalidInput when the enrollments
    app refuses (nothing is written then); NotFound for an unknown budget."""
    _clean_price(price_cents)
    explicit_key = _clean_idempotency_key(idempotency_key)
    with transaction.atomic():
        locked = lock_budget(budget)
        content, content_errors = _try_resolve(content_key)
        canonical = content.content_key if content is not None else None
        key = explicit_key
        if key is None and canonical is not None:
            key = default_idempotency_key(locked, user.pk, canonical)
        if key is not None:
            existing = Transaction.objects.select_related("reversal").filter(idempotency_key=key).first()
            if existing is not None:
                return _standing(existing, locked, user, canonical)
        now = timezone.now()
        verdict = _verdict(locked, user, content_key, content, price_cents, for_assignment, now)
        if verdict.reasons:
            raise RedemptionRefused(verdict.reasons, field_errors=content_errors)
        assert content is not None and key is not None and verdict.price_cents is not None  # no reasons: resolved
        run = content.run
        enrollments_api.enroll_with_outcome(
            user, str(run.course_key), mode=content.mode_slug, skip_access_checks=verdict.late_enrollment
        )
        course_enrollment = enrollments_api.enrollment_states([(user.pk, run.pk)])[(user.pk, run.pk)]
        customer_user = enterprise_api.customer_user_for(locked.customer, user)
        source = EnrollmentSource.ASSIGNMENT if for_assignment else EnrollmentSource.LEARNER_CREDIT
        enterprise_ids = enterprise_api.upsert_enterprise_enrollments(
            [enterprise_api.EnterpriseEnrollmentWrite(customer_user.pk, course_enrollment.id, source)]
        )
        return Transaction.objects.create(
            budget=locked,
            idempotency_key=key,
            amount_cents=-verdict.price_cents,
            learner=user,
            content_key=canonical,
            course_run=run,
            course_enrollment_id=course_enrollment.id,
            enterprise_enrollment_id=enterprise_ids[(customer_user.pk, course_enrollment.id)],
            state=TransactionState.COMMITTED,
        )
