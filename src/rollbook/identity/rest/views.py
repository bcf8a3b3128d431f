"""Identity REST views: the OAuth2 token endpoint, the caller's own identity, and users for operators."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_plus
from uuid import UUID

import django_filters
from django.db.models import Q
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.core import api as core_api
from rollbook.core.normalise import normalise_key
from rollbook.core.pagination import CursorPagination
from rollbook.core.permissions import IsOperator
from rollbook.identity import api as identity_api
from rollbook.identity.data import CLIENT_CREDENTIALS_GRANT, OAuthError, TokenType
from rollbook.identity.models import User
from rollbook.identity.rest.serializers import (
    MeSerializer,
    OAuthErrorSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
    UserCreateSerializer,
    UserSerializer,
)

# --- OAuth2 token endpoint ----------------------------------------------------------------------


class _TokenRequestError(Exception):
    def __init__(self, error: OAuthError, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class _TokenRequest:
    client_id: str
    client_secret: str
    token_type: TokenType


def _no_store(response: Response) -> Response:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _oauth_error(error: OAuthError, description: str) -> Response:
    status_code = status.HTTP_401_UNAUTHORIZED if error is OAuthError.INVALID_CLIENT else status.HTTP_400_BAD_REQUEST
    response = Response({"error": error.value, "error_description": description}, status=status_code)
    if error is OAuthError.INVALID_CLIENT:
        response["WWW-Authenticate"] = 'Basic realm="rollbook"'
    return _no_store(response)


def _single_value(data, name: str) -> str | None:
    """One parameter of the request body: None when absent or empty; an error when repeated or not text."""
    if hasattr(data, "getlist"):
        values = data.getlist(name)
        if len(values) > 1:
            raise _TokenRequestError(OAuthError.INVALID_REQUEST, f"The parameter {name} is given more than once.")
        value = values[0] if values else None
    else:
        value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _TokenRequestError(OAuthError.INVALID_REQUEST, f"The parameter {name} must be a string.")
    return value


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """Client id and secret from an ``Authorization: Basic`` header (RFC 6749 section 2.3.1), if one is sent."""
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _TokenRequestError(OAuthError.INVALID_CLIENT, "The Basic authorization header is malformed.") from None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        raise _TokenRequestError(OAuthError.INVALID_CLIENT, "The Basic authorization header is malformed.")
    return unquote_plus(client_id), unquote_plus(secret)


def _read_token_request(request: Request) -> _TokenRequest:
    try:
        data = request.data
    except (ParseError, UnsupportedMediaType) as exc:
        raise _TokenRequestError(OAuthError.INVALID_REQUEST, f"The request body cannot be read: {exc.detail}") from None
    if not hasattr(data, "get"):
        raise _TokenRequestError(OAuthError.INVALID_REQUEST, "The request body must be a form or a JSON object.")
    grant_type = _single_value(data, "grant_type")
    if grant_type is None:
        raise _TokenRequestError(OAuthError.INVALID_REQUEST, "The parameter grant_type is required.")
    if grant_type != CLIENT_CREDENTIALS_GRANT:
        raise _TokenRequestError(
            OAuthError.UNSUPPORTED_GRANT_TYPE, f"Only the {CLIENT_CREDENTIALS_GRANT} grant is supported."
        )
    body_client_id = _single_value(data, "client_id")
    body_secret = _single_value(data, "client_secret")
    basic = _basic_credentials(request)
    if basic is not None:
        if body_secret is not None or (body_client_id is not None and body_client_id != basic[0]):
            raise _TokenRequestError(
                OAuthError.INVALID_REQUEST,
                "Send the client credentials either with HTTP Basic or in the body, not both.",
            )
        client_id, secret = basic
    else:
        client_id, secret = body_client_id, body_secret
    missing = [name for name, value in (("client_id", client_id), ("client_secret", secret)) if not value]
    if missing:
        raise _TokenRequestError(OAuthError.INVALID_REQUEST, f"The parameter {' and '.join(missing)} is required.")
    token_type_text = (_single_value(data, "token_type") or TokenType.JWT.value).strip().lower()
    try:
        token_type = TokenType(token_type_text)
    except ValueError:
        raise _TokenRequestError(
            OAuthError.INVALID_REQUEST, f"token_type must be one of {', '.join(t.value for t in TokenType)}."
        ) from None
    return _TokenRequest(client_id, secret, token_type)


class AccessTokenView(APIView):
    """OAuth2 client-credentials token endpoint (the Open edX ``/oauth2/access_token`` shape)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="oauth2_access_token",
        tags=["auth"],
        summary="Get an access token with client credentials",
        description=(
            "OAuth2 client-credentials grant (RFC 6749 section 4.4). Send `grant_type=client_credentials`, "
            "`client_id` and `client_secret` form-encoded (or as JSON), or the client credentials with HTTP Basic. "
            "The answer's `access_token` is a signed JWT: send it as `Authorization: JWT <token>` (or `Bearer`). "
            "Errors follow RFC 6749 section 5.2: 400 `invalid_request` or `unsupported_grant_type`, "
            "401 `invalid_client`."
        ),
        auth=[],
        request={
            "application/x-www-form-urlencoded": TokenRequestSerializer,
            "application/json": TokenRequestSerializer,
        },
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(OAuthErrorSerializer, description="invalid_request or unsupported_grant_type"),
            401: OpenApiResponse(OAuthErrorSerializer, description="invalid_client"),
        },
        examples=[
            OpenApiExample(
                "Token",
                response_only=True,
                status_codes=["200"],
                value={"access_token": "eyJhbGciOi...", "expires_in": 3600, "token_type": "JWT", "scope": "read write"},
            ),
            OpenApiExample(
                "Wrong secret",
                response_only=True,
                status_codes=["401"],
                value={"error": "invalid_client", "error_description": "Client authentication failed."},
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        try:
            token_request = _read_token_request(request)
        except _TokenRequestError as exc:
            return _oauth_error(exc.error, exc.description)
        client = identity_api.authenticate_client(token_request.client_id, token_request.client_secret)
        if client is None:
            return _oauth_error(
                OAuthError.INVALID_CLIENT, "Client authentication failed (unknown or inactive client, or wrong secret)."
            )
        token = identity_api.issue_client_token(client, token_request.token_type)
        body = {
            "access_token": token.access_token,
            "expires_in": token.expires_in,
            "token_type": token.token_type,
            "scope": token.scope,
        }
        return _no_store(Response(body))


# --- the caller ---------------------------------------------------------------------------------


class MeView(APIView):
    """The authenticated caller's identity and roles."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="identity_me",
        tags=["identity"],
        summary="Who am I",
        description="The caller's uuid, username, email and every role they hold, with its scope.",
        responses={200: MeSerializer},
    )
    def get(self, request: Request) -> Response:
        user = request.user
        roles = [
            {"role": role.value, "scope": str(scope), "scope_kind": scope.kind.value, "scope_key": scope.key}
            for role, scope in core_api.roles_of(user)
        ]
        data = {
            "uuid": user.uuid,
            "username": user.username,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_service_account": user.is_service_account,
            "is_operator": core_api.is_operator(user),
            "roles": roles,
        }
        return Response(MeSerializer(data).data)


# --- users (operators) --------------------------------------------------------------------------


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false``; anything else is a 400 rather than being ignored."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


class UserFilter(django_filters.FilterSet):
    """Filters of the operators' user list."""

    username = django_filters.CharFilter(field_name="username", help_text="Exact username.")
    email = django_filters.CharFilter(method="filter_email", help_text="Email address, any case.")
    is_active = StrictBooleanFilter()
    is_service_account = StrictBooleanFilter(help_text="true: API clients' service users only.")
    q = django_filters.CharFilter(method="filter_search", help_text="Part of a username, email or name, any case.")

    class Meta:
        model = User
        fields = ["username", "email", "is_active", "is_service_account", "q"]

    def filter_email(self, queryset, name, value):
        return queryset.filter(email_normalized=normalise_key(value))

    def filter_search(self, queryset, name, value):
        text = value.strip()
        if not text:
            return queryset
        return queryset.filter(
            Q(username__icontains=text)
            | Q(email_normalized__contains=normalise_key(text))
            | Q(first_name__icontains=text)
            | Q(last_name__icontains=text)
        )


class UserPagination(CursorPagination):
    """Newest users first."""

    ordering = ("-date_joined", "-id")


class UserListView(generics.ListCreateAPIView):
    """Operators list and create users."""

    permission_classes = [IsOperator]
    queryset = User.objects.all()
    filterset_class = UserFilter
    pagination_class = UserPagination

    def get_serializer_class(self):
        return UserCreateSerializer if self.request.method == "POST" else UserSerializer

    @extend_schema(operation_id="identity_users_list", tags=["identity"], summary="List users (operators)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="identity_users_create",
        tags=["identity"],
        summary="Create a user (operators)",
        description="Emails are unique ignoring case; usernames may not differ from an existing one only by case.",
        request=UserCreateSerializer,
        responses={201: UserSerializer},
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data
        user = identity_api.create_user(
            fields["username"],
            fields["email"],
            password=fields.get("password"),
            first_name=fields["first_name"],
            last_name=fields["last_name"],
        )
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class UserDetailView(generics.RetrieveAPIView):
    """Operators read one user by uuid."""

    permission_classes = [IsOperator]
    queryset = User.objects.all()
    serializer_class = UserSerializer
    lookup_field = "uuid"

    def get_object(self) -> User:
        try:
            UUID(self.kwargs["uuid"])
        except ValueError:
            raise Http404("No user with this uuid.") from None
        return super().get_object()

    @extend_schema(operation_id="identity_users_retrieve", tags=["identity"], summary="Read a user (operators)")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
