"""The import-catalog management command: report, dry run, exit status, malformed files."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization

EXAMPLE = Path(__file__).resolve().parents[2] / "src/rollbook/catalog/fixtures/example_catalog.csv"

HEADER = "course_key,title,start,end,modes\n"


def run_import(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("import_catalog", str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def write(tmp_path: Path, text: str | bytes, name: str = "catalog.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_example_file_imports_and_a_second_run_changes_nothing(db):
    report = run_import(EXAMPLE)
    assert "4 row(s): created 4, updated 0, unchanged 0, error 0, duplicated 0." in report
    assert "course-v1:DemoX+PY101+2027_T1" in report
    assert CourseRun.objects.count() == 4
    assert CatalogCourse.objects.count() == 3
    assert "unchanged 4" in run_import(EXAMPLE)


def test_dry_run_writes_nothing_and_says_so(db):
    report = run_import(EXAMPLE, "--dry-run")
    assert "Dry run: nothing was written" in report
    assert "created 4" in report
    assert not Organization.objects.exists()
    assert not CourseRun.objects.exists()
    assert not CourseRun.history.exists()


def test_report_shows_changes_per_row(db, tmp_path):
    run_import(write(tmp_path, HEADER + "course-v1:edX+DemoX+1,Old,,,audit:0\n"))
    report = run_import(write(tmp_path, HEADER + "course-v1:edX+DemoX+1,New,,,audit:0;verified:4900\n", "b.csv"))
    assert "updated" in report
    assert "title: Old → New" in report
    assert "modes: audit:0 → audit:0;verified:4900" in report
    assert CourseMode.objects.count() == 2


def test_bad_rows_are_reported_the_rest_applied_and_the_exit_status_is_an_error(db, tmp_path):
    text = (
        HEADER
        + "course-v1:edX+Good+1,Good,,,\n"
        + "not-a-key,Bad,,,\n"
        + "course-v1:edX+Dates+1,Bad,2027-02-01,2027-01-01,\n"
        + "course-v1:edX+Twice+1,a,,,\n"
        + "course-v1:edX+Twice+1,b,,,\n"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="4 of 5 row"):
        call_command("import_catalog", str(write(tmp_path, text)), stdout=out, stderr=io.StringIO())
    report = out.getvalue()
    assert "'not-a-key' is not a valid course key" in report
    assert "The run must end after it starts." in report
    assert "duplicated 2" in report
    assert "error 2" in report
    assert list(CourseRun.objects.values_list("title", flat=True)) == ["Good"]


def test_a_file_of_only_bad_rows_applies_nothing(db, tmp_path):
    with pytest.raises(CommandError, match="Nothing was applied"):
        run_import(write(tmp_path, HEADER + "bad,,,,\n"))


def test_dry_run_with_errors_also_fails_and_writes_nothing(db, tmp_path):
    path = write(tmp_path, HEADER + "course-v1:edX+Good+1,Good,,,\nbad,,,,\n")
    with pytest.raises(CommandError, match="Dry run: nothing was written"):
        call_command("import_catalog", str(path), "--dry-run", stdout=io.StringIO(), stderr=io.StringIO())
    assert not CourseRun.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("title,start\nA,2027-01-01\n", "Missing required column(s): course_key"),
        ("course_key,colour\nx,red\n", "Unknown column(s): colour"),
        ("course_key;title\ncourse-v1:a+b+c;x\n", "Unknown column(s)"),
        ("", "is empty"),
        (b"course_key,title\n\xff\xfe\x00bad\n", "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        ('course_key,title\n"course-v1:a+b+c,"unterminated\n', "not valid CSV"),
    ],
)
def test_malformed_files_give_a_clear_error(db, tmp_path, content, message):
    with pytest.raises(CommandError) as exc:
        run_import(write(tmp_path, content))
    assert message in str(exc.value)
    assert not CourseRun.objects.exists()


def test_missing_file(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run_import(tmp_path / "nope.csv")


def test_byte_order_mark_and_header_case_are_accepted(db, tmp_path):
    path = write(tmp_path, "\ufeffCourse_Key,Title\ncourse-v1:edX+DemoX+1,Hello\n")
    assert "created 1" in run_import(path)
    assert CourseRun.objects.get().title == "Hello"


def test_help_documents_the_columns():
    from rollbook.catalog.management.commands.import_catalog import Command

    help_text = Command().create_parser("rollbook", "import_catalog").format_help()
    for column in ("course_key", "title", "language", "enrollment_start", "enrollment_end", "pacing", "modes"):
        assert column in help_text
    assert "audit:0;verified:4900@2027-01-31T00:00Z" in help_text
