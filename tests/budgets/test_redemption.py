"""resolve_content, can_redeem (every reason, their order, the limits at and around their edge, deadlines and
late redemption, a constant number of queries) and redeem (enrollment in the paid mode, the enterprise
enrollment, the committed transaction, idempotency, nothing written on refusal)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.budgets import api
from rollbook.budgets.data import RedeemReason, TransactionState
from rollbook.budgets.models import Budget, Reversal, Transaction
from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.models import CourseEnrollment
from rollbook.enterprise.data import EnrollmentSource
from rollbook.enterprise.models import EnterpriseCourseEnrollment
from tests.budgets.conftest import PRICE, make_budget
from tests.enterprise.conftest import (
    ART_KEY,
    AUDIT_ONLY_KEY,
    CLOSED_KEY,
    DATA_KEY,
    PAID_ONLY_KEY,
    PYTHON_COURSE,
    PYTHON_KEY,
)

R = RedeemReason


def reasons(budget, user, key=PYTHON_KEY, **options) -> tuple[RedeemReason, ...]:
    return api.can_redeem(budget, user, key, **options).reasons


def set_fields(budget, **fields) -> Budget:
    """Change a budget with the ORM (the update rules have their own tests) and return it fresh."""
    Budget.objects.filter(pk=budget.pk).update(**fields)
    return Budget.objects.select_related("customer", "catalog").get(pk=budget.pk)


# --- resolve_content -----------------------------------------------------------------------------


def test_a_run_key_resolves_to_that_run_at_its_paid_price(runs):
    run, price = api.resolve_content(PYTHON_KEY)
    assert (run, price) == (runs[PYTHON_KEY], PRICE)
    assert api.resolve_content(PAID_ONLY_KEY) == (runs[PAID_ONLY_KEY], PRICE)


@pytest.mark.parametrize("key", [PYTHON_COURSE, "EntU+Python"])
def test_a_course_key_resolves_to_its_advertised_run(runs, key):
    assert api.resolve_content(key) == (runs[PYTHON_KEY], PRICE)
    assert api.resolve_redeemable(key).content_key == PYTHON_COURSE


def test_a_course_advertises_its_current_run_not_an_old_one(runs, make_run):
    now = timezone.now()
    make_run("course-v1:EntU+Python+2019", start=now - timedelta(days=900), end=now - timedelta(days=700))
    assert api.resolve_content(PYTHON_COURSE)[0] == runs[PYTHON_KEY]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (AUDIT_ONLY_KEY, "has no paid mode"),
        ("course-v1:EntU+Nothing+2030", "No course run"),
        ("course-v1:entu+python+2030", "case-sensitive"),
        ("not a key", "malformed"),
        ("catalog-course:EntU:Ghost", "No catalog course"),
    ],
)
def test_unredeemable_keys_are_invalid_input(runs, key, message):
    with pytest.raises(InvalidInput) as excinfo:
        api.resolve_content(key)
    assert message in excinfo.value.errors["content_key"][0]


def test_a_course_without_runs_is_invalid_input(runs):
    catalog_api.create_catalog_course("EntU", "Empty")
    with pytest.raises(InvalidInput) as excinfo:
        api.resolve_content("EntU+Empty")
    assert "advertises no run" in excinfo.value.errors["content_key"][0]


# --- can_redeem: each reason ----------------------------------------------------------------------


def test_a_linked_learner_may_redeem_catalog_content(acme_budget, acme_learner):
    check = api.can_redeem(acme_budget, acme_learner, PYTHON_KEY)
    assert (check.can_redeem, check.content_key, check.price_cents, check.reasons) == (True, PYTHON_KEY, PRICE, ())
    assert api.can_redeem(str(acme_budget.uuid), acme_learner, "EntU+Python").can_redeem


@pytest.mark.parametrize(
    "fields",
    [
        {"active": False},
        {"retired": True},
        {"start": timezone.now() + timedelta(days=1), "expiration": timezone.now() + timedelta(days=2)},
        {"start": timezone.now() - timedelta(days=2), "expiration": timezone.now() - timedelta(days=1)},
    ],
    ids=["inactive", "retired", "not-started", "expired"],
)
def test_a_budget_out_of_service_is_policy_expired(acme_budget, acme_learner, fields):
    assert reasons(set_fields(acme_budget, **fields), acme_learner) == (R.POLICY_EXPIRED,)


def test_someone_elses_learner_is_not_in_the_enterprise(acme_budget, globex_learner, make_user):
    assert reasons(acme_budget, globex_learner) == (R.LEARNER_NOT_IN_ENTERPRISE,)
    assert reasons(acme_budget, make_user()) == (R.LEARNER_NOT_IN_ENTERPRISE,)


def test_content_outside_the_budgets_catalog_is_refused(acme_budget, acme_learner):
    assert reasons(acme_budget, acme_learner, ART_KEY) == (R.CONTENT_NOT_IN_CATALOG,)


def test_only_the_budgets_own_catalog_counts(acme_budget, acme_learner, acme):
    from rollbook.enterprise import api as enterprise_api

    enterprise_api.create_catalog(acme, title="Acme art", content_keys=[ART_KEY])
    assert reasons(acme_budget, acme_learner, ART_KEY) == (R.CONTENT_NOT_IN_CATALOG,)


def test_content_without_a_paid_mode_or_unknown_is_not_redeemable(acme_budget, acme_learner):
    assert reasons(acme_budget, acme_learner, AUDIT_ONLY_KEY) == (R.CONTENT_NOT_REDEEMABLE,)
    assert reasons(acme_budget, acme_learner, "course-v1:EntU+Ghost+2030") == (
        R.CONTENT_NOT_IN_CATALOG,
        R.CONTENT_NOT_REDEEMABLE,
    )
    assert api.can_redeem(acme_budget, acme_learner, "rubbish").price_cents is None


def test_a_run_whose_enrollment_has_not_opened_is_not_redeemable(acme_budget, acme_learner, make_run):
    now = timezone.now()
    make_run(
        "course-v1:EntU+Future+2031",
        start=now + timedelta(days=60),
        enrollment_start=now + timedelta(days=10),
        enrollment_end=now + timedelta(days=50),
    )
    assert reasons(acme_budget, acme_learner, "course-v1:EntU+Future+2031") == (R.CONTENT_NOT_REDEEMABLE,)
    late = set_fields(acme_budget, late_redemption_allowed_until=now + timedelta(days=30))
    assert reasons(late, acme_learner, "course-v1:EntU+Future+2031") == (R.CONTENT_NOT_REDEEMABLE,)


@pytest.fixture
def enrollment_closed(make_run):
    """A run still going whose enrollment window closed yesterday."""
    now = timezone.now()
    return make_run("course-v1:EntU+Late+2030", enrollment_end=now - timedelta(days=1))


@pytest.fixture
def upgrade_deadline_passed(make_run):
    """A run open for enrollment whose paid seat's upgrade deadline passed (its enroll-by date)."""
    yesterday = timezone.now() - timedelta(days=1)
    modes = (ModeSpec("audit"), ModeSpec("verified", PRICE, upgrade_deadline=yesterday))
    return make_run("course-v1:EntU+Upgrade+2030", modes=modes)


@pytest.mark.parametrize("run_fixture", ["enrollment_closed", "upgrade_deadline_passed"])
def test_past_the_enroll_by_date_is_beyond_the_deadline_unless_late_redemption_is_open(
    request, acme_budget, acme_learner, run_fixture
):
    key = str(request.getfixturevalue(run_fixture).course_key)
    assert reasons(acme_budget, acme_learner, key) == (R.BEYOND_ENROLLMENT_DEADLINE,)
    now = timezone.now()
    closed_window = set_fields(acme_budget, late_redemption_allowed_until=now - timedelta(seconds=1))
    assert reasons(closed_window, acme_learner, key) == (R.BEYOND_ENROLLMENT_DEADLINE,)
    open_window = set_fields(acme_budget, late_redemption_allowed_until=now + timedelta(days=7))
    assert reasons(open_window, acme_learner, key) == ()


def test_a_run_that_ended_stays_beyond_the_deadline_even_late(acme_budget, acme_learner):
    late = set_fields(acme_budget, late_redemption_allowed_until=timezone.now() + timedelta(days=7))
    assert reasons(late, acme_learner, CLOSED_KEY) == (R.BEYOND_ENROLLMENT_DEADLINE,)


def test_the_spend_limit_allows_exactly_the_limit_and_refuses_one_cent_more(acme, acme_catalog, make_acme_learner):
    learners = [make_acme_learner(licensed=False) for _ in range(3)]
    exact = make_budget(acme, acme_catalog, spend_limit_cents=2 * PRICE)
    short = make_budget(acme, acme_catalog, spend_limit_cents=2 * PRICE - 1)
    for budget in (exact, short):
        api.redeem(budget, learners[0], PYTHON_KEY)
    assert api.can_redeem(exact, learners[1], PYTHON_KEY).can_redeem
    assert reasons(short, learners[1]) == (R.POLICY_SPEND_LIMIT_REACHED,)
    api.redeem(exact, learners[1], PYTHON_KEY)
    assert api.spend(exact).available_cents == 0
    assert reasons(exact, learners[2]) == (R.POLICY_SPEND_LIMIT_REACHED,)
    assert reasons(exact, learners[2], price_cents=0) == ()
    assert reasons(exact, learners[2], price_cents=1) == (R.POLICY_SPEND_LIMIT_REACHED,)


def test_the_per_learner_enrollment_limit_counts_standing_redemptions(acme, acme_catalog, acme_learner):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=100_000, per_learner_enrollment_limit=1)
    first = api.redeem(budget, acme_learner, PYTHON_KEY)
    assert reasons(budget, acme_learner, DATA_KEY) == (R.LEARNER_MAX_ENROLLMENTS_REACHED,)
    api.reverse(first)
    assert reasons(budget, acme_learner, DATA_KEY) == ()


def test_the_per_learner_spend_limit_allows_exactly_the_limit(acme, acme_catalog, acme_learner, make_acme_learner):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=100_000, per_learner_spend_limit_cents=2 * PRICE)
    api.redeem(budget, acme_learner, PYTHON_KEY)
    assert reasons(budget, acme_learner, DATA_KEY) == ()
    assert reasons(budget, acme_learner, DATA_KEY, price_cents=PRICE + 1) == (R.LEARNER_MAX_SPEND_REACHED,)
    api.redeem(budget, acme_learner, DATA_KEY)
    assert reasons(budget, acme_learner, PAID_ONLY_KEY) == (R.LEARNER_MAX_SPEND_REACHED,)
    assert reasons(budget, make_acme_learner(licensed=False), PAID_ONLY_KEY) == ()


def test_an_assigned_budget_needs_an_assignment(acme_assigned_budget, acme_learner):
    assert reasons(acme_assigned_budget, acme_learner) == (R.NOT_ASSIGNED,)
    assert reasons(acme_assigned_budget, acme_learner, for_assignment=True) == ()


def test_reasons_come_in_the_upstream_order(acme, acme_catalog, globex_learner):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=1, access_method="assigned", active=False)
    assert reasons(budget, globex_learner, ART_KEY) == (
        R.POLICY_EXPIRED,
        R.LEARNER_NOT_IN_ENTERPRISE,
        R.CONTENT_NOT_IN_CATALOG,
        R.POLICY_SPEND_LIMIT_REACHED,
        R.NOT_ASSIGNED,
    )
    capped = make_budget(acme, acme_catalog, spend_limit_cents=1, per_learner_spend_limit_cents=1)
    assert reasons(capped, globex_learner, CLOSED_KEY) == (
        R.LEARNER_NOT_IN_ENTERPRISE,
        R.BEYOND_ENROLLMENT_DEADLINE,
        R.POLICY_SPEND_LIMIT_REACHED,
        R.LEARNER_MAX_SPEND_REACHED,
    )


def test_a_negative_price_is_invalid_input(acme_budget, acme_learner):
    for bad in (-1, 1.5, "10", True):
        with pytest.raises(InvalidInput) as excinfo:
            api.can_redeem(acme_budget, acme_learner, PYTHON_KEY, price_cents=bad)
        assert list(excinfo.value.errors) == ["price_cents"]


def test_an_unknown_budget_is_not_found(db, acme_learner):
    with pytest.raises(NotFound):
        api.can_redeem("not-a-uuid", acme_learner, PYTHON_KEY)


@pytest.mark.parametrize("key", [PYTHON_KEY, PYTHON_COURSE])
def test_can_redeem_costs_a_constant_number_of_queries(acme, acme_catalog, make_acme_learner, key):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=1_000_000, per_learner_enrollment_limit=5)
    learner = make_acme_learner(licensed=False)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.can_redeem(budget.uuid, learner, key).can_redeem
        return len(queries)

    before = count()
    for _ in range(4):
        api.redeem(budget, make_acme_learner(licensed=False), PYTHON_KEY)
    api.redeem(budget, learner, DATA_KEY)
    assert count() == before <= 8


# --- redeem ---------------------------------------------------------------------------------------


def test_redeem_enrolls_in_the_paid_mode_and_records_a_committed_transaction(acme_budget, acme_learner, runs):
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY)

    enrollment = CourseEnrollment.objects.get(user=acme_learner, course_run=runs[PYTHON_KEY])
    assert (enrollment.mode, enrollment.is_active) == ("verified", True)
    enterprise_enrollment = EnterpriseCourseEnrollment.objects.get(course_enrollment=enrollment)
    assert enterprise_enrollment.source == EnrollmentSource.LEARNER_CREDIT
    assert enterprise_enrollment.customer_user.customer == acme_budget.customer
    stored = Transaction.objects.get(pk=made.pk)
    assert stored.state == TransactionState.COMMITTED
    assert (stored.amount_cents, stored.learner, stored.content_key) == (-PRICE, acme_learner, PYTHON_KEY)
    assert (stored.course_run, stored.course_enrollment, stored.enterprise_enrollment) == (
        runs[PYTHON_KEY],
        enrollment,
        enterprise_enrollment,
    )
    assert stored.history.count() == 1
    assert api.spend(acme_budget).spent_cents == PRICE


def test_redeem_upgrades_an_audit_enrollment(acme_budget, acme_learner, runs):
    before = enrollments_api.enroll(acme_learner, PYTHON_KEY, "audit")
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    enrollment = CourseEnrollment.objects.get(user=acme_learner, course_run=runs[PYTHON_KEY])
    assert enrollment.uuid == before.uuid and enrollment.mode == "verified"
    assert made.course_enrollment_id == enrollment.pk


def test_redeem_reactivates_a_left_enrollment(acme_budget, acme_learner):
    enrollments_api.enroll(acme_learner, PYTHON_KEY, "audit")
    enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    assert enrollments_api.get_enrollment(acme_learner, PYTHON_KEY).is_active


def test_a_course_key_redeems_its_advertised_run_under_its_canonical_key(acme_budget, acme_learner, runs):
    made = api.redeem(acme_budget, acme_learner, "EntU+Python")
    assert (made.content_key, made.course_run) == (PYTHON_COURSE, runs[PYTHON_KEY])
    assert api.redeem(acme_budget, acme_learner, PYTHON_COURSE) == made
    assert Transaction.objects.count() == 1


def test_redeem_is_idempotent_even_once_the_budget_is_spent(acme, acme_catalog, acme_learner):
    budget = make_budget(acme, acme_catalog, spend_limit_cents=PRICE)
    first = api.redeem(budget, acme_learner, PYTHON_KEY)
    enrollment_history = CourseEnrollment.history.count()

    again = api.redeem(budget.uuid, acme_learner, PYTHON_KEY)

    assert again == first
    assert Transaction.objects.count() == 1
    assert CourseEnrollment.history.count() == enrollment_history
    assert api.spend(budget).spent_cents == PRICE


def test_an_explicit_idempotency_key_is_honoured_and_guarded(acme_budget, acme_learner, make_acme_learner):
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY, idempotency_key="order-1")
    assert made.idempotency_key == "order-1"
    assert api.redeem(acme_budget, acme_learner, PYTHON_KEY, idempotency_key="order-1") == made
    with pytest.raises(Conflict):
        api.redeem(acme_budget, make_acme_learner(licensed=False), PYTHON_KEY, idempotency_key="order-1")
    with pytest.raises(Conflict):
        api.redeem(acme_budget, acme_learner, DATA_KEY, idempotency_key="order-1")
    for bad in ("", " ", "x" * 256):
        with pytest.raises(InvalidInput):
            api.redeem(acme_budget, acme_learner, PYTHON_KEY, idempotency_key=bad)
    assert Transaction.objects.count() == 1


def test_the_key_of_a_reversed_transaction_cannot_be_reused(acme_budget, acme_learner):
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY, idempotency_key="order-1")
    api.reverse(made)
    with pytest.raises(Conflict) as excinfo:
        api.redeem(acme_budget, acme_learner, PYTHON_KEY, idempotency_key="order-1")
    assert "reversed" in str(excinfo.value)


def test_after_a_refund_a_new_redemption_gets_a_new_key_and_is_charged(acme_budget, acme_learner):
    first = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    api.reverse(first)
    assert api.spend(acme_budget).spent_cents == 0

    second = api.redeem(acme_budget, acme_learner, PYTHON_KEY)

    assert second != first and second.idempotency_key != first.idempotency_key
    assert second.idempotency_key == api.default_idempotency_key(acme_budget, acme_learner.pk, PYTHON_KEY)
    assert api.spend(acme_budget).spent_cents == PRICE
    assert api.redeem(acme_budget, acme_learner, PYTHON_KEY) == second


def test_a_failed_transaction_changes_the_default_key(acme_budget, acme_learner, runs):
    key = api.default_idempotency_key(acme_budget, acme_learner.pk, PYTHON_KEY)
    Transaction.objects.create(
        budget=acme_budget,
        idempotency_key=key,
        amount_cents=-PRICE,
        learner=acme_learner,
        content_key=PYTHON_KEY,
        course_run=runs[PYTHON_KEY],
        state=TransactionState.FAILED,
    )
    made = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    assert made.idempotency_key != key and made.state == TransactionState.COMMITTED
    assert api.spend(acme_budget).spent_cents == PRICE


def test_a_refused_redemption_writes_nothing(acme_budget, globex_learner):
    with pytest.raises(api.RedemptionRefused) as excinfo:
        api.redeem(acme_budget, globex_learner, PYTHON_KEY)
    assert excinfo.value.reasons == (R.LEARNER_NOT_IN_ENTERPRISE,)
    assert excinfo.value.errors == {"reasons": ["learner_not_in_enterprise"]}
    assert not Transaction.objects.exists()
    assert not CourseEnrollment.objects.exists()
    assert not EnterpriseCourseEnrollment.objects.exists()


def test_a_refusal_for_the_content_says_why(acme_budget, acme_learner):
    with pytest.raises(api.RedemptionRefused) as excinfo:
        api.redeem(acme_budget, acme_learner, AUDIT_ONLY_KEY)
    assert excinfo.value.reasons == (R.CONTENT_NOT_REDEEMABLE,)
    assert "has no paid mode" in excinfo.value.errors["content_key"][0]
    assert isinstance(excinfo.value, InvalidInput)


def test_late_redemption_enrolls_past_the_closed_window(acme_budget, acme_learner, enrollment_closed):
    key = str(enrollment_closed.course_key)
    with pytest.raises(api.RedemptionRefused):
        api.redeem(acme_budget, acme_learner, key)
    late = set_fields(acme_budget, late_redemption_allowed_until=timezone.now() + timedelta(days=7))
    made = api.redeem(late, acme_learner, key)
    assert made.course_enrollment.is_active and made.course_enrollment.mode == "verified"


def test_redeem_for_an_assignment_records_the_assignment_source(acme_assigned_budget, acme_learner):
    with pytest.raises(api.RedemptionRefused):
        api.redeem(acme_assigned_budget, acme_learner, PYTHON_KEY)
    made = api.redeem(acme_assigned_budget, acme_learner, PYTHON_KEY, price_cents=4800, for_assignment=True)
    assert made.amount_cents == -4800
    assert made.enterprise_enrollment.source == EnrollmentSource.ASSIGNMENT


def test_transactions_queryset_lists_a_budgets_transactions_newest_first(
    acme_budget, globex_budget, acme_learner, globex_learner
):
    first = api.redeem(acme_budget, acme_learner, PYTHON_KEY)
    second = api.redeem(acme_budget, acme_learner, DATA_KEY)
    other = api.redeem(globex_budget, globex_learner, ART_KEY)
    api.reverse(first)
    assert list(api.transactions_queryset(acme_budget.uuid)) == [second, first]
    assert set(api.transactions_queryset()) == {first, second, other}
    listed = api.transactions_queryset(acme_budget)[1]
    assert listed.reversal == Reversal.objects.get(transaction=first)
    with pytest.raises(NotFound):
        api.transactions_queryset("nope")
