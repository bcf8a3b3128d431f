"""Learners' assignment endpoints, under ``/api/v1/assignment-configurations/{configuration_uuid}/``.

Callers see and acknowledge their own assignments only (matched by user, or by email ignoring case: upstream
compared the email exactly). Operators, the customer's administrators and its linked learners may call them;
anyone else gets a 404.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.assignments import api
from rollbook.assignments.rest.common import (
    BAD_REQUEST,
    CONFIGURATION_NOT_FOUND,
    CONFIGURATION_PATH,
    NOT_AUTHENTICATED,
    TOO_LARGE,
    EnterpriseAccessPagination,
    assignment_uuids,
    configuration_for,
)
from rollbook.assignments.rest.rows import learner_rows
from rollbook.assignments.rest.serializers import (
    AcknowledgeResultSerializer,
    AssignmentUuidsSerializer,
    LearnerAssignmentPageSerializer,
)


class LearnerAssignmentListView(APIView):
    """The caller's assignments in a configuration."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="List my assignments",
        description="The caller's assignments in this configuration (by account, or by email in any case), "
        "newest first, page-numbered (`page`, `page_size` up to 500), each with its actions, earliest possible "
        "expiration and whether the learner acknowledged its cancellation or expiry.",
        parameters=[CONFIGURATION_PATH],
        responses={200: LearnerAssignmentPageSerializer, 401: NOT_AUTHENTICATED, 404: CONFIGURATION_NOT_FOUND},
    )
    def get(self, request, configuration_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=False)
        queryset = api.learner_assignments(configuration, request.user).order_by("-created", "-id")
        paginator = EnterpriseAccessPagination()
        page = paginator.paginate_queryset(queryset.prefetch_related("actions"), request, view=self)
        body = paginator.page_body(learner_rows(page, {configuration.id: configuration.uuid}))
        return Response(LearnerAssignmentPageSerializer(body).data)


class AcknowledgeView(APIView):
    """The learner acknowledges their cancelled or expired assignments."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Acknowledge my cancelled or expired assignments",
        description="Records that the caller saw the cancellation or expiry of these assignments of theirs. 201 "
        "when at least one was acknowledged now, 200 when none was (already acknowledged, or not cancelled or "
        "expired: listed as unacknowledged); 400 when none of the uuids is the caller's.",
        parameters=[CONFIGURATION_PATH],
        request=AssignmentUuidsSerializer,
        responses={
            200: AcknowledgeResultSerializer,
            201: AcknowledgeResultSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            404: CONFIGURATION_NOT_FOUND,
            413: TOO_LARGE,
        },
    )
    def post(self, request, configuration_uuid: str):
        configuration = configuration_for(request, configuration_uuid, admin=False)
        requested, _ = assignment_uuids(request.data)
        outcome = api.acknowledge(configuration, requested, request.user)
        body = AcknowledgeResultSerializer(
            {
                "acknowledged_assignments": outcome.get("acknowledged_assignments", []),
                "already_acknowledged_assignments": outcome.get("already_acknowledged_assignments", []),
                "unacknowledged_assignments": outcome.get("unacknowledged_assignments", []),
            }
        ).data
        created = bool(body["acknowledged_assignments"])
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
