"""Linking learners to customers: one user (``link_user``, ``activate_customer``), many emails
(``link_learners``, ``unlink_learners``), pending learners taken over at registration and at SSO sign-in,
and the one-active-customer-per-user rule (in the code and in the database)."""

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.customers import LinkStatus
from rollbook.enterprise.data import EnrollmentSource, LicenseStatus
from rollbook.enterprise.models import (
    EnterpriseCourseEnrollment,
    EnterpriseCustomerUser,
    License,
    PendingEnrollment,
)
from rollbook.identity import api as identity_api
from tests.enterprise.conftest import DATA_KEY, PYTHON_KEY

pytestmark = pytest.mark.django_db


def _row(customer, user) -> EnterpriseCustomerUser:
    return EnterpriseCustomerUser.objects.get(customer=customer, user=user)


def _pending(customer, email: str, *runs) -> EnterpriseCustomerUser:
    """A pending learner of ``customer`` with pending enrollments in ``runs``."""
    row = EnterpriseCustomerUser.objects.create(customer=customer, user_email=email, active=False)
    for run in runs:
        PendingEnrollment.objects.create(customer_user=row, course_run=run)
    return row


def _statuses(results) -> list[tuple[str, str]]:
    return [(result.email, result.status) for result in results]


# --- one user ----------------------------------------------------------------------------------------


def test_link_user_makes_an_active_linked_row_once(acme, make_user):
    user = make_user()
    row = api.link_user(acme, user)
    assert (row.customer, row.user, row.active, row.linked, row.user_email) == (acme, user, True, True, user.email)
    assert api.link_user("acme", user) == row  # idempotent: nothing written again
    assert EnterpriseCustomerUser.objects.filter(user=user).count() == 1
    assert row.history.count() == 1


def test_activating_one_customer_deactivates_the_others(acme, globex, make_user):
    user = make_user()
    api.link_user(acme, user)
    api.link_user(globex, user, activate=True)
    assert not _row(acme, user).active and _row(globex, user).active
    api.activate_customer(acme, user)
    assert _row(acme, user).active and not _row(globex, user).active
    assert EnterpriseCustomerUser.objects.filter(user=user, active=True).count() == 1


def test_link_without_activate_keeps_the_active_customer(acme, globex, make_user):
    user = make_user()
    api.link_user(acme, user)
    row = api.link_user(globex, user, activate=False)
    assert row.linked and not row.active and _row(acme, user).active

    newcomer = make_user()
    assert api.link_user(globex, newcomer, activate=False).active  # no active customer yet: this one


def test_the_database_refuses_two_active_customers_for_a_user(acme, globex, make_user):
    user = make_user()
    EnterpriseCustomerUser.objects.create(customer=acme, user=user, active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        EnterpriseCustomerUser.objects.create(customer=globex, user=user, active=True)
    EnterpriseCustomerUser.objects.create(customer=globex, user=user, active=False)  # inactive is fine


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions")
def test_concurrent_links_of_one_user_wait_for_each_other(acme, globex, make_user):
    user = make_user()
    finished, errors = [], []

    def link(customer):
        try:
            api.link_user(customer, user, activate=True)
            finished.append(customer.slug)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=link, args=(customer,)) for customer in (acme, globex)]
    with transaction.atomic():
        list(get_user_model().objects.select_for_update().filter(pk=user.pk))  # hold the user's lock
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert finished == [] and errors == []  # both wait for the lock instead of racing
    for thread in threads:
        thread.join(30)

    assert errors == [] and sorted(finished) == ["acme", "globex"]
    assert EnterpriseCustomerUser.objects.filter(user=user).count() == 2
    assert EnterpriseCustomerUser.objects.filter(user=user, active=True).count() == 1


def test_activate_customer_needs_a_linked_row(acme, globex, make_user):
    user = make_user()
    with pytest.raises(NotFound):
        api.activate_customer(acme, user)
    api.link_user(acme, user)
    api.link_user(globex, user, activate=False)
    api.unlink_learners(globex, [user.email])
    with pytest.raises(NotFound):
        api.activate_customer(globex, user)
    assert _row(acme, user).active


def test_link_user_takes_over_the_pending_row_of_the_email(acme, globex, runs, make_user):
    acme_waiting = _pending(acme, "Casey@Example.com", runs[PYTHON_KEY])
    globex_waiting = _pending(globex, "casey@example.com")
    user = make_user("casey", email="CASEY@example.com")

    row = api.link_user(acme, user)

    assert row.pk == acme_waiting.pk  # the pending row became the user's row
    assert (row.user, row.linked, row.active) == (user, True, True)
    assert list(PendingEnrollment.objects.filter(customer_user=row).values_list("course_run", flat=True)) == [
        runs[PYTHON_KEY].pk
    ]
    globex_waiting.refresh_from_db()
    assert globex_waiting.is_pending  # other customers' pending rows wait for registration or their SSO


def test_a_pending_row_merges_into_the_users_existing_row(acme, runs, make_user):
    user = make_user("dana", email="dana@example.com")
    own = EnterpriseCustomerUser.objects.create(customer=acme, user=user, active=False, linked=False)
    PendingEnrollment.objects.create(customer_user=own, course_run=runs[PYTHON_KEY])
    waiting = _pending(acme, "DANA@example.com", runs[PYTHON_KEY], runs[DATA_KEY])

    row = api.link_user(acme, user)

    assert row.pk == own.pk and row.linked and row.active
    assert not EnterpriseCustomerUser.objects.filter(pk=waiting.pk).exists()
    assert EnterpriseCustomerUser.history.filter(id=waiting.pk, history_type="-").exists()
    runs_waiting = sorted(PendingEnrollment.objects.filter(customer_user=own).values_list("course_run", flat=True))
    assert runs_waiting == sorted([runs[PYTHON_KEY].pk, runs[DATA_KEY].pk])  # the duplicate was dropped


def test_pending_enrollments_are_realized_after_the_link_commits(
    acme, acme_plan, runs, make_user, django_capture_on_commit_callbacks
):
    """Waits on ``enrolling.realize_pending_enrollments`` (defaults helper)."""
    now = timezone.now()
    license = License.objects.filter(plan=acme_plan, status=LicenseStatus.UNASSIGNED).first()
    license.status, license.user_email, license.assigned_at = LicenseStatus.ASSIGNED, "erin@example.com", now
    license.save()
    waiting = _pending(acme, "erin@example.com")
    PendingEnrollment.objects.create(
        customer_user=waiting, course_run=runs[PYTHON_KEY], license=license, source=EnrollmentSource.API
    )
    user = make_user("erin", email="erin@example.com")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.link_user(acme, user)
    assert not enrollments_api.is_enrolled(user, PYTHON_KEY)  # nothing happens before the commit
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    assert enrollments_api.is_enrolled(user, PYTHON_KEY)
    assert EnterpriseCourseEnrollment.objects.filter(customer_user=waiting).count() == 1
    assert not PendingEnrollment.objects.filter(customer_user=waiting).exists()


# --- many emails -------------------------------------------------------------------------------------


def test_link_learners_reports_one_status_per_email_in_order(acme, globex, make_user):
    linked_before = make_user("ann", email="ann@example.com")
    api.link_user(acme, linked_before)
    newcomer = make_user("bob", email="Bob@Example.com")
    _pending(acme, "waiting@example.com")

    results = api.link_learners(
        acme,
        [
            "ann@example.com",
            " BOB@example.com ",
            "nobody@example.com",
            "WAITING@example.com",
            "not an email",
            "",
            "twice@example.com",
            "Twice@Example.com ",
        ],
    )

    assert _statuses(results) == [
        ("ann@example.com", LinkStatus.ALREADY_LINKED),
        (" BOB@example.com ", LinkStatus.LINKED),
        ("nobody@example.com", LinkStatus.PENDING),
        ("WAITING@example.com", LinkStatus.ALREADY_LINKED),
        ("not an email", LinkStatus.INVALID_EMAIL),
        ("", LinkStatus.INVALID_EMAIL),
        ("twice@example.com", LinkStatus.DUPLICATED),
        ("Twice@Example.com ", LinkStatus.DUPLICATED),
    ]
    assert [result.user_id for result in results[:3]] == [linked_before.pk, newcomer.pk, None]
    bob = _row(acme, newcomer)
    assert (bob.linked, bob.active, bob.user_email) == (True, True, newcomer.email)
    assert bob.history.count() == 1
    nobody = EnterpriseCustomerUser.objects.get(
        customer=acme, user__isnull=True, user_email_normalized="nobody@example.com"
    )
    assert nobody.user_email == "nobody@example.com" and nobody.history.count() == 1
    assert not EnterpriseCustomerUser.objects.filter(user_email_normalized="twice@example.com").exists()
    assert not EnterpriseCustomerUser.objects.filter(customer=globex).exists()


def test_link_learners_is_idempotent(acme, make_user):
    make_user("cleo", email="cleo@example.com")
    emails = ["cleo@example.com", "later@example.com"]
    assert _statuses(api.link_learners(acme, emails)) == [
        ("cleo@example.com", LinkStatus.LINKED),
        ("later@example.com", LinkStatus.PENDING),
    ]
    assert _statuses(api.link_learners(acme, emails)) == [
        ("cleo@example.com", LinkStatus.ALREADY_LINKED),
        ("later@example.com", LinkStatus.ALREADY_LINKED),
    ]
    assert EnterpriseCustomerUser.objects.filter(customer=acme).count() == 2


def test_a_user_active_elsewhere_is_linked_inactive(acme, globex, make_user):
    elsewhere = make_user("eve", email="eve@example.com")
    api.link_user(globex, elsewhere)
    free = make_user("fay", email="fay@example.com")

    api.link_learners(acme, ["eve@example.com", "fay@example.com"])

    assert not _row(acme, elsewhere).active and _row(globex, elsewhere).active
    assert _row(acme, free).active


def test_an_unlinked_learner_is_linked_again(acme, globex, make_user):
    user = make_user("gus", email="gus@example.com")
    api.link_user(acme, user)
    api.unlink_learners(acme, ["gus@example.com"])
    row = _row(acme, user)
    assert not row.linked and not row.active

    assert _statuses(api.link_learners(acme, ["GUS@example.com"])) == [("GUS@example.com", LinkStatus.LINKED)]
    row.refresh_from_db()
    assert row.linked and row.active  # no other active customer
    assert EnterpriseCustomerUser.objects.filter(customer=acme, user=user).count() == 1
    assert row.history.count() == 3


def test_link_learners_turns_a_pending_row_into_the_accounts_row(acme, globex, runs, make_user):
    waiting = _pending(acme, "hal@example.com", runs[PYTHON_KEY])
    user = make_user("hal", email="Hal@example.com")  # registered; its on-commit linking did not run
    api.link_user(globex, user)

    assert _statuses(api.link_learners(acme, ["hal@example.com"])) == [("hal@example.com", LinkStatus.LINKED)]

    waiting.refresh_from_db()
    assert (waiting.user, waiting.linked, waiting.active, waiting.user_email) == (user, True, False, "Hal@example.com")
    assert PendingEnrollment.objects.filter(customer_user=waiting).count() == 1


def test_link_learners_statements_do_not_grow_with_emails(acme, make_user, settings):
    settings.BULK_BATCH_SIZE = 1000

    def emails(prefix: str, count: int) -> list[str]:
        for index in range(count):
            make_user(f"{prefix}user{index}", email=f"{prefix}user{index}@example.com")
            _pending(acme, f"{prefix}waiting{index}@example.com")
        return [
            *(f"{prefix}user{index}@example.com" for index in range(count)),
            *(f"{prefix}new{index}@example.com" for index in range(count)),
            *(f"{prefix}waiting{index}@example.com" for index in range(count)),
            f"{prefix}bad",
        ]

    few, many = emails("a", 2), emails("b", 40)
    with CaptureQueriesContext(connection) as small:
        api.link_learners(acme, few)
    with CaptureQueriesContext(connection) as large:
        results = api.link_learners(acme, many)
    assert len(large.captured_queries) == len(small.captured_queries) <= 12
    assert [result.status for result in results].count(LinkStatus.LINKED) == 40
    assert [result.status for result in results].count(LinkStatus.PENDING) == 40


def test_link_learners_batches(acme, settings):
    settings.BULK_BATCH_SIZE = 3
    results = api.link_learners(acme, [f"p{index}@example.com" for index in range(10)])
    assert {result.status for result in results} == {LinkStatus.PENDING}
    assert EnterpriseCustomerUser.objects.filter(customer=acme, user__isnull=True).count() == 10


def test_link_learners_needs_a_known_customer_and_a_list(acme):
    with pytest.raises(NotFound):
        api.link_learners("nobody", ["a@example.com"])
    for call in (api.link_learners, api.unlink_learners):
        with pytest.raises(InvalidInput) as exc_info:
            call(acme, "a@example.com")
        assert list(exc_info.value.errors) == ["emails"]
    assert not EnterpriseCustomerUser.objects.exists()


def test_unlink_keeps_rows_and_enrollments_and_removes_pending_learners(acme, runs, make_acme_learner):
    learner = make_acme_learner("ivy")
    enrollments_api.enroll_with_outcome(learner, PYTHON_KEY, "audit")
    row = _row(acme, learner)
    enterprise_enrollment = EnterpriseCourseEnrollment.objects.create(
        customer_user=row, course_enrollment_id=_course_enrollment_id(learner)
    )
    waiting = _pending(acme, "later@example.com", runs[DATA_KEY])

    results = api.unlink_learners(
        acme,
        [learner.email.upper(), "Later@example.com", "stranger@example.com", "bad", "x@example.com", "X@example.com"],
    )

    assert [result.status for result in results] == [
        LinkStatus.UNLINKED,
        LinkStatus.UNLINKED,
        LinkStatus.NOT_LINKED,
        LinkStatus.INVALID_EMAIL,
        LinkStatus.DUPLICATED,
        LinkStatus.DUPLICATED,
    ]
    assert results[0].user_id == learner.pk
    row.refresh_from_db()
    assert (row.linked, row.active) == (False, False)
    assert row.history.count() == 2
    enterprise_enrollment.refresh_from_db()
    assert enterprise_enrollment.unenrolled is None and enrollments_api.is_enrolled(learner, PYTHON_KEY)
    assert not EnterpriseCustomerUser.objects.filter(pk=waiting.pk).exists()
    assert not PendingEnrollment.objects.filter(customer_user_id=waiting.pk).exists()
    assert not api.is_linked_learner(acme, learner)
    assert [result.status for result in api.unlink_learners(acme, [learner.email])] == [LinkStatus.NOT_LINKED]


def _course_enrollment_id(user) -> int:
    return enrollments_api.enrollments_queryset().get(user=user, course_run__course_key=PYTHON_KEY).pk


# --- registration and SSO ----------------------------------------------------------------------------


def test_registering_with_create_user_links_pending_learners(acme, globex, django_capture_on_commit_callbacks):
    acme_waiting = _pending(acme, "Jo@Example.com")
    globex_waiting = _pending(globex, "jo@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        user = get_user_model().objects.create_user(username="jo", email="JO@example.com", password="pw-jo-12345")

    acme_waiting.refresh_from_db()
    globex_waiting.refresh_from_db()
    assert acme_waiting.user == user and globex_waiting.user == user
    assert acme_waiting.linked and globex_waiting.linked
    assert EnterpriseCustomerUser.objects.filter(user=user, active=True).count() == 1
    assert globex_waiting.active  # the most recent pending row becomes the active one


def test_registering_through_the_identity_api_links_pending_learners(acme, django_capture_on_commit_callbacks):
    waiting = _pending(acme, "kim@example.com")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user = identity_api.create_user("kim", "Kim@Example.com")
    waiting.refresh_from_db()
    assert waiting.is_pending  # nothing before the commit

    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    waiting.refresh_from_db()
    assert (waiting.user, waiting.linked, waiting.active) == (user, True, True)


def test_registration_without_pending_rows_links_nothing(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        user = identity_api.create_user("lou", "lou@example.com")
    assert not EnterpriseCustomerUser.objects.filter(user=user).exists()


@pytest.fixture
def acme_sso(acme):
    provider = identity_api.create_identity_provider("acme-sso", "Acme SSO")
    api.update_customer(acme, identity_provider_slugs=["acme-sso"])
    return provider


def test_signing_in_through_the_customers_provider_links_and_activates(
    acme, globex, acme_sso, make_user, django_capture_on_commit_callbacks
):
    user = make_user("max", email="max@example.com")
    api.link_user(globex, user)
    acme_waiting = _pending(acme, "MAX@example.com")
    other_waiting = _pending(globex, "someone-else@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        identity_api.link_sso(acme_sso, "EMP-1", user)

    acme_waiting.refresh_from_db()
    assert acme_waiting.user == user and acme_waiting.linked and acme_waiting.active
    assert not _row(globex, user).active
    other_waiting.refresh_from_db()
    assert other_waiting.is_pending


def test_signing_in_links_a_user_without_any_pending_row(acme, acme_sso, make_user, django_capture_on_commit_callbacks):
    user = make_user("ned")
    with django_capture_on_commit_callbacks(execute=True):
        identity_api.link_sso("acme-sso", "EMP-2", user)
    row = _row(acme, user)
    assert row.linked and row.active


def test_signing_in_elsewhere_or_to_an_inactive_customer_links_nothing(
    acme, acme_sso, make_user, django_capture_on_commit_callbacks
):
    other = identity_api.create_identity_provider("uni-sso", "University")
    user = make_user("oli")
    with django_capture_on_commit_callbacks(execute=True):
        identity_api.link_sso(other, "U-1", user)
    assert not EnterpriseCustomerUser.objects.filter(user=user).exists()

    api.update_customer(acme, active=False)
    with django_capture_on_commit_callbacks(execute=True):
        identity_api.link_sso(acme_sso, "EMP-3", user)
    assert not EnterpriseCustomerUser.objects.filter(user=user).exists()
