"""The administrators' view (``admin_assignments``, ``filtered_assignments``, ``learner_state_counts``): the
learner state, its sort order, the recent action and the error reason computed in one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionError, ActionType, AssignmentState
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.core.errors import InvalidInput
from tests.assignments.conftest import DATA_KEY, PRICE, PYTHON_KEY, make_budget

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget(acme, acme_catalog):
    return make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=1_000_000)


@pytest.fixture
def configuration(budget):
    return budget.assignment_configuration


@pytest.fixture
def assign(budget):
    def _assign(email: str, key: str = PYTHON_KEY, state: AssignmentState = AssignmentState.ALLOCATED):
        result = api.allocate(budget, [email], key, PRICE)
        row = LearnerContentAssignment.objects.get(uuid=result.created[0])
        if state != AssignmentState.ALLOCATED:
            LearnerContentAssignment.objects.filter(pk=row.pk).update(state=state.value, accepted_at=timezone.now())
            row.refresh_from_db()
        return row

    return _assign


def act(assignment, action_type: ActionType, *, error: ActionError | None = None, at=None):
    """An action as the email task or the lifecycle records it; ``at`` moves its creation (and completion)."""
    when = at or timezone.now()
    action = LearnerContentAssignmentAction.objects.create(
        assignment=assignment,
        action_type=action_type.value,
        completed_at=None if error else when,
        error_reason=error.value if error else None,
    )
    LearnerContentAssignmentAction.objects.filter(pk=action.pk).update(created=when)
    return action


def view(configuration) -> dict[str, LearnerContentAssignment]:
    return {row.learner_email: row for row in api.admin_assignments(configuration)}


def test_learner_states_and_their_sort_order(configuration, assign):
    notifying = assign("notifying@example.com")
    waiting = assign("waiting@example.com")
    act(waiting, ActionType.NOTIFIED)
    failed_email = assign("failed-email@example.com")
    act(failed_email, ActionType.NOTIFIED, error=ActionError.EMAIL_ERROR)
    retried = assign("retried@example.com")
    act(retried, ActionType.NOTIFIED, error=ActionError.EMAIL_ERROR)
    act(retried, ActionType.NOTIFIED)
    assign("expired@example.com", state=AssignmentState.EXPIRED)
    assign("errored@example.com", state=AssignmentState.ERRORED)
    for state in (AssignmentState.ACCEPTED, AssignmentState.CANCELLED, AssignmentState.REVERSED):
        assign(f"{state}@example.com", state=state)
    assert notifying.actions.count() == 0

    rows = view(configuration)
    expected = {
        "notifying@example.com": ("notifying", 0),
        "waiting@example.com": ("waiting", 1),
        "failed-email@example.com": ("failed", 3),
        "retried@example.com": ("waiting", 1),
        "expired@example.com": ("expired", 2),
        "errored@example.com": ("failed", 3),
        "accepted@example.com": (None, 999),
        "cancelled@example.com": (None, 999),
        "reversed@example.com": (None, 999),
    }
    assert {email: (row.learner_state, row.learner_state_sort_order) for email, row in rows.items()} == expected
    ordered = api.admin_assignments(configuration).order_by("learner_state_sort_order", "id")
    assert [row.learner_state for row in ordered][:5] == ["notifying", "waiting", "waiting", "expired", "failed"]


def test_only_actions_since_the_latest_allocation_count(budget, configuration, assign):
    row = assign("ann@example.com")
    before = timezone.now() - timedelta(days=5)
    LearnerContentAssignment.objects.filter(pk=row.pk).update(
        state=AssignmentState.CANCELLED.value, allocated_at=before - timedelta(days=1)
    )
    act(row, ActionType.NOTIFIED, at=before)
    act(row, ActionType.REMINDED, at=before)
    act(row, ActionType.NOTIFIED, error=ActionError.EMAIL_ERROR, at=before)
    api.allocate(budget, ["ann@example.com"], PYTHON_KEY, PRICE)  # re-allocated now

    again = view(configuration)["ann@example.com"]
    assert again.learner_state == "notifying"  # the old notification was for the old allocation
    assert again.recent_action == "assigned"
    assert again.error_reason is None


def test_recent_action_is_the_newest_successful_reminder_after_allocation(configuration, assign):
    row = assign("ann@example.com")
    plain = view(configuration)["ann@example.com"]
    assert (plain.recent_action, plain.recent_action_time) == ("assigned", row.allocated_at)

    act(row, ActionType.REMINDED, error=ActionError.EMAIL_ERROR)  # a failed reminder is no reminder
    assert view(configuration)["ann@example.com"].recent_action == "assigned"

    first = act(row, ActionType.REMINDED, at=timezone.now() + timedelta(seconds=1))
    latest = act(row, ActionType.REMINDED, at=timezone.now() + timedelta(seconds=2))
    reminded = view(configuration)["ann@example.com"]
    assert reminded.recent_action == "reminded"
    assert reminded.recent_action_time == latest.completed_at != first.completed_at


def test_error_reason_is_the_newest_failures(configuration, assign):
    row = assign("ann@example.com")
    act(row, ActionType.NOTIFIED, error=ActionError.EMAIL_ERROR, at=timezone.now() + timedelta(seconds=1))
    act(row, ActionType.REDEEMED, error=ActionError.ENROLLMENT_ERROR, at=timezone.now() + timedelta(seconds=2))
    act(row, ActionType.NOTIFIED, at=timezone.now() + timedelta(seconds=3))  # a later success does not hide it
    assert view(configuration)["ann@example.com"].error_reason == "enrollment_error"
    assert view(configuration)["ann@example.com"].learner_state == "waiting"


def test_the_view_and_the_counts_are_one_query_each_whatever_the_number_of_rows(
    budget, configuration, assign, django_assert_num_queries
):
    def measure() -> None:
        with django_assert_num_queries(1):
            rows = list(api.admin_assignments(configuration).order_by("learner_state_sort_order", "-id")[:100])
        assert all(row.recent_action for row in rows)
        with django_assert_num_queries(1):
            api.learner_state_counts(api.admin_assignments(configuration))

    assign("one@example.com")
    measure()
    result = api.allocate(budget, [f"l{i}@example.com" for i in range(2)], DATA_KEY, PRICE)
    for assignment in LearnerContentAssignment.objects.filter(uuid__in=result.created):
        act(assignment, ActionType.NOTIFIED)
        act(assignment, ActionType.REMINDED)
    measure()


def test_learner_state_counts(configuration, assign):
    assign("a@example.com")
    assign("b@example.com")
    waiting = assign("c@example.com")
    act(waiting, ActionType.NOTIFIED)
    assign("d@example.com", state=AssignmentState.ERRORED)
    assign("e@example.com", state=AssignmentState.ACCEPTED)
    queryset = api.admin_assignments(configuration)
    assert api.learner_state_counts(queryset) == [
        {"learner_state": "notifying", "count": 2},
        {"learner_state": "failed", "count": 1},
        {"learner_state": "waiting", "count": 1},
    ]
    narrowed = api.filtered_assignments(configuration, {"learner_email": "A@EXAMPLE.COM"})
    assert api.learner_state_counts(narrowed) == [{"learner_state": "notifying", "count": 1}]


def test_filters(configuration, assign, make_user):
    zed = make_user("zed", email="zed@example.com")
    python = assign("zed@example.com")
    data = assign("Yan@Example.com", DATA_KEY)
    errored = assign("xia@example.com", state=AssignmentState.ERRORED)
    accepted = assign("wu@example.com", state=AssignmentState.ACCEPTED)

    def found(**filters) -> set:
        return set(api.filtered_assignments(configuration, filters))

    assert found() == {python, data, errored, accepted}
    assert found(content_key=DATA_KEY) == {data}
    assert found(learner_email=" yan@EXAMPLE.com ") == {data}
    assert found(lms_user_id=zed.pk) == {python} == found(lms_user_id=str(zed.pk))
    assert found(state="errored") == {errored}
    assert found(state__in=["errored", "accepted"]) == {errored, accepted} == found(state__in="errored,accepted")
    assert found(learner_state="notifying") == {python, data}
    assert found(learner_state__in=["failed", "waiting"]) == {errored}
    assert found(search="YAN") == {data}
    assert found(search="python") == {python, errored, accepted}  # the content title
    assert found(search="", content_key=None, page="2", ordering="x") == {python, data, errored, accepted}
    for bad in ({"state": "lost"}, {"learner_state__in": ["waiting", "gone"]}, {"lms_user_id": "me"}):
        with pytest.raises(InvalidInput) as excinfo:
            api.filtered_assignments(configuration, bad)
        assert list(excinfo.value.errors) == list(bad)


def test_another_configurations_assignments_never_show(acme, acme_catalog, configuration, assign):
    assign("mine@example.com")
    other = make_budget(acme, acme_catalog, access_method="assigned")
    api.allocate(other, ["theirs@example.com"], PYTHON_KEY, PRICE)
    assert list(view(configuration)) == ["mine@example.com"]
