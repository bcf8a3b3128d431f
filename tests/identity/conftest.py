"""Fixtures of the identity tests: fast password hashing, API clients, providers, an admin browser."""

from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache
from django.test import Client

from rollbook.identity import api as identity_api

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def empty_cache():
    """Start and end every test with an empty cache (the OAuth client caches its tokens there)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_client(db):
    """Create an API client: ``make_client(roles=[("program_admin", "org:MITx")])`` returns (client, secret)."""

    def _make(name: str | None = None, *, roles=(), client_id: str | None = None):
        number = next(_numbers)
        return identity_api.create_api_client(
            name or f"Client {number}", roles=roles, client_id=client_id or f"client-{number}"
        )

    return _make


@pytest.fixture
def provider(db):
    """An enabled identity provider with the slug ``mit-sso``."""
    return identity_api.create_identity_provider("mit-sso", "MIT single sign-on")


@pytest.fixture
def admin_browser(make_user) -> Client:
    """A Django test client logged in to the admin as a superuser."""
    superuser = make_user("root", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(superuser)
    return browser
