"""Benchmark: content assignments — one large allocation, and the administrators' assignment list.

Set-up (not measured), on the scratch database: an organization with one open run (audit, and verified at
4,900 cents), a customer whose catalog is that organization, and its administrator.

Measured:

1. ``assignments.api.allocate`` of E emails (default 10,000 = N / 10) in one call, on a fresh assigned budget
   whose limit covers twice the cost. Half the emails belong to accounts (every tenth of those is given in
   upper case: matched ignoring case), half to nobody yet. Emails go to Django's in-memory backend and the
   Celery tasks run eagerly in-process (no broker), so the notification emails would be sent as the call's
   transaction commits; the two parts are timed apart: the call is made in ``transaction.atomic``, the
   callbacks it registers with ``transaction.on_commit`` are taken out before the block commits, and are
   run (and timed) once it has. Reported: each part's seconds and SQL statements, assignments written
   per second, emails sent per second.
2. The admin list: a second assigned budget whose configuration holds N (default 100,000) assignments and
   3 N actions, bulk inserted with ``core.bulk`` in mixed states (every learner state: notifying, waiting,
   failed, expired; and accepted, cancelled, reversed). ``assignments.api.admin_assignments(configuration)``
   ordered by ``learner_state_sort_order`` (then id), its first page of 100, and
   ``learner_state_counts`` over the same queryset: the median and 95th percentile of 50 calls, and the
   SQL statements per call; the same for the default ordering (newest ``recent_action_time`` first); and, on
   PostgreSQL with JIT compilation on, the median by learner state again with ``SET jit = off``.

``--rows N`` sets the admin list's assignments (and so the emails allocated, N / 10, at least 2). On
PostgreSQL the database is ANALYZEd after the bulk loads, as autovacuum would.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench import Options, Report
from bench.default_enrollments import analyze, counting_statements, percentile

DESCRIPTION = "allocate 10k emails in one call; admin assignment list (100k assignments, 300k actions)"
DEFAULT_ROWS = 100_000
ORGANIZATION = "BenchAsg"
RUN_KEYS = tuple(f"course-v1:{ORGANIZATION}+{code}+2030" for code in ("Assign", "Design", "Lead"))
PRICE_CENTS = 4900
ADMIN_LIST_CALLS = 50
PAGE_SIZE = 100
LEARNER_STATE_ORDER = ("learner_state_sort_order", "id")
DEFAULT_ORDER = ("-recent_action_time", "id")


@dataclass(frozen=True, slots=True)
class World:
    """The benchmark's customer, its catalog, its administrator and the run assignments are made for."""

    customer: Any
    catalog: Any
    admin: Any
    run_key: str


def build_world(*, slug: str = "bench-assign") -> World:
    """The organization and its runs, the customer with its catalog and its enterprise administrator."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from rollbook.catalog import api as catalog_api
    from rollbook.catalog.data import ModeSpec
    from rollbook.core import api as core_api
    from rollbook.core.data import Role, Scope, ScopeKind
    from rollbook.enterprise import api as enterprise_api

    catalog_api.create_organization(ORGANIZATION, name="Bench Assignment Academy")
    now = timezone.now()
    for key in RUN_KEYS:
        catalog_api.create_course_run(
            key,
            modes=[ModeSpec("audit"), ModeSpec("verified", PRICE_CENTS)],
            start=now - timedelta(days=10),
            end=now + timedelta(days=300),
            enrollment_start=now - timedelta(days=30),
            enrollment_end=now + timedelta(days=200),
        )
    customer = enterprise_api.create_customer(name="Bench Assign Co", slug=slug)
    catalog = enterprise_api.create_catalog(
        customer, title="Bench assignments", organization_short_names=[ORGANIZATION]
    )
    admin = get_user_model().objects.create_user(username=f"{slug}-admin", email=f"l-and-d@{slug}.example")
    core_api.grant(admin, Role.ENTERPRISE_ADMIN, Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(customer.uuid)))
    return World(customer, catalog, admin, RUN_KEYS[0])


def assigned_budget(world: World, title: str, spend_limit_cents: int):
    """A current assigned budget of the world's customer (through ``budgets.api``) and its configuration."""
    from django.utils import timezone

    from rollbook.assignments import api as assignments_api
    from rollbook.budgets import api as budgets_api

    now = timezone.now()
    budget = budgets_api.create_budget(
        world.customer,
        catalog=world.catalog,
        title=title,
        spend_limit_cents=spend_limit_cents,
        start=now - timedelta(days=100),
        expiration=now + timedelta(days=365),
        access_method="assigned",
    )
    return budget, assignments_api.ensure_configuration(budget)


# --- 1. allocate --------------------------------------------------------------------------------------


def allocation_emails(count: int, prefix: str = "asg") -> list[str]:
    """``count`` emails: the first half get accounts (``create_accounts``), the rest belong to nobody; every
    tenth email with an account is spelled in upper case."""
    with_accounts = count // 2
    emails = []
    for number in range(count):
        email = f"{prefix}{number}@bench.example.com"
        if number < with_accounts and number % 10 == 0:
            email = email.upper()
        emails.append(email)
    return emails


def create_accounts(emails: Sequence[str]) -> int:
    """Accounts (bulk inserted) for the first half of ``emails``, stored in lower case; return how many."""
    from django.contrib.auth import get_user_model

    from rollbook.core.normalise import normalise_key

    user_model = get_user_model()
    owned = emails[: len(emails) // 2]
    user_model.objects.bulk_create(
        [
            user_model(
                username=f"bench-asg-user{number}",
                email=email.lower(),
                email_normalized=normalise_key(email),
                password="!",
            )
            for number, email in enumerate(owned)
        ],
        batch_size=1000,
    )
    return len(owned)


@dataclass(frozen=True, slots=True)
class AllocationTiming:
    """``allocate`` split in two: the call and its commit, then the after-commit notification callbacks."""

    result: Any
    transaction_seconds: float
    transaction_statements: int
    notification_seconds: float
    notification_statements: int
    callbacks: int
    emails_sent: int


def timed_allocation(budget, emails: Sequence[str], content_key: str, price_cents: int, admin) -> AllocationTiming:
    """Run ``allocate`` in ``transaction.atomic``, take out the on-commit callbacks it registered, let the block
    commit, then run those callbacks: each part timed and its statements counted. Emails go to the in-memory
    backend (counted from ``mail.outbox``)."""
    from django.core import mail
    from django.db import connection, transaction
    from django.test.utils import override_settings

    from rollbook.assignments import api as assignments_api

    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        mail.outbox = []
        with counting_statements(connection) as in_transaction:
            started = time.perf_counter()
            with transaction.atomic():
                registered_before = len(connection.run_on_commit)
                result = assignments_api.allocate(budget, list(emails), content_key, price_cents, admin)
                callbacks = [func for _savepoints, func, _robust in connection.run_on_commit[registered_before:]]
                del connection.run_on_commit[registered_before:]
            committed = time.perf_counter()
        with counting_statements(connection) as after_commit:
            for callback in callbacks:
                callback()
            notified = time.perf_counter()
        sent = len(mail.outbox)
        mail.outbox = []
    return AllocationTiming(
        result=result,
        transaction_seconds=committed - started,
        transaction_statements=in_transaction["statements"],
        notification_seconds=notified - committed,
        notification_statements=after_commit["statements"],
        callbacks=len(callbacks),
        emails_sent=sent,
    )


# --- 2. the admin list ----------------------------------------------------------------------------------

# One cycle of 20 assignments: (state, learner state the admin view must show, actions as (type, failed)).
# Three actions per assignment on average, so N assignments (a multiple of 20) carry exactly 3 N actions.
_OK, _FAILED = False, True
ASSIGNMENT_CYCLE: tuple[tuple[str, str | None, tuple[tuple[str, bool], ...]], ...] = (
    *[("allocated", "waiting", (("learner_linked", _OK), ("notified", _OK), ("reminded", _OK)))] * 6,
    *[("allocated", "notifying", (("learner_linked", _OK),))] * 2,
    (
        "allocated",
        "failed",
        (("learner_linked", _OK), ("notified", _FAILED), ("notified", _FAILED), ("reminded", _FAILED)),
    ),
    ("allocated", "waiting", (("notified", _OK), ("reminded", _OK), ("reminded", _OK), ("reminded", _OK))),
    *[("accepted", None, (("notified", _OK), ("learner_linked", _OK), ("redeemed", _OK)))] * 4,
    *[("cancelled", None, (("notified", _OK), ("cancelled", _OK), ("cancelled_acknowledged", _OK)))] * 2,
    *[("expired", "expired", (("notified", _OK), ("reminded", _OK), ("expired", _OK), ("expired_acknowledged", _OK)))]
    * 2,
    ("errored", "failed", (("notified", _OK), ("reminded", _OK), ("redeemed", _FAILED))),
    ("reversed", None, (("notified", _OK), ("redeemed", _OK), ("reversed", _OK))),
)
_STATE_TIMES = {
    "accepted": "accepted_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
    "errored": "errored_at",
    "reversed": "reversed_at",
}
_ERROR_FOR = {"notified": "email_error", "reminded": "email_error", "redeemed": "enrollment_error"}


def expected_learner_states(assignments: int) -> Counter[str]:
    """How many of ``assignments`` rows built by ``fill_configuration`` have each learner state."""
    counts: Counter[str] = Counter()
    for number in range(assignments):
        learner_state = ASSIGNMENT_CYCLE[number % len(ASSIGNMENT_CYCLE)][1]
        if learner_state is not None:
            counts[learner_state] += 1
    return counts


def fill_configuration(configuration, assignments: int, *, now: datetime | None = None) -> tuple[int, int]:
    """Bulk insert ``assignments`` assignments of ``configuration`` in the states of ``ASSIGNMENT_CYCLE`` and
    their actions (with history rows, through ``core.bulk``); return (assignments, actions) written.

    Allocation times are spread over the last 80 days; each action follows its assignment's allocation by a
    few hours to days. Prices vary from 4,655 to 5,145 cents (within 5% of the list price)."""
    from django.utils import timezone

    from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
    from rollbook.core.bulk import insert_with_history
    from rollbook.core.normalise import normalise_key

    now = now or timezone.now()
    rows: list[dict[str, Any]] = []
    for number in range(assignments):
        state, _learner_state, _actions = ASSIGNMENT_CYCLE[number % len(ASSIGNMENT_CYCLE)]
        allocated_at = now - timedelta(days=80) + timedelta(seconds=(number * 69_119) % (80 * 86_400))
        email = f"listed{number}@bench.example.com"
        row: dict[str, Any] = {
            "configuration_id": configuration.pk,
            "learner_email": email,
            "learner_email_normalized": normalise_key(email),
            "content_key": RUN_KEYS[number % len(RUN_KEYS)],
            "content_title": "Bench course",
            "content_quantity": -(PRICE_CENTS - 245 + (number * 7) % 491),
            "preferred_course_run_key": RUN_KEYS[number % len(RUN_KEYS)],
            "state": state,
            "allocated_at": allocated_at,
            "created": allocated_at,
            "modified": allocated_at + timedelta(days=2),
        }
        if state in _STATE_TIMES:
            row[_STATE_TIMES[state]] = allocated_at + timedelta(days=2)
        if state == "expired":
            row["expiry_reason"] = "NINETY_DAYS_PASSED"
        rows.append(row)
    assignment_ids = insert_with_history(LearnerContentAssignment, rows)

    action_rows: list[dict[str, Any]] = []
    for number, assignment_id in enumerate(assignment_ids):
        allocated_at = rows[number]["allocated_at"]
        for step, (action_type, failed) in enumerate(ASSIGNMENT_CYCLE[number % len(ASSIGNMENT_CYCLE)][2], start=1):
            happened = allocated_at + timedelta(hours=3 * step + (number % 11))
            action_rows.append(
                {
                    "assignment_id": assignment_id,
                    "action_type": action_type,
                    "completed_at": None if failed else happened,
                    "error_reason": _ERROR_FOR[action_type] if failed else None,
                    "traceback": "Traceback (most recent call last): ... (bench)" if failed else "",
                    "created": happened,
                    "modified": happened,
                }
            )
    insert_with_history(LearnerContentAssignmentAction, action_rows)
    return len(assignment_ids), len(action_rows)


@dataclass(slots=True)
class AdminListCall:
    """What the admin list does for one request: the first page in ``ordering`` and the learner-state counts.

    Calling it returns ``(page, counts)`` and records the seconds of each part in ``page_seconds`` and
    ``counts_seconds``."""

    configuration: Any
    ordering: Sequence[str]
    page_seconds: list[float] = field(default_factory=list)
    counts_seconds: list[float] = field(default_factory=list)

    def __call__(self) -> tuple[list, list]:
        from rollbook.assignments import api as assignments_api

        started = time.perf_counter()
        queryset = assignments_api.admin_assignments(self.configuration)
        page = list(queryset.order_by(*self.ordering)[:PAGE_SIZE])
        paged = time.perf_counter()
        counts = assignments_api.learner_state_counts(queryset)
        self.page_seconds.append(paged - started)
        self.counts_seconds.append(time.perf_counter() - paged)
        return page, counts


def admin_list_call(configuration, ordering: Sequence[str]) -> AdminListCall:
    """A fresh ``AdminListCall`` for the configuration in that order."""
    return AdminListCall(configuration, tuple(ordering))


def latency(call: Callable[[], Any], calls: int) -> tuple[list[float], int, Any]:
    """Seconds of each of ``calls`` calls, the statements of one (counted on an extra first call, whose time
    is not kept) and its result."""
    from django.db import connection

    with counting_statements(connection) as counter:
        result = call()
    if isinstance(call, AdminListCall):  # keep the split of the timed calls only
        call.page_seconds.clear()
        call.counts_seconds.clear()
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds, counter["statements"], result


def admin_list_without_jit(configuration, calls: int = ADMIN_LIST_CALLS) -> list[float] | None:
    """On PostgreSQL with JIT compilation on, the seconds of ``calls`` admin-list calls (by learner state) with
    ``SET jit = off`` for the session (reset afterwards); None elsewhere."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        if cursor.fetchone()[0] != "on":
            return None
        cursor.execute("SET jit = off")
    try:
        seconds, _statements, _result = latency(admin_list_call(configuration, LEARNER_STATE_ORDER), calls)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")
    return seconds


def check_admin_list(page: list, counts: list, assignments: int) -> None:
    """Raise unless the page is sorted by learner state and the counts are what the set-up wrote."""
    from rollbook.assignments.data import LEARNER_STATE_SORT_ORDER_OTHER

    orders = [row.learner_state_sort_order for row in page]
    if len(page) != min(PAGE_SIZE, assignments) or orders != sorted(orders):
        raise RuntimeError(f"the admin page is not the first {PAGE_SIZE} by learner state: {orders[:10]}")
    if orders and orders[0] == LEARNER_STATE_SORT_ORDER_OTHER:
        raise RuntimeError("the admin page starts with assignments that have no learner state")
    got = {row["learner_state"]: row["count"] for row in counts if row["learner_state"] is not None}
    if got != dict(expected_learner_states(assignments)):
        raise RuntimeError(f"learner_state_counts {got} != {dict(expected_learner_states(assignments))}")


# --- the run ------------------------------------------------------------------------------------------


def run(options: Options) -> Report:
    """Set up, allocate E emails in one call, then build and measure the admin list over N assignments."""
    from django.conf import settings
    from django.db import connection

    from rollbook.assignments.models import LearnerContentAssignment

    listed = options.rows or DEFAULT_ROWS
    # one INFO line per eager email task, and kombu's note about the in-memory broker, would bury the figures
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    emails_count = max(2, listed // 10)
    started = time.perf_counter()
    world = build_world()
    emails = allocation_emails(emails_count)
    accounts = create_accounts(emails)
    budget, configuration = assigned_budget(world, "Bench allocation", 2 * emails_count * PRICE_CENTS)
    analyze()
    setup_seconds = time.perf_counter() - started

    allocation = timed_allocation(budget, emails, world.run_key, PRICE_CENTS, world.admin)
    outcome = allocation.result
    if (len(outcome.created), len(outcome.updated), len(outcome.no_change)) != (emails_count, 0, 0):
        raise RuntimeError(f"allocate did not create one assignment per email: {len(outcome.created)} created")
    linked = LearnerContentAssignment.objects.filter(configuration=configuration, user__isnull=False).count()
    if linked != accounts:
        raise RuntimeError(f"allocate matched {linked} assignments to accounts, not {accounts}")

    started = time.perf_counter()
    _list_budget, list_configuration = assigned_budget(world, "Bench admin list", 10 * listed * PRICE_CENTS)
    written, actions = fill_configuration(list_configuration, listed)
    analyze()
    fill_seconds = time.perf_counter() - started

    by_state = admin_list_call(list_configuration, LEARNER_STATE_ORDER)
    by_state_seconds, by_state_statements, (page, counts) = latency(by_state, ADMIN_LIST_CALLS)
    check_admin_list(page, counts, written)
    default_seconds, default_statements, _ = latency(
        admin_list_call(list_configuration, DEFAULT_ORDER), ADMIN_LIST_CALLS
    )
    without_jit = admin_list_without_jit(list_configuration)

    report = Report(
        f"assignments: allocate {emails_count:,} emails; admin list of {written:,} assignments, {actions:,} actions"
    )
    report.add("database", connection.vendor)
    report.add("batch size (ROLLBOOK_BULK_BATCH_SIZE)", int(settings.BULK_BATCH_SIZE))
    report.add("set-up: catalog, customer, accounts (not measured)", setup_seconds, "s")
    report.add(f"allocate: emails ({accounts:,} with an account)", emails_count)
    report.add("allocate: transaction (call and commit)", allocation.transaction_seconds, "s")
    report.add("allocate: transaction SQL statements", allocation.transaction_statements)
    report.add("allocate: throughput", emails_count / allocation.transaction_seconds, "assignments/s")
    report.add(
        f"allocate: notifications after commit ({allocation.callbacks} on-commit callback(s))",
        allocation.notification_seconds,
        "s",
    )
    report.add("allocate: notification SQL statements", allocation.notification_statements)
    report.add("allocate: emails sent", allocation.emails_sent)
    if allocation.notification_seconds > 0:
        report.add("allocate: email throughput", allocation.emails_sent / allocation.notification_seconds, "emails/s")
    report.add("allocate: in all", allocation.transaction_seconds + allocation.notification_seconds, "s")
    report.add("admin list: set-up, bulk insert (not measured)", fill_seconds, "s")
    report.add(
        f"admin list by learner_state_sort_order: median of {len(by_state_seconds)} calls",
        statistics.median(by_state_seconds) * 1000,
        "ms",
    )
    report.add(
        "admin list by learner_state_sort_order: 95th percentile", percentile(by_state_seconds, 0.95) * 1000, "ms"
    )
    report.add("admin list by learner_state_sort_order: SQL statements per call", by_state_statements)
    report.add("  of which the page of 100: median", statistics.median(by_state.page_seconds) * 1000, "ms")
    report.add("  of which learner_state_counts: median", statistics.median(by_state.counts_seconds) * 1000, "ms")
    report.add(
        f"admin list by -recent_action_time: median of {len(default_seconds)} calls",
        statistics.median(default_seconds) * 1000,
        "ms",
    )
    report.add("admin list by -recent_action_time: SQL statements per call", default_statements)
    report.notes.append(
        "allocate runs in transaction.atomic; the on-commit callbacks it registers (the notification tasks, "
        "eager without a broker, to the in-memory email backend) are taken out and run after the commit, so "
        "'transaction' is the call with its commit and 'notifications' is what a broker-less process also does "
        "before the call returns."
    )
    report.notes.append(
        f"One call of the admin list = the first page of {PAGE_SIZE} of admin_assignments(configuration) in that "
        "order, plus learner_state_counts over the same queryset; its learner states and counts are checked "
        "against what the set-up wrote."
    )
    if without_jit is not None:
        report.add(
            f"admin list by learner_state_sort_order, JIT off: median of {len(without_jit)} calls",
            statistics.median(without_jit) * 1000,
            "ms",
        )
        report.notes.append(
            "PostgreSQL compiles the admin list's queries with JIT (their estimated cost is above jit_above_cost, "
            "because of the per-row subqueries over every assignment of the configuration), and compiling costs "
            "more than running them; 'JIT off' is the same calls after SET jit = off in the session."
        )
    return report
