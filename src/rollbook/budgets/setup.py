"""Setting budgets up: creating, changing, finding and locking them.

Public through ``rollbook.budgets.api``. Bad input raises ``InvalidInput`` with field errors (every problem
at once); a missing budget ``NotFound``. The model's check constraints hold the same rules, so nothing
half-valid reaches the table even from code that bypasses these functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rollbook.budgets import signals
from rollbook.budgets.data import AccessMethod
from rollbook.budgets.models import Budget
from rollbook.budgets.totals import ledger_totals
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.lookup import one_by_uuid
from rollbook.core.normalise import parse_uuid
from rollbook.enterprise import api as enterprise_api

BudgetRef = Budget | uuid.UUID | str

TITLE_MAX_LENGTH = 255
# What update_budget may change; access method, customer and catalog are fixed at creation.
CHANGEABLE_FIELDS = (
    "title",
    "spend_limit_cents",
    "per_learner_spend_limit_cents",
    "per_learner_enrollment_limit",
    "start",
    "expiration",
    "late_redemption_allowed_until",
    "active",
    "retired",
)


def budgets_queryset(customer: object | None = None) -> QuerySet[Budget]:
    """Budgets, optionally of one customer (an EnterpriseCustomer, uuid or slug), with customer and catalog joined.
    NotFound for an unknown customer."""
    queryset = Budget.objects.select_related("customer", "catalog")
    if customer is not None:
        queryset = queryset.filter(customer=enterprise_api.get_customer(customer))
    return queryset


def get_budget(budget: BudgetRef) -> Budget:
    """The budget with this uuid (an instance is returned as it is); NotFound otherwise (malformed too)."""
    if isinstance(budget, Budget):
        return budget
    return one_by_uuid(budgets_queryset(), budget, "budget")


def lock_budget(budget: BudgetRef) -> Budget:
    """Lock the budget's row until the current transaction ends and return it fresh (customer and catalog
    joined, not locked). Must be called inside ``transaction.atomic``; every spending write takes this lock
    first, so concurrent spenders of one budget wait for each other. NotFound for an unknown budget."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_budget must be called inside transaction.atomic().")
    if isinstance(budget, Budget):
        lookup: dict[str, Any] = {"pk": budget.pk}
    else:
        wanted = parse_uuid(budget)
        if wanted is None:
            raise NotFound(f"No budget has the uuid {budget}.")
        lookup = {"uuid": wanted}
    found = budgets_queryset().select_for_update(of=("self",)).filter(**lookup).first()
    if found is None:
        raise NotFound(f"No budget has the uuid {budget}.")
    return found


def is_active_now(budget: BudgetRef, at: datetime | None = None) -> bool:
    """Active, not retired, and ``start <= at < expiration`` (``at`` defaults to now)."""
    found = get_budget(budget)
    moment = at or timezone.now()
    return found.active and not found.retired and found.start <= moment < found.expiration


# --- validation ----------------------------------------------------------------------------------


def _clean_title(value: object, errors: dict[str, list[str]]) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        errors["title"] = ["A title is required."]
        return None
    if len(text) > TITLE_MAX_LENGTH:
        errors["title"] = [f"A title has at most {TITLE_MAX_LENGTH} characters."]
        return None
    return text


def _clean_cents(field: str, value: object, errors: dict[str, list[str]], *, optional: bool) -> int | None:
    """A positive whole number (of cents or enrollments); None allowed when ``optional``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        errors[field] = [f"Give a positive whole number, not {value!r}."]
        return None
    return value


def _clean_moment(field: str, value: object, errors: dict[str, list[str]], *, optional: bool) -> datetime | None:
    """A timezone-aware datetime (or its ISO 8601 text); None allowed when ``optional``."""
    if value is None and optional:
        return None
    moment = value
    if isinstance(value, str):
        try:
            moment = parse_datetime(value.strip())
        except ValueError:  # well formed but impossible, like month 13
            moment = None
    if not isinstance(moment, datetime):
        errors[field] = [f"Give a date and time (ISO 8601 with a time zone), not {value!r}."]
        return None
    if timezone.is_naive(moment):
        errors[field] = ["Give the time zone of the date and time."]
        return None
    return moment


def _clean_flag(field: str, value: object, errors: dict[str, list[str]]) -> bool | None:
    if not isinstance(value, bool):
        errors[field] = [f"Give true or false, not {value!r}."]
        return None
    return value


def _clean_values(values: Mapping[str, object], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Clean the budget fields present in ``values`` (each on its own); problems go to ``errors``."""
    cleaners = {
        "title": lambda value: _clean_title(value, errors),
        "spend_limit_cents": lambda value: _clean_cents("spend_limit_cents", value, errors, optional=False),
        "per_learner_spend_limit_cents": lambda value: _clean_cents(
            "per_learner_spend_limit_cents", value, errors, optional=True
        ),
        "per_learner_enrollment_limit": lambda value: _clean_cents(
            "per_learner_enrollment_limit", value, errors, optional=True
        ),
        "start": lambda value: _clean_moment("start", value, errors, optional=False),
        "expiration": lambda value: _clean_moment("expiration", value, errors, optional=False),
        "late_redemption_allowed_until": lambda value: _clean_moment(
            "late_redemption_allowed_until", value, errors, optional=True
        ),
        "active": lambda value: _clean_flag("active", value, errors),
        "retired": lambda value: _clean_flag("retired", value, errors),
    }
    return {name: cleaners[name](value) for name, value in values.items()}


def _check_together(fields: Mapping[str, Any], access_method: str, errors: dict[str, list[str]]) -> None:
    """The rules between fields (only where each field involved is itself valid)."""
    start, expiration = fields.get("start"), fields.get("expiration")
    if start is not None and expiration is not None and expiration <= start and "expiration" not in errors:
        errors["expiration"] = ["The expiration must come after the start."]
    spend_cap = fields.get("per_learner_spend_limit_cents")
    enrollment_cap = fields.get("per_learner_enrollment_limit")
    if access_method == AccessMethod.ASSIGNED:
        for name, value in (
            ("per_learner_spend_limit_cents", spend_cap),
            ("per_learner_enrollment_limit", enrollment_cap),
        ):
            if value is not None:
                errors.setdefault(name, []).append("An assigned budget has no per-learner limits.")
    elif spend_cap is not None and enrollment_cap is not None:
        errors.setdefault("per_learner_enrollment_limit", []).append(
            "Give a per-learner spend limit or a per-learner enrollment limit, not both."
        )


# --- writing -------------------------------------------------------------------------------------


def create_budget(
    customer: object,
    *,
    catalog: object,
    title: str,
    spend_limit_cents: int,
    start: datetime,
    expiration: datetime,
    access_method: str = "direct",
    per_learner_spend_limit_cents: int | None = None,
    per_learner_enrollment_limit: int | None = None,
    late_redemption_allowed_until: datetime | None = None,
    active: bool = True,
    budget_uuid: uuid.UUID | None = None,
) -> Budget:
    """Create a budget. NotFound for an unknown customer; InvalidInput with field errors (all at once):
    title (required, at most 255 characters), limits (positive whole numbers), dates (aware, expiration after
    start), access_method (direct or assigned), the catalog (must exist and be the customer's), the upstream
    exclusivity rules (per-learner spend XOR enrollment limit; an assigned budget has neither) and uuid
    (malformed or taken). Sends ``signals.budget_created`` inside the transaction (the assignments app
    creates the configuration of an assigned budget): a receiver's error undoes the creation."""
    owner = enterprise_api.get_customer(customer)
    errors: dict[str, list[str]] = {}
    fields = _clean_values(
        {
            "title": title,
            "spend_limit_cents": spend_limit_cents,
            "per_learner_spend_limit_cents": per_learner_spend_limit_cents,
            "per_learner_enrollment_limit": per_learner_enrollment_limit,
            "start": start,
            "expiration": expiration,
            "late_redemption_allowed_until": late_redemption_allowed_until,
            "active": active,
        },
        errors,
    )
    methods = [method.value for method in AccessMethod]
    if access_method not in methods:
        errors["access_method"] = [f"{access_method!r} is not one of {', '.join(methods)}."]
    owned_catalog = None
    try:
        owned_catalog = enterprise_api.get_catalog(catalog)
    except NotFound:
        errors["catalog"] = [f"No enterprise catalog {catalog}."]
    else:
        if owned_catalog.customer_id != owner.pk:
            errors["catalog"] = [f"The catalog {owned_catalog.title!r} is not a catalog of {owner.name}."]
    new_uuid = None
    if budget_uuid is not None:
        new_uuid = parse_uuid(budget_uuid)
        if new_uuid is None:
            errors["uuid"] = [f"{budget_uuid!r} is not a UUID."]
        elif Budget.objects.filter(uuid=new_uuid).exists():
            errors["uuid"] = [f"A budget with the uuid {new_uuid} exists already."]
    _check_together(fields, str(access_method), errors)
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            budget = Budget.objects.create(
                customer=owner,
                catalog=owned_catalog,
                access_method=str(access_method),
                **fields,
                **({"uuid": new_uuid} if new_uuid else {}),
            )
            signals.budget_created.send(sender=Budget, budget_id=budget.pk)
    except IntegrityError:  # the uuid was taken concurrently
        raise InvalidInput({"uuid": [f"A budget with the uuid {new_uuid} exists already."]}) from None
    return budget


def update_budget(budget: BudgetRef, **changes: object) -> Budget:
    """Change title, spend limit, per-learner limits, dates, late redemption, active or retired (same rules
    as create; access_method, customer and catalog cannot change, and unknown fields are refused). A spend
    limit below what is spent is refused (checked under the budget's lock, so a concurrent redemption cannot
    slip in between). All or nothing; the history records the change. NotFound for an unknown budget."""
    errors: dict[str, list[str]] = {}
    for name in changes:
        if name not in CHANGEABLE_FIELDS:
            errors[name] = [f"{name} cannot be changed; changeable: {', '.join(CHANGEABLE_FIELDS)}."]
    cleaned = _clean_values({name: value for name, value in changes.items() if name in CHANGEABLE_FIELDS}, errors)
    get_budget(budget)  # NotFound before anything else is said about the changes
    with transaction.atomic():
        target = lock_budget(budget)
        merged = {name: getattr(target, name) for name in CHANGEABLE_FIELDS} | {
            name: value for name, value in cleaned.items() if name not in errors
        }
        _check_together(merged, target.access_method, errors)
        limit = cleaned.get("spend_limit_cents")
        if limit is not None and "spend_limit_cents" not in errors:
            spent = ledger_totals(target.pk).spent_cents
            if limit < spent:
                errors["spend_limit_cents"] = [f"{spent} cents are spent already; the limit cannot be lower."]
        if errors:
            raise InvalidInput(errors)
        changed = [name for name, value in cleaned.items() if getattr(target, name) != value]
        if changed:
            for name in changed:
                setattr(target, name, cleaned[name])
            target.save(update_fields=[*changed, "modified"])
    return target
