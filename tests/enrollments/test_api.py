"""Single-enrollment functions of enrollments.api."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api
from rollbook.enrollments.data import EnrollStatus
from rollbook.enrollments.models import CourseEnrollment


def history_count(enrollment_uuid) -> int:
    return CourseEnrollment.history.filter(uuid=enrollment_uuid).count()


def test_enroll_defaults_to_the_best_mode_and_records_history(learner, run):
    data = api.enroll(learner, "course-v1:TestX+Open+2030")

    assert data.mode == "verified"
    assert data.is_active is True
    assert data.user_id == learner.pk
    assert data.username == learner.username
    assert data.course_key == "course-v1:TestX+Open+2030"
    assert api.is_enrolled(learner, run.course_key)
    row = CourseEnrollment.objects.get(uuid=data.uuid)
    assert (row.user_id, row.course_run_id, row.mode) == (learner.pk, run.pk, "verified")
    assert history_count(data.uuid) == 1


def test_enroll_in_an_explicit_mode(learner, run):
    assert api.enroll(learner, run.course_key, "audit").mode == "audit"


def test_run_without_modes_offers_audit(learner, make_run):
    bare = make_run(modes={})
    assert api.enroll(learner, bare.course_key).mode == "audit"
    with pytest.raises(InvalidInput) as excinfo:
        api.change_mode(learner, bare.course_key, "verified")
    assert "mode" in excinfo.value.errors


def test_mode_the_run_does_not_offer_is_refused(learner, run):
    with pytest.raises(InvalidInput) as excinfo:
        api.enroll(learner, run.course_key, "professional")
    assert "mode" in excinfo.value.errors
    assert "audit, verified" in excinfo.value.errors["mode"][0]
    assert not CourseEnrollment.objects.exists()


@pytest.mark.parametrize("bad_key", ["not a key", "course-v1:OnlyOrg+Code", "", "course-v1:A+B+C\n"])
def test_malformed_course_key_is_invalid_input(learner, run, bad_key):
    with pytest.raises(InvalidInput) as excinfo:
        api.enroll(learner, bad_key)
    assert "course_key" in excinfo.value.errors


def test_unknown_run_is_invalid_input(learner, run):
    with pytest.raises(InvalidInput) as excinfo:
        api.enroll(learner, "course-v1:TestX+Open+1999")
    assert "course_key" in excinfo.value.errors


def test_course_keys_are_case_sensitive(learner, run):
    with pytest.raises(InvalidInput):
        api.enroll(learner, "course-v1:testx+open+2030")


@pytest.mark.parametrize(
    "window",
    [
        {"enrollment_end_days": -1},  # window closed
        {"enrollment_start_days": 2},  # not open yet
        {"end_days": -1},  # run over
    ],
)
def test_enrollment_window_is_enforced_unless_checks_are_skipped(learner, make_run, window):
    now = timezone.now()
    fields = {}
    if "enrollment_end_days" in window:
        fields = {"enrollment_start": now - timedelta(days=9), "enrollment_end": now - timedelta(days=1)}
    elif "enrollment_start_days" in window:
        fields = {"enrollment_start": now + timedelta(days=2)}
    else:
        fields = {"start": now - timedelta(days=9), "end": now - timedelta(days=1)}
    target = make_run(**fields)

    with pytest.raises(InvalidInput) as excinfo:
        api.enroll(learner, target.course_key)
    assert "course_key" in excinfo.value.errors
    assert not api.is_enrolled(learner, target.course_key)

    assert api.enroll(learner, target.course_key, skip_access_checks=True).is_active


def test_reenrolling_reactivates_the_same_enrollment(learner, run):
    first = api.enroll(learner, run.course_key, "audit")
    api.unenroll(learner, run.course_key)

    again, outcome = api.enroll_with_outcome(learner, run.course_key)

    assert outcome == EnrollStatus.REACTIVATED
    assert again.uuid == first.uuid
    assert again.is_active and again.mode == "audit"  # keeps its mode when none is asked
    assert CourseEnrollment.objects.count() == 1
    assert history_count(first.uuid) == 3


def test_reactivation_outside_the_window_is_refused(learner, closed_run):
    api.enroll(learner, closed_run.course_key, skip_access_checks=True)
    api.unenroll(learner, closed_run.course_key)
    with pytest.raises(InvalidInput):
        api.enroll(learner, closed_run.course_key)
    assert not api.is_enrolled(learner, closed_run.course_key)


def test_enrolling_again_with_another_mode_changes_the_mode(learner, run):
    first = api.enroll(learner, run.course_key, "audit")

    same, same_outcome = api.enroll_with_outcome(learner, run.course_key)
    changed, changed_outcome = api.enroll_with_outcome(learner, run.course_key, "verified")

    assert same_outcome == EnrollStatus.ALREADY_ENROLLED and same.mode == "audit"
    assert changed_outcome == EnrollStatus.MODE_CHANGED and changed.mode == "verified"
    assert history_count(first.uuid) == 2  # nothing written for the no-op


def test_changing_mode_outside_the_window_is_allowed(learner, closed_run):
    api.enroll(learner, closed_run.course_key, "audit", skip_access_checks=True)
    assert api.change_mode(learner, closed_run.course_key, "verified").mode == "verified"


def test_unenroll_is_idempotent(learner, run):
    enrollment = api.enroll(learner, run.course_key)

    first = api.unenroll(learner, run.course_key)
    second = api.unenroll(learner, run.course_key)

    assert first.is_active is False and second.is_active is False
    assert not api.is_enrolled(learner, run.course_key)
    assert history_count(enrollment.uuid) == 2


def test_unenroll_or_change_mode_without_an_enrollment_is_not_found(learner, run):
    with pytest.raises(NotFound):
        api.unenroll(learner, run.course_key)
    with pytest.raises(NotFound):
        api.change_mode(learner, run.course_key, "audit")


def test_change_mode_validates_the_mode(learner, run):
    api.enroll(learner, run.course_key, "audit")
    with pytest.raises(InvalidInput) as excinfo:
        api.change_mode(learner, run.course_key, "masters")
    assert "mode" in excinfo.value.errors
    assert api.get_enrollment(learner, run.course_key).mode == "audit"


def test_free_modes_only_picks_and_allows_only_free_modes(learner, run):
    data = api.enroll(learner, run.course_key, free_modes_only=True)
    assert data.mode == "audit"

    with pytest.raises(InvalidInput) as excinfo:
        api.enroll(learner, run.course_key, "verified", free_modes_only=True)
    assert "paid" in excinfo.value.errors["mode"][0]
    assert api.get_enrollment(learner, run.course_key).mode == "audit"


def test_free_modes_only_with_no_free_mode_is_refused(learner, make_run):
    paid = make_run(modes={"verified": 100})
    with pytest.raises(InvalidInput) as excinfo:
        api.enroll(learner, paid.course_key, free_modes_only=True)
    assert "mode" in excinfo.value.errors
    assert api.get_enrollment(learner, paid.course_key) is None


def test_update_enrollment_patches_mode_and_active_flag_together(learner, run):
    enrollment = api.enroll(learner, run.course_key, "audit")

    updated = api.update_enrollment(enrollment.uuid, mode="verified", is_active=False)

    assert (updated.mode, updated.is_active) == ("verified", False)
    assert history_count(enrollment.uuid) == 2


def test_update_enrollment_reactivation_respects_window_and_names_is_active(learner, closed_run):
    enrollment = api.enroll(learner, closed_run.course_key, skip_access_checks=True)
    api.update_enrollment(enrollment.uuid, is_active=False)

    with pytest.raises(InvalidInput) as excinfo:
        api.update_enrollment(enrollment.uuid, is_active=True)
    assert "is_active" in excinfo.value.errors
    assert api.update_enrollment(enrollment.uuid, is_active=True, skip_access_checks=True).is_active


def test_update_enrollment_of_unknown_uuid_is_not_found(db):
    with pytest.raises(NotFound):
        api.update_enrollment("8d5f5f7e-0000-4000-8000-000000000000", is_active=False)
    with pytest.raises(NotFound):
        api.get_enrollment_by_uuid("not-a-uuid")


def test_readers(make_user, make_run):
    alice, bob = make_user(), make_user()
    first, second = make_run(), make_run()
    a1 = api.enroll(alice, first.course_key, "audit")
    api.enroll(alice, second.course_key, "verified")
    api.unenroll(alice, second.course_key)
    api.enroll(bob, first.course_key, "verified")

    assert api.get_enrollment_by_uuid(a1.uuid) == a1
    assert api.get_enrollment(bob, second.course_key) is None
    assert [e.course_key for e in api.get_enrollments(user=alice)] == [str(first.course_key), str(second.course_key)]
    assert [e.username for e in api.get_enrollments(course_keys=[str(first.course_key)])] == [
        alice.username,
        bob.username,
    ]
    assert [e.user_id for e in api.get_enrollments(is_active=False)] == [alice.pk]
    assert [e.username for e in api.get_enrollments(modes=["verified"], is_active=True)] == [bob.username]
    assert api.is_enrolled(alice, first.course_key)
    assert not api.is_enrolled(alice, second.course_key)
    with pytest.raises(InvalidInput):
        api.get_enrollments(course_keys=["nope"])


def test_offered_modes(run, make_run):
    assert api.offered_modes(run.course_key) == {"audit", "verified"}
    assert api.offered_modes(run.course_key, free_only=True) == {"audit"}
    assert api.offered_modes(make_run(modes={}).course_key) == {"audit"}
    with pytest.raises(InvalidInput):
        api.offered_modes("course-v1:No+Such+Run")
