"""Tenant isolation of the enrollment and default-enrollment endpoints: globex's admin and a globex learner can
neither read nor change acme's intentions, learner status, realizations or enterprise enrollments, on every
endpoint, and nothing changes when they try."""

from __future__ import annotations

import pytest

from rollbook.enrollments.models import CourseEnrollment
from rollbook.enterprise import api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import (
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    License,
    PendingEnrollment,
)
from tests.enterprise.conftest import DATA_KEY, PYTHON_KEY

BASE = "/enterprise/api/v1/"
INTENTIONS = BASE + "default-enterprise-enrollment-intentions/"


def snapshot() -> dict[str, object]:
    """Everything these endpoints could change."""
    return {
        "intentions": sorted(DefaultEnrollmentIntention.objects.values_list("uuid", "content_key", "is_removed")),
        "realizations": DefaultEnrollmentRealization.objects.count(),
        "course_enrollments": sorted(CourseEnrollment.objects.values_list("user_id", "course_run_id", "mode")),
        "enterprise_enrollments": EnterpriseCourseEnrollment.objects.count(),
        "pending": PendingEnrollment.objects.count(),
    }


@pytest.fixture
def acme_world(acme, acme_plan, acme_learner, make_acme_learner):
    """acme: a live Python intention realized for acme_learner, a removed Data intention, and a licensed
    learner with nothing realized yet."""
    live = api.create_intention(acme, PYTHON_KEY)
    removed = api.create_intention(acme, DATA_KEY)
    api.delete_intention(removed)
    api.realize_default_enrollments(acme, acme_learner)
    waiting = make_acme_learner()
    return {
        "live": live,
        "removed": removed,
        "learner": acme_learner,
        "waiting": waiting,
        "license": License.objects.get(plan=acme_plan, user=waiting, status=LicenseStatus.ACTIVATED),
    }


@pytest.fixture(params=["globex_admin", "globex_learner"])
def outsider(request, client_for):
    """An API client for globex's admin, then for a globex learner."""
    return client_for(request.getfixturevalue(request.param))


def test_enroll_learners_in_courses(outsider, acme, acme_world):
    before = snapshot()
    body = {
        "enrollments_info": [
            {
                "user_id": acme_world["waiting"].pk,
                "course_run_key": PYTHON_KEY,
                "license_uuid": str(acme_world["license"].uuid),
            },
            {
                "email": "someone@example.com",
                "course_run_key": PYTHON_KEY,
                "license_uuid": str(acme_world["license"].uuid),
            },
        ]
    }

    response = outsider.post(f"{BASE}enterprise-customer/{acme.uuid}/enroll_learners_in_courses/", body, format="json")

    assert response.status_code == 403
    assert snapshot() == before


def test_an_acme_license_cannot_pay_through_globex(globex_admin, client_for, globex, acme_world):
    before = snapshot()
    body = {
        "enrollments_info": [
            {
                "user_id": acme_world["waiting"].pk,
                "course_run_key": PYTHON_KEY,
                "license_uuid": str(acme_world["license"].uuid),
            }
        ]
    }

    response = client_for(globex_admin).post(
        f"{BASE}enterprise-customer/{globex.uuid}/enroll_learners_in_courses/", body, format="json"
    )

    assert response.status_code == 422
    assert "No license" in response.json()["failures"][0]["message"]
    assert snapshot() == before


def test_listing_intentions(outsider, acme, acme_world):
    for query in ("", "&include_removed=true"):
        response = outsider.get(f"{INTENTIONS}?enterprise_customer_uuid={acme.uuid}{query}")
        assert response.status_code == 403
        assert str(acme_world["live"].uuid) not in response.content.decode()


def test_creating_intentions(outsider, acme, acme_world):
    before = snapshot()

    response = outsider.post(
        INTENTIONS, {"enterprise_customer": str(acme.uuid), "content_key": "catalog-course:EntU:Python"}, format="json"
    )

    assert response.status_code == 403
    assert snapshot() == before


def test_reading_deleting_and_restoring_an_intention(outsider, acme_world):
    before = snapshot()
    live, removed = acme_world["live"], acme_world["removed"]

    read = outsider.get(f"{INTENTIONS}{live.uuid}/")
    deleted = outsider.delete(f"{INTENTIONS}{live.uuid}/")
    restored = outsider.post(f"{INTENTIONS}{removed.uuid}/restore/")

    assert (read.status_code, deleted.status_code, restored.status_code) == (404, 404, 404)
    assert PYTHON_KEY not in read.content.decode()
    assert snapshot() == before


def test_learner_status(outsider, acme, acme_world):
    for query in ("", f"&lms_user_id={acme_world['learner'].pk}"):
        response = outsider.get(f"{INTENTIONS}learner-status/?enterprise_customer_uuid={acme.uuid}{query}")
        assert response.status_code == 403


def test_realizing(outsider, acme, globex, acme_world):
    before = snapshot()
    acme_bodies = [
        {"enterprise_customer_uuid": str(acme.uuid)},
        {"enterprise_customer_uuid": str(acme.uuid), "lms_user_id": acme_world["waiting"].pk},
        {"enterprise_customer_uuid": str(acme.uuid), "all_learners": True},
    ]
    for body in acme_bodies:
        assert outsider.post(f"{INTENTIONS}realize/", body, format="json").status_code == 403
    # naming an acme learner through globex does not reach them either
    through_globex = {"enterprise_customer_uuid": str(globex.uuid), "lms_user_id": acme_world["waiting"].pk}
    assert outsider.post(f"{INTENTIONS}realize/", through_globex, format="json").status_code == 403
    assert snapshot() == before


def test_enterprise_enrollments(outsider, acme, acme_world):
    response = outsider.get(f"{BASE}enterprise-course-enrollment/")

    assert response.status_code == 200
    assert all(row["user_id"] != acme_world["learner"].pk for row in response.json()["results"])
    assert outsider.get(f"{BASE}enterprise-course-enrollment/?enterprise_customer_uuid={acme.uuid}").status_code == 403


def test_acme_sees_none_of_globex(acme_admin, client_for, globex, globex_plan, globex_learner, acme_world):
    api.create_intention(globex, "catalog-course:ElseU:Art")
    api.realize_default_enrollments(globex, globex_learner)
    assert EnterpriseCourseEnrollment.objects.filter(customer_user__customer=globex).exists()
    client = client_for(acme_admin)

    listed = client.get(f"{BASE}enterprise-course-enrollment/").json()["results"]

    assert {row["user_id"] for row in listed} == {acme_world["learner"].pk}
    assert client.get(f"{INTENTIONS}?enterprise_customer_uuid={globex.uuid}").status_code == 403


def test_saving_an_enterprise_enrollment_for_later(outsider, acme_world):
    row = EnterpriseCourseEnrollment.objects.get(customer_user__user=acme_world["learner"])

    response = outsider.patch(f"{BASE}enterprise-course-enrollment/{row.pk}/", {"saved_for_later": True}, format="json")

    assert response.status_code == 404
    assert PYTHON_KEY not in response.content.decode()
    row.refresh_from_db()
    assert row.saved_for_later is False
    assert row.history.count() == 1


def test_acme_cannot_save_globex_enrollments_for_later(
    acme_admin, client_for, globex, globex_plan, globex_learner, acme_world
):
    api.create_intention(globex, "catalog-course:ElseU:Art")
    api.realize_default_enrollments(globex, globex_learner)
    row = EnterpriseCourseEnrollment.objects.get(customer_user__customer=globex)

    for user in (acme_admin, acme_world["learner"]):
        response = client_for(user).patch(
            f"{BASE}enterprise-course-enrollment/{row.pk}/", {"saved_for_later": True}, format="json"
        )
        assert response.status_code == 404

    row.refresh_from_db()
    assert row.saved_for_later is False
