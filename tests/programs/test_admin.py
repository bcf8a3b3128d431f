"""The programs admin: enrollment pages render read-only with history, and actions write through programs.api."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rollbook.programs.models import (
    CourseStaffAssignment,
    Curriculum,
    ProgramCourseEnrollment,
    ProgramEnrollment,
)


@pytest.fixture
def admin_browser(make_user) -> Client:
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))
    return browser


@pytest.fixture
def enrolled(program, math_run, linked_students, unlinked_keys, enroll_students, enroll_in_course):
    enroll_students(program, [*linked_students, *unlinked_keys])
    enroll_in_course(program, math_run.course_key, [*linked_students, unlinked_keys[0]], course_staff=True)
    return program


def url(model, view: str, *args) -> str:
    return reverse(f"admin:programs_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", [ProgramEnrollment, ProgramCourseEnrollment, CourseStaffAssignment])
def test_enrollment_pages_render_read_only(admin_browser, enrolled, model):
    row = model.objects.first()

    assert admin_browser.get(url(model, "changelist")).status_code == 200
    assert admin_browser.get(url(model, "changelist"), {"q": "stu-l1"}).status_code == 200
    change = admin_browser.get(url(model, "change", row.pk))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert admin_browser.get(url(model, "add")).status_code == 403
    if hasattr(model, "history"):
        assert admin_browser.get(url(model, "history", row.pk)).status_code == 200


def test_program_status_action_writes_through_the_api_with_history(admin_browser, enrolled):
    selected = list(ProgramEnrollment.objects.filter(external_user_key__in=["STU-L1", "STU-U1"]))

    response = admin_browser.post(
        url(ProgramEnrollment, "changelist"),
        {"action": "set_program_status_canceled", "_selected_action": [row.pk for row in selected]},
        follow=True,
    )

    assert response.status_code == 200
    assert dict(ProgramEnrollment.objects.values_list("external_user_key", "status")) == {
        "STU-L1": "canceled",
        "STU-L2": "enrolled",
        "STU-L3": "enrolled",
        "STU-U1": "canceled",
        "STU-U2": "enrolled",
        "STU-U3": "enrolled",
    }
    assert ProgramEnrollment.history.filter(history_type="~", status="canceled").count() == 2


def test_course_status_action_deactivates_course_enrollments(admin_browser, enrolled, linked_students):
    from rollbook.enrollments import api as enrollments_api

    selected = ProgramCourseEnrollment.objects.get(program_enrollment__external_user_key="STU-L2")

    admin_browser.post(
        url(ProgramCourseEnrollment, "changelist"),
        {"action": "set_course_status_inactive", "_selected_action": [selected.pk]},
    )

    selected.refresh_from_db()
    assert selected.status == "inactive"
    assert not enrollments_api.is_enrolled(linked_students["STU-L2"], "course-v1:ProgU+Math+2030")
    assert enrollments_api.is_enrolled(linked_students["STU-L1"], "course-v1:ProgU+Math+2030")


def test_curriculum_actions(admin_browser, curriculum):
    admin_browser.post(url(Curriculum, "changelist"), {"action": "deactivate", "_selected_action": [curriculum.pk]})
    curriculum.refresh_from_db()
    assert not curriculum.is_active

    admin_browser.post(url(Curriculum, "changelist"), {"action": "activate", "_selected_action": [curriculum.pk]})
    curriculum.refresh_from_db()
    assert curriculum.is_active
