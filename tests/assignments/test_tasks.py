"""The assignments app's Celery tasks (eager, as without a broker) and the beat schedule of its daily jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.utils import timezone

from rollbook import celery_app
from rollbook.assignments.data import ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.assignments.tasks import expire_due_task, retire_expired_pii_task, send_emails_task
from rollbook.core.errors import InvalidInput
from tests.assignments.test_notifications import (  # noqa: F401  (fixtures)
    actions_of,
    configuration,
    make_assignment,
    smtp_server,
    smtp_settings,
)


def test_the_beat_schedule_runs_expiry_then_pii_retirement_daily():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    by_task = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert set(by_task) >= {"assignments.expire_due", "assignments.retire_expired_pii"}
    assert set(by_task) <= set(celery_app.tasks)  # every scheduled name is a registered task
    expire, retire = by_task["assignments.expire_due"], by_task["assignments.retire_expired_pii"]
    for entry in (expire, retire):
        assert isinstance(entry, crontab)
        assert len(entry.hour) == 1 and len(entry.minute) == 1  # once a day
        assert entry.day_of_week == set(range(7)) and entry.day_of_month == set(range(1, 32))
    assert (min(expire.hour), min(expire.minute)) < (min(retire.hour), min(retire.minute))


def test_the_expire_task_expires_due_assignments_and_emails_them(
    smtp_settings,  # noqa: F811
    configuration,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    due = make_assignment(configuration, "due@example.com", allocated_at=timezone.now() - timedelta(days=95))
    make_assignment(configuration, "fresh@example.com", content_key="course-v1:EntU+Data+2030")
    with django_capture_on_commit_callbacks(execute=True):
        assert expire_due_task.delay().get() == 1
    due.refresh_from_db()
    assert due.state == AssignmentState.EXPIRED
    assert [message["To"] for message in smtp_settings.messages] == ["due@example.com"]


def test_the_retire_task_retires_emails_of_expired_assignments_in_live_and_history_rows(configuration):  # noqa: F811
    expired = make_assignment(
        configuration,
        "old@example.com",
        state=AssignmentState.EXPIRED,
        expired_at=timezone.now() - timedelta(days=3),
        expiry_reason=ExpiryReason.NINETY_DAYS_PASSED,
    )
    LearnerContentAssignmentAction.objects.create(
        assignment=expired, action_type=ActionType.EXPIRED, completed_at=timezone.now()
    )
    assert retire_expired_pii_task.delay().get() == 1
    expired.refresh_from_db()
    assert expired.learner_email.startswith("retired_user") and expired.learner_email.endswith("@retired.invalid")
    emails = set(LearnerContentAssignment.history.filter(id=expired.pk).values_list("learner_email", flat=True))
    assert emails == {expired.learner_email}


def test_the_send_task_reports_counts(smtp_settings, configuration):  # noqa: F811
    sent = make_assignment(configuration, "sent@example.com")
    refused = make_assignment(configuration, "refused@example.com")
    skipped = make_assignment(configuration, "skipped@example.com", state=AssignmentState.CANCELLED)
    smtp_settings.refuse("refused@example.com")
    result = send_emails_task.delay("notify", [sent.pk, refused.pk, skipped.pk, 10**9]).get()
    assert result == {"sent": 1, "failed": 1, "skipped": 2}
    assert [action.action_type for action in actions_of(sent)] == [ActionType.NOTIFIED]


def test_the_send_task_refuses_an_unknown_kind(db):
    with pytest.raises(InvalidInput):
        send_emails_task.delay("shout", [1])
