"""Fixtures of the core tests."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def admin_browser(make_user) -> Client:
    """A Django test client logged in to the admin as a superuser."""
    superuser = make_user("root", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(superuser)
    return browser
