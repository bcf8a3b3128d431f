"""Administrators' assignment endpoints (enterprise-access ``assignments_admin``), under
``/api/v1/assignment-configurations/{configuration_uuid}/admin/assignments/``.

Operators and the enterprise administrators of the configuration's customer may call them; the customer's
learners get 403, everyone else 404 (see ``rest.common``). Differences from upstream, on purpose:
``cancel/`` and ``remind/`` are all-or-nothing (a 422 changes nothing and lists what was refused) and
``remind/`` does answer 422 (upstream checked a key that never existed).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.assignments import api
from rollbook.assignments.data import (
    CANCELLABLE_STATES,
    REMINDABLE_STATES,
    AssignmentState,
    BulkActionResult,
    LearnerState,
)
from rollbook.assignments.models import AssignmentConfiguration, LearnerContentAssignment
from rollbook.assignments.rest.common import (
    ASSIGNMENT_PATH,
    BAD_REQUEST,
    CONFIGURATION_NOT_FOUND,
    CONFIGURATION_PATH,
    FORBIDDEN,
    NOT_AUTHENTICATED,
    TOO_LARGE,
    EnterpriseAccessPagination,
    assignment_uuids,
    check_choices,
    configuration_for,
    query_values,
)
from rollbook.assignments.rest.rows import admin_rows
from rollbook.assignments.rest.serializers import (
    AdminAssignmentPageSerializer,
    AdminAssignmentSerializer,
    AssignmentUuidsSerializer,
    BulkCountSerializer,
    CancelRefusedSerializer,
    CancelResultSerializer,
    ErrorMessageSerializer,
    NudgeRequestSerializer,
    NudgeResultSerializer,
    RemindRefusedSerializer,
    RemindResultSerializer,
)
from rollbook.core.bulk import batches
from rollbook.core.normalise import parse_uuid

STATES = frozenset(state.value for state in AssignmentState)
LEARNER_STATES = frozenset(state.value for state in LearnerState)
ORDERINGS = ("recent_action_time", "learner_state_sort_order", "content_quantity")
DEFAULT_ORDERING = "-recent_action_time"
NOT_FOUND_REASON = "not_found"

FILTER_PARAMETERS = [
    OpenApiParameter("content_key", OpenApiTypes.STR, description="Only assignments of this content key (exact)."),
    OpenApiParameter("learner_email", OpenApiTypes.STR, description="Only this learner's (email, any case)."),
    OpenApiParameter("lms_user_id", OpenApiTypes.INT, description="Only this user's."),
    OpenApiParameter("state", OpenApiTypes.STR, enum=sorted(STATES), description="Only this state."),
    OpenApiParameter("state__in", OpenApiTypes.STR, description="Only these states (comma-separated)."),
    OpenApiParameter(
        "learner_state", OpenApiTypes.STR, enum=sorted(LEARNER_STATES), description="Only this learner state."
    ),
    OpenApiParameter("learner_state__in", OpenApiTypes.STR, description="Only these learner states (comma-separated)."),
    OpenApiParameter(
        "search", OpenApiTypes.STR, description="Text contained (any case) in the content title or learner email."
    ),
]
LIST_PARAMETERS = [
    *FILTER_PARAMETERS,
    OpenApiParameter(
        "ordering",
        OpenApiTypes.STR,
        description=f"One or more (comma-separated) of {', '.join(ORDERINGS)}, each optionally prefixed with '-' "
        f"for descending; default {DEFAULT_ORDERING}. Anything else is a 400.",
    ),
    OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Assignments per page: default 100, at most 500."),
]


# --- helpers -------------------------------------------------------------------------------------------


def list_filters(request) -> dict[str, Any]:
    """The admin list filters of the query, checked: texts stripped, ``lms_user_id`` a whole number, states
    known (400 otherwise); ``*__in`` filters are lists. Absent or blank parameters are left out."""
    filters: dict[str, Any] = {}
    for name in ("content_key", "learner_email", "search"):
        value = (request.query_params.get(name) or "").strip()
        if value:
            filters[name] = value
    raw_user_id = (request.query_params.get("lms_user_id") or "").strip()
    if raw_user_id:
        if not raw_user_id.isdigit():
            raise ValidationError({"lms_user_id": [f"{raw_user_id!r} is not a user id."]})
        filters["lms_user_id"] = int(raw_user_id)
    for name, allowed in (("state", STATES), ("learner_state", LEARNER_STATES)):
        value = (request.query_params.get(name) or "").strip()
        if value:
            filters[name] = check_choices([value], allowed, name)[0]
        values = query_values(request, f"{name}__in")
        if values:
            filters[f"{name}__in"] = check_choices(values, allowed, f"{name}__in")
    return filters


def ordering_from(request) -> list[str]:
    """The ``ordering`` fields (400 for unknown ones), then ``id`` so that pages never overlap."""
    values = query_values(request, "ordering") or [DEFAULT_ORDERING]
    allowed = {*ORDERINGS, *(f"-{name}" for name in ORDERINGS)}
    check_choices(values, allowed, "ordering")
    return [*dict.fromkeys(values), "id"]


def filtered_queryset(request, configuration: AssignmentConfiguration) -> QuerySet[LearnerContentAssignment]:
    """The configuration's annotated assignments narrowed by the query's filters."""
    return api.filtered_assignments(configuration, list_filters(request))


def refusals(requested: list[uuid.UUID], result: BulkActionResult) -> list[dict[str, Any]]:
    """Each requested uuid that was not done, with why (``not_found`` when the api did not mention it)."""
    done = {parse_uuid(value) for value in result.done}
    reasons = {parse_uuid(key): str(reason) for key, reason in result.refused.items()}
    return [
        {"uuid": wanted, "reason": reasons.get(wanted, NOT_FOUND_REASON)} for wanted in requested if wanted not in done
    ]


def all_or_nothing(action, configuration: AssignmentConfiguration, requested: list[uuid.UUID]):
    """Run ``action(configuration, uuids)`` in a transaction that is rolled back (emails included, as they
    are queued after commit) unless every requested assignment was done. Returns (result, refusals)."""
    with transaction.atomic():
        result = action(configuration, requested)
        refused = refusals(requested, result)
        if refused:
            transaction.set_rollback(True)
    return result, refused


# --- list and detail -----------------------------------------------------------------------------------


class AdminAssignmentListView(APIView):
    """A configuration's assignments, for its administrators."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="admin_assignments_list",
        summary="List a configuration's assignments (administrators)",
        description="Page-numbered (count, num_pages, current_page, next, previous, results) with "
        "`learner_state_counts` over every assignment the filters select. Each item carries its actions, its "
        "earliest possible expiration, the recent action (allocation or newest reminder), the learner state "
        "(notifying, waiting, failed, expired or null) and, when failed, the failed action. The number of SQL "
        "statements does not grow with the page size.",
        parameters=[CONFIGURATION_PATH, *LIST_PARAMETERS],
        responses={
            200: AdminAssignmentPageSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: CONFIGURATION_NOT_FOUND,
        },
    )
    def get(self, request, configuration_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=True)
        queryset = filtered_queryset(request, configuration)
        ordering = ordering_from(request)
        paginator = EnterpriseAccessPagination()
        page = paginator.paginate_queryset(queryset.order_by(*ordering).prefetch_related("actions"), request, view=self)
        body = paginator.page_body(
            admin_rows(page, configuration), learner_state_counts=api.learner_state_counts(queryset)
        )
        return Response(AdminAssignmentPageSerializer(body).data)


class AdminAssignmentDetailView(APIView):
    """One assignment of a configuration, for its administrators."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="admin_assignments_retrieve",
        summary="Get one assignment (administrators)",
        parameters=[CONFIGURATION_PATH, ASSIGNMENT_PATH],
        responses={
            200: AdminAssignmentSerializer,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(description="No such configuration, or no such assignment in it."),
        },
    )
    def get(self, request, configuration_uuid: str, assignment_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=True)
        wanted = parse_uuid(assignment_uuid)
        assignment = (
            api.admin_assignments(configuration).filter(uuid=wanted).prefetch_related("actions").first()
            if wanted is not None
            else None
        )
        if assignment is None:
            raise Http404("No assignment of this configuration has this uuid.")
        return Response(AdminAssignmentSerializer(admin_rows([assignment], configuration)[0]).data)


# --- cancel and remind ---------------------------------------------------------------------------------


class CancelView(APIView):
    """Cancel some assignments."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Cancel assignments",
        description="Allocated and errored assignments become cancelled and their learners are emailed (after "
        "commit); already cancelled ones count as done. All or nothing: if any uuid is not an assignment of "
        "this configuration or cannot be cancelled, nothing changes and the answer is 422 listing those.",
        parameters=[CONFIGURATION_PATH],
        request=AssignmentUuidsSerializer,
        responses={
            200: CancelResultSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: CONFIGURATION_NOT_FOUND,
            413: TOO_LARGE,
            422: CancelRefusedSerializer,
        },
    )
    def post(self, request, configuration_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=True)
        requested, _ = assignment_uuids(request.data)
        result, refused = all_or_nothing(api.cancel, configuration, requested)
        if refused:
            body = {"detail": "Nothing was cancelled: some assignments cannot be.", "non_cancelable": refused}
            return Response(CancelRefusedSerializer(body).data, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(CancelResultSerializer({"cancelled": list(result.done)}).data)


class RemindView(APIView):
    """Remind the learners of some assignments."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Remind learners of assignments",
        description="Queues a reminder email (after commit) for each allocated assignment. All or nothing: if any "
        "uuid is not an assignment of this configuration or is not allocated, nothing is sent and the answer "
        "is 422 listing those.",
        parameters=[CONFIGURATION_PATH],
        request=AssignmentUuidsSerializer,
        responses={
            200: RemindResultSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: CONFIGURATION_NOT_FOUND,
            413: TOO_LARGE,
            422: RemindRefusedSerializer,
        },
    )
    def post(self, request, configuration_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=True)
        requested, _ = assignment_uuids(request.data)
        result, refused = all_or_nothing(api.remind, configuration, requested)
        if refused:
            body = {"detail": "Nothing was sent: some assignments cannot be reminded.", "non_remindable": refused}
            return Response(RemindRefusedSerializer(body).data, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(RemindResultSerializer({"reminded": list(result.done)}).data)


def _apply_to_filtered(request, configuration_uuid: str, action, states: frozenset, what: str) -> Response:
    configuration = configuration_for(request, configuration_uuid, admin=True)
    selected = filtered_queryset(request, configuration).filter(state__in=sorted(states))
    uuids = list(selected.order_by("id").values_list("uuid", flat=True))
    if not uuids:
        return Response({"detail": f"No assignment to {what} matches the filters."}, status=status.HTTP_404_NOT_FOUND)
    result = action(configuration, uuids)
    return Response(BulkCountSerializer({"count": len(result.done)}).data, status=status.HTTP_202_ACCEPTED)


class CancelAllView(APIView):
    """Cancel every cancellable assignment the filters select."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Cancel all matching assignments",
        description="Takes the list filters in the query (no filter: the whole configuration) and cancels the "
        "allocated and errored assignments among them, emailing their learners after commit. 202 with how many; "
        "404 when none qualifies.",
        parameters=[CONFIGURATION_PATH, *FILTER_PARAMETERS],
        request=None,
        responses={
            202: BulkCountSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(description="No such configuration, or nothing to cancel."),
        },
    )
    def post(self, request, configuration_uuid: str):
        return _apply_to_filtered(request, configuration_uuid, api.cancel, CANCELLABLE_STATES, "cancel")


class RemindAllView(APIView):
    """Remind the learners of every allocated assignment the filters select."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Remind all matching learners",
        description="Takes the list filters in the query (no filter: the whole configuration) and queues a "
        "reminder for each allocated assignment among them. 202 with how many; 404 when none qualifies.",
        parameters=[CONFIGURATION_PATH, *FILTER_PARAMETERS],
        request=None,
        responses={
            202: BulkCountSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(description="No such configuration, or nobody to remind."),
        },
    )
    def post(self, request, configuration_uuid: str):
        return _apply_to_filtered(request, configuration_uuid, api.remind, REMINDABLE_STATES, "remind")


# --- nudge ---------------------------------------------------------------------------------------------


def _any_of_configuration(configuration: AssignmentConfiguration, uuids: list[uuid.UUID]) -> bool:
    return any(
        LearnerContentAssignment.objects.filter(configuration=configuration, uuid__in=batch).exists()
        for batch in batches(uuids)
    )


class NudgeView(APIView):
    """Nudge learners whose accepted course starts soon."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Nudge learners before their course starts",
        description="Queues a nudge email for each accepted assignment whose run starts exactly "
        "`days_before_course_start_date` days from today; the others are listed as unnudged. 422 with an "
        "`error_message` when none of the uuids is an assignment of this configuration.",
        parameters=[CONFIGURATION_PATH],
        request=NudgeRequestSerializer,
        responses={
            200: NudgeResultSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: CONFIGURATION_NOT_FOUND,
            413: TOO_LARGE,
            422: ErrorMessageSerializer,
        },
    )
    def post(self, request, configuration_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=True)
        requested, values = assignment_uuids(request.data, NudgeRequestSerializer)
        if not _any_of_configuration(configuration, requested):
            body = {"error_message": "None of these assignments belongs to this assignment configuration."}
            return Response(ErrorMessageSerializer(body).data, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        result = api.nudge(configuration, requested, values["days_before_course_start_date"])
        done = {parse_uuid(value) for value in result.done}
        body = {
            "nudged_assignment_uuids": [wanted for wanted in requested if wanted in done],
            "unnudged_assignment_uuids": [wanted for wanted in requested if wanted not in done],
        }
        return Response(NudgeResultSerializer(body).data)
