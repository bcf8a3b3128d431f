"""Signed JWTs for machine callers, and the DRF authentication class that accepts them.

Tokens follow the Open edX convention: sent as ``Authorization: JWT <token>`` or
``Authorization: Bearer <token>``. They are HS256-signed with ROLLBOOK_JWT_SECRET_KEY and
name the service user they act as. Expired, tampered and unknown tokens are refused with 401.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.settings import spectacular_settings
from rest_framework import authentication, exceptions

ALGORITHM = "HS256"
ACCEPTED_PREFIXES = ("jwt", "bearer")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed access token and how long it lives."""

    access_token: str
    expires_in: int
    token_type: str
    scope: str


def issue_token(user: AbstractBaseUser, *, client_id: str, scopes: list[str], token_type: str = "JWT") -> IssuedToken:
    """Sign a token for ``user`` (the client's service user), valid for ROLLBOOK_JWT_EXPIRES_IN seconds.

    ``token_type`` is only echoed in the result ("JWT" or "Bearer"); the token is the same signed JWT.
    The token carries no permissions of its own: the user's roles are read on every request.
    """
    now = datetime.now(UTC)
    lifetime = int(settings.JWT_EXPIRES_IN.total_seconds())
    payload = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": uuid.uuid4().hex,
        "sub": str(getattr(user, "uuid", user.pk)),
        "user_id": user.pk,
        "preferred_username": user.get_username(),
        "email": getattr(user, "email", ""),
        "client_id": client_id,
        "scopes": scopes,
        "version": "1.2.0",
    }
    token = jwt.encode(payload, settings.JWT_SECRET_KEY, algorithm=ALGORITHM)
    return IssuedToken(access_token=token, expires_in=lifetime, token_type=token_type, scope=" ".join(scopes))


def decode_token(token: str) -> dict:
    """Verify signature, expiry, issuer and audience; return the claims or raise AuthenticationFailed."""
    try:
        return jwt.decode(
            token,
            settings.JWT_SECRET_KEY,
            algorithms=[ALGORITHM],
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "user_id"]},
        )
    except jwt.ExpiredSignatureError:
        raise exceptions.AuthenticationFailed("Token has expired.") from None
    except jwt.InvalidTokenError:
        raise exceptions.AuthenticationFailed("Invalid token.") from None


class JwtAuthentication(authentication.BaseAuthentication):
    """Accepts ``Authorization: JWT <token>`` and ``Authorization: Bearer <token>``.

    Any other scheme is left to the next authentication class. A malformed header, a token that is
    expired, tampered with, issued for another audience or issuer, or that names an unknown or
    inactive user is refused with 401.
    """

    www_authenticate_realm = "api"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in ACCEPTED_PREFIXES:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be '<JWT|Bearer> <token>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        claims = decode_token(token)
        return _user_for_claims(claims), claims

    def authenticate_header(self, request) -> str:
        return f'JWT realm="{self.www_authenticate_realm}"'


def _user_for_claims(claims: dict) -> AbstractBaseUser:
    """The active user a verified token names by ``sub`` (UUID) and ``user_id``; 401 otherwise."""
    user_model = get_user_model()
    try:
        subject = uuid.UUID(str(claims["sub"]))
        user = user_model.objects.get(uuid=subject)
    except (user_model.DoesNotExist, ValueError, TypeError, AttributeError):
        raise exceptions.AuthenticationFailed("Unknown token subject.") from None
    if str(user.pk) != str(claims["user_id"]):
        raise exceptions.AuthenticationFailed("Unknown token subject.")
    if not user.is_active:
        raise exceptions.AuthenticationFailed("Token subject is not active.")
    return user


class JwtAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular how JwtAuthentication appears in the OpenAPI document (the ``jwtAuth`` scheme)."""

    target_class = JwtAuthentication
    name = "jwtAuth"

    def get_security_requirement(self, auto_schema) -> dict | None:
        if {self.name: []} in spectacular_settings.SECURITY:
            return None  # the SECURITY setting already asks for this scheme on every operation
        return {self.name: []}

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`JWT <token>` or `Bearer <token>` from POST /oauth2/access_token",
        }
