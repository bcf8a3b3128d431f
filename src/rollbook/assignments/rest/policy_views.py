"""Budget (subsidy access policy) endpoints in the enterprise-access shapes: allocation under
``/api/v1/policy-allocation/`` and redemption under ``/api/v1/policy-redemption/``.

- ``{budget}/allocate/``: operators and the budget customer's administrators.
- ``credits_available/``, ``enterprise-customer/{customer}/can-redeem/``, ``{budget}/redeem/``: learners for
  themselves (operators may name ``lms_user_id``), and the customer's administrators for themselves.

Budgets are addressed by their own uuid (404 when the caller may not reach the customer; 403 for the
customer's learners asking to allocate); a customer named in the path or query that the caller may not read
is a 403. Spending writes wait on the budget's row lock (see ``budgets.api``): there is never a 429.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.assignments import api
from rollbook.assignments.data import AllocationResult
from rollbook.assignments.rest.common import (
    BAD_REQUEST,
    BUDGET_NOT_FOUND,
    BUDGET_PATH,
    CUSTOMER_PATH,
    FORBIDDEN,
    NOT_AUTHENTICATED,
    budget_for,
    bulk_max_items,
    reason_item,
    reason_items,
    refuse_oversized,
    subject_user,
)
from rollbook.assignments.rest.rows import (
    learner_acknowledged,
    learner_rows,
    policy_fields,
    reversal_of,
    transaction_fields,
)
from rollbook.assignments.rest.serializers import (
    AllocateRequestSerializer,
    AllocationResultSerializer,
    CanRedeemSerializer,
    CreditsAvailableSerializer,
    ReasonSerializer,
    RedeemRequestSerializer,
    TransactionSerializer,
)
from rollbook.budgets import api as budgets_api
from rollbook.budgets.data import AccessMethod, TransactionState
from rollbook.catalog import api as catalog_api
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import parse_uuid
from rollbook.enterprise import api as enterprise_api
from rollbook.enterprise.rest.permissions import require_reader

CUSTOMER_FIELD = "enterprise_customer_uuid"
# The issue calls 10,000 emails in one allocation normal use, whatever the general bulk cap is.
ALLOCATION_MIN_CAP = 10_000
# can-redeem evaluates every budget for every key: keep one call's work bounded.
CAN_REDEEM_MAX_KEYS = 100
CONTENT_NOT_REDEEMABLE = "content_not_redeemable"

LMS_USER_ID = OpenApiParameter(
    "lms_user_id", OpenApiTypes.INT, description="Operators only: whose credit; everyone else gets their own."
)
REFUSED = OpenApiResponse(
    response=ReasonSerializer(many=True),
    description="Refused: a bare list of {reason, user_message, metadata: {enterprise_administrators}, policy_uuids}.",
)


def allocation_max_items() -> int:
    """The most emails one allocation may carry: ROLLBOOK_BULK_MAX_ITEMS, but never fewer than 10,000."""
    return max(bulk_max_items(), ALLOCATION_MIN_CAP)


def _readable_customer(request, raw: Any, field: str, *, in_path: bool = False):
    """The customer a query or path parameter names: 400 when missing or malformed in the query (404 in the
    path), 403 when the caller may not read it (checked first: only those who may read it learn whether it
    exists), 404 when unknown."""
    if raw is None or not str(raw).strip():
        raise ValidationError({field: ["This parameter is required."]})
    wanted = parse_uuid(raw)
    if wanted is None:
        if in_path:
            raise Http404("No enterprise customer has this uuid.")
        raise ValidationError({field: [f"{raw!r} is not a valid UUID."]})
    require_reader(request.user, wanted)
    return enterprise_api.get_customer(wanted)


def _is_assigned(budget) -> bool:
    return budget.access_method == AccessMethod.ASSIGNED


# --- allocate ------------------------------------------------------------------------------------------


def _allocation_body(result: AllocationResult) -> dict[str, Any]:
    return {
        "created": list(result.created),
        "updated": list(result.updated),
        "no_change": list(result.no_change),
        "counts": {"created": len(result.created), "updated": len(result.updated), "no_change": len(result.no_change)},
    }


class AllocateView(APIView):
    """Assign content to learners within an assigned budget."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Allocate (assign) content to learners",
        description="Assigns `content_key` at `content_price_cents` to each email (repeats in any case count once) "
        "under the budget's row lock (concurrent callers wait; never a 429). New learners get an assignment "
        "(created), cancelled/errored/expired/reversed ones are allocated again (updated), allocated and "
        "accepted ones are left alone (no_change, no second email); notification emails go out after commit. "
        "Only the rows that will be (re)allocated count against the budget. The answer lists assignment uuids "
        "(upstream returned whole assignments) and counts. 422 when refused as a whole (budget inactive, "
        "content not in the catalog, not enough funds, price outside 95-105% of the list price); 413 past "
        "max(10000, ROLLBOOK_BULK_MAX_ITEMS) emails.",
        parameters=[BUDGET_PATH],
        request=AllocateRequestSerializer,
        responses={
            202: AllocationResultSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: BUDGET_NOT_FOUND,
            413: OpenApiResponse(description="More emails than max(10000, ROLLBOOK_BULK_MAX_ITEMS)."),
            422: REFUSED,
        },
    )
    def post(self, request, budget_uuid: str):
        budget = budget_for(request, budget_uuid, admin=True)
        refuse_oversized(request.data, "learner_emails", allocation_max_items())
        serializer = AllocateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        try:
            result = api.allocate(
                budget, values["learner_emails"], values["content_key"], values["content_price_cents"], request.user
            )
        except api.AllocationRefused as refusal:
            message = " ".join(refusal.errors.get("detail", []))
            body = [reason_item(reason, [budget.uuid], message=message) for reason in refusal.reasons]
            return Response(ReasonSerializer(body, many=True).data, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(AllocationResultSerializer(_allocation_body(result)).data, status=status.HTTP_202_ACCEPTED)


# --- credits available ---------------------------------------------------------------------------------


def _active_budgets(customer) -> list:
    """The customer's budgets that are active now, with customer and catalog joined."""
    return [budget for budget in budgets_api.budgets_queryset(customer) if budgets_api.is_active_now(budget)]


def _configurations_by_budget(customer) -> dict[int, Any]:
    return {configuration.budget_id: configuration for configuration in api.configurations_queryset(customer)}


def _direct_credit(budget, user, linked: bool) -> tuple[int, int | None] | None:
    """(remaining balance, remaining per user) of a direct budget the learner can use now, else None."""
    if not linked:
        return None
    remaining = budgets_api.spend(budget).available_cents
    if remaining <= 0:
        return None
    per_user = None
    if budget.per_learner_spend_limit_cents is not None or budget.per_learner_enrollment_limit is not None:
        spent, enrollments = budgets_api.learner_spend(budget, user.pk)
        if budget.per_learner_spend_limit_cents is not None:
            per_user = max(0, min(budget.per_learner_spend_limit_cents - spent, remaining))
            if per_user <= 0:
                return None
        elif enrollments >= budget.per_learner_enrollment_limit:
            return None
    return remaining, per_user


class CreditsAvailableView(APIView):
    """The budgets a learner can use now."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Budgets with credit available to a learner",
        description="The customer's budgets that are active now and that the learner can use: direct budgets "
        "with money left for them (and within their per-learner limits), and assigned budgets in which they "
        "have an assignment they have not acknowledged (with those assignments). Callers get their own; "
        "`lms_user_id` is honoured for operators only. A bare array.",
        parameters=[
            OpenApiParameter(CUSTOMER_FIELD, OpenApiTypes.UUID, required=True, description="The customer."),
            LMS_USER_ID,
        ],
        responses={
            200: CreditsAvailableSerializer(many=True),
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(description="No such customer."),
        },
    )
    def get(self, request):
        customer = _readable_customer(request, request.query_params.get(CUSTOMER_FIELD), CUSTOMER_FIELD)
        user = subject_user(request, request.query_params.get("lms_user_id"))
        linked = enterprise_api.is_linked_learner(customer, user)
        configurations = _configurations_by_budget(customer)
        items = []
        for budget in _active_budgets(customer):
            configuration = configurations.get(budget.id)
            assignments: list = []
            if _is_assigned(budget):
                if configuration is None:
                    continue
                assignments = list(
                    api.learner_assignments(configuration, user).order_by("-created", "-id").prefetch_related("actions")
                )
                if all(learner_acknowledged(list(a.actions.all())) for a in assignments):
                    continue
                available = budgets_api.spend(budget).available_cents
                credit = (max(0, available - api.allocated_cents(budget)), None)
            else:
                credit = _direct_credit(budget, user, linked)
                if credit is None:
                    continue
            configuration_uuid = configuration.uuid if configuration is not None else None
            items.append(
                {
                    **policy_fields(budget, configuration_uuid),
                    "remaining_balance": credit[0],
                    "remaining_balance_per_user": credit[1],
                    "subsidy_expiration_date": budget.expiration,
                    "learner_content_assignments": learner_rows(assignments, {configuration.id: configuration_uuid})
                    if assignments
                    else [],
                }
            )
        return Response(CreditsAvailableSerializer(items, many=True).data)


# --- can redeem ----------------------------------------------------------------------------------------


def _by_priority(budgets: list) -> list:
    """Assigned budgets first, then direct ones; ties by earliest expiration, then lowest balance."""
    balances = {budget.id: budgets_api.spend(budget).available_cents for budget in budgets}
    return sorted(budgets, key=lambda b: (0 if _is_assigned(b) else 1, b.expiration, balances[b.id], b.id))


def _content_keys(request) -> list[str]:
    keys = list(dict.fromkeys(key.strip() for key in request.query_params.getlist("content_key") if key.strip()))
    if not keys:
        raise ValidationError({"content_key": ["Give at least one content_key (repeat the parameter for more)."]})
    if len(keys) > CAN_REDEEM_MAX_KEYS:
        raise ValidationError({"content_key": [f"At most {CAN_REDEEM_MAX_KEYS} content keys per call."]})
    return keys


def _resolve(content_key: str):
    """(run, list price in cents) of a content key, or (None, None) when it names nothing buyable."""
    try:
        return budgets_api.resolve_content(content_key)
    except InvalidInput:
        return None, None


def _is_run_key(content_key: str) -> bool:
    try:
        catalog_api.parse_course_key(content_key)
    except InvalidInput:
        return False
    return True


def _redeems(transaction, content_key: str, run) -> bool:
    """Whether a transaction paid for this content: the key asked for, the run, or (for a course key) any run
    of the course."""
    if transaction.content_key == content_key:
        return True
    if run is None:
        return False
    if _is_run_key(content_key):
        return transaction.course_run_id == run.id
    return transaction.course_run.catalog_course_id == run.catalog_course_id


def _is_successful(transaction) -> bool:
    return transaction.state == TransactionState.COMMITTED and reversal_of(transaction) is None


def _refusal_reasons(budget, user, content_key: str) -> tuple[str, ...]:
    """Why the learner cannot redeem the content with this budget (empty when they can)."""
    if _is_assigned(budget):
        reasons = api.assignment_reasons(budget, user, content_key)
        if reasons:
            return tuple(str(reason) for reason in reasons)
        check = budgets_api.can_redeem(budget, user, content_key, for_assignment=True)
    else:
        check = budgets_api.can_redeem(budget, user, content_key)
    return () if check.can_redeem else tuple(str(reason) for reason in check.reasons) or (CONTENT_NOT_REDEEMABLE,)


class CanRedeemView(APIView):
    """Whether a learner can redeem content with one of a customer's budgets, and which."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Can the learner redeem this content?",
        description="For each `content_key` (repeat the parameter; at most 100), over the customer's budgets "
        "active now in priority order (assigned first, then direct; ties by earliest expiration, then lowest "
        "balance): the list price, the learner's transactions for the content, whether one of them is a "
        "committed, unreversed redemption (then `can_redeem` is false and no budget is evaluated), the budget "
        "that would pay, and otherwise the reasons each budget refused, grouped by reason. Callers get their "
        "own answer; `lms_user_id` is honoured for operators only. A bare array.",
        parameters=[
            CUSTOMER_PATH,
            OpenApiParameter("content_key", OpenApiTypes.STR, required=True, many=True, description="Course or run."),
            LMS_USER_ID,
        ],
        responses={
            200: CanRedeemSerializer(many=True),
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(description="No such customer."),
        },
    )
    def get(self, request, customer_uuid: str):
        customer = _readable_customer(request, customer_uuid, "customer_uuid", in_path=True)
        keys = _content_keys(request)
        user = subject_user(request, request.query_params.get("lms_user_id"))
        budgets = _by_priority(_active_budgets(customer))
        budget_uuids = {budget.id: budget.uuid for budget in budgets_api.budgets_queryset(customer)}
        configurations = _configurations_by_budget(customer)
        transactions = list(
            budgets_api.transactions_queryset()
            .filter(budget__customer=customer, learner=user)
            .select_related("course_run", "course_enrollment")
        )
        answers = []
        for content_key in keys:
            run, price = _resolve(content_key)
            redemptions = [tx for tx in transactions if _redeems(tx, content_key, run)]
            successful = any(_is_successful(tx) for tx in redemptions)
            chosen, refusals = None, {}
            if not successful:
                for budget in budgets:
                    reasons = _refusal_reasons(budget, user, content_key) if run is not None else ()
                    if run is None:
                        reasons = (CONTENT_NOT_REDEEMABLE,)
                    if not reasons:
                        chosen = budget
                        break
                    refusals[budget.uuid] = reasons
            reasons = [] if chosen is not None or successful else reason_items(refusals)
            configuration = configurations.get(chosen.id) if chosen is not None else None
            answers.append(
                {
                    "content_key": content_key,
                    "list_price": {"usd": price / 100, "usd_cents": price} if price is not None else None,
                    "redemptions": [transaction_fields(tx, budget_uuids.get(tx.budget_id)) for tx in redemptions],
                    "has_successful_redemption": successful,
                    "redeemable_subsidy_access_policy": (
                        policy_fields(chosen, configuration.uuid if configuration else None) if chosen else None
                    ),
                    "can_redeem": chosen is not None,
                    "reasons": reasons,
                    "display_reason": reasons[0] if reasons else None,
                }
            )
        return Response(CanRedeemSerializer(answers, many=True).data)


# --- redeem --------------------------------------------------------------------------------------------


class RedeemView(APIView):
    """Spend a budget's credit on content for a learner."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Redeem content with a budget",
        description="Enrolls the learner in the content's run (best paid mode) and records the transaction, in "
        "one database transaction under the budget's row lock (concurrent callers wait; never a 429). An "
        "assigned budget redeems the learner's allocated assignment of the content (which becomes accepted); a "
        "direct budget checks the learner's limits. Idempotent: asking again returns the same committed "
        "transaction. Learners redeem for themselves (another `lms_user_id` is a 403); operators may name "
        "anyone. 422 with the reasons when refused.",
        parameters=[BUDGET_PATH],
        request=RedeemRequestSerializer,
        responses={
            200: TransactionSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: BUDGET_NOT_FOUND,
            422: REFUSED,
        },
    )
    def post(self, request, budget_uuid: str):
        budget = budget_for(request, budget_uuid, admin=False)
        serializer = RedeemRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        user = subject_user(request, values.get("lms_user_id"), refuse_others=True)
        try:
            if _is_assigned(budget):
                redeemed = api.accept(budget, user, values["content_key"])
            else:
                redeemed = budgets_api.redeem(budget, user, values["content_key"])
        except budgets_api.RedemptionRefused as refusal:
            body = [reason_item(reason, [budget.uuid]) for reason in refusal.reasons] or [
                reason_item(CONTENT_NOT_REDEEMABLE, [budget.uuid], message=" ".join(refusal.errors.get("reasons", [])))
            ]
            return Response(ReasonSerializer(body, many=True).data, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        transaction = budgets_api.transactions_queryset(budget).select_related("course_enrollment").get(pk=redeemed.pk)
        return Response(TransactionSerializer(transaction_fields(transaction, budget.uuid)).data)
