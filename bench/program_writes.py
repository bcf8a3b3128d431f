"""Benchmark: bulk program and program-course enrollment writes (``programs.api``), against two yardsticks.

Measured in one run, on the scratch database:

1. ``write_program_enrollments(create=True, update=True)`` with N requests (default 100,000): 80% new
   students, 20% status changes of enrollments that exist (half of them spelled in another case), 1% of
   the requests repeating another request's key in another case (so both copies are ``duplicated``) and
   1% with a status that does not exist (``withdrawn``). Every per-key result is checked against what the
   rules say it must be.
2. The same requests (on another program in the same starting state) through the REST endpoint
   ``PUT /api/program_enrollments/v1/programs/{uuid}/enrollments/``, in-process with an operator's JWT.
3. ``write_program_course_enrollments`` of N/5 (default 20,000) students linked to accounts through the
   program's single sign-on, who are thereby enrolled in the run's masters mode (10% of them had an audit
   enrollment, converted; 1% a verified one, left alone).

Yardsticks, each timed in the same run:

- the row-at-a-time comparator ``bench.program_rowwise`` (the same rules, one query and ``save()`` per
  row, as the upstream seed writes them) on a sample of the same shape, scaled linearly to N; the
  set-based API is also run on an identical sample and must give the same per-key results;
- the floor: a raw ``cursor.executemany`` INSERT of the rows the call wrote (live rows and history rows,
  converted to database values before the clock starts), after deleting them; on PostgreSQL, where
  executemany's one statement per row is no floor, also a COPY of the same rows.

On PostgreSQL the database is ANALYZEd before each timed call, as autovacuum would after the set-up's
bulk loads. The comparator's samples keep a whole run within about three minutes per database.
"""

from __future__ import annotations

import json
import random
import time
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench import Options, Report

DESCRIPTION = "program (100k) and program-course (20k) enrollment writes vs row-at-a-time and raw executemany"
DEFAULT_ROWS = 100_000
PROGRAM_SAMPLE = 4_000  # requests the row-at-a-time comparator writes (then scaled to N)
COURSE_SAMPLE = 1_000
COURSE_KEY = "course-v1:BenchU+Data+2030"
PROVIDER = "benchu-sso"
BAD_STATUS = "withdrawn"  # the status upstream renamed to canceled: a realistic mistake


@contextmanager
def counting_statements(connection):
    """Count the SQL statements sent through ``connection`` (an executemany counts once)."""
    counter = {"statements": 0}

    def wrapper(execute, sql, params, many, context):
        counter["statements"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


@dataclass(frozen=True, slots=True)
class Timed:
    """One timed call: its result, wall seconds and SQL statements."""

    result: Any
    seconds: float
    statements: int


def timed(call: Callable[[], Any]) -> Timed:
    """Run ``call`` once, timing it and counting its SQL statements."""
    from django.db import connection

    with counting_statements(connection) as counter:
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
    return Timed(result, seconds, counter["statements"])


# --- the requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProgramWorkload:
    """Program enrollment requests, the enrollments that must exist before them, and the result each key must get."""

    existing_keys: list[str]  # to create (status pending) before the timed call
    requests: list[Any]  # ProgramEnrollmentRequest, shuffled
    expected: dict[str, str]  # key as given -> result

    def body(self) -> list[dict[str, Any]]:
        """The requests as the REST endpoint takes them."""
        items = []
        for request in self.requests:
            item = {"student_key": request.external_user_key, "status": request.status}
            if request.curriculum_uuid is not None:
                item["curriculum_uuid"] = request.curriculum_uuid
            items.append(item)
        return items


def program_workload(count: int, curriculum_uuid: str, *, seed: int = 3) -> ProgramWorkload:
    """``count`` requests: 20% status changes of existing enrollments, 80% new students, of which 1% of all
    requests repeat another new student's key in upper case and 1% carry a status that does not exist.

    New students alternate between naming ``curriculum_uuid`` and naming none (the default curriculum).
    """
    from rollbook.programs.data import ProgramEnrollmentRequest

    rng = random.Random(seed)
    changes = count // 5
    repeats = count // 100
    bad = count // 100
    existing_keys = [f"stu-{number:07d}" for number in range(changes)]
    requests: list[Any] = []
    expected: dict[str, str] = {}
    for number, key in enumerate(existing_keys):
        given = key.upper() if number % 2 else key
        requests.append(ProgramEnrollmentRequest(given, "enrolled"))
        expected[given] = "enrolled"
    new_keys = [f"stu-{number:07d}" for number in range(changes, count - repeats)]
    for number, key in enumerate(new_keys):
        status = "pending" if number % 10 == 0 else "enrolled"
        requests.append(ProgramEnrollmentRequest(key, status, curriculum_uuid if number % 2 else None))
        expected[key] = status
    # Repeats copy distinct new keys; bad statuses go to other new keys.
    chosen = rng.sample(range(len(new_keys)), repeats + bad)
    first = len(existing_keys)
    for position in chosen[:repeats]:
        original = requests[first + position]
        copy = original.external_user_key.upper()
        requests.append(ProgramEnrollmentRequest(copy, original.status))
        expected[original.external_user_key] = expected[copy] = "duplicated"
    for position in chosen[repeats:]:
        original = requests[first + position]
        requests[first + position] = ProgramEnrollmentRequest(
            original.external_user_key, BAD_STATUS, original.curriculum_uuid
        )
        expected[original.external_user_key] = "invalid-status"
    rng.shuffle(requests)
    return ProgramWorkload(existing_keys, requests, expected)


@dataclass(frozen=True, slots=True)
class CourseWorkload:
    """Program-course requests for linked students, and what each student had in the run beforehand."""

    keys: list[str]  # as linked and enrolled in the program
    requests: list[Any]  # ProgramCourseEnrollmentRequest, in key order
    audit: list[int]  # indexes of students with an active audit enrollment in the run beforehand
    verified: list[int]  # ... with an active verified one


def course_workload(count: int, prefix: str) -> CourseWorkload:
    """``count`` students ``<prefix>-NNNNNNN``, each asked ``active`` (half spelled in upper case); every tenth
    had an audit enrollment, every hundredth (offset by five) a verified one."""
    from rollbook.programs.data import ProgramCourseEnrollmentRequest

    keys = [f"{prefix}-{number:07d}" for number in range(count)]
    requests = [
        ProgramCourseEnrollmentRequest(key.upper() if number % 2 else key, "active") for number, key in enumerate(keys)
    ]
    audit = [number for number in range(count) if number % 10 == 0]
    verified = [number for number in range(count) if number % 100 == 5]
    return CourseWorkload(keys, requests, audit, verified)


# --- the world -------------------------------------------------------------------------------------


def _create_catalog() -> None:
    from rollbook.catalog import api as catalog_api
    from rollbook.catalog.data import ModeSpec
    from rollbook.identity import api as identity_api

    first = catalog_api.create_organization("BenchU", name="Bench University")
    catalog_api.create_organization("BenchPartner", name="Bench Partner University")
    identity_api.create_identity_provider(PROVIDER, "Bench University SSO", organization=first)
    catalog_api.create_course_run(
        COURSE_KEY, modes=[ModeSpec("audit"), ModeSpec("verified", 4900), ModeSpec("masters")]
    )


def _create_program(title: str):
    from rollbook.programs import api as programs_api

    program = programs_api.create_program(title, organizations=["BenchU", "BenchPartner"])
    programs_api.create_curriculum(program, name="2030", catalog_course_keys=["catalog-course:BenchU:Data"])
    return program


def _program_with_linked_students(title: str, workload: CourseWorkload):
    """A program whose students (new accounts, linked at the SSO provider) are enrolled, some already in the run."""
    from django.contrib.auth import get_user_model

    from rollbook.enrollments import api as enrollments_api
    from rollbook.enrollments.data import EnrollRequest
    from rollbook.identity.models import IdentityProvider, SsoLink
    from rollbook.programs import api as programs_api

    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [
            user_model(username=key, email=f"{key}@bench.example.com", email_normalized=f"{key}@bench.example.com")
            for key in workload.keys
        ],
        batch_size=1000,
    )
    provider = IdentityProvider.objects.get(slug=PROVIDER)
    SsoLink.objects.bulk_create(
        [
            SsoLink(provider=provider, user=user, external_user_key=key, external_user_key_normalized=key)
            for key, user in zip(workload.keys, users, strict=True)
        ],
        batch_size=1000,
    )
    before = [EnrollRequest(COURSE_KEY, user_id=users[number].pk, mode="audit") for number in workload.audit]
    before += [EnrollRequest(COURSE_KEY, user_id=users[number].pk, mode="verified") for number in workload.verified]
    enrollments_api.bulk_enroll(before, skip_access_checks=True)
    program = _create_program(title)
    requests = [programs_api.ProgramEnrollmentRequest(key, "enrolled") for key in workload.keys]
    results = programs_api.write_program_enrollments(program, requests, create=True, update=False)
    linked = programs_api.fetch_program_enrollments(program, realized_only=True).count()
    if set(results.values()) != {"enrolled"} or linked != len(workload.keys):
        raise RuntimeError(f"setting up {title}: {Counter(results.values())}, {linked} linked")
    return program


# --- the floor -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Rows:
    """Rows of one table in database form, ready for an executemany INSERT."""

    model: Any
    fields: list[Any]
    values: list[list[Any]]


def snapshot(model, queryset) -> Rows:
    """The rows of ``queryset`` (every concrete column, the key included) converted to database values."""
    from django.db import connection

    fields = list(model._meta.concrete_fields)
    values = [
        [field.get_db_prep_save(value, connection) for field, value in zip(fields, row, strict=True)]
        for row in queryset.order_by("pk").values_list(*[field.attname for field in fields])
    ]
    return Rows(model, fields, values)


def delete_rows(rows: Rows) -> None:
    """Delete the snapshot's rows (by key), so that they can be inserted again."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    table = quote(rows.model._meta.db_table)
    pk_column = quote(rows.model._meta.pk.column)
    pk_position = rows.fields.index(rows.model._meta.pk)
    keys = [row[pk_position] for row in rows.values]
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            placeholders = ", ".join(["%s"] * len(batch))
            cursor.execute(f"DELETE FROM {table} WHERE {pk_column} IN ({placeholders})", batch)


def raw_insert(*tables: Rows) -> float:
    """Time one executemany INSERT per table of its rows, in one transaction; return the seconds."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for rows in tables:
            columns = ", ".join(quote(field.column) for field in rows.fields)
            placeholders = ", ".join(["%s"] * len(rows.fields))
            cursor.executemany(
                f"INSERT INTO {quote(rows.model._meta.db_table)} ({columns}) VALUES ({placeholders})", rows.values
            )
    return time.perf_counter() - started


def _max_history_id(model) -> int:
    from django.db.models import Max

    return model.history.aggregate(top=Max("history_id"))["top"] or 0


def raw_copy(*tables: Rows) -> float:
    """PostgreSQL only: time one COPY per table of its rows, in one transaction; return the seconds."""
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for rows in tables:
            columns = ", ".join(quote(field.column) for field in rows.fields)
            with cursor.cursor.copy(f"COPY {quote(rows.model._meta.db_table)} ({columns}) FROM STDIN") as copy:
                for row in rows.values:
                    copy.write_row(row)
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Floor:
    """Raw inserts of what a call wrote: live + history rows, live rows alone (executemany), and COPY (PostgreSQL)."""

    both: float
    live: float
    rows: int
    copy: float | None


def measure_floor(written: list[tuple[Any, Any, int]]) -> Floor:
    """Time raw INSERTs of what a call just wrote. ``written`` holds ``(model, queryset of the live rows it created
    or changed, the largest history id before it)`` triples, parents first. The live rows and the history rows
    the call wrote are snapshotted, deleted and inserted again with one executemany per table (live rows alone,
    then live and history rows); on PostgreSQL also with one COPY per table.
    """
    from django.db import connection

    live = [snapshot(model, queryset) for model, queryset, _before in written]
    history = [
        snapshot(model.history.model, model.history.filter(history_id__gt=before)) for model, _qs, before in written
    ]
    everything = [*live, *history]
    for rows in [*reversed(live), *history]:
        delete_rows(rows)
    live_seconds = raw_insert(*live)
    for rows in reversed(live):
        delete_rows(rows)
    both_seconds = raw_insert(*everything)
    copy_seconds = None
    if connection.vendor == "postgresql":
        for rows in [*reversed(live), *history]:
            delete_rows(rows)
        copy_seconds = raw_copy(*everything)
    return Floor(both_seconds, live_seconds, sum(len(rows.values) for rows in live), copy_seconds)


def analyze() -> None:
    """On PostgreSQL, refresh the planner's statistics after a set-up loaded many rows (what autovacuum does in a
    live database; with none, fresh tables get plans that scan thousands of rows per lookup)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- the run ---------------------------------------------------------------------------------------


def _operator_client():
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from rollbook.core import api as core_api
    from rollbook.core.auth import issue_token

    user = get_user_model().objects.create_user(username="bench-operator", email="operator@bench.example.com")
    core_api.grant(user, core_api.Role.OPERATOR)
    client = APIClient()
    token = issue_token(user, client_id="bench", scopes=["read", "write"])
    client.credentials(HTTP_AUTHORIZATION=f"JWT {token.access_token}")
    return client


def _check(label: str, results: dict[str, str], expected: dict[str, str]) -> None:
    if results != expected:
        wrong = [key for key in expected if results.get(key) != expected[key]][:5]
        detail = ", ".join(f"{key}: {results.get(key)!r} (expected {expected[key]!r})" for key in wrong)
        raise RuntimeError(
            f"{label}: results differ from the rules' ({len(results)} vs {len(expected)} keys): {detail}"
        )


def _tally(results: dict[str, str]) -> str:
    return ", ".join(f"{status} {count:,}" for status, count in sorted(Counter(results.values()).items()))


@dataclass(slots=True)
class Measured:
    """What one write path measured: the API call, the PUT call (program enrollments only), the row-at-a-time
    comparator on its sample, and the floor."""

    api: Timed
    rowwise: Timed
    sample: int
    floor: Floor
    put: Timed | None = None
    detail: str = ""


def measure_program_writes(rows: int, sample_size: int) -> Measured:
    """Program enrollments: the API, the PUT endpoint, the comparator (and the API on an identical sample) and the
    floor."""
    from django.urls import reverse

    from bench import program_rowwise
    from rollbook.programs import api as programs_api
    from rollbook.programs.models import ProgramEnrollment

    programs = {name: _create_program(f"Bench {name}") for name in ("api", "put", "rowwise", "check")}
    workloads = {}
    for name, program in programs.items():
        # Each program's requests name its own curriculum, over the same student keys.
        size = sample_size if name in ("rowwise", "check") else rows
        workloads[name] = workload = program_workload(size, str(program.curricula.get().uuid))
        existing = [programs_api.ProgramEnrollmentRequest(key, "pending") for key in workload.existing_keys]
        programs_api.write_program_enrollments(program, existing, create=True, update=False)

    workload = workloads["api"]
    analyze()
    history_before = _max_history_id(ProgramEnrollment)
    api_call = timed(
        lambda: programs_api.write_program_enrollments(programs["api"], workload.requests, create=True, update=True)
    )
    _check("write_program_enrollments", api_call.result, workload.expected)
    written = ProgramEnrollment.objects.filter(
        pk__in=ProgramEnrollment.history.filter(history_id__gt=history_before).values("id")
    )
    floor = measure_floor([(ProgramEnrollment, written, history_before)])

    put_workload = workloads["put"]
    client = _operator_client()
    url = reverse("program-enrollments", kwargs={"program_uuid": str(programs["put"].uuid)})
    body = json.dumps(put_workload.body())
    analyze()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: static files are not collected
        put_call = timed(lambda: client.put(url, data=body, content_type="application/json"))
    if put_call.result.status_code != 207:
        raise RuntimeError(f"PUT answered {put_call.result.status_code}: {put_call.result.content[:500]!r}")
    _check("PUT .../enrollments/", put_call.result.json(), put_workload.expected)

    sample = workloads["rowwise"]
    analyze()
    rowwise_call = timed(
        lambda: program_rowwise.write_program_enrollments(
            programs["rowwise"], sample.requests, create=True, update=True
        )
    )
    _check("row-at-a-time write_program_enrollments", rowwise_call.result, sample.expected)
    check = workloads["check"]
    check_results = programs_api.write_program_enrollments(programs["check"], check.requests, create=True, update=True)
    _check("write_program_enrollments on the comparator's sample", check_results, check.expected)
    return Measured(
        api_call,
        rowwise_call,
        sample_size,
        floor,
        put=put_call,
        detail=_tally(api_call.result),
    )


def measure_course_writes(rows: int, sample_size: int) -> Measured:
    """Program-course enrollments of linked students: the API, the floor, the comparator and the API on a sample."""
    from bench import program_rowwise
    from rollbook.enrollments.models import CourseEnrollment
    from rollbook.programs import api as programs_api
    from rollbook.programs.models import ProgramCourseEnrollment

    loads = {
        "api": course_workload(rows, "pcs"),
        "rowwise": course_workload(sample_size, "pcr"),
        "check": course_workload(sample_size, "pcc"),
    }
    programs = {name: _program_with_linked_students(f"Bench courses {name}", load) for name, load in loads.items()}

    load = loads["api"]
    analyze()
    before = {model: _max_history_id(model) for model in (CourseEnrollment, ProgramCourseEnrollment)}
    api_call = timed(
        lambda: programs_api.write_program_course_enrollments(
            programs["api"], COURSE_KEY, load.requests, create=True, update=True
        )
    )
    _check("write_program_course_enrollments", api_call.result, {r.external_user_key: "active" for r in load.requests})
    program_course = ProgramCourseEnrollment.objects.filter(program_enrollment__program=programs["api"])
    modes = Counter(
        CourseEnrollment.objects.filter(pk__in=program_course.values("course_enrollment_id")).values_list(
            "mode", flat=True
        )
    )
    wanted_modes = Counter({"masters": rows - len(load.verified), "verified": len(load.verified)})
    if program_course.filter(course_enrollment__isnull=True).exists() or modes != +wanted_modes:
        raise RuntimeError(f"the course enrollments are not what the Master's track makes: {dict(modes)}")
    changed_course_enrollments = CourseEnrollment.objects.filter(
        pk__in=CourseEnrollment.history.filter(history_id__gt=before[CourseEnrollment]).values("id")
    )
    floor = measure_floor(
        [
            (CourseEnrollment, changed_course_enrollments, before[CourseEnrollment]),
            (ProgramCourseEnrollment, program_course, before[ProgramCourseEnrollment]),
        ]
    )

    sample, check = loads["rowwise"], loads["check"]
    analyze()
    rowwise_call = timed(
        lambda: program_rowwise.write_program_course_enrollments(
            programs["rowwise"], COURSE_KEY, sample.requests, create=True, update=True
        )
    )
    check_results = programs_api.write_program_course_enrollments(
        programs["check"], COURSE_KEY, check.requests, create=True, update=True
    )
    rowwise_in_order = [rowwise_call.result[request.external_user_key] for request in sample.requests]
    check_in_order = [check_results[request.external_user_key] for request in check.requests]
    if rowwise_in_order != check_in_order:
        raise RuntimeError("row-at-a-time and set-based program-course results differ on samples of the same shape")
    detail = f"{_tally(api_call.result)}; course enrollments: " + ", ".join(
        f"{mode} {count:,}" for mode, count in sorted(modes.items())
    )
    return Measured(api_call, rowwise_call, sample_size, floor, detail=detail)


def _report_path(report: Report, what: str, rows: int, measured: Measured) -> None:
    scaled = measured.rowwise.seconds * rows / measured.sample
    report.add(f"{what}: results", measured.detail)
    report.add(f"{what}: API time", measured.api.seconds, "s")
    report.add(f"{what}: API throughput", rows / measured.api.seconds, "rows/s")
    report.add(f"{what}: API SQL statements", measured.api.statements)
    if measured.put is not None:
        report.add(f"{what}: PUT time (HTTP {measured.put.result.status_code})", measured.put.seconds, "s")
        report.add(f"{what}: PUT throughput", rows / measured.put.seconds, "rows/s")
        report.add(f"{what}: PUT SQL statements", measured.put.statements)
    report.add(f"{what}: row-at-a-time on a {measured.sample:,}-row sample", measured.rowwise.seconds, "s")
    report.add(f"{what}: row-at-a-time SQL statements on the sample", measured.rowwise.statements)
    report.add(f"{what}: row-at-a-time scaled to {rows:,} rows", scaled, "s")
    report.add(f"{what}: ratio row-at-a-time / API (target >= 20)", scaled / measured.api.seconds, "x")
    if measured.put is not None:
        report.add(f"{what}: ratio row-at-a-time / PUT (target >= 20)", scaled / measured.put.seconds, "x")
    floor = measured.floor
    report.add(f"{what}: floor, executemany of the {floor.rows:,} written rows + their history", floor.both, "s")
    report.add(f"{what}: ratio API / floor (target <= 3)", measured.api.seconds / floor.both, "x")
    if measured.put is not None:
        report.add(f"{what}: ratio PUT / floor (target <= 3)", measured.put.seconds / floor.both, "x")
    report.add(f"{what}: ratio API / floor of the live rows only", measured.api.seconds / floor.live, "x")
    if floor.copy is not None:
        report.add(f"{what}: COPY of the same rows + history", floor.copy, "s")
        report.add(f"{what}: ratio API / COPY", measured.api.seconds / floor.copy, "x")


def run(options: Options) -> Report:
    """Set up programs and students, time every path and yardstick, and report rows/s, statements and ratios."""
    from django.conf import settings
    from django.db import connection

    rows = options.rows or DEFAULT_ROWS
    course_rows = max(1, rows // 5)
    _create_catalog()
    program = measure_program_writes(rows, min(rows, PROGRAM_SAMPLE))
    course = measure_course_writes(course_rows, min(course_rows, COURSE_SAMPLE))

    report = Report(f"program_writes: {rows:,} program enrollment requests, {course_rows:,} program-course requests")
    report.add("database", connection.vendor)
    report.add("batch size (ROLLBOOK_BULK_BATCH_SIZE)", int(settings.BULK_BATCH_SIZE))
    _report_path(report, "program", rows, program)
    _report_path(report, "program-course", course_rows, course)
    report.notes.append(
        f"The row-at-a-time comparator (bench/program_rowwise.py: the same rules, one query and save() per row) "
        f"ran on samples of {program.sample:,} program and {course.sample:,} program-course requests of the same "
        "shape; its times are scaled linearly to the full counts. On identical samples the set-based API gave "
        "the same per-key results (checked)."
    )
    report.notes.append(
        "Every per-key result of the API and of the PUT endpoint is checked against the rules. The floor inserts "
        "again, with one executemany per table, the live rows the call created or changed and the history rows "
        "it wrote (program-course: course enrollments and program-course enrollments, with their history)."
    )
    if connection.vendor == "postgresql":
        report.notes.append(
            "Before each timed call the database is ANALYZEd, as autovacuum would after the set-up's bulk loads. "
            "executemany sends (pipelined) one INSERT per row, each parsed and planned: on PostgreSQL it is "
            "slower than the set-based writes, so the COPY figure is given as the real floor too."
        )
    return report
