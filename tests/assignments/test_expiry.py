"""When allocated assignments expire (the earliest of three dates) and the daily ``expire_due`` job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignment
from rollbook.catalog import api as catalog_api
from tests.assignments.conftest import DATA_KEY, PRICE, PYTHON_KEY, make_budget

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def budget(acme, acme_catalog):
    return make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=10_000_000)


def allocate(budget, emails, key=PYTHON_KEY) -> list[LearnerContentAssignment]:
    result = api.allocate(budget, emails, key, PRICE)
    return list(LearnerContentAssignment.objects.filter(uuid__in=result.created).order_by("id"))


def age(rows, days: float) -> None:
    """Move the allocation of these assignments ``days`` into the past."""
    LearnerContentAssignment.objects.filter(pk__in=[row.pk for row in rows]).update(
        allocated_at=timezone.now() - timedelta(days=days)
    )
    for row in rows:
        row.refresh_from_db()


@pytest.fixture
def closing_run(make_run):
    """A run whose enrollment closes in 5 days."""
    return make_run("course-v1:EntU+Closing+2030", enrollment_end=timezone.now() + 5 * DAY)


# --- the earliest expiration ---------------------------------------------------------------------------


def test_ninety_days_after_allocation_when_nothing_comes_sooner(budget):
    (row,) = allocate(budget, ["ann@example.com"])
    expiration = api.earliest_expiration(row)
    assert expiration.reason == ExpiryReason.NINETY_DAYS_PASSED
    assert expiration.date == row.allocated_at + timedelta(days=90)


def test_the_enroll_by_date_of_the_preferred_run_when_sooner(budget, closing_run):
    (row,) = allocate(budget, ["ann@example.com"], str(closing_run.course_key))
    expiration = api.earliest_expiration(row)
    assert expiration.reason == ExpiryReason.ENROLLMENT_DATE_PASSED
    assert expiration.date == catalog_api.enroll_by_date(closing_run)


def test_the_upgrade_deadline_of_the_paid_mode_bounds_the_enroll_by_date(budget):
    (row,) = allocate(budget, ["ann@example.com"])
    deadline = timezone.now() + 3 * DAY
    catalog_api.set_course_mode(PYTHON_KEY, "verified", price_cents=PRICE, upgrade_deadline=deadline)
    assert api.earliest_expiration(row).date == deadline


def test_the_budgets_expiration_when_sooner(acme, acme_catalog):
    soon = timezone.now() + 2 * DAY
    budget = make_budget(acme, acme_catalog, access_method="assigned", expiration=soon)
    (row,) = allocate(budget, ["ann@example.com"])
    assert api.earliest_expiration(row).reason == ExpiryReason.SUBSIDY_EXPIRED
    assert api.earliest_expiration(row).date == soon


def test_earliest_expirations_cost_the_same_for_many(budget, closing_run):
    few = allocate(budget, ["a@example.com"], str(closing_run.course_key))
    many = allocate(budget, [f"l{i}@example.com" for i in range(40)]) + allocate(
        budget, [f"m{i}@example.com" for i in range(40)], DATA_KEY
    )
    with CaptureQueriesContext(connection) as one:
        api.earliest_expirations(few)
    with CaptureQueriesContext(connection) as eighty:
        result = api.earliest_expirations(many)
    assert len(one) == len(eighty) <= 3
    assert {expiration.reason for expiration in result.values()} == {ExpiryReason.NINETY_DAYS_PASSED}


# --- expire_due --------------------------------------------------------------------------------------------


def test_expire_due_expires_what_is_due_for_each_reason(
    acme, acme_catalog, budget, closing_run, mailoutbox, django_capture_on_commit_callbacks
):
    old = allocate(budget, ["old@example.com"])
    age(old, 90.5)
    closing = allocate(budget, ["closing@example.com"], str(closing_run.course_key))
    ending_budget = make_budget(acme, acme_catalog, access_method="assigned", expiration=timezone.now() + 2 * DAY)
    ending = allocate(ending_budget, ["ending@example.com"])
    fresh = allocate(budget, ["fresh@example.com"])
    age(fresh, 80)
    cancelled = allocate(budget, ["cancelled@example.com"])
    age(cancelled, 200)
    api.cancel(budget.assignment_configuration, [cancelled[0].uuid])

    with django_capture_on_commit_callbacks(execute=True):
        assert api.expire_due() == 1
    assert [message.to for message in mailoutbox] == [["old@example.com"]]
    later = timezone.now() + 6 * DAY
    assert api.expire_due(now=later) == 2

    expected = {
        old[0].pk: ExpiryReason.NINETY_DAYS_PASSED,
        closing[0].pk: ExpiryReason.ENROLLMENT_DATE_PASSED,
        ending[0].pk: ExpiryReason.SUBSIDY_EXPIRED,
    }
    for pk, reason in expected.items():
        row = LearnerContentAssignment.objects.get(pk=pk)
        assert row.state == AssignmentState.EXPIRED and row.expiry_reason == reason and row.expired_at is not None
        assert [a.action_type for a in row.actions.all()] == [ActionType.EXPIRED]
        assert row.history.first().state == AssignmentState.EXPIRED
    for row in (*fresh, *cancelled):
        assert LearnerContentAssignment.objects.get(pk=row.pk).state != AssignmentState.EXPIRED
    assert api.expire_due(now=later) == 0  # nothing twice
    assert api.allocated_cents(budget) == PRICE  # only "fresh" holds money now


def test_reminders_do_not_postpone_expiry(budget):
    (row,) = allocate(budget, ["ann@example.com"])
    age([row], 91)
    api.remind(budget.assignment_configuration, [row.uuid])
    assert api.expire_due() == 1


def test_a_reallocated_assignment_counts_from_its_new_allocation(budget):
    (row,) = allocate(budget, ["ann@example.com"])
    age([row], 91)
    api.expire_due()
    api.allocate(budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    assert api.expire_due() == 0
    row.refresh_from_db()
    assert row.state == AssignmentState.ALLOCATED and row.expiry_reason is None


def test_expire_due_costs_a_constant_number_of_statements_per_batch(budget, settings):
    settings.BULK_BATCH_SIZE = 500

    def measure(n: int, prefix: str) -> int:
        rows = allocate(budget, [f"{prefix}{i}@example.com" for i in range(n)])
        LearnerContentAssignment.objects.filter(pk__in=[row.pk for row in rows]).update(
            allocated_at=timezone.now() - 91 * DAY
        )
        with CaptureQueriesContext(connection) as queries:
            assert api.expire_due() == n
        return len(queries)

    assert measure(5, "a") == measure(300, "b")
