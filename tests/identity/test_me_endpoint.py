"""GET /api/identity/v1/me/: the caller's identity and roles."""

from __future__ import annotations

from rest_framework.test import APIClient

from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind

URL = "/api/identity/v1/me/"


def test_anonymous_callers_get_401(anon):
    response = anon.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("JWT")


def test_learner_sees_themself_and_their_roles(learner, learner_api):
    core_api.grant(learner, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "MITx"))
    response = learner_api.get(URL)
    assert response.status_code == 200
    assert response.json() == {
        "uuid": str(learner.uuid),
        "username": "learner",
        "email": "learner@example.com",
        "first_name": "",
        "last_name": "",
        "is_service_account": False,
        "is_operator": False,
        "roles": [
            {"role": "learner", "scope": "self:*", "scope_kind": "self", "scope_key": "*"},
            {"role": "program_admin", "scope": "organization:mitx", "scope_kind": "organization", "scope_key": "mitx"},
        ],
    }


def test_operator_is_flagged(operator_api):
    body = operator_api.get(URL).json()
    assert body["is_operator"] is True
    assert body["roles"] == [{"role": "operator", "scope": "global:*", "scope_kind": "global", "scope_key": "*"}]


def test_superuser_is_an_operator_without_an_assignment(make_user, client_for):
    body = client_for(make_user(is_superuser=True)).get(URL).json()
    assert body["is_operator"] is True
    assert body["roles"] == []


def test_service_users_see_their_client_roles(make_client, client_for):
    client, _ = make_client(roles=[("enterprise_admin", "customer:6f1c8a52-8b9e-4d44-9a39-0a1b2c3d4e5f")])
    body = client_for(client.user).get(URL).json()
    assert body["is_service_account"] is True
    assert body["roles"][0]["scope"] == "enterprise_customer:6f1c8a52-8b9e-4d44-9a39-0a1b2c3d4e5f"


def test_browser_sessions_work_too(make_user):
    browser = APIClient()
    user = make_user()
    browser.force_login(user)
    assert browser.get(URL).json()["username"] == user.username


def test_reads_a_bounded_number_of_queries(learner, learner_api, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # the token's user, their roles (once), nothing per role
        assert learner_api.get(URL).status_code == 200
