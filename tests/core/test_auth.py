"""JWT acceptance: good tokens authenticate; every kind of bad token or header is a 401, never a 500."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from django.conf import settings
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from rollbook.core.auth import JwtAuthentication, decode_token, issue_token


@api_view(["GET"])
@authentication_classes([JwtAuthentication])
@permission_classes([IsAuthenticated])
def whoami(request):
    return Response({"username": request.user.username, "client_id": request.auth["client_id"]})


def call(authorization: str | bytes | None):
    factory = APIRequestFactory()
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = whoami(factory.get("/whoami/", **extra))
    response.render()
    return response


def claims_for(user, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "sub": str(user.uuid),
        "user_id": user.pk,
        "client_id": "test",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def sign(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.JWT_SECRET_KEY, algorithm=algorithm)


@pytest.mark.parametrize("prefix", ["JWT", "Bearer", "jwt", "bearer"])
def test_issued_tokens_authenticate_with_either_prefix(make_user, prefix):
    user = make_user()
    token = issue_token(user, client_id="sis", scopes=["read"]).access_token
    response = call(f"{prefix} {token}")
    assert response.status_code == 200
    assert response.data == {"username": user.username, "client_id": "sis"}


def test_issue_token_reports_lifetime_type_and_scope(make_user, settings):
    settings.JWT_EXPIRES_IN = settings.JWT_EXPIRES_IN.__class__(seconds=120)
    user = make_user()
    issued = issue_token(user, client_id="sis", scopes=["read", "write"], token_type="Bearer")
    assert (issued.expires_in, issued.token_type, issued.scope) == (120, "Bearer", "read write")
    claims = decode_token(issued.access_token)
    assert claims["sub"] == str(user.uuid)
    assert claims["user_id"] == user.pk
    assert claims["exp"] - claims["iat"] == 120


def assert_refused(response, text: str | None = None):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("JWT")
    if text:
        assert text in response.data["detail"]


def test_no_header_is_401_with_a_challenge():
    assert_refused(call(None))


def test_expired_token_is_401(make_user):
    user = make_user()
    past = int(time.time()) - 3600
    assert_refused(call(f"JWT {sign(claims_for(user, iat=past - 60, exp=past))}"), "expired")


def test_tampered_token_is_401(make_user):
    user = make_user()
    other = make_user()
    header, payload, signature = issue_token(user, client_id="x", scopes=[]).access_token.split(".")
    forged_payload = sign(claims_for(other)).split(".")[1]
    assert_refused(call(f"JWT {header}.{forged_payload}.{signature}"), "Invalid token")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_refused(call(f"JWT {header}.{payload}.{flipped}"), "Invalid token")


def test_token_signed_with_another_key_is_401(make_user):
    assert_refused(call(f"JWT {sign(claims_for(make_user()), key='not-our-key-' * 4)}"), "Invalid token")


def test_unsigned_token_is_401(make_user):
    assert_refused(call(f"JWT {jwt.encode(claims_for(make_user()), None, algorithm='none')}"), "Invalid token")


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "someone-else"},
        {"iss": "another-issuer"},
        {"aud": None},
        {"exp": None},
        {"sub": None},
        {"user_id": None},
        {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200},
    ],
    ids=["wrong-audience", "wrong-issuer", "no-audience", "no-expiry", "no-subject", "no-user-id", "issued-in-future"],
)
def test_tokens_with_wrong_or_missing_claims_are_401(make_user, overrides):
    assert_refused(call(f"JWT {sign(claims_for(make_user(), **overrides))}"))


def test_token_for_an_unknown_user_is_401(make_user):
    user = make_user()
    assert_refused(call(f"JWT {sign(claims_for(user, sub=str(uuid.uuid4())))}"), "Unknown token subject")
    assert_refused(call(f"JWT {sign(claims_for(user, sub='not-a-uuid'))}"), "Unknown token subject")
    assert_refused(call(f"JWT {sign(claims_for(user, sub=['a', 'list']))}"))


def test_token_whose_user_id_and_subject_disagree_is_401(make_user):
    user = make_user()
    other = make_user()
    assert_refused(call(f"JWT {sign(claims_for(user, user_id=other.pk))}"), "Unknown token subject")


def test_token_of_a_deleted_user_is_401(make_user):
    user = make_user()
    token = issue_token(user, client_id="x", scopes=[]).access_token
    user.delete()
    assert_refused(call(f"JWT {token}"), "Unknown token subject")


def test_token_of_an_inactive_user_is_401(make_user):
    user = make_user()
    token = issue_token(user, client_id="x", scopes=[]).access_token
    user.is_active = False
    user.save()
    assert_refused(call(f"JWT {token}"), "not active")


@pytest.mark.parametrize(
    "authorization",
    ["JWT", "Bearer ", "JWT a b", "JWT not-a-jwt", "Bearer a.b.c", "JWT e30.e30.e30", "JWT ....", b"JWT \xff\xfe"],
    ids=["no-token", "empty-token", "three-parts", "garbage", "bad-segments", "empty-json", "dots", "non-ascii"],
)
def test_malformed_headers_are_401(authorization):
    assert_refused(call(authorization))


def test_other_schemes_are_left_to_other_authenticators(make_user):
    # JwtAuthentication ignores Basic; with no other authenticator the caller is anonymous → 401
    assert JwtAuthentication().authenticate(APIRequestFactory().get("/", HTTP_AUTHORIZATION="Basic abc")) is None
    assert_refused(call("Basic dXNlcjpwYXNz"))


def test_the_api_refuses_bad_tokens_with_401_through_the_default_settings(anon, make_user, client_for):
    user = make_user()
    assert client_for(user).get("/api/identity/v1/me/").status_code == 200
    anon.credentials(HTTP_AUTHORIZATION="Bearer junk")
    response = anon.get("/api/identity/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
