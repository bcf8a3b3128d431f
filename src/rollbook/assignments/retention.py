"""Retiring the personal data of assignments: the learner's email, in live and history rows.

Public through ``rollbook.assignments.api``:

- ``retire_expired_pii(now)``: the daily job. Assignments that expired because 90 days passed
  (``NINETY_DAYS_PASSED``) and whose expiry email went out get their email replaced. "Went out": no failed
  ``expired`` action since the expiry (the email task records only failures of that email), and at least
  ``PII_RETIREMENT_DELAY`` since it, so an expiry email still queued or being retried (for well under an
  hour) is not dropped for a retired address; a failed one leaves the address for an operator to look at.
- ``retire_learner_pii(user)``: when an account is retired (``identity.signals.user_retiring``), every
  assignment of that user or their email.

Each email becomes ``retired_user<16 random hex characters>@retired.invalid``, different for every
assignment (a fixed address broke the unique key upstream, ENT-8574); the live row gets it with a history
row recording the change, then every earlier history row of that assignment gets the same value, so the
address survives nowhere in assignments. Emails already retired are left alone.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, CharField, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from rollbook.assignments import records
from rollbook.assignments.data import RETIRED_EMAIL_FORMAT, ActionType, AssignmentState, ExpiryReason
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.core.bulk import batch_size, batches, update_with_history
from rollbook.core.normalise import normalise_key

PII_RETIREMENT_DELAY = timedelta(days=1)
RETIRED_EMAIL_DOMAIN = "@retired.invalid"
_REASON = "learner email retired"


def retired_email() -> str:
    """A new retired address: ``retired_user`` + 16 random hex characters + ``@retired.invalid``."""
    return RETIRED_EMAIL_FORMAT.format(secrets.token_hex(8))


def _not_retired() -> Q:
    return ~Q(learner_email_normalized__endswith=RETIRED_EMAIL_DOMAIN)


def _retire(ids: list[int], now: datetime) -> int:
    """Retire the emails of these assignments (locked here), live and history rows; returns how many."""
    history = LearnerContentAssignment.history.model
    rows = list(records.locked_assignments(LearnerContentAssignment.objects.filter(_not_retired(), id__in=ids)))
    new_emails: dict[int, str] = {}
    used: set[str] = set()
    for row in rows:
        email = retired_email()
        while email in used:  # 64 random bits: a repeat is all but impossible, but cheap to rule out
            email = retired_email()
        used.add(email)
        new_emails[row.pk] = email
        row.learner_email = row.learner_email_normalized = email
        row.modified = now
        row._change_reason = _REASON
    update_with_history(rows, ["learner_email", "learner_email_normalized", "modified"], history_date=now)
    for batch in batches(list(new_emails)):
        email_of = Case(*(When(id=pk, then=Value(new_emails[pk])) for pk in batch), output_field=CharField())
        history.objects.filter(id__in=batch).update(learner_email=email_of, learner_email_normalized=email_of)
    return len(rows)


def _retire_all(queryset: QuerySet[LearnerContentAssignment], now: datetime) -> int:
    """Retire the queryset's assignments a batch at a time, each batch in its own transaction."""
    retired = 0
    last_id = 0
    while True:
        ids = list(queryset.filter(id__gt=last_id).order_by("id").values_list("id", flat=True)[: batch_size()])
        if not ids:
            return retired
        last_id = ids[-1]
        with transaction.atomic():
            retired += _retire(ids, now)


def retire_expired_pii(now: datetime | None = None) -> int:
    """Replace the email of expired assignments (reason NINETY_DAYS_PASSED, expired at least
    ``PII_RETIREMENT_DELAY`` before ``now``, expiry email sent: no failed ``expired`` action since the expiry)
    with ``retired_user<16 hex>@retired.invalid`` — a different one per assignment — in live and history rows;
    returns how many. Set-based: a constant number of statements per batch. Running it again retires nothing
    twice."""
    moment = now or timezone.now()
    failed_expiry_email = LearnerContentAssignmentAction.objects.filter(
        assignment_id=OuterRef("pk"),
        action_type=ActionType.EXPIRED.value,
        error_reason__isnull=False,
        created__gte=OuterRef("expired_at"),
    )
    due = LearnerContentAssignment.objects.filter(
        _not_retired(),
        ~Exists(failed_expiry_email),
        state=AssignmentState.EXPIRED.value,
        expiry_reason=ExpiryReason.NINETY_DAYS_PASSED.value,
        expired_at__lte=moment - PII_RETIREMENT_DELAY,
    )
    return _retire_all(due, moment)


def retire_learner_pii(user: Any) -> int:
    """Replace the email of every assignment of ``user`` (a user or a user id; by user, or by the account's
    email ignoring case) in live and history rows, as part of retiring the account. Returns how many."""
    user_id = user if isinstance(user, int) else user.pk
    condition = Q(user_id=user_id)
    email = normalise_key(getattr(user, "email", "") or "") if not isinstance(user, int) else ""
    if email:
        condition |= Q(learner_email_normalized=email)
    return _retire_all(LearnerContentAssignment.objects.filter(condition), timezone.now())
