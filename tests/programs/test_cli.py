"""``rollbook programs import | link | expire-waiting``."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rollbook.programs import jobs
from rollbook.programs.models import EnrollmentJob, ProgramCourseEnrollment, ProgramEnrollment
from tests.programs.conftest import MATH_KEY, STATS_KEY


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("programs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def stored(program) -> dict[str, str]:
    return dict(ProgramEnrollment.objects.filter(program=program).values_list("external_user_key", "status"))


def result_statuses(path) -> list[tuple[str, ...]]:
    return [tuple(row) for row in csv.reader(path.read_text(encoding="utf-8").splitlines())]


# --- import -------------------------------------------------------------------------------------


def test_import_writes_enrollments_and_a_result_csv(tmp_path, program):
    source = tmp_path / "students.csv"
    source.write_text("student_key,status\nA1,enrolled\nA2,pending\n", encoding="utf-8")
    out, _ = run("import", str(source), "--program", str(program.uuid))
    assert stored(program) == {"A1": "enrolled", "A2": "pending"}
    result = tmp_path / "students.csv.result.csv"
    assert result_statuses(result) == [("student_key", "status"), ("A1", "enrolled"), ("A2", "pending")]
    assert "2 row(s): 2 were created, 0 updated, 0 unchanged, 0 refused." in out
    assert str(result) in out
    assert EnrollmentJob.objects.get().state == "succeeded"


def test_import_exits_nonzero_when_rows_are_refused_but_writes_the_rest(tmp_path, program):
    source = tmp_path / "students.csv"
    source.write_text("student_key,status\nA1,enrolled\nA2,nope\n", encoding="utf-8")
    result = tmp_path / "out.csv"
    with pytest.raises(CommandError, match="1 of 2 row"):
        run("import", str(source), "--program", str(program.uuid), "--result", str(result))
    assert stored(program) == {"A1": "enrolled"}
    assert result_statuses(result)[1:] == [("A1", "enrolled"), ("A2", "invalid-status")]


def test_import_dry_run_writes_nothing(tmp_path, program, enroll_students):
    enroll_students(program, ["A1"], status="pending")
    source = tmp_path / "students.csv"
    source.write_text("student_key,status\na1,enrolled\nA2,enrolled\n", encoding="utf-8")
    out, _ = run("import", str(source), "--program", str(program.uuid), "--dry-run")
    assert "Dry run: nothing was written" in out
    assert "1 would be created, 1 updated" in out
    assert stored(program) == {"A1": "pending"}


def test_import_of_course_enrollments_by_column_or_by_course_option(tmp_path, program, enroll_students):
    enroll_students(program, ["S1", "S2"])
    by_column = tmp_path / "by_column.csv"
    by_column.write_text(f"student_key,course_id,status\nS1,{MATH_KEY},active\nS2,{STATS_KEY},inactive\n")
    run("import", str(by_column), "--program", str(program.uuid))
    by_option = tmp_path / "by_option.csv"
    by_option.write_text("student_key,status,course_staff\nS2,active,false\n")
    run("import", str(by_option), "--program", str(program.uuid), "--course", MATH_KEY)
    pairs = ProgramCourseEnrollment.objects.values_list(
        "program_enrollment__external_user_key", "course_run__course_key", "status"
    )
    assert {(key, str(course), status) for key, course, status in pairs} == {
        ("S1", MATH_KEY, "active"),
        ("S2", STATS_KEY, "inactive"),
        ("S2", MATH_KEY, "active"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"student_key\nA1\n", "lacks the column"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"", "empty"),
        (b"student_key,status\nA1\n", "Line 2 has 1 cell"),
    ],
)
def test_import_of_a_bad_file_fails_with_a_clear_message_and_writes_nothing(tmp_path, program, content, message):
    source = tmp_path / "bad.csv"
    source.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        run("import", str(source), "--program", str(program.uuid))
    assert stored(program) == {}
    assert EnrollmentJob.objects.count() == 0


def test_import_refuses_unknown_programs_courses_files_and_running_jobs(tmp_path, program, outside_run):
    source = tmp_path / "students.csv"
    source.write_text("student_key,status\nA1,enrolled\n")
    with pytest.raises(CommandError, match="No program"):
        run("import", str(source), "--program", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="not a UUID"):
        run("import", str(source), "--program", "nope")
    with pytest.raises(CommandError, match="not part of the program"):
        run("import", str(source), "--program", str(program.uuid), "--course", outside_run.course_key)
    with pytest.raises(CommandError, match="Cannot read"):
        run("import", str(tmp_path / "missing.csv"), "--program", str(program.uuid))
    jobs.start_enrollment_job(
        program, "program_enrollments", "student_key,status\nB,enrolled\n", run_in_background=False
    )
    with pytest.raises(CommandError, match="already running"):
        run("import", str(source), "--program", str(program.uuid))
    assert stored(program) == {}


def test_import_needs_a_program(tmp_path):
    with pytest.raises(CommandError, match="--program"):
        run("import", str(tmp_path / "x.csv"))


# --- link ---------------------------------------------------------------------------------------


def test_link_links_keys_and_reports_failures(program, enroll_students, make_user):
    enroll_students(program, ["W1", "W2"])
    ann = make_user("ann")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="2 of 3 key"):
        call_command(
            "programs",
            "link",
            "--program",
            str(program.uuid),
            "w1:ann",
            "W2:nobody-here",
            "GHOST:ann",
            stdout=out,
            stderr=err,
        )
    assert "w1: linked to ann" in out.getvalue()
    assert "W2: " in err.getvalue() and "GHOST: " in err.getvalue()
    linked = dict(ProgramEnrollment.objects.filter(program=program).values_list("external_user_key", "user_id"))
    assert linked["W1"] == ann.pk
    assert linked["W2"] is None


def test_link_output_names_each_key(program, enroll_students, make_user):
    enroll_students(program, ["W1"])
    make_user("ann")
    out, err = run("link", "--program", str(program.uuid), "W1:ann")
    assert "W1: linked to ann" in out
    assert err == ""


@pytest.mark.parametrize("pairs", [["W1"], ["W1:"], [":ann"], ["W1:ann", "w1:bob"]])
def test_link_refuses_malformed_or_repeated_pairs_and_changes_nothing(program, enroll_students, make_user, pairs):
    enroll_students(program, ["W1"])
    make_user("ann")
    make_user("bob")
    with pytest.raises(CommandError, match="Nothing was linked"):
        run("link", "--program", str(program.uuid), *pairs)
    assert ProgramEnrollment.objects.get(program=program).user_id is None


# --- expire-waiting -----------------------------------------------------------------------------


def test_expire_waiting_deletes_old_unlinked_enrollments(program, enroll_students, linked_students):
    linked_key = next(iter(linked_students))
    enroll_students(program, ["OLD", "NEW", linked_key])
    ProgramEnrollment.objects.filter(external_user_key__in=["OLD", linked_key]).update(
        modified=timezone.now() - timedelta(days=61)
    )
    out, _ = run("expire-waiting")
    assert "Deleted 1 " in out
    assert set(stored(program)) == {"NEW", linked_key}
    out, _ = run("expire-waiting", "--days", "0")
    assert "Deleted 1 " in out
    assert set(stored(program)) == {linked_key}


def test_expire_waiting_refuses_negative_days(db):
    with pytest.raises(CommandError, match="--days"):
        run("expire-waiting", "--days", "-1")
