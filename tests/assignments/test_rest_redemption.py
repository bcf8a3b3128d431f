"""``/api/v1/policy-redemption/``: credits_available, can-redeem and redeem (direct and assigned budgets), with
tenant isolation on each."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from rollbook.assignments.data import ActionType, AssignmentState
from rollbook.assignments.models import LearnerContentAssignment
from rollbook.budgets.models import Transaction
from rollbook.enrollments.models import CourseEnrollment
from tests.assignments.test_rest_admin import add_action, make_assignment
from tests.budgets.conftest import make_budget
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

PRICE = 4900
CREDITS = "/api/v1/policy-redemption/credits_available/"


def redeem_url(budget) -> str:
    return f"/api/v1/policy-redemption/{budget.uuid}/redeem/"


def can_redeem_url(customer, *keys: str) -> str:
    query = urlencode([("content_key", key) for key in keys])
    return f"/api/v1/policy-redemption/enterprise-customer/{customer.uuid}/can-redeem/?{query}"


@pytest.fixture
def acme_api(client_for, acme_learner):
    """The acme learner's client."""
    return client_for(acme_learner)


@pytest.fixture
def assignment(acme_assigned_budget, acme_learner):
    """The acme learner's allocated assignment of the Python run in the assigned budget."""
    row = make_assignment(acme_assigned_budget.assignment_configuration, acme_learner.email, user=acme_learner)
    add_action(row, ActionType.NOTIFIED)
    return row


# --- redeem --------------------------------------------------------------------------------------------


def test_redeem_a_direct_budget(acme_api, acme_learner, acme_budget):
    response = acme_api.post(redeem_url(acme_budget), {"content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    transaction = Transaction.objects.get()
    assert body["uuid"] == str(transaction.uuid)
    assert (body["state"], body["amount_cents"], body["quantity"]) == ("committed", -PRICE, -PRICE)
    assert body["course_run_key"] == PYTHON_KEY
    assert body["lms_user_id"] == acme_learner.pk
    assert body["subsidy_access_policy_uuid"] == str(acme_budget.uuid)
    enrollment = CourseEnrollment.objects.get(user=acme_learner)
    assert body["course_enrollment_uuid"] == str(enrollment.uuid)
    assert enrollment.mode == "verified"
    assert body["reversal"] is None


def test_redeem_is_idempotent(acme_api, acme_budget):
    first = acme_api.post(redeem_url(acme_budget), {"content_key": PYTHON_KEY}, format="json")
    again = acme_api.post(redeem_url(acme_budget), {"content_key": PYTHON_KEY}, format="json")

    assert again.status_code == 200
    assert again.json()["uuid"] == first.json()["uuid"]
    assert Transaction.objects.count() == 1


def test_refused_redemption_is_422_with_reasons(acme_api, acme_budget):
    response = acme_api.post(redeem_url(acme_budget), {"content_key": ART_KEY}, format="json")

    assert response.status_code == 422, response.content
    items = response.json()
    assert items[0]["reason"] == "content_not_in_catalog"
    assert items[0]["policy_uuids"] == [str(acme_budget.uuid)]
    assert items[0]["metadata"] == {"enterprise_administrators": []}
    assert not Transaction.objects.exists()


def test_spend_limit_refusal(acme_api, acme_catalog):
    small = make_budget(acme_catalog.customer, acme_catalog, spend_limit_cents=PRICE - 1)

    response = acme_api.post(redeem_url(small), {"content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 422
    assert [item["reason"] for item in response.json()] == ["policy_spend_limit_reached"]


def test_redeem_an_assigned_budget_accepts_the_assignment(acme_api, acme_assigned_budget, assignment):
    response = acme_api.post(redeem_url(acme_assigned_budget), {"content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 200, response.content
    accepted = LearnerContentAssignment.objects.get(pk=assignment.pk)
    assert accepted.state == AssignmentState.ACCEPTED
    assert str(accepted.transaction.uuid) == response.json()["uuid"]
    assert response.json()["amount_cents"] == assignment.content_quantity


def test_redeem_without_an_assignment_is_422(acme_api, acme_assigned_budget):
    response = acme_api.post(redeem_url(acme_assigned_budget), {"content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 422, response.content
    assert response.json()[0]["reason"] == "reason_learner_not_assigned_content"
    assert not Transaction.objects.exists()


def test_redeem_a_cancelled_assignment_is_422(acme_api, acme_assigned_budget, acme_learner):
    make_assignment(
        acme_assigned_budget.assignment_configuration,
        acme_learner.email,
        user=acme_learner,
        state=AssignmentState.CANCELLED,
    )

    response = acme_api.post(redeem_url(acme_assigned_budget), {"content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 422
    assert response.json()[0]["reason"] == "reason_learner_assignment_cancelled"


def test_learners_redeem_only_for_themselves(acme_api, acme_budget, make_acme_learner):
    other = make_acme_learner("other-acme", licensed=False)

    response = acme_api.post(
        redeem_url(acme_budget), {"content_key": PYTHON_KEY, "lms_user_id": other.pk}, format="json"
    )

    assert response.status_code == 403
    assert not Transaction.objects.exists()


def test_operators_may_redeem_for_a_learner(operator_api, acme_budget, acme_learner):
    response = operator_api.post(
        redeem_url(acme_budget), {"content_key": PYTHON_KEY, "lms_user_id": acme_learner.pk}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["lms_user_id"] == acme_learner.pk


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"content_key": ""},
        {"content_key": ["x"]},
        {"content_key": PYTHON_KEY, "lms_user_id": "me"},
        {"content_key": PYTHON_KEY, "lms_user_id": 0},
        ["x"],
    ],
)
def test_malformed_redemptions_are_400(acme_api, acme_budget, payload):
    response = acme_api.post(redeem_url(acme_budget), payload, format="json")

    assert response.status_code == 400, response.content


def test_operators_naming_an_unknown_user_get_400(operator_api, acme_budget):
    response = operator_api.post(
        redeem_url(acme_budget), {"content_key": PYTHON_KEY, "lms_user_id": 999_999}, format="json"
    )

    assert response.status_code == 400
    assert "lms_user_id" in response.json()


@pytest.mark.parametrize("who", ["globex_learner", "globex_admin", "learner"])
def test_other_tenants_cannot_redeem(request, client_for, acme_budget, acme_assigned_budget, assignment, who):
    caller = client_for(request.getfixturevalue(who))

    for budget in (acme_budget, acme_assigned_budget):
        response = caller.post(redeem_url(budget), {"content_key": PYTHON_KEY}, format="json")
        assert response.status_code == 404, (who, response.status_code)

    assert not Transaction.objects.exists()
    assert not CourseEnrollment.objects.exists()
    assert LearnerContentAssignment.objects.get(pk=assignment.pk).state == AssignmentState.ALLOCATED


def test_unknown_budget_is_404(acme_api):
    for raw in (uuid.uuid4(), "nope"):
        response = acme_api.post(f"/api/v1/policy-redemption/{raw}/redeem/", {"content_key": PYTHON_KEY})
        assert response.status_code == 404


# --- credits available ---------------------------------------------------------------------------------


def credits(client, customer, **query) -> list[dict]:
    response = client.get(CREDITS, {"enterprise_customer_uuid": customer.uuid, **query})
    assert response.status_code == 200, response.content
    return response.json()


def test_credits_available_lists_direct_and_assigned_budgets(
    acme_api, acme, acme_budget, acme_assigned_budget, assignment
):
    items = {item["uuid"]: item for item in credits(acme_api, acme)}

    assert set(items) == {str(acme_budget.uuid), str(acme_assigned_budget.uuid)}
    direct = items[str(acme_budget.uuid)]
    assert direct["remaining_balance"] == 10_000
    assert direct["policy_type"] == "PerLearnerSpendCreditAccessPolicy"
    assert direct["learner_content_assignments"] == []
    assert direct["subsidy_expiration_date"]
    assigned = items[str(acme_assigned_budget.uuid)]
    assert assigned["policy_type"] == "AssignedLearnerCreditAccessPolicy"
    assert assigned["remaining_balance"] == 20_000 - PRICE  # the allocation is reserved
    assert [row["uuid"] for row in assigned["learner_content_assignments"]] == [str(assignment.uuid)]
    assert assigned["assignment_configuration"] == str(acme_assigned_budget.assignment_configuration.uuid)


def test_assigned_budgets_need_an_unacknowledged_assignment(
    acme_api, acme, acme_learner, acme_budget, acme_assigned_budget
):
    assert [item["uuid"] for item in credits(acme_api, acme)] == [str(acme_budget.uuid)]

    cancelled = make_assignment(
        acme_assigned_budget.assignment_configuration,
        acme_learner.email.upper(),
        state=AssignmentState.CANCELLED,
    )
    add_action(cancelled, ActionType.CANCELLED)
    assert len(credits(acme_api, acme)) == 2  # cancelled, not yet acknowledged: still shown

    add_action(cancelled, ActionType.CANCELLED_ACKNOWLEDGED)
    assert [item["uuid"] for item in credits(acme_api, acme)] == [str(acme_budget.uuid)]


def test_per_learner_spend_limits_show_what_is_left(acme_api, acme, acme_catalog, acme_budget):
    capped = make_budget(acme_catalog.customer, acme_catalog, per_learner_spend_limit_cents=6000)
    assert {item["uuid"]: item["remaining_balance_per_user"] for item in credits(acme_api, acme)}[
        str(capped.uuid)
    ] == 6000

    assert acme_api.post(redeem_url(capped), {"content_key": PYTHON_KEY}, format="json").status_code == 200

    per_user = {item["uuid"]: item["remaining_balance_per_user"] for item in credits(acme_api, acme)}
    assert per_user[str(capped.uuid)] == 6000 - PRICE


def test_inactive_or_spent_budgets_are_not_listed(acme_api, acme, acme_catalog, acme_budget):
    make_budget(acme_catalog.customer, acme_catalog, active=False)
    make_budget(acme_catalog.customer, acme_catalog, retired=True)

    assert [item["uuid"] for item in credits(acme_api, acme)] == [str(acme_budget.uuid)]


def test_lms_user_id_is_honoured_for_operators_only(
    client_for, operator_api, acme, acme_learner, acme_admin, acme_assigned_budget, assignment
):
    as_operator = credits(operator_api, acme, lms_user_id=acme_learner.pk)
    assert [item["uuid"] for item in as_operator] == [str(acme_assigned_budget.uuid)]

    as_admin = credits(client_for(acme_admin), acme, lms_user_id=acme_learner.pk)
    assert as_admin == []  # the admin's own credit: no assignment, and not a learner of acme


@pytest.mark.parametrize("query", ["", "?enterprise_customer_uuid=", "?enterprise_customer_uuid=nope"])
def test_credits_available_needs_a_customer(acme_api, query):
    response = acme_api.get(CREDITS + query)

    assert response.status_code == 400
    assert "enterprise_customer_uuid" in response.json()


@pytest.mark.parametrize("who", ["globex_learner", "globex_admin", "learner"])
def test_other_tenants_cannot_read_credits(request, client_for, acme, acme_budget, who):
    response = client_for(request.getfixturevalue(who)).get(f"{CREDITS}?enterprise_customer_uuid={acme.uuid}")

    assert response.status_code == 403


def test_unknown_customer_for_an_operator_is_404(operator_api):
    assert operator_api.get(f"{CREDITS}?enterprise_customer_uuid={uuid.uuid4()}").status_code == 404


# --- can redeem ----------------------------------------------------------------------------------------


def test_can_redeem(acme_api, acme, acme_budget):
    response = acme_api.get(can_redeem_url(acme, PYTHON_KEY, ART_KEY, "nonsense"))

    assert response.status_code == 200, response.content
    python, art, nonsense = response.json()
    assert python["content_key"] == PYTHON_KEY
    assert python["can_redeem"] is True
    assert python["list_price"] == {"usd": 49.0, "usd_cents": PRICE}
    assert python["redeemable_subsidy_access_policy"]["uuid"] == str(acme_budget.uuid)
    assert (python["reasons"], python["display_reason"]) == ([], None)
    assert (python["redemptions"], python["has_successful_redemption"]) == ([], False)
    assert art["can_redeem"] is False and art["redeemable_subsidy_access_policy"] is None
    assert art["reasons"][0]["reason"] == "content_not_in_catalog"
    assert art["reasons"][0]["policy_uuids"] == [str(acme_budget.uuid)]
    assert art["display_reason"] == art["reasons"][0]
    assert nonsense["list_price"] is None and nonsense["can_redeem"] is False
    assert nonsense["reasons"][0]["reason"] == "content_not_redeemable"


def test_after_redeeming_the_redemption_is_listed(acme_api, acme, acme_budget):
    redeemed = acme_api.post(redeem_url(acme_budget), {"content_key": PYTHON_KEY}, format="json").json()

    python, course = acme_api.get(can_redeem_url(acme, PYTHON_KEY, PYTHON_COURSE)).json()

    for answer in (python, course):
        assert [item["uuid"] for item in answer["redemptions"]] == [redeemed["uuid"]]
        assert answer["has_successful_redemption"] is True
        assert answer["can_redeem"] is False


def test_assigned_budgets_come_first(acme_api, acme, acme_budget, acme_assigned_budget, assignment):
    python, data = acme_api.get(can_redeem_url(acme, PYTHON_KEY, DATA_KEY)).json()

    assert python["redeemable_subsidy_access_policy"]["uuid"] == str(acme_assigned_budget.uuid)
    assert python["redeemable_subsidy_access_policy"]["policy_type"] == "AssignedLearnerCreditAccessPolicy"
    assert data["redeemable_subsidy_access_policy"]["uuid"] == str(acme_budget.uuid)  # not assigned: direct


def test_ties_go_to_the_earliest_expiration(acme_api, acme, acme_catalog, acme_budget):
    sooner = make_budget(acme_catalog.customer, acme_catalog, expiration=acme_budget.expiration - timedelta(days=1))

    (python,) = acme_api.get(can_redeem_url(acme, PYTHON_KEY)).json()

    assert python["redeemable_subsidy_access_policy"]["uuid"] == str(sooner.uuid)


def test_no_budget_at_all(acme_api, acme):
    (python,) = acme_api.get(can_redeem_url(acme, PYTHON_KEY)).json()

    assert python["can_redeem"] is False
    assert python["reasons"] == []


@pytest.mark.parametrize("keys", [(), tuple(f"course-v1:EntU+C{n}+2030" for n in range(101))])
def test_can_redeem_needs_one_to_a_hundred_keys(acme_api, acme, keys):
    response = acme_api.get(can_redeem_url(acme, *keys))

    assert response.status_code == 400
    assert "content_key" in response.json()


@pytest.mark.parametrize("who", ["globex_learner", "globex_admin", "learner"])
def test_other_tenants_cannot_ask_can_redeem(request, client_for, acme, acme_budget, who):
    response = client_for(request.getfixturevalue(who)).get(can_redeem_url(acme, PYTHON_KEY))

    assert response.status_code == 403


def test_can_redeem_of_an_unknown_or_malformed_customer_is_404(operator_api):
    for raw in (uuid.uuid4(), "nope"):
        response = operator_api.get(f"/api/v1/policy-redemption/enterprise-customer/{raw}/can-redeem/?content_key=x")
        assert response.status_code == 404
