"""REST views of the enrollments app (``/api/enrollments/v1/``): thin, shape checks then ``api.py``.

Who may do what:
- anonymous callers get 401;
- operators see and change every enrollment, may enroll anyone, and may skip the enrollment window;
- everyone else acts as a learner: sees only their own enrollments (another user's uuid is a 404),
  enrolls only themselves (naming another user is a 403), is held to the run's enrollment window,
  and may only pick a free mode (price 0); without a mode they get the run's best free mode.
"""

from __future__ import annotations

import uuid
from collections import Counter

from django.conf import settings
from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.catalog import api as catalog_api
from rollbook.core import api as core_api
from rollbook.core.errors import NotFound
from rollbook.core.permissions import IsOperator
from rollbook.enrollments import api
from rollbook.enrollments.data import EnrollRequest, EnrollStatus
from rollbook.enrollments.rest.filters import EnrollmentFilter
from rollbook.enrollments.rest.serializers import (
    BulkEnrollRequestSerializer,
    BulkEnrollResponseSerializer,
    EnrollmentCreateSerializer,
    EnrollmentSerializer,
    EnrollmentUpdateSerializer,
)
from rollbook.identity import api as identity_api

BAD_REQUEST = OpenApiResponse(description="Malformed input; the body maps each field to its errors.")
NOT_AUTHENTICATED = OpenApiResponse(description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(description="The caller may not do this (e.g. a learner acting for someone else).")
NOT_FOUND = OpenApiResponse(description="No such enrollment visible to the caller.")


def bulk_max_items() -> int:
    """The most requests one bulk call may carry (``settings.BULK_MAX_ITEMS``)."""
    return settings.BULK_MAX_ITEMS


def _forbid_learner_skip(request, skip_access_checks: bool) -> None:
    if skip_access_checks and not core_api.is_operator(request.user):
        raise PermissionDenied("Only operators may skip access checks.")


@extend_schema_view(
    list=extend_schema(
        summary="List enrollments",
        description="Operators see every enrollment; other callers see only their own. Newest first, cursor-paged.",
        responses={200: EnrollmentSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED},
    ),
    retrieve=extend_schema(
        summary="Get an enrollment",
        responses={200: EnrollmentSerializer, 401: NOT_AUTHENTICATED, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Enroll a user in a course run",
        description="Enrolls the caller (or, for operators, the named user). Re-enrolling an inactive enrollment "
        "reactivates it; asking an active one for another mode changes its mode. 201 when a new enrollment was "
        "created, 200 otherwise. Learners are held to the enrollment window and to free modes.",
        request=EnrollmentCreateSerializer,
        responses={
            200: EnrollmentSerializer,
            201: EnrollmentSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
        },
    ),
    partial_update=extend_schema(
        summary="Change an enrollment's mode or active flag",
        description="`is_active: false` unenrolls (idempotent); `is_active: true` re-enrolls.",
        request=EnrollmentUpdateSerializer,
        responses={
            200: EnrollmentSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    ),
)
class EnrollmentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Course enrollments: list, create, retrieve and patch by uuid."""

    permission_classes = [IsAuthenticated]
    serializer_class = EnrollmentSerializer
    filterset_class = EnrollmentFilter
    lookup_field = "uuid"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        """Operators see every enrollment; others their own, and program administrators may also read
        (never change) the enrollments in their organizations' runs."""
        queryset = api.enrollments_queryset()
        user = self.request.user
        if getattr(self, "swagger_fake_view", False) or core_api.is_operator(user):
            return queryset
        visible = Q(user=user)
        administered = core_api.organizations_administered(user)
        if administered and self.request.method in SAFE_METHODS:
            visible |= Q(course_run__in=catalog_api.course_runs_of_organizations(administered))
        return queryset.filter(visible)

    def get_object(self):
        # Any text routes here, so callers are authenticated first; a non-UUID is simply not found.
        try:
            uuid.UUID(str(self.kwargs[self.lookup_field]))
        except ValueError:
            raise Http404("No enrollment has this uuid.") from None
        return super().get_object()

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        data = [api.enrollment_data(enrollment) for enrollment in page]
        return self.get_paginated_response(EnrollmentSerializer(data, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(EnrollmentSerializer(api.enrollment_data(self.get_object())).data)

    def create(self, request, *args, **kwargs):
        serializer = EnrollmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        operator = core_api.is_operator(request.user)
        _forbid_learner_skip(request, values["skip_access_checks"])
        user = request.user
        username = values.get("user")
        if username is not None and username != request.user.get_username():
            if not operator:
                raise PermissionDenied("Only operators may enroll other users.")
            try:
                user = identity_api.get_user(username=username)
            except NotFound:
                raise ValidationError({"user": [f"No user has the username {username!r}."]}) from None
        enrollment, outcome = api.enroll_with_outcome(
            user,
            values["course_key"],
            values.get("mode"),
            skip_access_checks=values["skip_access_checks"],
            free_modes_only=not operator,
        )
        code = status.HTTP_201_CREATED if outcome == EnrollStatus.ENROLLED else status.HTTP_200_OK
        return Response(EnrollmentSerializer(enrollment).data, status=code)

    def partial_update(self, request, *args, **kwargs):
        enrollment = self.get_object()
        serializer = EnrollmentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        _forbid_learner_skip(request, values["skip_access_checks"])
        updated = api.update_enrollment(
            enrollment.uuid,
            mode=values.get("mode"),
            is_active=values.get("is_active"),
            skip_access_checks=values["skip_access_checks"],
            free_modes_only=not core_api.is_operator(request.user),
        )
        return Response(EnrollmentSerializer(updated).data)


class BulkEnrollView(APIView):
    """Operators: apply many enrollment requests in one call."""

    permission_classes = [IsOperator]

    @extend_schema(
        summary="Enroll many users at once (operators)",
        description="Applies every request in one transaction and answers one result per request, in order. "
        "200 when every request succeeded, 207 when some did, 422 when none did; 413 when there are more "
        "requests than the configured maximum (ROLLBOOK_BULK_MAX_ITEMS). Requests naming the same user and run "
        "twice are all reported `duplicated` and not applied.",
        request=BulkEnrollRequestSerializer,
        responses={
            200: BulkEnrollResponseSerializer,
            207: BulkEnrollResponseSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            413: OpenApiResponse(description="Too many requests in one call."),
            422: BulkEnrollResponseSerializer,
        },
    )
    def post(self, request):
        items = request.data.get("requests") if isinstance(request.data, dict) else None
        limit = bulk_max_items()
        if isinstance(items, list) and len(items) > limit:
            return Response(
                {"requests": [f"At most {limit} requests per call; got {len(items)}."]},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        serializer = BulkEnrollRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        requests = [
            EnrollRequest(
                course_key=item["course_key"],
                user_id=item.get("user_id"),
                username=item.get("username"),
                email=item.get("email"),
                mode=item.get("mode"),
            )
            for item in values["requests"]
        ]
        results = api.bulk_enroll(requests, skip_access_checks=values["skip_access_checks"])
        succeeded = sum(1 for result in results if result.status.is_success)
        if succeeded == len(results):
            code = status.HTTP_200_OK
        elif succeeded:
            code = status.HTTP_207_MULTI_STATUS
        else:
            code = status.HTTP_422_UNPROCESSABLE_ENTITY
        summary = Counter(result.status.value for result in results)
        body = BulkEnrollResponseSerializer({"results": results, "summary": dict(summary)}).data
        return Response(body, status=code)
