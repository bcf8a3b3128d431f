"""Learner status: each of the eight ordered rules, the existing-enrollment fields, who may be asked
about, and a constant number of queries."""

from __future__ import annotations

import pytest

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core.errors import InvalidInput
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.data import EnrollmentSource, LearnerStatusGroup, LearnerStatusReason
from rollbook.enterprise.enrolling import EnterpriseEnrollmentWrite, mark_unenrolled, upsert_enterprise_enrollments
from rollbook.enterprise.models import EnterpriseCustomerUser
from tests.enterprise.conftest import (
    ART_KEY,
    AUDIT_ONLY_KEY,
    CLOSED_KEY,
    DATA_KEY,
    PAID_ONLY_KEY,
    PYTHON_COURSE,
    PYTHON_KEY,
)

Group, Reason = LearnerStatusGroup, LearnerStatusReason


@pytest.fixture
def world(acme, acme_catalog, acme_plan):
    """Acme with its catalog (all of EntU) and plan."""
    return acme


def enroll(user, key, mode, *, active=True):
    enrollments_api.enroll(user, key, mode, skip_access_checks=True)
    if not active:
        enrollments_api.unenroll(user, key)


def only_status(customer, user):
    """The status of the customer's only intention for the user."""
    status = api.learner_status(customer, user)
    (item,) = status.already_enrolled + status.enrollable + status.not_enrollable
    return item


def test_rule_1_an_active_paid_enrollment_is_already_enrolled(world, acme_learner):
    api.create_intention(world, PYTHON_COURSE)
    enroll(acme_learner, PYTHON_KEY, "verified")

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.ALREADY_ENROLLED, Reason.ACTIVE_PAID_ENROLLMENT)
    assert (item.has_existing_enrollment, item.is_existing_enrollment_active, item.is_existing_enrollment_audit) == (
        True,
        True,
        False,
    )


def test_rule_2_a_paid_enrollment_the_learner_left_is_never_enrollable(world, acme_learner):
    api.create_intention(world, PYTHON_KEY)
    enroll(acme_learner, PYTHON_KEY, "verified", active=False)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.NOT_ENROLLABLE, Reason.LEFT_PAID_ENROLLMENT)
    assert (item.has_existing_enrollment, item.is_existing_enrollment_active, item.is_existing_enrollment_audit) == (
        True,
        False,
        False,
    )


def test_rule_2_also_when_the_enterprise_enrollment_is_marked_unenrolled(world, acme_learner):
    api.create_intention(world, PYTHON_KEY)
    enroll(acme_learner, PYTHON_KEY, "verified")
    pair = (acme_learner.pk, catalog_api.get_course_run(PYTHON_KEY).pk)
    state = enrollments_api.enrollment_states([pair])[pair]
    row = EnterpriseCustomerUser.objects.get(customer=world, user=acme_learner)
    upsert_enterprise_enrollments([EnterpriseEnrollmentWrite(row.pk, state.id, EnrollmentSource.MANUAL)])
    mark_unenrolled([state.uuid], unenrolled=True)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.NOT_ENROLLABLE, Reason.LEFT_PAID_ENROLLMENT)
    assert item.is_existing_enrollment_active is False


@pytest.mark.parametrize("key", [CLOSED_KEY, "EntU+Hidden"])
def test_rule_3_no_run_or_a_closed_run_is_not_enrollable(world, acme_learner, make_run, key):
    make_run("course-v1:EntU+Hidden+2030", marketable=False)  # so EntU+Hidden advertises no run
    api.create_intention(world, key)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.NOT_ENROLLABLE, Reason.RUN_NOT_ENROLLABLE)


def test_rule_3_comes_before_an_audit_upgrade(world, acme_learner):
    api.create_intention(world, CLOSED_KEY)
    enroll(acme_learner, CLOSED_KEY, "audit")

    assert only_status(world, acme_learner).reason == Reason.RUN_NOT_ENROLLABLE


@pytest.mark.parametrize("active", [True, False])
def test_rule_4_an_audit_enrollment_with_a_paid_mode_and_a_catalog_is_an_upgrade(world, acme_learner, active):
    api.create_intention(world, PYTHON_COURSE)
    enroll(acme_learner, PYTHON_KEY, "audit", active=active)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.ENROLLABLE, Reason.AUDIT_UPGRADE)
    assert (item.has_existing_enrollment, item.is_existing_enrollment_active, item.is_existing_enrollment_audit) == (
        True,
        active,
        True,
    )


def test_rule_4_counts_honor_as_audit(world, acme_learner, make_run):
    make_run("course-v1:EntU+Honest+2030", modes=(ModeSpec("honor"), ModeSpec("verified", 100)))
    api.create_intention(world, "course-v1:EntU+Honest+2030")
    enroll(acme_learner, "course-v1:EntU+Honest+2030", "honor")

    item = only_status(world, acme_learner)

    assert (item.reason, item.is_existing_enrollment_audit) == (Reason.AUDIT_UPGRADE, True)


def test_rule_5_an_audit_upgrade_without_a_catalog_is_not_enrollable(world, acme_learner):
    api.create_intention(world, ART_KEY)  # in none of acme's catalogs
    enroll(acme_learner, ART_KEY, "audit")

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.NOT_ENROLLABLE, Reason.AUDIT_UPGRADE_NO_CATALOG)


def test_rule_6_an_active_audit_enrollment_in_an_audit_only_run_is_already_enrolled(world, acme_learner):
    api.create_intention(world, AUDIT_ONLY_KEY)
    enroll(acme_learner, AUDIT_ONLY_KEY, "audit")

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.ALREADY_ENROLLED, Reason.AUDIT_ONLY_ENROLLED)


def test_rule_7_without_a_catalog_it_is_not_enrollable(world, acme_learner):
    api.create_intention(world, ART_KEY)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.NOT_ENROLLABLE, Reason.NO_CATALOG)
    assert (item.has_existing_enrollment, item.is_existing_enrollment_active, item.is_existing_enrollment_audit) == (
        False,
        None,
        None,
    )


def test_rule_8_otherwise_it_is_enrollable(world, acme_learner):
    api.create_intention(world, PAID_ONLY_KEY)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.ENROLLABLE, Reason.ENROLLABLE)
    assert (item.has_existing_enrollment, item.is_existing_enrollment_active, item.is_existing_enrollment_audit) == (
        False,
        None,
        None,
    )


def test_rule_8_an_audit_enrollment_the_learner_left_in_an_audit_only_run_is_enrollable_again(world, acme_learner):
    api.create_intention(world, AUDIT_ONLY_KEY)
    enroll(acme_learner, AUDIT_ONLY_KEY, "audit", active=False)

    item = only_status(world, acme_learner)

    assert (item.group, item.reason) == (Group.ENROLLABLE, Reason.ENROLLABLE)
    assert (item.is_existing_enrollment_active, item.is_existing_enrollment_audit) == (False, True)


def test_an_enrollment_in_another_run_of_the_course_does_not_count(world, acme_learner):
    api.create_intention(world, PYTHON_COURSE)
    enroll(acme_learner, DATA_KEY, "verified")

    assert only_status(world, acme_learner).reason == Reason.ENROLLABLE


def test_the_whole_status_groups_every_live_intention(world, acme_learner):
    python = api.create_intention(world, PYTHON_COURSE)
    data = api.create_intention(world, DATA_KEY)
    art = api.create_intention(world, ART_KEY)
    api.delete_intention(api.create_intention(world, PAID_ONLY_KEY))
    enroll(acme_learner, DATA_KEY, "verified")

    status = api.learner_status(str(world.uuid), acme_learner)

    assert (status.customer_uuid, status.user_id, status.user_email) == (
        world.uuid,
        acme_learner.pk,
        acme_learner.email,
    )
    assert [item.intention.uuid for item in status.already_enrolled] == [data.uuid]
    assert [item.intention.uuid for item in status.enrollable] == [python.uuid]
    assert [item.intention.uuid for item in status.not_enrollable] == [art.uuid]
    assert status.total == 3


def test_the_learner_must_be_a_linked_learner_of_the_customer(world, acme_learner, globex_learner, make_user):
    api.create_intention(world, PYTHON_KEY)
    stranger = make_user()
    unlinked = make_user()
    EnterpriseCustomerUser.objects.create(customer=world, user=unlinked, linked=False, active=False)

    for user in (stranger, unlinked, globex_learner):
        with pytest.raises(InvalidInput) as caught:
            api.learner_status(world, user)
        assert list(caught.value.errors) == ["lms_user_id"]


def test_an_inactive_linked_learner_gets_a_status(world, make_acme_learner):
    api.create_intention(world, PYTHON_KEY)
    learner = make_acme_learner(active=False)

    assert only_status(world, learner).reason == Reason.ENROLLABLE


def test_learner_status_takes_a_constant_number_of_queries(world, acme_learner, make_run, django_assert_num_queries):
    api.create_intention(world, PYTHON_COURSE)
    api.create_intention(world, DATA_KEY)
    enroll(acme_learner, PYTHON_KEY, "audit")
    # learner row, intentions, advertised runs (2), runs of run intentions (2), catalogs (2),
    # enrollments, unenrolled marks
    with django_assert_num_queries(10):
        api.learner_status(world, acme_learner)
    for code in ("A", "B", "C", "D"):
        make_run(f"course-v1:EntU+{code}+2030")
        api.create_intention(world, f"EntU+{code}")
        api.create_intention(world, f"course-v1:EntU+{code}+2030")
        enroll(acme_learner, f"course-v1:EntU+{code}+2030", "verified")

    with django_assert_num_queries(10):
        status = api.learner_status(world, acme_learner)

    assert status.total == 10
