"""Two simultaneous enrollments of the same user in the same run end with one enrollment (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from rollbook.enrollments import api
from rollbook.enrollments.data import EnrollStatus
from rollbook.enrollments.models import CourseEnrollment

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions"),
]


def test_racing_enrollments_make_one_row(make_user, make_run, monkeypatch):
    user, run = make_user(), make_run()
    both_checked = threading.Barrier(2, timeout=10)
    original = api._locked_enrollment
    checked_once = threading.local()

    def check_then_wait(*args, **kwargs):
        found = original(*args, **kwargs)
        if not getattr(checked_once, "done", False):
            checked_once.done = True
            both_checked.wait()  # both callers have seen "no enrollment yet" before either inserts
        return found

    monkeypatch.setattr(api, "_locked_enrollment", check_then_wait)
    outcomes, errors = [], []

    def enroll():
        try:
            outcomes.append(api.enroll_with_outcome(user, run.course_key, "audit")[1])
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enroll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(outcomes) == sorted([EnrollStatus.ENROLLED, EnrollStatus.ALREADY_ENROLLED])
    assert CourseEnrollment.objects.filter(user=user).count() == 1
