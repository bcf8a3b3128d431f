"""The records admin: course grades and certificates are recorded through ``records.api``; subsection grades are
read-only; no record is deleted."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.records import api
from rollbook.records.models import Certificate, CourseGrade, SubsectionGrade

RUN_KEY = "course-v1:RecU+Data+2030"


@pytest.fixture
def admin_browser(make_user) -> Client:
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))
    return browser


@pytest.fixture
def run(db):
    catalog_api.create_organization("RecU", name="Records University")
    return catalog_api.create_course_run(RUN_KEY, modes=[ModeSpec("audit"), ModeSpec("verified", 4900)])


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def test_course_grades_are_recorded_through_the_api(admin_browser, make_user, run):
    learner = make_user("grader")
    response = admin_browser.post(
        url(CourseGrade, "add"),
        {"user": learner.pk, "course_run": run.pk, "percent": "0.8", "letter_grade": "B", "passed": "on"},
    )
    assert response.status_code == 302
    grade = CourseGrade.objects.get()
    assert (grade.percent, grade.letter_grade, grade.passed) == (Decimal("0.8"), "B", True)
    assert grade.passed_timestamp is not None  # a passing grade gets its time

    failing = admin_browser.post(url(CourseGrade, "change", grade.pk), {"percent": "0.3", "letter_grade": ""})
    assert failing.status_code == 302
    grade.refresh_from_db()
    assert (grade.passed, grade.passed_timestamp) == (False, None)  # the api's rule: no time without a pass
    assert grade.history.count() == 2

    out_of_range = admin_browser.post(url(CourseGrade, "change", grade.pk), {"percent": "1.5", "passed": "on"})
    assert out_of_range.status_code == 200  # shown on the form
    grade.refresh_from_db()
    assert grade.percent == Decimal("0.3")
    assert admin_browser.get(url(CourseGrade, "delete", grade.pk)).status_code == 403


def test_certificates_are_recorded_through_the_api(admin_browser, make_user, run):
    learner = make_user("certified")
    response = admin_browser.post(
        url(Certificate, "add"),
        {"user": learner.pk, "course_run": run.pk, "mode": "verified", "status": "downloadable", "grade": "0.9"},
    )
    assert response.status_code == 302
    certificate = Certificate.objects.get()
    assert certificate.passing and certificate.created is not None

    issued = datetime(2030, 5, 1, tzinfo=UTC)
    response = admin_browser.post(
        url(Certificate, "change", certificate.pk),
        {
            "mode": "verified",
            "status": "unavailable",
            "grade": "0.9",
            "created_0": "2030-05-01",
            "created_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    certificate.refresh_from_db()
    assert (certificate.status, certificate.passing, certificate.created) == ("unavailable", False, issued)
    page = admin_browser.get(url(Certificate, "change", certificate.pk))
    assert page.status_code == 200
    assert admin_browser.get(url(Certificate, "history", certificate.pk)).status_code == 200


def test_an_unknown_mode_is_refused_without_a_traceback(admin_browser, make_user, run):
    learner = make_user("masters")
    api.record_certificate(learner, RUN_KEY, mode="verified", status="notpassing")
    certificate = Certificate.objects.get()
    response = admin_browser.post(
        url(Certificate, "change", certificate.pk), {"mode": "nonsense", "status": "downloadable"}, follow=True
    )
    assert response.status_code == 200
    certificate.refresh_from_db()
    assert certificate.status == "notpassing"
    assert not [m for m in get_messages(response.wsgi_request) if "Traceback" in str(m)]


def test_subsection_grades_are_read_only(admin_browser, make_user, run):
    learner = make_user("homework")
    row = SubsectionGrade.objects.create(
        user=learner,
        course_run=run,
        subsection_id="block-v1:RecU+Data+2030+type@sequential+block@hw1",
        subsection_name="Homework 1",
        label="HW 01",
        points_earned=Decimal("8"),
        points_possible=Decimal("10"),
        percent=Decimal("0.8"),
        attempted=True,
    )
    listing = admin_browser.get(url(SubsectionGrade, "changelist"), {"q": "homework"})
    assert listing.status_code == 200 and "HW 01" in listing.content.decode()
    change = admin_browser.get(url(SubsectionGrade, "change", row.pk))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert admin_browser.get(url(SubsectionGrade, "add")).status_code == 403
    assert admin_browser.get(url(SubsectionGrade, "delete", row.pk)).status_code == 403
