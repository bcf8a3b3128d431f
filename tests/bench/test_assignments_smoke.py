"""The ``assignments`` benchmark: its allocation is what it claims (one assignment per email, half matched to
accounts ignoring case, the notification emails sent only by the after-commit part), its admin-list world has
every learner state in the proportions it declares with three actions per assignment, the admin list's
statements do not grow with the assignments, and the benchmark runs end to end with a few rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bench
from bench import assignments as assignments_bench
from rollbook.assignments import api
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction

REPO_ROOT = Path(bench.__file__).resolve().parent.parent


def test_allocation_is_timed_in_two_parts_and_does_what_it_claims(db):
    world = assignments_bench.build_world()
    emails = assignments_bench.allocation_emails(40)
    assert assignments_bench.create_accounts(emails) == 20
    assert sum(email != email.lower() for email in emails) == 2  # numbers 0 and 10, both with accounts
    budget, configuration = assignments_bench.assigned_budget(world, "Smoke", 80 * assignments_bench.PRICE_CENTS)

    timing = assignments_bench.timed_allocation(
        budget, emails, world.run_key, assignments_bench.PRICE_CENTS, world.admin
    )

    assert (len(timing.result.created), len(timing.result.updated), len(timing.result.no_change)) == (40, 0, 0)
    rows = LearnerContentAssignment.objects.filter(configuration=configuration)
    assert rows.filter(user__isnull=False).count() == 20
    assert timing.transaction_statements > 0 and timing.callbacks >= 1
    assert timing.emails_sent == 40  # sent by the after-commit part, not inside the transaction
    assert timing.notification_statements > 0
    assert LearnerContentAssignmentAction.objects.filter(assignment__in=rows, action_type="notified").count() == 40


def test_the_admin_list_world_has_every_learner_state_and_three_actions_each(db):
    world = assignments_bench.build_world()
    _budget, configuration = assignments_bench.assigned_budget(world, "Listed", 10**8)

    written, actions = assignments_bench.fill_configuration(configuration, 200)

    assert (written, actions) == (200, 600)
    assert LearnerContentAssignmentAction.objects.filter(assignment__configuration=configuration).count() == 600
    expected = assignments_bench.expected_learner_states(200)
    assert set(expected) == {"notifying", "waiting", "failed", "expired"}
    counts = api.learner_state_counts(api.admin_assignments(configuration))
    assert {row["learner_state"]: row["count"] for row in counts if row["learner_state"]} == dict(expected)
    page, counts = assignments_bench.admin_list_call(configuration, assignments_bench.LEARNER_STATE_ORDER)()
    assignments_bench.check_admin_list(page, counts, 200)  # raises when wrong
    assert page[0].learner_state == "notifying"


def test_admin_list_statements_do_not_grow_with_the_assignments(db):
    world = assignments_bench.build_world()
    _small_budget, small = assignments_bench.assigned_budget(world, "Small", 10**8)
    _large_budget, large = assignments_bench.assigned_budget(world, "Large", 10**8)
    assignments_bench.fill_configuration(small, 40)
    assignments_bench.fill_configuration(large, 400)

    measured = []
    for configuration in (small, large):
        for ordering in (assignments_bench.LEARNER_STATE_ORDER, assignments_bench.DEFAULT_ORDER):
            call = assignments_bench.admin_list_call(configuration, ordering)
            seconds, statements, _result = assignments_bench.latency(call, calls=3)
            assert len(seconds) == len(call.page_seconds) == len(call.counts_seconds) == 3
            measured.append(statements)

    assert measured[:2] == measured[2:]
    assert all(0 < statements <= 3 for statements in measured)


def test_the_jit_probe_runs_on_postgresql_only_and_resets_the_session(db):
    from django.db import connection

    world = assignments_bench.build_world()
    _budget, configuration = assignments_bench.assigned_budget(world, "JIT", 10**8)
    assignments_bench.fill_configuration(configuration, 20)
    jit_before = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            jit_before = cursor.fetchone()[0]

    seconds = assignments_bench.admin_list_without_jit(configuration, calls=2)

    if jit_before == "on":
        assert len(seconds) == 2
        with connection.cursor() as cursor:
            cursor.execute("SHOW jit")
            assert cursor.fetchone()[0] == "on"
    else:
        assert seconds is None


def test_the_benchmark_runs_with_a_few_rows(tmp_path):
    scratch = tmp_path / "bench.sqlite3"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "assignments", "--rows", "200", "--database-url", f"sqlite:///{scratch}"],
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout
    assert "assignments: allocate 20 emails; admin list of 200 assignments, 600 actions" in output
    assert "allocate: transaction (call and commit)" in output
    assert "assignments/s" in output
    assert "allocate: emails sent" in output
    assert "admin list by learner_state_sort_order: median of 50 calls" in output
    assert "admin list by learner_state_sort_order: SQL statements per call" in output
    assert "of which learner_state_counts: median" in output
    assert "celery.app.trace" not in completed.stdout + completed.stderr
