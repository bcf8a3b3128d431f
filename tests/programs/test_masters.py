"""enroll_in_masters_track: each outcome, dry runs, and statements bounded by batches."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.catalog.data import ModeSpec
from rollbook.enrollments import api as enrollments_api
from rollbook.programs import api


def state(user, run):
    enrollment = enrollments_api.get_enrollment(user, run.course_key)
    return None if enrollment is None else (enrollment.mode, enrollment.is_active)


def course_enrollment_id(user, run) -> int:
    enrollment = enrollments_api.get_enrollment(user, run.course_key)
    return enrollments_api.enrollments_queryset().get(uuid=enrollment.uuid).pk


def test_no_enrollment_and_active_enrolls_in_masters(math_run, make_user):
    user = make_user()

    results = api.enroll_in_masters_track([(user.pk, math_run, "active")])

    assert state(user, math_run) == ("masters", True)
    assert results == {
        (user.pk, math_run.pk): api.MastersResult("enrolled", course_enrollment_id(user, math_run), "masters", True)
    }


def test_enrollment_windows_do_not_apply(make_program_run, make_user):
    now = timezone.now()
    closed = make_program_run(
        "course-v1:ProgU+Math+2019", enrollment_start=now - timedelta(days=9), enrollment_end=now - timedelta(days=1)
    )
    user = make_user()

    api.enroll_in_masters_track([(user.pk, closed, "active")])

    assert state(user, closed) == ("masters", True)


@pytest.mark.parametrize("mode", ["audit", "honor"])
def test_active_audit_and_honor_are_converted(make_program_run, make_user, mode):
    run = make_program_run("course-v1:ProgU+Math+2032", modes=[ModeSpec(mode), ModeSpec("masters")])
    user = make_user()
    enrollments_api.enroll(user, run.course_key, mode)

    results = api.enroll_in_masters_track([(user.pk, run, "active")])

    assert results[(user.pk, run.pk)].outcome == "converted"
    assert state(user, run) == ("masters", True)


def test_converted_then_deactivated_when_inactive(math_run, make_user):
    user = make_user()
    enrollments_api.enroll(user, math_run.course_key, "audit")

    results = api.enroll_in_masters_track([(user.pk, math_run, "inactive")])

    assert results[(user.pk, math_run.pk)].outcome == "deactivated"
    assert state(user, math_run) == ("masters", False)


def test_other_paid_modes_are_left_alone_and_logged(math_run, make_user, caplog):
    user = make_user()
    enrollments_api.enroll(user, math_run.course_key, "verified")

    results = api.enroll_in_masters_track([(user.pk, math_run, "active")])

    assert results[(user.pk, math_run.pk)] == api.MastersResult(
        "left-alone:verified", course_enrollment_id(user, math_run), "verified", True
    )
    assert state(user, math_run) == ("verified", True)
    assert any("verified" in record.getMessage() and record.levelname == "WARNING" for record in caplog.records)


def test_inactive_status_leaves_a_non_masters_enrollment_active(math_run, make_user):
    user = make_user()
    enrollments_api.enroll(user, math_run.course_key, "verified")

    api.enroll_in_masters_track([(user.pk, math_run, "inactive")])

    assert state(user, math_run) == ("verified", True)


def test_masters_enrollments_are_unchanged_or_deactivated(math_run, stats_run, make_user):
    user = make_user()
    enrollments_api.enroll(user, math_run.course_key, "masters")
    enrollments_api.enroll(user, stats_run.course_key, "masters")

    results = api.enroll_in_masters_track([(user.pk, math_run, "active"), (user.pk, stats_run, "inactive")])

    assert results[(user.pk, math_run.pk)].outcome == "unchanged"
    assert results[(user.pk, stats_run.pk)].outcome == "deactivated"
    assert state(user, math_run) == ("masters", True)
    assert state(user, stats_run) == ("masters", False)


def test_an_inactive_enrollment_is_reactivated_in_masters(math_run, make_user):
    user = make_user()
    enrollments_api.enroll(user, math_run.course_key, "verified")
    enrollments_api.unenroll(user, math_run.course_key)

    results = api.enroll_in_masters_track([(user.pk, math_run, "active")])

    assert results[(user.pk, math_run.pk)].outcome == "enrolled"
    assert state(user, math_run) == ("masters", True)


def test_inactive_without_an_active_enrollment_changes_nothing(math_run, stats_run, make_user):
    user = make_user()
    enrollments_api.enroll(user, stats_run.course_key, "audit")
    enrollments_api.unenroll(user, stats_run.course_key)

    results = api.enroll_in_masters_track([(user.pk, math_run, "inactive"), (user.pk, stats_run, "inactive")])

    assert results[(user.pk, math_run.pk)] == api.MastersResult("unchanged", None)
    assert results[(user.pk, stats_run.pk)].course_enrollment_id == course_enrollment_id(user, stats_run)
    assert state(user, math_run) is None
    assert state(user, stats_run) == ("audit", False)


def test_a_run_without_masters_mode_fails_the_item_only(make_program_run, math_run, make_user):
    no_masters = make_program_run("course-v1:ProgU+Math+2033", modes=[ModeSpec("audit")])
    user = make_user()
    enrollments_api.enroll(user, no_masters.course_key, "audit")

    results = api.enroll_in_masters_track([(user.pk, no_masters, "active"), (user.pk, math_run, "active")])

    assert results[(user.pk, no_masters.pk)] == api.MastersResult("failed:invalid_mode", None)
    assert state(user, no_masters) == ("audit", True)
    assert state(user, math_run) == ("masters", True)


def test_a_dry_run_reports_outcomes_without_writing(math_run, stats_run, make_user):
    first, second = make_user(), make_user()
    enrollments_api.enroll(second, math_run.course_key, "audit")
    items = [(first.pk, math_run, "active"), (second.pk, math_run, "active"), (second.pk, stats_run, "inactive")]

    dry = api.enroll_in_masters_track(items, dry_run=True)

    assert state(first, math_run) is None
    assert state(second, math_run) == ("audit", True)
    assert {pair: result.outcome for pair, result in dry.items()} == {
        (first.pk, math_run.pk): "enrolled",
        (second.pk, math_run.pk): "converted",
        (second.pk, stats_run.pk): "unchanged",
    }
    real = api.enroll_in_masters_track(items)
    assert {pair: result.outcome for pair, result in real.items()} == {
        pair: result.outcome for pair, result in dry.items()
    }


def test_refuses_bad_items(math_run, make_user):
    user = make_user()
    with pytest.raises(ValueError):
        api.enroll_in_masters_track([(user.pk, math_run, "enrolled")])
    with pytest.raises(ValueError):
        api.enroll_in_masters_track([(user.pk, math_run, "active"), (user.pk, math_run, "inactive")])
    assert api.enroll_in_masters_track([]) == {}
    assert state(user, math_run) is None


def test_statements_grow_with_batches_not_learners(math_run, settings):
    from django.contrib.auth import get_user_model

    settings.BULK_BATCH_SIZE = 25
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"m{n}", email=f"m{n}@example.com", email_normalized=f"m{n}@example.com")
        for n in range(250)
    )
    for user in users[::2]:
        enrollments_api.enroll(user, math_run.course_key, "audit")

    def statements(selected) -> int:
        with CaptureQueriesContext(connection) as captured:
            results = api.enroll_in_masters_track([(user.pk, math_run, "active") for user in selected])
        assert {result.outcome for result in results.values()} <= {"enrolled", "converted"}
        return len(captured)

    one_batch = statements(users[:24])
    ten_batches = statements(users[24:274])
    assert ten_batches <= one_batch + 9 * 10
    assert all(state(user, math_run) == ("masters", True) for user in users[:40])
