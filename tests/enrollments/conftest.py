"""Fixtures of the enrollments tests: course runs with modes and windows, and many users cheaply."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization
from rollbook.enrollments.signals import enrollments_changed

_runs = itertools.count(1)
_users = itertools.count(1)

PAID_AND_FREE = {"audit": 0, "verified": 4900}


@pytest.fixture
def make_run(db) -> Callable[..., CourseRun]:
    """Create a course run (with its organization and catalog course) offering ``modes`` {slug: price_cents}."""

    def _make(key: str | None = None, *, modes: dict[str, int] | None = None, **fields) -> CourseRun:
        course_key = CourseKey.from_string(key or f"course-v1:TestX+C{next(_runs)}+2030")
        org = Organization.objects.filter(short_name_normalized=course_key.org.casefold()).first()
        if org is None:
            org = Organization.objects.create(short_name=course_key.org, name=course_key.org)
        catalog_course, _ = CatalogCourse.objects.get_or_create(
            org=org, course_code=course_key.course, defaults={"title": f"Course {course_key.course}"}
        )
        run = CourseRun.objects.create(
            catalog_course=catalog_course,
            course_key=course_key,
            run_code=course_key.run,
            title=f"Run {course_key.run}",
            **fields,
        )
        for slug, price in (PAID_AND_FREE if modes is None else modes).items():
            CourseMode.objects.create(course_run=run, slug=slug, price_cents=price)
        return run

    return _make


@pytest.fixture
def run(make_run) -> CourseRun:
    """An open run offering free audit and paid verified."""
    return make_run("course-v1:TestX+Open+2030")


@pytest.fixture
def closed_run(make_run) -> CourseRun:
    """A run whose enrollment window ended yesterday."""
    now = timezone.now()
    return make_run(
        "course-v1:TestX+Closed+2020",
        enrollment_start=now - timedelta(days=30),
        enrollment_end=now - timedelta(days=1),
    )


@pytest.fixture
def make_users(db) -> Callable[[int], list]:
    """Create ``n`` users in one statement (no password hashing), returned in creation order."""

    def _make(n: int) -> list:
        user_model = get_user_model()
        users = []
        for _ in range(n):
            number = next(_users)
            email = f"Bulk.User{number}@Example.com"
            users.append(
                user_model(
                    username=f"bulk{number}", email=email, email_normalized=email.casefold(), password="!unusable"
                )
            )
        return user_model.objects.bulk_create(users)

    return _make


@pytest.fixture
def received_changes():
    """Every ``changes`` list sent on ``enrollments_changed`` while the test runs, one entry per signal."""
    received: list[list] = []

    def receiver(sender, changes, **kwargs):
        received.append(list(changes))

    enrollments_changed.connect(receiver, dispatch_uid="test-received-changes")
    yield received
    enrollments_changed.disconnect(dispatch_uid="test-received-changes")
