from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from rollbook.catalog.models import CatalogCourse, CourseRun, Organization
from rollbook.demo import loader
from rollbook.demo.loader import load_demo
from rollbook.enrollments.models import CourseEnrollment
from rollbook.enterprise import api as enterprise_api
from rollbook.enterprise.data import ContentType, LearnerStatusReason, LicenseStatus
from rollbook.enterprise.models import (
    DataSharingConsent,
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCatalogOrganization,
    EnterpriseCustomer,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
)
from rollbook.identity.models import User
from rollbook.programs.models import ProgramEnrollment


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_demo_is_realistic_and_loads_once(data_dir):
    first = load_demo(learners=120)
    assert first.created
    now = timezone.now()
    runs = CourseRun.objects.all()
    assert Organization.objects.count() == 4
    assert CatalogCourse.objects.count() == 30
    assert runs.count() == 60
    assert runs.filter(end__lt=now).exists(), "no past runs"
    assert runs.filter(start__lte=now, end__gt=now).exists(), "no current runs"
    assert runs.filter(start__gt=now + timedelta(days=1)).exists(), "no future runs"
    assert all(run.modes.exists() for run in runs)
    people = User.objects.filter(is_service_account=False, is_superuser=False).exclude(username="acme-admin")
    assert people.count() == 120
    enrollments = CourseEnrollment.objects.count()
    assert enrollments >= 120
    assert CourseEnrollment.objects.filter(is_active=False).exists()
    program_enrollments = ProgramEnrollment.objects.all()
    assert program_enrollments.count() == 80
    assert program_enrollments.filter(user__isnull=False).exists(), "no student linked through SSO"
    assert program_enrollments.filter(user__isnull=True).exists(), "no student waiting to be linked"
    assert CourseEnrollment.objects.filter(mode="masters").exists()

    again = load_demo(learners=120)
    assert not again.created
    assert CourseRun.objects.count() == 60
    assert CourseEnrollment.objects.count() == enrollments
    assert again.operator_password == first.operator_password
    assert again.client_secret == first.client_secret


@pytest.mark.django_db
def test_printed_credentials_work(data_dir, client):
    summary = load_demo(learners=5)
    response = client.post(
        "/oauth2/access_token",
        {
            "grant_type": "client_credentials",
            "client_id": summary.client_id,
            "client_secret": summary.client_secret,
            "token_type": "jwt",
        },
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    runs = client.get("/api/catalog/v1/runs/", HTTP_AUTHORIZATION=f"JWT {token}")
    assert runs.status_code == 200
    assert client.login(username=summary.operator_username, password=summary.operator_password)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_printed_enterprise_credentials_work_for_acme_only(data_dir, client):
    summary = load_demo(learners=60)
    acme, northwind = EnterpriseCustomer.objects.get(slug="acme"), EnterpriseCustomer.objects.get(slug="northwind")
    response = client.post(
        "/oauth2/access_token",
        {
            "grant_type": "client_credentials",
            "client_id": summary.enterprise_client_id,
            "client_secret": summary.enterprise_client_secret,
            "token_type": "jwt",
        },
    )
    assert response.status_code == 200
    auth = {"HTTP_AUTHORIZATION": f"JWT {response.json()['access_token']}"}
    assert client.get(f"/enterprise/api/v1/enterprise-customer/{acme.uuid}/", **auth).status_code == 200
    assert client.get(f"/enterprise/api/v1/enterprise-customer/{northwind.uuid}/", **auth).status_code in (403, 404)

    assert client.login(username=summary.enterprise_admin_username, password=summary.enterprise_admin_password)
    learners = client.get("/enterprise/api/v1/enterprise-learner/", {"enterprise_customer_uuid": str(acme.uuid)})
    assert learners.status_code == 200
    assert client.get("/admin/").status_code == 302  # an enterprise admin is no operator


@pytest.mark.django_db
def test_demo_enterprise_part_keeps_its_promises(data_dir):
    summary = load_demo(learners=70)
    acme = EnterpriseCustomer.objects.get(slug="acme")
    assert acme.name == "Acme Learning Co."
    assert EnterpriseCustomer.objects.filter(slug="northwind").exists()
    assert summary.customers == 2
    assert summary.acme_learners == {"total": 55, "pending": 5, "licensed": 40, "invited": 10}

    catalog = acme.catalogs.get()
    assert sorted(
        EnterpriseCatalogOrganization.objects.filter(catalog=catalog).values_list("organization__short_name", flat=True)
    ) == ["CobaltAcademy", "MeridianX"]
    plan = acme.subscription_plans.get()
    now = timezone.now()
    assert plan.seats == 100 and plan.start < now < plan.expiration and plan.catalog == catalog
    licenses = License.objects.filter(plan=plan)
    assert licenses.count() == 100
    activated = licenses.filter(status=LicenseStatus.ACTIVATED)
    assert activated.count() == 40
    assert licenses.filter(status=LicenseStatus.ASSIGNED, user__isnull=False).count() == 10
    new_hire = licenses.get(status=LicenseStatus.ASSIGNED, user__isnull=True)
    assert new_hire.user_email == loader.ACME_PENDING_EMAILS[0]

    pending = EnterpriseCustomerUser.objects.filter(customer=acme, user__isnull=True, linked=True)
    assert sorted(pending.values_list("user_email", flat=True)) == sorted(loader.ACME_PENDING_EMAILS)
    waiting = PendingEnrollment.objects.get()
    assert waiting.customer_user.user_email == loader.ACME_PENDING_EMAILS[0] and waiting.license == new_hire

    consents = DataSharingConsent.objects.filter(customer=acme)
    assert consents.filter(granted=True).count() == 5
    assert consents.filter(granted=False).count() == 1

    intentions = DefaultEnrollmentIntention.objects.filter(customer=acme, is_removed=False)
    assert sorted(intentions.values_list("content_type", flat=True)) == [ContentType.COURSE, ContentType.COURSE_RUN]
    assert [intention.content_key for intention in intentions] == list(summary.acme_intentions)
    assert enterprise_api.validate_intentions(acme) == []

    # realized for everyone with an activated license: nothing is left to enroll them in
    leavers = []
    for license in activated.select_related("user"):
        status = enterprise_api.learner_status(acme, license.user)
        assert status.enrollable == ()
        assert len(status.already_enrolled) + len(status.not_enrollable) == 2
        leavers += [item for item in status.not_enrollable if item.reason == LearnerStatusReason.LEFT_PAID_ENROLLMENT]
    assert len(leavers) == 1  # one learner left the run: never enrolled there again
    realized_users = set(
        DefaultEnrollmentRealization.objects.filter(intention__customer=acme).values_list(
            "realized_enrollment__customer_user__user_id", flat=True
        )
    )
    assert realized_users <= set(activated.values_list("user_id", flat=True))
    assert len(realized_users) >= 35  # the rest were enrolled in both runs before

    northwind = EnterpriseCustomer.objects.get(slug="northwind")
    assert enterprise_api.learners_queryset(northwind).filter(linked=True).count() == 5
    assert DefaultEnrollmentRealization.objects.filter(intention__customer=northwind).exists()

    before = (
        License.objects.count(),
        DefaultEnrollmentRealization.objects.count(),
        EnterpriseCustomerUser.objects.count(),
    )
    again = load_demo(learners=70)
    assert not again.created
    assert (
        License.objects.count(),
        DefaultEnrollmentRealization.objects.count(),
        EnterpriseCustomerUser.objects.count(),
    ) == before
    assert again.enterprise_admin_password == summary.enterprise_admin_password
    assert again.enterprise_client_secret == summary.enterprise_client_secret


@pytest.mark.django_db
def test_demo_command_prints_credentials(data_dir, capsys):
    call_command("demo", learners=3)
    out = capsys.readouterr().out
    assert "client_id demo-client" in out
    assert "username operator" in out
    assert "username acme-admin" in out
    assert "client_id demo-acme-admin" in out
    assert "2 enterprise customers. Acme Learning Co." in out


@pytest.mark.django_db(transaction=True)
def test_demo_learner_credit_part_keeps_its_promises(data_dir, mailoutbox):
    from rollbook.assignments import api as assignments_api
    from rollbook.assignments.data import ActionType, AssignmentState
    from rollbook.assignments.models import LearnerContentAssignment, LearnerContentAssignmentAction
    from rollbook.budgets import api as budgets_api
    from rollbook.budgets.data import AccessMethod, TransactionState
    from rollbook.budgets.models import Budget, Reversal, Transaction

    summary = load_demo(learners=70)
    acme = EnterpriseCustomer.objects.get(slug="acme")
    assert summary.acme_budgets == (loader.ACME_DIRECT_BUDGET, loader.ACME_ASSIGNED_BUDGET, loader.ACME_PILOT_BUDGET)
    direct, assigned, pilot = (Budget.objects.get(customer=acme, title=title) for title in summary.acme_budgets)
    assert (direct.access_method, assigned.access_method) == (AccessMethod.DIRECT, AccessMethod.ASSIGNED)
    assert budgets_api.is_active_now(direct) and budgets_api.is_active_now(assigned)
    assert not budgets_api.is_active_now(pilot)

    # a few learners redeemed the direct budget themselves; spend is the ledger's sum
    direct_transactions = Transaction.objects.filter(budget=direct, state=TransactionState.COMMITTED)
    assert direct_transactions.count() == loader.ACME_DIRECT_REDEMPTIONS
    assert budgets_api.spend(direct).spent_cents == -sum(t.amount_cents for t in direct_transactions)

    configuration = assignments_api.ensure_configuration(assigned)
    rows = LearnerContentAssignment.objects.filter(configuration=configuration)
    first_course = rows.values("content_key").annotate(n=Count("id")).order_by("-n").first()
    assert first_course["n"] == loader.ACME_ASSIGNMENTS  # the main course went to 30 emails
    assert rows.values("content_key").distinct().count() == 2
    assert rows.filter(user__isnull=True).exists(), "no assignment waits for an account"
    assert rows.filter(learner_email__regex=r"[A-Z]", user__isnull=False).exists(), "no email matched ignoring case"
    by_state = Counter(rows.values_list("state", flat=True))
    assert by_state[AssignmentState.ACCEPTED] == 5
    assert by_state[AssignmentState.REVERSED] == 1
    assert by_state[AssignmentState.CANCELLED] == 1
    assert by_state[AssignmentState.ALLOCATED] >= 20
    accepted = rows.filter(state__in=[AssignmentState.ACCEPTED, AssignmentState.REVERSED])
    assert all(row.transaction_id and row.accepted_at for row in accepted)
    reversed_row = rows.get(state=AssignmentState.REVERSED)
    assert Reversal.objects.filter(transaction_id=reversed_row.transaction_id).exists()
    actions = LearnerContentAssignmentAction.objects.filter(assignment__configuration=configuration)
    assert actions.filter(action_type=ActionType.CANCELLED_ACKNOWLEDGED).count() == 1
    reallocated = rows.get(state=AssignmentState.ALLOCATED, actions__action_type=ActionType.CANCELLED)
    assert reallocated.cancelled_at is None
    assert actions.filter(action_type=ActionType.REMINDED, completed_at__isnull=False).count() == 3
    learner_states = {
        row["learner_state"]: row["count"]
        for row in assignments_api.learner_state_counts(assignments_api.admin_assignments(configuration))
    }
    assert learner_states.get("waiting", 0) >= 20  # every allocated assignment was notified after commit
    assert budgets_api.spend(assigned).spent_cents == -sum(
        t.amount_cents for t in Transaction.objects.filter(budget=assigned, reversal__isnull=True)
    )
    expired = LearnerContentAssignment.objects.filter(configuration__budget=pilot, state=AssignmentState.EXPIRED)
    assert expired.count() == 3 and all(row.expiry_reason == "SUBSIDY_EXPIRED" for row in expired)
    assert len(mailoutbox) >= loader.ACME_ASSIGNMENTS  # notifications, reminders, cancellations, expiries
    assert (
        summary.acme_assignments["total"]
        == LearnerContentAssignment.objects.filter(configuration__customer=acme).count()
    )
    assert summary.acme_assignments["expired"] == 3

    before = (Budget.objects.count(), Transaction.objects.count(), LearnerContentAssignment.objects.count())
    mails = len(mailoutbox)
    again = load_demo(learners=70)
    assert (Budget.objects.count(), Transaction.objects.count(), LearnerContentAssignment.objects.count()) == before
    assert len(mailoutbox) == mails
    assert again.acme_assignments == summary.acme_assignments
