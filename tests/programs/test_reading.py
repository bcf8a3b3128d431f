"""fetch_program_enrollments / fetch_program_course_enrollments / by student: the upstream filters."""

from __future__ import annotations

import uuid

import pytest

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.programs import api


@pytest.fixture
def roster(program, curriculum, linked_students, unlinked_keys, enroll_students, enroll_in_course, math_run):
    """Linked STU-L1..3 enrolled, unlinked STU-U1 pending, STU-U2 canceled, STU-U3 enrolled; course rows for some."""
    enroll_students(program, list(linked_students))
    enroll_students(program, [unlinked_keys[0]], status="pending")
    enroll_students(program, [unlinked_keys[1]], status="canceled")
    enroll_students(program, [unlinked_keys[2]])
    enroll_in_course(program, math_run.course_key, ["STU-L1", unlinked_keys[0]])
    enroll_in_course(program, math_run.course_key, ["STU-L2", unlinked_keys[1]], status="inactive")
    return program


def keys(queryset) -> list[str]:
    return [row.external_user_key for row in queryset]


def course_keys(queryset) -> list[str]:
    return [row.program_enrollment.external_user_key for row in queryset]


def test_all_enrollments_in_id_order(roster):
    assert keys(api.fetch_program_enrollments(roster)) == [
        "STU-L1",
        "STU-L2",
        "STU-L3",
        "STU-U1",
        "STU-U2",
        "STU-U3",
    ]


def test_filters_by_keys_ignoring_case(roster):
    assert keys(api.fetch_program_enrollments(roster, external_user_keys=["stu-l2", " STU-u3 ", "nobody"])) == [
        "STU-L2",
        "STU-U3",
    ]


def test_filters_by_status_users_and_linking(roster, linked_students):
    assert keys(api.fetch_program_enrollments(roster, statuses=["pending", "canceled"])) == ["STU-U1", "STU-U2"]
    assert keys(api.fetch_program_enrollments(roster, users=[linked_students["STU-L3"]])) == ["STU-L3"]
    assert keys(api.fetch_program_enrollments(roster, users=[linked_students["STU-L1"].pk])) == ["STU-L1"]
    assert keys(api.fetch_program_enrollments(roster, realized_only=True)) == ["STU-L1", "STU-L2", "STU-L3"]
    assert keys(api.fetch_program_enrollments(roster, waiting_only=True, statuses=["enrolled"])) == ["STU-U3"]


def test_filters_by_curriculum(roster, curriculum, enroll_students):
    second = api.create_curriculum(roster, name="2031", catalog_course_keys=["catalog-course:ProgU:Math"])
    enroll_students(roster, ["NEW-1"], curriculum_uuid=str(second.uuid))

    assert keys(api.fetch_program_enrollments(roster, curriculum_uuids=[str(second.uuid)])) == ["NEW-1"]
    assert len(api.fetch_program_enrollments(roster, curriculum_uuids=[curriculum.uuid])) == 6
    assert keys(api.fetch_program_enrollments(roster, curriculum_uuids=[])) == []


def test_only_the_programs_own_enrollments(roster, other_program, enroll_students):
    enroll_students(other_program, ["STU-L1", "ELSEWHERE"])

    assert "ELSEWHERE" not in keys(api.fetch_program_enrollments(roster))
    assert keys(api.fetch_program_enrollments(other_program)) == ["STU-L1", "ELSEWHERE"]


def test_bad_filters_raise(roster):
    with pytest.raises(InvalidInput):
        api.fetch_program_enrollments(roster, realized_only=True, waiting_only=True)
    with pytest.raises(InvalidInput) as raised:
        api.fetch_program_enrollments(roster, statuses=["withdrawn"])
    assert "statuses" in raised.value.errors
    with pytest.raises(InvalidInput) as raised:
        api.fetch_program_enrollments(roster, curriculum_uuids=["not-a-uuid"])
    assert "curriculum_uuids" in raised.value.errors
    with pytest.raises(NotFound):
        api.fetch_program_enrollments(str(uuid.uuid4()))


def test_reads_are_one_query(roster, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = list(api.fetch_program_enrollments(roster, external_user_keys=["stu-l1"]))
        assert rows[0].user.username and rows[0].curriculum.uuid and rows[0].program.uuid


def test_course_enrollments_with_filters(roster, math_run, linked_students):
    key = str(math_run.course_key)
    assert course_keys(api.fetch_program_course_enrollments(roster, key)) == ["STU-L1", "STU-U1", "STU-L2", "STU-U2"]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, active_only=True)) == ["STU-L1", "STU-U1"]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, inactive_only=True)) == ["STU-L2", "STU-U2"]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, statuses=["inactive"])) == [
        "STU-L2",
        "STU-U2",
    ]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, realized_only=True)) == ["STU-L1", "STU-L2"]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, waiting_only=True, active_only=True)) == [
        "STU-U1"
    ]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, external_user_keys=["stu-u2"])) == ["STU-U2"]
    assert course_keys(api.fetch_program_course_enrollments(roster, key, users=[linked_students["STU-L2"]])) == [
        "STU-L2"
    ]


def test_course_enrollments_of_other_runs_and_programs_are_not_included(
    roster, other_program, math_run, stats_run, enroll_students, enroll_in_course
):
    enroll_in_course(roster, stats_run.course_key, ["STU-L3"])
    enroll_students(other_program, ["OTHER"])
    enroll_in_course(other_program, math_run.course_key, ["OTHER"])

    assert "STU-L3" not in course_keys(api.fetch_program_course_enrollments(roster, str(math_run.course_key)))
    assert "OTHER" not in course_keys(api.fetch_program_course_enrollments(roster, str(math_run.course_key)))
    assert course_keys(api.fetch_program_course_enrollments(roster, str(stats_run.course_key))) == ["STU-L3"]


def test_course_reads_check_the_run_and_flags(roster, outside_run, math_run):
    with pytest.raises(InvalidInput):
        api.fetch_program_course_enrollments(roster, "garbage")
    with pytest.raises(NotFound):
        api.fetch_program_course_enrollments(roster, str(outside_run.course_key))
    with pytest.raises(InvalidInput):
        api.fetch_program_course_enrollments(roster, str(math_run.course_key), active_only=True, inactive_only=True)
    with pytest.raises(InvalidInput):
        api.fetch_program_course_enrollments(roster, str(math_run.course_key), realized_only=True, waiting_only=True)
    with pytest.raises(InvalidInput):
        api.fetch_program_course_enrollments(roster, str(math_run.course_key), statuses=["enrolled"])


def test_course_rows_come_with_their_relations_in_one_query(roster, math_run, django_assert_num_queries):
    queryset = api.fetch_program_course_enrollments(roster, str(math_run.course_key), realized_only=True)
    with django_assert_num_queries(1):
        rows = list(queryset)
        # STU-L1 is active (realised in masters); STU-L2 was inactive from the start, so never enrolled.
        assert [row.course_enrollment and row.course_enrollment.mode for row in rows] == ["masters", None]
        assert all(row.program_enrollment.user.username and row.course_run.course_key for row in rows)


def test_by_student_across_programs(roster, other_program, enroll_students, linked_students):
    enroll_students(other_program, ["stu-l1"])

    assert len(api.fetch_program_enrollments_by_student(external_user_key="Stu-L1")) == 2
    assert [
        row.program_id
        for row in api.fetch_program_enrollments_by_student(
            external_user_key="STU-L1", program_uuids=[str(other_program.uuid)]
        )
    ] == [other_program.pk]
    enroll_students(other_program, ["stu-u1"])
    assert len(api.fetch_program_enrollments_by_student(user=linked_students["STU-L1"])) == 2
    assert len(api.fetch_program_enrollments_by_student(user=linked_students["STU-L1"].pk, statuses=["pending"])) == 0
    assert len(api.fetch_program_enrollments_by_student(external_user_key="STU-L1", waiting_only=True)) == 0
    assert len(api.fetch_program_enrollments_by_student(external_user_key="STU-U1", waiting_only=True)) == 2
    assert len(api.fetch_program_enrollments_by_student(external_user_key="STU-U1", realized_only=True)) == 0
    with pytest.raises(InvalidInput):
        api.fetch_program_enrollments_by_student()
    with pytest.raises(InvalidInput):
        api.fetch_program_enrollments_by_student(external_user_key="x", program_uuids=["bad"])
