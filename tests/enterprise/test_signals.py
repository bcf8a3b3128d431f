"""The enterprise app's reactions to other apps' events: account retirement (emails replaced in customer
users and licenses, live and history rows) and course enrollment changes (``unenrolled`` kept in step).
Registration and SSO sign-in are covered in ``test_linking``."""

import pytest
from django.utils import timezone

from rollbook.enrollments import api as enrollments_api
from rollbook.enterprise import api
from rollbook.enterprise.customers import retired_email
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import EnterpriseCourseEnrollment, EnterpriseCustomerUser, License
from rollbook.identity import api as identity_api
from tests.enterprise.conftest import PYTHON_KEY

pytestmark = pytest.mark.django_db


def _stored_emails(user_id: int, row_ids: dict[type, list[int]]) -> str:
    """Every value of the live and history rows of these customer users and licenses, as one text."""
    values = []
    for model, ids in row_ids.items():
        values += list(model.objects.filter(pk__in=ids).values())
        values += list(model.history.filter(id__in=ids).values())
        values += list(model.history.filter(user_id=user_id).values())
    return repr(values).casefold()


@pytest.fixture
def retiring(acme, globex, acme_plan, globex_plan, make_acme_learner):
    """A learner of acme (licensed) who was unlinked from globex and is pending in a third customer, with a
    globex license assigned to the email, each row with some history."""
    user = make_acme_learner("retiring", licensed=True)
    identity_api.update_user(user, email="Retiring.Person@Example.com")
    api.link_user(acme, user)  # the row now keeps the email
    api.link_user(globex, user, activate=False)
    api.unlink_learners(globex, [user.email])
    initech = api.create_customer(name="Initech", slug="initech")
    # a pending row of the email whose linking at registration never happened
    EnterpriseCustomerUser.objects.create(customer=initech, user_email="retiring.person@example.com", active=False)
    assigned = License.objects.filter(plan=globex_plan, status=LicenseStatus.UNASSIGNED).first()
    assigned.status, assigned.user_email, assigned.assigned_at = (
        LicenseStatus.ASSIGNED,
        "RETIRING.person@example.com",
        timezone.now(),
    )
    assigned.save()
    return user


def test_retirement_replaces_the_email_in_live_and_history_rows(retiring):
    user = retiring
    rows = {
        EnterpriseCustomerUser: list(
            EnterpriseCustomerUser.objects.filter(user_email_normalized="retiring.person@example.com").values_list(
                "pk", flat=True
            )
        ),
        License: list(
            License.objects.filter(user_email_normalized="retiring.person@example.com").values_list("pk", flat=True)
        ),
    }
    assert len(rows[EnterpriseCustomerUser]) == 3 and len(rows[License]) == 1
    assert "retiring.person@example.com" in _stored_emails(user.pk, rows)
    expected = retired_email(user)

    identity_api.retire_user(user)

    user.refresh_from_db()
    assert user.email == expected  # the enterprise rows got the account's own retired email
    assert "retiring.person@example.com" not in _stored_emails(user.pk, rows)
    for model, ids in rows.items():
        for row in model.objects.filter(pk__in=ids):
            assert (row.user_email, row.user_email_normalized) == (expected, expected.casefold())
        assert model.history.filter(id__in=ids, history_change_reason="email retired").count() == len(ids)
    activated = License.objects.get(user=user)
    assert activated.user_email == expected and activated.status == LicenseStatus.ACTIVATED

    history_rows = EnterpriseCustomerUser.history.count() + License.history.count()
    identity_api.retire_user(user)  # idempotent: nothing more to replace
    assert EnterpriseCustomerUser.history.count() + License.history.count() == history_rows


def test_other_learners_keep_their_emails(retiring, make_acme_learner):
    other = make_acme_learner("stays")
    identity_api.retire_user(retiring)
    assert EnterpriseCustomerUser.objects.get(user=other).user_email == ""  # fixture rows keep no email
    assert License.objects.get(user=other).user_email == other.email


def test_course_unenrollment_marks_the_enterprise_enrollment(acme, acme_learner, django_capture_on_commit_callbacks):
    """Waits on ``enrolling.mark_unenrolled`` (defaults helper)."""
    enrollments_api.enroll_with_outcome(acme_learner, PYTHON_KEY, "verified")
    course_enrollment = enrollments_api.enrollments_queryset().get(user=acme_learner)
    enterprise_enrollment = EnterpriseCourseEnrollment.objects.create(
        customer_user=EnterpriseCustomerUser.objects.get(user=acme_learner), course_enrollment=course_enrollment
    )

    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.unenroll(acme_learner, PYTHON_KEY)
    enterprise_enrollment.refresh_from_db()
    assert enterprise_enrollment.unenrolled is True and enterprise_enrollment.unenrolled_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        enrollments_api.enroll_with_outcome(acme_learner, PYTHON_KEY)
    enterprise_enrollment.refresh_from_db()
    assert enterprise_enrollment.unenrolled is False
