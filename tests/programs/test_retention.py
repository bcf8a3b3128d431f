"""Retention: expiring never-linked enrollments with their history, and retiring student keys everywhere."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.core.errors import InvalidInput
from rollbook.programs import api
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment

from .conftest import MATH_KEY, STATS_KEY

PE_HISTORY = ProgramEnrollment.history.model
PCE_HISTORY = ProgramCourseEnrollment.history.model


def age(program, keys, days):
    """Make the program's enrollments of ``keys`` look unchanged for ``days`` days."""
    normalized = [key.casefold() for key in keys]
    ProgramEnrollment.objects.filter(program=program, external_user_key_normalized__in=normalized).update(
        modified=timezone.now() - timedelta(days=days)
    )


def keys_in(program):
    return set(ProgramEnrollment.objects.filter(program=program).values_list("external_user_key", flat=True))


def history_mentions(key):
    return PE_HISTORY.objects.filter(external_user_key_normalized=key.casefold()).exists()


@pytest.fixture
def roster(program, linked_students, unlinked_keys, enroll_students, enroll_in_course):
    """Every student of the fixtures in the program, in Math (unlinked ones as pending staff) and in Stats."""
    keys = [*linked_students, *unlinked_keys]
    enroll_students(program, keys)
    enroll_in_course(program, MATH_KEY, keys, "active", course_staff=True)
    enroll_in_course(program, STATS_KEY, keys, "inactive")
    enroll_in_course(program, STATS_KEY, keys, "active")  # a second history row per program-course enrollment
    return keys


# --- expire_waiting_enrollments --------------------------------------------------------------------


def test_old_waiting_enrollments_go_with_their_course_enrollments_staff_assignments_and_history(
    program, roster, linked_students, unlinked_keys
):
    age(program, roster, 61)
    expired_ids = list(ProgramEnrollment.objects.filter(user__isnull=True).values_list("pk", flat=True))
    expired_course_ids = list(
        ProgramCourseEnrollment.objects.filter(program_enrollment_id__in=expired_ids).values_list("pk", flat=True)
    )
    assert len(expired_ids) == 3 and len(expired_course_ids) == 6
    assert CourseStaffAssignment.objects.count() == 3

    assert api.expire_waiting_enrollments() == 3

    assert keys_in(program) == set(linked_students)
    assert not ProgramCourseEnrollment.objects.filter(pk__in=expired_course_ids).exists()
    assert not CourseStaffAssignment.objects.exists()
    assert not PE_HISTORY.objects.filter(id__in=expired_ids).exists()
    assert not PCE_HISTORY.objects.filter(id__in=expired_course_ids).exists()
    assert not any(history_mentions(key) for key in unlinked_keys)
    # Linked students keep everything, history included.
    assert all(history_mentions(key) for key in linked_students)
    assert ProgramCourseEnrollment.objects.count() == 6


def test_only_enrollments_unchanged_for_the_given_days_expire(program, unlinked_keys, enroll_students):
    enroll_students(program, unlinked_keys)
    age(program, unlinked_keys[:1], 30)
    age(program, unlinked_keys[1:2], 10)

    assert api.expire_waiting_enrollments(days=60) == 0
    assert api.expire_waiting_enrollments(days=30) == 1
    assert keys_in(program) == set(unlinked_keys[1:])
    assert api.expire_waiting_enrollments(days=0) == 2
    assert keys_in(program) == set()


def test_old_linked_enrollments_never_expire(program, linked_students, enroll_students):
    enroll_students(program, list(linked_students))
    age(program, list(linked_students), 365)

    assert api.expire_waiting_enrollments(days=1) == 0
    assert keys_in(program) == set(linked_students)


@pytest.mark.parametrize("days", [-1, "60", 1.5, True, None])
def test_days_must_be_a_whole_number_of_zero_or_more(db, days):
    with pytest.raises(InvalidInput) as raised:
        api.expire_waiting_enrollments(days=days)
    assert "days" in raised.value.errors


def _expire_queries(program, enroll_students, enroll_in_course, prefix, count):
    keys = [f"{prefix}-{n}" for n in range(count)]
    enroll_students(program, keys)
    enroll_in_course(program, MATH_KEY, keys, "active", course_staff=True)
    age(program, keys, 90)
    with CaptureQueriesContext(connection) as queries:
        assert api.expire_waiting_enrollments() == count
    return len(queries)


def test_statements_grow_with_batches_not_enrollments(program, enroll_students, enroll_in_course, settings):
    settings.BULK_BATCH_SIZE = 100
    few = _expire_queries(program, enroll_students, enroll_in_course, "few", 2)
    many = _expire_queries(program, enroll_students, enroll_in_course, "many", 60)

    assert many == few <= 10


def test_nothing_else_refers_to_the_rows_expiry_deletes(db):
    """Expiry deletes rows without Django's cascade; it must know every table that points at them."""

    def referring(model):
        return {
            relation.related_model
            for relation in model._meta.related_objects
            if relation.on_delete is not models.DO_NOTHING
        }

    assert referring(ProgramEnrollment) == {ProgramCourseEnrollment}
    assert referring(ProgramCourseEnrollment) == {CourseStaffAssignment}
    assert referring(CourseStaffAssignment) == set()


# --- retire_external_keys --------------------------------------------------------------------------


def test_retiring_replaces_the_key_in_live_and_history_rows(program, other_program, make_user, enroll_students):
    user = make_user("alice")
    enroll_students(program, ["Secret-1", "STAY-1"])
    enroll_students(program, ["Secret-1"], "canceled")  # more history
    enroll_students(other_program, ["SECRET-1"])
    api.link_program_enrollments(program, {"Secret-1": "alice"})
    api.link_program_enrollments(other_program, {"SECRET-1": "alice"})
    ids = list(ProgramEnrollment.objects.filter(user=user).values_list("pk", flat=True))

    assert api.retire_external_keys(user) == 2

    retired = api.retired_external_key("secret-1")
    live = ProgramEnrollment.objects.filter(pk__in=ids)
    assert {(row.external_user_key, row.external_user_key_normalized) for row in live} == {(retired, retired)}
    history = PE_HISTORY.objects.filter(id__in=ids)
    assert history.count() >= 5
    assert set(history.values_list("external_user_key", "external_user_key_normalized")) == {(retired, retired)}
    assert not PE_HISTORY.objects.filter(external_user_key_normalized="secret-1").exists()
    # Other students are untouched.
    assert keys_in(program) == {retired, "STAY-1"}
    assert history_mentions("STAY-1")


def test_the_retired_key_is_a_salted_hash(settings):
    retired = api.retired_external_key("Secret-1")

    assert retired.startswith("retired_user_") and len(retired) == len("retired_user_") + 64
    assert "secret" not in retired.lower()
    assert retired == api.retired_external_key("  SECRET-1 ")
    assert retired != api.retired_external_key("Secret-2")
    assert retired.removeprefix("retired_user_") != hashlib.sha256(b"secret-1").hexdigest()  # salted
    settings.SECRET_KEY = "another-secret-key-for-this-test"
    assert api.retired_external_key("Secret-1") != retired


def test_retiring_again_changes_nothing_and_other_users_are_left_alone(program, make_user, enroll_students):
    alice = make_user("alice")
    make_user("bob")
    enroll_students(program, ["K-A", "K-B"])
    api.link_program_enrollments(program, {"K-A": "alice", "K-B": "bob"})

    assert api.retire_external_keys(alice.pk) == 1
    history_rows = PE_HISTORY.objects.count()
    assert api.retire_external_keys(alice) == 0
    assert PE_HISTORY.objects.count() == history_rows
    assert keys_in(program) == {api.retired_external_key("K-A"), "K-B"}
    assert api.retire_external_keys(make_user("carol")) == 0


def test_a_retired_key_no_longer_finds_the_student(program, make_user, enroll_students):
    make_user("alice")
    enroll_students(program, ["K-A"])
    api.link_program_enrollments(program, {"K-A": "alice"})
    user = ProgramEnrollment.objects.get(program=program).user

    api.retire_external_keys(user)

    assert not api.fetch_program_enrollments(program, external_user_keys=["K-A"]).exists()
    assert api.fetch_program_enrollments(program, users=[user]).count() == 1
