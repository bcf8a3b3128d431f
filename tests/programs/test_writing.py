"""write_program_enrollments: every per-key outcome, linking on create, curricula, dry runs, statement counts."""

from __future__ import annotations

import uuid

import pytest

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.identity import api as identity_api
from rollbook.programs import api
from rollbook.programs.api import ProgramEnrollmentRequest as Req
from rollbook.programs.models import ProgramEnrollment


def write(program, *items, create=True, update=True, dry_run=False):
    requests = [Req(*item) if isinstance(item, tuple) else item for item in items]
    return api.write_program_enrollments(program, requests, create=create, update=update, dry_run=dry_run)


def rows(program):
    return {row.external_user_key: row for row in ProgramEnrollment.objects.filter(program=program)}


def test_creates_enrollments_with_the_written_status_and_history(program, curriculum, unlinked_keys):
    results = write(program, (unlinked_keys[0], "enrolled"), (unlinked_keys[1], "pending"))

    assert results == {unlinked_keys[0]: "enrolled", unlinked_keys[1]: "pending"}
    stored = rows(program)
    assert {key: row.status for key, row in stored.items()} == results
    assert all(row.curriculum_id == curriculum.pk and row.user_id is None for row in stored.values())
    assert ProgramEnrollment.history.filter(history_type="+").count() == 2


def test_keys_are_stored_as_given_with_a_normalised_column(program):
    write(program, ("  MiXeD-Key  ", "enrolled"))

    row = ProgramEnrollment.objects.get(program=program)
    assert row.external_user_key == "  MiXeD-Key  "
    assert row.external_user_key_normalized == "mixed-key"


def test_a_new_enrollment_is_linked_to_the_account_linked_at_the_first_organizations_provider(
    program, linked_students, unlinked_keys
):
    key, user = next(iter(linked_students.items()))

    write(program, (key.lower(), "enrolled"), (unlinked_keys[0], "enrolled"))

    stored = rows(program)
    assert stored[key.lower()].user_id == user.pk
    assert stored[unlinked_keys[0]].user_id is None


def test_disabled_providers_and_providers_of_other_organizations_do_not_link(
    program, program_orgs, sso_provider, make_user
):
    partner_provider = identity_api.create_identity_provider("partner-sso", "Partner", organization=program_orgs[1])
    identity_api.link_sso(partner_provider, "P-1", make_user())
    identity_api.link_sso(sso_provider, "D-1", make_user())
    identity_api.disable_identity_provider(sso_provider)

    write(program, ("P-1", "enrolled"), ("D-1", "enrolled"))

    assert {row.user_id for row in rows(program).values()} == {None}


def test_a_program_whose_organization_has_no_provider_creates_unlinked_enrollments(program_orgs, program_runs):
    other = api.create_program("No SSO", organizations=["PartnerU"])
    api.create_curriculum(other, catalog_course_keys=["catalog-course:ProgU:Math"])

    assert write(other, ("K1", "enrolled")) == {"K1": "enrolled"}
    assert ProgramEnrollment.objects.get(program=other).user_id is None


def test_every_copy_of_a_repeated_key_is_duplicated_ignoring_case(program):
    results = write(
        program, ("A1", "enrolled"), ("a1", "pending"), ("B1", "enrolled"), ("B1", "enrolled"), ("C1", "enrolled")
    )

    assert results == {"A1": "duplicated", "a1": "duplicated", "B1": "duplicated", "C1": "enrolled"}
    assert set(rows(program)) == {"C1"}


def test_unknown_statuses_are_invalid_status(program):
    results = write(program, ("K1", "withdrawn"), ("K2", "ENROLLED"), ("K3", ""), ("K4", "enrolled"))

    assert results == {"K1": "invalid-status", "K2": "invalid-status", "K3": "invalid-status", "K4": "enrolled"}
    assert set(rows(program)) == {"K4"}


def test_existing_enrollments_conflict_when_not_updating_matching_case_insensitively(program):
    write(program, ("STU-1", "enrolled"))

    assert write(program, ("stu-1", "pending"), ("STU-2", "pending"), update=False) == {
        "stu-1": "conflict",
        "STU-2": "pending",
    }
    assert rows(program)["STU-1"].status == "enrolled"


def test_missing_enrollments_are_not_in_program_when_not_creating(program):
    write(program, ("STU-1", "enrolled"))

    assert write(program, ("Stu-1", "suspended"), ("STU-9", "enrolled"), create=False) == {
        "Stu-1": "suspended",
        "STU-9": "not-in-program",
    }
    assert set(rows(program)) == {"STU-1"}
    assert rows(program)["STU-1"].status == "suspended"


def test_updates_change_the_status_in_place_keeping_key_and_curriculum(program, curriculum):
    second = api.create_curriculum(program, name="2031", catalog_course_keys=["catalog-course:ProgU:Math"])
    write(program, ("STU-1", "pending"))

    results = write(program, ("stu-1", "ended", str(second.uuid)), create=False)

    row = ProgramEnrollment.objects.get(program=program)
    assert results == {"stu-1": "ended"}
    assert (row.external_user_key, row.status, row.curriculum_id) == ("STU-1", "ended", curriculum.pk)
    assert list(row.history.order_by("history_id").values_list("history_type", "status")) == [
        ("+", "pending"),
        ("~", "ended"),
    ]


def test_an_update_to_the_same_status_writes_nothing(program):
    write(program, ("STU-1", "enrolled"))
    before = ProgramEnrollment.objects.get(program=program).modified

    report = api.write_program_enrollments_report(program, [Req("STU-1", "enrolled")], create=True, update=True)

    assert report.results == {"STU-1": "enrolled"}
    assert report.actions == {"STU-1": "unchanged"}
    assert ProgramEnrollment.history.count() == 1
    assert ProgramEnrollment.objects.get(program=program).modified == before


def test_a_given_curriculum_is_used_and_must_belong_to_the_program(program, curriculum, other_program):
    inactive = api.create_curriculum(
        program, name="old", catalog_course_keys=["catalog-course:ProgU:Stats"], is_active=False
    )
    foreign = other_program.curricula.get()

    results = write(
        program,
        ("K1", "enrolled", str(inactive.uuid)),
        ("K2", "enrolled", str(foreign.uuid)),
        ("K3", "enrolled", "not-a-uuid"),
        ("K4", "enrolled", inactive.uuid),
    )

    assert results == {"K1": "enrolled", "K2": "illegal-operation", "K3": "illegal-operation", "K4": "enrolled"}
    assert {row.curriculum_id for row in rows(program).values()} == {inactive.pk}


def test_without_an_active_curriculum_new_enrollments_are_illegal_but_updates_work(program, curriculum):
    write(program, ("K1", "enrolled"))
    api.set_curricula_active([curriculum], active=False)

    assert write(program, ("K1", "canceled"), ("K2", "enrolled")) == {"K1": "canceled", "K2": "illegal-operation"}


def test_blank_and_overlong_keys_are_illegal(program):
    results = write(program, ("   ", "enrolled"), ("x" * 256, "enrolled"), ("x" * 255, "enrolled"))

    assert results == {"   ": "illegal-operation", "x" * 256: "illegal-operation", "x" * 255: "enrolled"}


def test_an_account_enrolled_under_another_key_conflicts(program, sso_provider, make_user, enroll_students):
    user = make_user()
    enroll_students(program, ["OLD-KEY"])
    ProgramEnrollment.objects.filter(program=program).update(user=user)  # as linking would
    identity_api.link_sso(sso_provider, "NEW-KEY", user)

    assert write(program, ("NEW-KEY", "enrolled")) == {"NEW-KEY": "conflict"}
    assert set(rows(program)) == {"OLD-KEY"}


def test_refuses_bad_calls_as_a_whole(program):
    with pytest.raises(InvalidInput):
        write(program, ("K1", "enrolled"), create=False, update=False)
    with pytest.raises(InvalidInput):
        api.write_program_enrollments(program, [Req(123, "enrolled")], create=True, update=True)
    with pytest.raises(NotFound):
        write(str(uuid.uuid4()), ("K1", "enrolled"))
    with pytest.raises(InvalidInput):
        write("nope", ("K1", "enrolled"))
    assert not ProgramEnrollment.objects.exists()


def test_the_program_may_be_named_by_uuid(program):
    assert write(str(program.uuid), ("K1", "enrolled")) == {"K1": "enrolled"}


def test_a_dry_run_reports_the_same_outcomes_and_writes_nothing(program, linked_students):
    write(program, ("EXISTING", "pending"), ("SAME", "enrolled"))
    requests = [
        Req("existing", "enrolled"),
        Req("SAME", "enrolled"),
        Req("NEW", "enrolled"),
        Req(next(iter(linked_students)), "pending"),
        Req("BAD", "nope"),
        Req("DUP", "enrolled"),
        Req("dup", "enrolled"),
    ]
    before = (
        list(ProgramEnrollment.objects.values_list("pk", "status", "modified")),
        ProgramEnrollment.history.count(),
    )

    dry = api.write_program_enrollments_report(program, requests, create=True, update=True, dry_run=True)

    assert (
        list(ProgramEnrollment.objects.values_list("pk", "status", "modified")),
        ProgramEnrollment.history.count(),
    ) == before
    assert dry.dry_run
    assert dry.counts() == {"created": 2, "updated": 1, "unchanged": 1, "refused": 3}
    real = api.write_program_enrollments_report(program, requests, create=True, update=True)
    assert (real.results, real.actions) == (dry.results, dry.actions)


def test_statements_grow_with_batches_not_rows(program, settings, django_assert_max_num_queries):
    settings.BULK_BATCH_SIZE = 50

    def statements(count: int, prefix: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            results = write(program, *[(f"{prefix}{n}", "enrolled") for n in range(count)])
        assert set(results.values()) == {"enrolled"}
        return len(captured)

    small = statements(50, "s")  # one batch
    large = statements(500, "l")  # ten batches
    # Each extra batch costs four statements: existing rows, SSO links, the insert and its history insert.
    assert large <= small + 9 * 4
    updates = [(f"l{n}", "canceled") for n in range(500)]
    with django_assert_max_num_queries(small + 9 * 4):
        assert set(write(program, *updates).values()) == {"canceled"}


# --- write_program_course_enrollments --------------------------------------------------------------

from rollbook.catalog.data import ModeSpec  # noqa: E402
from rollbook.core import api as core_api  # noqa: E402
from rollbook.core.data import Scope, ScopeKind  # noqa: E402
from rollbook.enrollments import api as enrollments_api  # noqa: E402
from rollbook.programs.api import ProgramCourseEnrollmentRequest as CReq  # noqa: E402
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment  # noqa: E402


def write_course(program, course_key, *items, create=True, update=True, dry_run=False):
    requests = [CReq(*item) for item in items]
    return api.write_program_course_enrollments(
        program, str(course_key), requests, create=create, update=update, dry_run=dry_run
    )


def course_rows(program, run):
    return {
        row.program_enrollment.external_user_key: row
        for row in ProgramCourseEnrollment.objects.filter(
            program_enrollment__program=program, course_run=run
        ).select_related("program_enrollment", "course_enrollment")
    }


def staff_scope(run):
    return Scope(ScopeKind.COURSE_RUN, str(run.course_key))


def test_unlinked_students_get_program_course_enrollments_only(program, math_run, unlinked_keys, enroll_students):
    enroll_students(program, unlinked_keys)

    results = write_course(program, math_run.course_key, (unlinked_keys[0], "active"), (unlinked_keys[1], "inactive"))

    assert results == {unlinked_keys[0]: "active", unlinked_keys[1]: "inactive"}
    stored = course_rows(program, math_run)
    assert {key: row.status for key, row in stored.items()} == results
    assert all(row.course_enrollment_id is None for row in stored.values())
    assert ProgramCourseEnrollment.history.filter(history_type="+").count() == 2


def test_linked_students_are_enrolled_in_the_masters_track(program, math_run, linked_students, enroll_students):
    enroll_students(program, list(linked_students))
    key, user = next(iter(linked_students.items()))

    report = api.write_program_course_enrollments_report(
        program, str(math_run.course_key), [CReq(key.lower(), "active")], create=True, update=False
    )

    assert report.results == {key.lower(): "active"}
    assert report.course_enrollments == {key.lower(): "enrolled"}
    enrollment = enrollments_api.get_enrollment(user, math_run.course_key)
    assert (enrollment.mode, enrollment.is_active) == ("masters", True)
    assert course_rows(program, math_run)[key].course_enrollment.uuid == enrollment.uuid


def test_a_closed_enrollment_window_does_not_stop_the_masters_track(
    program, make_program_run, linked_students, enroll_students
):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    closed = make_program_run(
        "course-v1:ProgU+Math+2020", enrollment_start=now - timedelta(days=9), enrollment_end=now - timedelta(days=1)
    )
    enroll_students(program, list(linked_students))
    key, user = next(iter(linked_students.items()))

    assert write_course(program, closed.course_key, (key, "active")) == {key: "active"}
    assert enrollments_api.is_enrolled(user, closed.course_key)


def test_audit_learners_are_converted_and_paid_ones_left_alone(program, math_run, linked_students, enroll_students):
    (audit_key, audit_user), (verified_key, verified_user), _third = linked_students.items()
    enrollments_api.enroll(audit_user, math_run.course_key, "audit")
    enrollments_api.enroll(verified_user, math_run.course_key, "verified")
    enroll_students(program, list(linked_students))

    report = api.write_program_course_enrollments_report(
        program,
        str(math_run.course_key),
        [CReq(audit_key, "active"), CReq(verified_key, "active")],
        create=True,
        update=True,
    )

    assert report.results == {audit_key: "active", verified_key: "active"}
    assert report.course_enrollments == {audit_key: "converted", verified_key: "left-alone:verified"}
    assert enrollments_api.get_enrollment(audit_user, math_run.course_key).mode == "masters"
    assert enrollments_api.get_enrollment(verified_user, math_run.course_key).mode == "verified"
    stored = course_rows(program, math_run)
    assert (
        stored[verified_key].course_enrollment.uuid
        == enrollments_api.get_enrollment(verified_user, math_run.course_key).uuid
    )


def test_a_linked_student_in_a_run_without_masters_mode_is_refused(
    program, make_program_run, linked_students, unlinked_keys, enroll_students
):
    no_masters = make_program_run("course-v1:ProgU+Stats+2031", modes=[ModeSpec("audit"), ModeSpec("verified", 100)])
    key, user = next(iter(linked_students.items()))
    enroll_students(program, [key, unlinked_keys[0]])

    results = write_course(program, no_masters.course_key, (key, "active"), (unlinked_keys[0], "active"))

    assert results == {key: "illegal-operation", unlinked_keys[0]: "active"}
    assert set(course_rows(program, no_masters)) == {unlinked_keys[0]}
    assert enrollments_api.get_enrollment(user, no_masters.course_key) is None


def test_each_status_outcome(program, math_run, unlinked_keys, enroll_students):
    enroll_students(program, [*unlinked_keys, "DUP"])
    write_course(program, math_run.course_key, (unlinked_keys[0], "active"))

    created = write_course(
        program,
        math_run.course_key,
        (unlinked_keys[0].lower(), "inactive"),  # exists, no update
        (unlinked_keys[1], "active"),  # created
        (unlinked_keys[2], "enrolled"),  # a program status, not a course one
        ("NOBODY", "active"),
        ("DUP", "active"),
        ("dup", "active"),
        update=False,
    )
    updated = write_course(
        program, math_run.course_key, (unlinked_keys[0], "inactive"), (unlinked_keys[2], "active"), create=False
    )

    assert created == {
        unlinked_keys[0].lower(): "conflict",
        unlinked_keys[1]: "active",
        unlinked_keys[2]: "invalid-status",
        "NOBODY": "not-in-program",
        "DUP": "duplicated",
        "dup": "duplicated",
    }
    assert updated == {unlinked_keys[0]: "inactive", unlinked_keys[2]: "not-found"}
    assert {key: row.status for key, row in course_rows(program, math_run).items()} == {
        unlinked_keys[0]: "inactive",
        unlinked_keys[1]: "active",
    }


def test_active_in_another_program_conflicts_even_on_update(program, other_program, math_run, enroll_students):
    enroll_students(other_program, ["STU-X"])
    write_course(other_program, math_run.course_key, ("STU-X", "active"))
    enroll_students(program, ["stu-x"])
    write_course(program, math_run.course_key, ("stu-x", "inactive"))

    assert write_course(program, math_run.course_key, ("STU-x", "active")) == {"STU-x": "conflict"}
    assert write_course(program, math_run.course_key, ("STU-x", "inactive")) == {"STU-x": "inactive"}
    write_course(other_program, math_run.course_key, ("STU-X", "inactive"))
    assert write_course(program, math_run.course_key, ("STU-x", "active")) == {"STU-x": "active"}


def test_active_in_another_program_under_another_key_of_the_same_account_conflicts(
    program, other_program, math_run, linked_students, enroll_students
):
    key, user = next(iter(linked_students.items()))
    enroll_students(other_program, ["OTHER-KEY"])
    ProgramEnrollment.objects.filter(program=other_program).update(user=user)  # as linking would
    enroll_students(program, [key])

    write_course(other_program, math_run.course_key, ("OTHER-KEY", "active"))
    results = write_course(program, math_run.course_key, (key, "active"), (key.lower() + "-none", "active"))

    assert results[key] == "conflict"
    # An inactive enrollment may exist; it leaves the other program's course enrollment alone.
    assert write_course(program, math_run.course_key, (key, "inactive")) == {key: "inactive"}
    assert enrollments_api.is_enrolled(user, math_run.course_key)
    assert course_rows(program, math_run)[key].course_enrollment_id is None


def test_status_changes_deactivate_and_reactivate_the_course_enrollment(
    program, math_run, linked_students, enroll_students
):
    key, user = next(iter(linked_students.items()))
    enroll_students(program, [key])
    write_course(program, math_run.course_key, (key, "active"))

    assert write_course(program, math_run.course_key, (key, "inactive")) == {key: "inactive"}
    assert not enrollments_api.is_enrolled(user, math_run.course_key)
    assert write_course(program, math_run.course_key, (key, "active")) == {key: "active"}
    enrollment = enrollments_api.get_enrollment(user, math_run.course_key)
    assert (enrollment.mode, enrollment.is_active) == ("masters", True)
    assert list(ProgramCourseEnrollment.history.order_by("history_id").values_list("history_type", "status")) == [
        ("+", "active"),
        ("~", "inactive"),
        ("~", "active"),
    ]


def test_an_inactive_course_enrollment_of_a_linked_student_is_realised_when_activated(
    program, math_run, linked_students, enroll_students
):
    key, user = next(iter(linked_students.items()))
    enroll_students(program, [key])

    write_course(program, math_run.course_key, (key, "inactive"))
    assert course_rows(program, math_run)[key].course_enrollment_id is None
    assert enrollments_api.get_enrollment(user, math_run.course_key) is None

    write_course(program, math_run.course_key, (key, "active"))
    row = course_rows(program, math_run)[key]
    assert row.course_enrollment.mode == "masters" and row.course_enrollment.is_active


def test_program_status_does_not_change_course_status(program, math_run, unlinked_keys, enroll_students):
    enroll_students(program, unlinked_keys[:1])
    write_course(program, math_run.course_key, (unlinked_keys[0], "active"))

    enroll_students(program, unlinked_keys[:1], status="canceled")

    assert course_rows(program, math_run)[unlinked_keys[0]].status == "active"


def test_course_staff_for_linked_students_is_a_role(program, math_run, linked_students, enroll_students):
    key, user = next(iter(linked_students.items()))
    enroll_students(program, [key])

    def is_staff() -> bool:
        fresh = identity_api.get_user(id=user.pk)  # roles are cached per user object
        return core_api.has_role(fresh, core_api.Role.COURSE_STAFF, staff_scope(math_run))

    write_course(program, math_run.course_key, (key, "active", True))
    assert is_staff()
    write_course(program, math_run.course_key, (key, "active", None))
    assert is_staff()
    write_course(program, math_run.course_key, (key, "active", False))
    assert not is_staff()
    assert not CourseStaffAssignment.objects.exists()


def test_course_staff_for_unlinked_students_waits_as_an_assignment(program, math_run, unlinked_keys, enroll_students):
    enroll_students(program, unlinked_keys)

    write_course(program, math_run.course_key, (unlinked_keys[0], "active", True), (unlinked_keys[1], "active", False))
    assert list(
        CourseStaffAssignment.objects.values_list(
            "program_course_enrollment__program_enrollment__external_user_key", "role"
        )
    ) == [(unlinked_keys[0], "staff")]
    write_course(program, math_run.course_key, (unlinked_keys[0], "active", True))
    assert CourseStaffAssignment.objects.count() == 1
    write_course(program, math_run.course_key, (unlinked_keys[0], "inactive", False))
    assert not CourseStaffAssignment.objects.exists()


def test_course_checks_raise(program, outside_run, enroll_students):
    enroll_students(program, ["K1"])
    with pytest.raises(InvalidInput):
        write_course(program, "not a course key", ("K1", "active"))
    with pytest.raises(NotFound):
        write_course(program, "course-v1:ProgU+Nope+2030", ("K1", "active"))
    with pytest.raises(NotFound):
        write_course(program, outside_run.course_key, ("K1", "active"))
    with pytest.raises(NotFound):
        write_course(program, "course-v1:progu+math+2030", ("K1", "active"))  # course keys are case-sensitive
    with pytest.raises(InvalidInput):
        api.write_program_course_enrollments(
            program, "course-v1:ProgU+Math+2030", [CReq("K1", "active", "yes")], create=True, update=True
        )
    assert not ProgramCourseEnrollment.objects.exists()


def test_a_course_dry_run_writes_nothing(program, math_run, linked_students, unlinked_keys, enroll_students):
    keys = list(linked_students)
    enroll_students(program, [*keys, *unlinked_keys])
    write_course(program, math_run.course_key, (keys[0], "active"))
    requests = [
        CReq(keys[0], "inactive"),
        CReq(keys[1], "active", True),
        CReq(unlinked_keys[0], "active", True),
        CReq("NOBODY", "active"),
    ]
    before = (
        list(ProgramCourseEnrollment.objects.values_list("pk", "status", "course_enrollment_id")),
        [(e.uuid, e.mode, e.is_active) for e in enrollments_api.get_enrollments()],
    )

    dry = api.write_program_course_enrollments_report(
        program, str(math_run.course_key), requests, create=True, update=True, dry_run=True
    )

    assert (
        list(ProgramCourseEnrollment.objects.values_list("pk", "status", "course_enrollment_id")),
        [(e.uuid, e.mode, e.is_active) for e in enrollments_api.get_enrollments()],
    ) == before
    assert not CourseStaffAssignment.objects.exists()
    assert not core_api.has_role(linked_students[keys[1]], core_api.Role.COURSE_STAFF)
    assert dry.counts() == {"created": 2, "updated": 1, "unchanged": 0, "refused": 1}
    real = api.write_program_course_enrollments_report(
        program, str(math_run.course_key), requests, create=True, update=True
    )
    assert (real.results, real.actions, real.course_enrollments) == (dry.results, dry.actions, dry.course_enrollments)


def test_course_statements_grow_with_batches_not_rows(program, math_run, make_user, sso_provider, settings):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.BULK_BATCH_SIZE = 40
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"many{n}", email=f"many{n}@example.com", email_normalized=f"many{n}@example.com")
        for n in range(400)
    )
    for n, user in enumerate(users):
        identity_api.link_sso(sso_provider, f"M{n}", user)
    keys = [f"M{n}" for n in range(400)] + [f"U{n}" for n in range(400)]
    api.write_program_enrollments(program, [Req(key, "enrolled") for key in keys], create=True, update=True)

    def statements(selected: list[str], status: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            results = write_course(program, math_run.course_key, *[(key, status) for key in selected])
        assert set(results.values()) == {status}
        return len(captured)

    one_batch = statements(keys[:20] + keys[400:420], "active")  # 20 linked + 20 unlinked: one batch
    ten_batches = statements(keys[20:220] + keys[420:620], "active")  # ten batches
    assert ten_batches <= one_batch + 9 * 9
    toggled = statements(keys[20:220] + keys[420:620], "inactive")
    assert toggled <= one_batch + 9 * 9
    assert ProgramCourseEnrollment.objects.filter(course_enrollment__isnull=False).count() == 220


def test_a_failure_part_way_leaves_nothing_written(program, math_run, linked_students, enroll_students, monkeypatch):
    from rollbook.programs import writing

    keys = list(linked_students)
    enroll_students(program, keys[:1])

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(writing, "update_with_history", fail)
    with pytest.raises(RuntimeError):
        write(program, (keys[0], "canceled"), (keys[1], "enrolled"))
    assert {row.external_user_key: row.status for row in rows(program).values()} == {keys[0]: "enrolled"}

    monkeypatch.setattr(writing, "_apply_course_staff", fail)
    with pytest.raises(RuntimeError):
        write_course(program, math_run.course_key, (keys[0], "active", True))
    assert not ProgramCourseEnrollment.objects.exists()
    assert enrollments_api.get_enrollment(linked_students[keys[0]], math_run.course_key) is None


def test_a_concurrent_duplicate_insert_is_a_conflict(program, monkeypatch):
    from django.db import IntegrityError

    from rollbook.core.errors import Conflict
    from rollbook.programs import writing

    def clash(*args, **kwargs):
        raise IntegrityError("unique_program_enrollment_per_key")

    monkeypatch.setattr(writing, "insert_with_history", clash)
    with pytest.raises(Conflict):
        write(program, ("K1", "enrolled"))


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_racing_writes_of_the_same_new_keys_make_one_row_each(program_orgs, program_runs, sso_provider, monkeypatch):
    import threading

    from django.db import connection, connections

    from rollbook.core.errors import Conflict
    from rollbook.programs import writing

    if connection.vendor != "postgresql":
        pytest.skip("needs real concurrent transactions")
    program = api.create_program("Race", organizations=["ProgU"])
    api.create_curriculum(program, catalog_course_keys=["catalog-course:ProgU:Math"])
    both_classified = threading.Barrier(2, timeout=10)
    original = writing._linked_user_ids

    def classify_then_wait(*args, **kwargs):
        found = original(*args, **kwargs)
        both_classified.wait()  # both calls have seen "no enrollment yet" before either inserts
        return found

    monkeypatch.setattr(writing, "_linked_user_ids", classify_then_wait)
    outcomes, errors = [], []

    def enroll():
        try:
            outcomes.append(write(program, *[(f"RACE-{n}", "enrolled") for n in range(50)]))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=enroll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(outcomes) == 1 and set(outcomes[0].values()) == {"enrolled"}
    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    assert ProgramEnrollment.objects.filter(program=program).count() == 50
