"""Learners' assignment endpoints: their own list (email matched ignoring case) and acknowledge-assignments,
with tenant isolation."""

from __future__ import annotations

import uuid

import pytest

from rollbook.assignments.data import ActionType, AssignmentState
from rollbook.assignments.models import LearnerContentAssignmentAction
from tests.assignments.test_rest_admin import add_action, make_assignment
from tests.enterprise.conftest import DATA_KEY


@pytest.fixture
def configuration(acme_assigned_budget):
    return acme_assigned_budget.assignment_configuration


def list_url(configuration) -> str:
    return f"/api/v1/assignment-configurations/{configuration.uuid}/assignments/"


def acknowledge_url(configuration) -> str:
    return f"/api/v1/assignment-configurations/{configuration.uuid}/acknowledge-assignments/"


@pytest.fixture
def mine(configuration, acme_learner):
    """The acme learner's assignments: one by account, one by email only (in another case), one cancelled."""
    by_user = make_assignment(configuration, acme_learner.email, user=acme_learner)
    by_email = make_assignment(configuration, acme_learner.email.upper(), content_key=DATA_KEY)
    cancelled = make_assignment(
        configuration, acme_learner.email, content_key="course-v1:EntU+PaidOnly+2030", state=AssignmentState.CANCELLED
    )
    add_action(cancelled, ActionType.CANCELLED)
    return {"by_user": by_user, "by_email": by_email, "cancelled": cancelled}


@pytest.fixture
def someone_elses(configuration, make_acme_learner):
    other = make_acme_learner("other-acme", licensed=False)
    row = make_assignment(configuration, other.email, user=other, state=AssignmentState.CANCELLED)
    add_action(row, ActionType.CANCELLED)
    return row


def test_learners_see_their_own_assignments_by_account_or_email_in_any_case(
    client_for, acme_learner, configuration, mine, someone_elses
):
    response = client_for(acme_learner).get(list_url(configuration))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert {item["uuid"] for item in body["results"]} == {str(row.uuid) for row in mine.values()}
    item = next(item for item in body["results"] if item["uuid"] == str(mine["cancelled"].uuid))
    assert item["learner_acknowledged"] is False
    assert [action["action_type"] for action in item["actions"]] == ["cancelled"]
    assert item["content_key"] == "course-v1:EntU+PaidOnly+2030"
    assert "learner_state" not in item


def test_acknowledge(client_for, acme_learner, configuration, mine):
    caller = client_for(acme_learner)
    body = {"assignment_uuids": [str(mine["cancelled"].uuid), str(mine["by_user"].uuid)]}

    first = caller.post(acknowledge_url(configuration), body, format="json")

    assert first.status_code == 201, first.content
    assert first.json()["acknowledged_assignments"] == [str(mine["cancelled"].uuid)]
    assert str(mine["by_user"].uuid) in first.json()["unacknowledged_assignments"]
    assert LearnerContentAssignmentAction.objects.filter(
        assignment=mine["cancelled"], action_type=ActionType.CANCELLED_ACKNOWLEDGED
    ).exists()

    again = caller.post(acknowledge_url(configuration), body, format="json")

    assert again.status_code == 200, again.content
    assert again.json()["already_acknowledged_assignments"] == [str(mine["cancelled"].uuid)]
    assert again.json()["acknowledged_assignments"] == []
    listed = caller.get(list_url(configuration)).json()["results"]
    assert {item["uuid"]: item["learner_acknowledged"] for item in listed}[str(mine["cancelled"].uuid)] is True


def test_acknowledging_nothing_of_ones_own_is_400(client_for, acme_learner, configuration, mine, someone_elses):
    actions = LearnerContentAssignmentAction.objects.count()

    response = client_for(acme_learner).post(
        acknowledge_url(configuration),
        {"assignment_uuids": [str(someone_elses.uuid), str(uuid.uuid4())]},
        format="json",
    )

    assert response.status_code == 400
    assert LearnerContentAssignmentAction.objects.count() == actions


@pytest.mark.parametrize(
    "body", [{}, {"assignment_uuids": []}, {"assignment_uuids": ["x"]}, {"assignment_uuids": {"a": 1}}, "text"]
)
def test_malformed_acknowledgements_are_400(client_for, acme_learner, configuration, body):
    response = client_for(acme_learner).post(acknowledge_url(configuration), body, format="json")

    assert response.status_code == 400


def test_administrators_get_their_own_list(client_for, acme_admin, configuration, mine):
    body = client_for(acme_admin).get(list_url(configuration)).json()

    assert body["count"] == 0


def test_unknown_configuration_is_404(client_for, acme_learner):
    for raw in (uuid.uuid4(), "nope"):
        caller = client_for(acme_learner)
        assert caller.get(f"/api/v1/assignment-configurations/{raw}/assignments/").status_code == 404
        response = caller.post(
            f"/api/v1/assignment-configurations/{raw}/acknowledge-assignments/",
            {"assignment_uuids": [str(uuid.uuid4())]},
            format="json",
        )
        assert response.status_code == 404


@pytest.mark.parametrize("who", ["globex_learner", "globex_admin", "learner"])
def test_other_tenants_can_neither_read_nor_acknowledge(request, client_for, configuration, mine, who):
    caller = client_for(request.getfixturevalue(who))
    actions = LearnerContentAssignmentAction.objects.count()

    assert caller.get(list_url(configuration)).status_code == 404
    response = caller.post(
        acknowledge_url(configuration), {"assignment_uuids": [str(row.uuid) for row in mine.values()]}, format="json"
    )

    assert response.status_code == 404
    assert LearnerContentAssignmentAction.objects.count() == actions


def test_learner_list_pages(client_for, acme_learner, configuration, mine):
    body = client_for(acme_learner).get(list_url(configuration) + "?page_size=2").json()

    assert (body["count"], body["num_pages"], len(body["results"])) == (3, 2, 2)
    assert client_for(acme_learner).get(list_url(configuration) + "?page_size=501").status_code == 400
