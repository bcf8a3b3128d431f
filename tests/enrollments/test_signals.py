"""enrollments_changed: one signal per api call, after commit, never on rollback."""

from __future__ import annotations

import pytest
from django.db import transaction

from rollbook.enrollments import api
from rollbook.enrollments.data import ChangeKind, EnrollmentChange, EnrollRequest
from rollbook.enrollments.signals import enrollments_changed


def test_enroll_announces_the_new_enrollment_after_commit(
    learner, run, received_changes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        data = api.enroll(learner, run.course_key, "audit")
    assert received_changes == []  # nothing before the commit
    for callback in callbacks:
        callback()

    assert received_changes == [
        [
            EnrollmentChange(
                kind=ChangeKind.CREATED,
                enrollment_uuid=data.uuid,
                user_id=learner.pk,
                course_key=str(run.course_key),
                old_mode=None,
                new_mode="audit",
                is_active=True,
            )
        ]
    ]


def test_each_kind_of_change_is_announced(learner, run, received_changes, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.enroll(learner, run.course_key, "audit")
        api.change_mode(learner, run.course_key, "verified")
        api.unenroll(learner, run.course_key)
        api.enroll(learner, run.course_key, "audit")

    summary = [[(c.kind, c.old_mode, c.new_mode, c.is_active) for c in changes] for changes in received_changes]
    assert summary == [
        [(ChangeKind.CREATED, None, "audit", True)],
        [(ChangeKind.MODE_CHANGED, "audit", "verified", True)],
        [(ChangeKind.DEACTIVATED, "verified", "verified", False)],
        [(ChangeKind.REACTIVATED, "verified", "audit", True)],
    ]


def test_calls_that_change_nothing_send_nothing(learner, run, received_changes, django_capture_on_commit_callbacks):
    api.enroll(learner, run.course_key, "audit")
    api.unenroll(learner, run.course_key)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        api.unenroll(learner, run.course_key)
        api.bulk_enroll([EnrollRequest(str(run.course_key), username="ghost")])
    assert callbacks == []
    assert received_changes == []


def test_bulk_call_sends_one_signal_with_every_change(
    make_users, run, received_changes, django_capture_on_commit_callbacks
):
    users = make_users(4)
    api.enroll(users[0], run.course_key, "audit")
    api.unenroll(users[0], run.course_key)

    with django_capture_on_commit_callbacks(execute=True):
        api.bulk_enroll([EnrollRequest(str(run.course_key), user_id=u.pk) for u in users])

    assert len(received_changes) == 1
    by_user = {c.user_id: c.kind for c in received_changes[0]}
    assert by_user == {
        users[0].pk: ChangeKind.REACTIVATED,
        users[1].pk: ChangeKind.CREATED,
        users[2].pk: ChangeKind.CREATED,
        users[3].pk: ChangeKind.CREATED,
    }


def test_bulk_unenroll_sends_one_signal(make_users, run, received_changes, django_capture_on_commit_callbacks):
    users = make_users(3)
    uuids = [api.enroll(u, run.course_key).uuid for u in users]
    with django_capture_on_commit_callbacks(execute=True):
        api.bulk_unenroll(uuids)
    assert len(received_changes) == 1
    assert {(c.kind, c.is_active) for c in received_changes[0]} == {(ChangeKind.DEACTIVATED, False)}
    assert {c.enrollment_uuid for c in received_changes[0]} == set(uuids)


def test_nothing_is_sent_when_the_transaction_rolls_back(
    make_users, run, received_changes, django_capture_on_commit_callbacks
):
    users = make_users(2)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        api.enroll(users[0], run.course_key)
        api.bulk_enroll([EnrollRequest(str(run.course_key), user_id=users[1].pk)])
        raise RuntimeError("caller changed its mind")
    assert callbacks == []
    assert received_changes == []
    assert not api.is_enrolled(users[0], run.course_key)


def test_a_failing_receiver_does_not_undo_the_change(learner, run, django_capture_on_commit_callbacks, caplog):
    def broken(sender, changes, **kwargs):
        raise ValueError("subscriber bug")

    enrollments_changed.connect(broken, dispatch_uid="test-broken-receiver")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api.enroll(learner, run.course_key)
    finally:
        enrollments_changed.disconnect(dispatch_uid="test-broken-receiver")

    assert api.is_enrolled(learner, run.course_key)
    assert "subscriber bug" in caplog.text
