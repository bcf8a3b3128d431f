"""enroll_learners_in_courses: successes, every failure reason, audit upgrades, realizations for default
enrollments, linking known users, items standing alone, nothing half-written, statement counts; and the
enterprise-enrollment helpers (upsert, mark_unenrolled, license_for_item)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.data import EnrollRequest
from rollbook.enterprise import api
from rollbook.enterprise.data import EnrollItem, EnrollmentSource, EnrollOutcome, LicenseStatus
from rollbook.enterprise.enrolling import (
    LEARNER_CREDIT_UNAVAILABLE,
    EnterpriseEnrollmentWrite,
    license_for_item,
    mark_unenrolled,
    record_realizations,
    upsert_enterprise_enrollments,
)
from rollbook.enterprise.models import (
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
    SubscriptionPlan,
)
from tests.enterprise.conftest import (
    ART_KEY,
    AUDIT_ONLY_KEY,
    CLOSED_KEY,
    DATA_KEY,
    PYTHON_COURSE,
    PYTHON_KEY,
    activate_license_for,
)


@pytest.fixture
def world(acme, acme_catalog, acme_plan):
    return acme


def license_of(user) -> License:
    return License.objects.get(user=user, status=LicenseStatus.ACTIVATED)


def item(user, key=PYTHON_KEY, **fields) -> EnrollItem:
    if "license_uuid" not in fields:
        fields["license_uuid"] = str(license_of(user).uuid)
    return EnrollItem(course_run_key=key, user_id=user.pk, **fields)


def assign(plan, email: str) -> License:
    """Assign a free license of ``plan`` to ``email`` (ORM, for fixtures)."""
    free = License.objects.filter(plan=plan, status=LicenseStatus.UNASSIGNED).order_by("id").first()
    free.status = LicenseStatus.ASSIGNED
    free.user_email = email
    free.assigned_at = timezone.now()
    free.save()
    return free


def test_a_learner_is_enrolled_in_the_best_mode_with_the_license(world, acme_learner):
    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner)])

    assert result.outcome == EnrollOutcome.SUCCESS
    assert (result.user_id, result.email, result.course_run_key, result.mode, result.created) == (
        acme_learner.pk,
        acme_learner.email,
        PYTHON_KEY,
        "verified",
        True,
    )
    assert result.realization_intention_uuid is None
    made = enrollments_api.get_enrollment(acme_learner, PYTHON_KEY)
    assert (made.mode, made.is_active) == ("verified", True)
    row = EnterpriseCourseEnrollment.objects.get()
    assert (row.source, row.license, row.customer_user.user) == (
        EnrollmentSource.API,
        license_of(acme_learner),
        acme_learner,
    )
    assert row.history.count() == 1


def test_the_source_is_the_callers(world, acme_learner):
    api.enroll_learners_in_courses(world, [item(acme_learner)], source=EnrollmentSource.CUSTOMER_ADMIN)

    assert EnterpriseCourseEnrollment.objects.get().source == EnrollmentSource.CUSTOMER_ADMIN


def test_a_learner_named_by_email_in_any_case(world, acme_learner):
    license = str(license_of(acme_learner).uuid)
    (result,) = api.enroll_learners_in_courses(
        world, [EnrollItem(course_run_key=PYTHON_KEY, email=f"  {acme_learner.email.upper()} ", license_uuid=license)]
    )

    assert (result.outcome, result.user_id) == (EnrollOutcome.SUCCESS, acme_learner.pk)


def test_an_audit_enrollment_is_upgraded_and_a_paid_one_kept(world, acme_learner, make_acme_learner):
    other = make_acme_learner()
    enrollments_api.enroll(acme_learner, PYTHON_KEY, "audit")
    enrollments_api.enroll(other, PYTHON_KEY, "verified")

    upgraded, kept = api.enroll_learners_in_courses(world, [item(acme_learner), item(other)])

    assert (upgraded.outcome, upgraded.mode, upgraded.created) == (EnrollOutcome.SUCCESS, "verified", False)
    assert (kept.outcome, kept.mode, kept.created) == (EnrollOutcome.SUCCESS, "verified", False)
    assert enrollments_api.get_enrollment(acme_learner, PYTHON_KEY).mode == "verified"


def test_an_audit_only_run_enrolls_in_audit(world, acme_learner):
    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner, AUDIT_ONLY_KEY)])

    assert (result.outcome, result.mode) == (EnrollOutcome.SUCCESS, "audit")


def test_a_known_user_who_is_not_a_learner_is_linked_without_changing_their_active_customer(
    world, globex, globex_learner
):
    license = activate_license_for(world.subscription_plans.get(), globex_learner)

    (result,) = api.enroll_learners_in_courses(world, [item(globex_learner, license_uuid=str(license.uuid))])

    assert result.outcome == EnrollOutcome.SUCCESS
    row = EnterpriseCustomerUser.objects.get(customer=world, user=globex_learner)
    assert (row.linked, row.active) == (True, False)
    assert EnterpriseCustomerUser.objects.get(customer=globex, user=globex_learner).active
    assert EnterpriseCourseEnrollment.objects.get().customer_user == row


def test_a_previously_enrolled_enterprise_enrollment_is_refreshed(world, acme_learner):
    api.enroll_learners_in_courses(world, [item(acme_learner)])
    enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    made = enrollments_api.get_enrollment(acme_learner, PYTHON_KEY)
    mark_unenrolled([made.uuid], unenrolled=True)

    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner)])

    assert (result.outcome, result.created) == (EnrollOutcome.SUCCESS, False)
    assert enrollments_api.get_enrollment(acme_learner, PYTHON_KEY).is_active
    row = EnterpriseCourseEnrollment.objects.get()
    assert (row.unenrolled, row.unenrolled_at) == (False, None)


# --- failures ------------------------------------------------------------------------------------


def test_a_subsidy_must_be_exactly_one_license(world, acme_learner):
    license = str(license_of(acme_learner).uuid)
    both, neither, credit, malformed = api.enroll_learners_in_courses(
        world,
        [
            item(acme_learner, transaction_id="t-1"),
            item(acme_learner, license_uuid=None),
            item(acme_learner, license_uuid=None, transaction_id="t-1"),
            item(acme_learner, license_uuid="not-a-uuid"),
        ],
    )

    assert "not both" in both.message
    assert "license_uuid is needed" in neither.message
    assert credit.message == LEARNER_CREDIT_UNAVAILABLE
    assert "not a license uuid" in malformed.message
    assert {both.outcome, neither.outcome, credit.outcome, malformed.outcome} == {EnrollOutcome.FAILURE}
    assert license  # the learner does hold one
    assert enrollments_api.get_enrollment(acme_learner, PYTHON_KEY) is None


def test_learners_and_runs_must_exist_and_be_well_formed(world, acme_learner):
    license = str(license_of(acme_learner).uuid)
    results = api.enroll_learners_in_courses(
        world,
        [
            EnrollItem(course_run_key=PYTHON_KEY, license_uuid=license),
            EnrollItem(course_run_key=PYTHON_KEY, email="not an email", license_uuid=license),
            EnrollItem(course_run_key=PYTHON_KEY, user_id=999_999, license_uuid=license),
            item(acme_learner, "course-v1:nonsense"),
            item(acme_learner, "course-v1:EntU+Nothing+2030"),
            item(acme_learner, PYTHON_COURSE),
        ],
    )

    assert [result.outcome for result in results] == [EnrollOutcome.FAILURE] * 6
    messages = [result.message for result in results]
    assert "Give user_id or email" in messages[0]
    assert "not a valid email" in messages[1]
    assert "No user with id 999999" in messages[2]
    assert "not a valid course run key" in messages[3]
    assert "No course run course-v1:EntU+Nothing+2030" in messages[4]
    assert "not a valid course run key" in messages[5]


def test_the_license_must_be_this_customers_activated_by_the_learner(
    world, acme_learner, make_acme_learner, globex_learner
):
    other = make_acme_learner()
    unlicensed = make_acme_learner(licensed=False)
    assigned = assign(world.subscription_plans.get(), unlicensed.email.upper())
    results = api.enroll_learners_in_courses(
        world,
        [
            item(acme_learner, license_uuid="00000000-0000-0000-0000-000000000000"),
            item(acme_learner, DATA_KEY, license_uuid=str(license_of(globex_learner).uuid)),
            item(acme_learner, AUDIT_ONLY_KEY, license_uuid=str(license_of(other).uuid)),
            item(unlicensed, license_uuid=str(assigned.uuid)),
        ],
    )

    messages = [result.message for result in results]
    assert "No license 00000000-0000-0000-0000-000000000000 in a subscription plan of this customer" in messages[0]
    assert "in a subscription plan of this customer" in messages[1]  # another customer's: not revealed
    assert "activated by another learner" in messages[2]
    assert "not activated yet" in messages[3]
    assert {result.outcome for result in results} == {EnrollOutcome.FAILURE}


def test_a_revoked_license_does_not_pay(world, acme_learner):
    license = license_of(acme_learner)
    api.revoke_license(license)

    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner, license_uuid=str(license.uuid))])

    assert (result.outcome, result.message) == (EnrollOutcome.FAILURE, f"The license {license.uuid} is revoked.")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"active": False}, "not active"),
        ({"expiration_days": -1}, "expired"),
        ({"start_days": 5}, "starts on"),
    ],
)
def test_the_plan_must_be_active_and_current(world, acme_learner, acme_plan, change, fragment):
    now = timezone.now()
    if "active" in change:
        acme_plan.active = False
    if "expiration_days" in change:
        acme_plan.start = now - timedelta(days=10)
        acme_plan.expiration = now + timedelta(days=change["expiration_days"])
    if "start_days" in change:
        acme_plan.start = now + timedelta(days=change["start_days"])
    acme_plan.save()

    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner)])

    assert result.outcome == EnrollOutcome.FAILURE
    assert fragment in result.message


def test_the_plan_catalog_must_contain_the_course(world, acme_learner):
    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner, ART_KEY)])

    assert result.outcome == EnrollOutcome.FAILURE
    assert "does not contain course-v1:ElseU+Art+2030" in result.message
    assert enrollments_api.get_enrollment(acme_learner, ART_KEY) is None


def test_a_closed_run_fails_unless_forced(world, acme_learner, make_acme_learner):
    forced_learner = make_acme_learner()

    closed, forced = api.enroll_learners_in_courses(
        world, [item(acme_learner, CLOSED_KEY), item(forced_learner, CLOSED_KEY, force_enrollment=True)]
    )

    assert (closed.outcome, closed.message) == (EnrollOutcome.FAILURE, f"Enrollment in {CLOSED_KEY} is closed.")
    assert (forced.outcome, forced.mode) == (EnrollOutcome.SUCCESS, "verified")
    assert enrollments_api.get_enrollment(acme_learner, CLOSED_KEY) is None
    assert EnterpriseCourseEnrollment.objects.get().customer_user.user == forced_learner


def test_the_same_learner_and_run_twice_are_both_refused(world, acme_learner):
    by_id = item(acme_learner)
    by_email = EnrollItem(course_run_key=PYTHON_KEY, email=acme_learner.email, license_uuid=by_id.license_uuid)

    results = api.enroll_learners_in_courses(world, [by_id, by_email, item(acme_learner, DATA_KEY)])

    assert [result.outcome for result in results] == [
        EnrollOutcome.FAILURE,
        EnrollOutcome.FAILURE,
        EnrollOutcome.SUCCESS,
    ]
    assert "more than once" in results[0].message
    assert enrollments_api.get_enrollment(acme_learner, PYTHON_KEY) is None


def test_items_stand_alone_and_results_keep_their_order(world, acme_learner, make_acme_learner):
    second = make_acme_learner()
    items = [
        item(acme_learner, CLOSED_KEY),
        item(acme_learner),
        item(second, ART_KEY),
        item(second, DATA_KEY),
    ]

    results = api.enroll_learners_in_courses(world, items)

    assert [result.item for result in results] == items
    assert [result.outcome for result in results] == [
        EnrollOutcome.FAILURE,
        EnrollOutcome.SUCCESS,
        EnrollOutcome.FAILURE,
        EnrollOutcome.SUCCESS,
    ]
    assert EnterpriseCourseEnrollment.objects.count() == 2


def test_failed_items_write_nothing(world, acme_learner, make_user):
    stranger = make_user()
    license = str(license_of(acme_learner).uuid)
    before = (
        EnterpriseCustomerUser.objects.count(),
        EnterpriseCustomerUser.history.count(),
        enrollments_api.enrollments_queryset().count(),
    )

    results = api.enroll_learners_in_courses(
        world,
        [
            EnrollItem(course_run_key=PYTHON_KEY, user_id=stranger.pk, license_uuid=license),  # not theirs
            EnrollItem(course_run_key=PYTHON_KEY, email="new@example.com", license_uuid=license),  # not assigned
            item(acme_learner, CLOSED_KEY),
        ],
    )

    assert {result.outcome for result in results} == {EnrollOutcome.FAILURE}
    assert not EnterpriseCustomerUser.objects.filter(user=stranger).exists()
    assert (
        EnterpriseCustomerUser.objects.count(),
        EnterpriseCustomerUser.history.count(),
        enrollments_api.enrollments_queryset().count(),
    ) == before
    assert not EnterpriseCourseEnrollment.objects.exists()
    assert not PendingEnrollment.objects.exists()


def test_an_unknown_customer_is_not_found(runs, acme_learner):
    from rollbook.core.errors import NotFound

    with pytest.raises(NotFound):
        api.enroll_learners_in_courses("nobody", [item(acme_learner)])


# --- default enrollments -------------------------------------------------------------------------


def test_a_default_auto_enrollment_realizes_the_oldest_intention_for_the_run(world, acme_learner):
    older = api.create_intention(world, PYTHON_COURSE)
    api.create_intention(world, PYTHON_KEY)
    api.delete_intention(api.create_intention(world, DATA_KEY))

    python, data = api.enroll_learners_in_courses(
        world,
        [
            item(acme_learner, is_default_auto_enrollment=True),
            item(acme_learner, DATA_KEY, is_default_auto_enrollment=True),
        ],
    )

    assert (python.outcome, python.realization_intention_uuid) == (EnrollOutcome.SUCCESS, older.uuid)
    assert (data.outcome, data.realization_intention_uuid) == (EnrollOutcome.SUCCESS, None)
    assert "No default enrollment intention" in data.message
    realization = DefaultEnrollmentRealization.objects.get()
    assert realization.intention == older
    assert str(realization.realized_enrollment.course_enrollment.course_run.course_key) == PYTHON_KEY


def test_without_the_flag_no_realization_is_made(world, acme_learner):
    api.create_intention(world, PYTHON_KEY)

    (result,) = api.enroll_learners_in_courses(world, [item(acme_learner)])

    assert result.realization_intention_uuid is None
    assert not DefaultEnrollmentRealization.objects.exists()


def test_a_repeated_default_auto_enrollment_keeps_one_realization(world, acme_learner):
    intention = api.create_intention(world, PYTHON_KEY)
    api.enroll_learners_in_courses(world, [item(acme_learner, is_default_auto_enrollment=True)])

    (again,) = api.enroll_learners_in_courses(world, [item(acme_learner, is_default_auto_enrollment=True)])

    assert again.realization_intention_uuid == intention.uuid
    assert DefaultEnrollmentRealization.objects.count() == 1


# --- statement counts ----------------------------------------------------------------------------


def test_statements_do_not_grow_with_items(world, make_user, settings):
    settings.BULK_BATCH_SIZE = 500
    now = timezone.now()
    plan = SubscriptionPlan.objects.create(
        customer=world,
        catalog=world.catalogs.get(),
        title="Big",
        seats=40,
        start=now - timedelta(days=1),
        expiration=now + timedelta(days=10),
    )
    License.objects.bulk_create([License(plan=plan) for _ in range(40)])
    api.create_intention(world, PYTHON_KEY)

    def call(count: int) -> int:
        items = []
        for _ in range(count):
            user = make_user()
            EnterpriseCustomerUser.objects.create(customer=world, user=user)
            license = str(activate_license_for(plan, user).uuid)
            items.append(EnrollItem(PYTHON_KEY, user_id=user.pk, license_uuid=license, is_default_auto_enrollment=True))
            items.append(EnrollItem(DATA_KEY, user_id=user.pk, license_uuid=license))
        with CaptureQueriesContext(connection) as captured:
            results = api.enroll_learners_in_courses(world, items)
        assert {result.outcome for result in results} == {EnrollOutcome.SUCCESS}
        return len(captured.captured_queries)

    assert call(15) == call(3)


# --- helpers -------------------------------------------------------------------------------------


def test_upsert_creates_refreshes_and_leaves_alone(world, acme_learner, make_acme_learner):
    other = make_acme_learner()
    for user in (acme_learner, other):
        enrollments_api.enroll(user, PYTHON_KEY, "audit")
    run = catalog_api.get_course_run(PYTHON_KEY)
    states = enrollments_api.enrollment_states([(acme_learner.pk, run.pk), (other.pk, run.pk)])
    rows = dict(EnterpriseCustomerUser.objects.filter(customer=world).values_list("user_id", "pk"))
    first = EnterpriseEnrollmentWrite(
        rows[acme_learner.pk], states[(acme_learner.pk, run.pk)].id, EnrollmentSource.MANUAL
    )
    ids = upsert_enterprise_enrollments([first])
    mark_unenrolled([states[(acme_learner.pk, run.pk)].uuid], unenrolled=True)
    license = license_of(acme_learner)
    second = EnterpriseEnrollmentWrite(
        rows[other.pk], states[(other.pk, run.pk)].id, EnrollmentSource.LICENSE, license_id=license_of(other).pk
    )

    again = upsert_enterprise_enrollments(
        [
            EnterpriseEnrollmentWrite(
                first.customer_user_id, first.course_enrollment_id, EnrollmentSource.API, license.pk
            ),
            second,
        ]
    )

    assert (
        again[(first.customer_user_id, first.course_enrollment_id)]
        == ids[(first.customer_user_id, first.course_enrollment_id)]
    )
    refreshed = EnterpriseCourseEnrollment.objects.get(pk=ids[(first.customer_user_id, first.course_enrollment_id)])
    assert (refreshed.source, refreshed.license, refreshed.unenrolled) == (EnrollmentSource.API, license, False)
    assert refreshed.history.count() == 3  # created, marked, refreshed
    created = EnterpriseCourseEnrollment.objects.get(pk=again[(second.customer_user_id, second.course_enrollment_id)])
    assert created.source == EnrollmentSource.LICENSE

    with CaptureQueriesContext(connection) as captured:
        upsert_enterprise_enrollments([second])
    assert not [q for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]


def test_mark_unenrolled_sets_and_clears_with_history(world, acme_learner):
    api.enroll_learners_in_courses(world, [item(acme_learner)])
    made = enrollments_api.get_enrollment(acme_learner, PYTHON_KEY)

    assert mark_unenrolled([made.uuid, "junk"], unenrolled=True) == 1
    assert mark_unenrolled([made.uuid], unenrolled=True) == 0
    row = EnterpriseCourseEnrollment.objects.get()
    assert row.unenrolled is True and row.unenrolled_at is not None

    assert mark_unenrolled([str(made.uuid)], unenrolled=False) == 1
    row.refresh_from_db()
    assert (row.unenrolled, row.unenrolled_at) == (False, None)
    assert row.history.count() == 3


def test_course_enrollment_changes_mark_enterprise_enrollments(world, acme_learner, django_capture_on_commit_callbacks):
    api.enroll_learners_in_courses(world, [item(acme_learner)])

    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    assert EnterpriseCourseEnrollment.objects.get().unenrolled is True

    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.enroll(acme_learner, PYTHON_KEY)
    assert EnterpriseCourseEnrollment.objects.get().unenrolled is False


def test_enterprise_enrollments_queryset_is_per_customer(world, acme_learner, globex, globex_learner):
    api.enroll_learners_in_courses(world, [item(acme_learner)])

    assert [row.customer_user.user for row in api.enterprise_enrollments_queryset(world)] == [acme_learner]
    assert list(api.enterprise_enrollments_queryset(globex)) == []


def test_license_for_item(world, acme_learner, runs):
    license = license_of(acme_learner)
    python_course = runs[PYTHON_KEY].catalog_course_id

    assert (
        license_for_item(world.pk, acme_learner.pk, None, str(license.uuid), catalog_course_id=python_course) == license
    )
    assert "does not contain" in license_for_item(
        world.pk, acme_learner.pk, None, str(license.uuid), catalog_course_id=runs[ART_KEY].catalog_course_id
    )
    assert "not assigned to this email" in license_for_item(world.pk, None, "x@example.com", str(license.uuid))
    assert "not a license uuid" in license_for_item(world.pk, acme_learner.pk, None, "zzz")


def test_upsert_does_not_look_for_rows_of_course_enrollments_created_in_the_transaction(
    world, acme_learner, make_acme_learner
):
    other = make_acme_learner()
    run = catalog_api.get_course_run(PYTHON_KEY)
    made = enrollments_api.bulk_enroll_with_states(
        [EnrollRequest(PYTHON_KEY, user_id=user.pk) for user in (acme_learner, other)]
    )
    rows = dict(EnterpriseCustomerUser.objects.filter(customer=world).values_list("user_id", "pk"))
    writes = [
        EnterpriseEnrollmentWrite(rows[state_user], state.id, EnrollmentSource.LICENSE)
        for state_user, (_result, state) in zip((acme_learner.pk, other.pk), made, strict=True)
    ]

    with CaptureQueriesContext(connection) as captured:
        ids = upsert_enterprise_enrollments(writes, created_course_enrollment_ids={state.id for _r, state in made})

    assert not [query for query in captured.captured_queries if query["sql"].startswith("SELECT")]
    assert sorted(ids.values()) == sorted(EnterpriseCourseEnrollment.objects.values_list("pk", flat=True))
    assert {row.course_enrollment.course_run_id for row in EnterpriseCourseEnrollment.objects.all()} == {run.pk}
    assert EnterpriseCourseEnrollment.history.count() == 2


def test_record_realizations_does_not_look_for_new_enterprise_enrollments(world, acme_learner):
    intention = api.create_intention(world, PYTHON_KEY)
    api.enroll_learners_in_courses(world, [item(acme_learner)])
    row = EnterpriseCourseEnrollment.objects.get()

    with CaptureQueriesContext(connection) as captured:
        kept, created = record_realizations([(intention.pk, row.pk)], created_enterprise_enrollment_ids={row.pk})

    assert (kept, created) == ({row.pk: intention.pk}, 1)
    assert not [query for query in captured.captured_queries if query["sql"].startswith("SELECT")]
    assert DefaultEnrollmentRealization.objects.get().realized_enrollment == row


# --- saved for later -----------------------------------------------------------------------------


@pytest.fixture
def enrolled(world, acme_learner) -> EnterpriseCourseEnrollment:
    api.enroll_learners_in_courses(world, [item(acme_learner)])
    return EnterpriseCourseEnrollment.objects.get()


def test_saved_for_later_is_set_and_cleared_with_history(enrolled):
    saved = api.set_saved_for_later(enrolled.pk, True)

    assert (saved.pk, saved.saved_for_later) == (enrolled.pk, True)
    assert saved.customer_user.user_id == enrolled.customer_user.user_id  # loaded with its learner
    enrolled.refresh_from_db()
    assert enrolled.saved_for_later is True
    assert [entry.saved_for_later for entry in enrolled.history.order_by("history_id")] == [False, True]

    assert api.set_saved_for_later(enrolled.pk, False).saved_for_later is False
    assert EnterpriseCourseEnrollment.objects.get().saved_for_later is False
    assert enrolled.history.count() == 3


def test_saving_for_later_twice_writes_once(enrolled):
    api.set_saved_for_later(enrolled.pk, True)

    with CaptureQueriesContext(connection) as captured:
        again = api.set_saved_for_later(enrolled.pk, True)

    assert again.saved_for_later is True
    assert not [query for query in captured.captured_queries if query["sql"].startswith(("INSERT", "UPDATE"))]
    assert enrolled.history.count() == 2


@pytest.mark.parametrize(
    "missing",
    [
        lambda pk: pk + 1,
        lambda pk: 0,
        lambda pk: -pk,
        lambda pk: 10**30,
        lambda pk: True,
        lambda pk: str(pk),
        lambda pk: None,
    ],
)
def test_saving_an_unknown_enrollment_for_later_is_not_found(enrolled, missing):
    with pytest.raises(NotFound):
        api.set_saved_for_later(missing(enrolled.pk), True)

    assert EnterpriseCourseEnrollment.objects.get().saved_for_later is False


@pytest.mark.parametrize("value", ["true", 1, 0, None, "yes"])
def test_saved_for_later_must_be_a_boolean(enrolled, value):
    with pytest.raises(InvalidInput) as raised:
        api.set_saved_for_later(enrolled.pk, value)

    assert "saved_for_later" in raised.value.errors
    enrolled.refresh_from_db()
    assert enrolled.saved_for_later is False
    assert enrolled.history.count() == 1
