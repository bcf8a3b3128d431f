"""The program-enrollments REST API (``/api/program_enrollments/v1/``): shapes, codes, filters, rosters,
bad input and who may do what."""

from __future__ import annotations

import csv
import io
import json

import pytest

from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.programs import api
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment
from tests.programs.conftest import ART_KEY, MATH_KEY, STATS_KEY

BASE = "/api/program_enrollments/v1"


def enrollments_url(program, query: str = "") -> str:
    return f"{BASE}/programs/{program.uuid}/enrollments/" + (f"?{query}" if query else "")


def course_url(program, course_key: str, query: str = "") -> str:
    return f"{BASE}/programs/{program.uuid}/courses/{course_key}/enrollments/" + (f"?{query}" if query else "")


def items(*pairs, **extra) -> list[dict]:
    return [{"student_key": key, "status": status, **extra} for key, status in pairs]


def stored(program) -> dict[str, str]:
    return dict(ProgramEnrollment.objects.filter(program=program).values_list("external_user_key", "status"))


def course_stored(program, course_key: str) -> dict[str, str]:
    return dict(
        ProgramCourseEnrollment.objects.filter(
            program_enrollment__program=program, course_run__course_key=course_key
        ).values_list("program_enrollment__external_user_key", "status")
    )


@pytest.fixture
def program_admin(make_user, program):
    user = make_user("program-admin")
    core_api.grant(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(program.uuid)))
    return user


@pytest.fixture
def admin_api(program_admin, client_for):
    return client_for(program_admin)


@pytest.fixture
def partner_admin_api(make_user, client_for, program):
    """A program administrator of PartnerU, the program's SECOND authoring organization."""
    user = make_user("partner-admin")
    core_api.grant(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "partneru"))
    return client_for(user)


@pytest.fixture
def other_admin_api(make_user, client_for, other_program):
    """A program administrator of ``other_program`` only."""
    user = make_user("other-admin")
    core_api.grant(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(other_program.uuid)))
    return client_for(user)


# --- writing program enrollments ----------------------------------------------------------------


def test_post_creates_enrollments_keeping_keys_as_given(admin_api, program, unlinked_keys):
    response = admin_api.post(
        enrollments_url(program), items(("Stu-A", "enrolled"), ("stu-b", "pending")), format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"Stu-A": "enrolled", "stu-b": "pending"}
    assert stored(program) == {"Stu-A": "enrolled", "stu-b": "pending"}


def test_mixed_results_are_207_and_only_good_records_are_written(admin_api, program):
    body = items(("K1", "enrolled"), ("K2", "graduated"), ("k3", "suspended"), ("K3", "ended"))
    response = admin_api.post(enrollments_url(program), body, format="json")
    assert response.status_code == 207
    assert response.json() == {"K1": "enrolled", "K2": "invalid-status", "k3": "duplicated", "K3": "duplicated"}
    assert stored(program) == {"K1": "enrolled"}


def test_no_good_record_is_422(admin_api, program):
    response = admin_api.post(enrollments_url(program), items(("K1", "bogus"), ("K2", "ENROLLED")), format="json")
    assert response.status_code == 422
    assert response.json() == {"K1": "invalid-status", "K2": "invalid-status"}
    assert stored(program) == {}


def test_post_reports_existing_as_conflict_patch_missing_as_not_in_program_put_does_both(
    admin_api, program, enroll_students
):
    enroll_students(program, ["OLD"], status="pending")
    post = admin_api.post(enrollments_url(program), items(("old", "enrolled"), ("NEW", "enrolled")), format="json")
    assert post.status_code == 207
    assert post.json() == {"old": "conflict", "NEW": "enrolled"}
    patch = admin_api.patch(enrollments_url(program), items(("old", "suspended"), ("GHOST", "enrolled")), format="json")
    assert patch.status_code == 207
    assert patch.json() == {"old": "suspended", "GHOST": "not-in-program"}
    put = admin_api.put(enrollments_url(program), items(("OLD", "ended"), ("Ghost", "pending")), format="json")
    assert put.status_code == 200
    assert put.json() == {"OLD": "ended", "Ghost": "pending"}
    assert stored(program) == {"OLD": "ended", "NEW": "enrolled", "Ghost": "pending"}


def test_an_empty_list_is_204(admin_api, program):
    response = admin_api.put(enrollments_url(program), [], format="json")
    assert response.status_code == 204
    assert stored(program) == {}


def test_more_records_than_the_maximum_is_413_and_nothing_is_written(admin_api, program, settings):
    settings.PROGRAM_WRITE_MAX_RECORDS = 3
    body = items(*[(f"K{n}", "enrolled") for n in range(4)])
    response = admin_api.put(enrollments_url(program), body, format="json")
    assert response.status_code == 413
    assert "3" in response.json()["detail"] and "4" in response.json()["detail"]
    assert stored(program) == {}
    assert admin_api.put(enrollments_url(program), body[:3], format="json").status_code == 200


def test_the_default_maximum_is_not_the_upstream_25(admin_api, program):
    body = items(*[(f"K{n}", "enrolled") for n in range(60)])
    response = admin_api.post(enrollments_url(program), body, format="json")
    assert response.status_code == 200
    assert len(stored(program)) == 60


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ('[{"student_key": "K1", "status": "enrolled"', "application/json", "detail"),
        ('{"student_key": "K1", "status": "enrolled"}', "application/json", "non_field_errors"),
        ('"K1"', "application/json", "non_field_errors"),
        ("null", "application/json", "non_field_errors"),
        ('[{"student_key": "K1", "status": "enrolled"}, "K2"]', "application/json", "1"),
        ('[{"student_key": "K1", "status": "enrolled"}, {"status": "enrolled"}]', "application/json", "1"),
        ('[{"student_key": "K1"}]', "application/json", "0"),
        ('[{"student_key": 12, "status": "enrolled"}]', "application/json", "0"),
        ('[{"student_key": "K1", "status": ["enrolled"]}]', "application/json", "0"),
        ('[{"student_key": "  ", "status": "enrolled"}]', "application/json", "0"),
        ('[{"student_key": "K1", "status": "enrolled", "curriculum_uuid": "nope"}]', "application/json", "0"),
        ('[{"student_key": "K1", "status": "enrolled", "curriculum_uuid": 7}]', "application/json", "0"),
    ],
)
def test_malformed_bodies_are_400_with_field_errors_and_nothing_is_written(
    admin_api, program, body, content_type, field
):
    response = admin_api.generic("PUT", enrollments_url(program), body, content_type=content_type)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert stored(program) == {}


def test_item_errors_name_the_field(admin_api, program):
    body = [{"student_key": "K1", "status": "enrolled"}, {"student_key": "K2", "curriculum_uuid": "x"}]
    response = admin_api.put(enrollments_url(program), body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"1"}
    assert set(response.json()["1"]) == {"status", "curriculum_uuid"}


def test_a_named_curriculum_is_used_and_a_foreign_one_is_refused_per_key(admin_api, program, other_program, curriculum):
    foreign = other_program.curricula.get()
    body = [
        {"student_key": "K1", "status": "enrolled", "curriculum_uuid": str(curriculum.uuid)},
        {"student_key": "K2", "status": "enrolled", "curriculum_uuid": str(foreign.uuid)},
    ]
    response = admin_api.post(enrollments_url(program), body, format="json")
    assert response.status_code == 207
    assert response.json() == {"K1": "enrolled", "K2": "illegal-operation"}


def test_keys_match_ignoring_case(admin_api, program, enroll_students):
    enroll_students(program, ["STU-X1"], status="pending")
    response = admin_api.patch(enrollments_url(program), items(("stu-x1", "enrolled")), format="json")
    assert response.status_code == 200
    assert stored(program) == {"STU-X1": "enrolled"}
    listed = admin_api.get(enrollments_url(program, "student_key=Stu-X1"))
    assert [row["student_key"] for row in listed.json()["results"]] == ["STU-X1"]


def test_unknown_program_is_404_and_malformed_uuid_is_400(operator_api):
    unknown = "11111111-2222-3333-4444-555555555555"
    assert operator_api.get(f"{BASE}/programs/{unknown}/enrollments/").status_code == 404
    assert operator_api.put(f"{BASE}/programs/{unknown}/enrollments/", [], format="json").status_code == 404
    response = operator_api.get(f"{BASE}/programs/not-a-uuid/enrollments/")
    assert response.status_code == 400
    assert "program_uuid" in response.json()


def test_dry_run_tells_what_would_happen_and_writes_nothing(admin_api, program, enroll_students):
    enroll_students(program, ["SAME", "CHANGE"], status="pending")
    before = stored(program)
    body = items(("same", "pending"), ("change", "enrolled"), ("NEW", "enrolled"), ("BAD", "nope"))
    response = admin_api.put(enrollments_url(program, "dry_run=true"), body, format="json")
    assert response.status_code == 207
    data = response.json()
    assert data["dry_run"] is True
    assert data["results"] == {"same": "pending", "change": "enrolled", "NEW": "enrolled", "BAD": "invalid-status"}
    assert data["created"] == ["NEW"]
    assert data["updated"] == ["change"]
    assert data["unchanged"] == ["same"]
    assert data["refused"] == ["BAD"]
    assert data["summary"] == {"created": 1, "updated": 1, "unchanged": 1, "refused": 1}
    assert stored(program) == before


def test_a_bad_dry_run_flag_is_400(admin_api, program):
    response = admin_api.put(enrollments_url(program, "dry_run=perhaps"), items(("K", "enrolled")), format="json")
    assert response.status_code == 400
    assert "dry_run" in response.json()
    assert stored(program) == {}


# --- reading program enrollments ----------------------------------------------------------------


def test_list_rows_have_the_upstream_fields(admin_api, program, curriculum, linked_students, enroll_students):
    linked_key, user = next(iter(linked_students.items()))
    enroll_students(program, [linked_key, "WAITING-1"], status="enrolled")
    response = admin_api.get(enrollments_url(program))
    assert response.status_code == 200
    assert response.json()["previous"] is None
    assert response.json()["results"] == [
        {
            "student_key": linked_key,
            "status": "enrolled",
            "account_exists": True,
            "curriculum_uuid": str(curriculum.uuid),
            "username": user.username,
            "email": user.email,
        },
        {
            "student_key": "WAITING-1",
            "status": "enrolled",
            "account_exists": False,
            "curriculum_uuid": str(curriculum.uuid),
            "username": "",
            "email": "",
        },
    ]


def test_list_is_cursor_paged_in_id_order(admin_api, program, enroll_students):
    keys = [f"K{n:02}" for n in range(7)]
    enroll_students(program, keys)
    seen, url = [], enrollments_url(program, "page_size=3")
    while url:
        page = admin_api.get(url).json()
        seen.extend(row["student_key"] for row in page["results"])
        url = page["next"]
    assert seen == keys


def test_list_filters(admin_api, program, linked_students, enroll_students):
    linked = list(linked_students)
    enroll_students(program, [linked[0], "W1"], status="enrolled")
    enroll_students(program, [linked[1], "W2"], status="suspended")

    def keys(query: str) -> set[str]:
        response = admin_api.get(enrollments_url(program, query))
        assert response.status_code == 200, response.content
        return {row["student_key"] for row in response.json()["results"]}

    assert keys("statuses=suspended") == {linked[1], "W2"}
    assert keys("statuses=suspended,enrolled") == {linked[0], linked[1], "W1", "W2"}
    assert keys("realized_only=true") == {linked[0], linked[1]}
    assert keys("waiting_only=true&statuses=enrolled") == {"W1"}
    assert keys(f"curriculum_uuids={program.curricula.get().uuid}") == {linked[0], linked[1], "W1", "W2"}
    assert keys("curriculum_uuids=00000000-0000-0000-0000-000000000000") == set()


@pytest.mark.parametrize(
    "query", ["realized_only=true&waiting_only=true", "statuses=graduated", "curriculum_uuids=zzz", "page_size=0"]
)
def test_bad_list_filters_are_400(admin_api, program, query):
    assert admin_api.get(enrollments_url(program, query)).status_code == 400


def test_list_query_count_does_not_grow_with_rows(admin_api, program, enroll_students, django_assert_max_num_queries):
    enroll_students(program, [f"A{n}" for n in range(3)])
    with django_assert_max_num_queries(8) as small:
        assert len(admin_api.get(enrollments_url(program)).json()["results"]) == 3
    enroll_students(program, [f"B{n}" for n in range(30)])
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(admin_api.get(enrollments_url(program)).json()["results"]) == 33


# --- program-course enrollments -----------------------------------------------------------------


def test_course_writes_and_codes(admin_api, program, enroll_students):
    enroll_students(program, ["S1", "S2", "S3"])
    response = admin_api.post(course_url(program, MATH_KEY), items(("s1", "active"), ("S2", "inactive")), format="json")
    assert response.status_code == 200
    assert response.json() == {"s1": "active", "S2": "inactive"}
    mixed = admin_api.put(
        course_url(program, MATH_KEY), items(("S1", "inactive"), ("NOBODY", "active"), ("S3", "on")), format="json"
    )
    assert mixed.status_code == 207
    assert mixed.json() == {"S1": "inactive", "NOBODY": "not-in-program", "S3": "invalid-status"}
    none = admin_api.patch(course_url(program, MATH_KEY), items(("S3", "active")), format="json")
    assert none.status_code == 422
    assert none.json() == {"S3": "not-found"}
    conflict = admin_api.post(course_url(program, MATH_KEY), items(("S1", "active")), format="json")
    assert conflict.json() == {"S1": "conflict"}
    assert course_stored(program, MATH_KEY) == {"S1": "inactive", "S2": "inactive"}


def test_a_course_not_in_the_program_or_unknown_is_404_and_a_malformed_key_400(admin_api, program, outside_run):
    body = items(("S1", "active"))
    assert admin_api.put(course_url(program, ART_KEY), body, format="json").status_code == 404
    assert admin_api.get(course_url(program, ART_KEY)).status_code == 404
    assert admin_api.put(course_url(program, "course-v1:ProgU+Math+1999"), body, format="json").status_code == 404
    response = admin_api.put(course_url(program, "not-a-course-key"), body, format="json")
    assert response.status_code == 400
    assert "course_key" in response.json()


def test_course_items_check_course_staff_type(admin_api, program, enroll_students):
    enroll_students(program, ["S1"])
    response = admin_api.put(
        course_url(program, MATH_KEY), [{"student_key": "S1", "status": "active", "course_staff": "yes"}], format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"0": {"course_staff": ["Must be true, false or null."]}}
    assert course_stored(program, MATH_KEY) == {}


def test_course_list_shows_course_staff_for_linked_and_waiting_students(
    admin_api, program, curriculum, linked_students, enroll_students, enroll_in_course
):
    linked = list(linked_students)
    enroll_students(program, [linked[0], linked[1], "W1", "W2"])
    enroll_in_course(program, STATS_KEY, [linked[0], "W1"], course_staff=True)
    enroll_in_course(program, STATS_KEY, [linked[1], "W2"], status="inactive")
    response = admin_api.get(course_url(program, STATS_KEY))
    assert response.status_code == 200
    rows = {row["student_key"]: row for row in response.json()["results"]}
    assert rows[linked[0]] == {
        "student_key": linked[0],
        "status": "active",
        "account_exists": True,
        "curriculum_uuid": str(curriculum.uuid),
        "course_staff": True,
    }
    assert rows["W1"]["course_staff"] is True and rows["W1"]["account_exists"] is False
    assert rows[linked[1]]["course_staff"] is False and rows[linked[1]]["status"] == "inactive"
    assert rows["W2"]["course_staff"] is False
    assert CourseStaffAssignment.objects.count() == 1  # W1's, waiting for the link
    active = admin_api.get(course_url(program, STATS_KEY, "active_only=true")).json()["results"]
    assert {row["student_key"] for row in active} == {linked[0], "W1"}
    waiting = admin_api.get(course_url(program, STATS_KEY, "waiting_only=true&statuses=inactive")).json()["results"]
    assert [row["student_key"] for row in waiting] == ["W2"]
    assert admin_api.get(course_url(program, STATS_KEY, "active_only=1&inactive_only=1")).status_code == 400


def test_course_list_query_count_does_not_grow_with_rows(
    admin_api, program, link_student, enroll_students, enroll_in_course, django_assert_max_num_queries
):
    def add(prefix: str, count: int) -> None:
        keys = [f"{prefix}{n}" for n in range(count)]
        for key in keys[: count // 2]:
            link_student(key)
        enroll_students(program, keys)
        enroll_in_course(program, MATH_KEY, keys, course_staff=True)

    add("A", 2)
    with django_assert_max_num_queries(12) as small:
        assert len(admin_api.get(course_url(program, MATH_KEY)).json()["results"]) == 2
    add("B", 20)
    with django_assert_max_num_queries(len(small.captured_queries)):
        rows = admin_api.get(course_url(program, MATH_KEY)).json()["results"]
    assert len(rows) == 22
    assert all(row["course_staff"] for row in rows)


# --- rosters ------------------------------------------------------------------------------------


def _content(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def test_program_roster_as_csv_and_json(admin_api, program, linked_students, enroll_students):
    linked_key, user = next(iter(linked_students.items()))
    enroll_students(program, [linked_key, "W,1"], status="pending")
    response = admin_api.get(f"{BASE}/programs/{program.uuid}/enrollments/roster/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_content(response))))
    assert [row["student_key"] for row in rows] == [linked_key, "W,1"]
    assert rows[0]["username"] == user.username and rows[0]["account_exists"] == "true"
    assert rows[1]["email"] == "" and rows[1]["account_exists"] == "false"
    as_json = admin_api.get(f"{BASE}/programs/{program.uuid}/enrollments/roster/?format=json")
    assert as_json.status_code == 200
    assert as_json["Content-Type"] == "application/json"
    data = json.loads(_content(as_json))
    assert data == admin_api.get(enrollments_url(program)).json()["results"]


def test_roster_streams_in_batches(admin_api, program, enroll_students, settings, django_assert_max_num_queries):
    settings.BULK_BATCH_SIZE = 10
    enroll_students(program, [f"K{n:03}" for n in range(95)])
    with django_assert_max_num_queries(8 + 10):  # setup, then one query per 10 rows
        response = admin_api.get(f"{BASE}/programs/{program.uuid}/enrollments/roster/?fmt=json")
        rows = json.loads(_content(response))
    assert [row["student_key"] for row in rows] == [f"K{n:03}" for n in range(95)]


def test_course_roster_and_filters(admin_api, program, enroll_students, enroll_in_course):
    enroll_students(program, ["S1", "S2"])
    enroll_in_course(program, MATH_KEY, ["S1"], course_staff=True)
    enroll_in_course(program, MATH_KEY, ["S2"], status="inactive")
    response = admin_api.get(f"{BASE}/programs/{program.uuid}/courses/{MATH_KEY}/enrollments/roster/?statuses=active")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(_content(response))))
    assert rows == [
        {
            "student_key": "S1",
            "status": "active",
            "account_exists": "false",
            "curriculum_uuid": str(program.curricula.get().uuid),
            "course_staff": "true",
        }
    ]


def test_roster_format_must_be_csv_or_json(admin_api, program):
    response = admin_api.get(f"{BASE}/programs/{program.uuid}/enrollments/roster/?format=xml")
    assert response.status_code == 400
    assert "format" in response.json()


# --- permissions --------------------------------------------------------------------------------


def test_program_admins_of_the_program_or_of_any_authoring_organization_may_read_and_write(
    admin_api, partner_admin_api, program
):
    for client, key in ((admin_api, "BY-PROGRAM"), (partner_admin_api, "BY-ORG")):
        assert client.put(enrollments_url(program), items((key, "enrolled")), format="json").status_code == 200
        assert client.get(enrollments_url(program)).status_code == 200
    assert stored(program) == {"BY-PROGRAM": "enrolled", "BY-ORG": "enrolled"}


def test_another_programs_data_is_neither_readable_nor_writable(
    other_admin_api, program, other_program, enroll_students, enroll_in_course
):
    enroll_students(program, ["SECRET"])
    enroll_in_course(program, MATH_KEY, ["SECRET"])
    urls = [
        enrollments_url(program),
        course_url(program, MATH_KEY),
        f"{BASE}/programs/{program.uuid}/enrollments/roster/",
        f"{BASE}/programs/{program.uuid}/courses/{MATH_KEY}/enrollments/roster/",
    ]
    for url in urls:
        response = other_admin_api.get(url)
        assert response.status_code == 403, url
        assert b"SECRET" not in response.content
    for method in ("post", "patch", "put"):
        body = items(("SECRET", "canceled"), ("INTRUDER", "enrolled"))
        assert getattr(other_admin_api, method)(enrollments_url(program), body, format="json").status_code == 403
        course_body = items(("SECRET", "inactive"))
        assert (
            getattr(other_admin_api, method)(course_url(program, MATH_KEY), course_body, format="json").status_code
            == 403
        )
    assert stored(program) == {"SECRET": "enrolled"}
    assert course_stored(program, MATH_KEY) == {"SECRET": "active"}
    # ... while their own program works
    assert other_admin_api.get(enrollments_url(other_program)).status_code == 200


def test_an_organization_admin_of_an_unrelated_organization_is_refused(make_user, client_for, program, sso_provider):
    from rollbook.catalog import api as catalog_api

    catalog_api.create_organization("ElseU", name="Else University")
    user = make_user("else-admin")
    core_api.grant(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "ElseU"))
    assert client_for(user).get(enrollments_url(program)).status_code == 403


def test_learners_get_403_and_anonymous_callers_401(learner_api, anon, program):
    for client, code in ((learner_api, 403), (anon, 401)):
        assert client.get(enrollments_url(program)).status_code == code
        assert client.put(enrollments_url(program), items(("K", "enrolled")), format="json").status_code == code
        assert client.get(course_url(program, MATH_KEY)).status_code == code
    assert stored(program) == {}


def test_operators_may_do_everything(operator_api, program):
    assert operator_api.put(enrollments_url(program), items(("K", "enrolled")), format="json").status_code == 200
    assert operator_api.put(course_url(program, MATH_KEY), items(("K", "active")), format="json").status_code == 200
    assert course_stored(program, MATH_KEY) == {"K": "active"}


def test_writes_go_through_the_api_with_history(admin_api, program):
    admin_api.put(enrollments_url(program), items(("H1", "pending")), format="json")
    admin_api.patch(enrollments_url(program), items(("H1", "enrolled")), format="json")
    enrollment = api.fetch_program_enrollments(program, external_user_keys=["h1"]).get()
    assert list(enrollment.history.order_by("history_id").values_list("status", flat=True)) == ["pending", "enrolled"]
