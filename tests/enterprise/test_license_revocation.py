"""Revoking a license: the seat is freed, and each enrollment the license paid for is kept when completed
(by certificate or by a passed grade), moved to audit when the run offers it, else unenrolled; enrollments
already inactive are left alone. Every change leaves a history row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollbook.catalog.data import ModeSpec
from rollbook.core.errors import InvalidInput
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.data import EnrollmentSource, LicenseStatus
from rollbook.enterprise.models import EnterpriseCourseEnrollment, EnterpriseCustomerUser, License
from rollbook.records import api as records_api
from tests.enterprise.conftest import CLOSED_KEY, DATA_KEY, PAID_ONLY_KEY, PYTHON_KEY

GRADED_KEY = "course-v1:EntU+Graded+2030"
FAILED_KEY = "course-v1:EntU+Failed+2030"
NO_MODES_KEY = "course-v1:EntU+NoModes+2030"


def _license_of(user) -> License:
    return License.objects.get(user=user, status=LicenseStatus.ACTIVATED)


def _enroll_with_license(user, course_key: str, license: License, mode: str = "verified") -> EnterpriseCourseEnrollment:
    """A verified course enrollment paid by ``license``, as enrollment code would record it."""
    data = enrollments_api.enroll(user, course_key, mode, skip_access_checks=True)
    run_id = enrollments_api.enrollments_queryset().get(uuid=data.uuid).course_run_id
    state = enrollments_api.enrollment_states([(user.pk, run_id)])[(user.pk, run_id)]
    customer_user = EnterpriseCustomerUser.objects.get(customer=license.plan.customer, user=user)
    return EnterpriseCourseEnrollment.objects.create(
        customer_user=customer_user, course_enrollment_id=state.id, license=license, source=EnrollmentSource.LICENSE
    )


def _enrollment(user, course_key: str):
    return enrollments_api.get_enrollment(user, course_key)


@pytest.fixture
def extra_runs(make_run):
    return {
        GRADED_KEY: make_run(GRADED_KEY),
        FAILED_KEY: make_run(FAILED_KEY),
        NO_MODES_KEY: make_run(NO_MODES_KEY, modes=()),
    }


def test_revocation_effects_on_each_kind_of_enrollment(acme_learner, extra_runs):
    license = _license_of(acme_learner)
    moved = _enroll_with_license(acme_learner, PYTHON_KEY, license)
    dropped = _enroll_with_license(acme_learner, PAID_ONLY_KEY, license)
    by_certificate = _enroll_with_license(acme_learner, DATA_KEY, license)
    by_grade = _enroll_with_license(acme_learner, GRADED_KEY, license)
    not_passed = _enroll_with_license(acme_learner, FAILED_KEY, license)
    inactive = _enroll_with_license(acme_learner, CLOSED_KEY, license)
    no_modes = _enroll_with_license(acme_learner, NO_MODES_KEY, license, mode="audit")
    records_api.record_certificate(acme_learner, DATA_KEY, mode="verified", status="downloadable", grade="0.9")
    records_api.record_course_grade(acme_learner, GRADED_KEY, percent=0.8, passed=True)
    records_api.record_certificate(acme_learner, FAILED_KEY, mode="verified", status="notpassing", grade=0.3)
    records_api.record_course_grade(acme_learner, FAILED_KEY, percent=0.3, passed=False)
    enrollments_api.unenroll(acme_learner, CLOSED_KEY)

    effects = api.revoke_license(license)

    assert [(effect.course_run_key, effect.action) for effect in effects] == [
        (PYTHON_KEY, "moved_to_audit"),
        (PAID_ONLY_KEY, "unenrolled"),
        (DATA_KEY, "kept_completed"),
        (GRADED_KEY, "kept_completed"),
        (FAILED_KEY, "moved_to_audit"),
        (CLOSED_KEY, "already_inactive"),
        (NO_MODES_KEY, "moved_to_audit"),  # a run listing no modes offers audit
    ]
    assert effects[0].course_enrollment_uuid == _enrollment(acme_learner, PYTHON_KEY).uuid
    expected = {
        PYTHON_KEY: ("audit", True),
        PAID_ONLY_KEY: ("verified", False),
        DATA_KEY: ("verified", True),
        GRADED_KEY: ("verified", True),
        FAILED_KEY: ("audit", True),
        CLOSED_KEY: ("verified", False),
        NO_MODES_KEY: ("audit", True),
    }
    for key, (mode, is_active) in expected.items():
        enrollment = _enrollment(acme_learner, key)
        assert (enrollment.mode, enrollment.is_active) == (mode, is_active), key

    for row in (moved, by_certificate, by_grade, not_passed, inactive, no_modes):
        row.refresh_from_db()
        assert (row.unenrolled, row.unenrolled_at) == (None, None)
    dropped.refresh_from_db()
    assert dropped.unenrolled is True and dropped.unenrolled_at is not None
    assert list(dropped.history.order_by("history_id").values_list("history_type", "unenrolled")) == [
        ("+", None),
        ("~", True),
    ]


def test_history_rows_record_the_enrollment_changes(acme_learner):
    license = _license_of(acme_learner)
    _enroll_with_license(acme_learner, PYTHON_KEY, license)
    _enroll_with_license(acme_learner, PAID_ONLY_KEY, license)
    python_uuid = _enrollment(acme_learner, PYTHON_KEY).uuid
    paid_uuid = _enrollment(acme_learner, PAID_ONLY_KEY).uuid

    api.revoke_license(license)

    history = enrollments_api.enrollments_queryset().model.history
    assert list(history.filter(uuid=python_uuid).order_by("history_id").values_list("mode", "is_active")) == [
        ("verified", True),
        ("audit", True),
    ]
    assert list(history.filter(uuid=paid_uuid).order_by("history_id").values_list("mode", "is_active")) == [
        ("verified", True),
        ("verified", False),
    ]


def test_revocation_frees_the_seat_for_someone_else(acme_catalog, make_user):
    plan = api.create_plan(
        acme_catalog.customer,
        catalog=acme_catalog,
        title="One seat",
        seats=1,
        start=acme_catalog.created.replace(year=2020),
        expiration=acme_catalog.created.replace(year=2099),
    )
    first = make_user("first", email="first@example.com")
    api.assign_licenses(plan, [first.email])
    held = License.objects.get(plan=plan, status="assigned")
    api.activate_license(held, first)
    with pytest.raises(InvalidInput):
        api.assign_licenses(plan, ["second@example.com"])

    assert api.revoke_license(str(held.uuid)) == []

    held.refresh_from_db()
    assert (held.status, held.revoked_at is not None, held.user) == ("revoked", True, first)
    assert list(held.history.order_by("history_id").values_list("status", flat=True)) == [
        "unassigned",
        "assigned",
        "activated",
        "revoked",
    ]
    replacement = License.objects.get(plan=plan, status="unassigned")
    assert replacement.history.filter(history_type="+").count() == 1
    assert api.get_plan(plan.uuid).seats_free == 1
    assert api.assign_licenses(plan, ["second@example.com"]).assigned == ("second@example.com",)
    assert License.objects.filter(plan=plan).exclude(status="revoked").count() == plan.seats
    # The same person may get a seat again after a revocation.
    api.revoke_licenses(plan, ["second@example.com"])
    assert api.assign_licenses(plan, ["FIRST@example.com"]).assigned == ("first@example.com",)


def test_only_assigned_or_activated_licenses_can_be_revoked(acme_plan, acme_learner):
    license = _license_of(acme_learner)
    api.revoke_license(license)
    assert license.status == LicenseStatus.REVOKED  # the instance given is refreshed

    with pytest.raises(InvalidInput) as raised:
        api.revoke_license(license)
    assert "revoked already" in raised.value.errors["license"][0]
    with pytest.raises(InvalidInput) as raised:
        api.revoke_license(License.objects.filter(plan=acme_plan, status="unassigned").first())
    assert "not assigned" in raised.value.errors["license"][0]
    assert License.objects.filter(plan=acme_plan).exclude(status="revoked").count() == acme_plan.seats


def test_revocation_leaves_other_licenses_enrollments_alone(acme_learner, make_acme_learner):
    other = make_acme_learner("other")
    _enroll_with_license(acme_learner, PAID_ONLY_KEY, _license_of(acme_learner))
    _enroll_with_license(other, PAID_ONLY_KEY, _license_of(other))

    api.revoke_license(_license_of(acme_learner))

    assert _enrollment(other, PAID_ONLY_KEY).is_active
    assert not _enrollment(acme_learner, PAID_ONLY_KEY).is_active


def test_revoking_an_assigned_license_that_paid_for_nothing(acme_plan):
    api.assign_licenses(acme_plan, ["waiting@example.com"])

    result = api.revoke_licenses(acme_plan, ["Waiting@Example.com"])

    assert result == {"Waiting@Example.com": []}
    assert License.objects.get(plan=acme_plan, user_email="waiting@example.com").status == "revoked"


def test_revoke_licenses_reports_per_email(acme_plan, acme_learner):
    _enroll_with_license(acme_learner, PAID_ONLY_KEY, _license_of(acme_learner))
    api.assign_licenses(acme_plan, ["twice@example.com"])

    result = api.revoke_licenses(
        acme_plan, [acme_learner.email.upper(), "nobody@example.com", "nope", "twice@example.com", "TWICE@example.com"]
    )

    assert [effect.action for effect in result[acme_learner.email.upper()]] == ["unenrolled"]
    assert "no assigned or activated license" in result["nobody@example.com"]
    assert "not a valid email" in result["nope"]
    assert result["twice@example.com"].startswith("duplicated")
    assert result["TWICE@example.com"].startswith("duplicated")
    assert License.objects.get(plan=acme_plan, user_email="twice@example.com").status == "assigned"
    with pytest.raises(InvalidInput):
        api.revoke_licenses(acme_plan, "twice@example.com")


def test_revocation_statements_do_not_grow_with_enrollments(acme_learner, make_acme_learner, make_run):
    few_learner, many_learner = make_acme_learner("few"), make_acme_learner("many")
    keys = []
    for number in range(12):
        modes = (ModeSpec("verified", 100),) if number % 2 else (ModeSpec("audit"), ModeSpec("verified", 100))
        keys.append(str(make_run(f"course-v1:EntU+Load{number}+2030", modes=modes).course_key))
    for key in keys[:2]:
        _enroll_with_license(few_learner, key, _license_of(few_learner))
    for key in keys:
        _enroll_with_license(many_learner, key, _license_of(many_learner))

    with CaptureQueriesContext(connection) as few:
        api.revoke_license(_license_of(few_learner))
    with CaptureQueriesContext(connection) as many:
        effects = api.revoke_license(_license_of(many_learner))

    assert len(many) == len(few)
    assert sorted(effect.action for effect in effects) == ["moved_to_audit"] * 6 + ["unenrolled"] * 6
