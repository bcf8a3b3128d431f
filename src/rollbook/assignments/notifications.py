"""Assignment emails (notify, remind, cancel, expire, nudge): rendered from Django templates and sent by Celery
tasks queued after the writing transaction commits, retried with backoff; each email records an action.

How it goes:

- ``queue_emails(kind, ids)`` registers, with ``transaction.on_commit``, one ``assignments.send_emails`` task
  per ``TASK_CHUNK_SIZE`` assignments (so the task never reads rows its caller has not committed).
- The task calls ``deliver``: it loads the assignments and what the templates need (course title, customer
  name, price, the action-required-by date, the run's start) in a constant number of queries, renders each
  email (``templates/assignments/email/<kind>_subject.txt``, ``<kind>_body.txt``, ``<kind>_body.html``) and
  sends them over one connection from ``settings.DEFAULT_FROM_EMAIL``.
- Each notify, remind and nudge email sent records an action of its type (notified, reminded, nudged) with
  ``completed_at``. The cancel and expiry emails add nothing when they go: ``api.cancel`` and
  ``api.expire_due`` record the completed ``cancelled`` / ``expired`` action with the state change.
- An email the server refuses (a refused recipient or sender, a rejected message) or that cannot be
  rendered records an errored action of the kind's type (``error_reason`` email_error, no ``completed_at``,
  the traceback).
- When the connection fails (refused, dropped, timed out, or the server answers 421), the emails not yet
  sent are retried by the task with exponential backoff (see ``rollbook.assignments.tasks``); after the last
  retry each gets an errored action with the connection error.

A failed email never changes an assignment's state. For notify and remind this is upstream's rule (the
assignment stays allocated and the admin view shows the learner state ``failed``); for cancel, expire and
nudge it departs from upstream, which marked the assignment errored: the state change has already happened
(or, for a nudge, the learner has already accepted) and an email failure must not undo it, so only the
errored action is recorded, for the admin to see and for ``retire_expired_pii`` to know the expiry email
did not go.

An email is sent only while the assignment is in the state its kind is about (allocated for notify and
remind, cancelled, expired, accepted for nudge): a retry that runs after the learner's situation changed
sends nothing. A retired address (``retired_user…@retired.invalid``) is never emailed.
"""

from __future__ import annotations

import logging
import smtplib
import traceback
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import (
    RETIRED_EMAIL_FORMAT,
    ActionError,
    ActionType,
    AssignmentState,
    BulkActionResult,
    ExpiryReason,
)
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.catalog import api as catalog_api
from rollbook.core.bulk import insert_with_history
from rollbook.core.errors import InvalidInput
from rollbook.core.normalise import normalise_key

logger = logging.getLogger(__name__)

# Assignments per Celery task: small enough for one SMTP session, few enough tasks for 10,000 assignments.
TASK_CHUNK_SIZE = 200
RETIRED_EMAIL_DOMAIN = RETIRED_EMAIL_FORMAT.split("{}", 1)[1]  # "@retired.invalid"

# The server refused this one message: the others can still go over the same connection.
MESSAGE_ERRORS: tuple[type[BaseException], ...] = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)
# ... unless the server answers 421: it is closing the connection, and the message may go later.
SMTP_SERVICE_CLOSING = 421
# The connection is gone or never came (OSError covers ConnectionError, timeouts and the remaining SMTP errors,
# such as SMTPServerDisconnected or SMTPConnectError): the emails not yet sent are retried later.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (OSError, SoftTimeLimitExceeded)


class EmailKind(StrEnum):
    """Which email to send; each maps to the action it records."""

    NOTIFY = "notify"  # → notified
    REMIND = "remind"  # → reminded
    CANCEL = "cancel"  # → cancelled
    EXPIRE = "expire"  # → expired
    NUDGE = "nudge"  # → nudged


ACTION_OF_KIND = {
    EmailKind.NOTIFY: ActionType.NOTIFIED,
    EmailKind.REMIND: ActionType.REMINDED,
    EmailKind.CANCEL: ActionType.CANCELLED,
    EmailKind.EXPIRE: ActionType.EXPIRED,
    EmailKind.NUDGE: ActionType.NUDGED,
}
# The api records these kinds' action (cancelled, expired) with the state change, whatever becomes of the email;
# their email adds an action only when it fails.
ACTION_RECORDED_BY_STATE_CHANGE = frozenset({EmailKind.CANCEL, EmailKind.EXPIRE})
# The state an assignment must still be in when its email goes.
STATE_OF_KIND = {
    EmailKind.NOTIFY: AssignmentState.ALLOCATED,
    EmailKind.REMIND: AssignmentState.ALLOCATED,
    EmailKind.CANCEL: AssignmentState.CANCELLED,
    EmailKind.EXPIRE: AssignmentState.EXPIRED,
    EmailKind.NUDGE: AssignmentState.ACCEPTED,
}
EXPIRY_EXPLANATIONS = {
    ExpiryReason.NINETY_DAYS_PASSED: "it was not accepted within 90 days",
    ExpiryReason.ENROLLMENT_DATE_PASSED: "the last day to enroll has passed",
    ExpiryReason.SUBSIDY_EXPIRED: "the budget that paid for it has ended",
}


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one ``deliver`` call did, by assignment id.

    ``sent``: emailed (a completed action each, but for cancel and expire). ``failed``: refused by the server
    or not renderable (an errored action each). ``skipped``: not emailed and nothing recorded (unknown id, no
    longer in the kind's state, retired address). ``unsent``: not attempted because the connection failed;
    nothing recorded yet, to be retried, with ``connection_error`` the traceback of that failure.
    """

    sent: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    skipped: tuple[int, ...] = ()
    unsent: tuple[int, ...] = ()
    connection_error: str = ""


def queue_emails(kind: EmailKind, assignment_ids: Sequence[int]) -> None:
    """Send ``kind`` emails for these assignments after the current transaction commits (at once when none is
    open), in Celery tasks of at most ``TASK_CHUNK_SIZE`` assignments each. Repeated ids are sent once. Cheap
    for 10,000 ids: no query, one task message per chunk. A broker failure is logged, never raised into the
    caller whose transaction has already committed."""
    kind = _kind(kind)
    ids = list(dict.fromkeys(int(assignment_id) for assignment_id in assignment_ids))
    if not ids:
        return
    chunks = [ids[start : start + TASK_CHUNK_SIZE] for start in range(0, len(ids), TASK_CHUNK_SIZE)]

    def send_tasks() -> None:
        from rollbook.assignments.tasks import send_emails_task

        for chunk in chunks:
            send_emails_task.delay(kind.value, chunk)

    transaction.on_commit(send_tasks, robust=True)


def deliver(kind: EmailKind | str, assignment_ids: Iterable[int], *, now: datetime | None = None) -> DeliveryOutcome:
    """Render and send ``kind`` emails for these assignments over one connection and record an action for
    each email sent or refused (see the module docstring). Stops at the first connection failure and returns
    the assignments not attempted as ``unsent`` (nothing recorded for them). A constant number of queries,
    whatever the number of assignments. InvalidInput for an unknown kind."""
    kind = _kind(kind)
    now = now or timezone.now()
    ids = list(dict.fromkeys(int(assignment_id) for assignment_id in assignment_ids))
    assignments, skipped = _sendable_assignments(kind, ids)
    failures: dict[int, str] = {}
    messages: list[tuple[int, EmailMultiAlternatives]] = []
    connection = get_connection()
    for assignment, context in _contexts(kind, assignments, now):
        try:
            messages.append((assignment.pk, _message(kind, assignment, context, connection)))
        except Exception:  # one bad row must not stop the others; its traceback goes on its action
            logger.exception("Could not render the %s email of assignment %s", kind, assignment.uuid)
            failures[assignment.pk] = traceback.format_exc()

    sent: list[int] = []
    unsent: list[int] = []
    connection_error = ""
    if messages:
        try:
            connection.open()
        except CONNECTION_ERRORS:
            connection_error = traceback.format_exc()
            unsent = [assignment_id for assignment_id, _ in messages]
        else:
            for position, (assignment_id, message) in enumerate(messages):
                try:
                    if connection.send_messages([message]):
                        sent.append(assignment_id)
                    else:
                        failures[assignment_id] = "The email backend reported the message as not sent."
                except MESSAGE_ERRORS as exc:
                    if getattr(exc, "smtp_code", None) != SMTP_SERVICE_CLOSING:
                        failures[assignment_id] = traceback.format_exc()
                        continue
                    connection_error = traceback.format_exc()
                    unsent = [later_id for later_id, _ in messages[position:]]
                    break
                except CONNECTION_ERRORS:
                    connection_error = traceback.format_exc()
                    unsent = [later_id for later_id, _ in messages[position:]]
                    break
        finally:
            _close_quietly(connection)

    record_outcomes(kind, sent=sent, failures=failures, now=now)
    if unsent:
        logger.warning("%s of %s %s email(s) not sent: the connection failed", len(unsent), len(ids), kind)
    return DeliveryOutcome(
        sent=tuple(sent),
        failed=tuple(failures),
        skipped=tuple(skipped),
        unsent=tuple(unsent),
        connection_error=connection_error,
    )


def record_outcomes(
    kind: EmailKind | str,
    *,
    sent: Iterable[int] = (),
    failures: dict[int, str] | None = None,
    now: datetime | None = None,
) -> None:
    """Record the kind's action for each assignment id: completed at ``now`` for ``sent`` (except for the
    kinds in ``ACTION_RECORDED_BY_STATE_CHANGE``, whose completed action exists already), errored (email_error,
    no completed_at, the traceback text) for ``failures``. Two statements per batch (rows and history)."""
    kind = _kind(kind)
    now = now or timezone.now()
    action_type = ACTION_OF_KIND[kind].value
    rows: list[dict[str, object]] = []
    if kind not in ACTION_RECORDED_BY_STATE_CHANGE:
        rows += [
            {"assignment_id": int(i), "action_type": action_type, "completed_at": now, "error_reason": None}
            for i in sent
        ]
    rows += [
        {
            "assignment_id": int(i),
            "action_type": action_type,
            "completed_at": None,
            "error_reason": ActionError.EMAIL_ERROR.value,
            "traceback": text,
        }
        for i, text in (failures or {}).items()
    ]
    insert_with_history(LearnerContentAssignmentAction, rows, history_date=now)


def record_connection_failures(kind: EmailKind | str, assignment_ids: Iterable[int], error_text: str) -> None:
    """After the last retry: an errored action (email_error, ``error_text``) for each email never sent."""
    record_outcomes(kind, failures=dict.fromkeys((int(i) for i in assignment_ids), error_text))


def render_email(kind: EmailKind | str, context: dict[str, object]) -> tuple[str, str, str]:
    """``(subject, text body, html body)`` of a ``kind`` email from its templates and ``context`` (the keys
    ``email_context`` builds)."""
    kind = _kind(kind)
    subject = render_to_string(f"assignments/email/{kind.value}_subject.txt", context)
    text = render_to_string(f"assignments/email/{kind.value}_body.txt", context)
    html = render_to_string(f"assignments/email/{kind.value}_body.html", context)
    return " ".join(subject.split()), text.strip() + "\n", html


def format_cents(cents: int) -> str:
    """``4900`` → ``"$49.00"`` (prices are USD cents)."""
    return f"${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def is_retired_email(email: str) -> bool:
    """True for an address PII retirement put in place of a learner's (never to be emailed)."""
    return normalise_key(email).endswith(RETIRED_EMAIL_DOMAIN)


# --- helpers ---------------------------------------------------------------------------------------


def _kind(kind: EmailKind | str) -> EmailKind:
    try:
        return EmailKind(kind)
    except ValueError:
        choices = ", ".join(member.value for member in EmailKind)
        raise InvalidInput({"kind": [f"{kind!r} is not an email kind (one of {choices})."]}) from None


def _sendable_assignments(kind: EmailKind, ids: list[int]) -> tuple[list[LearnerContentAssignment], list[int]]:
    """The assignments to email (in the kind's state, address not retired), and the ids skipped."""
    found = {
        assignment.pk: assignment
        for assignment in LearnerContentAssignment.objects.filter(pk__in=ids).select_related("configuration__customer")
    }
    wanted_state = STATE_OF_KIND[kind]
    sendable, skipped = [], []
    for assignment_id in ids:
        assignment = found.get(assignment_id)
        if assignment is None:
            reason = "it no longer exists"
        elif assignment.state != wanted_state:
            reason = f"it is {assignment.state}, not {wanted_state}"
        elif is_retired_email(assignment.learner_email):
            reason = "its email address is retired"
        else:
            sendable.append(assignment)
            continue
        logger.info("No %s email for assignment id %s: %s", kind, assignment_id, reason)
        skipped.append(assignment_id)
    return sendable, skipped


def _run_key_candidates(assignment: LearnerContentAssignment) -> list[str]:
    """The run an email is about: the preferred run, else the assigned key itself when it is a run."""
    return [key for key in (assignment.preferred_course_run_key, assignment.content_key) if key]


def _runs_by_key(assignments: Sequence[LearnerContentAssignment]) -> dict[str, object]:
    keys = set()
    for assignment in assignments:
        for candidate in _run_key_candidates(assignment):
            try:
                keys.add(catalog_api.parse_course_key(candidate))
            except InvalidInput:
                continue  # a course key (ORG+CODE), not a run
    if not keys:
        return {}
    return {str(run.course_key): run for run in catalog_api.course_runs_queryset().filter(course_key__in=keys)}


def _contexts(kind: EmailKind, assignments: Sequence[LearnerContentAssignment], now: datetime):
    """``(assignment, template context)`` for each assignment, in five more queries (runs and their modes, and
    ``api.earliest_expirations``'s)."""
    runs = _runs_by_key(assignments)
    expirations = api.earliest_expirations(assignments)
    for assignment in assignments:
        run = next((runs[key] for key in _run_key_candidates(assignment) if key in runs), None)
        yield assignment, email_context(kind, assignment, run, expirations[assignment.pk].date, now)


def email_context(
    kind: EmailKind | str, assignment: LearnerContentAssignment, run, action_required_by: datetime, now: datetime
) -> dict[str, object]:
    """The template context of one email: the learner's email, course title, customer name, price, the date by
    which the learner must act (``api.earliest_expiration``: the earliest of allocation + 90 days, the run's
    enroll-by date and the budget's expiration), the run's start and key, and for a nudge the days left before
    it starts. ``assignment`` must have its configuration's customer loaded, ``run`` (or None) its modes."""
    kind = _kind(kind)
    start = run.start if run is not None else None
    title = assignment.content_title or (run.title if run is not None else "") or assignment.content_key
    return {
        "kind": kind.value,
        "learner_email": assignment.learner_email,
        "course_title": title,
        "content_key": assignment.content_key,
        "run_key": str(run.course_key) if run is not None else "",
        "customer_name": assignment.configuration.customer.name,
        "price": format_cents(assignment.content_quantity),
        "price_cents": abs(assignment.content_quantity),
        "action_required_by": action_required_by,
        "start": start,
        "days_until_start": (start.date() - now.date()).days if start is not None else None,
        "expiry_explanation": EXPIRY_EXPLANATIONS.get(assignment.expiry_reason or "", ""),
    }


def _message(
    kind: EmailKind, assignment: LearnerContentAssignment, context: dict, connection
) -> EmailMultiAlternatives:
    subject, text, html = render_email(kind, context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[assignment.learner_email],
        connection=connection,
        headers={"X-Rollbook-Assignment": str(assignment.uuid)},
    )
    message.attach_alternative(html, "text/html")
    return message


def _close_quietly(connection) -> None:
    try:
        connection.close()
    except Exception:  # a dropped connection may fail to say goodbye; nothing is lost
        logger.debug("Closing the email connection failed", exc_info=True)


def nudge_runs_starting_in(days: int, *, now: datetime | None = None) -> BulkActionResult:
    """Nudge, across every active configuration, the accepted assignments whose run (the preferred run, else the
    assigned run) starts ``days`` days from today (UTC), through ``api.nudge`` per configuration; returns the
    combined result. InvalidInput for ``days`` below 1. Queries: two, plus ``api.nudge``'s per configuration."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInput({"days": ["Must be a whole number of days, 1 or more."]})
    now = now or timezone.now()
    start_day = timezone.localdate(now) + timedelta(days=days)
    run_keys = [
        str(key)
        for key in catalog_api.course_runs_queryset()
        .prefetch_related(None)
        .filter(start__date=start_day)
        .values_list("course_key", flat=True)
    ]
    if not run_keys:
        return BulkActionResult()
    uuids_by_configuration: dict[object, list[object]] = defaultdict(list)
    candidates = LearnerContentAssignment.objects.filter(
        Q(preferred_course_run_key__in=run_keys)
        | (Q(preferred_course_run_key__isnull=True) | Q(preferred_course_run_key="")) & Q(content_key__in=run_keys),
        state=AssignmentState.ACCEPTED,
        configuration__active=True,
    ).values_list("configuration__uuid", "uuid")
    for configuration_uuid, assignment_uuid in candidates:
        uuids_by_configuration[configuration_uuid].append(assignment_uuid)
    done: list[object] = []
    refused: dict[object, str] = {}
    for configuration_uuid, assignment_uuids in uuids_by_configuration.items():
        result = api.nudge(configuration_uuid, assignment_uuids, days)
        done.extend(result.done)
        refused.update(result.refused)
    return BulkActionResult(done=tuple(done), refused=refused)
