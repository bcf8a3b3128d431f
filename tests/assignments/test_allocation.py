"""``assignments.api.allocate`` and the configuration helpers: input checks, refusals, the budget arithmetic at
and around the limit, re-allocation, case-insensitive matching, linking accounts, and set-based writing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import AssignmentConfiguration, LearnerContentAssignment
from rollbook.budgets import api as budgets_api
from rollbook.core.errors import InvalidInput, NotFound
from tests.assignments.conftest import (
    ART_KEY,
    DATA_KEY,
    PRICE,
    PYTHON_COURSE,
    PYTHON_KEY,
    make_budget,
)

pytestmark = pytest.mark.django_db


def rows(budget) -> list[LearnerContentAssignment]:
    return list(LearnerContentAssignment.objects.filter(configuration__budget=budget).order_by("id"))


def by_email(budget, email: str) -> LearnerContentAssignment:
    return LearnerContentAssignment.objects.get(configuration__budget=budget, learner_email_normalized=email.lower())


def set_state(assignment: LearnerContentAssignment, state: AssignmentState, **fields) -> None:
    """Put an assignment in a state as the lifecycle would leave it (ORM, to set up a scenario)."""
    LearnerContentAssignment.objects.filter(pk=assignment.pk).update(state=state.value, **fields)


# --- what is written -----------------------------------------------------------------------------------


def test_allocating_a_run_creates_allocated_assignments_with_the_content_details(acme_assigned_budget, acme_admin):
    result = api.allocate(acme_assigned_budget, ["ann@example.com", "bob@example.com"], PYTHON_KEY, PRICE, acme_admin)

    made = rows(acme_assigned_budget)
    assert result.created == tuple(row.uuid for row in made)
    assert result.updated == () and result.no_change == ()
    for row in made:
        assert row.state == AssignmentState.ALLOCATED
        assert row.content_key == PYTHON_KEY
        assert row.parent_content_key == "EntU+Python"
        assert row.is_assigned_course_run is True
        assert row.preferred_course_run_key == PYTHON_KEY
        assert row.content_title == "Python"
        assert row.content_quantity == -PRICE
        assert row.admin_user == acme_admin
        assert row.allocated_at is not None and row.user is None
        assert row.configuration == acme_assigned_budget.assignment_configuration
        assert row.history.get().history_type == "+"
        assert row.history.get().history_user == acme_admin
    assert made[0].allocation_batch_id == made[1].allocation_batch_id is not None


@pytest.mark.parametrize("key", ["EntU+Python", PYTHON_COURSE])
def test_allocating_a_course_stores_it_as_org_plus_code_with_the_advertised_run(acme_assigned_budget, key):
    api.allocate(acme_assigned_budget, ["ann@example.com"], key, PRICE)

    row = by_email(acme_assigned_budget, "ann@example.com")
    assert row.content_key == "EntU+Python"
    assert row.parent_content_key is None
    assert row.is_assigned_course_run is False
    assert row.preferred_course_run_key == PYTHON_KEY


def test_each_call_is_its_own_batch(acme_assigned_budget):
    api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    api.allocate(acme_assigned_budget, ["bob@example.com"], PYTHON_KEY, PRICE)
    first, second = rows(acme_assigned_budget)
    assert first.allocation_batch_id != second.allocation_batch_id


def test_emails_are_trimmed_and_deduplicated_ignoring_case_keeping_the_first_spelling(acme_assigned_budget):
    result = api.allocate(
        acme_assigned_budget, ["  Ann@Example.com ", "ann@example.COM", "ANN@EXAMPLE.COM"], PYTHON_KEY, PRICE
    )
    assert len(result.created) == 1
    row = rows(acme_assigned_budget)[0]
    assert row.learner_email == "Ann@Example.com"
    assert row.learner_email_normalized == "ann@example.com"


# --- bad input: nothing written -------------------------------------------------------------------------


def test_invalid_emails_are_all_listed_and_nothing_is_written(acme_assigned_budget):
    with pytest.raises(InvalidInput) as excinfo:
        api.allocate(acme_assigned_budget, ["ok@example.com", "not-an-email", "", 7, "x@"], PYTHON_KEY, PRICE)
    message = excinfo.value.errors["learner_emails"][0]
    for bad in ("'not-an-email'", "''", "7", "'x@'"):
        assert bad in message
    assert "ok@example.com" not in message
    assert not LearnerContentAssignment.objects.exists()


@pytest.mark.parametrize("emails", [[], "ann@example.com", None])
def test_no_list_of_emails_is_invalid(acme_assigned_budget, emails):
    with pytest.raises(InvalidInput) as excinfo:
        api.allocate(acme_assigned_budget, emails, PYTHON_KEY, PRICE)
    assert "learner_emails" in excinfo.value.errors


@pytest.mark.parametrize("price", [-1, 49.0, "4900", True, None])
def test_a_price_that_is_not_whole_non_negative_cents_is_invalid(acme_assigned_budget, price):
    with pytest.raises(InvalidInput) as excinfo:
        api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, price)
    assert list(excinfo.value.errors) == ["price_cents"]


@pytest.mark.parametrize("key", ["nonsense", "course-v1:EntU+Nope+2030", "EntU+Nope", "", None])
def test_unknown_or_malformed_content_is_invalid(acme_assigned_budget, key):
    with pytest.raises(InvalidInput) as excinfo:
        api.allocate(acme_assigned_budget, ["ann@example.com"], key, PRICE)
    assert list(excinfo.value.errors) == ["content_key"]
    assert not LearnerContentAssignment.objects.exists()


def test_a_direct_budget_cannot_allocate(acme_budget):
    with pytest.raises(InvalidInput) as excinfo:
        api.allocate(acme_budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    assert list(excinfo.value.errors) == ["budget"]


def test_an_unknown_budget_is_not_found(db):
    with pytest.raises(NotFound):
        api.allocate("3f2c1d7e-0000-4000-8000-000000000000", ["ann@example.com"], PYTHON_KEY, PRICE)


def test_a_deactivated_configuration_cannot_allocate(acme_assigned_budget):
    AssignmentConfiguration.objects.filter(budget=acme_assigned_budget).update(active=False)
    acme_assigned_budget.assignment_configuration.refresh_from_db()
    with pytest.raises(InvalidInput) as excinfo:
        api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    assert list(excinfo.value.errors) == ["budget"]


# --- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "allowed"), [(4655, True), (4654, False), (5145, True), (5146, False)])
def test_the_price_must_be_within_five_percent_of_the_list_price(acme_assigned_budget, price, allowed):
    if allowed:
        assert api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, price).created
        assert rows(acme_assigned_budget)[0].content_quantity == -price
    else:
        with pytest.raises(api.AllocationRefused) as excinfo:
            api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, price)
        assert excinfo.value.reasons == ("price_out_of_range",)
        assert excinfo.value.errors["reasons"] == ["price_out_of_range"]
        assert "4900" in excinfo.value.errors["detail"][0]


def test_a_budget_not_active_now_refuses_with_policy_expired(acme, acme_catalog):
    now = timezone.now()
    for fields in (
        {"active": False},
        {"retired": True},
        {"start": now + timedelta(days=1), "expiration": now + timedelta(days=30)},
        {"start": now - timedelta(days=30), "expiration": now - timedelta(days=1)},
    ):
        budget = make_budget(acme, acme_catalog, access_method="assigned", **fields)
        with pytest.raises(api.AllocationRefused) as excinfo:
            api.allocate(budget, ["ann@example.com"], PYTHON_KEY, PRICE)
        assert excinfo.value.reasons == ("policy_expired",)
    assert not LearnerContentAssignment.objects.exists()


def test_content_outside_the_catalog_is_refused(acme_assigned_budget):
    with pytest.raises(api.AllocationRefused) as excinfo:
        api.allocate(acme_assigned_budget, ["ann@example.com"], ART_KEY, PRICE)
    assert excinfo.value.reasons == ("content_not_in_catalog",)


def test_every_reason_is_given_in_order(acme, acme_catalog):
    budget = make_budget(acme, acme_catalog, access_method="assigned", active=False)
    with pytest.raises(api.AllocationRefused) as excinfo:
        api.allocate(budget, ["ann@example.com"], ART_KEY, 1)
    assert excinfo.value.reasons == ("price_out_of_range", "policy_expired", "content_not_in_catalog")


# --- the arithmetic ---------------------------------------------------------------------------------------


def emails(n: int, prefix: str = "learner") -> list[str]:
    return [f"{prefix}{i}@example.com" for i in range(n)]


def test_the_limit_may_be_reached_exactly_but_not_passed(acme, acme_catalog):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=3 * PRICE)
    assert len(api.allocate(budget, emails(3), PYTHON_KEY, PRICE).created) == 3
    assert api.allocated_cents(budget) == 3 * PRICE
    with pytest.raises(api.AllocationRefused) as excinfo:
        api.allocate(budget, ["one-more@example.com"], PYTHON_KEY, PRICE)
    assert excinfo.value.reasons == ("policy_spend_limit_reached",)
    assert api.allocated_cents(budget) == 3 * PRICE


def test_one_cent_over_the_limit_refuses_the_whole_call(acme, acme_catalog):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=3 * PRICE - 1)
    with pytest.raises(api.AllocationRefused) as excinfo:
        api.allocate(budget, emails(3), PYTHON_KEY, PRICE)
    assert excinfo.value.reasons == ("policy_spend_limit_reached",)
    assert not LearnerContentAssignment.objects.exists()
    assert len(api.allocate(budget, emails(2), PYTHON_KEY, PRICE).created) == 2


def test_spent_money_counts_against_the_limit(acme, acme_catalog, acme_learner):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=3 * PRICE)
    api.allocate(budget, [acme_learner.email], PYTHON_KEY, PRICE)
    api.accept(budget, acme_learner, PYTHON_KEY)
    assert budgets_api.spend(budget).spent_cents == PRICE
    assert api.allocated_cents(budget) == 0  # the accepted price is spent, not allocated as well (#373)
    assert len(api.allocate(budget, emails(2), PYTHON_KEY, PRICE).created) == 2
    with pytest.raises(api.AllocationRefused):
        api.allocate(budget, ["one-more@example.com"], PYTHON_KEY, PRICE)


def test_only_the_rows_to_allocate_count_against_the_limit(acme, acme_catalog):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=3 * PRICE)
    api.allocate(budget, emails(2), PYTHON_KEY, PRICE)
    # two of these are allocated already (no change, not counted again); one is new: 3 x PRICE in all
    result = api.allocate(budget, [*emails(2), "new@example.com"], PYTHON_KEY, PRICE)
    assert len(result.no_change) == 2 and len(result.created) == 1
    assert api.allocated_cents(budget) == 3 * PRICE
    # at the limit, asking again for allocated learners changes nothing and is not refused
    again = api.allocate(budget, emails(2), PYTHON_KEY, PRICE)
    assert len(again.no_change) == 2


def test_a_free_allocation_is_not_refused_at_the_limit(acme, acme_catalog):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=PRICE)
    api.allocate(budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    again = api.allocate(budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    assert again.no_change


def test_allocated_cents_counts_only_allocated_assignments_of_the_budget(acme, acme_catalog):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=100_000)
    other = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=100_000)
    api.allocate(budget, emails(3), PYTHON_KEY, PRICE)
    api.allocate(other, emails(1), PYTHON_KEY, 5000)
    set_state(rows(budget)[0], AssignmentState.CANCELLED)
    assert api.allocated_cents(budget) == 2 * PRICE
    assert api.allocated_cents(other.uuid) == 5000


# --- existing assignments -------------------------------------------------------------------------------


def test_an_allocated_assignment_is_left_alone_price_kept(
    acme_assigned_budget, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    assert len(mailoutbox) == 1
    before = rows(acme_assigned_budget)[0]
    with django_capture_on_commit_callbacks(execute=True):
        again = api.allocate(acme_assigned_budget, ["ANN@example.com"], PYTHON_KEY, 5000)
    assert again.no_change == first.created and not again.created and not again.updated
    after = rows(acme_assigned_budget)[0]
    assert after.content_quantity == -PRICE
    assert after.allocated_at == before.allocated_at
    assert after.allocation_batch_id == before.allocation_batch_id
    assert after.history.count() == 1  # nothing rewritten
    assert len(mailoutbox) == 1  # no second email


def test_an_accepted_assignment_is_untouched(acme_assigned_budget, acme_learner):
    api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, PRICE)
    api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    before = rows(acme_assigned_budget)[0]
    result = api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, 5000)
    assert result.no_change == (before.uuid,)
    after = rows(acme_assigned_budget)[0]
    assert (after.state, after.content_quantity, after.transaction_id, after.accepted_at) == (
        AssignmentState.ACCEPTED,
        -PRICE,
        before.transaction_id,
        before.accepted_at,
    )
    assert after.history.count() == before.history.count()


@pytest.mark.parametrize(
    "state", [AssignmentState.CANCELLED, AssignmentState.ERRORED, AssignmentState.EXPIRED, AssignmentState.REVERSED]
)
def test_a_finished_assignment_is_reallocated_with_a_clean_slate(
    acme_assigned_budget, acme_admin, acme_learner, state, mailoutbox, django_capture_on_commit_callbacks
):
    api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, PRICE)
    ledger_transaction = api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    old = rows(acme_assigned_budget)[0]
    earlier = timezone.now() - timedelta(days=3)
    set_state(
        old,
        state,
        accepted_at=earlier,
        cancelled_at=earlier,
        expired_at=earlier,
        errored_at=earlier,
        reversed_at=earlier,
        expiry_reason=ExpiryReason.NINETY_DAYS_PASSED.value,
        transaction=ledger_transaction,
        allocated_at=earlier,
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = api.allocate(acme_assigned_budget, [acme_learner.email.upper()], PYTHON_KEY, 5000, acme_admin)

    assert result.updated == (old.uuid,) and not result.created and not result.no_change
    row = rows(acme_assigned_budget)[0]
    assert row.state == AssignmentState.ALLOCATED
    assert row.content_quantity == -5000
    assert row.allocated_at > earlier
    assert row.allocation_batch_id != old.allocation_batch_id
    assert row.admin_user == acme_admin
    for name in ("accepted_at", "cancelled_at", "expired_at", "errored_at", "reversed_at", "expiry_reason"):
        assert getattr(row, name) is None, name
    assert row.transaction is None
    assert row.history.first().history_type == "~"
    assert [message.to for message in mailoutbox] == [[acme_learner.email.upper()]]


def test_reallocation_gives_a_retired_assignment_its_real_email_back(acme_assigned_budget, make_user):
    ann = make_user("ann", email="ann@example.com")
    api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    old = rows(acme_assigned_budget)[0]
    retired = "retired_user0123456789abcdef@retired.invalid"
    LearnerContentAssignment.objects.filter(pk=old.pk).update(
        state="expired", learner_email=retired, learner_email_normalized=retired
    )
    result = api.allocate(acme_assigned_budget, ["Ann@example.com"], PYTHON_KEY, PRICE)
    assert result.updated == (old.uuid,)  # found by account
    row = rows(acme_assigned_budget)[0]
    assert (row.learner_email, row.learner_email_normalized, row.user) == ("Ann@example.com", "ann@example.com", ann)


def test_existing_assignments_match_by_account_when_the_email_changed(acme_assigned_budget, make_user):
    user = make_user("carla", email="carla@old.example.com")
    api.allocate(acme_assigned_budget, ["carla@old.example.com"], PYTHON_KEY, PRICE)
    old = rows(acme_assigned_budget)[0]
    assert old.user == user
    set_state(old, AssignmentState.CANCELLED)
    user.email = "Carla@New.example.com"
    user.save()

    result = api.allocate(acme_assigned_budget, ["carla@new.example.com"], PYTHON_KEY, PRICE)
    assert result.updated == (old.uuid,)
    row = rows(acme_assigned_budget)[0]
    assert row.learner_email == "carla@new.example.com" and row.user == user
    assert LearnerContentAssignment.objects.count() == 1


def test_the_exact_content_key_matters(acme_assigned_budget):
    api.allocate(acme_assigned_budget, ["ann@example.com"], PYTHON_KEY, PRICE)
    result = api.allocate(acme_assigned_budget, ["ann@example.com"], DATA_KEY, PRICE)
    assert result.created
    course = api.allocate(acme_assigned_budget, ["ann@example.com"], "EntU+Python", PRICE)
    assert course.created
    assert LearnerContentAssignment.objects.count() == 3


def test_accounts_are_found_by_email_ignoring_case(acme_assigned_budget, make_user):
    dora = make_user("dora", email="Dora@Example.com")
    api.allocate(acme_assigned_budget, ["dora@EXAMPLE.com", "nobody@example.com"], PYTHON_KEY, PRICE)
    assert by_email(acme_assigned_budget, "dora@example.com").user == dora
    assert by_email(acme_assigned_budget, "nobody@example.com").user is None


def test_an_existing_assignment_without_account_gets_it_with_a_linked_action(acme_assigned_budget, make_user):
    api.allocate(acme_assigned_budget, ["eve@example.com"], PYTHON_KEY, PRICE)
    row = rows(acme_assigned_budget)[0]
    # the account came without the registration signal (e.g. imported): the next allocation links it
    eve = make_user("eve", email="EVE@example.com")
    LearnerContentAssignment.objects.filter(pk=row.pk).update(user=None)

    result = api.allocate(acme_assigned_budget, ["eve@example.com"], PYTHON_KEY, PRICE)
    assert result.no_change == (row.uuid,)
    row.refresh_from_db()
    assert row.user == eve
    assert list(row.actions.values_list("action_type", flat=True)) == [ActionType.LEARNER_LINKED]


def test_two_spellings_reaching_one_assignment_report_it_once(acme_assigned_budget, make_user):
    frank = make_user("frank", email="frank@new.example.com")
    api.allocate(acme_assigned_budget, ["frank@old.example.com"], PYTHON_KEY, PRICE)
    LearnerContentAssignment.objects.update(user=frank)
    result = api.allocate(acme_assigned_budget, ["frank@old.example.com", "frank@new.example.com"], PYTHON_KEY, PRICE)
    assert len(result.no_change) == 1 and not result.created
    assert LearnerContentAssignment.objects.count() == 1


# --- emails ---------------------------------------------------------------------------------------------


def test_created_and_reallocated_assignments_are_emailed_after_the_commit(
    acme_assigned_budget, mailoutbox, django_capture_on_commit_callbacks
):
    api.allocate(acme_assigned_budget, ["cancelled@example.com", "allocated@example.com"], PYTHON_KEY, PRICE)
    set_state(by_email(acme_assigned_budget, "cancelled@example.com"), AssignmentState.CANCELLED)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.allocate(
            acme_assigned_budget,
            ["cancelled@example.com", "allocated@example.com", "new@example.com"],
            PYTHON_KEY,
            PRICE,
        )
    assert mailoutbox == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert sorted(message.to[0] for message in mailoutbox) == ["cancelled@example.com", "new@example.com"]


def test_a_refused_allocation_emails_nobody(acme, acme_catalog, mailoutbox, django_capture_on_commit_callbacks):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=PRICE)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(api.AllocationRefused):
        api.allocate(budget, emails(2), PYTHON_KEY, PRICE)
    assert mailoutbox == []


# --- set-based ------------------------------------------------------------------------------------------


def count_statements(budget, addresses, key=PYTHON_KEY) -> int:
    with CaptureQueriesContext(connection) as queries:
        api.allocate(budget, addresses, key, PRICE)
    return len(queries)


def test_statements_do_not_grow_with_the_number_of_emails(acme, acme_catalog, settings):
    settings.BULK_BATCH_SIZE = 1000
    small = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=10_000_000)
    large = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=10_000_000)
    assert count_statements(small, emails(100)) == count_statements(large, emails(1000))
    # a second round re-allocating everything (cancelled first) costs the same for 100 and 1,000 too
    LearnerContentAssignment.objects.update(state=AssignmentState.CANCELLED.value)
    assert count_statements(small, emails(100)) == count_statements(large, emails(1000))
    assert LearnerContentAssignment.objects.filter(state="allocated").count() == 1100


def test_statements_grow_only_with_the_number_of_batches(acme, acme_catalog, settings):
    settings.BULK_BATCH_SIZE = 50
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=10_000_000)
    one_batch = count_statements(budget, emails(50, "a"))
    four_batches = count_statements(budget, emails(200, "b"))
    # per batch: find rows, insert rows, insert their history (users are found one batch at a time too)
    assert four_batches - one_batch <= 3 * 4


# --- configurations -------------------------------------------------------------------------------------


def test_ensure_configuration_creates_once_and_refuses_direct_budgets(acme, acme_catalog, acme_budget):
    budget = make_budget(acme, acme_catalog)  # direct
    with pytest.raises(InvalidInput):
        api.ensure_configuration(budget)
    budget.access_method = "assigned"
    budget.save()
    first = api.ensure_configuration(budget)
    assert first.customer == acme and first.active
    assert api.ensure_configuration(budget.uuid) == first
    assert AssignmentConfiguration.objects.filter(budget=budget).count() == 1


def test_get_configuration_finds_only_active_ones(acme_assigned_budget, globex_budget):
    configuration = acme_assigned_budget.assignment_configuration
    assert api.get_configuration(configuration.uuid) == configuration
    assert api.get_configuration(str(configuration.uuid)) == configuration
    assert api.get_configuration(configuration) is configuration
    assert list(api.configurations_queryset("acme")) == [configuration]
    assert list(api.configurations_queryset(globex_budget.customer)) == []
    for missing in ("nope", "3f2c1d7e-0000-4000-8000-000000000000"):
        with pytest.raises(NotFound):
            api.get_configuration(missing)
    AssignmentConfiguration.objects.filter(pk=configuration.pk).update(active=False)
    configuration.refresh_from_db()
    with pytest.raises(NotFound):
        api.get_configuration(configuration.uuid)
    with pytest.raises(NotFound):
        api.get_configuration(configuration)
    assert list(api.configurations_queryset()) == []
