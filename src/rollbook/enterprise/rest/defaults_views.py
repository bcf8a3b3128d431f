"""REST views for enterprise enrollments and default enrollments, in the edx-enterprise shapes, under
``/enterprise/api/v1/``.

Who may do what (see ``rest.permissions``):
- ``enterprise-customer/{uuid}/enroll_learners_in_courses/``: operators and the customer's admins;
- default enrollment intentions: operators, the customer's admins and its linked learners read; operators
  and admins create, delete (soft) and restore; ``include_removed`` is for operators and admins;
- ``.../learner-status/``: the caller's own status; ``lms_user_id`` is honoured for operators alone;
- ``.../realize/``: a learner realizes their own defaults; operators may name ``lms_user_id``; operators and
  admins may ask for ``all_learners``;
- ``enterprise-course-enrollment/``: operators and admins see their customers' enrollments, learners their own;
- ``enterprise-course-enrollment/{id}/`` (PATCH ``saved_for_later``): the enrollment's learner and operators; the
  customer's admins get a 403, anyone else a 404.

A customer named in the query or body that the caller may not act for is a 403; an intention addressed by
its uuid that the caller may not see is a 404. Callers who are neither operators, admins nor learners of any
customer get a 403 on every write before their input is read.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from opaque_keys.edx.keys import CourseKey
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from rollbook.catalog import api as catalog_api
from rollbook.core import api as core_api
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.pagination import PageNumberPagination
from rollbook.core.query import query_flag
from rollbook.enterprise import api, tasks
from rollbook.enterprise.data import EnrollItemResult, EnrollOutcome, IntentionStatus, ResolvedIntention
from rollbook.enterprise.models import DefaultEnrollmentIntention, EnterpriseCourseEnrollment, EnterpriseCustomer
from rollbook.enterprise.rest.defaults_serializers import (
    CustomerRealizeResponseSerializer,
    EnrollLearnersRequestSerializer,
    EnrollLearnersResponseSerializer,
    EnterpriseEnrollmentSerializer,
    IntentionCreateSerializer,
    IntentionSerializer,
    LearnerStatusSerializer,
    RealizeRequestSerializer,
    RealizeResponseSerializer,
    SavedForLaterSerializer,
    parse_enrollments_info,
    parse_saved_for_later,
)
from rollbook.enterprise.rest.permissions import (
    administered_customer_uuids,
    is_learner_of,
    may_administer,
    require_admin,
    require_reader,
)
from rollbook.identity import api as identity_api

CUSTOMER_FIELD = "enterprise_customer_uuid"

BAD_REQUEST = OpenApiResponse(description="Malformed input; the body maps each field (or item index) to its errors.")
NOT_AUTHENTICATED = OpenApiResponse(description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(description="The caller may not act for this enterprise customer.")
INTENTION_NOT_FOUND = OpenApiResponse(description="No such intention visible to the caller.")

CUSTOMER_PATH = OpenApiParameter(
    "customer_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The enterprise customer."
)
INTENTION_PATH = OpenApiParameter(
    "intention_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The default enrollment intention."
)
CUSTOMER_QUERY = OpenApiParameter(CUSTOMER_FIELD, OpenApiTypes.UUID, required=True, description="The customer.")
OPTIONAL_CUSTOMER_QUERY = OpenApiParameter(
    CUSTOMER_FIELD, OpenApiTypes.UUID, description="Only this customer's enrollments."
)
INCLUDE_REMOVED = OpenApiParameter(
    "include_removed", OpenApiTypes.BOOL, description="Operators and admins: list soft-deleted intentions too."
)
LMS_USER_ID = OpenApiParameter(
    "lms_user_id", OpenApiTypes.INT, description="Operators only: whose status; everyone else gets their own."
)
COURSE_RUN_KEY = OpenApiParameter("course_run_key", OpenApiTypes.STR, description="Only enrollments in this run.")
UNENROLLED = OpenApiParameter(
    "unenrolled", OpenApiTypes.BOOL, description="true: only enrollments the learner left; false: only the others."
)


# --- helpers ---------------------------------------------------------------------------------------


def _uuid_text(value: Any, field: str) -> str:
    """The canonical form of a uuid given as text; anything else is a 400 naming ``field``."""
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise ValidationError({field: [f"{value!r} is not a valid UUID."]}) from None


def customer_uuid_from_query(request, *, required: bool = True) -> str | None:
    """The canonical customer uuid of ``?enterprise_customer_uuid=`` (400 when missing or malformed)."""
    raw = request.query_params.get(CUSTOMER_FIELD)
    if raw is None or not raw.strip():
        if required:
            raise ValidationError({CUSTOMER_FIELD: ["This query parameter is required."]})
        return None
    return _uuid_text(raw, CUSTOMER_FIELD)


def named_customer(customer_uuid: uuid.UUID | str, field: str) -> EnterpriseCustomer:
    """The customer a query or body field names; an unknown one is a 400 on that field.

    Callers check the caller's right to act for the uuid first, so only those who may act for it learn
    whether it exists.
    """
    try:
        return api.get_customer(customer_uuid)
    except NotFound:
        raise ValidationError({field: [f"No enterprise customer has the uuid {customer_uuid}."]}) from None


def require_enterprise_member(user, *, admins_only: bool = False) -> None:
    """403 unless ``user`` is an operator, an admin of some customer, or (unless ``admins_only``) a linked
    learner of some customer; lets writes refuse outsiders before reading their input."""
    administered = administered_customer_uuids(user)
    if administered is None or administered:
        return
    if not admins_only and api.customer_uuids_of_learner(user):
        return
    raise PermissionDenied(
        "You administer no enterprise customer."
        if admins_only
        else "You are neither an administrator nor a learner of an enterprise customer."
    )


def schedule_realization(customer: EnterpriseCustomer) -> None:
    """After commit, realize the customer's default enrollments for its existing learners (a Celery task).

    ``robust``: the intention is saved either way; a failure to queue or run the task is logged rather than
    turning the answer into a 500.
    """
    customer_uuid = str(customer.uuid)
    transaction.on_commit(lambda: tasks.realize_for_customer_task.delay(customer_uuid), robust=True)


# --- enroll_learners_in_courses ---------------------------------------------------------------------


def _echo(result: EnrollItemResult) -> dict[str, Any]:
    item = result.item
    return {
        "user_id": result.user_id if result.user_id is not None else item.user_id,
        "email": result.email if result.email is not None else item.email,
        "course_run_key": result.course_run_key or item.course_run_key,
    }


def enroll_response_body(results: list[EnrollItemResult]) -> dict[str, list[dict[str, Any]]]:
    """The edx-enterprise ``{successes, pending, failures}`` body, items in the order given."""
    body: dict[str, list[dict[str, Any]]] = {"successes": [], "pending": [], "failures": []}
    for result in results:
        if result.outcome == EnrollOutcome.SUCCESS:
            body["successes"].append({**_echo(result), "created": result.created, "mode": result.mode})
        elif result.outcome == EnrollOutcome.PENDING:
            body["pending"].append(_echo(result))
        else:
            body["failures"].append({**_echo(result), "message": result.message})
    return body


def enroll_status_code(body: dict[str, list]) -> int:
    """201 when every item succeeded or is pending, 207 when some did, 422 when none did."""
    applied = len(body["successes"]) + len(body["pending"])
    if not body["failures"]:
        return status.HTTP_201_CREATED
    return status.HTTP_207_MULTI_STATUS if applied else status.HTTP_422_UNPROCESSABLE_ENTITY


class EnrollLearnersInCoursesView(generics.GenericAPIView):
    """Enroll many learners of a customer in course runs, each paid by a license (edx-enterprise shape)."""

    permission_classes = [IsAuthenticated]
    serializer_class = EnrollLearnersRequestSerializer

    @extend_schema(
        summary="Enroll learners in course runs (enterprise)",
        description="Each item names a learner (user_id or email), a run (course_run_key) and exactly one of "
        "license_uuid / transaction_id; `licenses_info` is accepted as an alias of `enrollments_info`. Each item "
        "stands alone and is enrolled in the run's best mode: a learner with an account is enrolled (success), an "
        "email with no account gets a pending enrollment made at registration (pending), anything else is a "
        "failure with a message (unknown user or run, a license that is not the learner's, not activated, "
        "expired or whose catalog lacks the course, a closed run…). Items with `is_default_auto_enrollment` "
        "also record the realization of the customer's matching default intention. 201 when every item "
        "succeeded or is pending, 207 when some did, 422 when none did; 400 for a malformed body (nothing "
        "applied), 413 past ROLLBOOK_BULK_MAX_ITEMS items.",
        parameters=[CUSTOMER_PATH],
        request=EnrollLearnersRequestSerializer,
        responses={
            201: EnrollLearnersResponseSerializer,
            207: EnrollLearnersResponseSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: OpenApiResponse(description="No such customer."),
            413: OpenApiResponse(description="More items than ROLLBOOK_BULK_MAX_ITEMS."),
            422: EnrollLearnersResponseSerializer,
        },
    )
    def post(self, request, customer_uuid: str):
        require_admin(request.user, customer_uuid)
        customer = api.get_customer(customer_uuid)
        items = parse_enrollments_info(request.data)
        body = enroll_response_body(api.enroll_learners_in_courses(customer, items))
        return Response(body, status=enroll_status_code(body))


# --- default enrollment intentions -----------------------------------------------------------------


def intention_fields(resolved: ResolvedIntention, customer_uuid: uuid.UUID) -> dict[str, Any]:
    """The upstream fields of a resolved intention."""
    return {
        "uuid": resolved.uuid,
        "content_key": resolved.content_key,
        "content_type": resolved.content_type,
        "enterprise_customer": customer_uuid,
        "course_run_key": resolved.course_run_key,
        "is_course_run_enrollable": resolved.is_course_run_enrollable,
        "course_run_enroll_by_date": resolved.course_run_enroll_by_date,
        "best_mode_for_course_run": resolved.best_mode_for_course_run,
        "applicable_enterprise_catalog_uuids": list(resolved.applicable_catalog_uuids),
        "course_key": resolved.course_key,
        "created": resolved.created,
        "modified": resolved.modified,
    }


def intention_rows(customer: EnterpriseCustomer, intentions: list[DefaultEnrollmentIntention]) -> list[dict]:
    """Serialized intentions of one customer, in the order given (a constant number of queries)."""
    if not intentions:
        return []
    resolved = {item.uuid: item for item in api.resolve_intentions(customer, intentions)}
    return [
        IntentionSerializer(
            {**intention_fields(resolved[intention.uuid], customer.uuid), "is_removed": intention.is_removed}
        ).data
        for intention in intentions
    ]


def visible_intention(request, intention_uuid: str) -> DefaultEnrollmentIntention:
    """The intention of the path if the caller may see it: operators and the customer's admins see every one
    (soft-deleted included), its linked learners the live ones; anything else is a 404."""
    try:
        wanted = uuid.UUID(intention_uuid)
    except ValueError:
        raise Http404("No intention has this uuid.") from None
    intention = api.get_intention(wanted, include_removed=True)
    customer_uuid = intention.customer.uuid
    if may_administer(request.user, customer_uuid):
        return intention
    if intention.is_removed or not is_learner_of(request.user, customer_uuid):
        raise Http404("No intention has this uuid.")
    return intention


class IntentionListView(generics.GenericAPIView):
    """A customer's default enrollment intentions: list (readers) and create (admins)."""

    permission_classes = [IsAuthenticated]
    serializer_class = IntentionSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet[DefaultEnrollmentIntention]:
        if getattr(self, "swagger_fake_view", False):
            return DefaultEnrollmentIntention.objects.none()
        return api.intentions_queryset()

    @extend_schema(
        summary="List a customer's default enrollment intentions",
        description="`enterprise_customer_uuid` is required (400 when missing, malformed or unknown). Each "
        "intention is resolved for now: the run it enrolls in, whether it is enrollable, its best mode and the "
        "customer's catalogs containing it. Soft-deleted intentions are listed only with `include_removed=true` "
        "(operators and admins). Oldest first, page-numbered.",
        parameters=[CUSTOMER_QUERY, INCLUDE_REMOVED],
        responses={
            200: IntentionSerializer(many=True),
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
        },
    )
    def get(self, request):
        customer_uuid = customer_uuid_from_query(request)
        require_reader(request.user, customer_uuid)
        include_removed = query_flag(request, "include_removed")
        if include_removed and not may_administer(request.user, customer_uuid):
            raise PermissionDenied("Only administrators may list removed intentions.")
        customer = named_customer(customer_uuid, CUSTOMER_FIELD)
        queryset = api.intentions_queryset(customer, include_removed=include_removed).order_by("created", "id")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(intention_rows(customer, list(page)))

    @extend_schema(
        summary="Create a default enrollment intention",
        description="Operators and the customer's admins. The content key is a run (that run) or a course "
        "(its advertised run when a learner is enrolled); it is stored canonically. 400 for a malformed key or "
        "one naming nothing, or when the customer has it already (a soft-deleted one included: the message "
        "says how to restore it). Catalog membership is not checked here (see the validation command). After "
        "commit the customer's existing learners are enrolled in the background.",
        request=IntentionCreateSerializer,
        responses={
            201: IntentionSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
        },
    )
    def post(self, request):
        require_enterprise_member(request.user, admins_only=True)
        serializer = IntentionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer_uuid = serializer.validated_data["enterprise_customer"]
        require_admin(request.user, customer_uuid)
        customer = named_customer(customer_uuid, "enterprise_customer")
        intention = api.create_intention(customer, serializer.validated_data["content_key"])
        schedule_realization(customer)
        return Response(intention_rows(customer, [intention])[0], status=status.HTTP_201_CREATED)


class IntentionDetailView(generics.GenericAPIView):
    """One intention: read (readers of its customer) and soft delete (admins)."""

    permission_classes = [IsAuthenticated]
    serializer_class = IntentionSerializer

    def get_queryset(self) -> QuerySet[DefaultEnrollmentIntention]:
        if getattr(self, "swagger_fake_view", False):
            return DefaultEnrollmentIntention.objects.none()
        return api.intentions_queryset(include_removed=True)

    @extend_schema(
        summary="Get a default enrollment intention",
        description="404 when the caller may not see its customer (learners do not see soft-deleted ones).",
        parameters=[INTENTION_PATH],
        responses={200: IntentionSerializer, 401: NOT_AUTHENTICATED, 404: INTENTION_NOT_FOUND},
    )
    def get(self, request, intention_uuid: str):
        intention = visible_intention(request, intention_uuid)
        return Response(intention_rows(intention.customer, [intention])[0])

    @extend_schema(
        summary="Delete (soft) a default enrollment intention",
        description="Operators and the customer's admins. The intention is kept, marked removed, and no longer "
        "applied; enrollments it made stay. Idempotent. Restore it with POST .../restore/.",
        parameters=[INTENTION_PATH],
        responses={
            204: OpenApiResponse(description="Removed."),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: INTENTION_NOT_FOUND,
        },
    )
    def delete(self, request, intention_uuid: str):
        intention = visible_intention(request, intention_uuid)
        require_admin(request.user, intention.customer.uuid)
        api.delete_intention(intention)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IntentionRestoreView(generics.GenericAPIView):
    """Undo the soft delete of an intention (admins)."""

    permission_classes = [IsAuthenticated]
    serializer_class = IntentionSerializer

    def get_queryset(self) -> QuerySet[DefaultEnrollmentIntention]:
        if getattr(self, "swagger_fake_view", False):
            return DefaultEnrollmentIntention.objects.none()
        return api.intentions_queryset(include_removed=True)

    @extend_schema(
        summary="Restore a soft-deleted default enrollment intention",
        description="Operators and the customer's admins. Idempotent. After commit the customer's existing "
        "learners are enrolled in the background.",
        parameters=[INTENTION_PATH],
        request=None,
        responses={200: IntentionSerializer, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: INTENTION_NOT_FOUND},
    )
    def post(self, request, intention_uuid: str):
        intention = visible_intention(request, intention_uuid)
        customer = intention.customer
        require_admin(request.user, customer.uuid)
        restored = api.restore_intention(intention)
        schedule_realization(customer)
        return Response(intention_rows(customer, [restored])[0])


# --- learner status and realization ----------------------------------------------------------------


def _status_item(item: IntentionStatus, customer_uuid: uuid.UUID) -> dict[str, Any]:
    return {
        **intention_fields(item.intention, customer_uuid),
        "has_existing_enrollment": item.has_existing_enrollment,
        "is_existing_enrollment_active": item.is_existing_enrollment_active,
        "is_existing_enrollment_audit": item.is_existing_enrollment_audit,
        "reason": item.reason,
    }


def named_user(raw: Any, field: str):
    """The user a ``lms_user_id`` names; malformed or unknown is a 400 on ``field``."""
    try:
        return identity_api.get_user(id=raw)
    except InvalidInput:
        raise ValidationError({field: [f"{raw!r} is not a user id."]}) from None
    except NotFound:
        raise ValidationError({field: [f"No user has the id {raw}."]}) from None


class LearnerStatusView(generics.GenericAPIView):
    """Where each default enrollment intention of a customer stands for one learner."""

    permission_classes = [IsAuthenticated]
    serializer_class = LearnerStatusSerializer
    pagination_class = None

    @extend_schema(
        summary="A learner's default enrollment status",
        description="Every non-removed intention of the customer, grouped for the learner by the eight ordered "
        "rules: already_enrolled, needs_enrollment.enrollable and needs_enrollment.not_enrollable, with counts; "
        "each item says which rule placed it (`reason`). Callers get their own status; `lms_user_id` is "
        "honoured for operators only. 400 when `enterprise_customer_uuid` is missing, malformed or unknown, or "
        "the user is unknown or not a linked learner of the customer.",
        parameters=[CUSTOMER_QUERY, LMS_USER_ID],
        responses={200: LearnerStatusSerializer, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def get(self, request):
        customer_uuid = customer_uuid_from_query(request)
        require_reader(request.user, customer_uuid)
        customer = named_customer(customer_uuid, CUSTOMER_FIELD)
        user = request.user
        raw_user_id = request.query_params.get("lms_user_id")
        if raw_user_id not in (None, "") and core_api.is_operator(request.user):
            user = named_user(raw_user_id, "lms_user_id")
        learner_status = api.learner_status(customer, user)
        enrollable = [_status_item(item, customer.uuid) for item in learner_status.enrollable]
        not_enrollable = [_status_item(item, customer.uuid) for item in learner_status.not_enrollable]
        already_enrolled = [_status_item(item, customer.uuid) for item in learner_status.already_enrolled]
        body = {
            "lms_user_id": learner_status.user_id,
            "user_email": learner_status.user_email,
            "enterprise_customer_uuid": customer.uuid,
            "enrollment_statuses": {
                "needs_enrollment": {"enrollable": enrollable, "not_enrollable": not_enrollable},
                "already_enrolled": already_enrolled,
            },
            "metadata": {
                "total_default_enterprise_enrollment_intentions": learner_status.total,
                "total_needs_enrollment": {"enrollable": len(enrollable), "not_enrollable": len(not_enrollable)},
                "total_already_enrolled": len(already_enrolled),
            },
        }
        return Response(LearnerStatusSerializer(body).data)


REALIZE_RESULT = PolymorphicProxySerializer(
    component_name="DefaultEnrollmentRealizeResult",
    serializers=[RealizeResponseSerializer, CustomerRealizeResponseSerializer],
    resource_type_field_name=None,
)


class RealizeView(generics.GenericAPIView):
    """Enroll learners in their enrollable default enrollments now."""

    permission_classes = [IsAuthenticated]
    serializer_class = RealizeRequestSerializer

    @extend_schema(
        summary="Realize default enrollments",
        description="Enrolls the learner in every enrollable intention with an activated license whose plan's "
        "catalog covers it, in the best mode, and records the realizations; idempotent. Learners realize their "
        "own; operators may name `lms_user_id`; operators and admins may send `all_learners: true` to do it for "
        "every active learner of the customer (answered with counts). 400 when the customer is unknown or the "
        "learner is not linked to it.",
        request=RealizeRequestSerializer,
        responses={200: REALIZE_RESULT, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def post(self, request):
        require_enterprise_member(request.user)
        serializer = RealizeRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        customer_uuid = values[CUSTOMER_FIELD]
        require_reader(request.user, customer_uuid)
        if values["all_learners"]:
            require_admin(request.user, customer_uuid)
            customer = named_customer(customer_uuid, CUSTOMER_FIELD)
            counts = api.realize_for_customer(customer)
            return Response(CustomerRealizeResponseSerializer(counts).data)
        user = request.user
        lms_user_id = values.get("lms_user_id")
        if lms_user_id is not None and lms_user_id != request.user.pk:
            if not core_api.is_operator(request.user):
                raise PermissionDenied("Only operators may realize default enrollments for another learner.")
            user = named_user(lms_user_id, "lms_user_id")
        customer = named_customer(customer_uuid, CUSTOMER_FIELD)
        result = api.realize_default_enrollments(customer, user)
        return Response(RealizeResponseSerializer(result).data)


# --- enterprise course enrollments -----------------------------------------------------------------


def _course_key_filter(raw: str) -> CourseKey:
    try:
        return catalog_api.parse_course_key(raw, "course_run_key")
    except InvalidInput:
        raise ValidationError({"course_run_key": [f"{raw!r} is not a course run key."]}) from None


class EnterpriseEnrollmentListView(generics.GenericAPIView):
    """Course enrollments made through customers."""

    permission_classes = [IsAuthenticated]
    serializer_class = EnterpriseEnrollmentSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        """The enrollments the caller may see: operators all, admins their customers', learners their own."""
        if getattr(self, "swagger_fake_view", False):
            return EnterpriseCourseEnrollment.objects.none()
        queryset = api.enterprise_enrollments_queryset()
        user = self.request.user
        administered = administered_customer_uuids(user)
        if administered is None:
            return queryset
        return queryset.filter(Q(customer_user__customer__uuid__in=administered) | Q(customer_user__user=user))

    @extend_schema(
        summary="List enterprise course enrollments",
        description="Operators and admins see their customers' enrollments, learners their own (with "
        "`enterprise_customer_uuid`, only that customer's; a customer the caller may not read is a 403). "
        "Filters: course_run_key (exact), unenrolled. In id order, page-numbered.",
        parameters=[OPTIONAL_CUSTOMER_QUERY, COURSE_RUN_KEY, UNENROLLED],
        responses={
            200: EnterpriseEnrollmentSerializer(many=True),
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
        },
    )
    def get(self, request):
        queryset = self.get_queryset()
        customer_uuid = customer_uuid_from_query(request, required=False)
        if customer_uuid is not None:
            require_reader(request.user, customer_uuid)
            queryset = queryset.filter(customer_user__customer__uuid=customer_uuid)
            if not may_administer(request.user, customer_uuid):
                queryset = queryset.filter(customer_user__user=request.user)
        course_run_key = request.query_params.get("course_run_key")
        if course_run_key is not None:
            queryset = queryset.filter(course_enrollment__course_run__course_key=_course_key_filter(course_run_key))
        if "unenrolled" in request.query_params:
            if query_flag(request, "unenrolled"):
                queryset = queryset.filter(unenrolled=True)
            else:
                queryset = queryset.filter(Q(unenrolled=False) | Q(unenrolled__isnull=True))
        page = self.paginate_queryset(with_links(queryset).order_by("id"))
        rows = [enterprise_enrollment_fields(row) for row in page]
        return self.get_paginated_response(EnterpriseEnrollmentSerializer(rows, many=True).data)


def with_links(queryset: QuerySet[EnterpriseCourseEnrollment]) -> QuerySet[EnterpriseCourseEnrollment]:
    """Enterprise enrollments with what ``enterprise_enrollment_fields`` reads joined or annotated (one query)."""
    return queryset.select_related("customer_user", "course_enrollment__course_run").annotate(
        license_uuid=F("license__uuid"),
        default_intention_uuid=F("default_enrollment_realization__intention__uuid"),
    )


def enterprise_enrollment_fields(row: EnterpriseCourseEnrollment) -> dict[str, Any]:
    """The fields of an enterprise enrollment read through ``with_links``."""
    return {
        "id": row.id,
        "enterprise_customer_user": row.customer_user_id,
        "user_id": row.customer_user.user_id,
        "course_run_key": str(row.course_enrollment.course_run.course_key),
        "mode": row.course_enrollment.mode,
        "is_active": row.course_enrollment.is_active,
        "source": row.source,
        "license_uuid": row.license_uuid,
        "saved_for_later": row.saved_for_later,
        "unenrolled": row.unenrolled,
        "unenrolled_at": row.unenrolled_at,
        "created": row.created,
        "default_intention_uuid": row.default_intention_uuid,
    }


ENROLLMENT_NOT_FOUND = OpenApiResponse(description="No such enterprise enrollment the caller may change.")
ENROLLMENT_PATH = OpenApiParameter(
    "enrollment_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The enterprise course enrollment's id."
)
_MAX_ID = 2**63 - 1  # the largest key of a 64-bit id column; a larger number names no row


def own_enterprise_enrollment(request, enrollment_id: str) -> EnterpriseCourseEnrollment:
    """The enterprise enrollment of the path if the caller may change it: the learner it belongs to, or an
    operator. The customer's admins, who may see it, get a 403; anyone else a 404, as for an id that names no
    enrollment (a malformed one included)."""
    if not (enrollment_id.isascii() and enrollment_id.isdigit() and len(enrollment_id) < 20):
        raise Http404("No enterprise enrollment has this id.")
    wanted = int(enrollment_id)
    row = api.enterprise_enrollments_queryset().filter(pk=wanted).first() if wanted <= _MAX_ID else None
    if row is None:
        raise Http404("No enterprise enrollment has this id.")
    user = request.user
    if row.customer_user.user_id == user.pk or core_api.is_operator(user):
        return row
    if may_administer(user, row.customer_user.customer.uuid):
        raise PermissionDenied("Only the learner may change whether their enrollment is saved for later.")
    raise Http404("No enterprise enrollment has this id.")


class EnterpriseEnrollmentDetailView(generics.GenericAPIView):
    """One enterprise course enrollment: its learner saves it for later, or takes it back."""

    permission_classes = [IsAuthenticated]
    serializer_class = SavedForLaterSerializer

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return EnterpriseCourseEnrollment.objects.none()
        return api.enterprise_enrollments_queryset()

    @extend_schema(
        summary="Save an enterprise enrollment for later (or not)",
        description="The learner the enrollment belongs to (and operators) set `saved_for_later`, the only field "
        "this endpoint changes; idempotent. The customer's admins get a 403; anyone else a 404. 400 unless the "
        "body is a JSON object whose only field is `saved_for_later`, a boolean.",
        parameters=[ENROLLMENT_PATH],
        request=SavedForLaterSerializer,
        responses={
            200: EnterpriseEnrollmentSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: ENROLLMENT_NOT_FOUND,
        },
    )
    def patch(self, request, enrollment_id: str):
        row = own_enterprise_enrollment(request, enrollment_id)
        api.set_saved_for_later(row.pk, parse_saved_for_later(request.data))
        changed = with_links(api.enterprise_enrollments_queryset()).get(pk=row.pk)
        return Response(EnterpriseEnrollmentSerializer(enterprise_enrollment_fields(changed)).data)
