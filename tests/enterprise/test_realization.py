"""Realizing default enrollments for one learner: enrollment in the best mode with a covering license,
realizations, idempotency, never re-enrolling a learner who left a paid enrollment, audit upgrades,
advertised-run changes and the choice of license."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.errors import InvalidInput
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.data import EnrollmentSource, LearnerStatusReason, LicenseStatus
from rollbook.enterprise.defaults import _held_licenses
from rollbook.enterprise.enrolling import record_realizations
from rollbook.enterprise.models import (
    DefaultEnrollmentRealization,
    EnterpriseCatalog,
    EnterpriseCatalogCourse,
    EnterpriseCourseEnrollment,
    License,
    SubscriptionPlan,
)
from tests.enterprise.conftest import (
    ART_KEY,
    AUDIT_ONLY_KEY,
    DATA_KEY,
    PYTHON_COURSE,
    PYTHON_KEY,
    activate_license_for,
)

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes_in(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if query["sql"].lstrip().upper().startswith(WRITES)]


def history_counts() -> tuple[int, ...]:
    return (
        EnterpriseCourseEnrollment.history.count(),
        DefaultEnrollmentRealization.history.count(),
        enrollments_api.enrollments_queryset().model.history.count(),
    )


def enrollment(user, key):
    return enrollments_api.get_enrollment(user, key)


@pytest.fixture
def world(acme, acme_catalog, acme_plan):
    return acme


def test_realization_enrolls_in_the_best_mode_with_the_license_and_links_the_intention(world, acme_learner):
    intention = api.create_intention(world, PYTHON_COURSE)
    license = License.objects.get(user=acme_learner)

    result = api.realize_default_enrollments(world, acme_learner)

    assert result.failures == ()
    (realized,) = result.realized
    made = enrollment(acme_learner, PYTHON_KEY)
    assert (made.mode, made.is_active) == ("verified", True)
    assert (realized.intention_uuid, realized.course_run_key, realized.course_enrollment_uuid) == (
        intention.uuid,
        PYTHON_KEY,
        made.uuid,
    )
    assert (realized.mode, realized.license_uuid) == ("verified", license.uuid)
    row = EnterpriseCourseEnrollment.objects.get()
    assert (row.customer_user.user, row.source, row.license, row.unenrolled) == (
        acme_learner,
        EnrollmentSource.DEFAULT_ENROLLMENT,
        license,
        None,
    )
    assert row.history.count() == 1
    realization = DefaultEnrollmentRealization.objects.get()
    assert (realization.intention, realization.realized_enrollment) == (intention, row)
    assert realization.history.count() == 1
    assert api.learner_status(world, acme_learner).already_enrolled[0].intention.uuid == intention.uuid


def test_realization_is_idempotent(world, acme_learner, make_run):
    api.create_intention(world, PYTHON_COURSE)
    api.create_intention(world, AUDIT_ONLY_KEY)
    api.create_intention(world, ART_KEY)  # not enrollable: no catalog
    first = api.realize_default_enrollments(world, acme_learner)
    assert len(first.realized) == 2
    before = history_counts()

    with CaptureQueriesContext(connection) as captured:
        again = api.realize_default_enrollments(world, acme_learner)

    assert again.realized == again.failures == ()
    assert writes_in(captured) == []
    assert history_counts() == before
    assert DefaultEnrollmentRealization.objects.count() == 2


def test_a_learner_who_left_a_paid_enrollment_is_never_re_enrolled_even_with_a_license(world, acme_learner):
    api.create_intention(world, PYTHON_KEY)
    api.realize_default_enrollments(world, acme_learner)
    enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    assert License.objects.get(user=acme_learner).status == LicenseStatus.ACTIVATED

    with CaptureQueriesContext(connection) as captured:
        result = api.realize_default_enrollments(world, acme_learner)

    assert result.realized == result.failures == ()
    assert writes_in(captured) == []
    assert enrollment(acme_learner, PYTHON_KEY).is_active is False
    assert api.learner_status(world, acme_learner).not_enrollable[0].reason == LearnerStatusReason.LEFT_PAID_ENROLLMENT


def test_an_audit_enrollment_the_learner_left_is_enrolled_again(world, acme_learner):
    api.create_intention(world, AUDIT_ONLY_KEY)
    enrollments_api.enroll(acme_learner, AUDIT_ONLY_KEY, "audit")
    enrollments_api.unenroll(acme_learner, AUDIT_ONLY_KEY)

    (realized,) = api.realize_default_enrollments(world, acme_learner).realized

    again = enrollment(acme_learner, AUDIT_ONLY_KEY)
    assert (again.mode, again.is_active, realized.mode) == ("audit", True, "audit")
    assert DefaultEnrollmentRealization.objects.count() == 1


@pytest.mark.parametrize("active", [True, False])
def test_an_audit_enrollment_is_upgraded_with_a_license(world, acme_learner, active):
    intention = api.create_intention(world, PYTHON_COURSE)
    enrollments_api.enroll(acme_learner, PYTHON_KEY, "audit")
    if not active:
        enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    audit = enrollment(acme_learner, PYTHON_KEY)

    (realized,) = api.realize_default_enrollments(world, acme_learner).realized

    upgraded = enrollment(acme_learner, PYTHON_KEY)
    assert upgraded.uuid == audit.uuid
    assert (upgraded.mode, upgraded.is_active) == ("verified", True)
    assert (realized.intention_uuid, realized.mode) == (intention.uuid, "verified")


def test_an_existing_enterprise_enrollment_is_refreshed_not_duplicated(world, acme_learner):
    api.create_intention(world, PYTHON_KEY)
    api.realize_default_enrollments(world, acme_learner)  # verified
    row = EnterpriseCourseEnrollment.objects.get()
    # the license is revoked: the enrollment drops to audit and may be upgraded again with a new license
    api.revoke_license(License.objects.get(user=acme_learner))
    assert enrollment(acme_learner, PYTHON_KEY).mode == "audit"
    activate_license_for(row.license.plan, acme_learner)

    (realized,) = api.realize_default_enrollments(world, acme_learner).realized

    assert realized.mode == "verified"
    assert EnterpriseCourseEnrollment.objects.get().pk == row.pk
    assert EnterpriseCourseEnrollment.objects.get().license.status == LicenseStatus.ACTIVATED
    assert DefaultEnrollmentRealization.objects.count() == 1  # the first realization is kept


def test_without_a_covering_license_nothing_is_enrolled(world, make_acme_learner):
    learner = make_acme_learner(licensed=False)
    intention = api.create_intention(world, PYTHON_COURSE)

    result = api.realize_default_enrollments(world, learner)

    (failure,) = result.failures
    assert (failure.intention_uuid, failure.course_run_key) == (intention.uuid, PYTHON_KEY)
    assert "No activated license covers" in failure.reason
    assert enrollment(learner, PYTHON_KEY) is None
    assert not EnterpriseCourseEnrollment.objects.exists()


def test_an_audit_enrollment_is_not_upgraded_without_a_license(world, make_acme_learner):
    learner = make_acme_learner(licensed=False)
    api.create_intention(world, PYTHON_COURSE)
    enrollments_api.enroll(learner, PYTHON_KEY, "audit")

    result = api.realize_default_enrollments(world, learner)

    assert len(result.failures) == 1
    assert enrollment(learner, PYTHON_KEY).mode == "audit"


def test_an_expired_plan_does_not_pay(world, acme_learner, acme_plan):
    api.create_intention(world, PYTHON_KEY)
    SubscriptionPlan.objects.filter(pk=acme_plan.pk).update(expiration=timezone.now() - timedelta(days=1))

    assert len(api.realize_default_enrollments(world, acme_learner).failures) == 1


def test_the_license_whose_plan_catalog_covers_the_course_is_chosen(world, acme_learner, runs):
    art_catalog = EnterpriseCatalog.objects.create(customer=world, title="Acme art")
    EnterpriseCatalogCourse.objects.create(catalog=art_catalog, catalog_course=runs[ART_KEY].catalog_course)
    now = timezone.now()
    art_plan = SubscriptionPlan.objects.create(
        customer=world,
        catalog=art_catalog,
        title="Art plan",
        seats=1,
        start=now - timedelta(days=1),
        expiration=now + timedelta(days=30),
    )
    License.objects.create(plan=art_plan)
    art_license = activate_license_for(art_plan, acme_learner)
    entu_license = License.objects.get(user=acme_learner, plan__catalog__title="Acme all EntU")
    api.create_intention(world, ART_KEY)
    api.create_intention(world, DATA_KEY)

    realized = {item.course_run_key: item for item in api.realize_default_enrollments(world, acme_learner).realized}

    assert realized[ART_KEY].license_uuid == art_license.uuid
    assert realized[DATA_KEY].license_uuid == entu_license.uuid
    licenses = dict(
        EnterpriseCourseEnrollment.objects.values_list("course_enrollment__course_run__course_key", "license")
    )
    assert {str(key): value for key, value in licenses.items()} == {
        ART_KEY: art_license.pk,
        DATA_KEY: entu_license.pk,
    }


def test_a_changed_advertised_run_keeps_the_old_realization(world, acme_learner, make_run):
    intention = api.create_intention(world, PYTHON_COURSE)
    (first,) = api.realize_default_enrollments(world, acme_learner).realized
    now = timezone.now()
    make_run(
        "course-v1:EntU+Python+2031",
        start=now + timedelta(days=20),
        end=now + timedelta(days=300),
        enrollment_start=now - timedelta(days=1),
        enrollment_end=now + timedelta(days=200),
    )
    catalog_api.set_runs_marketable([PYTHON_KEY], marketable=False)

    (second,) = api.realize_default_enrollments(world, acme_learner).realized

    assert (first.course_run_key, second.course_run_key) == (PYTHON_KEY, "course-v1:EntU+Python+2031")
    realizations = DefaultEnrollmentRealization.objects.order_by("pk")
    assert [row.intention for row in realizations] == [intention, intention]
    assert [str(row.realized_enrollment.course_enrollment.course_run.course_key) for row in realizations] == [
        PYTHON_KEY,
        "course-v1:EntU+Python+2031",
    ]
    assert enrollment(acme_learner, PYTHON_KEY).is_active


def test_two_intentions_resolving_to_one_run_make_one_enrollment_for_the_oldest(world, acme_learner):
    older = api.create_intention(world, PYTHON_COURSE)
    api.create_intention(world, PYTHON_KEY)

    (realized,) = api.realize_default_enrollments(world, acme_learner).realized

    assert realized.intention_uuid == older.uuid
    assert DefaultEnrollmentRealization.objects.get().intention == older
    assert len(api.learner_status(world, acme_learner).already_enrolled) == 2


def test_removed_intentions_are_not_realized(world, acme_learner):
    api.delete_intention(api.create_intention(world, PYTHON_KEY))

    assert api.realize_default_enrollments(world, acme_learner).realized == ()
    assert enrollment(acme_learner, PYTHON_KEY) is None


def test_only_linked_learners_are_realized(world, acme_learner, globex_learner):
    api.create_intention(world, PYTHON_KEY)

    with pytest.raises(InvalidInput) as caught:
        api.realize_default_enrollments(world, globex_learner)

    assert list(caught.value.errors) == ["lms_user_id"]
    assert enrollment(globex_learner, PYTHON_KEY) is None


def test_an_enterprise_enrollment_keeps_its_first_realization(world, acme_learner):
    first = api.create_intention(world, PYTHON_COURSE)
    second = api.create_intention(world, PYTHON_KEY)
    api.realize_default_enrollments(world, acme_learner)
    row = EnterpriseCourseEnrollment.objects.get()

    kept, created = record_realizations([(second.pk, row.pk)])

    assert (kept, created) == ({row.pk: first.pk}, 0)
    assert DefaultEnrollmentRealization.objects.get().intention == first


def test_realization_reads_the_same_licenses_as_activated_licenses_by_user(
    world, acme_catalog, acme_learner, make_acme_learner, globex, globex_catalog
):
    """Realization reads licenses as bare values (``defaults._held_licenses``); it must see exactly the licenses,
    in the order, that ``activated_licenses_by_user`` gives: current active plans of the customer only, the
    latest-expiring plan first, then by id."""
    now = timezone.now()

    def plan(customer, catalog, *, start_days: int = -1, end_days: int = 30, active: bool = True):
        made = SubscriptionPlan.objects.create(
            customer=customer,
            catalog=catalog,
            title=f"plan {start_days} {end_days} {active}",
            seats=1,
            start=now + timedelta(days=start_days),
            expiration=now + timedelta(days=end_days),
            active=active,
        )
        License.objects.create(plan=made)
        return made

    plans = [
        plan(world, acme_catalog, end_days=400),  # latest expiration: first
        plan(world, acme_catalog, end_days=400),  # same expiration: by id
        plan(world, acme_catalog, start_days=-10, end_days=-1),  # expired
        plan(world, acme_catalog, start_days=2),  # not started
        plan(world, acme_catalog, active=False),  # inactive
        plan(globex, globex_catalog),  # another customer's
    ]
    for each in plans:
        activate_license_for(each, acme_learner)
    revoked = activate_license_for(plan(world, acme_catalog, end_days=500), acme_learner)
    License.objects.filter(pk=revoked.pk).update(status=LicenseStatus.REVOKED, revoked_at=now)
    other = make_acme_learner()
    nobody = make_acme_learner(licensed=False)
    user_ids = [acme_learner.pk, other.pk, nobody.pk]

    expected = api.activated_licenses_by_user(world, user_ids)
    held = _held_licenses(world, user_ids)

    assert set(held) == set(expected) == {acme_learner.pk, other.pk}
    for user_id, licenses in expected.items():
        assert [(item.id, item.uuid, item.catalog_uuid) for item in held[user_id]] == [
            (license.pk, license.uuid, license.plan.catalog.uuid) for license in licenses
        ]
    assert len(held[acme_learner.pk]) == 3  # the two 400-day plans and the fixture plan
