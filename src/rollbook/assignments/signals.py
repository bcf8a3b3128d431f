"""The assignments app's reactions to other apps' events. Connected by ``AssignmentsConfig.ready()``.

- ``identity.signals.user_created`` (after the commit) → ``api.link_learner``: assignments made to the new
  account's email get the user. An error is logged by the sender, the account stays.
- ``identity.signals.user_retiring`` (inside the retirement's transaction) → ``api.retire_learner_pii``:
  the emails of the account's assignments are retired in live and history rows; an error aborts the
  retirement, so it is all or nothing.
- ``budgets.signals.budget_created`` (inside the creation's transaction) → ``api.ensure_configuration`` for
  an assigned budget: its configuration exists exactly when the budget does.
- ``budgets.signals.transaction_reversed`` (after the refund commits) → ``api.reverse_for_transaction``: the
  accepted assignment paid by the refunded transaction becomes reversed.
"""

from __future__ import annotations

from typing import Any

from rollbook.budgets import signals as budget_signals
from rollbook.budgets.data import AccessMethod, TransactionReversed
from rollbook.identity import signals as identity_signals

_UID = "rollbook.assignments."


def link_new_user(sender: Any, user_id: int, **kwargs: Any) -> None:
    """Receiver of ``user_created``: link the new account to the assignments of its email."""
    from rollbook.assignments import api
    from rollbook.identity import api as identity_api

    user = identity_api.users_by_ids([user_id]).get(user_id)
    if user is not None:
        api.link_learner(user)


def retire_user_emails(sender: Any, user_id: int, **kwargs: Any) -> None:
    """Receiver of ``user_retiring``: retire the emails of the account's assignments."""
    from rollbook.assignments import api
    from rollbook.identity import api as identity_api

    user = identity_api.users_by_ids([user_id]).get(user_id)
    api.retire_learner_pii(user if user is not None else user_id)


def configure_assigned_budget(sender: Any, budget_id: int, **kwargs: Any) -> None:
    """Receiver of ``budget_created``: an assigned budget gets its assignment configuration."""
    from rollbook.assignments import api
    from rollbook.budgets import api as budgets_api

    budget = budgets_api.budgets_queryset().get(pk=budget_id)
    if budget.access_method == AccessMethod.ASSIGNED:
        api.ensure_configuration(budget)


def reverse_refunded_assignment(sender: Any, event: TransactionReversed, **kwargs: Any) -> None:
    """Receiver of ``transaction_reversed``: the assignment paid by the transaction becomes reversed."""
    from rollbook.assignments import api

    api.reverse_for_transaction(event.transaction_uuid)


def connect() -> None:
    """Subscribe this app's receivers (idempotent)."""
    identity_signals.user_created.connect(link_new_user, dispatch_uid=_UID + "link_new_user")
    identity_signals.user_retiring.connect(retire_user_emails, dispatch_uid=_UID + "retire_user_emails")
    budget_signals.budget_created.connect(configure_assigned_budget, dispatch_uid=_UID + "configure_assigned_budget")
    budget_signals.transaction_reversed.connect(
        reverse_refunded_assignment, dispatch_uid=_UID + "reverse_refunded_assignment"
    )
