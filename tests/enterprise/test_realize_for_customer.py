"""Realizing default enrollments for every active, linked learner of a customer: who is included, the
counts, batches, idempotency, and statement counts that do not grow with the number of learners."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.data import CustomerRealizeResult, EnrollmentSource
from rollbook.enterprise.models import (
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    EnterpriseCustomerUser,
    License,
    SubscriptionPlan,
)
from tests.enterprise.conftest import AUDIT_ONLY_KEY, PYTHON_COURSE, PYTHON_KEY, activate_license_for

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def big_plan(acme, acme_catalog):
    """A current 100-seat plan of acme on its catalog."""
    now = timezone.now()
    plan = SubscriptionPlan.objects.create(
        customer=acme,
        catalog=acme_catalog,
        title="Acme big plan",
        seats=100,
        start=now - timedelta(days=1),
        expiration=now + timedelta(days=100),
    )
    License.objects.bulk_create([License(plan=plan) for _ in range(100)])
    return plan


@pytest.fixture
def make_learners(make_acme_learner, big_plan):
    """Make ``count`` linked, active acme learners, each with an activated license of ``big_plan``."""

    def _make(count: int) -> list:
        learners = []
        for _ in range(count):
            user = make_acme_learner(licensed=False)
            activate_license_for(big_plan, user)
            learners.append(user)
        return learners

    return _make


@pytest.fixture
def intentions(acme):
    return [api.create_intention(acme, PYTHON_COURSE), api.create_intention(acme, AUDIT_ONLY_KEY)]


def test_every_active_linked_learner_is_realized(acme, intentions, make_learners):
    learners = make_learners(3)

    result = api.realize_for_customer(str(acme.uuid))

    assert result == CustomerRealizeResult(
        learners=3, enrollments_created=6, realizations_created=6, skipped_without_license=0, failures=0
    )
    for user in learners:
        assert enrollments_api.get_enrollment(user, PYTHON_KEY).mode == "verified"
        assert enrollments_api.get_enrollment(user, AUDIT_ONLY_KEY).mode == "audit"
    assert set(EnterpriseCourseEnrollment.objects.values_list("source", flat=True)) == {
        EnrollmentSource.DEFAULT_ENROLLMENT
    }
    assert DefaultEnrollmentRealization.objects.count() == 6


def test_pending_unlinked_and_inactive_learners_are_left_out(
    acme, intentions, make_learners, make_acme_learner, make_user
):
    (included,) = make_learners(1)
    inactive = make_acme_learner(licensed=False, active=False)
    unlinked = make_user()
    EnterpriseCustomerUser.objects.create(customer=acme, user=unlinked, linked=False, active=True)
    EnterpriseCustomerUser.objects.create(customer=acme, user_email="waiting@example.com")

    result = api.realize_for_customer(acme)

    assert result.learners == 1
    assert enrollments_api.get_enrollment(included, PYTHON_KEY) is not None
    for user in (inactive, unlinked):
        assert enrollments_api.get_enrollment(user, PYTHON_KEY) is None


def test_learners_without_a_covering_license_are_counted_as_skipped(acme, intentions, make_learners, make_acme_learner):
    make_learners(2)
    unlicensed = make_acme_learner(licensed=False)

    result = api.realize_for_customer(acme)

    assert (result.learners, result.enrollments_created, result.skipped_without_license) == (3, 4, 2)
    assert enrollments_api.get_enrollment(unlicensed, PYTHON_KEY) is None


def test_learners_are_taken_in_batches(acme, intentions, make_learners, settings):
    settings.BULK_BATCH_SIZE = 3
    learners = make_learners(7)

    result = api.realize_for_customer(acme)

    assert (result.learners, result.realizations_created) == (7, 14)
    assert all(enrollments_api.get_enrollment(user, PYTHON_KEY).is_active for user in learners)


def test_a_second_run_writes_nothing(acme, intentions, make_learners):
    make_learners(4)
    api.realize_for_customer(acme)

    with CaptureQueriesContext(connection) as captured:
        again = api.realize_for_customer(acme)

    assert again == CustomerRealizeResult(learners=4)
    assert [
        query["sql"] for query in captured.captured_queries if query["sql"].lstrip().upper().startswith(WRITES)
    ] == []


def test_a_customer_without_intentions_or_learners(acme, make_learners, globex):
    make_learners(2)

    assert api.realize_for_customer(acme) == CustomerRealizeResult(learners=2)
    assert api.realize_for_customer(globex) == CustomerRealizeResult()


def test_statements_do_not_grow_with_learners(acme, intentions, make_learners, settings):
    settings.BULK_BATCH_SIZE = 500
    make_learners(10)
    with CaptureQueriesContext(connection) as ten:
        first = api.realize_for_customer(acme)
    make_learners(60)

    with CaptureQueriesContext(connection) as sixty:
        second = api.realize_for_customer(acme)

    assert (first.learners, first.realizations_created) == (10, 20)
    assert (second.learners, second.realizations_created) == (70, 120)
    assert len(sixty.captured_queries) == len(ten.captured_queries)


def manual_audit_enrollment(customer, user, course_key: str) -> EnterpriseCourseEnrollment:
    """An active audit enrollment with a manual enterprise enrollment (no license, no realization)."""
    enrollments_api.enroll(user, course_key, "audit")
    pair = (user.pk, catalog_api.get_course_run(course_key).pk)
    state = enrollments_api.enrollment_states([pair])[pair]
    row = EnterpriseCustomerUser.objects.get(customer=customer, user=user)
    ids = api.upsert_enterprise_enrollments([api.EnterpriseEnrollmentWrite(row.pk, state.id, EnrollmentSource.MANUAL)])
    return EnterpriseCourseEnrollment.objects.get(pk=ids[(row.pk, state.id)])


def test_learners_in_every_starting_state_end_up_realized_once(
    acme, intentions, make_learners, django_capture_on_commit_callbacks
):
    """New learners next to ones with an audit enrollment (without an enterprise enrollment, with a manual one,
    with one they left) and one realized already: existing enterprise enrollments are refreshed in place, new
    ones created, nothing doubled."""
    fresh, auditing, manual, left, done = make_learners(5)
    enrollments_api.enroll(auditing, PYTHON_KEY, "audit")
    kept = {user: manual_audit_enrollment(acme, user, PYTHON_KEY) for user in (manual, left)}
    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.unenroll(left, PYTHON_KEY)
    kept[left].refresh_from_db()
    assert kept[left].unenrolled is True
    api.realize_default_enrollments(acme, done)

    result = api.realize_for_customer(acme)

    # two per learner but done: Python created, upgraded from audit or reactivated in verified; Audit-only created
    assert result == CustomerRealizeResult(
        learners=5, enrollments_created=8, realizations_created=8, skipped_without_license=0, failures=0
    )
    for user in (fresh, auditing, manual, left, done):
        assert enrollments_api.get_enrollment(user, PYTHON_KEY).mode == "verified"
        assert enrollments_api.get_enrollment(user, PYTHON_KEY).is_active
        assert enrollments_api.get_enrollment(user, AUDIT_ONLY_KEY).mode == "audit"
        rows = EnterpriseCourseEnrollment.objects.filter(customer_user__user=user)
        assert sorted(row.source for row in rows) == [EnrollmentSource.DEFAULT_ENROLLMENT] * 2
        assert all(row.unenrolled is not True and row.license_id is not None for row in rows)
        assert DefaultEnrollmentRealization.objects.filter(realized_enrollment__in=rows).count() == 2
    for user, row in kept.items():  # refreshed in place, with a history row
        assert EnterpriseCourseEnrollment.objects.get(customer_user__user=user, pk=row.pk).history.count() >= 2
    assert EnterpriseCourseEnrollment.objects.count() == DefaultEnrollmentRealization.objects.count() == 10
    assert api.realize_for_customer(acme) == CustomerRealizeResult(learners=5)
