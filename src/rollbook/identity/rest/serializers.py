"""Serializers of the identity REST API: shapes only; rules live in ``rollbook.identity.api``."""

from __future__ import annotations

from rest_framework import serializers

from rollbook.identity.data import CLIENT_CREDENTIALS_GRANT, OAuthError, TokenType
from rollbook.identity.models import User


class TokenRequestSerializer(serializers.Serializer):
    """The token request (RFC 6749 section 4.4.2), documented for OpenAPI; the view reads the fields itself."""

    grant_type = serializers.ChoiceField(choices=[CLIENT_CREDENTIALS_GRANT])
    client_id = serializers.CharField(required=False, help_text="Omit when sending credentials with HTTP Basic.")
    client_secret = serializers.CharField(required=False, help_text="Omit when sending credentials with HTTP Basic.")
    token_type = serializers.ChoiceField(
        choices=[t.value for t in TokenType],
        default=TokenType.JWT.value,
        help_text="Both types are the same signed JWT; send it as `JWT <token>` or `Bearer <token>`.",
    )


class TokenResponseSerializer(serializers.Serializer):
    """A successful token response (RFC 6749 section 5.1)."""

    access_token = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the token expires.")
    token_type = serializers.ChoiceField(choices=[t.label for t in TokenType])
    scope = serializers.CharField()


class OAuthErrorSerializer(serializers.Serializer):
    """A token endpoint error (RFC 6749 section 5.2)."""

    error = serializers.ChoiceField(choices=[e.value for e in OAuthError])
    error_description = serializers.CharField()


class RoleHoldingSerializer(serializers.Serializer):
    """One role the user holds and where."""

    role = serializers.CharField()
    scope = serializers.CharField(help_text="`kind:key`, e.g. `organization:mitx` or `global:*`.")
    scope_kind = serializers.CharField()
    scope_key = serializers.CharField()


class MeSerializer(serializers.Serializer):
    """The caller: who they are and which roles they hold."""

    uuid = serializers.UUIDField()
    username = serializers.CharField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_service_account = serializers.BooleanField()
    is_operator = serializers.BooleanField(help_text="Operators may read and change everything.")
    roles = RoleHoldingSerializer(many=True)


class UserSerializer(serializers.ModelSerializer):
    """A user as operators see it."""

    class Meta:
        model = User
        fields = [
            "uuid",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_service_account",
            "date_joined",
        ]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    """A new user; without a password the user can only sign in through SSO."""

    username = serializers.CharField(max_length=150)
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(required=False, write_only=True, style={"input_type": "password"})
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150, default="")
