"""The assignments admin: configurations, assignments and actions are read-only and never deleted; the cancel
and remind actions go through ``assignments.api`` (state rules, action rows, emails); pages show what the
customer's administrators see (learner state, recent action, earliest expiration) without a query per row."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse

from rollbook.assignments import api
from rollbook.assignments.admin import dollars
from rollbook.assignments.data import ActionType, AssignmentState
from rollbook.assignments.models import (
    AssignmentConfiguration,
    LearnerContentAssignment,
    LearnerContentAssignmentAction,
)
from tests.budgets.conftest import PRICE, make_budget
from tests.enterprise.conftest import PYTHON_KEY

EMAILS = ["Ann@Acme.example", "ben@acme.example", "cleo@acme.example"]


@pytest.fixture
def admin_browser(make_user) -> Client:
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))
    return browser


@pytest.fixture
def configuration(acme_assigned_budget) -> AssignmentConfiguration:
    return acme_assigned_budget.assignment_configuration


@pytest.fixture
def allocated(acme_assigned_budget, acme_admin) -> list[LearnerContentAssignment]:
    """Three allocated assignments of the Python run (emails as in ``EMAILS``), in that order."""
    api.allocate(acme_assigned_budget, EMAILS, PYTHON_KEY, PRICE, acme_admin)
    return [LearnerContentAssignment.objects.get(learner_email=email) for email in EMAILS]


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def act(browser: Client, action: str, rows) -> list[str]:
    response = browser.post(
        url(LearnerContentAssignment, "changelist"),
        {"action": action, "_selected_action": [row.pk for row in rows]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def states(rows) -> list[str]:
    return [LearnerContentAssignment.objects.get(pk=row.pk).state for row in rows]


# --- read-only, never deleted ------------------------------------------------------------------------


@pytest.mark.parametrize("model", [AssignmentConfiguration, LearnerContentAssignment, LearnerContentAssignmentAction])
def test_nothing_is_added_or_deleted_in_the_admin(admin_browser, allocated, model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.remind(allocated[0].configuration, [allocated[0].uuid])  # so that there are actions
    row = model.objects.order_by("pk").first()
    assert row is not None

    assert admin_browser.get(url(model, "add")).status_code == 403
    assert admin_browser.get(url(model, "delete", row.pk)).status_code == 403
    change = admin_browser.get(url(model, "change", row.pk))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert admin_browser.get(url(model, "history", row.pk)).status_code == 200
    changelist = admin_browser.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()


def test_posting_a_change_form_changes_nothing(admin_browser, allocated):
    assignment = allocated[0]

    admin_browser.post(
        url(LearnerContentAssignment, "change", assignment.pk),
        {"state": "accepted", "learner_email": "someone@else.example", "content_quantity": "-1"},
    )

    assignment.refresh_from_db()
    assert (assignment.state, assignment.learner_email, assignment.content_quantity) == (
        AssignmentState.ALLOCATED,
        "Ann@Acme.example",
        -PRICE,
    )


# --- actions through the api --------------------------------------------------------------------------


def test_cancel_goes_through_the_api_and_reports_refusals(
    admin_browser, allocated, acme_assigned_budget, acme_learner, acme_admin
):
    api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, PRICE, acme_admin)
    api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    accepted = LearnerContentAssignment.objects.get(user=acme_learner)

    messages = act(admin_browser, "cancel", [allocated[0], allocated[1], accepted])

    assert "2 assignment(s) cancelled." in messages
    assert any(message.startswith("1 refused") and str(accepted.uuid) in message for message in messages)
    assert states([*allocated, accepted]) == ["cancelled", "cancelled", "allocated", "accepted"]
    cancelled = LearnerContentAssignment.objects.get(pk=allocated[0].pk)
    assert cancelled.cancelled_at is not None
    assert cancelled.history.count() >= 2  # allocated, then cancelled


def test_cancel_emails_the_learners_after_commit(admin_browser, allocated, django_capture_on_commit_callbacks):
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_browser, "cancel", allocated[:1])

    assert [message.to for message in mail.outbox] == [["Ann@Acme.example"]]
    assert LearnerContentAssignmentAction.objects.filter(
        assignment=allocated[0], action_type=ActionType.CANCELLED
    ).exists()


def test_remind_emails_allocated_assignments_and_refuses_others(
    admin_browser, allocated, django_capture_on_commit_callbacks
):
    api.cancel(allocated[2].configuration, [allocated[2].uuid])
    mail.outbox = []

    with django_capture_on_commit_callbacks(execute=True):
        messages = act(admin_browser, "remind", allocated)

    assert "2 assignment(s) reminded." in messages
    assert any(message.startswith("1 refused") for message in messages)
    assert sorted(recipient for message in mail.outbox for recipient in message.to) == [
        "Ann@Acme.example",
        "ben@acme.example",
    ]
    reminded = LearnerContentAssignmentAction.objects.filter(
        action_type=ActionType.REMINDED, completed_at__isnull=False
    )
    assert sorted(reminded.values_list("assignment_id", flat=True)) == sorted([allocated[0].pk, allocated[1].pk])


def test_actions_span_configurations(admin_browser, allocated, acme_catalog, acme_admin):
    other = make_budget(acme_catalog.customer, acme_catalog, spend_limit_cents=20_000, access_method="assigned")
    api.allocate(other, ["dora@acme.example"], PYTHON_KEY, PRICE, acme_admin)
    dora = LearnerContentAssignment.objects.get(learner_email="dora@acme.example")

    messages = act(admin_browser, "cancel", [allocated[0], dora])

    assert "2 assignment(s) cancelled." in messages
    assert states([allocated[0], dora]) == ["cancelled", "cancelled"]


# --- what the pages show -------------------------------------------------------------------------------


def test_the_assignment_page_shows_the_admin_view_and_its_actions(
    admin_browser, acme_assigned_budget, acme_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api.allocate(acme_assigned_budget, ["ben@acme.example"], PYTHON_KEY, PRICE, acme_admin)
    assignment = LearnerContentAssignment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        api.remind(assignment.configuration, [assignment.uuid])

    page = admin_browser.get(url(LearnerContentAssignment, "change", assignment.pk)).content.decode()

    annotated = api.admin_assignments(assignment.configuration).get(pk=assignment.pk)
    expiration = api.earliest_expiration(assignment)
    assert annotated.learner_state == "waiting"
    assert "learner state: waiting" in page
    assert "recent action: reminded" in page
    assert f"expires {expiration.date:%Y-%m-%d} ({expiration.reason})" in page
    assert dollars(PRICE) in page
    inline = page[page.index('id="actions-group"') :]
    assert inline.index("notified") < inline.index("reminded")  # the action rows, oldest first


def test_the_configuration_page_counts_assignments_and_allocated_money(
    admin_browser, allocated, configuration, acme_assigned_budget
):
    api.cancel(configuration, [allocated[0].uuid])

    listed = admin_browser.get(url(AssignmentConfiguration, "changelist")).content.decode()
    page = admin_browser.get(url(AssignmentConfiguration, "change", configuration.pk)).content.decode()

    assert str(configuration.uuid) in listed
    assert "2 allocated, 0 accepted, 1 cancelled" in page
    assert f"{dollars(api.allocated_cents(acme_assigned_budget))} of the budget held" in page
    assert dollars(2 * PRICE) in page
    assert f"configuration__id__exact={configuration.pk}" in page


def test_search_matches_emails_ignoring_case(admin_browser, allocated):
    found = admin_browser.get(url(LearnerContentAssignment, "changelist"), {"q": "ANN@acme"}).content.decode()
    assert "Ann@Acme.example" in found
    assert "ben@acme.example" not in found


def test_the_assignment_list_does_not_query_per_row(
    admin_browser, acme_catalog, acme_admin, django_assert_max_num_queries
):
    budget = make_budget(acme_catalog.customer, acme_catalog, spend_limit_cents=1_000_000, access_method="assigned")
    api.allocate(budget, [f"learner{n}@acme.example" for n in range(3)], PYTHON_KEY, PRICE, acme_admin)
    admin_browser.get(url(LearnerContentAssignment, "changelist"))
    with django_assert_max_num_queries(12) as few:
        admin_browser.get(url(LearnerContentAssignment, "changelist"))
    api.allocate(budget, [f"learner{n}@acme.example" for n in range(3, 30)], PYTHON_KEY, PRICE, acme_admin)

    with django_assert_max_num_queries(len(few.captured_queries)):
        page = admin_browser.get(url(LearnerContentAssignment, "changelist"))

    assert page.content.decode().count("@acme.example") >= 30
