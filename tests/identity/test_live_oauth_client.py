"""End to end over real HTTP: the Open edX OAuthAPIClient gets a token from a running Rollbook and uses it."""

from __future__ import annotations

import pytest
import requests
from edx_django_utils.cache import TieredCache
from edx_rest_api_client.client import OAuthAPIClient

from rollbook.identity import api as identity_api

pytestmark = pytest.mark.django_db(transaction=True)  # the server thread must see the test's rows


@pytest.fixture(autouse=True)
def no_cached_tokens():
    """OAuthAPIClient caches tokens per client id in Django's cache and a request cache; start without any."""
    TieredCache.dangerous_clear_all_tiers()
    yield
    TieredCache.dangerous_clear_all_tiers()


def test_oauth_api_client_gets_a_token_and_calls_the_api(live_server):
    client, secret = identity_api.create_api_client(
        "Registrar", roles=[("program_admin", "org:MITx")], client_id="live-registrar"
    )
    session = OAuthAPIClient(live_server.url, client.client_id, secret)
    response = session.get(f"{live_server.url}/api/identity/v1/me/", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == client.user.username
    assert body["is_service_account"] is True
    assert body["roles"] == [
        {"role": "program_admin", "scope": "organization:mitx", "scope_kind": "organization", "scope_key": "mitx"}
    ]
    assert session.get_jwt_access_token().count(".") == 2  # the cached token is our signed JWT


def test_a_wrong_secret_is_refused_over_http(live_server):
    client, secret = identity_api.create_api_client("Registrar", client_id="live-wrong")
    session = OAuthAPIClient(live_server.url, client.client_id, secret + "-wrong")
    with pytest.raises(requests.HTTPError) as caught:
        session.get(f"{live_server.url}/api/identity/v1/me/", timeout=10)
    assert caught.value.response.status_code == 401
    assert caught.value.response.json()["error"] == "invalid_client"


def test_a_deactivated_clients_token_stops_working_over_http(live_server):
    client, secret = identity_api.create_api_client("Registrar", client_id="live-deactivated")
    session = OAuthAPIClient(live_server.url, client.client_id, secret)
    assert session.get(f"{live_server.url}/api/identity/v1/me/", timeout=10).status_code == 200
    identity_api.deactivate_api_client(client)
    response = session.get(f"{live_server.url}/api/identity/v1/me/", timeout=10)  # reuses the cached token
    assert response.status_code == 401
