"""Fixtures of the catalog tests: a fixed clock and small builders that go through catalog.api."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def days(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.fixture
def now() -> datetime:
    """A fixed 'now' for rules that depend on time."""
    return NOW


@pytest.fixture
def make_run(db) -> Callable[..., object]:
    """Create a run through catalog.api. ``modes`` maps slug → price in cents, or → (price, deadline)."""

    def _make(course_key: str = "course-v1:edX+DemoX+2027", *, modes: dict | None = None, **fields):
        specs = []
        for slug, value in (modes or {}).items():
            price, deadline = value if isinstance(value, tuple) else (value, None)
            specs.append(ModeSpec(slug=slug, price_cents=price, upgrade_deadline=deadline))
        return catalog_api.create_course_run(course_key, modes=specs, **fields)

    return _make
