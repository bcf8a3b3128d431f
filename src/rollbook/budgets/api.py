"""Public API of the budgets app: learner-credit budgets and their ledger.

Balance and spend are sums over the ledger, never stored counters. Every write that can spend (redeem, and
the assignments app's allocations) holds the budget's row lock (``lock_budget``) for its transaction, so
concurrent callers wait instead of overspending or being told to retry. Nothing here checks permissions.

Other apps, the REST layer, the admin, the CLI and tasks use only this module (and ``budgets.data``,
``budgets.signals``). It re-exports the public functions of the app's private modules:

- ``setup``: ``budgets_queryset``, ``get_budget``, ``create_budget``, ``update_budget``, ``lock_budget``,
  ``is_active_now``;
- ``ledger``: ``spend``, ``learner_spend``, ``transactions_queryset``, ``get_transaction``,
  ``refund_deadline``, ``reverse``, ``reverse_for_enrollments``;
- ``redemption``: ``resolve_content``, ``resolve_redeemable``, ``can_redeem``, ``redeem``,
  ``default_idempotency_key``, and the ``RedemptionRefused`` error.

Bad input raises ``InvalidInput`` (field errors), a missing budget or transaction ``NotFound``, an
idempotency key of another redemption ``Conflict``.
"""

from __future__ import annotations

from rollbook.budgets.ledger import (
    TransactionRef,
    get_transaction,
    learner_spend,
    refund_deadline,
    reverse,
    reverse_for_enrollments,
    spend,
    transactions_queryset,
)
from rollbook.budgets.redemption import (
    RedeemableContent,
    RedemptionRefused,
    can_redeem,
    default_idempotency_key,
    redeem,
    resolve_content,
    resolve_redeemable,
)
from rollbook.budgets.setup import (
    CHANGEABLE_FIELDS,
    BudgetRef,
    budgets_queryset,
    create_budget,
    get_budget,
    is_active_now,
    lock_budget,
    update_budget,
)

__all__ = [
    "CHANGEABLE_FIELDS",
    "BudgetRef",
    "RedeemableContent",
    "RedemptionRefused",
    "TransactionRef",
    "budgets_queryset",
    "can_redeem",
    "create_budget",
    "default_idempotency_key",
    "get_budget",
    "get_transaction",
    "is_active_now",
    "learner_spend",
    "lock_budget",
    "redeem",
    "refund_deadline",
    "resolve_content",
    "resolve_redeemable",
    "reverse",
    "reverse_for_enrollments",
    "spend",
    "transactions_queryset",
    "update_budget",
]
