from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from rollbook.catalog.models import CatalogCourse, CourseRun, Organization
from rollbook.demo.loader import load_demo
from rollbook.enrollments.models import CourseEnrollment
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
    assert User.objects.filter(is_service_account=False, is_superuser=False).count() == 120
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
def test_demo_command_prints_credentials(data_dir, capsys):
    call_command("demo", learners=3)
    out = capsys.readouterr().out
    assert "client_id demo-client" in out
    assert "username operator" in out
