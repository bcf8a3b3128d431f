"""REST views of enterprise customers, their learners, data-sharing consent, enterprise catalogs,
subscription plans and licenses, under ``/enterprise/api/v1/`` in the edx-enterprise and license-manager
shapes. Thin: shape checks, the permission rules of ``enterprise.rest.permissions``, then ``enterprise.api``.

Who may do what:
- anonymous callers get 401;
- operators: everything (customers, catalogs and plans are created and changed by operators only);
- enterprise administrators: read their customers, catalogs, plans and licenses; link and unlink learners;
  assign and revoke licenses; read their learners' consent;
- learners: the customers they are linked to (and make one their active customer), their own learner rows,
  their own consent (grant and revoke), their own licenses (and activate one assigned to them), and whether
  a customer's catalogs contain some content.

Tenant isolation: a customer named in the path of an action or in the query or body that the caller may not
act for is a 403; an object addressed by its own uuid (a customer's detail, a catalog, a plan, a license)
that the caller may not see is a 404. When the caller may see the object's customer but not do what they
asked (a learner reading a plan, an administrator changing a catalog), it is a 403.

Lists use page-number pagination (``count``, ``next``, ``previous``, ``results``; ``?page=`` and
``?page_size=`` up to ROLLBOOK_API_MAX_PAGE_SIZE), as edx-enterprise does.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.core import api as core_api
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.core.pagination import PageNumberPagination
from rollbook.enterprise import api
from rollbook.enterprise.customers import LinkResult, LinkStatus
from rollbook.enterprise.rest.customer_serializers import (
    LICENSE_STATUS_CHOICES,
    CatalogCreateSerializer,
    CatalogSerializer,
    CatalogUpdateSerializer,
    ConsentRequestSerializer,
    ConsentSerializer,
    ContainsContentItemsSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    LearnerSerializer,
    LicenseAssignResponseSerializer,
    LicenseSerializer,
    LinkResponseSerializer,
    PayloadTooLarge,
    PlanCreateSerializer,
    PlanSerializer,
    PlanUpdateSerializer,
    RevokeResponseSerializer,
    UserEmailsSerializer,
    bulk_max_items,
    parse_user_emails,
    refuse_oversized,
)
from rollbook.enterprise.rest.permissions import (
    administered_customer_uuids,
    is_learner_of,
    may_administer,
    may_read,
    require_admin,
    require_reader,
)
from rollbook.identity import api as identity_api

BAD_REQUEST = OpenApiResponse(description="Malformed input; the body maps each field to its errors.")
NOT_AUTHENTICATED = OpenApiResponse(description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(description="The caller may not do this for this enterprise customer.")
NOT_FOUND = OpenApiResponse(description="No such object visible to the caller.")
CONFLICT = OpenApiResponse(description="The object is still in use.")
TOO_LARGE = OpenApiResponse(description="More items than ROLLBOOK_BULK_MAX_ITEMS.")

CUSTOMER_UUID = OpenApiParameter(
    "customer_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The enterprise customer."
)
CATALOG_UUID = OpenApiParameter("catalog_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The catalog.")
PLAN_UUID = OpenApiParameter(
    "plan_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The subscription plan."
)
LICENSE_UUID = OpenApiParameter("license_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The license.")
CUSTOMER_FILTER = OpenApiParameter(
    "enterprise_customer_uuid", OpenApiTypes.UUID, description="Only this customer's (403 if not yours)."
)
COURSE_RUN_IDS = OpenApiParameter(
    "course_run_ids",
    OpenApiTypes.STR,
    description="Course run keys (comma-separated, or the parameter repeated); any content key is accepted.",
)
COURSE_KEYS = OpenApiParameter(
    "course_keys",
    OpenApiTypes.STR,
    description="Catalog course keys (catalog-course:ORG:CODE or ORG+CODE; comma-separated or repeated).",
)
LICENSE_STATUSES = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    description=f"Only licenses in these statuses ({', '.join(LICENSE_STATUS_CHOICES)}; comma-separated or repeated).",
)


# --- helpers -------------------------------------------------------------------------------------


def _path_uuid(text: str, what: str) -> uuid.UUID:
    """The uuid of an object addressed in the path; a malformed one names nothing (404)."""
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise NotFound(f"No {what} has the uuid {text!r}.") from None


def _query_uuid(request, name: str) -> uuid.UUID | None:
    """A uuid query parameter; None when absent, 400 when malformed."""
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise ValidationError({name: [f"{raw!r} is not a UUID."]}) from None


def _query_list(request, name: str) -> list[str]:
    """A list query parameter, comma-separated and/or repeated (empty when absent)."""
    return [part.strip() for value in request.query_params.getlist(name) for part in value.split(",") if part.strip()]


def _query_statuses(request) -> list[str]:
    statuses = _query_list(request, "status")
    unknown = sorted(set(statuses) - set(LICENSE_STATUS_CHOICES))
    if unknown:
        raise ValidationError(
            {"status": [f"Unknown status(es) {', '.join(unknown)}; use {', '.join(LICENSE_STATUS_CHOICES)}."]}
        )
    return statuses


def _content_keys_query(request) -> list[str]:
    """The content keys of a ``contains_content_items`` query (``course_run_ids`` and ``course_keys``)."""
    # A '+' left unencoded in a query string arrives as a space; content keys never contain spaces.
    keys = [
        key.replace(" ", "+") for key in _query_list(request, "course_run_ids") + _query_list(request, "course_keys")
    ]
    if not keys:
        raise ValidationError({"course_run_ids": ["Give course_run_ids and/or course_keys."]})
    limit = bulk_max_items()
    if len(keys) > limit:
        raise PayloadTooLarge(f"At most {limit} content keys per call; got {len(keys)}.")
    return keys


@contextmanager
def _errors_renamed(**names: str) -> Iterator[None]:
    """Report the api's field errors under the names the request used (``api_name="wire_name"``)."""
    try:
        yield
    except InvalidInput as exc:
        raise InvalidInput({names.get(field, field): messages for field, messages in exc.errors.items()}) from None


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _require_operator(request) -> None:
    if not core_api.is_operator(request.user):
        raise PermissionDenied("Only operators may do this.")


def _refuse(request, customer_uuid: uuid.UUID, what: str) -> None:
    """Refuse an action on an object of the customer: 403 if the caller may see the customer, else 404."""
    if may_read(request.user, customer_uuid):
        raise PermissionDenied(f"You may not {what}.")
    raise NotFound("No such object.")


def _customer_in_path(request, text: str, *, admin: bool):
    """The customer an action's path names: 404 malformed, 403 not the caller's, 404 unknown (operators)."""
    key = _path_uuid(text, "enterprise customer")
    if admin:
        require_admin(request.user, key)
    else:
        require_reader(request.user, key)
    return api.get_customer(key)


def _customer_named(request, key: uuid.UUID, field: str, *, admin: bool):
    """The customer a query or body names: 403 when the caller may not act for it, 400 when unknown."""
    if admin:
        require_admin(request.user, key)
    else:
        require_reader(request.user, key)
    try:
        return api.get_customer(key)
    except NotFound:
        raise ValidationError({field: [f"No enterprise customer has the uuid {key}."]}) from None


def _by_administered_customers(queryset: QuerySet, user, lookup: str = "customer__uuid__in") -> QuerySet:
    keys = administered_customer_uuids(user)
    return queryset if keys is None else queryset.filter(**{lookup: sorted(keys)})


def _results_code(statuses: Iterable[str], ok: frozenset[str]) -> int:
    """200 when every result is ok, 207 when some are, 422 when none is."""
    outcomes = [value in ok for value in statuses]
    if all(outcomes):
        return status.HTTP_200_OK
    if any(outcomes):
        return status.HTTP_207_MULTI_STATUS
    return status.HTTP_422_UNPROCESSABLE_ENTITY


# --- customers -----------------------------------------------------------------------------------


def _customers() -> QuerySet:
    return api.customers_queryset().prefetch_related("provider_links__identity_provider")


def _customer_row(key: uuid.UUID):
    customer = _customers().filter(uuid=key).first()
    if customer is None:
        raise NotFound(f"No enterprise customer has the uuid {key}.")
    return customer


class CustomerListView(generics.GenericAPIView):
    """Enterprise customers: list (those the caller may see) and create (operators)."""

    serializer_class = CustomerSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        queryset = _customers()
        user = self.request.user
        if getattr(self, "swagger_fake_view", False):
            return queryset
        administered = administered_customer_uuids(user)
        if administered is None:
            return queryset
        visible = administered | {str(key) for key in api.customer_uuids_of_learner(user)}
        return queryset.filter(uuid__in=sorted(visible))

    @extend_schema(
        summary="List enterprise customers",
        description="Operators see every customer; administrators the customers they administer; learners the "
        "customers they are linked to. Ordered by name.",
        responses={200: CustomerSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an enterprise customer (operators)",
        request=CustomerCreateSerializer,
        responses={201: CustomerSerializer, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def post(self, request):
        _require_operator(request)
        values = _validated(CustomerCreateSerializer, request.data)
        with _errors_renamed(identity_provider_slugs="identity_providers", customer_uuid="uuid"):
            customer = api.create_customer(
                identity_provider_slugs=values.pop("identity_providers"),
                customer_uuid=values.pop("uuid", None),
                **values,
            )
        return Response(CustomerSerializer(_customer_row(customer.uuid)).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(APIView):
    """One enterprise customer: read (whoever may see it), change (operators)."""

    @extend_schema(
        summary="Get an enterprise customer",
        parameters=[CUSTOMER_UUID],
        responses={200: CustomerSerializer, 401: NOT_AUTHENTICATED, 404: NOT_FOUND},
    )
    def get(self, request, customer_uuid: str):
        key = _path_uuid(customer_uuid, "enterprise customer")
        if not may_read(request.user, key):
            raise NotFound(f"No enterprise customer has the uuid {key}.")
        return Response(CustomerSerializer(_customer_row(key)).data)

    @extend_schema(
        summary="Change an enterprise customer (operators)",
        description="Only the given fields change; `identity_providers` replaces the customer's set.",
        parameters=[CUSTOMER_UUID],
        request=CustomerUpdateSerializer,
        responses={
            200: CustomerSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def patch(self, request, customer_uuid: str):
        key = _path_uuid(customer_uuid, "enterprise customer")
        if not core_api.is_operator(request.user):
            _refuse(request, key, "change this customer")
        values = _validated(CustomerUpdateSerializer, request.data)
        if "identity_providers" in values:
            values["identity_provider_slugs"] = values.pop("identity_providers")
        with _errors_renamed(identity_provider_slugs="identity_providers"):
            api.update_customer(key, **values)
        return Response(CustomerSerializer(_customer_row(key)).data)


class CustomerContainsContentItemsView(APIView):
    """Whether a customer's catalogs contain some content."""

    @extend_schema(
        summary="Do the customer's catalogs contain these items?",
        description="True when the customer's catalogs together contain every key given; malformed and unknown "
        "keys are not contained. For the customer's administrators and learners, and operators.",
        parameters=[CUSTOMER_UUID, COURSE_RUN_IDS, COURSE_KEYS],
        responses={
            200: ContainsContentItemsSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            413: TOO_LARGE,
        },
    )
    def get(self, request, customer_uuid: str):
        customer = _customer_in_path(request, customer_uuid, admin=False)
        keys = _content_keys_query(request)
        return Response({"contains_content_items": api.customer_contains(customer, keys)})


LINK_OK = frozenset({LinkStatus.LINKED, LinkStatus.PENDING, LinkStatus.ALREADY_LINKED})
UNLINK_OK = frozenset({LinkStatus.UNLINKED})


def _link_response(results: list[LinkResult], ok: frozenset[str]) -> Response:
    body = {
        "results": [{"email": result.email, "status": result.status, "user_id": result.user_id} for result in results],
        "counts": dict(Counter(result.status for result in results)),
    }
    return Response(body, status=_results_code((result.status for result in results), ok))


def _link_schema(summary: str, description: str):
    return extend_schema(
        summary=summary,
        description=description + " One result per email, in order; the same email twice (any case) is "
        "`duplicated`, a malformed one `invalid_email`. 200 when every email succeeded, 207 when some did, 422 "
        "when none did; 413 past ROLLBOOK_BULK_MAX_ITEMS emails. For the customer's administrators and operators.",
        parameters=[CUSTOMER_UUID],
        request=UserEmailsSerializer,
        responses={
            200: LinkResponseSerializer,
            207: LinkResponseSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            413: TOO_LARGE,
            422: LinkResponseSerializer,
        },
    )


class LinkLearnersView(APIView):
    """Link learners to a customer by email."""

    @_link_schema(
        "Link learners by email",
        "An email of an existing account links that user (`linked`, or `already_linked`); another email becomes "
        "a pending learner (`pending`), linked when an account with it registers.",
    )
    def post(self, request, customer_uuid: str):
        customer = _customer_in_path(request, customer_uuid, admin=True)
        emails = parse_user_emails(request.data)
        return _link_response(api.link_learners(customer, emails), LINK_OK)


class UnlinkLearnersView(APIView):
    """Unlink learners from a customer by email."""

    @_link_schema(
        "Unlink learners by email",
        "A linked learner is unlinked (`unlinked`; their row and enrollments are kept); a pending one is "
        "removed; an email that is no learner of the customer is `not_linked`.",
    )
    def post(self, request, customer_uuid: str):
        customer = _customer_in_path(request, customer_uuid, admin=True)
        emails = parse_user_emails(request.data)
        return _link_response(api.unlink_learners(customer, emails), UNLINK_OK)


class ActivateCustomerView(APIView):
    """A learner makes one of their customers the active one."""

    @extend_schema(
        summary="Make this customer my active one",
        description="The caller must be a linked learner of the customer; their other customers become inactive.",
        parameters=[CUSTOMER_UUID],
        request=None,
        responses={200: LearnerSerializer, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def post(self, request, customer_uuid: str):
        key = _path_uuid(customer_uuid, "enterprise customer")
        if not is_learner_of(request.user, key):
            raise PermissionDenied("You are not a linked learner of this enterprise customer.")
        row = api.activate_customer(key, request.user)
        return Response(LearnerSerializer(api.learners_queryset(key).get(pk=row.pk)).data)


# --- learners ------------------------------------------------------------------------------------


class LearnerListView(generics.GenericAPIView):
    """Learners of customers (enterprise customer users), pending ones included."""

    serializer_class = LearnerSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return api.learners_queryset()
        user = self.request.user
        key = _query_uuid(self.request, "enterprise_customer_uuid")
        if key is not None:
            customer = _customer_named(self.request, key, "enterprise_customer_uuid", admin=False)
            rows = api.learners_queryset(customer)
            if not may_administer(user, key):
                rows = rows.filter(user=user)
        else:
            rows = api.learners_queryset()
            administered = administered_customer_uuids(user)
            if administered is not None:
                rows = rows.filter(Q(customer__uuid__in=sorted(administered)) | Q(user=user))
        return rows.order_by("customer_id", "id")

    @extend_schema(
        summary="List learners of enterprise customers",
        description="Operators see every learner; administrators their customers' learners; anyone their own "
        "learner rows. Pending learners (an email with no account yet) have no user_id.",
        parameters=[CUSTOMER_FILTER],
        responses={200: LearnerSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(LearnerSerializer(page, many=True).data)


# --- consent -------------------------------------------------------------------------------------


def _consent_request(request, data) -> tuple[object, object, str]:
    """(customer, subject user, course_id as given) of a consent call, permissions checked.

    Reading another user's consent: operators, and the customer's administrators for its learners.
    Granting or revoking for another user: operators only.
    """
    values = _validated(ConsentRequestSerializer, data)
    customer = _customer_named(request, values["enterprise_customer_uuid"], "enterprise_customer_uuid", admin=False)
    caller = request.user
    username = values.get("username")
    if username is None or username == caller.get_username():
        return customer, caller, values["course_id"]
    operator = core_api.is_operator(caller)
    reading = request.method == "GET"
    if not operator and not (reading and may_administer(caller, customer.uuid)):
        raise PermissionDenied("You may only see or change your own consent.")
    unknown = ValidationError({"username": [f"No learner of this customer has the username {username!r}."]})
    try:
        subject = identity_api.get_user(username=username)
    except NotFound:
        raise unknown from None
    if not operator and api.customer_user_for(customer, subject) is None:
        raise unknown
    return customer, subject, values["course_id"]


def _consent_body(state, course_id: str) -> dict:
    return {
        "username": state.username,
        "enterprise_customer_uuid": str(state.customer_uuid),
        "course_id": course_id,
        "exists": state.exists,
        "consent_provided": state.granted is True,
        "consent_required": state.consent_required,
    }


def _consent_data(request):
    """POST and DELETE take the body, or the query string when the body is empty (DELETE bodies get lost)."""
    return request.data if request.data else request.query_params


_CONSENT_RESPONSES = {
    200: ConsentSerializer,
    400: BAD_REQUEST,
    401: NOT_AUTHENTICATED,
    403: FORBIDDEN,
}


class DataSharingConsentView(APIView):
    """A learner's data-sharing consent for a course with a customer: read, grant, revoke."""

    @extend_schema(
        summary="Get a learner's data-sharing consent",
        description="The caller's own consent (or, for operators and the customer's administrators, the named "
        "learner's). A missing record is `exists: false` and is not consent.",
        parameters=[ConsentRequestSerializer],
        responses=_CONSENT_RESPONSES,
    )
    def get(self, request):
        customer, user, course_id = _consent_request(request, request.query_params)
        with _errors_renamed(content_key="course_id"):
            state = api.get_consent(customer, user, course_id)
        return Response(_consent_body(state, course_id))

    @extend_schema(
        summary="Grant data-sharing consent",
        description="The caller (a linked learner of the customer) grants consent for the course; operators may "
        "name a `username`. The record keeps its history.",
        request=ConsentRequestSerializer,
        responses=_CONSENT_RESPONSES,
    )
    def post(self, request):
        customer, user, course_id = _consent_request(request, _consent_data(request))
        with _errors_renamed(content_key="course_id"):
            state = api.grant_consent(customer, user, course_id)
        return Response(_consent_body(state, course_id))

    @extend_schema(
        summary="Revoke data-sharing consent",
        description="The caller refuses consent for the course (the record is kept, `consent_provided: false`); "
        "operators may name a `username`. Parameters in the query string or the body.",
        parameters=[ConsentRequestSerializer],
        responses=_CONSENT_RESPONSES,
    )
    def delete(self, request):
        customer, user, course_id = _consent_request(request, _consent_data(request))
        with _errors_renamed(content_key="course_id"):
            state = api.revoke_consent(customer, user, course_id)
        return Response(_consent_body(state, course_id))


# --- catalogs ------------------------------------------------------------------------------------


def _catalogs() -> QuerySet:
    return (
        api.catalogs_queryset()
        .select_related("customer")
        .prefetch_related("course_entries__catalog_course__org", "organization_entries__organization")
    )


def _catalog_for(request, text: str, *, readers: bool = False, entries: bool = False):
    """The catalog of the path if the caller administers its customer (or, with ``readers``, may read the
    customer); 403 when they may only see the customer, else 404. With ``entries`` its courses and
    organizations are loaded too (to show it)."""
    key = _path_uuid(text, "enterprise catalog")
    catalog = (_catalogs() if entries else api.catalogs_queryset()).filter(uuid=key).first()
    if catalog is None:
        raise NotFound(f"No enterprise catalog has the uuid {key}.")
    allowed = may_read if readers else may_administer
    if not allowed(request.user, catalog.customer.uuid):
        _refuse(request, catalog.customer.uuid, "see this catalog")
    return catalog


_CATALOG_FIELDS = {
    "content_keys": "content_keys",
    "organization_short_names": "organizations",
    "catalog_uuid": "uuid",
    "customer": "enterprise_customer",
}
_CATALOG_LISTS = (
    "content_keys",
    "organizations",
    "add_content_keys",
    "remove_content_keys",
    "add_organizations",
    "remove_organizations",
)


class CatalogListView(generics.GenericAPIView):
    """Enterprise catalogs: list (administrators their customers', operators all) and create (operators)."""

    serializer_class = CatalogSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return _catalogs()
        key = _query_uuid(self.request, "enterprise_customer_uuid")
        if key is not None:
            customer = _customer_named(self.request, key, "enterprise_customer_uuid", admin=True)
            return _catalogs().filter(customer=customer).order_by("title", "id")
        return _by_administered_customers(_catalogs(), self.request.user).order_by("customer_id", "title", "id")

    @extend_schema(
        summary="List enterprise catalogs",
        parameters=[CUSTOMER_FILTER],
        responses={200: CatalogSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CatalogSerializer(page, many=True).data)

    @extend_schema(
        summary="Create an enterprise catalog (operators)",
        description="All or nothing: every bad content key, unknown organization or taken title is reported.",
        request=CatalogCreateSerializer,
        responses={
            201: CatalogSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            413: TOO_LARGE,
        },
    )
    def post(self, request):
        _require_operator(request)
        refuse_oversized(request.data, *_CATALOG_LISTS)
        values = _validated(CatalogCreateSerializer, request.data)
        customer = _customer_named(request, values["enterprise_customer"], "enterprise_customer", admin=True)
        with _errors_renamed(**_CATALOG_FIELDS):
            catalog = api.create_catalog(
                customer,
                title=values["title"],
                content_keys=values["content_keys"],
                organization_short_names=values["organizations"],
                catalog_uuid=values.get("uuid"),
            )
        return Response(CatalogSerializer(_catalogs().get(pk=catalog.pk)).data, status=status.HTTP_201_CREATED)


class CatalogDetailView(APIView):
    """One enterprise catalog: read (its customer's administrators), change and delete (operators)."""

    @extend_schema(
        summary="Get an enterprise catalog",
        parameters=[CATALOG_UUID],
        responses={200: CatalogSerializer, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get(self, request, catalog_uuid: str):
        return Response(CatalogSerializer(_catalog_for(request, catalog_uuid, entries=True)).data)

    @extend_schema(
        summary="Change an enterprise catalog (operators)",
        description="Rename it, add or remove content keys and organizations; all or nothing.",
        parameters=[CATALOG_UUID],
        request=CatalogUpdateSerializer,
        responses={
            200: CatalogSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            413: TOO_LARGE,
        },
    )
    def patch(self, request, catalog_uuid: str):
        catalog = _catalog_for(request, catalog_uuid, readers=True)
        if not core_api.is_operator(request.user):
            raise PermissionDenied("Only operators may change catalogs.")
        refuse_oversized(request.data, *_CATALOG_LISTS)
        values = _validated(CatalogUpdateSerializer, request.data)
        api.update_catalog(catalog, **values)
        return Response(CatalogSerializer(_catalogs().get(pk=catalog.pk)).data)

    @extend_schema(
        summary="Delete an enterprise catalog (operators)",
        parameters=[CATALOG_UUID],
        responses={
            204: OpenApiResponse(description="Deleted."),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
        },
    )
    def delete(self, request, catalog_uuid: str):
        catalog = _catalog_for(request, catalog_uuid, readers=True)
        if not core_api.is_operator(request.user):
            raise PermissionDenied("Only operators may delete catalogs.")
        api.delete_catalog(catalog)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CatalogContainsContentItemsView(APIView):
    """Whether one catalog contains some content."""

    @extend_schema(
        summary="Does the catalog contain these items?",
        description="True when the catalog contains every key given; malformed and unknown keys are not "
        "contained. For the customer's administrators and learners, and operators.",
        parameters=[CATALOG_UUID, COURSE_RUN_IDS, COURSE_KEYS],
        responses={
            200: ContainsContentItemsSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            404: NOT_FOUND,
            413: TOO_LARGE,
        },
    )
    def get(self, request, catalog_uuid: str):
        catalog = _catalog_for(request, catalog_uuid, readers=True)
        keys = _content_keys_query(request)
        return Response({"contains_content_items": api.contains(catalog, keys)})


# --- subscription plans --------------------------------------------------------------------------


def _plans() -> QuerySet:
    return api.plans_queryset().select_related("customer", "catalog")


def _plan_for(request, text: str):
    """The plan of the path if the caller administers its customer; 403 if they may only see the customer,
    else 404."""
    key = _path_uuid(text, "subscription plan")
    plan = _plans().filter(uuid=key).first()
    if plan is None:
        raise NotFound(f"No subscription plan has the uuid {key}.")
    if not may_administer(request.user, plan.customer.uuid):
        _refuse(request, plan.customer.uuid, "see this subscription plan")
    return plan


_PLAN_FIELDS = {"plan_uuid": "uuid", "catalog": "enterprise_catalog_uuid", "customer": "enterprise_customer_uuid"}


class PlanListView(generics.GenericAPIView):
    """Subscription plans: list (administrators their customers', operators all) and create (operators)."""

    serializer_class = PlanSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return _plans()
        key = _query_uuid(self.request, "enterprise_customer_uuid")
        if key is not None:
            customer = _customer_named(self.request, key, "enterprise_customer_uuid", admin=True)
            return _plans().filter(customer=customer).order_by("-start", "id")
        return _by_administered_customers(_plans(), self.request.user).order_by("customer_id", "-start", "id")

    @extend_schema(
        summary="List subscription plans",
        parameters=[CUSTOMER_FILTER],
        responses={200: PlanSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PlanSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a subscription plan (operators)",
        description="Creates the plan and its `seats` unassigned licenses. The catalog must be the customer's.",
        request=PlanCreateSerializer,
        responses={201: PlanSerializer, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def post(self, request):
        _require_operator(request)
        values = _validated(PlanCreateSerializer, request.data)
        customer = _customer_named(request, values["enterprise_customer_uuid"], "enterprise_customer_uuid", admin=True)
        try:
            catalog = api.get_catalog(values["enterprise_catalog_uuid"])
        except NotFound:
            raise ValidationError(
                {
                    "enterprise_catalog_uuid": [
                        f"No enterprise catalog has the uuid {values['enterprise_catalog_uuid']}."
                    ]
                }
            ) from None
        with _errors_renamed(**_PLAN_FIELDS):
            plan = api.create_plan(
                customer,
                catalog=catalog,
                title=values["title"],
                seats=values["seats"],
                start=values["start"],
                expiration=values["expiration"],
                active=values["active"],
                plan_uuid=values.get("uuid"),
            )
        return Response(PlanSerializer(_plans().get(pk=plan.pk)).data, status=status.HTTP_201_CREATED)


class PlanDetailView(APIView):
    """One subscription plan: read (its customer's administrators), change (operators)."""

    @extend_schema(
        summary="Get a subscription plan",
        parameters=[PLAN_UUID],
        responses={200: PlanSerializer, 401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    def get(self, request, plan_uuid: str):
        return Response(PlanSerializer(_plan_for(request, plan_uuid)).data)

    @extend_schema(
        summary="Change a subscription plan (operators)",
        description="More seats add unassigned licenses; fewer remove unassigned ones and are refused below the "
        "seats in use.",
        parameters=[PLAN_UUID],
        request=PlanUpdateSerializer,
        responses={
            200: PlanSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def patch(self, request, plan_uuid: str):
        key = _path_uuid(plan_uuid, "subscription plan")
        if not core_api.is_operator(request.user):
            _plan_for(request, plan_uuid)  # 404 unless the caller may see it
            raise PermissionDenied("Only operators may change subscription plans.")
        values = _validated(PlanUpdateSerializer, request.data)
        with _errors_renamed(**_PLAN_FIELDS):
            plan = api.update_plan(key, **values)
        return Response(PlanSerializer(_plans().get(pk=plan.pk)).data)


# --- licenses ------------------------------------------------------------------------------------


def _licenses() -> QuerySet:
    return api.licenses_queryset().select_related("plan__customer")


class PlanLicenseListView(generics.GenericAPIView):
    """A plan's licenses (its customer's administrators and operators)."""

    serializer_class = LicenseSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return _licenses()
        plan = _plan_for(self.request, self.kwargs["plan_uuid"])
        rows = api.licenses_queryset(plan).select_related("plan__customer")
        statuses = _query_statuses(self.request)
        if statuses:
            rows = rows.filter(status__in=statuses)
        search = normalise_key(self.request.query_params.get("search"))
        if search:
            rows = rows.filter(user_email_normalized__contains=search)
        return rows.order_by("id")

    @extend_schema(
        summary="List a plan's licenses",
        parameters=[
            PLAN_UUID,
            LICENSE_STATUSES,
            OpenApiParameter("search", OpenApiTypes.STR, description="Only emails containing this (any case)."),
        ],
        responses={
            200: LicenseSerializer(many=True),
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
        },
    )
    def get(self, request, plan_uuid: str):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(LicenseSerializer(page, many=True).data)


class AssignLicensesView(APIView):
    """Assign a plan's free licenses to emails."""

    @extend_schema(
        summary="Assign licenses by email",
        description="Each email (de-duplicated ignoring case) gets a free license of the plan; emails holding one "
        "already are `already_assigned`, malformed ones are in `errors`. When there are fewer free seats than new "
        "emails nothing is assigned (400). 413 past ROLLBOOK_BULK_MAX_ITEMS emails. For the customer's "
        "administrators and operators.",
        parameters=[PLAN_UUID],
        request=UserEmailsSerializer,
        responses={
            200: LicenseAssignResponseSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            413: TOO_LARGE,
        },
    )
    def post(self, request, plan_uuid: str):
        plan = _plan_for(request, plan_uuid)
        emails = parse_user_emails(request.data)
        result = api.assign_licenses(plan, emails)
        body = {
            "assigned": list(result.assigned),
            "already_assigned": list(result.already_assigned),
            "errors": dict(result.errors),
        }
        return Response(body)


class RevokeLicensesView(APIView):
    """Revoke the licenses of emails, with the effects on their enrollments."""

    @extend_schema(
        summary="Revoke licenses by email",
        description="Revokes the plan's license of each email: its seat is freed, and each enrollment it paid for "
        "is kept if completed, moved to audit if the run offers it, else unenrolled. 200 when every email's "
        "license was revoked, 422 when any failed (edx-enterprise license_revoke). For the customer's "
        "administrators and operators.",
        parameters=[PLAN_UUID],
        request=UserEmailsSerializer,
        responses={
            200: RevokeResponseSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            413: TOO_LARGE,
            422: RevokeResponseSerializer,
        },
    )
    def post(self, request, plan_uuid: str):
        plan = _plan_for(request, plan_uuid)
        emails = parse_user_emails(request.data)
        outcome = api.revoke_licenses(plan, emails)
        results = []
        for email in dict.fromkeys(emails):
            effects = outcome.get(email, "Not processed.")
            if isinstance(effects, str):
                results.append({"email": email, "status": "failed", "effects": [], "error": effects})
            else:
                rows = [
                    {
                        "course_run_key": effect.course_run_key,
                        "course_enrollment_uuid": str(effect.course_enrollment_uuid),
                        "action": effect.action,
                    }
                    for effect in effects
                ]
                results.append({"email": email, "status": "revoked", "effects": rows, "error": ""})
        counts = dict(Counter(result["status"] for result in results))
        code = status.HTTP_422_UNPROCESSABLE_ENTITY if counts.get("failed") else status.HTTP_200_OK
        return Response({"results": results, "counts": counts}, status=code)


def _own_licenses(user) -> Q:
    """Licenses held by ``user``, or assigned to their email and not yet tied to an account."""
    return Q(user=user) | Q(user__isnull=True, user_email_normalized=normalise_key(user.email))


class LearnerLicenseListView(generics.GenericAPIView):
    """The caller's own licenses (operators may name a user)."""

    serializer_class = LicenseSerializer
    pagination_class = PageNumberPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return _licenses()
        user = self.request.user
        username = self.request.query_params.get("username")
        if username and username != user.get_username():
            if not core_api.is_operator(user):
                raise PermissionDenied("You may only see your own licenses.")
            try:
                user = identity_api.get_user(username=username)
            except NotFound:
                raise ValidationError({"username": [f"No user has the username {username!r}."]}) from None
        rows = _licenses().filter(_own_licenses(user))
        statuses = _query_statuses(self.request)
        if statuses:
            rows = rows.filter(status__in=statuses)
        return rows.order_by("id")

    @extend_schema(
        summary="List my licenses",
        description="Licenses assigned to the caller (by account or email), in every status unless filtered. "
        "Operators may pass `username`.",
        parameters=[
            LICENSE_STATUSES,
            OpenApiParameter("username", OpenApiTypes.STR, description="Operators only: whose licenses."),
        ],
        responses={200: LicenseSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 403: FORBIDDEN},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(LicenseSerializer(page, many=True).data)


class ActivateLicenseView(APIView):
    """The learner activates a license assigned to them."""

    @extend_schema(
        summary="Activate my license",
        description="Activates a license assigned to the caller (idempotent once activated) and links them to the "
        "plan's customer. Someone else's license is a 404; a revoked one, or one of an expired or inactive "
        "plan, a 400.",
        parameters=[LICENSE_UUID],
        request=None,
        responses={200: LicenseSerializer, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 404: NOT_FOUND},
    )
    def post(self, request, license_uuid: str):
        key = _path_uuid(license_uuid, "license")
        license = _licenses().filter(_own_licenses(request.user), uuid=key).first()
        if license is None:
            raise NotFound(f"You hold no license with the uuid {key}.")
        api.activate_license(license, request.user)
        return Response(LicenseSerializer(_licenses().get(pk=license.pk)).data)
