"""Benchmark: ``enrollments.api.bulk_enroll`` against a raw ``executemany`` INSERT of the same rows.

Set-up: ``users x runs`` pairs (default 5,000 x 10 = 50,000). Timed: one ``bulk_enroll`` call that
enrolls every pair (user lookups, run and mode lookups, existing-enrollment checks, the rows and
their history rows), then, after deleting those rows, a plain ``cursor.executemany`` INSERT of the
same rows into the enrollment table alone, and the same into the history table as well.
"""

from __future__ import annotations

import math
import time
import uuid
from contextlib import contextmanager

from bench import Options, Report

DESCRIPTION = "bulk_enroll of users x runs pairs vs a raw executemany INSERT of the same rows"
DEFAULT_ROWS = 50_000
RUNS = 10


@contextmanager
def counting_statements(connection):
    """Count the SQL statements sent through ``connection`` (an executemany counts once)."""
    counter = {"statements": 0}

    def wrapper(execute, sql, params, many, context):
        counter["statements"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


def _create_catalog(run_count: int) -> list:
    from datetime import timedelta

    from django.utils import timezone
    from opaque_keys.edx.keys import CourseKey

    from rollbook.catalog.models import CatalogCourse, CourseMode, CourseRun, Organization

    org = Organization.objects.create(short_name="BenchX", name="Bench University")
    now = timezone.now()
    runs = []
    for number in range(run_count):
        course = CatalogCourse.objects.create(org=org, course_code=f"B{number}", title=f"Bench course {number}")
        key = CourseKey.from_string(f"course-v1:BenchX+B{number}+2030")
        run = CourseRun.objects.create(
            catalog_course=course,
            course_key=key,
            run_code="2030",
            title=f"Bench run {number}",
            enrollment_start=now - timedelta(days=1),
            enrollment_end=now + timedelta(days=30),
        )
        CourseMode.objects.create(course_run=run, slug="audit", price_cents=0)
        CourseMode.objects.create(course_run=run, slug="verified", price_cents=4900)
        runs.append(run)
    return runs


def _create_users(count: int) -> list:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    users = []
    for number in range(count):
        email = f"learner{number}@bench.example.com"
        users.append(user_model(username=f"learner{number}", email=email, email_normalized=email, password="!"))
    return user_model.objects.bulk_create(users, batch_size=1000)


def _raw_insert(connection, model, fields, objects_values) -> float:
    """Time one ``executemany`` INSERT of ``objects_values`` (already in database form) into ``model``'s table."""
    from django.db import transaction

    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    statement = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(statement, objects_values)
    return time.perf_counter() - started


def _delete_all(connection, *models) -> None:
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def run(options: Options) -> Report:
    """Set up users and runs, time bulk_enroll and the raw inserts, and report rows/s and ratios."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from rollbook.enrollments import api
    from rollbook.enrollments.data import EnrollRequest, EnrollStatus
    from rollbook.enrollments.models import CourseEnrollment

    rows = options.rows or DEFAULT_ROWS
    run_count = min(RUNS, rows)
    user_count = math.ceil(rows / run_count)
    runs = _create_catalog(run_count)
    users = _create_users(user_count)
    pairs = [(user, course_run) for user in users for course_run in runs][:rows]
    requests = [EnrollRequest(str(course_run.course_key), username=user.username) for user, course_run in pairs]

    with counting_statements(connection) as counter:
        started = time.perf_counter()
        results = api.bulk_enroll(requests, skip_access_checks=True)
        bulk_seconds = time.perf_counter() - started
    enrolled = sum(1 for result in results if result.status == EnrollStatus.ENROLLED)
    if enrolled != rows:
        raise RuntimeError(f"bulk_enroll enrolled {enrolled} of {rows} pairs")
    history_rows = CourseEnrollment.history.count()

    # The same rows, converted to database values before the clock starts.
    history_model = CourseEnrollment.history.model
    now = timezone.now()
    live_fields = [field for field in CourseEnrollment._meta.concrete_fields if not field.primary_key]
    history_fields = [field for field in history_model._meta.concrete_fields if field.name != "history_id"]
    live_rows, history_values = [], []
    for number, (user, course_run) in enumerate(pairs, start=1):
        values = {
            "id": number,
            "uuid": uuid.uuid4(),
            "user": user.pk,
            "course_run": course_run.pk,
            "mode": "verified",
            "is_active": True,
            "created": now,
            "modified": now,
            "history_date": now,
            "history_change_reason": None,
            "history_type": "+",
            "history_user": None,
        }
        live_rows.append([field.get_db_prep_save(values[field.name], connection) for field in live_fields])
        history_values.append([field.get_db_prep_save(values[field.name], connection) for field in history_fields])

    _delete_all(connection, CourseEnrollment, history_model)
    raw_seconds = _raw_insert(connection, CourseEnrollment, live_fields, live_rows)
    _delete_all(connection, CourseEnrollment, history_model)
    raw_live_seconds = _raw_insert(connection, CourseEnrollment, live_fields, live_rows)
    raw_history_seconds = _raw_insert(connection, history_model, history_fields, history_values)
    raw_both_seconds = raw_live_seconds + raw_history_seconds
    _delete_all(connection, CourseEnrollment, history_model)

    report = Report(f"bulk_enroll: {rows:,} enrollments ({user_count:,} users x {run_count} runs)")
    report.add("database", connection.vendor)
    report.add("batch size (ROLLBOOK_BULK_BATCH_SIZE)", int(settings.BULK_BATCH_SIZE))
    report.add("bulk_enroll time", bulk_seconds, "s")
    report.add("bulk_enroll throughput", rows / bulk_seconds, "rows/s")
    report.add("bulk_enroll SQL statements", counter["statements"])
    report.add("history rows written by bulk_enroll", history_rows)
    report.add("executemany INSERT, enrollment table", raw_seconds, "s")
    report.add("executemany throughput", rows / raw_seconds, "rows/s")
    report.add("executemany INSERT, enrollment + history tables", raw_both_seconds, "s")
    report.add("ratio bulk_enroll / executemany (enrollments only)", bulk_seconds / raw_seconds, "x")
    report.add("ratio bulk_enroll / executemany (enrollments + history)", bulk_seconds / raw_both_seconds, "x")
    report.notes.append(
        "bulk_enroll also resolves users, runs, modes and existing enrollments, and writes one history row "
        "per enrollment; the first ratio charges all of that to it, the second gives the raw side the history "
        "rows too."
    )
    return report
