"""The enterprise admin: saves and actions write through the api; rows only the api writes are
read-only; enterprise enrollments are never deleted; soft-deleted intentions stay listed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rollbook.enterprise import api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import (
    DataSharingConsent,
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
    EnterpriseCustomer,
    EnterpriseCustomerUser,
    License,
    SubscriptionPlan,
)
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY


@pytest.fixture
def admin_browser(make_user) -> Client:
    browser = Client()
    browser.force_login(make_user("root", is_staff=True, is_superuser=True))
    return browser


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def act(browser: Client, model, action: str, rows) -> list[str]:
    response = browser.post(
        url(model, "changelist"), {"action": action, "_selected_action": [row.pk for row in rows]}, follow=True
    )
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def shown(response) -> str:
    return response.content.decode()


# --- customers and learners ---------------------------------------------------------------------


def test_adding_a_customer_goes_through_the_api(admin_browser, db):
    form = {
        "name": "Initech",
        "slug": "initech",
        "active": "on",
        "enable_data_sharing_consent": "on",
        "enforce_data_sharing_consent": "at_enrollment",
        "provider_links-TOTAL_FORMS": "0",
        "provider_links-INITIAL_FORMS": "0",
    }
    response = admin_browser.post(url(EnterpriseCustomer, "add"), form)
    assert response.status_code == 302
    customer = EnterpriseCustomer.objects.get(slug="initech")
    assert customer.history.count() == 1

    taken = admin_browser.post(url(EnterpriseCustomer, "add"), {**form, "name": "Initech again"}, follow=True)
    assert taken.status_code == 200
    assert EnterpriseCustomer.objects.filter(slug="initech").count() == 1


def test_adding_a_learner_by_email_records_a_pending_learner(admin_browser, acme):
    response = admin_browser.post(
        url(EnterpriseCustomerUser, "add"), {"customer": acme.pk, "email": "New.Hire@acme.example"}
    )
    assert response.status_code == 302
    pending = EnterpriseCustomerUser.objects.get(customer=acme)
    assert pending.user is None and pending.user_email_normalized == "new.hire@acme.example"

    neither = admin_browser.post(url(EnterpriseCustomerUser, "add"), {"customer": acme.pk})
    assert neither.status_code == 200
    assert "Give either a user or an email." in shown(neither)

    messages = act(admin_browser, EnterpriseCustomerUser, "unlink", [pending])
    assert any("Unlink:" in message for message in messages)
    assert not EnterpriseCustomerUser.objects.filter(customer=acme).exists()  # a pending learner is removed


def test_learners_are_unlinked_not_deleted(admin_browser, acme_learner):
    row = EnterpriseCustomerUser.objects.get(user=acme_learner)
    assert admin_browser.get(url(EnterpriseCustomerUser, "delete", row.pk)).status_code == 403

    act(admin_browser, EnterpriseCustomerUser, "unlink", [row])

    row.refresh_from_db()
    assert (row.linked, row.active) == (False, False)


# --- plans and licenses -------------------------------------------------------------------------


def test_adding_a_plan_creates_its_seats_and_the_list_shows_them(admin_browser, acme_catalog):
    now = timezone.now()
    response = admin_browser.post(
        url(SubscriptionPlan, "add"),
        {
            "customer": acme_catalog.customer.pk,
            "catalog": acme_catalog.pk,
            "title": "Acme 2027",
            "seats": "7",
            "start_0": now.strftime("%Y-%m-%d"),
            "start_1": "00:00:00",
            "expiration_0": (now + timedelta(days=365)).strftime("%Y-%m-%d"),
            "expiration_1": "00:00:00",
        },
    )
    assert response.status_code == 302
    plan = SubscriptionPlan.objects.get(title="Acme 2027")
    assert License.objects.filter(plan=plan, status=LicenseStatus.UNASSIGNED).count() == 7

    api.assign_licenses(plan, ["ann@acme.example", "ben@acme.example"])
    page = shown(admin_browser.get(url(SubscriptionPlan, "change", plan.pk)))
    assert "7 seats: 2 assigned, 0 activated, 5 free." in page
    assert admin_browser.get(url(SubscriptionPlan, "changelist")).status_code == 200

    change = {
        "title": "Acme 2027",
        "seats": "9",
        "start_0": plan.start.strftime("%Y-%m-%d"),
        "start_1": plan.start.strftime("%H:%M:%S"),
        "expiration_0": plan.expiration.strftime("%Y-%m-%d"),
        "expiration_1": plan.expiration.strftime("%H:%M:%S"),
        "active": "on",
    }
    assert admin_browser.post(url(SubscriptionPlan, "change", plan.pk), change).status_code == 302
    assert License.objects.filter(plan=plan, status=LicenseStatus.UNASSIGNED).count() == 7
    too_few = admin_browser.post(url(SubscriptionPlan, "change", plan.pk), {**change, "seats": "1"}, follow=True)
    assert any("Not saved" in str(m) for m in get_messages(too_few.wsgi_request))
    assert License.objects.filter(plan=plan).count() == 9


def test_a_plan_whose_catalog_is_another_customers_is_refused(admin_browser, acme, globex_catalog):
    now = timezone.now()
    response = admin_browser.post(
        url(SubscriptionPlan, "add"),
        {
            "customer": acme.pk,
            "catalog": globex_catalog.pk,
            "title": "Wrong catalog",
            "seats": "3",
            "start_0": now.strftime("%Y-%m-%d"),
            "start_1": "00:00:00",
            "expiration_0": (now + timedelta(days=30)).strftime("%Y-%m-%d"),
            "expiration_1": "00:00:00",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert any("Not saved" in str(m) for m in get_messages(response.wsgi_request))
    assert not SubscriptionPlan.objects.filter(title="Wrong catalog").exists()
    assert not License.objects.filter(plan__title="Wrong catalog").exists()


def test_licenses_are_read_only_and_revoked_by_an_action(admin_browser, acme_learner, acme_plan):
    license = License.objects.get(user=acme_learner)
    change = admin_browser.get(url(License, "change", license.pk))
    assert change.status_code == 200 and 'name="_save"' not in shown(change)
    assert admin_browser.get(url(License, "add")).status_code == 403

    messages = act(admin_browser, License, "revoke", [license])

    license.refresh_from_db()
    assert license.status == LicenseStatus.REVOKED
    assert License.objects.filter(plan=acme_plan).exclude(status=LicenseStatus.REVOKED).count() == acme_plan.seats
    assert any("1 license(s) revoked." in message for message in messages)
    assert license.history.filter(status=LicenseStatus.REVOKED).exists()


# --- consent ------------------------------------------------------------------------------------


def test_consent_is_recorded_through_the_api(admin_browser, acme, acme_learner, runs):
    course = runs[PYTHON_KEY].catalog_course
    response = admin_browser.post(
        url(DataSharingConsent, "add"),
        {"customer": acme.pk, "user": acme_learner.pk, "catalog_course": course.pk, "granted": "true"},
    )
    assert response.status_code == 302
    consent = DataSharingConsent.objects.get(user=acme_learner)
    assert consent.granted is True

    act(admin_browser, DataSharingConsent, "refuse", [consent])

    consent.refresh_from_db()
    assert consent.granted is False
    assert consent.history.count() == 2
    assert admin_browser.get(url(DataSharingConsent, "delete", consent.pk)).status_code == 403


def test_consent_of_someone_who_is_not_a_learner_is_refused(admin_browser, acme, globex_learner, runs):
    course = runs[PYTHON_KEY].catalog_course
    response = admin_browser.post(
        url(DataSharingConsent, "add"),
        {"customer": acme.pk, "user": globex_learner.pk, "catalog_course": course.pk, "granted": "true"},
        follow=True,
    )
    assert any("Not saved" in str(m) for m in get_messages(response.wsgi_request))
    assert not DataSharingConsent.objects.exists()


# --- default enrollments ------------------------------------------------------------------------


def test_intentions_are_added_through_the_api_and_duplicates_refused(admin_browser, acme):
    response = admin_browser.post(url(DefaultEnrollmentIntention, "add"), {"customer": acme.pk, "key": DATA_KEY})
    assert response.status_code == 302
    intention = DefaultEnrollmentIntention.objects.get(customer=acme)
    assert (intention.content_type, intention.course_run.course_key.run) == ("course_run", "2030")

    again = admin_browser.post(
        url(DefaultEnrollmentIntention, "add"), {"customer": acme.pk, "key": DATA_KEY}, follow=True
    )
    assert any("Not saved" in str(m) for m in get_messages(again.wsgi_request))
    assert DefaultEnrollmentIntention.objects.filter(customer=acme).count() == 1


def test_removed_intentions_stay_listed_and_the_actions_soft_delete_and_restore(admin_browser, acme):
    kept = api.create_intention(acme, PYTHON_KEY)
    removed = api.create_intention(acme, PYTHON_COURSE.replace("Python", "Data"))

    act(admin_browser, DefaultEnrollmentIntention, "soft_delete", [removed])

    removed.refresh_from_db()
    assert removed.is_removed
    listing = shown(admin_browser.get(url(DefaultEnrollmentIntention, "changelist")))
    assert kept.content_key in listing and removed.content_key in listing
    only_removed = shown(admin_browser.get(url(DefaultEnrollmentIntention, "changelist"), {"is_removed": "1"}))
    assert removed.content_key in only_removed and kept.content_key not in only_removed
    applied = shown(admin_browser.get(url(DefaultEnrollmentIntention, "changelist"), {"is_removed": "0"}))
    assert kept.content_key in applied and removed.content_key not in applied
    assert admin_browser.get(url(DefaultEnrollmentIntention, "delete", removed.pk)).status_code == 403

    act(admin_browser, DefaultEnrollmentIntention, "restore", [removed])

    removed.refresh_from_db()
    assert not removed.is_removed
    assert removed.history.count() == 3  # created, removed, restored


def test_the_realize_and_validate_actions(admin_browser, acme, make_acme_learner):
    learners = [make_acme_learner() for _ in range(2)]
    fine = api.create_intention(acme, PYTHON_KEY)
    outside = api.create_intention(acme, ART_KEY)

    messages = act(admin_browser, DefaultEnrollmentIntention, "realize", [fine])

    assert any("2 learner(s)" in message for message in messages)
    assert DefaultEnrollmentRealization.objects.filter(intention=fine).count() == len(learners)
    messages = act(admin_browser, DefaultEnrollmentIntention, "validate", [fine, outside])
    assert [m for m in messages if ART_KEY in m] and not [m for m in messages if PYTHON_KEY in m]


def test_enterprise_enrollments_and_realizations_are_view_only_and_never_deleted(admin_browser, acme, acme_learner):
    api.create_intention(acme, PYTHON_KEY)
    api.realize_default_enrollments(acme, acme_learner)
    enrollment = EnterpriseCourseEnrollment.objects.get()
    realization = DefaultEnrollmentRealization.objects.get()

    for model, row in ((EnterpriseCourseEnrollment, enrollment), (DefaultEnrollmentRealization, realization)):
        change = admin_browser.get(url(model, "change", row.pk))
        assert change.status_code == 200 and 'name="_save"' not in shown(change)
        assert admin_browser.get(url(model, "delete", row.pk)).status_code == 403
        assert admin_browser.get(url(model, "add")).status_code == 403
        listing = shown(admin_browser.get(url(model, "changelist"), {"q": "acme-learner"}))
        assert PYTHON_KEY in listing
        assert "delete_selected" not in listing
