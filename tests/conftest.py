"""Fixtures shared by every app's tests: users, roles and API clients that send real JWTs."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from rollbook.core import api as core_api
from rollbook.core.auth import issue_token

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Hash passwords and client secrets cheaply; no test here is about the hasher's cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    """Create a user; every call gets a fresh username and email unless given."""

    def _make(username: str | None = None, email: str | None = None, **extra):
        n = next(_counter)
        username = username or f"user{n}"
        email = email or f"{username}@example.com"
        return get_user_model().objects.create_user(username=username, email=email, password="pw-" + username, **extra)

    return _make


@pytest.fixture
def operator(make_user):
    """A user holding the global operator role."""
    user = make_user("operator")
    core_api.grant(user, core_api.Role.OPERATOR)
    return user


@pytest.fixture
def learner(make_user):
    """A plain learner."""
    user = make_user("learner")
    core_api.grant(user, core_api.Role.LEARNER)
    return user


@pytest.fixture
def anon() -> APIClient:
    """An API client with no credentials."""
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[object], APIClient]:
    """Return an APIClient that authenticates as ``user`` with a real signed JWT."""

    def _client(user) -> APIClient:
        client = APIClient()
        token = issue_token(user, client_id="test", scopes=["read", "write"])
        client.credentials(HTTP_AUTHORIZATION=f"JWT {token.access_token}")
        return client

    return _client


@pytest.fixture
def operator_api(operator, client_for) -> APIClient:
    return client_for(operator)


@pytest.fixture
def learner_api(learner, client_for) -> APIClient:
    return client_for(learner)
