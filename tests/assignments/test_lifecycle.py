"""An assignment's life after allocation: cancel, remind, nudge, acknowledge, accept, reverse, link — every
state rule and refusal, and the actions each records."""

from __future__ import annotations

import smtplib
import uuid
from datetime import timedelta

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models.signals import post_save
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionError, ActionType, AssignmentState
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.budgets import api as budgets_api
from rollbook.budgets.data import RedeemReason
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments.models import CourseEnrollment
from tests.assignments.conftest import DATA_KEY, PRICE, PYTHON_COURSE, PYTHON_KEY, make_budget

pytestmark = pytest.mark.django_db


def allocate_one(budget, email: str, key: str = PYTHON_KEY, price: int = PRICE) -> LearnerContentAssignment:
    result = api.allocate(budget, [email], key, price)
    return LearnerContentAssignment.objects.get(uuid=(result.created or result.updated or result.no_change)[0])


def set_state(assignment: LearnerContentAssignment, state: AssignmentState) -> None:
    LearnerContentAssignment.objects.filter(pk=assignment.pk).update(state=state.value)
    assignment.refresh_from_db()


def actions(assignment: LearnerContentAssignment) -> list[tuple[str, bool, str | None]]:
    """(type, completed, error reason) of the assignment's actions, oldest first."""
    return [
        (action.action_type, action.completed_at is not None, action.error_reason)
        for action in assignment.actions.order_by("created", "id")
    ]


class RefusingEmailBackend(BaseEmailBackend):
    """An email server that refuses every recipient."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"no such mailbox") for message in email_messages})


@pytest.fixture
def configuration(acme_assigned_budget):
    return acme_assigned_budget.assignment_configuration


# --- cancel -----------------------------------------------------------------------------------------------


def test_cancel_cancels_allocated_and_errored_and_emails_each_learner(
    acme_assigned_budget, configuration, mailoutbox, django_capture_on_commit_callbacks
):
    allocated = allocate_one(acme_assigned_budget, "ann@example.com")
    errored = allocate_one(acme_assigned_budget, "bob@example.com")
    set_state(errored, AssignmentState.ERRORED)

    with django_capture_on_commit_callbacks(execute=True):
        result = api.cancel(configuration, [allocated.uuid, str(errored.uuid)])

    assert set(result.done) == {allocated.uuid, errored.uuid} and result.refused == {}
    for row in (allocated, errored):
        row.refresh_from_db()
        assert row.state == AssignmentState.CANCELLED and row.cancelled_at is not None
        # recorded with the state change; the email task adds nothing when the email goes
        assert actions(row) == [(ActionType.CANCELLED, True, None)]
        assert row.actions.filter(action_type=ActionType.CANCELLED).count() == 1
    assert sorted(message.to[0] for message in mailoutbox) == ["ann@example.com", "bob@example.com"]
    assert api.allocated_cents(acme_assigned_budget) == 0


def test_a_failed_cancel_email_adds_an_errored_action_and_keeps_the_cancellation(
    acme_assigned_budget, configuration, mailoutbox, django_capture_on_commit_callbacks, settings
):
    row = allocate_one(acme_assigned_budget, "ann@example.com")
    settings.EMAIL_BACKEND = "tests.assignments.test_lifecycle.RefusingEmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        api.cancel(configuration, [row.uuid])
    row.refresh_from_db()
    assert row.state == AssignmentState.CANCELLED
    assert actions(row) == [(ActionType.CANCELLED, True, None), (ActionType.CANCELLED, False, ActionError.EMAIL_ERROR)]


def test_cancel_again_is_done_without_a_second_email(
    acme_assigned_budget, configuration, mailoutbox, django_capture_on_commit_callbacks
):
    row = allocate_one(acme_assigned_budget, "ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        api.cancel(configuration, [row.uuid])
        again = api.cancel(configuration, [row.uuid])
    assert again.done == (row.uuid,) and again.refused == {}
    assert len(mailoutbox) == 1
    assert row.actions.filter(action_type=ActionType.CANCELLED).count() == 1


@pytest.mark.parametrize("state", [AssignmentState.ACCEPTED, AssignmentState.EXPIRED, AssignmentState.REVERSED])
def test_cancel_refuses_what_is_not_cancellable(acme_assigned_budget, configuration, state):
    row = allocate_one(acme_assigned_budget, "ann@example.com")
    LearnerContentAssignment.objects.filter(pk=row.pk).update(state=state.value, accepted_at=timezone.now())
    result = api.cancel(configuration, [row.uuid])
    assert result.done == () and result.refused == {row.uuid: "not_cancellable"}
    row.refresh_from_db()
    assert row.state == state and row.cancelled_at is None


def test_cancel_reports_assignments_of_other_configurations_as_not_found(acme, acme_catalog, configuration):
    other_budget = make_budget(acme, acme_catalog, access_method="assigned")
    other = allocate_one(other_budget, "ann@example.com")
    missing = uuid.uuid4()
    result = api.cancel(configuration, [other.uuid, missing])
    assert result.refused == {other.uuid: "not_found", missing: "not_found"}
    other.refresh_from_db()
    assert other.state == AssignmentState.ALLOCATED


def test_cancel_refuses_malformed_uuids_and_unknown_configurations(acme_assigned_budget, configuration):
    with pytest.raises(InvalidInput) as excinfo:
        api.cancel(configuration, ["nope", 7])
    assert "assignment_uuids" in excinfo.value.errors
    with pytest.raises(InvalidInput):
        api.cancel(configuration, "3f2c1d7e-0000-4000-8000-000000000000")
    with pytest.raises(NotFound):
        api.cancel(uuid.uuid4(), [])


def test_cancel_costs_a_constant_number_of_statements(acme, acme_catalog, django_assert_max_num_queries):
    budget = make_budget(acme, acme_catalog, access_method="assigned", spend_limit_cents=10_000_000)
    result = api.allocate(budget, [f"l{i}@example.com" for i in range(300)], PYTHON_KEY, PRICE)
    configuration = budget.assignment_configuration
    with django_assert_max_num_queries(8):
        api.cancel(configuration, result.created[:3])
    with django_assert_max_num_queries(8):
        assert len(api.cancel(configuration, result.created[3:]).done) == 297


# --- remind ------------------------------------------------------------------------------------------------


def test_remind_emails_allocated_assignments_and_the_email_task_records_it(
    acme_assigned_budget, configuration, mailoutbox, django_capture_on_commit_callbacks
):
    row = allocate_one(acme_assigned_budget, "ann@example.com")
    cancelled = allocate_one(acme_assigned_budget, "bob@example.com")
    set_state(cancelled, AssignmentState.CANCELLED)
    with django_capture_on_commit_callbacks(execute=True):
        result = api.remind(configuration, [row.uuid, cancelled.uuid])
    assert result.done == (row.uuid,)
    assert result.refused == {cancelled.uuid: "not_remindable"}
    assert [message.to for message in mailoutbox] == [["ann@example.com"]]
    assert actions(row) == [(ActionType.REMINDED, True, None)]
    assert actions(cancelled) == []
    row.refresh_from_db()
    assert row.state == AssignmentState.ALLOCATED


@pytest.mark.parametrize(
    "state", [AssignmentState.ACCEPTED, AssignmentState.ERRORED, AssignmentState.EXPIRED, AssignmentState.REVERSED]
)
def test_remind_refuses_every_state_but_allocated(acme_assigned_budget, configuration, state):
    row = allocate_one(acme_assigned_budget, "ann@example.com")
    LearnerContentAssignment.objects.filter(pk=row.pk).update(state=state.value, accepted_at=timezone.now())
    assert api.remind(configuration, [row.uuid]).refused == {row.uuid: "not_remindable"}


# --- nudge -------------------------------------------------------------------------------------------------


@pytest.fixture
def soon_run(make_run):
    """A run starting in 10 days, open for enrollment now."""
    now = timezone.now()
    return make_run(
        "course-v1:EntU+Soon+2030", start=now + timedelta(days=10), enrollment_start=now - timedelta(days=1)
    )


def test_nudge_emails_accepted_assignments_whose_run_starts_that_many_days_from_now(
    acme_assigned_budget, configuration, acme_learner, soon_run, mailoutbox, django_capture_on_commit_callbacks
):
    row = allocate_one(acme_assigned_budget, acme_learner.email, str(soon_run.course_key))
    api.accept(acme_assigned_budget, acme_learner, str(soon_run.course_key))
    other = allocate_one(acme_assigned_budget, "ann@example.com", str(soon_run.course_key))

    assert api.nudge(configuration, [row.uuid], 9).refused == {row.uuid: "start_date_mismatch"}
    with django_capture_on_commit_callbacks(execute=True):
        result = api.nudge(configuration, [row.uuid, other.uuid, uuid.UUID(int=1)], 10)
    assert result.done == (row.uuid,)
    assert result.refused == {other.uuid: "not_accepted", uuid.UUID(int=1): "not_found"}
    assert [message.to for message in mailoutbox] == [[acme_learner.email]]
    assert actions(row)[-1] == (ActionType.NUDGED, True, None)


def test_nudge_refuses_runs_that_started(acme_assigned_budget, configuration, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)  # started 10 days ago
    assert api.nudge(configuration, [row.uuid], 10).refused == {row.uuid: "start_date_mismatch"}


@pytest.mark.parametrize("days", [0, -3, 1.5, "10", True])
def test_nudge_needs_a_whole_number_of_days_from_one(configuration, days):
    with pytest.raises(InvalidInput):
        api.nudge(configuration, [], days)


# --- the learner's assignments and acknowledgements ----------------------------------------------------


def test_learner_assignments_match_by_user_or_by_email_ignoring_case(
    acme_assigned_budget, configuration, make_user, acme_learner
):
    linked = allocate_one(acme_assigned_budget, acme_learner.email)
    unlinked = allocate_one(acme_assigned_budget, acme_learner.email.upper(), DATA_KEY)
    LearnerContentAssignment.objects.filter(pk=unlinked.pk).update(user=None)
    allocate_one(acme_assigned_budget, "someone-else@example.com")
    assert set(api.learner_assignments(configuration, acme_learner)) == {linked, unlinked}
    assert list(api.learner_assignments(configuration, make_user())) == []


def test_acknowledging_cancelled_and_expired_assignments(acme_assigned_budget, configuration, acme_learner):
    cancelled = allocate_one(acme_assigned_budget, acme_learner.email)
    expired = allocate_one(acme_assigned_budget, acme_learner.email, DATA_KEY)
    allocated = allocate_one(acme_assigned_budget, acme_learner.email, "EntU+Python")
    api.cancel(configuration, [cancelled.uuid])
    LearnerContentAssignment.objects.filter(pk=expired.pk).update(allocated_at=timezone.now() - timedelta(days=91))
    assert api.expire_due() == 1
    uuids = [cancelled.uuid, expired.uuid, allocated.uuid]

    result = api.acknowledge(configuration, uuids, acme_learner)
    assert result == {
        "acknowledged_assignments": [cancelled.uuid, expired.uuid],
        "already_acknowledged_assignments": [],
        "unacknowledged_assignments": [allocated.uuid],
    }
    assert actions(cancelled)[-1] == (ActionType.CANCELLED_ACKNOWLEDGED, True, None)
    assert actions(expired)[-1] == (ActionType.EXPIRED_ACKNOWLEDGED, True, None)

    again = api.acknowledge(configuration, uuids, acme_learner)
    assert again["acknowledged_assignments"] == []
    assert again["already_acknowledged_assignments"] == [cancelled.uuid, expired.uuid]
    assert LearnerContentAssignmentAction.objects.filter(action_type__endswith="_acknowledged").count() == 2


def test_a_new_cancellation_needs_a_new_acknowledgement(acme_assigned_budget, configuration, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    api.cancel(configuration, [row.uuid])
    api.acknowledge(configuration, [row.uuid], acme_learner)
    api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, PRICE)  # re-allocated
    api.cancel(configuration, [row.uuid])
    assert api.acknowledge(configuration, [row.uuid], acme_learner)["acknowledged_assignments"] == [row.uuid]


def test_a_failed_cancel_email_does_not_undo_an_acknowledgement(acme_assigned_budget, configuration, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    api.cancel(configuration, [row.uuid])
    api.acknowledge(configuration, [row.uuid], acme_learner)
    LearnerContentAssignmentAction.objects.create(
        assignment=row, action_type=ActionType.CANCELLED, error_reason="email_error", traceback="refused"
    )
    again = api.acknowledge(configuration, [row.uuid], acme_learner)
    assert again["already_acknowledged_assignments"] == [row.uuid]


def test_acknowledging_someone_elses_assignments_is_refused(acme_assigned_budget, configuration, acme_learner):
    row = allocate_one(acme_assigned_budget, "ann@example.com")
    api.cancel(configuration, [row.uuid])
    with pytest.raises(InvalidInput):
        api.acknowledge(configuration, [row.uuid], acme_learner)
    with pytest.raises(InvalidInput):
        api.acknowledge(configuration, ["nope"], acme_learner)
    assert not row.actions.filter(action_type=ActionType.CANCELLED_ACKNOWLEDGED).exists()


# --- accept ------------------------------------------------------------------------------------------------


def budget_figures(budget) -> tuple[int, int]:
    return budgets_api.spend(budget).spent_cents, api.allocated_cents(budget)


def test_accept_redeems_the_assignment_and_moves_its_price_from_allocated_to_spent(acme_assigned_budget, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email, price=5000)
    assert budget_figures(acme_assigned_budget) == (0, 5000)

    ledger_transaction = api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)

    assert ledger_transaction.amount_cents == -5000  # the assignment's price, not the list price
    assert budget_figures(acme_assigned_budget) == (5000, 0)
    row.refresh_from_db()
    assert row.state == AssignmentState.ACCEPTED
    assert row.accepted_at is not None and row.user == acme_learner
    assert row.transaction == ledger_transaction
    assert row.preferred_course_run_key == PYTHON_KEY
    assert actions(row) == [(ActionType.REDEEMED, True, None)]
    assert CourseEnrollment.objects.get(user=acme_learner, course_run__course_key=PYTHON_KEY).mode == "verified"


def test_accept_is_idempotent(acme_assigned_budget, acme_learner):
    allocate_one(acme_assigned_budget, acme_learner.email)
    first = api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    assert api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY) == first
    assert budgets_api.transactions_queryset(acme_assigned_budget).count() == 1


@pytest.mark.parametrize(
    ("assigned", "accepted_with", "redeemed_run"),
    [
        ("EntU+Python", PYTHON_KEY, PYTHON_KEY),  # a run of the assigned course
        ("EntU+Python", PYTHON_COURSE, PYTHON_KEY),  # the course: its advertised run
        (PYTHON_KEY, PYTHON_COURSE, PYTHON_KEY),  # the assigned run's course: the assigned run
    ],
)
def test_accept_matches_courses_and_their_runs(
    acme_assigned_budget, acme_learner, assigned, accepted_with, redeemed_run
):
    row = allocate_one(acme_assigned_budget, acme_learner.email, assigned)
    ledger_transaction = api.accept(acme_assigned_budget, acme_learner, accepted_with)
    assert str(ledger_transaction.course_run.course_key) == redeemed_run
    row.refresh_from_db()
    assert row.state == AssignmentState.ACCEPTED and row.preferred_course_run_key == redeemed_run


def test_accept_finds_an_assignment_made_to_the_email_before_linking(acme_assigned_budget, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email.upper())
    LearnerContentAssignment.objects.filter(pk=row.pk).update(user=None)
    api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    row.refresh_from_db()
    assert row.user == acme_learner and row.state == AssignmentState.ACCEPTED


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (AssignmentState.CANCELLED, RedeemReason.ASSIGNMENT_CANCELLED),
        (AssignmentState.ERRORED, RedeemReason.ASSIGNMENT_FAILED),
        (AssignmentState.EXPIRED, RedeemReason.ASSIGNMENT_EXPIRED),
        (AssignmentState.REVERSED, RedeemReason.ASSIGNMENT_REVERSED),
    ],
)
def test_accept_refuses_assignments_no_longer_allocated(acme_assigned_budget, acme_learner, state, reason):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    set_state(row, state)
    assert api.assignment_reasons(acme_assigned_budget, acme_learner, PYTHON_KEY) == (reason,)
    with pytest.raises(budgets_api.RedemptionRefused) as excinfo:
        api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    assert excinfo.value.reasons == (reason,)
    assert budgets_api.transactions_queryset(acme_assigned_budget).count() == 0
    row.refresh_from_db()
    assert row.state == state and actions(row) == []


def test_accept_refuses_what_was_not_assigned_to_the_learner(acme_assigned_budget, acme_learner, acme_budget):
    allocate_one(acme_assigned_budget, "ann@example.com")
    allocate_one(acme_assigned_budget, acme_learner.email, DATA_KEY)
    for budget, key in ((acme_assigned_budget, PYTHON_KEY), (acme_budget, DATA_KEY), (acme_assigned_budget, "junk")):
        assert api.assignment_reasons(budget, acme_learner, key) == (RedeemReason.NOT_ASSIGNED,)
        with pytest.raises(budgets_api.RedemptionRefused) as excinfo:
            api.accept(budget, acme_learner, key)
        assert excinfo.value.reasons == (RedeemReason.NOT_ASSIGNED,)
    assert api.assignment_reasons(acme_assigned_budget, acme_learner, DATA_KEY) == ()


def test_the_budgets_refusal_leaves_the_assignment_allocated(acme_assigned_budget, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    budgets_api.update_budget(acme_assigned_budget, active=False)
    with pytest.raises(budgets_api.RedemptionRefused) as excinfo:
        api.accept(acme_assigned_budget.uuid, acme_learner, PYTHON_KEY)
    assert excinfo.value.reasons[0] == RedeemReason.POLICY_EXPIRED
    row.refresh_from_db()
    assert row.state == AssignmentState.ALLOCATED and actions(row) == []


@pytest.fixture
def enrollments_refused():
    """The enrollment itself fails: a subscriber of course-enrollment saves refuses (as a course runtime could)."""

    def refuse(sender, **kwargs):
        raise InvalidInput({"course_key": ["The course runtime refused the enrollment."]})

    post_save.connect(refuse, sender=CourseEnrollment, dispatch_uid="test-refuse-enrollments")
    yield
    post_save.disconnect(sender=CourseEnrollment, dispatch_uid="test-refuse-enrollments")


def test_an_enrollment_failure_marks_the_assignment_errored_and_keeps_that(
    acme_assigned_budget, acme_learner, enrollments_refused
):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    with pytest.raises(budgets_api.RedemptionRefused) as excinfo:
        api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    assert excinfo.value.reasons == (RedeemReason.ASSIGNMENT_FAILED,)
    assert excinfo.value.errors["course_key"] == ["The course runtime refused the enrollment."]
    row.refresh_from_db()
    assert row.state == AssignmentState.ERRORED and row.errored_at is not None
    assert actions(row) == [(ActionType.REDEEMED, False, ActionError.ENROLLMENT_ERROR)]
    assert "refused the enrollment" in row.actions.get().traceback
    assert budget_figures(acme_assigned_budget) == (0, 0)
    assert not CourseEnrollment.objects.filter(user=acme_learner).exists()


# --- reversal ----------------------------------------------------------------------------------------------


def test_a_refund_reverses_the_accepted_assignment(
    acme_assigned_budget, acme_learner, django_capture_on_commit_callbacks
):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    ledger_transaction = api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        assert budgets_api.reverse(ledger_transaction) is not None
    row.refresh_from_db()
    assert row.state == AssignmentState.REVERSED and row.reversed_at is not None
    assert actions(row)[-1] == (ActionType.REVERSED, True, None)
    assert budget_figures(acme_assigned_budget) == (0, 0)
    # the learner can be assigned the content again, and accept it again
    assert api.allocate(acme_assigned_budget, [acme_learner.email], PYTHON_KEY, PRICE).updated == (row.uuid,)
    again = api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    assert again != ledger_transaction


def test_reverse_for_transaction_only_touches_accepted_assignments(acme_assigned_budget, acme_learner):
    row = allocate_one(acme_assigned_budget, acme_learner.email)
    ledger_transaction = api.accept(acme_assigned_budget, acme_learner, PYTHON_KEY)
    assert api.reverse_for_transaction(uuid.uuid4()) is None
    assert api.reverse_for_transaction("nope") is None
    assert api.reverse_for_transaction(ledger_transaction.uuid) == row
    assert api.reverse_for_transaction(ledger_transaction.uuid) is None  # reversed already: nothing more
    assert row.actions.filter(action_type=ActionType.REVERSED).count() == 1


# --- linking -----------------------------------------------------------------------------------------------


def test_a_new_account_is_linked_to_the_assignments_of_its_email(
    acme_assigned_budget, acme, acme_catalog, make_user, django_capture_on_commit_callbacks
):
    other_budget = make_budget(acme, acme_catalog, access_method="assigned")
    first = allocate_one(acme_assigned_budget, "Gina@Example.com")
    second = allocate_one(other_budget, "gina@example.com")
    stranger = allocate_one(acme_assigned_budget, "someone@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        gina = make_user("gina", email="GINA@example.COM")
    for row in (first, second):
        row.refresh_from_db()
        assert row.user == gina
        assert actions(row) == [(ActionType.LEARNER_LINKED, True, None)]
    stranger.refresh_from_db()
    assert stranger.user is None
    assert api.link_learner(gina) == 0  # nothing left to link


def test_linking_skips_content_the_account_already_has_in_that_configuration(acme_assigned_budget, make_user):
    hal = make_user("hal", email="hal@example.com")
    configuration = acme_assigned_budget.assignment_configuration

    def assignment(email: str, key: str, user=None) -> LearnerContentAssignment:
        return LearnerContentAssignment.objects.create(
            configuration=configuration,
            learner_email=email,
            user=user,
            content_key=key,
            content_quantity=-PRICE,
            allocated_at=timezone.now(),
        )

    assignment("hal@previous.example.com", PYTHON_KEY, user=hal)  # his, under an email he had before
    clash = assignment("hal@example.com", PYTHON_KEY)
    other_content = assignment("hal@example.com", DATA_KEY)
    assert api.link_learner(hal) == 1
    clash.refresh_from_db()
    other_content.refresh_from_db()
    assert clash.user is None and other_content.user == hal
