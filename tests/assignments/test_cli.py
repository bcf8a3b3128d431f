"""``rollbook assignments expire | retire-pii | nudge --days N``."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rollbook.assignments.data import ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignmentAction
from rollbook.budgets.data import AccessMethod
from tests.assignments.test_notifications import actions_of, configuration, make_assignment  # noqa: F401
from tests.budgets.conftest import make_budget
from tests.enterprise.conftest import DATA_KEY


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("assignments", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_expire_prints_how_many_it_expired(configuration, django_capture_on_commit_callbacks):  # noqa: F811
    due = make_assignment(configuration, "due@example.com", allocated_at=timezone.now() - timedelta(days=91))
    fresh = make_assignment(configuration, "fresh@example.com", content_key=DATA_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = run("expire")
    assert out.strip() == "Expired 1 assignment(s)."
    due.refresh_from_db()
    fresh.refresh_from_db()
    assert (due.state, fresh.state) == (AssignmentState.EXPIRED, AssignmentState.ALLOCATED)
    assert [message.to for message in mail.outbox] == [["due@example.com"]]
    assert run("expire")[0].strip() == "Expired 0 assignment(s)."


def test_retire_pii_prints_how_many_it_retired(configuration):  # noqa: F811
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
    out, _ = run("retire-pii")
    assert out.strip() == "Retired the email address of 1 expired assignment(s)."
    expired.refresh_from_db()
    assert expired.learner_email.endswith("@retired.invalid")
    assert run("retire-pii")[0].strip() == "Retired the email address of 0 expired assignment(s)."


@pytest.fixture
def soon_run(make_run):
    now = timezone.now()
    return make_run("course-v1:EntU+Soon+2031", start=now + timedelta(days=14), end=now + timedelta(days=90))


@pytest.fixture
def later_run(make_run):
    now = timezone.now()
    return make_run("course-v1:EntU+Later+2031", start=now + timedelta(days=15), end=now + timedelta(days=90))


def test_nudge_emails_accepted_learners_across_configurations(
    configuration,  # noqa: F811
    acme_catalog,
    soon_run,
    later_run,
    django_capture_on_commit_callbacks,
):
    other = make_budget(acme_catalog.customer, acme_catalog, access_method=AccessMethod.ASSIGNED)
    soon_key, later_key = str(soon_run.course_key), str(later_run.course_key)
    accepted = AssignmentState.ACCEPTED
    first = make_assignment(configuration, "first@example.com", state=accepted, content_key=soon_key)
    second = make_assignment(other.assignment_configuration, "second@example.com", state=accepted, content_key=soon_key)
    by_course = make_assignment(
        configuration, "course@example.com", state=accepted, content_key="EntU+Soon", preferred_course_run_key=soon_key
    )
    not_yet = make_assignment(configuration, "allocated@example.com", content_key=soon_key)
    other_day = make_assignment(configuration, "later@example.com", state=accepted, content_key=later_key)

    with django_capture_on_commit_callbacks(execute=True):
        out, err = run("nudge", "--days", "14")

    assert out.strip() == "Nudged 3 assignment(s) whose run starts in 14 day(s); 0 not nudged."
    assert err == ""
    assert sorted(message.to[0] for message in mail.outbox) == [
        "course@example.com",
        "first@example.com",
        "second@example.com",
    ]
    for nudged in (first, second, by_course):
        assert [action.action_type for action in actions_of(nudged)] == [ActionType.NUDGED]
    assert actions_of(not_yet) == [] and actions_of(other_day) == []


def test_nudge_defaults_to_30_days_and_says_when_nothing_starts(db):
    out, _ = run("nudge")
    assert out.strip() == "Nudged 0 assignment(s) whose run starts in 30 day(s); 0 not nudged."


@pytest.mark.parametrize("days", ["0", "-3"])
def test_nudge_refuses_days_below_one(db, days):
    with pytest.raises(CommandError, match="1 or more"):
        run("nudge", "--days", days)


def test_an_unknown_or_missing_subcommand_is_an_error(db):
    with pytest.raises(CommandError):
        run("explode")
    with pytest.raises(CommandError):
        run()
