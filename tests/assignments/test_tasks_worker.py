"""Assignment emails sent by a REAL Celery worker on Redis to a REAL SMTP server (aiosmtpd on 127.0.0.1).

The worker, the broker and the shared database come from ``tests/programs/test_celery_worker.py`` (see its
docstring: on PostgreSQL the worker uses the live test database, on SQLite a migrated file). The world is built
inside each test, once the worker's database is in place. Redis not reachable is a failure, not a skip.
"""

from __future__ import annotations

import time
from datetime import timedelta

import kombu.pools
import pytest
from django.utils import timezone

from rollbook.assignments import api
from rollbook.assignments.data import ActionType, AssignmentState
from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
from rollbook.assignments.notifications import EmailKind, queue_emails
from rollbook.budgets.data import AccessMethod
from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.enterprise.models import EnterpriseCatalog, EnterpriseCatalogOrganization, EnterpriseCustomer
from tests.assignments.test_notifications import RecordingHandler, smtp_server  # noqa: F401  (fixture)
from tests.budgets.conftest import make_budget
from tests.programs.test_celery_worker import broker_url, worker, worker_database  # noqa: F401  (fixtures)

TIMEOUT_SECONDS = 60
RUN_KEY = "course-v1:WorkerU+Python+2030"


@pytest.fixture(autouse=True)
def worker_mail_environment(monkeypatch, smtp_server):  # noqa: F811
    """The worker (started after this autouse fixture) sends through the test's SMTP server.

    Kombu keeps broker connection pools in process-wide registries keyed by URL; the ``broker_url`` fixture
    closes them after each test, and a later test on the same Redis database would get a closed pool
    ("Acquire on closed pool"): the registries are cleared before and after each test."""
    monkeypatch.setenv("ROLLBOOK_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setenv("ROLLBOOK_EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("ROLLBOOK_EMAIL_PORT", str(smtp_server.port))
    monkeypatch.setenv("ROLLBOOK_DEFAULT_FROM_EMAIL", "worker@rollbook.test")
    monkeypatch.setenv("ROLLBOOK_ASSIGNMENT_EMAIL_RETRY_BACKOFF_SECONDS", "1")
    kombu.pools.reset()
    yield smtp_server
    kombu.pools.reset()


def _world():
    """Customer "Worker Corp" with a catalog of the WorkerU organization, a run in it, an assigned budget."""
    now = timezone.now()
    organization = catalog_api.create_organization("WorkerU", name="Worker University")
    catalog_api.create_course_run(
        RUN_KEY,
        title="Python at Work",
        modes=[ModeSpec("audit"), ModeSpec("verified", 4900)],
        start=now - timedelta(days=5),
        end=now + timedelta(days=200),
        enrollment_start=now - timedelta(days=30),
        enrollment_end=now + timedelta(days=100),
    )
    customer = EnterpriseCustomer.objects.create(name="Worker Corp", slug="worker-corp")
    catalog = EnterpriseCatalog.objects.create(customer=customer, title="Worker catalog")
    EnterpriseCatalogOrganization.objects.create(catalog=catalog, organization=organization)
    return make_budget(customer, catalog, spend_limit_cents=50_000, access_method=AccessMethod.ASSIGNED)


def _wait_for(condition, process, log_path, what: str):
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"The worker exited ({process.returncode}):\n{log_path.read_text(errors='replace')}")
        if time.monotonic() > deadline:
            pytest.fail(f"No {what} in {TIMEOUT_SECONDS} s:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.25)


def _completed(assignment, action_type: ActionType) -> bool:
    return LearnerContentAssignmentAction.objects.filter(
        assignment=assignment, action_type=action_type, completed_at__isnull=False
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_allocate_notification_is_delivered_by_a_real_worker(worker, worker_mail_environment):  # noqa: F811
    process, log_path = worker
    server: RecordingHandler = worker_mail_environment
    budget = _world()

    result = api.allocate(budget, ["Ada@Example.com"], RUN_KEY, 4900)

    (assignment_uuid,) = result.created
    assignment = LearnerContentAssignment.objects.get(uuid=assignment_uuid)
    _wait_for(lambda: _completed(assignment, ActionType.NOTIFIED), process, log_path, "notified action")
    (message,) = server.messages
    assert message["To"] == "Ada@Example.com"
    assert message["From"] == "worker@rollbook.test"
    assert message["Subject"] == "Worker Corp assigned you Python at Work"
    assert "$49.00" in message.get_body(("plain",)).get_content()
    assert "assignments.send_emails" in log_path.read_text(errors="replace")  # it ran in the worker
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.ALLOCATED


@pytest.mark.django_db(transaction=True)
def test_a_worker_retries_after_a_dropped_connection(worker, worker_mail_environment):  # noqa: F811
    process, log_path = worker
    server: RecordingHandler = worker_mail_environment
    budget = _world()
    assignment = LearnerContentAssignment.objects.create(
        configuration=budget.assignment_configuration,
        learner_email="bob@example.com",
        content_key=RUN_KEY,
        preferred_course_run_key=RUN_KEY,
        is_assigned_course_run=True,
        content_quantity=-4900,
        allocated_at=timezone.now(),
    )
    server.drop_next_connection_after(0)  # the first attempt loses its connection before sending anything

    queue_emails(EmailKind.REMIND, [assignment.pk])

    _wait_for(lambda: _completed(assignment, ActionType.REMINDED), process, log_path, "reminded action")
    assert server.connections == 2
    assert [message["To"] for message in server.messages] == ["bob@example.com"]
    assert LearnerContentAssignmentAction.objects.filter(assignment=assignment).count() == 1
    assert "Retry in" in log_path.read_text(errors="replace")  # the worker scheduled a retry with a countdown
