"""Pending enrollments: an email with no account gets a pending learner and a pending enrollment, which
are realized when a user with that email registers; failures stay pending and are reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.data import EnrollItem, EnrollmentSource, EnrollOutcome, LicenseStatus
from rollbook.enterprise.models import (
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
)
from tests.enterprise.conftest import DATA_KEY, PYTHON_COURSE, PYTHON_KEY

EMAIL = "New.Hire@Example.com"


@pytest.fixture
def world(acme, acme_catalog, acme_plan):
    return acme


@pytest.fixture
def assigned(acme_plan) -> License:
    """A license of acme's plan assigned to EMAIL (not activated: there is no account yet)."""
    free = License.objects.filter(plan=acme_plan, status=LicenseStatus.UNASSIGNED).order_by("id").first()
    free.status = LicenseStatus.ASSIGNED
    free.user_email = EMAIL
    free.assigned_at = timezone.now()
    free.save()
    return free


def pending_item(license: License, key: str = PYTHON_KEY, email: str = EMAIL, **fields) -> EnrollItem:
    return EnrollItem(course_run_key=key, email=email, license_uuid=str(license.uuid), **fields)


def register(email: str = EMAIL, django_capture=None):
    with django_capture(execute=True):
        return get_user_model().objects.create_user(username="newhire", email=email, password="pw-newhire")


def test_an_email_without_an_account_is_pending(world, assigned):
    (result,) = api.enroll_learners_in_courses(
        world, [pending_item(assigned, email="new.hire@example.COM", is_default_auto_enrollment=True)]
    )

    assert (result.outcome, result.user_id, result.email, result.course_run_key) == (
        EnrollOutcome.PENDING,
        None,
        "new.hire@example.COM",
        PYTHON_KEY,
    )
    learner = EnterpriseCustomerUser.objects.get(customer=world, user__isnull=True)
    assert learner.user_email_normalized == "new.hire@example.com"
    pending = PendingEnrollment.objects.get()
    assert (pending.customer_user, str(pending.course_run.course_key), pending.license) == (
        learner,
        PYTHON_KEY,
        assigned,
    )
    assert (pending.source, pending.is_default_auto_enrollment) == (EnrollmentSource.API, True)
    assert not EnterpriseCourseEnrollment.objects.exists()


def test_asking_again_updates_the_pending_enrollment(world, assigned):
    api.enroll_learners_in_courses(world, [pending_item(assigned)])

    (result,) = api.enroll_learners_in_courses(world, [pending_item(assigned, is_default_auto_enrollment=True)])

    assert result.outcome == EnrollOutcome.PENDING
    assert PendingEnrollment.objects.get().is_default_auto_enrollment
    assert EnterpriseCustomerUser.objects.filter(customer=world).count() == 1


def test_a_pending_learner_needs_a_license_assigned_to_that_email(world, assigned, acme_learner):
    activated = License.objects.get(user=acme_learner)

    other_email, activated_one = api.enroll_learners_in_courses(
        world,
        [pending_item(assigned, email="someone.else@example.com"), pending_item(activated, DATA_KEY)],
    )

    assert (other_email.outcome, activated_one.outcome) == (EnrollOutcome.FAILURE, EnrollOutcome.FAILURE)
    assert "not assigned to this email" in other_email.message
    assert "not assigned to this email" in activated_one.message
    assert not EnterpriseCustomerUser.objects.filter(user__isnull=True).exists()
    assert not PendingEnrollment.objects.exists()


def test_registration_realizes_pending_enrollments(world, assigned, django_capture_on_commit_callbacks):
    intention = api.create_intention(world, PYTHON_COURSE)
    api.enroll_learners_in_courses(
        world,
        [pending_item(assigned, is_default_auto_enrollment=True), pending_item(assigned, DATA_KEY)],
        source=EnrollmentSource.CUSTOMER_ADMIN,
    )

    user = register(EMAIL.lower(), django_capture_on_commit_callbacks)

    learner = EnterpriseCustomerUser.objects.get(customer=world, user=user)
    assert learner.linked
    for key in (PYTHON_KEY, DATA_KEY):
        made = enrollments_api.get_enrollment(user, key)
        assert (made.mode, made.is_active) == ("verified", True)
    rows = EnterpriseCourseEnrollment.objects.filter(customer_user=learner)
    assert {(row.source, row.license_id) for row in rows} == {(EnrollmentSource.CUSTOMER_ADMIN, assigned.pk)}
    realization = DefaultEnrollmentRealization.objects.get()
    assert realization.intention == intention
    assert str(realization.realized_enrollment.course_enrollment.course_run.course_key) == PYTHON_KEY
    assert not PendingEnrollment.objects.exists()
    assigned.refresh_from_db()
    assert assigned.status == LicenseStatus.ASSIGNED  # not activated behind the learner's back


def test_failures_stay_pending_and_are_reported(world, assigned, django_capture_on_commit_callbacks):
    api.enroll_learners_in_courses(world, [pending_item(assigned), pending_item(assigned, DATA_KEY)])
    catalog_api.update_course_run(DATA_KEY, enrollment_end=timezone.now() - timedelta(minutes=1))

    user = register(EMAIL, django_capture_on_commit_callbacks)

    assert enrollments_api.get_enrollment(user, PYTHON_KEY).is_active
    assert enrollments_api.get_enrollment(user, DATA_KEY) is None
    (left,) = PendingEnrollment.objects.all()
    assert str(left.course_run.course_key) == DATA_KEY

    results = api.realize_pending_enrollments(EnterpriseCustomerUser.objects.get(user=user))

    (result,) = results
    assert (result.outcome, result.user_id, result.course_run_key) == (EnrollOutcome.FAILURE, user.pk, DATA_KEY)
    assert result.message == f"Enrollment in {DATA_KEY} is closed."
    assert PendingEnrollment.objects.count() == 1


def test_a_license_revoked_meanwhile_keeps_the_enrollment_pending(world, assigned, django_capture_on_commit_callbacks):
    api.enroll_learners_in_courses(world, [pending_item(assigned)])
    api.revoke_license(assigned)

    user = register(EMAIL, django_capture_on_commit_callbacks)

    assert enrollments_api.get_enrollment(user, PYTHON_KEY) is None
    (result,) = api.realize_pending_enrollments(EnterpriseCustomerUser.objects.get(user=user))
    assert (result.outcome, result.message) == (EnrollOutcome.FAILURE, f"The license {assigned.uuid} is revoked.")
    assert PendingEnrollment.objects.exists()


def test_a_license_activated_by_the_new_learner_pays_too(world, assigned, django_capture_on_commit_callbacks):
    api.enroll_learners_in_courses(world, [pending_item(assigned)])
    user = register(EMAIL, django_capture_on_commit_callbacks)
    learner = EnterpriseCustomerUser.objects.get(user=user)
    # the enrollment failed for another reason meanwhile and is put back
    assert not PendingEnrollment.objects.exists()
    PendingEnrollment.objects.create(
        customer_user=learner, course_run=catalog_api.get_course_run(DATA_KEY), license=assigned
    )
    assigned.status, assigned.user, assigned.activated_at = LicenseStatus.ACTIVATED, user, timezone.now()
    assigned.save()

    (result,) = api.realize_pending_enrollments(learner)

    assert (result.outcome, result.mode) == (EnrollOutcome.SUCCESS, "verified")
    assert not PendingEnrollment.objects.exists()


def test_a_row_without_a_user_has_nothing_to_realize(world, assigned):
    api.enroll_learners_in_courses(world, [pending_item(assigned)])

    assert api.realize_pending_enrollments(EnterpriseCustomerUser.objects.get(user__isnull=True)) == []
    assert PendingEnrollment.objects.count() == 1


def test_one_email_in_two_cases_makes_one_pending_learner(world, assigned):
    results = api.enroll_learners_in_courses(
        world, [pending_item(assigned, email=EMAIL.upper()), pending_item(assigned, DATA_KEY, email=EMAIL.lower())]
    )

    assert [result.outcome for result in results] == [EnrollOutcome.PENDING, EnrollOutcome.PENDING]
    learner = EnterpriseCustomerUser.objects.get(customer=world, user__isnull=True)
    assert PendingEnrollment.objects.filter(customer_user=learner).count() == 2
