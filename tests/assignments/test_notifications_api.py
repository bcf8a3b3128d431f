"""The assignments api's operations email through a REAL SMTP server (aiosmtpd, see ``test_notifications``):
allocate, remind, cancel, expire_due and nudge each send their email after the commit, with the actions the
api and the email task record between them, and a retired address is never emailed."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionError, ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.assignments.notifications import EmailKind, queue_emails
from tests.assignments.test_notifications import (  # noqa: F401  (fixtures)
    actions_of,
    configuration,
    make_assignment,
    smtp_server,
    smtp_settings,
)
from tests.budgets.conftest import PRICE
from tests.enterprise.conftest import DATA_KEY, PYTHON_KEY


def action_types(assignment) -> list[tuple[str, str | None]]:
    return [(action.action_type, action.error_reason) for action in actions_of(assignment)]


def by_uuid(assignment_uuid) -> LearnerContentAssignment:
    return LearnerContentAssignment.objects.get(uuid=assignment_uuid)


def test_allocate_notifies_new_learners_once(
    smtp_settings,  # noqa: F811
    acme_assigned_budget,
    acme_admin,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        result = api.allocate(
            acme_assigned_budget, ["Ada@Example.com", "ada@example.COM"], PYTHON_KEY, PRICE, acme_admin
        )
    (created,) = result.created
    (message,) = smtp_settings.messages
    assert message["To"] == "Ada@Example.com"
    assert message["Subject"].startswith("Acme Corp assigned you ")
    assert "$49.00" in message.get_body(("plain",)).get_content()
    assert action_types(by_uuid(created)) == [(ActionType.NOTIFIED, None)]

    with django_capture_on_commit_callbacks(execute=True):
        again = api.allocate(acme_assigned_budget, ["ADA@example.com"], PYTHON_KEY, PRICE, acme_admin)
    assert again.no_change == (created,)
    assert len(smtp_settings.messages) == 1  # allocated already: no second email


def test_remind_and_a_refused_reminder(
    smtp_settings,  # noqa: F811
    configuration,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    good = make_assignment(configuration, "good@example.com")
    bad = make_assignment(configuration, "bad@example.com")
    smtp_settings.refuse("bad@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        result = api.remind(configuration, [good.uuid, bad.uuid])
    assert set(result.done) == {good.uuid, bad.uuid}
    (message,) = smtp_settings.messages
    assert message["To"] == "good@example.com" and message["Subject"].startswith("Reminder: ")
    assert action_types(good) == [(ActionType.REMINDED, None)]
    assert action_types(bad) == [(ActionType.REMINDED, ActionError.EMAIL_ERROR)]
    bad.refresh_from_db()
    assert bad.state == AssignmentState.ALLOCATED


def test_cancel_emails_once_and_a_failed_cancel_email_keeps_it_cancelled(
    smtp_settings,  # noqa: F811
    configuration,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    good = make_assignment(configuration, "good@example.com")
    bad = make_assignment(configuration, "bad@example.com")
    smtp_settings.refuse("bad@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        api.cancel(configuration, [good.uuid, bad.uuid])
    (message,) = smtp_settings.messages
    assert message["To"] == "good@example.com" and "was cancelled" in message["Subject"]
    assert action_types(good) == [(ActionType.CANCELLED, None)]  # one action: the api's, not one more per email
    assert action_types(bad) == [(ActionType.CANCELLED, None), (ActionType.CANCELLED, ActionError.EMAIL_ERROR)]
    bad.refresh_from_db()
    assert bad.state == AssignmentState.CANCELLED


def test_expire_due_emails_the_learners(
    smtp_settings,  # noqa: F811
    configuration,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    due = make_assignment(configuration, "due@example.com", allocated_at=timezone.now() - timedelta(days=91))
    fresh = make_assignment(configuration, "fresh@example.com", content_key=DATA_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.expire_due() == 1
    (message,) = smtp_settings.messages
    assert message["To"] == "due@example.com"
    assert "has expired" in message["Subject"]
    assert "not accepted within 90 days" in message.get_body(("plain",)).get_content()
    due.refresh_from_db()
    assert (due.state, due.expiry_reason) == (AssignmentState.EXPIRED, ExpiryReason.NINETY_DAYS_PASSED)
    assert action_types(due) == [(ActionType.EXPIRED, None)]
    assert actions_of(fresh) == []


def test_nudge_emails_accepted_learners_whose_run_starts_in_that_many_days(
    smtp_settings,  # noqa: F811
    configuration,  # noqa: F811
    make_run,
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    run = make_run("course-v1:EntU+Soon+2031", start=now + timedelta(days=14), end=now + timedelta(days=90))
    soon = make_assignment(
        configuration, "soon@example.com", state=AssignmentState.ACCEPTED, content_key=str(run.course_key)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = api.nudge(configuration, [soon.uuid], 14)
    assert result.done == (soon.uuid,)
    (message,) = smtp_settings.messages
    assert message["To"] == "soon@example.com" and message["Subject"].endswith("starts in 14 days")
    assert action_types(soon) == [(ActionType.NUDGED, None)]


def test_an_email_queued_before_pii_retirement_is_not_sent_to_the_retired_address(
    smtp_settings,  # noqa: F811
    configuration,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    expired = make_assignment(
        configuration,
        "gone@example.com",
        state=AssignmentState.EXPIRED,
        expired_at=timezone.now() - timedelta(days=2),
    )
    LearnerContentAssignmentAction.objects.create(
        assignment=expired, action_type=ActionType.EXPIRED, completed_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue_emails(EmailKind.EXPIRE, [expired.pk])  # queued (say, a retry), not yet sent
    assert api.retire_expired_pii() == 1
    expired.refresh_from_db()
    assert expired.learner_email.endswith("@retired.invalid")
    for callback in callbacks:
        callback()
    assert smtp_settings.messages == []
    assert action_types(expired) == [(ActionType.EXPIRED, None)]  # nothing recorded for the skipped email
