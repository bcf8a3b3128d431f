"""What the assignment and policy views share: who may reach a configuration or a budget, query and body
parsing, the page-number pagination of the enterprise-access lists, and the ``reasons`` items of refusals.

Tenant isolation (as in ``rollbook.enterprise.rest.permissions``): a configuration or budget is addressed by
its own uuid, so a caller who is neither an operator, an administrator nor a linked learner of its customer
gets a 404 (its existence is not revealed); a learner of the customer asking for an administrator's
operation gets a 403. A customer named in the path or query that the caller may not read is a 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError

from rollbook.assignments import api
from rollbook.assignments.models import AssignmentConfiguration
from rollbook.assignments.rest.serializers import AssignmentUuidsSerializer
from rollbook.budgets import api as budgets_api
from rollbook.budgets.models import Budget
from rollbook.core import api as core_api
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.normalise import parse_uuid
from rollbook.core.pagination import PageNumberPagination
from rollbook.enterprise.rest.permissions import is_learner_of, may_administer
from rollbook.identity import api as identity_api

# --- OpenAPI pieces ------------------------------------------------------------------------------------

BAD_REQUEST = OpenApiResponse(description="Malformed input; the body maps each field to its errors.")
NOT_AUTHENTICATED = OpenApiResponse(description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(description="The caller may not do this for this enterprise customer.")
CONFIGURATION_NOT_FOUND = OpenApiResponse(description="No such assignment configuration visible to the caller.")
BUDGET_NOT_FOUND = OpenApiResponse(description="No such budget (policy) visible to the caller.")
TOO_LARGE = OpenApiResponse(description="More items than ROLLBOOK_BULK_MAX_ITEMS.")

CONFIGURATION_PATH = OpenApiParameter(
    "configuration_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The assignment configuration."
)
ASSIGNMENT_PATH = OpenApiParameter(
    "assignment_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The assignment."
)
BUDGET_PATH = OpenApiParameter(
    "budget_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The budget (subsidy access policy)."
)
CUSTOMER_PATH = OpenApiParameter(
    "customer_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The enterprise customer."
)


class PayloadTooLarge(APIException):
    """413: a list in the body is longer than the endpoint accepts."""

    status_code = 413
    default_detail = "The request carries more items than the configured maximum."
    default_code = "payload_too_large"


# --- who may reach what --------------------------------------------------------------------------------


def _customer_access(user, customer_uuid: uuid.UUID, *, admin: bool, what: str) -> None:
    """Nothing when ``user`` may reach the customer's object; 403 for its learners asking for an admin's
    operation; 404 for everyone else (the object stays hidden)."""
    if may_administer(user, customer_uuid):
        return
    if is_learner_of(user, customer_uuid):
        if admin:
            raise PermissionDenied("You are not an administrator of this enterprise customer.")
        return
    raise Http404(f"No {what} has this uuid.")


def configuration_for(request, configuration_uuid: str, *, admin: bool) -> AssignmentConfiguration:
    """The active configuration of the path if the caller may reach it: administrators (and operators) always,
    the customer's linked learners unless ``admin``; 404 malformed, unknown or hidden; 403 as above."""
    wanted = parse_uuid(configuration_uuid)
    if wanted is None:
        raise Http404("No assignment configuration has this uuid.")
    configuration = api.get_configuration(wanted)
    _customer_access(request.user, configuration.customer.uuid, admin=admin, what="assignment configuration")
    return configuration


def budget_for(request, budget_uuid: str, *, admin: bool) -> Budget:
    """The budget of the path if the caller may reach it (same rules as ``configuration_for``)."""
    wanted = parse_uuid(budget_uuid)
    if wanted is None:
        raise Http404("No budget has this uuid.")
    budget = budgets_api.get_budget(wanted)
    _customer_access(request.user, budget.customer.uuid, admin=admin, what="budget")
    return budget


def subject_user(request, raw_user_id: Any, field: str = "lms_user_id", *, refuse_others: bool = False):
    """Whose records a learner endpoint is about: the caller, or for operators the user ``raw_user_id`` names
    (400 when malformed or unknown). For anyone else a different id is ignored, or a 403 when
    ``refuse_others`` (writes must not silently act for someone else)."""
    if raw_user_id in (None, ""):
        return request.user
    if not core_api.is_operator(request.user):
        if refuse_others and str(raw_user_id).strip() != str(request.user.pk):
            raise PermissionDenied("Only operators may act for another learner.")
        return request.user
    try:
        return identity_api.get_user(id=int(str(raw_user_id).strip()))
    except (ValueError, InvalidInput):
        raise ValidationError({field: [f"{raw_user_id!r} is not a user id."]}) from None
    except NotFound:
        raise ValidationError({field: [f"No user has the id {raw_user_id}."]}) from None


# --- bodies and queries --------------------------------------------------------------------------------


def bulk_max_items() -> int:
    """The most items one list in a request may carry (``settings.BULK_MAX_ITEMS``)."""
    return int(settings.BULK_MAX_ITEMS)


def refuse_oversized(data: Any, field: str, limit: int) -> None:
    """413 when ``data[field]`` is a list of more than ``limit`` items (checked before item validation)."""
    if isinstance(data, dict):
        value = data.get(field)
        if isinstance(value, list) and len(value) > limit:
            raise PayloadTooLarge(f"At most {limit} items in {field}; got {len(value)}.")


def query_values(request, name: str) -> list[str] | None:
    """A list query parameter, comma-separated and/or repeated, blanks dropped; None when absent."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def check_choices(values: Sequence[str], allowed: Iterable[str], field: str) -> list[str]:
    """``values`` when each is one of ``allowed``; a 400 naming the unknown ones otherwise."""
    allowed = sorted(allowed)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValidationError({field: [f"Unknown value(s) {', '.join(unknown)}; use {', '.join(allowed)}."]})
    return list(values)


def assignment_uuids(data: Any, serializer_class: type = AssignmentUuidsSerializer) -> tuple[list[uuid.UUID], dict]:
    """The de-duplicated ``assignment_uuids`` of a body (in the order given) and the other validated fields:
    400 for a malformed body, 413 past ROLLBOOK_BULK_MAX_ITEMS uuids."""
    refuse_oversized(data, "assignment_uuids", bulk_max_items())
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    values = dict(serializer.validated_data)
    return list(dict.fromkeys(values.pop("assignment_uuids"))), values


class EnterpriseAccessPagination(PageNumberPagination):
    """enterprise-access list pages: ``?page=`` and ``?page_size=`` (default 100, at most 500; a bad size is a
    400, not silently clamped); the body adds ``num_pages`` and ``current_page`` to count/next/previous."""

    def __init__(self) -> None:
        super().__init__()
        self.page_size, self.max_page_size = 100, 500

    def page_body(self, results: list, **extra: Any) -> dict[str, Any]:
        """The page's body: count, num_pages, current_page, next, previous, results, then ``extra``."""
        return {
            "count": self.page.paginator.count,
            "num_pages": self.page.paginator.num_pages,
            "current_page": self.page.number,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
            "results": results,
            **extra,
        }


# --- refusal reasons -----------------------------------------------------------------------------------

USER_MESSAGES = {
    "policy_expired": "This budget is not active.",
    "learner_not_in_enterprise": "You are not a learner of this organization.",
    "content_not_in_catalog": "This content is not in the budget's catalog.",
    "beyond_enrollment_deadline": "The enrollment deadline for this content has passed.",
    "not_enough_value_in_subsidy": "The budget does not have enough funds left.",
    "policy_spend_limit_reached": "This would exceed the budget's spend limit.",
    "learner_max_enrollments_reached": "You have made as many enrollments as this budget allows per learner.",
    "learner_max_spend_reached": "You have spent as much as this budget allows per learner.",
    "reason_learner_not_assigned_content": "This content has not been assigned to you.",
    "reason_learner_assignment_cancelled": "Your assignment of this content was cancelled.",
    "reason_learner_assignment_failed": "Your assignment of this content failed; contact your administrator.",
    "reason_learner_assignment_expired": "Your assignment of this content has expired.",
    "reason_learner_assignment_reversed": "Your enrollment in this content was refunded.",
    "content_not_redeemable": "This content cannot be bought now (no enrollable run with a paid seat).",
    "price_out_of_range": "The price is not within 5% of the content's list price.",
}


def user_message(reason: str, fallback: str = "") -> str:
    """The sentence shown to people for a refusal reason."""
    return USER_MESSAGES.get(str(reason), fallback or str(reason).replace("_", " ").capitalize() + ".")


def reason_items(reasons_by_budget: dict[uuid.UUID, Sequence[str]], *, fallback: str = "") -> list[dict[str, Any]]:
    """The enterprise-access ``reasons`` list: one item per deciding reason (a budget's first), naming the
    budgets it refused, in the order first met. ``enterprise_administrators`` is empty for now (the role API
    offers no listing of a customer's administrators)."""
    grouped: dict[str, list[uuid.UUID]] = {}
    for budget_uuid, reasons in reasons_by_budget.items():
        if reasons:
            grouped.setdefault(str(reasons[0]), []).append(budget_uuid)
    return [reason_item(reason, budget_uuids, fallback) for reason, budget_uuids in grouped.items()]


def reason_item(
    reason: str, budget_uuids: Sequence[uuid.UUID], fallback: str = "", *, message: str = ""
) -> dict[str, Any]:
    """One ``reasons`` item: ``{reason, user_message, metadata: {enterprise_administrators}, policy_uuids}``;
    ``message`` replaces the usual sentence for the reason."""
    return {
        "reason": str(reason),
        "user_message": message or user_message(reason, fallback),
        "metadata": {"enterprise_administrators": []},
        "policy_uuids": list(budget_uuids),
    }
