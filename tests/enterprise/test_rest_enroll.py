"""``POST /enterprise/api/v1/enterprise-customer/{uuid}/enroll_learners_in_courses/``: the edx-enterprise body
and answer, the status codes, realizations for default enrollments, bad bodies and who may call it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.enrollments.models import CourseEnrollment
from rollbook.enterprise import api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import (
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    License,
    PendingEnrollment,
)
from tests.enterprise.conftest import ART_KEY, CLOSED_KEY, DATA_KEY, PYTHON_KEY


def enroll_url(customer) -> str:
    return f"/enterprise/api/v1/enterprise-customer/{customer.uuid}/enroll_learners_in_courses/"


def license_of(plan, user) -> License:
    return License.objects.get(plan=plan, user=user, status=LicenseStatus.ACTIVATED)


def enrolled(user) -> dict[str, tuple[str, bool]]:
    """{run key: (mode, is_active)} of the user's course enrollments."""
    return {
        str(row.course_run.course_key): (row.mode, row.is_active)
        for row in CourseEnrollment.objects.filter(user=user).select_related("course_run")
    }


@pytest.fixture
def admin_api(acme_admin, client_for):
    return client_for(acme_admin)


@pytest.fixture
def assigned_license(acme_plan):
    """A license of acme's plan assigned to an email with no account yet."""
    license = License.objects.filter(plan=acme_plan, status=LicenseStatus.UNASSIGNED).order_by("id").first()
    license.status = LicenseStatus.ASSIGNED
    license.user_email = "Newcomer@Example.com"
    license.assigned_at = timezone.now()
    license.save()
    return license


# --- outcomes ------------------------------------------------------------------------------------


def test_admin_enrolls_a_learner_with_their_license(admin_api, acme, acme_plan, acme_learner):
    license = license_of(acme_plan, acme_learner)

    response = admin_api.post(
        enroll_url(acme),
        {
            "enrollments_info": [
                {"user_id": acme_learner.pk, "course_run_key": PYTHON_KEY, "license_uuid": str(license.uuid)}
            ]
        },
        format="json",
    )

    assert response.status_code == 201
    assert response.json() == {
        "successes": [
            {
                "user_id": acme_learner.pk,
                "email": acme_learner.email,
                "course_run_key": PYTHON_KEY,
                "created": True,
                "mode": "verified",
            }
        ],
        "pending": [],
        "failures": [],
    }
    assert enrolled(acme_learner) == {PYTHON_KEY: ("verified", True)}
    row = EnterpriseCourseEnrollment.objects.get(customer_user__user=acme_learner)
    assert (row.source, row.license_id) == ("api", license.pk)


def test_learners_may_be_named_by_email_in_any_case_and_the_alias_key_is_accepted(
    operator_api, acme, acme_plan, acme_learner
):
    license = license_of(acme_plan, acme_learner)

    response = operator_api.post(
        enroll_url(acme),
        {
            "licenses_info": [
                {"email": acme_learner.email.upper(), "course_run_key": DATA_KEY, "license_uuid": str(license.uuid)}
            ]
        },
        format="json",
    )

    assert response.status_code == 201
    success = response.json()["successes"][0]
    assert (success["user_id"], success["course_run_key"], success["created"]) == (acme_learner.pk, DATA_KEY, True)
    assert enrolled(acme_learner) == {DATA_KEY: ("verified", True)}


def test_an_email_without_an_account_is_pending(admin_api, acme, assigned_license):
    response = admin_api.post(
        enroll_url(acme),
        {
            "enrollments_info": [
                {
                    "email": "newcomer@example.com",
                    "course_run_key": PYTHON_KEY,
                    "license_uuid": str(assigned_license.uuid),
                }
            ]
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["successes"] == [] and body["failures"] == []
    assert body["pending"] == [{"user_id": None, "email": "newcomer@example.com", "course_run_key": PYTHON_KEY}]
    pending = PendingEnrollment.objects.get()
    assert (pending.customer_user.user_email_normalized, pending.license_id) == (
        "newcomer@example.com",
        assigned_license.pk,
    )


def test_mixed_outcomes_are_a_207_with_a_message_per_failure(admin_api, acme, acme_plan, acme_learner):
    license = str(license_of(acme_plan, acme_learner).uuid)

    response = admin_api.post(
        enroll_url(acme),
        {
            "enrollments_info": [
                {"user_id": acme_learner.pk, "course_run_key": PYTHON_KEY, "license_uuid": license},
                {"user_id": acme_learner.pk, "course_run_key": ART_KEY, "license_uuid": license},
            ]
        },
        format="json",
    )

    assert response.status_code == 207
    body = response.json()
    assert [item["course_run_key"] for item in body["successes"]] == [PYTHON_KEY]
    [failure] = body["failures"]
    assert set(failure) == {"user_id", "email", "course_run_key", "message"}
    assert failure["course_run_key"] == ART_KEY
    assert "does not contain" in failure["message"]
    assert enrolled(acme_learner) == {PYTHON_KEY: ("verified", True)}


def test_nothing_applied_is_a_422(admin_api, acme, acme_plan, acme_learner, make_acme_learner):
    license = str(license_of(acme_plan, acme_learner).uuid)
    other = make_acme_learner()

    response = admin_api.post(
        enroll_url(acme),
        {
            "enrollments_info": [
                {"user_id": 987654, "course_run_key": PYTHON_KEY, "license_uuid": license},
                {"user_id": other.pk, "course_run_key": PYTHON_KEY, "license_uuid": license},  # not theirs
                {"user_id": acme_learner.pk, "course_run_key": PYTHON_KEY},  # no subsidy
                {"user_id": acme_learner.pk, "course_run_key": CLOSED_KEY, "license_uuid": license},
                {"user_id": acme_learner.pk, "course_run_key": "course-v1:EntU+Nope+2030", "license_uuid": license},
                {"user_id": acme_learner.pk, "course_run_key": "not a key", "license_uuid": license},
                {"email": "not-an-email", "course_run_key": PYTHON_KEY, "license_uuid": license},
                {"user_id": acme_learner.pk, "course_run_key": PYTHON_KEY, "license_uuid": "nope"},
            ]
        },
        format="json",
    )

    assert response.status_code == 422
    body = response.json()
    assert body["successes"] == [] and body["pending"] == []
    assert len(body["failures"]) == 8
    assert all(failure["message"] for failure in body["failures"])
    assert not CourseEnrollment.objects.exists()
    assert not EnterpriseCourseEnrollment.objects.exists()


def test_default_auto_enrollments_record_the_realization(admin_api, acme, acme_plan, acme_learner):
    intention = api.create_intention(acme, "catalog-course:EntU:Python")
    license = license_of(acme_plan, acme_learner)

    response = admin_api.post(
        enroll_url(acme),
        {
            "enrollments_info": [
                {
                    "user_id": acme_learner.pk,
                    "course_run_key": PYTHON_KEY,
                    "license_uuid": str(license.uuid),
                    "is_default_auto_enrollment": True,
                }
            ]
        },
        format="json",
    )

    assert response.status_code == 201
    realization = DefaultEnrollmentRealization.objects.get()
    assert realization.intention == intention
    assert realization.realized_enrollment.customer_user.user == acme_learner


def test_enrolling_again_reports_an_existing_enrollment(admin_api, acme, acme_plan, acme_learner):
    body = {
        "enrollments_info": [
            {
                "user_id": acme_learner.pk,
                "course_run_key": PYTHON_KEY,
                "license_uuid": str(license_of(acme_plan, acme_learner).uuid),
            }
        ]
    }
    assert admin_api.post(enroll_url(acme), body, format="json").status_code == 201

    response = admin_api.post(enroll_url(acme), body, format="json")

    assert response.status_code == 201
    assert response.json()["successes"][0]["created"] is False
    assert EnterpriseCourseEnrollment.objects.count() == 1


def test_statements_do_not_grow_with_items(admin_api, acme, acme_plan, acme_learner, make_acme_learner):
    learners = [acme_learner, *(make_acme_learner() for _ in range(4))]

    def body(users, key):
        return {
            "enrollments_info": [
                {"user_id": user.pk, "course_run_key": key, "license_uuid": str(license_of(acme_plan, user).uuid)}
                for user in users
            ]
        }

    one, four = body(learners[:1], PYTHON_KEY), body(learners[1:], DATA_KEY)
    with CaptureQueriesContext(connection) as few:
        assert admin_api.post(enroll_url(acme), one, format="json").status_code == 201
    with CaptureQueriesContext(connection) as many:
        assert admin_api.post(enroll_url(acme), four, format="json").status_code == 201
    assert len(many.captured_queries) <= len(few.captured_queries)
    assert CourseEnrollment.objects.count() == 5


# --- bad bodies ----------------------------------------------------------------------------------


def _item(**fields):
    return {"user_id": 1, "course_run_key": PYTHON_KEY, "license_uuid": str(uuid.uuid4()), **fields}


@pytest.mark.parametrize(
    "body",
    [
        [_item()],
        "enroll them",
        {},
        {"enrollments_info": "x"},
        {"enrollments_info": {"user_id": 1}},
        {"enrollments_info": []},
        {"enrollments_info": [_item()], "licenses_info": [_item()]},
        {"enrollments_info": ["not an object"]},
        {"enrollments_info": [_item(course_run_key=None)]},
        {"enrollments_info": [{"user_id": 1, "license_uuid": str(uuid.uuid4())}]},
        {"enrollments_info": [_item(course_run_key=7)]},
        {"enrollments_info": [_item(course_run_key="  ")]},
        {"enrollments_info": [_item(user_id="abc")]},
        {"enrollments_info": [_item(user_id=True)]},
        {"enrollments_info": [_item(user_id=-3)]},
        {"enrollments_info": [_item(user_id=None)]},
        {"enrollments_info": [_item(email=["a@example.com"])]},
        {"enrollments_info": [_item(license_uuid=5)]},
        {"enrollments_info": [_item(is_default_auto_enrollment="yes")]},
        {"enrollments_info": [_item(force_enrollment=1)]},
        {"enrollments_info": [_item(), _item(course_run_key="x" * 300)]},
    ],
)
def test_malformed_bodies_are_400s_and_apply_nothing(operator_api, acme, acme_learner, body):
    response = operator_api.post(enroll_url(acme), body, format="json")

    assert response.status_code == 400
    assert not CourseEnrollment.objects.exists()
    assert not PendingEnrollment.objects.exists()


def test_errors_name_the_item_and_field(operator_api, acme):
    response = operator_api.post(
        enroll_url(acme), {"enrollments_info": [_item(), _item(course_run_key=None, user_id="x")]}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()["enrollments_info"]["1"]) == {"course_run_key", "user_id"}


def test_more_items_than_the_maximum_is_a_413(operator_api, acme, settings):
    settings.BULK_MAX_ITEMS = 2

    response = operator_api.post(enroll_url(acme), {"enrollments_info": [_item()] * 3}, format="json")

    assert response.status_code == 413


# --- who may call --------------------------------------------------------------------------------


def test_learners_may_not_enroll_anyone(acme_learner, acme_plan, acme, client_for):
    license = license_of(acme_plan, acme_learner)
    body = {
        "enrollments_info": [
            {"user_id": acme_learner.pk, "course_run_key": PYTHON_KEY, "license_uuid": str(license.uuid)}
        ]
    }

    response = client_for(acme_learner).post(enroll_url(acme), body, format="json")

    assert response.status_code == 403
    assert not CourseEnrollment.objects.exists()


@pytest.mark.parametrize("ident", [str(uuid.UUID(int=9)), "not-a-uuid"])
def test_an_unknown_customer_is_a_404_for_operators_and_a_403_for_admins(operator_api, admin_api, acme, ident):
    url = f"/enterprise/api/v1/enterprise-customer/{ident}/enroll_learners_in_courses/"
    body = {"enrollments_info": [_item()]}

    assert operator_api.post(url, body, format="json").status_code == 404
    assert admin_api.post(url, body, format="json").status_code == 403


def test_only_post_is_allowed(admin_api, acme):
    assert admin_api.get(enroll_url(acme)).status_code == 405
