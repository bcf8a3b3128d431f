"""Public API of the assignments app (seed 002, enterprise-access content assignments), with the upstream
quirks fixed (reference §3, §7). Nothing here checks permissions: callers do.

Other apps, the REST layer, the admin, the CLI and tasks use only this module (and ``assignments.data``).
It re-exports the public functions of the app's private modules:

- ``records``: ``get_configuration``, ``configurations_queryset``;
- ``allocation``: ``ensure_configuration``, ``allocate`` (+ ``AllocationRefused``), ``allocated_cents``;
- ``lifecycle``: ``cancel``, ``remind``, ``nudge``, ``learner_assignments``, ``acknowledge``, ``accept``,
  ``assignment_reasons``, ``reverse_for_transaction``, ``link_learner`` (and which actions they record);
- ``expiry``: ``earliest_expiration(s)``, ``expire_due`` (daily);
- ``admin_view``: ``admin_assignments``, ``filtered_assignments``, ``learner_state_counts``;
- ``retention``: ``retire_expired_pii`` (daily), ``retire_learner_pii`` (account retirement).

Money: allocations and redemptions of one budget hold its row lock (``budgets.api.lock_budget``), so after
every commit the budget's spent (ledger) + allocated (``allocated_cents``) stays within its limit.
Bad input raises ``InvalidInput`` (field errors), a missing object ``NotFound``.
"""

from __future__ import annotations

from rollbook.assignments.admin_view import admin_assignments, filtered_assignments, learner_state_counts
from rollbook.assignments.allocation import AllocationRefused, allocate, allocated_cents, ensure_configuration
from rollbook.assignments.expiry import earliest_expiration, earliest_expirations, expire_due
from rollbook.assignments.lifecycle import (
    accept,
    acknowledge,
    assignment_reasons,
    cancel,
    learner_assignments,
    link_learner,
    nudge,
    remind,
    reverse_for_transaction,
)
from rollbook.assignments.records import ConfigurationRef, configurations_queryset, get_configuration
from rollbook.assignments.retention import retire_expired_pii, retire_learner_pii

__all__ = [
    "AllocationRefused",
    "ConfigurationRef",
    "accept",
    "acknowledge",
    "admin_assignments",
    "allocate",
    "allocated_cents",
    "assignment_reasons",
    "cancel",
    "configurations_queryset",
    "earliest_expiration",
    "earliest_expirations",
    "ensure_configuration",
    "expire_due",
    "filtered_assignments",
    "get_configuration",
    "learner_assignments",
    "learner_state_counts",
    "link_learner",
    "nudge",
    "remind",
    "retire_expired_pii",
    "retire_learner_pii",
    "reverse_for_transaction",
]
