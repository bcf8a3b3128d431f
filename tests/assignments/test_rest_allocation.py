"""``POST /api/v1/policy-allocation/{budget}/allocate/``: created / updated / no_change, refusals (422 in the
upstream shape), malformed bodies, the 10,000-email cap, and tenant isolation."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from rollbook.assignments.data import AssignmentState
from rollbook.assignments.models import LearnerContentAssignment
from tests.assignments.test_rest_admin import make_assignment
from tests.budgets.conftest import make_budget
from tests.enterprise.conftest import ART_KEY, PYTHON_KEY

PRICE = 4900


def allocate_url(budget) -> str:
    return f"/api/v1/policy-allocation/{budget.uuid}/allocate/"


def body(emails, content_key=PYTHON_KEY, price=PRICE) -> dict:
    return {"learner_emails": emails, "content_key": content_key, "content_price_cents": price}


@pytest.fixture
def admin_api(client_for, acme_admin):
    return client_for(acme_admin)


def test_allocate_creates_assignments_and_notifies_after_commit(
    admin_api, acme_assigned_budget, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            allocate_url(acme_assigned_budget),
            body(["ann@acme.example", "ANN@acme.example", "ben@acme.example"]),
            format="json",
        )

    assert response.status_code == 202, response.content
    result = response.json()
    assert result["counts"] == {"created": 2, "updated": 0, "no_change": 0}
    created = LearnerContentAssignment.objects.filter(configuration=acme_assigned_budget.assignment_configuration)
    assert set(result["created"]) == {str(value) for value in created.values_list("uuid", flat=True)}
    assert set(created.values_list("state", flat=True)) == {"allocated"}
    assert set(created.values_list("content_quantity", flat=True)) == {-PRICE}
    assert sorted(message.to[0].lower() for message in mail.outbox) == ["ann@acme.example", "ben@acme.example"]


def test_allocating_again_changes_nothing_and_reallocates_cancelled_ones(
    admin_api, acme_assigned_budget, django_capture_on_commit_callbacks
):
    configuration = acme_assigned_budget.assignment_configuration
    allocated = make_assignment(configuration, "ann@acme.example")
    cancelled = make_assignment(configuration, "ben@acme.example", state=AssignmentState.CANCELLED)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            allocate_url(acme_assigned_budget), body(["Ann@Acme.example", "ben@acme.example"]), format="json"
        )

    assert response.status_code == 202, response.content
    result = response.json()
    assert result["no_change"] == [str(allocated.uuid)]
    assert result["updated"] == [str(cancelled.uuid)]
    assert result["created"] == []
    assert LearnerContentAssignment.objects.get(pk=cancelled.pk).state == "allocated"
    assert [message.to[0] for message in mail.outbox] == ["ben@acme.example"]


@pytest.mark.parametrize(
    ("emails", "price", "reason"),
    [
        (
            [f"p{n}@acme.example" for n in range(5)],
            PRICE,
            {"policy_spend_limit_reached", "not_enough_value_in_subsidy"},
        ),
        (["ann@acme.example"], 100, {"price_out_of_range"}),
    ],
)
def test_refusals_are_422_in_the_upstream_shape(admin_api, acme_assigned_budget, emails, price, reason):
    response = admin_api.post(allocate_url(acme_assigned_budget), body(emails, price=price), format="json")

    assert response.status_code == 422, response.content
    items = response.json()
    assert isinstance(items, list) and items
    assert items[0]["reason"] in reason
    assert items[0]["user_message"]
    assert items[0]["metadata"] == {"enterprise_administrators": []}
    assert items[0]["policy_uuids"] == [str(acme_assigned_budget.uuid)]
    assert not LearnerContentAssignment.objects.exists()


def test_content_outside_the_catalog_is_refused(admin_api, acme_assigned_budget):
    response = admin_api.post(allocate_url(acme_assigned_budget), body(["ann@acme.example"], ART_KEY), format="json")

    assert response.status_code == 422, response.content
    assert response.json()[0]["reason"] == "content_not_in_catalog"
    assert not LearnerContentAssignment.objects.exists()


def test_a_direct_budget_cannot_allocate(admin_api, acme_budget):
    response = admin_api.post(allocate_url(acme_budget), body(["ann@acme.example"]), format="json")

    assert response.status_code in (400, 422), response.content
    assert not LearnerContentAssignment.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"content_key": PYTHON_KEY, "content_price_cents": PRICE},
        body([]),
        body("ann@acme.example"),
        body(["not an email"]),
        body([None]),
        body(["ann@acme.example"], price=-1),
        body(["ann@acme.example"], price="lots"),
        body(["ann@acme.example"], price=True),
        body(["ann@acme.example"], price=10**15),
        body(["ann@acme.example"], content_key=""),
        body(["ann@acme.example"], content_key="x" * 300),
        ["ann@acme.example"],
    ],
)
def test_malformed_bodies_are_400(admin_api, acme_assigned_budget, payload):
    response = admin_api.post(allocate_url(acme_assigned_budget), payload, format="json")

    assert response.status_code == 400, response.content
    assert not LearnerContentAssignment.objects.exists()


def test_the_cap_is_at_least_ten_thousand_emails(admin_api, acme_assigned_budget, settings):
    settings.BULK_MAX_ITEMS = 3
    emails = [f"p{n}@acme.example" for n in range(4)]

    small_cap = admin_api.post(allocate_url(acme_assigned_budget), body(emails), format="json")
    too_many = admin_api.post(
        allocate_url(acme_assigned_budget), body([f"q{n}@acme.example" for n in range(10_001)]), format="json"
    )

    assert small_cap.status_code == 202, small_cap.content
    assert too_many.status_code == 413
    assert LearnerContentAssignment.objects.count() == 4


def test_ten_thousand_emails_in_one_call(admin_api, acme_catalog):
    budget = make_budget(acme_catalog.customer, acme_catalog, spend_limit_cents=10**9, access_method="assigned")
    emails = [f"Learner{n}@Big.example" for n in range(10_000)]

    response = admin_api.post(allocate_url(budget), body(emails), format="json")

    assert response.status_code == 202, response.content
    assert response.json()["counts"] == {"created": 10_000, "updated": 0, "no_change": 0}


def test_operators_may_allocate(operator_api, acme_assigned_budget):
    response = operator_api.post(allocate_url(acme_assigned_budget), body(["ann@acme.example"]), format="json")

    assert response.status_code == 202, response.content


def test_unknown_budget_is_404(admin_api):
    for raw in (uuid.uuid4(), "nope"):
        response = admin_api.post(f"/api/v1/policy-allocation/{raw}/allocate/", body(["a@b.example"]), format="json")
        assert response.status_code == 404


@pytest.mark.parametrize(("who", "expected"), [("globex_admin", 404), ("globex_learner", 404), ("acme_learner", 403)])
def test_other_tenants_and_learners_cannot_allocate(request, client_for, acme_assigned_budget, who, expected):
    caller = client_for(request.getfixturevalue(who))

    response = caller.post(allocate_url(acme_assigned_budget), body(["ann@acme.example"]), format="json")

    assert response.status_code == expected
    assert not LearnerContentAssignment.objects.exists()
