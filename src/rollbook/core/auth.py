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
    """Sign a token for ``user`` (the client's service user), valid for ROLLBOOK_JWT_EXPIRES_IN seconds."""
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
    """Accepts ``Authorization: JWT <token>`` and ``Authorization: Bearer <token>``."""

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
        user_model = get_user_model()
        try:
            user = user_model.objects.get(pk=claims["user_id"])
        except (user_model.DoesNotExist, ValueError, TypeError):
            raise exceptions.AuthenticationFailed("Unknown token subject.") from None
        if not user.is_active or str(getattr(user, "uuid", user.pk)) != claims["sub"]:
            raise exceptions.AuthenticationFailed("Token subject is not active.")
        return user, claims

    def authenticate_header(self, request) -> str:
        return f'JWT realm="{self.www_authenticate_realm}"'
