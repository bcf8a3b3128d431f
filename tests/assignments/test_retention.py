"""PII retirement of assignments: expired ones (the daily job) and a retired account's, in live and history
rows, each with its own ``retired_user<16 hex>@retired.invalid``."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionError, ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.identity import api as identity_api
from tests.assignments.conftest import DATA_KEY, PRICE, PYTHON_KEY, make_budget

pytestmark = pytest.mark.django_db

RETIRED = re.compile(r"^retired_user[0-9a-f]{16}@retired\.invalid$")
DAY = timedelta(days=1)


@pytest.fixture
def budget(acme, acme_catalog):
    return make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=10_000_000)


def expired_long_ago(budget, emails: list[str], *, days_ago: float = 2) -> list[LearnerContentAssignment]:
    """Assignments expired by ``expire_due`` (90 days passed) ``days_ago`` days ago."""
    result = api.allocate(budget, emails, PYTHON_KEY, PRICE)
    rows = LearnerContentAssignment.objects.filter(uuid__in=result.created)
    rows.update(allocated_at=timezone.now() - timedelta(days=91))
    assert api.expire_due() == len(emails)
    rows.update(expired_at=timezone.now() - timedelta(days=days_ago))
    LearnerContentAssignmentAction.objects.filter(assignment__in=rows).update(
        created=timezone.now() - timedelta(days=days_ago)
    )
    return list(rows.order_by("id"))


def emails_everywhere(row: LearnerContentAssignment) -> set[str]:
    """Every email the assignment's live and history rows hold (both columns)."""
    row.refresh_from_db()
    found = {row.learner_email, row.learner_email_normalized}
    for email, normalized in row.history.values_list("learner_email", "learner_email_normalized"):
        found |= {email, normalized}
    return found


def test_expired_assignments_lose_their_email_in_live_and_history_rows(budget):
    rows = expired_long_ago(budget, ["Ann@Example.com", "bob@example.com"])
    assert rows[0].history.count() >= 2

    assert api.retire_expired_pii() == 2

    retired = []
    for row in rows:
        (email,) = emails_everywhere(row)
        assert RETIRED.match(email)
        retired.append(email)
        assert row.history.first().history_type == "~"
        assert row.state == AssignmentState.EXPIRED
    assert retired[0] != retired[1]  # unique per assignment (ENT-8574)
    assert api.retire_expired_pii() == 0  # nothing twice
    assert {emails_everywhere(row).pop() for row in rows} == set(retired)


def test_only_ninety_day_expiries_whose_email_went_and_that_are_a_day_old(budget):
    kept = expired_long_ago(budget, ["recent@example.com"], days_ago=0.5)
    failed = expired_long_ago(budget, ["failed@example.com"])
    LearnerContentAssignmentAction.objects.create(
        assignment=failed[0], action_type=ActionType.EXPIRED.value, error_reason=ActionError.EMAIL_ERROR.value
    )
    other_reason = expired_long_ago(budget, ["other@example.com"])
    LearnerContentAssignment.objects.filter(pk=other_reason[0].pk).update(
        expiry_reason=ExpiryReason.ENROLLMENT_DATE_PASSED.value
    )
    allocated = api.allocate(budget, ["allocated@example.com"], DATA_KEY, PRICE).created

    assert api.retire_expired_pii() == 0
    for email in ("recent@example.com", "failed@example.com", "other@example.com", "allocated@example.com"):
        assert LearnerContentAssignment.objects.filter(learner_email=email).exists()
    assert allocated
    # a day later the recent one goes too
    assert api.retire_expired_pii(now=timezone.now() + DAY) == 1
    assert RETIRED.match(emails_everywhere(kept[0]).pop())


def test_a_failure_of_an_earlier_expiry_does_not_keep_the_email(budget):
    (row,) = expired_long_ago(budget, ["ann@example.com"])
    earlier = LearnerContentAssignmentAction.objects.create(
        assignment=row, action_type=ActionType.EXPIRED.value, error_reason=ActionError.EMAIL_ERROR.value
    )
    LearnerContentAssignmentAction.objects.filter(pk=earlier.pk).update(created=timezone.now() - timedelta(days=300))
    assert api.retire_expired_pii() == 1


def test_retirement_costs_a_constant_number_of_statements_per_batch(budget, settings):
    settings.BULK_BATCH_SIZE = 500
    expired_long_ago(budget, [f"a{i}@example.com" for i in range(3)])
    with CaptureQueriesContext(connection) as few:
        assert api.retire_expired_pii() == 3
    expired_long_ago(budget, [f"b{i}@example.com" for i in range(200)])
    with CaptureQueriesContext(connection) as many:
        assert api.retire_expired_pii() == 200
    assert len(few) == len(many)


def test_retiring_an_account_retires_its_assignments_emails(budget, acme_learner):
    api.allocate(budget, [acme_learner.email], PYTHON_KEY, PRICE)
    linked = LearnerContentAssignment.objects.get(user=acme_learner)
    unlinked = LearnerContentAssignment.objects.get(
        uuid=api.allocate(budget, [acme_learner.email.upper()], DATA_KEY, PRICE).created[0]
    )
    LearnerContentAssignment.objects.filter(pk=unlinked.pk).update(user=None)
    other = LearnerContentAssignment.objects.get(
        uuid=api.allocate(budget, ["someone@example.com"], PYTHON_KEY, PRICE).created[0]
    )

    identity_api.retire_user(acme_learner)

    for row in (linked, unlinked):
        (email,) = emails_everywhere(row)
        assert RETIRED.match(email)
    assert emails_everywhere(other) == {"someone@example.com"}
    assert api.retire_learner_pii(acme_learner.pk) == 0  # idempotent
