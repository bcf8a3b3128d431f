"""bulk_enroll: one result per request, set-based, atomic."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from rollbook.core.bulk import insert_with_history
from rollbook.enrollments import api
from rollbook.enrollments.data import EnrollRequest, EnrollStatus
from rollbook.enrollments.models import CourseEnrollment
from tests.core.test_bulk import FIXED_NOW, written_by


def test_every_status_is_reported_in_request_order(make_users, run, closed_run, make_run):
    users = make_users(9)
    api.enroll(users[1], run.course_key, "audit")  # will be already_enrolled
    api.enroll(users[2], run.course_key, "audit")
    api.unenroll(users[2], run.course_key)  # will be reactivated
    api.enroll(users[3], run.course_key, "audit")  # will be mode_changed
    key = str(run.course_key)
    requests = [
        EnrollRequest(key, username=users[0].username),
        EnrollRequest(key, username=users[1].username),
        EnrollRequest(key, user_id=users[2].pk),
        EnrollRequest(key, email=users[3].email, mode="verified"),
        EnrollRequest(key, username=users[4].username),
        EnrollRequest(key, user_id=users[4].pk, mode="audit"),
        EnrollRequest(key, username="nobody-here"),
        EnrollRequest("course-v1:TestX+Missing+2030", username=users[5].username),
        EnrollRequest("not-a-course-key", username=users[5].username),
        EnrollRequest(key, username=users[6].username, mode="masters"),
        EnrollRequest(str(closed_run.course_key), username=users[7].username),
    ]

    results = api.bulk_enroll(requests)

    assert [r.status for r in results] == [
        EnrollStatus.ENROLLED,
        EnrollStatus.ALREADY_ENROLLED,
        EnrollStatus.REACTIVATED,
        EnrollStatus.MODE_CHANGED,
        EnrollStatus.DUPLICATED,
        EnrollStatus.DUPLICATED,
        EnrollStatus.UNKNOWN_USER,
        EnrollStatus.UNKNOWN_COURSE,
        EnrollStatus.INVALID_COURSE_KEY,
        EnrollStatus.INVALID_MODE,
        EnrollStatus.NOT_ENROLLABLE,
    ]
    assert [r.request for r in results] == requests
    for result in results:
        assert (result.enrollment is not None) == result.status.is_success
        assert bool(result.message) != result.status.is_success
    assert results[0].enrollment.mode == "verified"  # the run's best mode
    assert results[2].enrollment.mode == "audit" and results[2].enrollment.is_active
    assert results[3].enrollment.mode == "verified"
    active = set(CourseEnrollment.objects.filter(is_active=True).values_list("user_id", flat=True))
    assert active == {users[0].pk, users[1].pk, users[2].pk, users[3].pk}
    assert not CourseEnrollment.objects.filter(user__in=[users[4], users[5], users[6], users[7]]).exists()


def test_duplicates_are_detected_across_identifiers_and_not_applied(make_users, run):
    user = make_users(1)[0]
    key = str(run.course_key)

    results = api.bulk_enroll(
        [EnrollRequest(key, username=user.username), EnrollRequest(key, email=user.email.upper())]
    )

    assert [r.status for r in results] == [EnrollStatus.DUPLICATED, EnrollStatus.DUPLICATED]
    assert not CourseEnrollment.objects.exists()


def test_emails_match_ignoring_case_and_blanks(make_users, run):
    user = make_users(1)[0]
    [result] = api.bulk_enroll([EnrollRequest(str(run.course_key), email=f"  {user.email.swapcase()} ")])
    assert result.status == EnrollStatus.ENROLLED
    assert result.enrollment.user_id == user.pk
    assert result.user_key == f"  {user.email.swapcase()} "


def test_skip_access_checks_enrolls_in_closed_runs(make_users, closed_run):
    user = make_users(1)[0]
    [result] = api.bulk_enroll([EnrollRequest(str(closed_run.course_key), user_id=user.pk)], skip_access_checks=True)
    assert result.status == EnrollStatus.ENROLLED


def test_history_rows_are_written_for_creates_and_updates(make_users, run):
    users = make_users(3)
    api.enroll(users[0], run.course_key, "audit")
    api.unenroll(users[0], run.course_key)
    history_before = CourseEnrollment.history.count()

    api.bulk_enroll([EnrollRequest(str(run.course_key), user_id=user.pk) for user in users])

    new_history = CourseEnrollment.history.order_by("history_id")[history_before:]
    assert sorted((h.user_id, h.history_type, h.is_active) for h in new_history) == sorted(
        [(users[0].pk, "~", True), (users[1].pk, "+", True), (users[2].pk, "+", True)]
    )


def test_results_describe_the_stored_enrollments(make_users, run):
    users = make_users(4)
    api.enroll(users[1], run.course_key, "audit")
    api.unenroll(users[1], run.course_key)
    api.enroll(users[2], run.course_key, "audit")
    key = str(run.course_key)

    results = api.bulk_enroll(
        [
            EnrollRequest(key, user_id=users[0].pk),
            EnrollRequest(key, user_id=users[1].pk),
            EnrollRequest(key, user_id=users[2].pk, mode="verified"),
            EnrollRequest(key, user_id=users[3].pk, mode="audit"),
        ]
    )

    assert [r.status for r in results] == [
        EnrollStatus.ENROLLED,
        EnrollStatus.REACTIVATED,
        EnrollStatus.MODE_CHANGED,
        EnrollStatus.ENROLLED,
    ]
    for result in results:
        assert result.enrollment == api.get_enrollment_by_uuid(result.enrollment.uuid)
    assert CourseEnrollment.objects.count() == 4


def test_history_rows_name_the_user_of_the_request(make_users, run):
    users = make_users(3)
    actor = make_users(1)[0]
    api.enroll(users[0], run.course_key, "audit")
    api.unenroll(users[0], run.course_key)
    last_before = CourseEnrollment.history.order_by("-history_id").values_list("history_id", flat=True).first()
    request = RequestFactory().post("/api/enrollments/v1/bulk/")
    request.user = actor
    HistoricalRecords.context.request = request  # as simple-history's HistoryRequestMiddleware does
    try:
        api.bulk_enroll([EnrollRequest(str(run.course_key), user_id=user.pk) for user in users])
    finally:
        del HistoricalRecords.context.request

    written = CourseEnrollment.history.filter(history_id__gt=last_before)
    assert sorted(written.values_list("user_id", "history_type", "history_user_id")) == sorted(
        [(users[0].pk, "~", actor.pk), (users[1].pk, "+", actor.pk), (users[2].pk, "+", actor.pk)]
    )


def test_enrollment_rows_are_stored_as_bulk_create_with_history_stores_them(make_users, make_run, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: FIXED_NOW)
    users, runs = make_users(3), [make_run(), make_run()]
    rows = [
        {"uuid": uuid.uuid4(), "user_id": user.pk, "course_run_id": run.pk, "mode": mode}
        for user in users
        for run, mode in zip(runs, ["audit", "verified"], strict=True)
    ]

    expected = written_by(
        lambda: bulk_create_with_history([CourseEnrollment(**row) for row in rows], CourseEnrollment),
        CourseEnrollment,
    )
    actual = written_by(lambda: insert_with_history(CourseEnrollment, rows, batch_size=4), CourseEnrollment)

    assert len(expected["live"]) == len(expected["history"]) == 6
    assert actual == expected


def count_statements(requests) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as captured:
        results = api.bulk_enroll(requests)
    return len(captured.captured_queries), results


def test_statement_count_does_not_grow_with_rows(make_users, make_run):
    first_run, runs = make_run(), [make_run() for _ in range(3)]
    one_user, users = make_users(1)[0], make_users(100)

    small, small_results = count_statements([EnrollRequest(str(first_run.course_key), user_id=one_user.pk)])
    large, large_results = count_statements(
        [EnrollRequest(str(r.course_key), username=u.username) for u in users for r in runs]
    )

    assert len(large_results) == 300
    assert all(r.status == EnrollStatus.ENROLLED for r in small_results + large_results)
    assert CourseEnrollment.objects.count() == 301
    assert CourseEnrollment.history.count() == 301
    # One batch either way, so the same statements: runs, modes, users, existing enrollments, the
    # rows, their history rows, and a savepoint pair.
    assert small <= 8
    assert large == small


def test_statement_count_grows_with_batches(make_users, make_run, settings, django_assert_max_num_queries):
    settings.BULK_BATCH_SIZE = 50
    runs, users = [make_run() for _ in range(3)], make_users(100)
    requests = [EnrollRequest(str(r.course_key), user_id=u.pk) for u in users for r in runs]
    batches = 300 // 50
    # per batch: users (100 distinct ones: 2 batches), existing enrollments, then the rows (INSERT or
    # UPDATE) and their history rows; once: runs, modes, and a savepoint pair around the call
    with django_assert_max_num_queries(4 * batches + 4):
        results = api.bulk_enroll(requests)
    assert {r.status for r in results} == {EnrollStatus.ENROLLED}

    requests_again = [EnrollRequest(str(r.course_key), user_id=u.pk, mode="audit") for u in users for r in runs]
    with django_assert_max_num_queries(4 * batches + 4):
        results = api.bulk_enroll(requests_again)
    assert {r.status for r in results} == {EnrollStatus.MODE_CHANGED}
    assert set(CourseEnrollment.objects.values_list("mode", flat=True)) == {"audit"}
    assert CourseEnrollment.history.filter(history_type="~").count() == 300


def test_the_call_is_all_or_nothing(make_users, run, monkeypatch):
    users = make_users(2)
    api.enroll(users[0], run.course_key, "audit")
    api.unenroll(users[0], run.course_key)

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(api, "update_with_history", fail)
    with pytest.raises(RuntimeError):
        api.bulk_enroll([EnrollRequest(str(run.course_key), user_id=u.pk) for u in users])

    assert not CourseEnrollment.objects.filter(user=users[1]).exists()  # its create was rolled back
    assert not CourseEnrollment.objects.get(user=users[0]).is_active


def test_empty_call_returns_nothing(db):
    assert api.bulk_enroll([]) == []


def test_a_request_names_exactly_one_user():
    with pytest.raises(ValueError):
        EnrollRequest("course-v1:A+B+C")
    with pytest.raises(ValueError):
        EnrollRequest("course-v1:A+B+C", username="a", email="a@example.com")


def test_bulk_unenroll_deactivates_active_enrollments_only(make_users, run):
    users = make_users(3)
    enrollments = [api.enroll(user, run.course_key) for user in users]
    api.unenroll(users[2], run.course_key)

    count = api.bulk_unenroll([e.uuid for e in enrollments] + ["00000000-0000-4000-8000-000000000000"])

    assert count == 2
    assert not CourseEnrollment.objects.filter(is_active=True).exists()
    assert CourseEnrollment.history.filter(history_type="~", is_active=False).count() == 3


@pytest.mark.django_db
def test_enrollment_states_reads_pairs_set_based(make_run, make_user, settings, django_assert_num_queries):
    from rollbook.enrollments import api as enrollments_api

    settings.BULK_BATCH_SIZE = 2
    run_a, run_b = make_run(), make_run()
    users = [make_user() for _ in range(3)]
    enrollments_api.enroll(users[0], str(run_a.course_key))
    enrollments_api.enroll(users[1], str(run_b.course_key), "verified")
    enrollments_api.unenroll(users[1], str(run_b.course_key))
    pairs = [(users[0].pk, run_a.pk), (users[1].pk, run_b.pk), (users[2].pk, run_a.pk), (users[0].pk, run_a.pk)]
    with django_assert_num_queries(2):  # three distinct pairs, two per batch
        states = enrollments_api.enrollment_states(pairs)
    assert set(states) == {(users[0].pk, run_a.pk), (users[1].pk, run_b.pk)}
    assert states[(users[1].pk, run_b.pk)].mode == "verified"
    assert states[(users[1].pk, run_b.pk)].is_active is False
    assert states[(users[0].pk, run_a.pk)].is_active is True
