"""Django admin of enrollments: browsing, searching, the deactivate action, add and edit through api.py."""

from __future__ import annotations

import pytest
from django.urls import reverse

from rollbook.enrollments import api
from rollbook.enrollments.models import CourseEnrollment


@pytest.fixture
def staff_client(client, make_user):
    admin_user = make_user("admin", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    return client


@pytest.fixture
def enrollments(make_user, make_run):
    first, second = make_run("course-v1:AdminX+One+2030"), make_run("course-v1:AdminX+Two+2030")
    ann, bob = make_user("ann"), make_user("bob")
    return [api.enroll(ann, first.course_key), api.enroll(bob, second.course_key)]


CHANGELIST = "admin:enrollments_courseenrollment_changelist"


def test_changelist_lists_and_searches(staff_client, enrollments):
    response = staff_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert b"course-v1:AdminX+One+2030" in response.content and b"course-v1:AdminX+Two+2030" in response.content

    by_user = staff_client.get(reverse(CHANGELIST), {"q": "ann"})
    assert b"course-v1:AdminX+One+2030" in by_user.content
    assert b"course-v1:AdminX+Two+2030" not in by_user.content

    by_key = staff_client.get(reverse(CHANGELIST), {"q": "AdminX+Two"})
    assert b"course-v1:AdminX+Two+2030" in by_key.content
    assert b"course-v1:AdminX+One+2030" not in by_key.content

    filtered = staff_client.get(reverse(CHANGELIST), {"is_active__exact": "0"})
    assert filtered.status_code == 200 and b"course-v1:AdminX" not in filtered.content


def test_deactivate_action_unenrolls_with_history(staff_client, enrollments):
    pks = CourseEnrollment.objects.filter(uuid=enrollments[0].uuid).values_list("pk", flat=True)
    response = staff_client.post(
        reverse(CHANGELIST), {"action": "deactivate_selected", "_selected_action": [str(pk) for pk in pks]}
    )
    assert response.status_code == 302
    assert api.get_enrollment_by_uuid(enrollments[0].uuid).is_active is False
    assert api.get_enrollment_by_uuid(enrollments[1].uuid).is_active is True
    assert CourseEnrollment.history.filter(uuid=enrollments[0].uuid, history_type="~").count() == 1


def test_edit_changes_mode_through_the_api_and_checks_it(staff_client, enrollments):
    row = CourseEnrollment.objects.get(uuid=enrollments[0].uuid)
    url = reverse("admin:enrollments_courseenrollment_change", args=[row.pk])
    assert staff_client.get(url).status_code == 200

    bad = staff_client.post(url, {"mode": "masters", "is_active": "on"})
    assert bad.status_code == 200  # the form is shown again with the error
    assert b"offers only" in bad.content
    assert api.get_enrollment_by_uuid(row.uuid).mode == "verified"

    good = staff_client.post(url, {"mode": "audit"})  # unchecked is_active: unenroll
    assert good.status_code == 302
    updated = api.get_enrollment_by_uuid(row.uuid)
    assert (updated.mode, updated.is_active) == ("audit", False)


def test_add_enrolls_through_the_api(staff_client, make_user, closed_run):
    user = make_user("carol")
    response = staff_client.post(
        reverse("admin:enrollments_courseenrollment_add"),
        {"user": user.pk, "course_run": closed_run.pk, "mode": "audit", "is_active": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    enrollment = api.get_enrollment(user, closed_run.course_key)  # window not enforced for operators
    assert enrollment is not None and enrollment.is_active and enrollment.mode == "audit"
    assert CourseEnrollment.history.filter(uuid=enrollment.uuid).count() == 1


def test_enrollments_cannot_be_deleted(staff_client, enrollments):
    row = CourseEnrollment.objects.get(uuid=enrollments[0].uuid)
    assert staff_client.get(reverse("admin:enrollments_courseenrollment_delete", args=[row.pk])).status_code == 403
