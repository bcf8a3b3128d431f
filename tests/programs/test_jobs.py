"""Upload jobs: CSV checks (400/413, nothing written), the job flow (eager Celery), progress, result CSV,
dry runs, one running write job per program (409), and who sees a job."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.core.errors import Conflict, InvalidInput
from rollbook.programs import jobs
from rollbook.programs.models import EnrollmentJob, ProgramCourseEnrollment, ProgramEnrollment
from tests.programs.conftest import ART_KEY, MATH_KEY, STATS_KEY

BASE = "/api/program_enrollments/v1"


def upload_url(program, course: bool = False, query: str = "") -> str:
    kind = "course_enrollments" if course else "enrollments"
    return f"{BASE}/programs/{program.uuid}/{kind}/upload/" + (f"?{query}" if query else "")


def stored(program) -> dict[str, str]:
    return dict(ProgramEnrollment.objects.filter(program=program).values_list("external_user_key", "status"))


def course_stored(program) -> dict[tuple[str, str], str]:
    rows = ProgramCourseEnrollment.objects.filter(program_enrollment__program=program).values_list(
        "program_enrollment__external_user_key", "course_run__course_key", "status"
    )
    return {(key, str(course)): status for key, course, status in rows}


def result_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def program_admin(make_user, program):
    user = make_user("job-admin")
    core_api.grant(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(program.uuid)))
    return user


@pytest.fixture
def admin_api(program_admin, client_for):
    return client_for(program_admin)


@pytest.fixture
def upload(admin_api, django_capture_on_commit_callbacks):
    """POST a CSV (multipart) and run the queued task as the commit would; return the response."""

    def _upload(program, text: str | bytes, *, course: bool = False, query: str = "", client=None):
        data = text.encode("utf-8") if isinstance(text, str) else text
        with django_capture_on_commit_callbacks(execute=True):
            return (client or admin_api).post(
                upload_url(program, course, query),
                {"file": SimpleUploadedFile("students.csv", data, content_type="text/csv")},
                format="multipart",
            )

    return _upload


def follow(client, response) -> dict:
    assert response.status_code == 202, response.content
    job = client.get(response.json()["job_url"])
    assert job.status_code == 200
    return job.json()


# --- the flow -----------------------------------------------------------------------------------


def test_a_program_upload_writes_rows_and_reports_each_in_file_order(admin_api, upload, program, enroll_students):
    enroll_students(program, ["OLD-1"], status="pending")
    text = (
        "student_key,status\n"
        "NEW-1,enrolled\n"
        "old-1,enrolled\n"
        "dup,enrolled\n"
        "NEW-2,graduated\n"
        "DUP,pending\n"
        "NEW-3,pending\n"
    )
    response = upload(program, text)
    assert set(response.json()) == {"job_id", "job_url", "state"}
    job = follow(admin_api, response)
    assert job["state"] == "succeeded"
    assert job["kind"] == "program_enrollments"
    assert job["program_uuid"] == str(program.uuid)
    assert job["progress"] == {"done": 6, "total": 6}
    assert job["file_name"] == "students.csv"
    assert job["summary"] == {
        "total": 6,
        "code": 207,
        "statuses": {"duplicated": 2, "enrolled": 2, "invalid-status": 1, "pending": 1},
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "refused": 3,
        "dry_run": False,
    }
    assert stored(program) == {"OLD-1": "enrolled", "NEW-1": "enrolled", "NEW-3": "pending"}
    result = admin_api.get(job["result_url"])
    assert result.status_code == 200
    assert result["Content-Type"].startswith("text/csv")
    assert result_rows(result.content.decode()) == [
        {"student_key": "NEW-1", "status": "enrolled"},
        {"student_key": "old-1", "status": "enrolled"},
        {"student_key": "dup", "status": "duplicated"},
        {"student_key": "NEW-2", "status": "invalid-status"},
        {"student_key": "DUP", "status": "duplicated"},
        {"student_key": "NEW-3", "status": "pending"},
    ]


def test_repeated_keys_are_duplicated_even_in_different_chunks(admin_api, upload, program, settings):
    settings.BULK_BATCH_SIZE = 1  # chunks of 10 rows
    keys = [f"K{n:02}" for n in range(25)]
    text = "student_key,status\n" + "".join(f"{key},enrolled\n" for key in keys) + "k03,pending\n"
    job = follow(admin_api, upload(program, text))
    statuses = {row["student_key"]: row["status"] for row in result_rows(admin_api.get(job["result_url"]).text)}
    assert statuses.pop("K03") == "duplicated" and statuses.pop("k03") == "duplicated"
    assert set(statuses.values()) == {"enrolled"}
    assert len(stored(program)) == 24


def test_headers_are_trimmed_and_any_case_and_extra_columns_ignored(admin_api, upload, program):
    text = " Student_Key , STATUS ,name\nA1, enrolled ,Ann\n"
    job = follow(admin_api, upload(program, text))
    assert job["state"] == "succeeded"
    assert stored(program) == {"A1": "enrolled"}


def test_a_text_csv_body_is_accepted(admin_api, program, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.generic(
            "POST", upload_url(program), b"student_key,status\nT1,pending\n", content_type="text/csv"
        )
    assert follow(admin_api, response)["state"] == "succeeded"
    assert stored(program) == {"T1": "pending"}


def test_a_course_upload_groups_rows_by_course(admin_api, upload, program, enroll_students, outside_run):
    enroll_students(program, ["S1", "S2"])
    text = (
        "student_key,course_id,status,course_staff\n"
        f"S1,{MATH_KEY},active,\n"
        f"S1,{STATS_KEY},inactive,false\n"
        f"S2,{MATH_KEY},active,yes\n"
        f"s2,{MATH_KEY},inactive,\n"
        f"S2,{ART_KEY},active,\n"
        "S2,course-v1:ProgU+Nope+2030,active,\n"
        "S2,garbage,active,\n"
        f"NOBODY,{STATS_KEY},active,\n"
    )
    job = follow(admin_api, upload(program, text, course=True))
    assert job["state"] == "succeeded"
    assert job["kind"] == "course_enrollments"
    assert [row["status"] for row in result_rows(admin_api.get(job["result_url"]).text)] == [
        "active",
        "inactive",
        "duplicated",
        "duplicated",
        "course-not-found",
        "course-not-found",
        "course-not-found",
        "not-in-program",
    ]
    assert list(result_rows(admin_api.get(job["result_url"]).text)[0]) == ["student_key", "course_id", "status"]
    assert course_stored(program) == {("S1", MATH_KEY): "active", ("S1", STATS_KEY): "inactive"}
    assert job["summary"]["code"] == 207


def test_a_dry_run_upload_writes_nothing_and_tells_what_would_happen(admin_api, upload, program, enroll_students):
    enroll_students(program, ["SAME", "CHANGE"], status="pending")
    before = stored(program)
    text = "student_key,status\nsame,pending\nchange,ended\nNEW,enrolled\nBAD,x\n"
    job = follow(admin_api, upload(program, text, query="dry_run=true"))
    assert job["dry_run"] is True
    assert job["state"] == "succeeded"
    summary = job["summary"]
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["refused"]) == (1, 1, 1, 1)
    assert stored(program) == before
    assert [row["status"] for row in result_rows(admin_api.get(job["result_url"]).text)] == [
        "pending",
        "ended",
        "enrolled",
        "invalid-status",
    ]


def test_progress_is_reported_after_every_chunk(program, settings):
    settings.BULK_BATCH_SIZE = 1  # chunks of 10 rows
    text = "student_key,status\n" + "".join(f"P{n},enrolled\n" for n in range(25))
    job = jobs.start_enrollment_job(program, "program_enrollments", text, run_in_background=False)
    assert (job.state, job.done, job.total) == ("pending", 0, 25)
    seen = []

    def on_progress(done: int, total: int) -> None:
        seen.append((done, total, EnrollmentJob.objects.get(pk=job.pk).done))

    finished = jobs.run_enrollment_job(job.uuid, on_progress=on_progress)
    assert seen == [(10, 25, 10), (20, 25, 20), (25, 25, 25)]
    assert finished.state == "succeeded" and finished.started and finished.finished


def test_running_a_finished_job_again_changes_nothing(program, django_assert_max_num_queries):
    job = jobs.start_enrollment_job(
        program, "program_enrollments", "student_key,status\nA,enrolled\n", run_in_background=False
    )
    first = jobs.run_enrollment_job(job.uuid)
    with django_assert_max_num_queries(2):
        again = jobs.run_enrollment_job(job.uuid)
    assert again.state == first.state == "succeeded"
    assert again.result_csv == first.result_csv


def test_job_writes_are_set_based(program, settings, django_assert_max_num_queries):
    settings.BULK_BATCH_SIZE = 500  # one write batch, one chunk
    small = jobs.start_enrollment_job(
        program,
        "program_enrollments",
        "student_key,status\n" + "".join(f"S{n},enrolled\n" for n in range(5)),
        run_in_background=False,
    )
    with django_assert_max_num_queries(60) as few:
        jobs.run_enrollment_job(small.uuid)
    big = jobs.start_enrollment_job(
        program,
        "program_enrollments",
        "student_key,status\n" + "".join(f"B{n},enrolled\n" for n in range(400)),
        run_in_background=False,
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert jobs.run_enrollment_job(big.uuid).summary["created"] == 400


def test_a_failing_write_ends_the_job_failed_with_unreached_rows_internal_error(
    admin_api, upload, program, monkeypatch
):
    from rollbook.programs import api

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(api, "write_program_enrollments_report", broken)
    job = follow(admin_api, upload(program, "student_key,status\nA,enrolled\nB,enrolled\n"))
    assert job["state"] == "failed"
    assert "database went away" in job["error"]
    assert [row["status"] for row in result_rows(admin_api.get(job["result_url"]).text)] == ["internal-error"] * 2
    assert stored(program) == {}


def test_a_broker_failure_marks_the_job_failed_instead_of_a_500(admin_api, upload, program, monkeypatch):
    from rollbook.programs import tasks

    def unreachable(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.run_enrollment_job_task, "delay", unreachable)
    job = follow(admin_api, upload(program, "student_key,status\nA,enrolled\n"))
    assert job["state"] == "failed"
    assert "broker unreachable" in job["error"]


# --- bad files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"student_key,status\n", "no rows"),
        (b"student_key,status\nA,enrolled\n\xff\xfe,enrolled\n", "not UTF-8"),
        (b"student_key;status\nA;enrolled\n", "lacks the column"),
        (b"student_key,state\nA,enrolled\n", "status"),
        (b"student_key,status,status\nA,enrolled,pending\n", "more than once"),
        (b"student_key,status\nA,enrolled\nB\nC,enrolled,extra\n", "Line 3 has 1 cell"),
        (b"student_key,status\nA,enrolled\n,enrolled\n", "Line 3: student_key is empty"),
        (b"student_key,status\nA,\n", "status is empty"),
        (b'student_key,status\n"A,enrolled\n', "not valid CSV"),
        (b"student_key,status\nA\x00,enrolled\n", "NUL"),
        (b"student_key,status,curriculum_uuid\nA,enrolled,nope\n", "not a UUID"),
        ("student_key,status\n" + "x" * 256 + ",enrolled\n", "longer than 255"),
    ],
)
def test_a_bad_program_file_is_400_and_nothing_is_created(admin_api, upload, program, data, message):
    response = upload(program, data)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["file"])
    assert EnrollmentJob.objects.count() == 0
    assert stored(program) == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("student_key,status\nA,active\n", "course_id"),
        ("student_key,course_id,status\nA,,active\n", "course_id is empty"),
        (f"student_key,course_id,status,course_staff\nA,{MATH_KEY},active,maybe\n", "not true or false"),
    ],
)
def test_a_bad_course_file_is_400(admin_api, upload, program, data, message):
    response = upload(program, data, course=True)
    assert response.status_code == 400
    assert message in " ".join(response.json()["file"])
    assert EnrollmentJob.objects.count() == 0


def test_an_oversized_file_is_413(admin_api, upload, program, settings):
    settings.PROGRAM_UPLOAD_MAX_BYTES = 40
    text = "student_key,status\n" + "".join(f"K{n},enrolled\n" for n in range(5))
    response = upload(program, text)
    assert response.status_code == 413
    assert EnrollmentJob.objects.count() == 0
    as_body = admin_api.generic("POST", upload_url(program), text.encode(), content_type="text/csv")
    assert as_body.status_code == 413
    assert upload(program, "student_key,status\nK,enrolled\n").status_code == 202


def test_an_upload_without_a_file_is_400_and_json_is_415(admin_api, program):
    assert admin_api.post(upload_url(program), {"other": "x"}, format="multipart").status_code == 400
    assert admin_api.post(upload_url(program), [{"student_key": "A"}], format="json").status_code == 415


def test_bad_input_to_start_enrollment_job(program, outside_run):
    with pytest.raises(InvalidInput):
        jobs.start_enrollment_job(program, "grades", "student_key,status\nA,enrolled\n")
    with pytest.raises(InvalidInput):
        jobs.start_enrollment_job(
            program, "program_enrollments", "student_key,status\nA,enrolled\n", course_key=MATH_KEY
        )
    from rollbook.core.errors import NotFound

    with pytest.raises(NotFound):
        jobs.start_enrollment_job(program, "course_enrollments", "student_key,status\nA,active\n", course_key=ART_KEY)
    assert EnrollmentJob.objects.count() == 0


def test_a_course_key_given_to_the_job_fills_in_the_course(program, enroll_students):
    enroll_students(program, ["S1", "S2"])
    job = jobs.start_enrollment_job(
        program,
        "course_enrollments",
        "student_key,status\nS1,active\nS2,inactive\n",
        course_key=MATH_KEY,
        run_in_background=False,
    )
    jobs.run_enrollment_job(job.uuid)
    assert course_stored(program) == {("S1", MATH_KEY): "active", ("S2", MATH_KEY): "inactive"}
    with pytest.raises(InvalidInput, match="not the course of this upload"):
        jobs.start_enrollment_job(
            program, "course_enrollments", f"student_key,course_id,status\nS1,{STATS_KEY},active\n", course_key=MATH_KEY
        )


# --- one write job at a time --------------------------------------------------------------------


def test_a_second_write_job_while_one_runs_is_409_but_dry_runs_pass(admin_api, upload, program):
    running = jobs.start_enrollment_job(
        program, "program_enrollments", "student_key,status\nA,enrolled\n", run_in_background=False
    )
    response = upload(program, "student_key,status\nB,enrolled\n")
    assert response.status_code == 409
    assert str(running.uuid) in response.json()["detail"]
    assert upload(program, "student_key,status\nB,enrolled\n", course=False, query="dry_run=1").status_code == 202
    with pytest.raises(Conflict):
        jobs.start_enrollment_job(program, "course_enrollments", f"student_key,course_id,status\nA,{MATH_KEY},active\n")
    jobs.run_enrollment_job(running.uuid)
    assert follow(admin_api, upload(program, "student_key,status\nB,enrolled\n"))["state"] == "succeeded"


def test_a_running_job_of_another_program_does_not_block(admin_api, upload, program, other_program):
    jobs.start_enrollment_job(
        other_program, "program_enrollments", "student_key,status\nA,enrolled\n", run_in_background=False
    )
    assert upload(program, "student_key,status\nB,enrolled\n").status_code == 202


# --- who sees what ------------------------------------------------------------------------------


def test_jobs_are_visible_to_their_creator_and_operators_only(
    admin_api, upload, program, operator_api, learner_api, make_user, client_for
):
    response = upload(program, "student_key,status\nA,enrolled\n")
    job_url = response.json()["job_url"]
    colleague = make_user("colleague")
    core_api.grant(colleague, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(program.uuid)))
    for client in (learner_api, client_for(colleague)):
        assert client.get(job_url).status_code == 404
        assert client.get(job_url + "result.csv").status_code == 404
        assert client.get(f"{BASE}/jobs/").json()["results"] == []
    assert operator_api.get(job_url).status_code == 200
    assert operator_api.get(job_url + "result.csv").status_code == 200
    mine = admin_api.get(f"{BASE}/jobs/").json()["results"]
    assert [job["job_id"] for job in mine] == [response.json()["job_id"]]


def test_uploading_needs_a_program_admin_of_the_program(
    learner_api, anon, make_user, client_for, upload, program, other_program
):
    stranger = make_user("stranger")
    core_api.grant(stranger, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(other_program.uuid)))
    assert upload(program, "student_key,status\nA,enrolled\n", client=client_for(stranger)).status_code == 403
    assert upload(program, "student_key,status\nA,enrolled\n", client=learner_api).status_code == 403
    assert upload(program, "student_key,status\nA,enrolled\n", client=anon).status_code == 401
    assert EnrollmentJob.objects.count() == 0


def test_job_lookups(admin_api, program):
    job = jobs.start_enrollment_job(
        program, "program_enrollments", "student_key,status\nA,enrolled\n", run_in_background=False
    )
    assert admin_api.get(f"{BASE}/jobs/not-a-uuid/").status_code == 400
    assert admin_api.get(f"{BASE}/jobs/00000000-0000-0000-0000-000000000000/").status_code == 404
    # a job created without a user is visible to operators only
    assert admin_api.get(f"{BASE}/jobs/{job.uuid}/").status_code == 404


def test_the_result_is_404_until_the_job_has_finished(operator_api, program):
    job = jobs.start_enrollment_job(
        program, "program_enrollments", "student_key,status\nA,enrolled\n", run_in_background=False
    )
    detail = operator_api.get(f"{BASE}/jobs/{job.uuid}/").json()
    assert detail["state"] == "pending" and detail["result_url"] is None
    assert detail["progress"] == {"done": 0, "total": 1}
    response = operator_api.get(f"{BASE}/jobs/{job.uuid}/result.csv")
    assert response.status_code == 404
    assert "pending" in response.json()["detail"]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions")
def test_two_simultaneous_uploads_make_one_job_and_one_409(program, monkeypatch):
    both_parsed = threading.Barrier(2, timeout=10)
    original = jobs.parse_enrollment_csv

    def parse_then_wait(*args, **kwargs):
        rows = original(*args, **kwargs)
        both_parsed.wait()  # neither has inserted its job yet
        return rows

    monkeypatch.setattr(jobs, "parse_enrollment_csv", parse_then_wait)
    outcomes: list[str] = []

    def start(key: str) -> None:
        try:
            jobs.start_enrollment_job(
                program, "program_enrollments", f"student_key,status\n{key},enrolled\n", run_in_background=False
            )
            outcomes.append("started")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=start, args=(key,)) for key in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "started"]
    assert EnrollmentJob.objects.filter(program=program).count() == 1
