"""The ``default_enrollments`` benchmark: its world is what it claims (every learner licensed, every pair
enrollable), realization is set-based (the same statements per extra batch whatever the learners per batch)
and idempotent, and the benchmark runs end to end with a few learners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bench
from bench import default_enrollments
from rollbook.enterprise import api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import DefaultEnrollmentRealization, EnterpriseCustomerUser, License

REPO_ROOT = Path(bench.__file__).resolve().parent.parent


def test_the_world_is_licensed_and_every_intention_enrollable(db):
    world = default_enrollments.build_world(12)

    assert EnterpriseCustomerUser.objects.filter(customer=world.customer, active=True, linked=True).count() == 12
    assert License.objects.filter(plan__customer=world.customer, status=LicenseStatus.ACTIVATED).count() == 12
    assert sorted(world.content_keys) == sorted(
        api.intentions_queryset(world.customer).values_list("content_key", flat=True)
    )
    assert api.validate_intentions(world.customer) == []
    status = api.learner_status(world.customer, world.some_learner)
    assert len(status.enrollable) == 5 and not status.already_enrolled and not status.not_enrollable


def test_statements_per_batch_do_not_grow_with_learners_per_batch(db):
    world = default_enrollments.build_world(32)

    small, large = (
        default_enrollments.statements_per_batch(world, 4),
        default_enrollments.statements_per_batch(world, 8),
    )

    assert small.per_batch == large.per_batch > 0
    assert small.four_batches > small.two_batches
    assert not DefaultEnrollmentRealization.objects.exists()  # the probes were rolled back


def test_realization_then_a_second_call_that_writes_nothing(db):
    world = default_enrollments.build_world(10)

    first = default_enrollments.timed(lambda: api.realize_for_customer(world.customer))
    again = default_enrollments.timed(lambda: api.realize_for_customer(world.customer))

    assert (first.result.realizations_created, first.result.enrollments_created) == (50, 50)
    assert first.writes > 0
    assert (again.result.realizations_created, again.result.enrollments_created, again.writes) == (0, 0, 0)
    seconds, statements = default_enrollments.learner_status_latency(world, calls=5)
    assert len(seconds) == 5 and statements > 0


def test_percentile_is_the_nearest_rank():
    values = [float(number) for number in range(1, 101)]
    assert default_enrollments.percentile(values, 0.95) == 95.0
    assert default_enrollments.percentile(values, 0.5) == 50.0
    assert default_enrollments.percentile([3.0], 0.95) == 3.0


def test_the_benchmark_runs_with_a_few_learners(tmp_path):
    scratch = tmp_path / "bench.sqlite3"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "default_enrollments",
            "--rows",
            "40",
            "--database-url",
            f"sqlite:///{scratch}",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout
    assert "default_enrollments: 40 licensed learners x 5 intentions" in output
    assert "enrollments/s" in output
    assert "realize_for_customer again" in output
    assert "learner_status: median of 200 calls" in output
    assert "statements per extra batch of 5 learners" in output
    assert "statements per extra batch of 10 learners" in output
