"""The assignments app's reactions to other apps' events (``assignments.signals``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionType, AssignmentState
from rollbook.assignments.models import AssignmentConfiguration, LearnerContentAssignment
from rollbook.budgets import api as budgets_api
from rollbook.enrollments import api as enrollments_api
from tests.assignments.conftest import PRICE, PYTHON_KEY

pytestmark = pytest.mark.django_db


def new_budget(customer, catalog, access_method: str):
    now = timezone.now()
    return budgets_api.create_budget(
        customer,
        catalog=catalog,
        title=f"{access_method} budget",
        spend_limit_cents=50_000,
        start=now - timedelta(days=1),
        expiration=now + timedelta(days=100),
        access_method=access_method,
    )


def test_an_assigned_budget_gets_its_configuration_with_it(acme, acme_catalog):
    assigned = new_budget(acme, acme_catalog, "assigned")
    configuration = AssignmentConfiguration.objects.get(budget=assigned)
    assert configuration.customer == acme and configuration.active
    assert api.ensure_configuration(assigned) == configuration


def test_a_direct_budget_gets_none(acme, acme_catalog):
    direct = new_budget(acme, acme_catalog, "direct")
    assert not AssignmentConfiguration.objects.filter(budget=direct).exists()


def test_an_unenrollment_refunded_by_the_ledger_reverses_the_assignment(
    acme_assigned_budget, acme_learner, django_capture_on_commit_callbacks
):
    api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, PRICE)
    api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    row = LearnerContentAssignment.objects.get(user=acme_learner)
    assert row.state == AssignmentState.REVERSED
    assert row.actions.filter(action_type=ActionType.REVERSED).count() == 1
    assert budgets_api.spend(acme_assigned_budget).spent_cents == 0
