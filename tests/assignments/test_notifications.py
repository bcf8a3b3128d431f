"""Assignment emails through a REAL SMTP server (aiosmtpd on 127.0.0.1, started by the test): what arrives,
the actions recorded, refused recipients, dropped connections and retries (eager Celery), the five kinds'
templates, the action-required-by date, and the cost of queueing and sending.

The fixtures ``smtp_server`` and ``smtp_settings`` and the helper ``make_assignment`` are imported by the
other email test modules.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from celery.signals import task_prerun
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionError, ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.assignments.notifications import (
    TASK_CHUNK_SIZE,
    EmailKind,
    deliver,
    format_cents,
    queue_emails,
)
from rollbook.assignments.tasks import MAX_RETRIES, RETRY_BACKOFF_MAX_SECONDS, retry_countdown
from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core.errors import InvalidInput
from tests.budgets.conftest import PRICE, make_budget
from tests.enterprise.conftest import PYTHON_KEY

TITLE = "Python & Data for Everyone"


# --- a real SMTP server ----------------------------------------------------------------------------


class RecordingHandler:
    """aiosmtpd handler: keeps every message it accepts; can refuse recipients and drop connections."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()
        self.connections = 0
        self.drop_every_connection = False
        self.close_with_421 = False
        self._drop_next_connection_after: int | None = None
        self.port = 0

    def refuse(self, address: str) -> None:
        """Answer RCPT TO for this address with 550."""
        self.refused.add(address.casefold())

    def drop_next_connection_after(self, count: int) -> None:
        """On the next connection, drop it (no answer) at the MAIL FROM following ``count`` accepted messages."""
        self._drop_next_connection_after = count

    def message_to(self, address: str) -> EmailMessage:
        matching = [message for message in self.messages if message["To"] == address]
        assert len(matching) == 1, f"{len(matching)} messages to {address}"
        return matching[0]

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        session.accepted = 0
        session.drop_after = self._drop_next_connection_after
        self._drop_next_connection_after = None
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.close_with_421:
            return "421 4.3.2 Service shutting down, closing the channel"
        limit = getattr(session, "drop_after", None)
        if self.drop_every_connection or (limit is not None and session.accepted >= limit):
            server.transport.abort()  # the client gets no answer: the connection is simply gone
            return "250 OK"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.casefold() in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content, policy=default_policy))
        session.accepted += 1
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server():
    """An SMTP server on 127.0.0.1 (a free port) for the test's duration; yields its RecordingHandler."""
    handler = RecordingHandler()
    handler.port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Django sends through ``smtp_server`` (the real SMTP backend); retries back off for milliseconds."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "learning@rollbook.test"
    settings.ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS = 0.001
    return smtp_server


# --- data ------------------------------------------------------------------------------------------


def make_assignment(
    configuration,
    email: str,
    *,
    state: AssignmentState = AssignmentState.ALLOCATED,
    content_key: str = PYTHON_KEY,
    price: int = PRICE,
    title: str = TITLE,
    **fields,
) -> LearnerContentAssignment:
    """An assignment of a run, written with the model (as the api would leave it in ``state``)."""
    now = timezone.now()
    moments = {
        AssignmentState.ACCEPTED: "accepted_at",
        AssignmentState.CANCELLED: "cancelled_at",
        AssignmentState.EXPIRED: "expired_at",
        AssignmentState.ERRORED: "errored_at",
    }
    values = {
        "configuration": configuration,
        "learner_email": email,
        "content_key": content_key,
        "preferred_course_run_key": content_key,
        "is_assigned_course_run": True,
        "content_title": title,
        "content_quantity": -price,
        "state": state,
        "allocated_at": now,
    }
    if state in moments:
        values[moments[state]] = now
    if state == AssignmentState.EXPIRED:
        values["expiry_reason"] = ExpiryReason.NINETY_DAYS_PASSED
    values.update(fields)
    return LearnerContentAssignment.objects.create(**values)


@pytest.fixture
def configuration(acme_assigned_budget):
    return acme_assigned_budget.assignment_configuration


def actions_of(assignment, action_type: ActionType | None = None) -> list[LearnerContentAssignmentAction]:
    queryset = LearnerContentAssignmentAction.objects.filter(assignment=assignment).order_by("id")
    return list(queryset.filter(action_type=action_type) if action_type else queryset)


def _run(course_key):
    return catalog_api.get_course_run(course_key)


def day(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "F j, Y")


def send(kind: EmailKind, assignments, capture) -> None:
    """Queue emails in a committed transaction, running the on-commit callbacks (eager Celery)."""
    with capture(execute=True), transaction.atomic():
        queue_emails(kind, [assignment.pk for assignment in assignments])


# --- what arrives ----------------------------------------------------------------------------------


def test_notify_emails_arrive_over_one_connection_and_record_actions(
    smtp_settings, configuration, django_capture_on_commit_callbacks
):
    first = make_assignment(configuration, "Ada@Example.com")
    second = make_assignment(configuration, "bob@example.com")

    send(EmailKind.NOTIFY, [first, second], django_capture_on_commit_callbacks)

    server = smtp_settings
    assert server.connections == 1
    assert sorted(to for _, (to,) in server.envelopes) == ["Ada@Example.com", "bob@example.com"]
    assert {sender for sender, _ in server.envelopes} == {"learning@rollbook.test"}
    message = server.message_to("Ada@Example.com")
    assert message["From"] == "learning@rollbook.test"
    assert message["Subject"] == f"Acme Corp assigned you {TITLE}"
    assert message["X-Rollbook-Assignment"] == str(first.uuid)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    deadline = day(first.allocated_at + timedelta(days=90))  # the earliest of the three dates here
    run_start = day(_run(PYTHON_KEY).start)
    for expected in (TITLE, "Acme Corp", "$49.00", deadline, run_start, "Ada@Example.com"):
        assert expected in text
    assert "Python &amp; Data for Everyone" in html  # escaped in HTML, not in the text part
    assert "$49.00" in html and deadline in html
    for assignment in (first, second):
        (action,) = actions_of(assignment)
        assert action.action_type == ActionType.NOTIFIED
        assert action.completed_at is not None
        assert action.error_reason is None and action.traceback == ""
        assert action.history.count() == 1  # written with history
    first.refresh_from_db()
    assert first.state == AssignmentState.ALLOCATED


def test_emails_wait_for_the_commit(smtp_settings, configuration, django_capture_on_commit_callbacks):
    assignment = make_assignment(configuration, "ada@example.com")
    with django_capture_on_commit_callbacks(execute=False) as callbacks, transaction.atomic():
        queue_emails(EmailKind.NOTIFY, [assignment.pk])
        assert smtp_settings.messages == []
    assert len(callbacks) == 1
    assert smtp_settings.messages == [] and actions_of(assignment) == []  # never committed: nothing sent


def test_a_refused_recipient_gets_an_errored_action_and_stays_allocated(
    smtp_settings, configuration, django_capture_on_commit_callbacks
):
    good = make_assignment(configuration, "good@example.com")
    bad = make_assignment(configuration, "bad@example.com")
    later = make_assignment(configuration, "later@example.com")
    smtp_settings.refuse("BAD@example.com")

    send(EmailKind.NOTIFY, [good, bad, later], django_capture_on_commit_callbacks)

    assert sorted(message["To"] for message in smtp_settings.messages) == ["good@example.com", "later@example.com"]
    assert smtp_settings.connections == 1  # the refusal did not end the session
    (errored,) = actions_of(bad)
    assert errored.action_type == ActionType.NOTIFIED
    assert errored.error_reason == ActionError.EMAIL_ERROR
    assert errored.completed_at is None
    assert "SMTPRecipientsRefused" in errored.traceback and "No such mailbox" in errored.traceback
    for ok in (good, later):
        assert [a.error_reason for a in actions_of(ok)] == [None]
    bad.refresh_from_db()
    assert bad.state == AssignmentState.ALLOCATED


def test_a_failed_notification_shows_learner_state_failed(
    smtp_settings, configuration, django_capture_on_commit_callbacks
):
    good = make_assignment(configuration, "good@example.com")
    bad = make_assignment(configuration, "bad@example.com")
    smtp_settings.refuse("bad@example.com")
    send(EmailKind.NOTIFY, [good, bad], django_capture_on_commit_callbacks)
    states = dict(api.admin_assignments(configuration).values_list("learner_email", "learner_state"))
    assert states == {"good@example.com": "waiting", "bad@example.com": "failed"}


# --- connection failures and retries -----------------------------------------------------------------


def test_a_dropped_connection_is_retried_for_the_unsent_emails_only(
    smtp_settings, configuration, django_capture_on_commit_callbacks
):
    assignments = [make_assignment(configuration, f"learner{n}@example.com") for n in range(5)]
    smtp_settings.drop_next_connection_after(2)

    send(EmailKind.REMIND, assignments, django_capture_on_commit_callbacks)

    assert smtp_settings.connections == 2  # the first attempt, then one retry
    assert sorted(message["To"] for message in smtp_settings.messages) == [a.learner_email for a in assignments]
    for assignment in assignments:
        (action,) = actions_of(assignment)
        assert (action.action_type, action.error_reason) == (ActionType.REMINDED, None)
        assert action.completed_at is not None


def test_a_connection_that_keeps_failing_is_retried_then_every_unsent_email_errored(
    smtp_settings, configuration, django_capture_on_commit_callbacks
):
    assignments = [make_assignment(configuration, f"learner{n}@example.com") for n in range(3)]
    smtp_settings.drop_every_connection = True

    send(EmailKind.NOTIFY, assignments, django_capture_on_commit_callbacks)

    assert smtp_settings.connections == 1 + MAX_RETRIES == 6
    assert smtp_settings.messages == []
    for assignment in assignments:
        (action,) = actions_of(assignment)
        assert action.action_type == ActionType.NOTIFIED
        assert action.error_reason == ActionError.EMAIL_ERROR and action.completed_at is None
        assert "SMTPServerDisconnected" in action.traceback
        assignment.refresh_from_db()
        assert assignment.state == AssignmentState.ALLOCATED


def test_a_server_closing_with_421_is_a_connection_failure_not_a_refusal(
    smtp_settings, configuration, django_capture_on_commit_callbacks
):
    assignment = make_assignment(configuration, "ada@example.com")
    smtp_settings.close_with_421 = True
    send(EmailKind.NOTIFY, [assignment], django_capture_on_commit_callbacks)
    assert smtp_settings.connections == 1 + MAX_RETRIES
    (action,) = actions_of(assignment)
    assert action.error_reason == ActionError.EMAIL_ERROR and "421" in action.traceback


def test_an_unreachable_server_is_retried_then_errored(settings, configuration, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    settings.ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS = 0.001
    assignment = make_assignment(configuration, "ada@example.com", state=AssignmentState.CANCELLED)
    runs = []

    def count(sender=None, task_id=None, task=None, args=None, **_):
        if sender.name == "assignments.send_emails":
            runs.append(list(args[1]))

    task_prerun.connect(count, weak=False, dispatch_uid="count-unreachable")
    try:
        send(EmailKind.CANCEL, [assignment], django_capture_on_commit_callbacks)
    finally:
        task_prerun.disconnect(dispatch_uid="count-unreachable")
    assert runs == [[assignment.pk]] * (1 + MAX_RETRIES)
    (action,) = actions_of(assignment)
    assert (action.action_type, action.error_reason) == (ActionType.CANCELLED, ActionError.EMAIL_ERROR)
    assert "ConnectionRefusedError" in action.traceback
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.CANCELLED  # a failed cancel email changes no state


@pytest.mark.parametrize("retries", range(8))
def test_retry_backoff_doubles_from_the_base_with_jitter_up_to_the_cap(settings, retries):
    settings.ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS = 60
    ceiling = min(RETRY_BACKOFF_MAX_SECONDS, 60 * 2**retries)
    samples = [retry_countdown(retries) for _ in range(200)]
    assert all(ceiling / 2 <= sample <= ceiling for sample in samples)
    assert len(set(samples)) > 1  # jittered


# --- the five kinds -----------------------------------------------------------------------------------


@pytest.fixture
def future_run(make_run):
    """A run starting in 30 days (for the nudge)."""
    now = timezone.now()
    return make_run("course-v1:EntU+Future+2031", start=now + timedelta(days=30), end=now + timedelta(days=120))


KINDS = [
    (EmailKind.NOTIFY, AssignmentState.ALLOCATED, ActionType.NOTIFIED, f"Acme Corp assigned you {TITLE}", "enroll by"),
    (EmailKind.REMIND, AssignmentState.ALLOCATED, ActionType.REMINDED, f"Reminder: {TITLE} is waiting", "reminder"),
    (EmailKind.CANCEL, AssignmentState.CANCELLED, ActionType.CANCELLED, f"assignment of {TITLE} was cancelled", ""),
    (EmailKind.EXPIRE, AssignmentState.EXPIRED, ActionType.EXPIRED, f"assignment of {TITLE} has expired", "90 days"),
    (EmailKind.NUDGE, AssignmentState.ACCEPTED, ActionType.NUDGED, f"{TITLE} starts in 30 days", "starts on"),
]


@pytest.mark.parametrize(("kind", "state", "action_type", "subject", "phrase"), KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_has_its_templates_and_action(
    smtp_settings,
    configuration,
    future_run,
    django_capture_on_commit_callbacks,
    kind,
    state,
    action_type,
    subject,
    phrase,
):
    assignment = make_assignment(configuration, "ada@example.com", state=state, content_key=str(future_run.course_key))

    send(kind, [assignment], django_capture_on_commit_callbacks)

    message = smtp_settings.message_to("ada@example.com")
    assert subject in message["Subject"]
    assert "\n" not in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert TITLE in text and "Acme Corp" in text and "ada@example.com" in text
    assert "Python &amp; Data for Everyone" in html and "Acme Corp" in html and html.lstrip().startswith("<!DOCTYPE")
    assert phrase.lower() in text.lower()
    if kind == EmailKind.NUDGE:
        assert day(future_run.start) in text
    if kind in (EmailKind.CANCEL, EmailKind.EXPIRE):
        assert actions_of(assignment) == []  # recorded by the state change (see the next test)
    else:
        (action,) = actions_of(assignment)
        assert (action.action_type, action.error_reason) == (action_type, None)
        assert action.completed_at is not None


@pytest.mark.parametrize(("kind", "state"), [(k[0], k[1]) for k in KINDS])
def test_no_email_once_the_assignment_left_the_state_its_kind_is_about(
    smtp_settings, configuration, django_capture_on_commit_callbacks, kind, state
):
    other = AssignmentState.REVERSED
    assignment = make_assignment(configuration, "ada@example.com", state=other, reversed_at=timezone.now())
    send(kind, [assignment], django_capture_on_commit_callbacks)
    assert smtp_settings.messages == [] and actions_of(assignment) == []


def test_a_retired_address_is_never_emailed(smtp_settings, configuration, django_capture_on_commit_callbacks):
    retired = make_assignment(configuration, "retired_user0123456789abcdef@retired.invalid")
    live = make_assignment(configuration, "live@example.com")
    send(EmailKind.NOTIFY, [retired, live], django_capture_on_commit_callbacks)
    assert [message["To"] for message in smtp_settings.messages] == ["live@example.com"]
    assert actions_of(retired) == []


@pytest.mark.parametrize(
    ("kind", "state", "action_type"),
    [
        (EmailKind.CANCEL, AssignmentState.CANCELLED, ActionType.CANCELLED),
        (EmailKind.EXPIRE, AssignmentState.EXPIRED, ActionType.EXPIRED),
    ],
)
def test_cancel_and_expiry_emails_record_only_their_failures(
    smtp_settings, configuration, django_capture_on_commit_callbacks, kind, state, action_type
):
    sent = make_assignment(configuration, "sent@example.com", state=state)
    refused = make_assignment(configuration, "refused@example.com", state=state)
    smtp_settings.refuse("refused@example.com")

    send(kind, [sent, refused], django_capture_on_commit_callbacks)

    assert [message["To"] for message in smtp_settings.messages] == ["sent@example.com"]
    assert actions_of(sent) == []  # the state change records the completed action, not the email
    (errored,) = actions_of(refused)
    assert (errored.action_type, errored.error_reason, errored.completed_at) == (
        action_type,
        ActionError.EMAIL_ERROR,
        None,
    )


def test_the_course_title_falls_back_to_the_run_title(smtp_settings, configuration, django_capture_on_commit_callbacks):
    assignment = make_assignment(configuration, "ada@example.com", title="")
    send(EmailKind.NOTIFY, [assignment], django_capture_on_commit_callbacks)
    run_title = _run(PYTHON_KEY).title
    assert run_title and run_title in smtp_settings.message_to("ada@example.com")["Subject"]


# --- the action-required-by date ------------------------------------------------------------------------


@pytest.mark.parametrize("decider", ["ninety_days", "enroll_by", "budget"])
def test_the_action_required_by_date_is_the_earliest_of_the_three(
    smtp_settings, acme_catalog, make_run, django_capture_on_commit_callbacks, decider
):
    now = timezone.now()
    budget_end = now + timedelta(days=12 if decider == "budget" else 300)
    budget = make_budget(acme_catalog.customer, acme_catalog, access_method="assigned", expiration=budget_end)
    enrollment_end = now + timedelta(days=25 if decider == "enroll_by" else 150)
    run = make_run(
        "course-v1:EntU+Deadline+2031",
        enrollment_end=enrollment_end,
        modes=(ModeSpec("audit"), ModeSpec("verified", PRICE)),
    )
    allocated_at = now - timedelta(days=80 if decider == "ninety_days" else 0)
    assignment = make_assignment(
        budget.assignment_configuration, "ada@example.com", content_key=str(run.course_key), allocated_at=allocated_at
    )
    expected = {
        "ninety_days": allocated_at + timedelta(days=90),
        "enroll_by": enrollment_end,
        "budget": budget_end,
    }[decider]

    send(EmailKind.NOTIFY, [assignment], django_capture_on_commit_callbacks)

    text = smtp_settings.message_to("ada@example.com").get_body(("plain",)).get_content()
    assert f"enroll by {day(expected)}" in text


# --- cost ---------------------------------------------------------------------------------------------


def test_sending_takes_the_same_number_of_queries_for_3_or_30_assignments(settings, configuration, make_acme_learner):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    few = [make_assignment(configuration, f"few{n}@example.com").pk for n in range(3)]
    many = [make_assignment(configuration, f"many{n}@example.com").pk for n in range(30)]
    counts = []
    for ids in (few, many):
        with CaptureQueriesContext(connection) as queries:
            outcome = deliver(EmailKind.NOTIFY, ids)
        assert len(outcome.sent) == len(ids)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 10


def test_queueing_10000_ids_costs_no_query_and_makes_chunks_of_at_most_200(
    db, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ids = list(range(1_000_000, 1_010_000))  # no such rows: each task only looks them up
    chunks = []

    def record(sender=None, args=None, **_):
        if sender.name == "assignments.send_emails":
            chunks.append(list(args[1]))

    task_prerun.connect(record, weak=False, dispatch_uid="count-chunks")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks, django_assert_num_queries(0):
            queue_emails(EmailKind.NOTIFY, ids + ids[:10])  # repeated ids go once
        assert len(callbacks) == 1
        callbacks[0]()
    finally:
        task_prerun.disconnect(dispatch_uid="count-chunks")
    assert len(chunks) == 10_000 // TASK_CHUNK_SIZE == 50
    assert all(len(chunk) <= TASK_CHUNK_SIZE for chunk in chunks)
    assert [i for chunk in chunks for i in chunk] == ids


def test_an_unknown_kind_is_invalid_input(db):
    with pytest.raises(InvalidInput) as caught:
        queue_emails("shout", [1])
    with pytest.raises(InvalidInput):
        deliver("shout", [1])
    assert "kind" in caught.value.errors


def test_prices_are_formatted_in_dollars():
    assert [format_cents(c) for c in (0, 5, 4900, -4900, 123456789)] == [
        "$0.00",
        "$0.05",
        "$49.00",
        "$49.00",
        "$1,234,567.89",
    ]
