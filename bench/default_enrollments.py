"""Benchmark: default-enrollment realization for a whole customer, and learner status for one learner.

Set-up (not measured), on the scratch database: a customer with N (default 50,000) active, linked learners;
a catalog of one organization whose five courses each have one open run (audit and verified); five
default-enrollment intentions in that catalog (three courses, which enroll in their advertised run, and two
runs); a plan of N seats with an activated license for every learner. Users, learners and licenses are
written in bulk (``bulk_create``, ``core.bulk``), the rest through the api.

Measured:

1. ``realize_for_customer``: wall time, SQL statements, course enrollments created per second (5 N are
   created: every learner in every intention's run, in verified, with its realization);
2. the same call again: it must find nothing to do and write nothing (no INSERT, UPDATE or DELETE);
3. ``learner_status`` for one learner: median and 95th percentile of 200 calls, and its statements;
4. statements per batch of learners, for two batch sizes (``ROLLBOOK_BULK_BATCH_SIZE`` b and 2 b): on 2 and
   4 batches of learners, each in a transaction rolled back afterwards; the difference between the two,
   halved, is what one more batch costs. Equal figures for both sizes show that the statements do not grow
   with the learners in a batch.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench import Options, Report

DESCRIPTION = "realize_for_customer for 50k licensed learners x 5 intentions, idempotent re-run, learner_status"
DEFAULT_ROWS = 50_000
ORGANIZATION = "BenchEnt"
COURSE_CODES = ("Onboarding", "Security", "Ethics", "Python", "Leading")
COURSE_INTENTIONS = COURSE_CODES[:3]  # catalog-course keys: the advertised run
RUN_INTENTIONS = COURSE_CODES[3:]  # course-v1 keys: that run
LEARNER_STATUS_CALLS = 200
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")
SAVEPOINT_VERBS = ("SAVEPOINT", "RELEASE", "ROLLBACK")


@contextmanager
def counting_statements(connection):
    """Count the SQL statements sent through ``connection`` (an executemany counts once), by first word.

    Savepoint statements are counted apart (``savepoints``): they appear only when a call runs inside an outer
    transaction, as the rolled-back probes do, and not in a call made in autocommit mode.
    """
    counter: Counter[str] = Counter()

    def wrapper(execute, sql, params, many, context):
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        counter["savepoints" if verb in SAVEPOINT_VERBS else "statements"] += 1
        if verb in WRITE_VERBS:
            counter["writes"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


@dataclass(frozen=True, slots=True)
class Timed:
    """One timed call: its result, wall seconds, SQL statements (savepoints apart) and writes among them."""

    result: Any
    seconds: float
    statements: int
    writes: int


def timed(call: Callable[[], Any]) -> Timed:
    """Run ``call`` once, timing it and counting its SQL statements."""
    from django.db import connection

    with counting_statements(connection) as counter:
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
    return Timed(result, seconds, counter["statements"], counter["writes"])


# --- the world ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class World:
    """The benchmark's customer, its intentions' content keys and one learner."""

    customer: Any
    learners: int
    content_keys: tuple[str, ...]
    some_learner: Any


def _create_catalog() -> list[str]:
    """Five open runs of ``ORGANIZATION`` (audit and verified); return the five intentions' content keys."""
    from django.utils import timezone

    from rollbook.catalog import api as catalog_api
    from rollbook.catalog.data import ModeSpec

    catalog_api.create_organization(ORGANIZATION, name="Bench Enterprise Academy")
    now = timezone.now()
    for code in COURSE_CODES:
        catalog_api.create_course_run(
            f"course-v1:{ORGANIZATION}+{code}+2030",
            modes=[ModeSpec("audit"), ModeSpec("verified", 4900)],
            start=now - timedelta(days=10),
            end=now + timedelta(days=200),
            enrollment_start=now - timedelta(days=30),
            enrollment_end=now + timedelta(days=100),
        )
    return [f"catalog-course:{ORGANIZATION}:{code}" for code in COURSE_INTENTIONS] + [
        f"course-v1:{ORGANIZATION}+{code}+2030" for code in RUN_INTENTIONS
    ]


def _create_learners(customer, count: int, prefix: str) -> list:
    """``count`` users, each an active, linked learner of ``customer``; return the users."""
    from django.contrib.auth import get_user_model

    from rollbook.core.bulk import insert_with_history
    from rollbook.enterprise.models import EnterpriseCustomerUser

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [
            user_model(
                username=f"{prefix}{number}",
                email=f"{prefix}{number}@bench.example.com",
                email_normalized=f"{prefix}{number}@bench.example.com",
                password="!",
            )
            for number in range(count)
        ],
        batch_size=1000,
    )
    insert_with_history(
        EnterpriseCustomerUser,
        [{"customer": customer, "user_id": user.pk, "active": True, "linked": True} for user in users],
    )
    return users


def _license_everyone(customer, catalog, users: list) -> None:
    """A current plan with one seat per user, every seat activated by its user."""
    from django.utils import timezone

    from rollbook.core.bulk import update_with_history
    from rollbook.enterprise import api
    from rollbook.enterprise.data import LicenseStatus
    from rollbook.enterprise.models import License

    now = timezone.now()
    plan = api.create_plan(
        customer,
        catalog=catalog,
        title="Bench subscription",
        seats=len(users),
        start=now - timedelta(days=30),
        expiration=now + timedelta(days=335),
    )
    licenses = list(License.objects.filter(plan=plan).order_by("id"))
    for license, user in zip(licenses, users, strict=True):
        license.status = LicenseStatus.ACTIVATED
        license.user_id = user.pk
        license.user_email = license.user_email_normalized = user.email
        license.assigned_at = license.activated_at = license.modified = now
    update_with_history(
        licenses,
        ["status", "user", "user_email", "user_email_normalized", "assigned_at", "activated_at", "modified"],
    )


def build_world(learners: int, *, slug: str = "bench-co") -> World:
    """Create the customer, its catalog and intentions, ``learners`` licensed learners (see the module docstring)."""
    from rollbook.enterprise import api

    content_keys = _create_catalog()
    customer = api.create_customer(name="Bench Co", slug=slug)
    catalog = api.create_catalog(customer, title="Bench catalog", organization_short_names=[ORGANIZATION])
    users = _create_learners(customer, learners, "bench-learner")
    _license_everyone(customer, catalog, users)
    for key in content_keys:
        api.create_intention(customer, key)
    return World(customer, learners, tuple(content_keys), users[len(users) // 2])


def analyze() -> None:
    """On PostgreSQL, refresh the planner's statistics after the set-up's bulk loads (as autovacuum would)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- the measures ------------------------------------------------------------------------------------


def _realize_first(world: World, learners: int) -> Timed:
    """``realize_for_customer`` with only the first ``learners`` learners active; rolled back afterwards."""
    from django.db import transaction

    from rollbook.enterprise import api
    from rollbook.enterprise.models import EnterpriseCustomerUser

    with transaction.atomic():
        rows = EnterpriseCustomerUser.objects.filter(customer=world.customer).order_by("pk")
        keep = list(rows.values_list("pk", flat=True)[:learners])
        rows.exclude(pk__in=keep).update(active=False)
        call = timed(lambda: api.realize_for_customer(world.customer))
        transaction.set_rollback(True)
    if call.result.realizations_created != learners * len(world.content_keys):
        raise RuntimeError(f"the probe on {learners} learners realized {call.result}")
    return call


@dataclass(frozen=True, slots=True)
class PerBatch:
    """Statements of ``realize_for_customer`` on 2 and 4 batches of ``batch_size`` learners, and their slope."""

    batch_size: int
    two_batches: int
    four_batches: int

    @property
    def per_batch(self) -> float:
        """What one more batch costs, in statements."""
        return (self.four_batches - self.two_batches) / 2


def statements_per_batch(world: World, batch_size: int) -> PerBatch:
    """Measure ``PerBatch`` for this batch size (needs 4 x batch_size learners; nothing stays written)."""
    from django.test.utils import override_settings

    with override_settings(BULK_BATCH_SIZE=batch_size):
        two = _realize_first(world, 2 * batch_size)
        four = _realize_first(world, 4 * batch_size)
    return PerBatch(batch_size, two.statements, four.statements)


def learner_status_latency(world: World, calls: int = LEARNER_STATUS_CALLS) -> tuple[list[float], int]:
    """Seconds of each of ``calls`` ``learner_status`` calls for one learner (by customer uuid, as the endpoint
    calls it), and the statements of one call."""
    from rollbook.enterprise import api

    customer_uuid = str(world.customer.uuid)
    one = timed(lambda: api.learner_status(customer_uuid, world.some_learner))
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        api.learner_status(customer_uuid, world.some_learner)
        seconds.append(time.perf_counter() - started)
    return seconds, one.statements


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def run(options: Options) -> Report:
    """Set up the customer, measure realization (first and again), learner status and statements per batch."""
    from django.conf import settings
    from django.db import connection

    from rollbook.enterprise import api
    from rollbook.enterprise.models import EnterpriseCourseEnrollment

    learners = options.rows or DEFAULT_ROWS
    started = time.perf_counter()
    world = build_world(learners)
    setup_seconds = time.perf_counter() - started
    intentions = len(world.content_keys)
    analyze()

    small = max(1, min(int(settings.BULK_BATCH_SIZE) // 2, learners // 8))
    probes = [statements_per_batch(world, small), statements_per_batch(world, 2 * small)]
    analyze()  # the probes' rolled-back rows

    first = timed(lambda: api.realize_for_customer(world.customer))
    expected = learners * intentions
    outcome = first.result
    if (outcome.learners, outcome.enrollments_created, outcome.realizations_created) != (learners, expected, expected):
        raise RuntimeError(f"realize_for_customer did not enroll every learner in every intention: {outcome}")
    if EnterpriseCourseEnrollment.objects.filter(customer_user__customer=world.customer).count() != expected:
        raise RuntimeError("the enterprise enrollments written are not one per learner and intention")
    analyze()
    again = timed(lambda: api.realize_for_customer(world.customer))
    if again.result.enrollments_created or again.result.realizations_created or again.writes:
        raise RuntimeError(f"the second realize_for_customer wrote something: {again.result}, {again.writes} writes")

    latencies, status_statements = learner_status_latency(world)
    status = api.learner_status(world.customer, world.some_learner)
    if len(status.already_enrolled) != intentions:
        raise RuntimeError(f"learner_status after realization: {status}")

    batches = -(-learners // int(settings.BULK_BATCH_SIZE))
    report = Report(f"default_enrollments: {learners:,} licensed learners x {intentions} intentions")
    report.add("database", connection.vendor)
    report.add("batch size (ROLLBOOK_BULK_BATCH_SIZE)", int(settings.BULK_BATCH_SIZE))
    report.add("set-up: learners, licenses, intentions (not measured)", setup_seconds, "s")
    report.add("realize_for_customer: time", first.seconds, "s")
    report.add("realize_for_customer: course enrollments created", outcome.enrollments_created)
    report.add("realize_for_customer: throughput", outcome.enrollments_created / first.seconds, "enrollments/s")
    report.add("realize_for_customer: SQL statements", first.statements)
    report.add(f"realize_for_customer: SQL statements per batch ({batches:,} in all)", first.statements / batches)
    report.add("realize_for_customer again: time", again.seconds, "s")
    report.add("realize_for_customer again: SQL statements (writes: 0)", again.statements)
    report.add(f"learner_status: median of {len(latencies)} calls", statistics.median(latencies) * 1000, "ms")
    report.add("learner_status: 95th percentile", percentile(latencies, 0.95) * 1000, "ms")
    report.add("learner_status: SQL statements per call", status_statements)
    for probe in probes:
        report.add(f"statements per extra batch of {probe.batch_size:,} learners", probe.per_batch)
    report.notes.append(
        "Every learner holds an activated license of a plan on the customer's catalog, so every (learner, "
        "intention) pair is enrollable and realized in verified; the counts are checked, and the second call "
        "must write nothing."
    )
    report.notes.append(
        "Statements per extra batch: realize_for_customer on the first 2 and then 4 batches' worth of learners "
        "(each rolled back), for two batch sizes; "
        + "; ".join(
            f"{probe.batch_size:,} learners per batch: {probe.two_batches} and {probe.four_batches} statements"
            for probe in probes
        )
        + ". The same cost per batch for both sizes means statements do not grow with the learners in a batch."
    )
    return report
