"""link_program_enrollments: every outcome, relinking, Master's-track realisation, staff roles, one
transaction per key, case-insensitive keys and statement counts bounded by batches."""

from __future__ import annotations

import uuid

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from rollbook.catalog.data import ModeSpec
from rollbook.core import api as core_api
from rollbook.core.data import Scope, ScopeKind
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.programs import api
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment

from .conftest import MATH_KEY, STATS_KEY


def enrollment_state(user, course_key):
    enrollment = enrollments_api.get_enrollment(user, course_key)
    return None if enrollment is None else (enrollment.mode, enrollment.is_active)


def course_enrollment_pk(user, course_key):
    enrollment = enrollments_api.get_enrollment(user, course_key)
    return enrollments_api.enrollments_queryset().get(uuid=enrollment.uuid).pk


def program_enrollment(program, key):
    return ProgramEnrollment.objects.get(program=program, external_user_key_normalized=key.strip().casefold())


def course_rows(program, key):
    return {
        str(row.course_run.course_key): row
        for row in ProgramCourseEnrollment.objects.filter(program_enrollment=program_enrollment(program, key))
    }


def staff_scope(course_key):
    return Scope(ScopeKind.COURSE_RUN, str(course_key))


@pytest.fixture
def waiting(program, unlinked_keys, enroll_students, enroll_in_course):
    """STU-U1..U3 enrolled in the program, active in Math and inactive in Stats, nobody linked."""
    enroll_students(program, unlinked_keys)
    enroll_in_course(program, MATH_KEY, unlinked_keys, "active")
    enroll_in_course(program, STATS_KEY, unlinked_keys, "inactive")
    return unlinked_keys


def test_linking_sets_the_account_and_realises_the_course_enrollments(program, waiting, make_user):
    user = make_user("alice")

    errors = api.link_program_enrollments(program, {waiting[0]: "alice"})

    assert errors == {}
    assert program_enrollment(program, waiting[0]).user_id == user.pk
    assert enrollment_state(user, MATH_KEY) == ("masters", True)
    assert enrollment_state(user, STATS_KEY) is None  # inactive in Stats: nothing to enroll
    rows = course_rows(program, waiting[0])
    assert rows[MATH_KEY].course_enrollment_id == course_enrollment_pk(user, MATH_KEY)
    assert rows[STATS_KEY].course_enrollment_id is None
    assert program_enrollment(program, waiting[1]).user_id is None  # others untouched


def test_linking_writes_history_rows(program, waiting, make_user):
    user = make_user("alice")

    api.link_program_enrollments(program, {waiting[0]: "alice"})

    enrollment = program_enrollment(program, waiting[0])
    assert enrollment.history.first().user_id == user.pk
    assert enrollment.history.filter(user__isnull=True).exists()  # the waiting state is kept
    math_row = course_rows(program, waiting[0])[MATH_KEY]
    assert math_row.history.first().course_enrollment_id == math_row.course_enrollment_id


def test_linking_converts_an_audit_enrollment_and_deactivates_masters_for_an_inactive_course(
    program, waiting, make_user
):
    user = make_user("alice")
    enrollments_api.enroll(user, MATH_KEY, "audit")
    enrollments_api.enroll(user, STATS_KEY, "masters")

    api.link_program_enrollments(program, {waiting[0]: "alice"})

    assert enrollment_state(user, MATH_KEY) == ("masters", True)
    assert enrollment_state(user, STATS_KEY) == ("masters", False)
    assert course_rows(program, waiting[0])[STATS_KEY].course_enrollment_id == course_enrollment_pk(user, STATS_KEY)


def test_a_paid_enrollment_is_left_alone_but_recorded(program, waiting, make_user):
    user = make_user("alice")
    enrollments_api.enroll(user, MATH_KEY, "verified")

    assert api.link_program_enrollments(program, {waiting[0]: "alice"}) == {}

    assert enrollment_state(user, MATH_KEY) == ("verified", True)
    assert course_rows(program, waiting[0])[MATH_KEY].course_enrollment_id == course_enrollment_pk(user, MATH_KEY)


def test_keys_match_ignoring_case_and_results_use_the_key_as_given(program, waiting, make_user):
    user = make_user("alice")

    assert api.link_program_enrollments(program, {"  stu-u1 ": "alice", "stu-nobody": "alice"}) == {
        "stu-nobody": f"No enrollment in program {program.uuid} has the student key 'stu-nobody'."
    }
    assert program_enrollment(program, "STU-U1").user_id == user.pk


def test_errors_no_user_no_enrollment_and_already_linked(program, waiting, make_user):
    user = make_user("alice")
    make_user("bob")
    api.link_program_enrollments(program, {waiting[0]: "alice"})

    errors = api.link_program_enrollments(
        program, {waiting[0]: "alice", waiting[1]: "nobody", "NOT-ENROLLED": "bob", waiting[2]: "bob@example.com"}
    )

    assert errors == {
        waiting[0]: f"The student key {waiting[0]!r} is already linked to the account alice.",
        waiting[1]: "No user found with username 'nobody'.",
        "NOT-ENROLLED": f"No enrollment in program {program.uuid} has the student key 'NOT-ENROLLED'.",
        waiting[2]: "No user found with username 'bob@example.com'.",  # usernames only, not emails
    }
    assert program_enrollment(program, waiting[0]).user_id == user.pk
    assert program_enrollment(program, waiting[1]).user_id is None
    assert program_enrollment(program, waiting[2]).user_id is None


def test_a_key_given_twice_ignoring_case_fails_every_copy(program, waiting, make_user):
    make_user("alice")
    make_user("bob")

    errors = api.link_program_enrollments(program, {waiting[0]: "alice", waiting[0].lower(): "bob"})

    assert set(errors) == {waiting[0], waiting[0].lower()}
    assert program_enrollment(program, waiting[0]).user_id is None


def test_one_account_for_two_keys_fails_both(program, waiting, make_user):
    make_user("alice")

    errors = api.link_program_enrollments(program, {waiting[0]: "alice", waiting[1]: "alice"})

    assert errors == {key: "The account alice is named for more than one student key." for key in waiting[:2]}
    assert {program_enrollment(program, key).user_id for key in waiting[:2]} == {None}


def test_an_account_already_linked_to_another_key_of_the_program_is_refused(program, waiting, make_user):
    make_user("alice")
    api.link_program_enrollments(program, {waiting[0]: "alice"})

    errors = api.link_program_enrollments(program, {waiting[1]: "alice"})

    assert errors == {
        waiting[1]: f"The account alice is already linked to the student key {waiting[0]!r} in program {program.uuid}."
    }
    assert program_enrollment(program, waiting[1]).user_id is None


def test_relinking_moves_the_enrollment_and_releases_the_old_accounts_course_enrollments(program, waiting, make_user):
    old, new = make_user("old"), make_user("new")
    api.link_program_enrollments(program, {waiting[0]: "old"})
    api.write_program_course_enrollments(
        program, STATS_KEY, [api.ProgramCourseEnrollmentRequest(waiting[0], "active")], create=False, update=True
    )
    assert enrollment_state(old, STATS_KEY) == ("masters", True)

    assert api.link_program_enrollments(program, {waiting[0]: "new"}) == {}

    assert program_enrollment(program, waiting[0]).user_id == new.pk
    # The old account keeps its enrollments, inactive and in audit (the runs offer it).
    assert enrollment_state(old, MATH_KEY) == ("audit", False)
    assert enrollment_state(old, STATS_KEY) == ("audit", False)
    assert enrollment_state(new, MATH_KEY) == ("masters", True)
    assert enrollment_state(new, STATS_KEY) == ("masters", True)
    rows = course_rows(program, waiting[0])
    assert rows[MATH_KEY].course_enrollment_id == course_enrollment_pk(new, MATH_KEY)
    assert rows[STATS_KEY].course_enrollment_id == course_enrollment_pk(new, STATS_KEY)


def test_relinking_in_a_run_without_audit_only_deactivates(program, make_program_run, enroll_students, make_user):
    run = make_program_run("course-v1:ProgU+Math+2040", modes=[ModeSpec("masters")])
    old, new = make_user("old"), make_user("new")
    enroll_students(program, ["K-1"])
    api.write_program_course_enrollments(
        program, run.course_key, [api.ProgramCourseEnrollmentRequest("K-1", "active")], create=True, update=False
    )
    api.link_program_enrollments(program, {"K-1": "old"})

    assert api.link_program_enrollments(program, {"K-1": "new"}) == {}

    assert enrollment_state(old, run.course_key) == ("masters", False)
    assert enrollment_state(new, run.course_key) == ("masters", True)


def test_a_failing_key_is_rolled_back_alone(program, waiting, make_program_run, make_user):
    no_masters = make_program_run("course-v1:ProgU+Math+2041", modes=[ModeSpec("audit")])
    api.write_program_course_enrollments(
        program,
        no_masters.course_key,
        [api.ProgramCourseEnrollmentRequest(waiting[1], "active")],
        create=True,
        update=False,
    )
    users = {name: make_user(name) for name in ("alice", "bob", "carol")}

    errors = api.link_program_enrollments(program, dict(zip(waiting, users, strict=True)))

    assert set(errors) == {waiting[1]}
    assert "masters mode" in errors[waiting[1]] and str(no_masters.course_key) in errors[waiting[1]]
    assert program_enrollment(program, waiting[0]).user_id == users["alice"].pk
    assert program_enrollment(program, waiting[2]).user_id == users["carol"].pk
    # Nothing of bob's key was written: not the link, not the Math enrollment the same key would have had.
    assert program_enrollment(program, waiting[1]).user_id is None
    assert enrollment_state(users["bob"], MATH_KEY) is None
    assert course_rows(program, waiting[1])[MATH_KEY].course_enrollment_id is None


def test_pending_staff_assignments_become_roles(program, waiting, enroll_in_course, make_user):
    enroll_in_course(program, MATH_KEY, [waiting[0]], "active", course_staff=True)
    assert CourseStaffAssignment.objects.count() == 1
    user = make_user("alice")

    api.link_program_enrollments(program, {waiting[0]: "alice"})

    assert CourseStaffAssignment.objects.count() == 0
    assert core_api.has_role(user, core_api.Role.COURSE_STAFF, staff_scope(MATH_KEY))
    assert not core_api.has_role(user, core_api.Role.COURSE_STAFF, staff_scope(STATS_KEY))


def test_a_student_active_in_the_run_through_another_program_keeps_that_enrollment(
    program, other_program, waiting, enroll_students, enroll_in_course, make_user
):
    user = make_user("alice")
    enroll_students(other_program, ["OTHER-1"])
    enroll_in_course(other_program, MATH_KEY, ["OTHER-1"], "active")
    api.link_program_enrollments(other_program, {"OTHER-1": "alice"})
    other_row = course_rows(other_program, "OTHER-1")[MATH_KEY]

    assert api.link_program_enrollments(program, {waiting[0]: "alice"}) == {}

    assert program_enrollment(program, waiting[0]).user_id == user.pk
    assert course_rows(program, waiting[0])[MATH_KEY].course_enrollment_id is None
    other_row.refresh_from_db()
    assert other_row.course_enrollment_id == course_enrollment_pk(user, MATH_KEY)
    assert enrollment_state(user, MATH_KEY) == ("masters", True)


def test_unknown_program_and_bad_arguments(program, waiting):
    with pytest.raises(NotFound):
        api.link_program_enrollments(uuid.uuid4(), {waiting[0]: "alice"})
    with pytest.raises(InvalidInput):
        api.link_program_enrollments(program, {waiting[0]: 42})
    assert api.link_program_enrollments(program, {"  ": "alice"}) == {"  ": "A student key is required."}
    assert api.link_program_enrollments(str(program.uuid), {}) == {}


def _link_queries(program, enroll_students, enroll_in_course, make_user, prefix, count):
    keys = [f"{prefix}-{n}" for n in range(count)]
    enroll_students(program, keys)
    enroll_in_course(program, MATH_KEY, keys, "active")
    enroll_in_course(program, STATS_KEY, keys, "inactive")
    mapping = {key: make_user(f"{prefix}user{n}").username for n, key in enumerate(keys)}
    with CaptureQueriesContext(connection) as queries:
        assert api.link_program_enrollments(program, mapping) == {}
    assert ProgramEnrollment.objects.filter(program=program, user__isnull=False).count() >= count
    return len(queries)


def test_statements_grow_with_batches_not_keys(program, enroll_students, enroll_in_course, make_user, settings):
    settings.BULK_BATCH_SIZE = 100
    few = _link_queries(program, enroll_students, enroll_in_course, make_user, "few", 3)
    many = _link_queries(program, enroll_students, enroll_in_course, make_user, "many", 40)

    assert many == few
    assert many <= 30


def test_a_database_failure_fails_only_its_own_key(program, waiting, enroll_in_course, make_user, monkeypatch):
    enroll_in_course(program, MATH_KEY, waiting, "active", course_staff=True)
    users = [make_user(name) for name in ("alice", "bob", "carol")]
    real_grant = core_api.grant

    def grant(user, role, scope=core_api.GLOBAL_SCOPE):
        if user.pk == users[1].pk:
            raise DatabaseError("the role table is locked")
        return real_grant(user, role, scope)

    monkeypatch.setattr(core_api, "grant", grant)

    errors = api.link_program_enrollments(
        program, {key: user.username for key, user in zip(waiting, users, strict=True)}
    )

    assert errors == {waiting[1]: "DatabaseError: the role table is locked"}
    assert [program_enrollment(program, key).user_id for key in waiting] == [users[0].pk, None, users[2].pk]
    assert enrollment_state(users[1], MATH_KEY) is None
    assert CourseStaffAssignment.objects.filter(
        program_course_enrollment__program_enrollment__external_user_key=waiting[1]
    ).exists()
    assert not CourseStaffAssignment.objects.exclude(
        program_course_enrollment__program_enrollment__external_user_key=waiting[1]
    ).exists()
