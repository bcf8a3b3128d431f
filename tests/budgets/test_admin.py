"""The budgets admin: budgets are created, changed, activated, deactivated and retired through ``budgets.api``
(its refusals become messages and nothing is saved); budgets are never deleted; the ledger (transactions and
reversals) is read-only and never deleted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rollbook.assignments.models import AssignmentConfiguration
from rollbook.budgets import api
from rollbook.budgets.admin import dollars
from rollbook.budgets.models import Budget, Reversal, Transaction
from rollbook.enrollments import api as enrollments_api
from tests.budgets.conftest import PRICE
from tests.enterprise.conftest import PYTHON_KEY


@pytest.fixture
def admin_browser(make_user) -> Client:
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))
    return browser


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def act(browser: Client, model, action: str, rows) -> list[str]:
    response = browser.post(
        url(model, "changelist"), {"action": action, "_selected_action": [row.pk for row in rows]}, follow=True
    )
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def when(moment) -> dict[str, str]:
    return {"0": moment.strftime("%Y-%m-%d"), "1": moment.strftime("%H:%M:%S")}


def budget_form(customer, catalog, **overrides) -> dict[str, str]:
    now = timezone.now()
    form = {
        "customer": str(customer.pk),
        "catalog": str(catalog.pk),
        "title": "Acme 2027 credit",
        "access_method": "direct",
        "spend_limit_cents": "50000",
        "per_learner_spend_limit_cents": "",
        "per_learner_enrollment_limit": "",
        "late_redemption_allowed_until_0": "",
        "late_redemption_allowed_until_1": "",
        "active": "on",
    }
    for name, moment in (("start", now - timedelta(days=1)), ("expiration", now + timedelta(days=365))):
        form.update({f"{name}_{part}": value for part, value in when(moment).items()})
    form.update(overrides)
    return form


def change_form(budget: Budget, **overrides) -> dict[str, str]:
    form = {
        "title": budget.title,
        "spend_limit_cents": str(budget.spend_limit_cents),
        "per_learner_spend_limit_cents": str(budget.per_learner_spend_limit_cents or ""),
        "per_learner_enrollment_limit": str(budget.per_learner_enrollment_limit or ""),
        "late_redemption_allowed_until_0": "",
        "late_redemption_allowed_until_1": "",
        "active": "on" if budget.active else "",
        "retired": "on" if budget.retired else "",
    }
    for name in ("start", "expiration"):
        form.update({f"{name}_{part}": value for part, value in when(getattr(budget, name)).items()})
    form.update(overrides)
    return {name: value for name, value in form.items() if value != "" or name.endswith(("_0", "_1"))}


def redeemed(budget, learner) -> Transaction:
    return api.redeem(budget, learner, PYTHON_KEY)


# --- budgets -------------------------------------------------------------------------------------


def test_adding_a_budget_goes_through_the_api_with_history(admin_browser, acme_catalog):
    response = admin_browser.post(url(Budget, "add"), budget_form(acme_catalog.customer, acme_catalog))

    assert response.status_code == 302
    budget = Budget.objects.get(title="Acme 2027 credit")
    assert (budget.customer, budget.catalog, budget.spend_limit_cents) == (acme_catalog.customer, acme_catalog, 50000)
    assert budget.history.count() == 1


def test_an_assigned_budget_added_in_the_admin_gets_its_configuration(
    admin_browser, acme_catalog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_browser.post(
            url(Budget, "add"),
            budget_form(acme_catalog.customer, acme_catalog, title="Assigned", access_method="assigned"),
        )

    assert response.status_code == 302
    budget = Budget.objects.get(title="Assigned")
    assert AssignmentConfiguration.objects.filter(budget=budget, customer=acme_catalog.customer).count() == 1


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"per_learner_spend_limit_cents": "100", "per_learner_enrollment_limit": "2"}, id="both-limits"),
        pytest.param({"access_method": "assigned", "per_learner_enrollment_limit": "2"}, id="assigned-per-learner"),
    ],
)
def test_a_budget_breaking_the_exclusivity_rules_is_not_created(admin_browser, acme_catalog, overrides):
    response = admin_browser.post(url(Budget, "add"), budget_form(acme_catalog.customer, acme_catalog, **overrides))

    assert response.status_code in (200, 302)
    assert not Budget.objects.exists()


def test_a_budget_on_another_customers_catalog_is_refused_with_a_message(admin_browser, acme, globex_catalog):
    response = admin_browser.post(url(Budget, "add"), budget_form(acme, globex_catalog), follow=True)

    assert response.status_code == 200
    assert any("Not saved" in str(message) for message in get_messages(response.wsgi_request))
    assert not Budget.objects.exists()


def test_changing_a_budget_goes_through_the_api_and_keeps_its_customer(admin_browser, acme_budget, globex):
    response = admin_browser.post(
        url(Budget, "change", acme_budget.pk),
        change_form(acme_budget, title="Renamed", spend_limit_cents="12000", customer=str(globex.pk)),
    )

    assert response.status_code == 302
    acme_budget.refresh_from_db()
    assert (acme_budget.title, acme_budget.spend_limit_cents) == ("Renamed", 12000)
    assert acme_budget.customer.slug == "acme"  # read-only on the change form
    assert acme_budget.history.count() == 2


def test_lowering_the_limit_below_what_is_spent_is_refused(admin_browser, acme_budget, acme_learner):
    redeemed(acme_budget, acme_learner)

    response = admin_browser.post(
        url(Budget, "change", acme_budget.pk), change_form(acme_budget, spend_limit_cents=str(PRICE - 1)), follow=True
    )

    assert any("Not saved" in str(message) for message in get_messages(response.wsgi_request))
    acme_budget.refresh_from_db()
    assert acme_budget.spend_limit_cents == 10_000


def test_the_change_page_shows_the_spend_from_the_ledger(admin_browser, acme_budget, acme_learner):
    redeemed(acme_budget, acme_learner)

    page = admin_browser.get(url(Budget, "change", acme_budget.pk)).content.decode()

    assert f"{dollars(PRICE)} spent of {dollars(10_000)}, {dollars(10_000 - PRICE)} available" in page
    assert f"budget__id__exact={acme_budget.pk}" in page


def test_deactivate_activate_and_retire_actions_go_through_the_api(admin_browser, acme_budget, globex_budget):
    messages = act(admin_browser, Budget, "deactivate", [acme_budget, globex_budget])

    assert "2 budget(s) deactivated." in messages
    assert not Budget.objects.filter(active=True).exists()

    act(admin_browser, Budget, "activate", [acme_budget])
    act(admin_browser, Budget, "retire", [globex_budget])

    acme_budget.refresh_from_db()
    globex_budget.refresh_from_db()
    assert (acme_budget.active, acme_budget.retired) == (True, False)
    assert globex_budget.retired
    assert acme_budget.history.count() == 3  # created, deactivated, activated
    assert not api.is_active_now(globex_budget)


def test_budgets_are_never_deleted(admin_browser, acme_budget):
    assert admin_browser.get(url(Budget, "delete", acme_budget.pk)).status_code == 403
    changelist = admin_browser.get(url(Budget, "changelist")).content.decode()
    assert "delete_selected" not in changelist


def test_the_budget_list_counts_transactions_in_one_query(
    admin_browser, acme_budget, globex_budget, acme_learner, django_assert_max_num_queries
):
    redeemed(acme_budget, acme_learner)
    admin_browser.get(url(Budget, "changelist"))  # warm up the session and content types

    with django_assert_max_num_queries(12):
        page = admin_browser.get(url(Budget, "changelist"))

    assert page.status_code == 200
    assert acme_budget.title in page.content.decode()


# --- the ledger ----------------------------------------------------------------------------------


def test_transactions_are_read_only_and_never_deleted(admin_browser, acme_budget, acme_learner):
    transaction = redeemed(acme_budget, acme_learner)

    assert admin_browser.get(url(Transaction, "add")).status_code == 403
    assert admin_browser.get(url(Transaction, "delete", transaction.pk)).status_code == 403
    page = admin_browser.get(url(Transaction, "change", transaction.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    before = (transaction.amount_cents, transaction.state)
    admin_browser.post(url(Transaction, "change", transaction.pk), {"amount_cents": "0", "state": "failed"})
    transaction.refresh_from_db()
    assert (transaction.amount_cents, transaction.state) == before
    listed = admin_browser.get(url(Transaction, "changelist"), {"budget__id__exact": acme_budget.pk})
    assert listed.status_code == 200
    assert str(transaction.uuid) in listed.content.decode()
    assert "delete_selected" not in listed.content.decode()


def test_a_refund_shows_on_its_transaction_and_is_read_only(
    admin_browser, acme_budget, acme_learner, django_capture_on_commit_callbacks
):
    transaction = redeemed(acme_budget, acme_learner)
    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.unenroll(acme_learner, PYTHON_KEY)  # within the refund window: reversed
    reversal = Reversal.objects.get(transaction=transaction)

    page = admin_browser.get(url(Transaction, "change", transaction.pk)).content.decode()
    assert str(reversal.uuid) in page
    assert admin_browser.get(url(Reversal, "add")).status_code == 403
    assert admin_browser.get(url(Reversal, "delete", reversal.pk)).status_code == 403
    assert admin_browser.get(url(Reversal, "change", reversal.pk)).status_code == 200
    assert admin_browser.get(url(Reversal, "changelist")).status_code == 200
    assert api.spend(acme_budget).spent_cents == 0


def test_dollars_formats_cents():
    assert [dollars(4900), dollars(-4900), dollars(5), dollars(123456789), dollars(None)] == [
        "$49.00",
        "-$49.00",
        "$0.05",
        "$1,234,567.89",
        "-",
    ]
