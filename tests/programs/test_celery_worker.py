"""An upload job processed by a REAL Celery worker on Redis (127.0.0.1:6379), end to end through REST.

The worker is a separate process, so it must see the data this test writes:
- on PostgreSQL the test commits to the live test database (``transaction=True``) and the worker connects to it
  by name (``connection.settings_dict["NAME"]``);
- on SQLite the test database is in memory, which no other process can open, so the test points Django's
  default connection at a migrated SQLite file for its duration and gives the worker that file.

Redis not reachable is a failure, not a skip: the promise under test is that jobs run on a real broker.
"""

from __future__ import annotations

import copy
import csv
import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import connection, connections
from django.db.utils import load_backend

from rollbook import celery_app
from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.identity import api as identity_api
from rollbook.programs import api as programs_api
from rollbook.programs.models import ProgramEnrollment

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379"
TIMEOUT_SECONDS = 60


def _free_redis_db() -> int:
    try:
        redis.Redis.from_url(f"{REDIS}/0", socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS} ({exc}); this test needs a real broker.")
    for number in range(15, 0, -1):
        if redis.Redis.from_url(f"{REDIS}/{number}").dbsize() == 0:
            return number
    pytest.fail("No empty Redis database (1-15) to run the worker test in.")


def _postgres_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def worker_database(tmp_path, django_db_blocker):
    """A database this process and a worker process both see; yields its URL for the worker."""
    if connection.vendor == "postgresql":
        yield _postgres_url(connection.settings_dict)  # the live test database, committed to (transaction=True)
        return
    assert connection.vendor == "sqlite", f"unexpected database {connection.vendor}"
    path = tmp_path / "worker.sqlite3"
    file_settings = copy.deepcopy(connections["default"].settings_dict)
    file_settings["NAME"] = str(path)
    original = connections["default"]
    replacement = load_backend(file_settings["ENGINE"]).DatabaseWrapper(file_settings, "default")
    connections["default"] = replacement
    try:
        with django_db_blocker.unblock():
            call_command("migrate", verbosity=0, interactive=False)
            yield f"sqlite:///{path}"
    finally:
        replacement.close()
        connections["default"] = original


@pytest.fixture
def broker_url():
    """A Redis database of our own; the Celery app of this process sends to it (not eagerly) for the test."""
    url = f"{REDIS}/{_free_redis_db()}"
    saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    _forget_broker_connections()
    celery_app.conf.update(broker_url=url, task_always_eager=False)
    try:
        yield url
    finally:
        _forget_broker_connections()
        celery_app.conf.update(saved)
        redis.Redis.from_url(url).flushdb()


def _forget_broker_connections() -> None:
    """Drop the app's pooled producer connections, so the next send connects to the broker configured now."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._after_fork()


@pytest.fixture
def worker(worker_database, broker_url, tmp_path):
    """A Celery worker process (solo pool) on the test broker and database; stopped afterwards."""
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "ROLLBOOK_DATABASE_URL": worker_database,
        "ROLLBOOK_BROKER_URL": broker_url,
        "ROLLBOOK_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "rollbook.settings",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "rollbook",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"rollbook-test-{uuid.uuid4().hex[:8]}@%h",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _world():
    """A program with one curriculum, one existing enrollment, and its program administrator."""
    org = catalog_api.create_organization("WorkerU", name="Worker University")
    identity_api.create_identity_provider("workeru-sso", "WorkerU SSO", organization=org)
    catalog_api.create_course_run("course-v1:WorkerU+Math+2030", modes=[ModeSpec("audit"), ModeSpec("masters")])
    program = programs_api.create_program("Worker Program", organizations=["WorkerU"])
    programs_api.create_curriculum(program, catalog_course_keys=["catalog-course:WorkerU:Math"])
    programs_api.write_program_enrollments(
        program, [programs_api.ProgramEnrollmentRequest("EXISTING", "pending")], create=True, update=False
    )
    admin = identity_api.create_user("worker-admin", "worker-admin@example.com", password="a-long-passphrase-1")
    core_api.grant(admin, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(program.uuid)))
    return program, admin


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_processed_by_a_real_worker(worker, client_for):
    process, log_path = worker
    program, admin = _world()
    client = client_for(admin)
    rows = [f"W{n:03},enrolled" for n in range(150)] + ["existing,enrolled", "BAD,nope"]
    text = "student_key,status\n" + "\n".join(rows) + "\n"
    response = client.post(
        f"/api/program_enrollments/v1/programs/{program.uuid}/enrollments/upload/",
        text.encode(),
        content_type="text/csv",
    )
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "pending"
    job_url = response.json()["job_url"]

    deadline = time.monotonic() + TIMEOUT_SECONDS
    job = client.get(job_url).json()
    while job["state"] in ("pending", "in_progress"):
        if process.poll() is not None:
            pytest.fail(f"The worker exited ({process.returncode}):\n{log_path.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"The job did not finish in {TIMEOUT_SECONDS} s:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.25)
        job = client.get(job_url).json()

    assert job["state"] == "succeeded", (job, log_path.read_text(errors="replace"))
    assert job["progress"] == {"done": 152, "total": 152}
    assert (job["summary"]["created"], job["summary"]["updated"], job["summary"]["refused"]) == (150, 1, 1)
    assert job["summary"]["code"] == 207
    assert "programs.run_enrollment_job" in log_path.read_text(errors="replace")  # it ran in the worker
    result = list(csv.reader(io.StringIO(client.get(job["result_url"]).content.decode())))
    assert result[0] == ["student_key", "status"]
    assert result[-2:] == [["existing", "enrolled"], ["BAD", "invalid-status"]]
    assert ProgramEnrollment.objects.filter(program=program, status="enrolled").count() == 151
