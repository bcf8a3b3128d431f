"""Records: course grades and certificates as the runtime reports them, and which learners completed a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.errors import InvalidInput
from rollbook.records import api
from rollbook.records.models import Certificate, CourseGrade

RUN_KEY = "course-v1:RecU+Stats+2030"
OTHER_KEY = "course-v1:RecU+Algebra+2030"


@pytest.fixture
def record_runs(db):
    catalog_api.create_organization("RecU")
    return {key: catalog_api.create_course_run(key) for key in (RUN_KEY, OTHER_KEY)}


@pytest.fixture
def student(make_user):
    return make_user("student")


# --- course grades -------------------------------------------------------------------------------


def test_a_course_grade_is_one_row_updated_in_place(student, record_runs):
    first = api.record_course_grade(student, RUN_KEY, percent="0.41234", letter_grade=" C ", passed=False)

    assert (first.course_run, first.percent, first.letter_grade, first.passed) == (
        record_runs[RUN_KEY],
        Decimal("0.4123"),
        "C",
        False,
    )
    assert first.passed_timestamp is None

    passed = api.record_course_grade(student, RUN_KEY, percent=0.8, letter_grade="B", passed=True)
    stamped = passed.passed_timestamp
    again = api.record_course_grade(student, RUN_KEY, percent=Decimal("0.9"), letter_grade="A", passed=True)

    assert CourseGrade.objects.filter(user=student).count() == 1
    assert stamped is not None and again.passed_timestamp == stamped  # the first pass is kept
    assert (again.percent, again.letter_grade) == (Decimal("0.9000"), "A")
    assert first.history.count() == 3


def test_a_given_pass_time_is_kept_and_a_failing_grade_has_none(student, record_runs):
    when = datetime(2030, 3, 1, 12, tzinfo=UTC)

    assert (
        api.record_course_grade(student, RUN_KEY, percent=1, passed=True, passed_timestamp=when).passed_timestamp
        == when
    )
    failing = api.record_course_grade(student, RUN_KEY, percent=0, passed=False, passed_timestamp=when)

    assert (failing.passed, failing.passed_timestamp) == (False, None)


def test_course_grade_refuses_bad_input(student, record_runs):
    with pytest.raises(InvalidInput) as raised:
        api.record_course_grade(
            student,
            "course-v1:RecU+Nope+2030",
            percent=1.5,
            letter_grade="x" * 65,
            passed="yes",
            passed_timestamp=datetime(2030, 1, 1),
        )
    assert set(raised.value.errors) == {"course_key", "percent", "letter_grade", "passed", "passed_timestamp"}
    assert raised.value.errors["course_key"] == ["No course run course-v1:RecU+Nope+2030."]

    for percent in (-0.01, "abc", True, float("nan"), None, "Infinity"):
        with pytest.raises(InvalidInput) as raised:
            api.record_course_grade(student, RUN_KEY, percent=percent, passed=False)
        assert set(raised.value.errors) == {"percent"}, percent
    for key in ("not a key", "course-v1:recu+stats+2030"):
        with pytest.raises(InvalidInput) as raised:
            api.record_course_grade(student, key, percent=0.5, passed=False)
        assert set(raised.value.errors) == {"course_key"}
    assert not CourseGrade.objects.exists()


# --- certificates --------------------------------------------------------------------------------


def test_a_certificate_is_one_row_whose_passing_follows_its_status(student, record_runs):
    issued = timezone.now() - timedelta(days=3)

    certificate = api.record_certificate(student, RUN_KEY, mode="verified", status="notpassing", grade="0.2")
    assert (certificate.passing, certificate.grade) == (False, Decimal("0.2000"))

    certificate = api.record_certificate(
        student, RUN_KEY, mode="verified", status="downloadable", grade=0.95, created=issued
    )
    assert (certificate.passing, certificate.created, certificate.status) == (True, issued, "downloadable")
    kept = api.record_certificate(student, RUN_KEY, mode="verified", status="downloadable")
    assert (kept.created, kept.grade) == (issued, None)
    assert api.record_certificate(student, OTHER_KEY, mode="audit", status="audit_passing").passing is True
    assert api.record_certificate(student, OTHER_KEY, mode="audit", status="unavailable").passing is False
    assert Certificate.objects.filter(user=student).count() == 2


def test_certificate_refuses_bad_input(student, record_runs):
    with pytest.raises(InvalidInput) as raised:
        api.record_certificate(
            student, "course-v1:RecU+Nope+2030", mode="gold", status="great", grade=2, created=datetime(2030, 1, 1)
        )
    assert set(raised.value.errors) == {"course_key", "mode", "status", "grade", "created"}
    assert not Certificate.objects.exists()


# --- completion ----------------------------------------------------------------------------------


def test_completed_pairs_counts_passing_certificates_and_passed_grades(make_user, record_runs):
    run, other = record_runs[RUN_KEY], record_runs[OTHER_KEY]
    by_cert, by_audit_cert, by_grade, failed, nothing = (make_user(f"c{n}") for n in range(5))
    api.record_certificate(by_cert, RUN_KEY, mode="verified", status="downloadable")
    api.record_certificate(by_audit_cert, RUN_KEY, mode="audit", status="audit_passing")
    api.record_course_grade(by_grade, RUN_KEY, percent=0.7, passed=True)
    api.record_certificate(failed, RUN_KEY, mode="verified", status="notpassing")
    api.record_course_grade(failed, RUN_KEY, percent=0.2, passed=False)
    api.record_course_grade(nothing, OTHER_KEY, percent=0.9, passed=True)  # completed the other run only

    asked = [(user.pk, run.pk) for user in (by_cert, by_audit_cert, by_grade, failed, nothing)]
    asked += [(by_cert.pk, other.pk)]

    assert api.completed_pairs(asked) == {(by_cert.pk, run.pk), (by_audit_cert.pk, run.pk), (by_grade.pk, run.pk)}
    assert api.completed_pairs([]) == set()


def test_completed_pairs_costs_one_query_per_table(make_user, record_runs, django_assert_num_queries):
    run, other = record_runs[RUN_KEY], record_runs[OTHER_KEY]
    users = [make_user(f"bulk{n}") for n in range(40)]
    for user in users[::2]:
        api.record_course_grade(user, OTHER_KEY, percent=1, passed=True)

    with django_assert_num_queries(2):
        one = api.completed_pairs([(users[0].pk, other.pk)])
    with django_assert_num_queries(2):
        many = api.completed_pairs([(user.pk, run_id) for user in users for run_id in (run.pk, other.pk)])

    assert one == {(users[0].pk, other.pk)}
    assert many == {(user.pk, other.pk) for user in users[::2]}
