"""Celery tasks of the assignments app: assignment emails (with retries) and the daily jobs.

``assignments.send_emails`` retries the emails a connection failure left unsent with exponential backoff:
the n-th retry waits between half and all of ``min(RETRY_BACKOFF_MAX_SECONDS, base * 2**n)`` seconds,
where ``base`` is ``settings.ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS`` (environment variable
``ROLLBOOK_ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS``, default 60; tests make it tiny). After ``MAX_RETRIES``
retries the emails still unsent get errored actions. Run eagerly (no broker), the retries follow one another
at once, as Celery's eager retries do.

The daily jobs ``assignments.expire_due`` and ``assignments.retire_expired_pii`` are scheduled by
``CELERY_BEAT_SCHEDULE`` in the settings; ``rollbook assignments expire|retire-pii`` runs them by hand.
"""

from __future__ import annotations

import random

from celery import shared_task
from django.conf import settings

from rollbook.assignments import api, notifications

MAX_RETRIES = 5
RETRY_BACKOFF_MAX_SECONDS = 600
EMAIL_SOFT_TIME_LIMIT = 240
EMAIL_TIME_LIMIT = 300


def retry_countdown(retries: int) -> float:
    """Seconds to wait before retry number ``retries + 1``: exponential from the base, capped, with jitter."""
    base = settings.ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS
    ceiling = min(RETRY_BACKOFF_MAX_SECONDS, base * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@shared_task(
    bind=True,
    name="assignments.send_emails",
    acks_late=True,
    ignore_result=True,
    max_retries=MAX_RETRIES,
    soft_time_limit=EMAIL_SOFT_TIME_LIMIT,
    time_limit=EMAIL_TIME_LIMIT,
)
def send_emails_task(self, kind: str, assignment_ids: list[int]) -> dict[str, int]:
    """Send ``kind`` emails for these assignments (``notifications.deliver``); on a connection failure retry
    the unsent ones later, and after the last retry record errored actions for them. Returns counts."""
    outcome = notifications.deliver(kind, assignment_ids)
    if outcome.unsent:
        if self.request.retries < MAX_RETRIES:
            if self.request.is_eager:
                # Eager Celery retries at once anyway (no countdown), and with task_eager_propagates it raises
                # Retry to the caller instead of retrying: retry in place, as a worker would, without the wait.
                retry = self.apply(args=(kind, list(outcome.unsent)), retries=self.request.retries + 1, throw=True)
                return retry.get()
            raise self.retry(
                args=(kind, list(outcome.unsent)),
                kwargs={},
                countdown=retry_countdown(self.request.retries),
                max_retries=MAX_RETRIES,
            )
        notifications.record_connection_failures(kind, outcome.unsent, outcome.connection_error)
    return {
        "sent": len(outcome.sent),
        "failed": len(outcome.failed) + len(outcome.unsent),
        "skipped": len(outcome.skipped),
    }


@shared_task(name="assignments.expire_due", acks_late=True, ignore_result=True)
def expire_due_task() -> int:
    """Daily: expire every allocated assignment past its earliest expiration (``api.expire_due``)."""
    return api.expire_due()


@shared_task(name="assignments.retire_expired_pii", acks_late=True, ignore_result=True)
def retire_expired_pii_task() -> int:
    """Daily: replace the emails of expired assignments with retired addresses (``api.retire_expired_pii``)."""
    return api.retire_expired_pii()
