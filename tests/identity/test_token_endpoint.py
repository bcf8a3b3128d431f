"""POST /oauth2/access_token: the client-credentials grant and its RFC 6749 errors."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote_plus, urlencode

import pytest
from rest_framework.test import APIClient

from rollbook.core.auth import decode_token
from rollbook.identity import api as identity_api

URL = "/oauth2/access_token"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def credentials(make_client):
    client, secret = make_client(roles=[("program_admin", "org:MITx")])
    return client, secret


def form_post(client: APIClient, data: dict | str, **extra):
    body = data if isinstance(data, str) else urlencode(data, doseq=True)
    return client.post(URL, body, content_type=FORM, **extra)


def grant(client, secret, **more) -> dict:
    return {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret, **more}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def assert_oauth_error(response, status: int, error: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert response["Cache-Control"] == "no-store"


def test_form_encoded_request_gets_a_jwt(anon, credentials):
    client, secret = credentials
    response = form_post(anon, grant(client, secret))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    assert body["token_type"] == "JWT"
    assert body["expires_in"] == 3600
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"
    assert decode_token(body["access_token"])["sub"] == str(client.user.uuid)


def test_the_token_works_on_the_api(anon, credentials):
    client, secret = credentials
    token = form_post(anon, grant(client, secret)).json()["access_token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"JWT {token}")
    me = api.get("/api/identity/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == client.user.username


def test_bearer_token_type(anon, credentials):
    client, secret = credentials
    body = form_post(anon, grant(client, secret, token_type="bearer")).json()
    assert body["token_type"] == "Bearer"
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api.get("/api/identity/v1/me/").status_code == 200


def test_json_body_is_accepted(anon, credentials):
    client, secret = credentials
    response = anon.post(URL, grant(client, secret), format="json")
    assert response.status_code == 200
    assert response.json()["token_type"] == "JWT"


def test_http_basic_credentials_are_accepted(anon, credentials):
    client, secret = credentials
    response = form_post(anon, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic(client.client_id, secret))
    assert response.status_code == 200, response.content
    # the client id may be repeated in the body (as some clients do) when it matches
    response = form_post(
        anon,
        {"grant_type": "client_credentials", "client_id": client.client_id},
        HTTP_AUTHORIZATION=basic(client.client_id, secret),
    )
    assert response.status_code == 200


def test_no_csrf_token_is_needed_and_sessions_are_ignored(credentials, make_user):
    client, secret = credentials
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(make_user())
    response = browser.post(URL, grant(client, secret), format="json")
    assert response.status_code == 200
    assert decode_token(response.json()["access_token"])["client_id"] == client.client_id


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "client_secret"])
def test_missing_fields_are_invalid_request(anon, credentials, missing):
    client, secret = credentials
    data = grant(client, secret)
    del data[missing]
    assert_oauth_error(form_post(anon, data), 400, "invalid_request")


def test_empty_fields_count_as_missing(anon, credentials):
    client, _ = credentials
    assert_oauth_error(form_post(anon, grant(client, "")), 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"])
def test_other_grants_are_unsupported(anon, credentials, grant_type):
    client, secret = credentials
    assert_oauth_error(form_post(anon, grant(client, secret, grant_type=grant_type)), 400, "unsupported_grant_type")


def test_unknown_token_type_is_invalid_request(anon, credentials):
    client, secret = credentials
    assert_oauth_error(form_post(anon, grant(client, secret, token_type="mac")), 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        json.dumps(["grant_type", "client_credentials"]),
        json.dumps({"grant_type": "client_credentials", "client_id": 5, "client_secret": "x"}),
        json.dumps({"grant_type": ["client_credentials"], "client_id": "a", "client_secret": "x"}),
    ],
    ids=["malformed", "array", "number", "list"],
)
def test_unreadable_json_is_invalid_request(anon, body):
    response = anon.post(URL, body, content_type="application/json")
    assert_oauth_error(response, 400, "invalid_request")


def test_unsupported_media_type_is_invalid_request(anon):
    assert_oauth_error(anon.post(URL, "grant_type", content_type="text/plain"), 400, "invalid_request")


def test_repeated_parameters_are_invalid_request(anon, credentials):
    client, secret = credentials
    body = f"grant_type=client_credentials&client_id={client.client_id}&client_secret={secret}&client_secret=other"
    assert_oauth_error(form_post(anon, body), 400, "invalid_request")


def test_two_ways_of_sending_credentials_are_invalid_request(anon, credentials):
    client, secret = credentials
    response = form_post(anon, grant(client, secret), HTTP_AUTHORIZATION=basic(client.client_id, secret))
    assert_oauth_error(response, 400, "invalid_request")
    response = form_post(
        anon,
        {"grant_type": "client_credentials", "client_id": "someone-else"},
        HTTP_AUTHORIZATION=basic(client.client_id, secret),
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_wrong_secret_is_invalid_client_with_a_challenge(anon, credentials):
    client, secret = credentials
    response = form_post(anon, grant(client, secret[:-1] + ("A" if secret[-1] != "A" else "B")))
    assert_oauth_error(response, 401, "invalid_client")
    assert response["WWW-Authenticate"].startswith("Basic")


def test_unknown_client_is_invalid_client(anon, credentials):
    _, secret = credentials
    assert_oauth_error(form_post(anon, {**grant(credentials[0], secret), "client_id": "nobody"}), 401, "invalid_client")


def test_wrong_basic_credentials_are_invalid_client(anon, credentials):
    client, _ = credentials
    response = form_post(anon, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic(client.client_id, "no"))
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("header", ["Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode()])
def test_malformed_basic_header_is_invalid_client(anon, header):
    assert_oauth_error(
        form_post(anon, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=header), 401, "invalid_client"
    )


def test_inactive_client_is_invalid_client(anon, credentials):
    client, secret = credentials
    identity_api.deactivate_api_client(client)
    assert_oauth_error(form_post(anon, grant(client, secret)), 401, "invalid_client")


def test_tokens_stop_working_when_the_client_is_deactivated(anon, credentials):
    client, secret = credentials
    token = form_post(anon, grant(client, secret)).json()["access_token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"JWT {token}")
    assert api.get("/api/identity/v1/me/").status_code == 200
    identity_api.deactivate_api_client(client.client_id)
    assert api.get("/api/identity/v1/me/").status_code == 401


def test_get_is_not_allowed(anon):
    assert anon.get(URL).status_code == 405
