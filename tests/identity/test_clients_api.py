"""API clients: creation with roles, secrets that are only hashed, authentication, rotation, deactivation."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import check_password

from rollbook.core import api as core_api
from rollbook.core.auth import decode_token
from rollbook.core.data import GLOBAL_SCOPE, Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.identity import api as identity_api
from rollbook.identity.data import CLIENT_ID_PATTERN
from rollbook.identity.models import ApiClient, User


def test_create_api_client_makes_a_service_user_holding_the_roles(db):
    client, secret = identity_api.create_api_client(
        "MITx registrar",
        roles=[("program_admin", "org:MITx"), (Role.OPERATOR, None), ("program_admin", "organization:HarvardX")],
        client_id="mitx-registrar",
    )
    assert (client.client_id, client.name, client.is_active) == ("mitx-registrar", "MITx registrar", True)
    user = client.user
    assert user.is_service_account and user.is_active
    assert not user.has_usable_password()
    assert not user.is_staff and not user.is_superuser
    assert core_api.roles_of(user) == [
        (Role.OPERATOR, GLOBAL_SCOPE),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "harvardx")),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "mitx")),
    ]
    assert len(secret) >= 40


def test_only_a_hash_of_the_secret_is_stored(db):
    client, secret = identity_api.create_api_client("SIS", client_id="sis")
    client.refresh_from_db()
    assert secret not in client.secret_hash
    assert check_password(secret, client.secret_hash)
    assert not any(secret in str(value) for value in ApiClient.history.values_list())


def test_generated_client_ids_are_distinct_and_well_formed(db):
    first, first_secret = identity_api.create_api_client("One")
    second, second_secret = identity_api.create_api_client("Two")
    assert first.client_id != second.client_id
    assert first_secret != second_secret
    assert re.fullmatch(CLIENT_ID_PATTERN, first.client_id)


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"name": " "}, {"name"}),
        ({"name": "x" * 256}, {"name"}),
        ({"client_id": "has spaces"}, {"client_id"}),
        ({"client_id": "SIS"}, {"client_id"}),  # taken: differs from "sis" only by case
        ({"client_id": "x" * 101}, {"client_id"}),
        ({"roles": [("dean", None)]}, {"roles"}),
        ({"roles": [("program_admin", None)]}, {"roles"}),
        ({"roles": [("operator", "org:MITx")]}, {"roles"}),
        ({"roles": [("enterprise_admin", "customer:not-a-uuid")]}, {"roles"}),
        ({"name": "", "client_id": "bad id", "roles": [("x", None)]}, {"name", "client_id", "roles"}),
    ],
)
def test_create_api_client_refuses_bad_input_and_writes_nothing(db, kwargs, fields):
    identity_api.create_api_client("SIS", client_id="sis")
    users_before = User.objects.count()
    arguments = {"name": "New client", **kwargs}
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_api_client(arguments.pop("name"), **arguments)
    assert set(caught.value.errors) == fields
    assert ApiClient.objects.count() == 1
    assert User.objects.count() == users_before


def test_role_errors_name_the_offending_pair(db):
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_api_client("X", roles=[("learner", None), ("program_admin", "customer:abc")])
    assert caught.value.errors["roles"][0].startswith("program_admin customer:abc:")


def test_a_client_id_may_not_clash_with_a_users_name(make_user):
    make_user("client.sis")
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_api_client("SIS", client_id="sis")
    assert "clashes" in caught.value.errors["client_id"][0]


def test_authenticate_client(make_client):
    client, secret = make_client()
    assert identity_api.authenticate_client(client.client_id, secret) == client
    assert identity_api.authenticate_client(client.client_id, secret + "x") is None
    assert identity_api.authenticate_client(client.client_id.upper(), secret) is None
    assert identity_api.authenticate_client("unknown", secret) is None
    assert identity_api.authenticate_client(client.client_id, "") is None
    assert identity_api.authenticate_client(None, secret) is None


def test_inactive_clients_and_service_users_do_not_authenticate(make_client):
    client, secret = make_client()
    identity_api.deactivate_api_client(client)
    assert identity_api.authenticate_client(client.client_id, secret) is None
    other, other_secret = make_client()
    identity_api.deactivate_user(other.user)
    assert identity_api.authenticate_client(other.client_id, other_secret) is None


def test_deactivation_reaches_the_service_user_and_is_reversible(make_client):
    client, secret = make_client()
    identity_api.deactivate_api_client(client.client_id)
    client.refresh_from_db()
    client.user.refresh_from_db()
    assert not client.is_active and not client.user.is_active
    identity_api.activate_api_client(client)
    client.refresh_from_db()
    assert client.is_active and client.user.is_active
    assert identity_api.authenticate_client(client.client_id, secret) == client


def test_rotating_the_secret_retires_the_old_one(make_client):
    client, old_secret = make_client()
    new_secret = identity_api.rotate_client_secret(client.client_id)
    assert new_secret != old_secret
    assert identity_api.authenticate_client(client.client_id, old_secret) is None
    assert identity_api.authenticate_client(client.client_id, new_secret) == client


def test_unknown_client_ids_are_not_found(db):
    with pytest.raises(NotFound):
        identity_api.get_api_client("nope")
    with pytest.raises(NotFound):
        identity_api.rotate_client_secret("nope")
    with pytest.raises(NotFound):
        identity_api.deactivate_api_client("nope")


def test_list_and_rename_api_clients(make_client, django_assert_num_queries):
    beta, _ = make_client("Beta")
    alpha, _ = make_client("Alpha")
    identity_api.deactivate_api_client(beta)
    with django_assert_num_queries(1):
        clients = identity_api.list_api_clients()
        assert [c.user.username for c in clients] == [alpha.user.username, beta.user.username]
    assert identity_api.list_api_clients(active=False) == [beta]
    identity_api.rename_api_client(alpha.client_id, "  Gamma ")
    alpha.refresh_from_db()
    assert alpha.name == "Gamma"
    with pytest.raises(InvalidInput):
        identity_api.rename_api_client(alpha, "")


@pytest.mark.parametrize(("asked", "label"), [("jwt", "JWT"), ("bearer", "Bearer"), ("BEARER", "Bearer")])
def test_issue_client_token_names_the_service_user(make_client, asked, label):
    client, _ = make_client()
    token = identity_api.issue_client_token(client, asked)
    assert token.token_type == label
    claims = decode_token(token.access_token)
    assert claims["sub"] == str(client.user.uuid)
    assert claims["client_id"] == client.client_id


def test_issue_client_token_refuses_unknown_token_types(make_client):
    client, _ = make_client()
    with pytest.raises(InvalidInput) as caught:
        identity_api.issue_client_token(client, "mac")
    assert list(caught.value.errors) == ["token_type"]
