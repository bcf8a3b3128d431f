"""The ``program_writes`` benchmark: it runs end to end with a few rows, and its row-at-a-time comparator
(``bench/program_rowwise.py``) obeys the same rules as ``programs.api``: on the same input and the same
starting state, both give the same per-key results and leave the same rows behind.

Each implementation runs inside a savepoint that is rolled back afterwards, so both start from exactly
the same database state.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.db import transaction

import bench
from bench import program_rowwise, program_writes
from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core import api as core_api
from rollbook.core.models import RoleAssignment
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.models import CourseEnrollment
from rollbook.identity import api as identity_api
from rollbook.programs import api as programs_api
from rollbook.programs.data import ProgramCourseEnrollmentRequest as CourseRequest
from rollbook.programs.data import ProgramEnrollmentRequest as Request
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment

REPO_ROOT = Path(bench.__file__).resolve().parent.parent
RUN = "course-v1:SmokeU+Data+2030"
PLAIN_RUN = "course-v1:SmokeU+Plain+2030"  # offers no masters mode
LINKED = ("L1", "L2", "L3", "L4", "L5", "L6", "L7")
UNLINKED = ("U1", "U2", "U3", "U4")


@pytest.fixture
def world(make_user):
    """Two programs of SmokeU sharing the Data course; SSO-linked students L1..L7 and unlinked keys U1..U4.

    Before any write under test: the other program has active course enrollments for L1 and U1 in the Data
    run; L2 is enrolled there in audit, L3 in verified, and L4 has an inactive masters enrollment.
    """
    org = catalog_api.create_organization("SmokeU", name="Smoke University")
    catalog_api.create_organization("SmokeP", name="Smoke Partner")
    provider = identity_api.create_identity_provider("smoke-sso", "Smoke SSO", organization=org)
    modes = [ModeSpec("audit"), ModeSpec("verified", 4900), ModeSpec("masters")]
    catalog_api.create_course_run(RUN, modes=modes)
    catalog_api.create_course_run(PLAIN_RUN, modes=[ModeSpec("audit")])
    program = programs_api.create_program("Smoke program", organizations=["SmokeU", "SmokeP"])
    programs_api.create_curriculum(
        program, name="main", catalog_course_keys=["catalog-course:SmokeU:Data", "catalog-course:SmokeU:Plain"]
    )
    other = programs_api.create_program("Smoke other program", organizations=["SmokeU"])
    programs_api.create_curriculum(other, name="other", catalog_course_keys=["catalog-course:SmokeU:Data"])
    users = {}
    for key in LINKED:
        users[key] = make_user(f"smoke-{key.lower()}")
        identity_api.link_sso(provider, key, users[key])
    programs_api.write_program_enrollments(
        other, [Request("L1", "enrolled"), Request("U1", "enrolled")], create=True, update=False
    )
    programs_api.write_program_course_enrollments(
        other, RUN, [CourseRequest("L1", "active"), CourseRequest("U1", "active")], create=True, update=False
    )
    enrollments_api.enroll(users["L2"], RUN, "audit", skip_access_checks=True)
    enrollments_api.enroll(users["L3"], RUN, "verified", skip_access_checks=True)
    enrollments_api.enroll(users["L4"], RUN, "masters", skip_access_checks=True)
    enrollments_api.unenroll(users["L4"], RUN)
    return {"program": program, "other": other, "users": users}


def _every_rule(implementation, world) -> list[dict[str, str]]:
    """One call after another, together touching every result status and side effect of both writes."""
    program, other = world["program"], world["other"]
    main_curriculum = str(program.curricula.get().uuid)
    foreign_curriculum = str(other.curricula.get().uuid)
    write = implementation.write_program_enrollments
    write_course = implementation.write_program_course_enrollments
    return [
        write(
            program,
            [
                *(Request(key, "enrolled") for key in LINKED[:4]),
                Request("l5", "pending", main_curriculum),
                Request("L6", "enrolled"),
                Request("L7", "suspended"),
                Request("U1", "enrolled"),
                Request("u2", "pending"),
                Request("U3", "enrolled"),
                Request("Twice", "enrolled"),
                Request("TWICE ", "pending"),
                Request("bad-status", "withdrawn"),
                Request("bad-curriculum", "enrolled", "not-a-uuid"),
                Request("foreign-curriculum", "enrolled", foreign_curriculum),
                Request("   ", "enrolled"),
            ],
            create=True,
            update=False,
        ),
        write(
            program,
            [
                Request("l1", "canceled"),
                Request("L2", "enrolled"),  # unchanged
                Request("u3", "ended"),
                Request("U4", "enrolled"),  # not in the program
                Request("L7", "Enrolled"),  # statuses are not case-insensitive
            ],
            create=False,
            update=True,
        ),
        write(program, [Request("L1", "enrolled"), Request("new-one", "pending")], create=True, update=False),
        write_course(
            program,
            RUN,
            [
                CourseRequest("L1", "active"),  # active in the run through the other program
                CourseRequest("l2", "active"),  # audit -> masters
                CourseRequest("L3", "active"),  # verified, left alone
                CourseRequest("L4", "active"),  # inactive masters, reactivated
                CourseRequest("L5", "inactive"),
                CourseRequest("L6", "active", True),
                CourseRequest("U1", "active"),  # the same key is active through the other program
                CourseRequest("u2", "active", True),
                CourseRequest("U3", "inactive", False),
                CourseRequest("U4", "active"),  # not in the program
                CourseRequest("dup", "active"),
                CourseRequest("DUP", "active"),
                CourseRequest("L7", "enrolled"),
            ],
            create=True,
            update=False,
        ),
        write_course(
            program,
            RUN,
            [
                CourseRequest("L2", "inactive"),
                CourseRequest("L5", "active"),
                CourseRequest("L6", "active", False),
                CourseRequest("U2", "active", False),
                CourseRequest("U3", "active", True),
                CourseRequest("L1", "inactive"),  # no program-course enrollment
                CourseRequest("L7", "active"),  # no program-course enrollment
            ],
            create=False,
            update=True,
        ),
        write_course(
            program, RUN, [CourseRequest("l3", "inactive"), CourseRequest("L1", "inactive")], create=True, update=False
        ),
        write_course(
            program,
            PLAIN_RUN,
            [CourseRequest("L2", "active"), CourseRequest("U3", "active"), CourseRequest("L1", "inactive")],
            create=True,
            update=True,
        ),
    ]


def _state() -> dict[str, object]:
    """What the writes leave behind, by natural keys (primary keys of new rows differ between the two runs)."""
    course_enrollments = {
        (row.user_id, str(row.course_run.course_key)): (row.mode, row.is_active)
        for row in CourseEnrollment.objects.select_related("course_run")
    }
    return {
        "program enrollments": sorted(
            ProgramEnrollment.objects.values_list(
                "program__title", "external_user_key", "external_user_key_normalized", "status", "user_id", "curriculum"
            )
        ),
        "program-course enrollments": sorted(
            (
                row.program_enrollment.program.title,
                row.program_enrollment.external_user_key_normalized,
                str(row.course_run.course_key),
                row.status,
                None if row.course_enrollment is None else (row.course_enrollment.user_id, row.course_enrollment.mode),
            )
            for row in ProgramCourseEnrollment.objects.select_related(
                "program_enrollment__program", "course_run", "course_enrollment"
            )
        ),
        "course enrollments": course_enrollments,
        "roles": sorted(
            RoleAssignment.objects.filter(role=core_api.Role.COURSE_STAFF).values_list("user_id", "scope_key")
        ),
        "staff assignments": sorted(
            CourseStaffAssignment.objects.values_list(
                "program_course_enrollment__program_enrollment__external_user_key_normalized", "role"
            )
        ),
        "history rows": (
            ProgramEnrollment.history.count(),
            ProgramCourseEnrollment.history.count(),
            CourseEnrollment.history.count(),
        ),
    }


def _run_and_roll_back(implementation, world) -> tuple[list[dict[str, str]], dict[str, object]]:
    with transaction.atomic():
        results = _every_rule(implementation, world)
        state = _state()
        transaction.set_rollback(True)
    return results, state


def test_the_comparator_and_the_api_agree_on_every_rule(world):
    api_results, api_state = _run_and_roll_back(programs_api, world)
    rowwise_results, rowwise_state = _run_and_roll_back(program_rowwise, world)

    assert rowwise_results == api_results
    assert rowwise_state == api_state
    # The scenario really reaches every outcome, so agreeing means something.
    seen = Counter(status for results in api_results for status in results.values())
    for status in (
        "enrolled",
        "pending",
        "suspended",
        "canceled",
        "ended",
        "active",
        "inactive",
        "duplicated",
        "invalid-status",
        "illegal-operation",
        "conflict",
        "not-in-program",
        "not-found",
    ):
        assert seen[status] > 0, status
    courses = api_state["course enrollments"]
    users = world["users"]
    assert courses[(users["L2"].pk, RUN)] == ("masters", False)
    assert courses[(users["L3"].pk, RUN)] == ("verified", True)
    assert courses[(users["L4"].pk, RUN)] == ("masters", True)
    assert courses[(users["L5"].pk, RUN)] == ("masters", True)
    assert api_state["staff assignments"] == [("u3", "staff")]


def test_the_bench_workloads_get_the_results_the_rules_give(world):
    program = world["program"]
    workload = program_writes.program_workload(300, str(program.curricula.get().uuid))
    existing = [Request(key, "pending") for key in workload.existing_keys]
    programs_api.write_program_enrollments(program, existing, create=True, update=False)

    def write_all(implementation):
        with transaction.atomic():
            results = implementation.write_program_enrollments(program, workload.requests, create=True, update=True)
            transaction.set_rollback(True)
        return results

    api_results = write_all(programs_api)
    assert api_results == workload.expected
    assert write_all(program_rowwise) == api_results
    tally = Counter(api_results.values())
    assert len(api_results) == 300
    assert (tally["duplicated"], tally["invalid-status"]) == (6, 3)  # 1% of requests repeat a key, 1% are bad
    assert tally["enrolled"] + tally["pending"] == 300 - 6 - 3


def test_the_api_is_set_based_where_the_comparator_is_not(world, settings):
    settings.BULK_BATCH_SIZE = 50
    program = world["program"]
    workload = program_writes.program_workload(500, str(program.curricula.get().uuid))
    existing = [Request(key, "pending") for key in workload.existing_keys]
    programs_api.write_program_enrollments(program, existing, create=True, update=False)

    def count_statements(implementation) -> int:
        with transaction.atomic():
            call = program_writes.timed(
                lambda: implementation.write_program_enrollments(program, workload.requests, create=True, update=True)
            )
            transaction.set_rollback(True)
        assert call.result == workload.expected
        return call.statements

    set_based, row_at_a_time = count_statements(programs_api), count_statements(program_rowwise)
    assert set_based <= 60  # about five statements per batch of 50 requests
    assert row_at_a_time > len(workload.requests)  # at least one per request


def test_the_benchmark_runs_with_a_few_rows(tmp_path):
    scratch = tmp_path / "bench.sqlite3"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "program_writes", "--rows", "200", "--database-url", f"sqlite:///{scratch}"],
        cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout
    assert "program_writes: 200 program enrollment requests, 40 program-course requests" in output
    assert "rows/s" in output
    assert "ratio row-at-a-time / API" in output
    assert "ratio API / floor" in output
    assert "ratio PUT / floor" in output
    assert "active 40" in output
