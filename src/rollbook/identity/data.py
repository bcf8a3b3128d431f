"""Constants and value types of the identity app."""

from __future__ import annotations

from enum import StrEnum

# API client ids: what the ApiClient table's check constraint admits, at most 100 characters.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
CLIENT_ID_MAX_LENGTH = 100

# Random bytes behind a generated client id and a client secret (URL-safe base64 encoded).
GENERATED_CLIENT_ID_BYTES = 18
CLIENT_SECRET_BYTES = 36

# Service users behind API clients are named "<prefix><client_id>" and get a placeholder address
# at a reserved domain, so they never collide with people and never receive mail.
SERVICE_USERNAME_PREFIX = "client."
SERVICE_EMAIL_DOMAIN = "api-clients.rollbook.invalid"

# The only OAuth2 grant Rollbook issues tokens for.
CLIENT_CREDENTIALS_GRANT = "client_credentials"

# OAuth scopes written into every token. What a client may do is decided by its service user's
# roles, read on every request, not by these.
TOKEN_SCOPES = ("read", "write")


class TokenType(StrEnum):
    """The token types a client may ask for; both are Rollbook's signed JWT, only the label differs."""

    JWT = "jwt"
    BEARER = "bearer"

    @property
    def label(self) -> str:
        """How the token type is named in the token response (and the Authorization header)."""
        return "JWT" if self is TokenType.JWT else "Bearer"


class OAuthError(StrEnum):
    """Error codes of the token endpoint (RFC 6749 section 5.2)."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
