"""Realization: saving an SSO link ``provider:key`` links the waiting program enrollments of that key in the
programs whose first authoring organization owns the provider — end to end through ``identity.api.link_sso``."""

from __future__ import annotations

import logging

import pytest

from rollbook.catalog.data import ModeSpec
from rollbook.core import api as core_api
from rollbook.core.data import Scope, ScopeKind
from rollbook.enrollments import api as enrollments_api
from rollbook.identity import api as identity_api
from rollbook.programs import api
from rollbook.programs import signals as programs_signals
from rollbook.programs.models import CourseStaffAssignment, ProgramCourseEnrollment, ProgramEnrollment

from .conftest import MATH_KEY, STATS_KEY


def user_of(program, key):
    return ProgramEnrollment.objects.get(program=program, external_user_key_normalized=key.casefold()).user_id


def enrollment_state(user, course_key):
    enrollment = enrollments_api.get_enrollment(user, course_key)
    return None if enrollment is None else (enrollment.mode, enrollment.is_active)


@pytest.fixture
def sso_link(django_capture_on_commit_callbacks):
    """``sso_link(provider, key, user)``: link through identity.api and run what happens after commit."""

    def _link(provider, key, user):
        with django_capture_on_commit_callbacks(execute=True):
            return identity_api.link_sso(provider, key, user)

    return _link


def test_saving_an_sso_link_links_and_realises_the_waiting_enrollment(
    program, sso_provider, enroll_students, enroll_in_course, make_user, sso_link
):
    enroll_students(program, ["STU-9"], "pending")
    enroll_in_course(program, MATH_KEY, ["STU-9"], "active", course_staff=True)
    enroll_in_course(program, STATS_KEY, ["STU-9"], "inactive")
    user = make_user()

    sso_link(sso_provider, "stu-9", user)  # keys match ignoring case

    assert user_of(program, "STU-9") == user.pk
    assert enrollment_state(user, MATH_KEY) == ("masters", True)
    assert enrollment_state(user, STATS_KEY) is None
    math_row = ProgramCourseEnrollment.objects.get(course_run__course_key=MATH_KEY)
    assert math_row.course_enrollment is not None and math_row.course_enrollment.user_id == user.pk
    assert core_api.has_role(user, core_api.Role.COURSE_STAFF, Scope(ScopeKind.COURSE_RUN, MATH_KEY))
    assert not CourseStaffAssignment.objects.exists()


@pytest.mark.parametrize("status", ["enrolled", "pending", "suspended", "canceled", "ended"])
def test_waiting_enrollments_of_any_status_are_linked(
    program, sso_provider, enroll_students, make_user, sso_link, status
):
    enroll_students(program, ["STU-9"], status)
    user = make_user()

    sso_link(sso_provider, "STU-9", user)

    assert user_of(program, "STU-9") == user.pk


def test_only_programs_whose_first_organization_owns_the_provider_are_linked(
    program, program_orgs, sso_provider, enroll_students, make_user, sso_link
):
    partner_first = api.create_program("Partner first", organizations=["PartnerU", "ProgU"])
    api.create_curriculum(partner_first, catalog_course_keys=["catalog-course:ProgU:Math"])
    for target in (program, partner_first):
        enroll_students(target, ["STU-9"])
    partner_provider = identity_api.create_identity_provider("partner-sso", "Partner", organization=program_orgs[1])
    progu_user, partner_user = make_user(), make_user()

    sso_link(sso_provider, "STU-9", progu_user)
    assert (user_of(program, "STU-9"), user_of(partner_first, "STU-9")) == (progu_user.pk, None)

    sso_link(partner_provider, "STU-9", partner_user)
    assert (user_of(program, "STU-9"), user_of(partner_first, "STU-9")) == (progu_user.pk, partner_user.pk)


def test_every_waiting_program_of_the_organization_is_linked(
    program, other_program, sso_provider, enroll_students, make_user, sso_link
):
    enroll_students(program, ["STU-9"])
    enroll_students(other_program, ["stu-9"])
    user = make_user()

    sso_link(sso_provider, "Stu-9", user)

    assert user_of(program, "STU-9") == user_of(other_program, "STU-9") == user.pk


def test_an_enrollment_linked_already_is_not_taken_from_its_account(
    program, program_orgs, sso_provider, enroll_students, make_user, sso_link
):
    second_provider = identity_api.create_identity_provider("progu-alt", "ProgU alt", organization=program_orgs[0])
    enroll_students(program, ["STU-9"])
    first, second = make_user("first"), make_user("second")
    api.link_program_enrollments(program, {"STU-9": "first"})

    sso_link(second_provider, "STU-9", second)

    assert user_of(program, "STU-9") == first.pk


def test_disabled_providers_link_nothing_and_every_save_of_a_link_realises_again(
    program, sso_provider, enroll_students, make_user, sso_link
):
    user = make_user()
    sso_link(sso_provider, "STU-9", user)
    identity_api.disable_identity_provider(sso_provider)
    enroll_students(program, ["STU-9"])  # not linked on create: the provider is disabled
    assert user_of(program, "STU-9") is None

    sso_link(sso_provider, "STU-9", user)  # confirming the existing link
    assert user_of(program, "STU-9") is None

    identity_api.enable_identity_provider(sso_provider)
    sso_link(sso_provider, "STU-9", user)
    assert user_of(program, "STU-9") == user.pk


def test_a_provider_without_organization_links_nothing(program, enroll_students, make_user, sso_link):
    lone = identity_api.create_identity_provider("lone-sso", "No organization")
    enroll_students(program, ["STU-9"])

    sso_link(lone, "STU-9", make_user())

    assert user_of(program, "STU-9") is None


def test_a_failing_program_is_logged_and_undoes_neither_the_link_nor_other_programs(
    program, other_program, sso_provider, make_program_run, enroll_students, make_user, sso_link, caplog
):
    no_masters = make_program_run("course-v1:ProgU+Stats+2041", modes=[ModeSpec("audit")])
    enroll_students(program, ["STU-9"])
    enroll_students(other_program, ["STU-9"])
    api.write_program_course_enrollments(
        program,
        no_masters.course_key,
        [api.ProgramCourseEnrollmentRequest("STU-9", "active")],
        create=True,
        update=False,
    )
    user = make_user()

    with caplog.at_level(logging.ERROR, logger="rollbook.programs.linking"):
        sso_link(sso_provider, "STU-9", user)

    assert identity_api.user_for_external_key("progu-sso", "STU-9") == user
    assert user_of(other_program, "STU-9") == user.pk
    assert user_of(program, "STU-9") is None
    failure = [record for record in caplog.records if record.name == "rollbook.programs.linking"]
    assert any("STU-9" in record.getMessage() and str(program.uuid) in record.getMessage() for record in failure)


def test_an_account_already_in_the_program_under_another_key_is_not_linked_twice(
    program, sso_provider, enroll_students, make_user, sso_link
):
    enroll_students(program, ["STU-8", "STU-9"])
    user = make_user("alice")
    api.link_program_enrollments(program, {"STU-8": "alice"})

    sso_link(sso_provider, "STU-9", user)

    assert (user_of(program, "STU-8"), user_of(program, "STU-9")) == (user.pk, None)


def test_errors_in_the_receiver_never_reach_the_code_saving_the_link(
    program, sso_provider, enroll_students, make_user, sso_link, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(programs_signals, "link_waiting_enrollments", broken)
    enroll_students(program, ["STU-9"])
    user = make_user()

    with caplog.at_level(logging.ERROR, logger="rollbook.programs.signals"):
        link = sso_link(sso_provider, "STU-9", user)

    assert link.pk is not None and identity_api.user_for_external_key("progu-sso", "STU-9") == user
    assert "boom" in caplog.text


def test_link_waiting_enrollments_reports_each_waiting_enrollment(
    program, other_program, sso_provider, enroll_students, make_user
):
    enroll_students(program, ["STU-9"])
    enroll_students(other_program, ["Stu-9"])
    user = make_user()

    results = api.link_waiting_enrollments("progu-sso", sso_provider.organization_id, "STU-9", user.pk)

    assert results == [
        api.WaitingLinkResult(program.uuid, "STU-9", None),
        api.WaitingLinkResult(other_program.uuid, "Stu-9", None),
    ]
    assert all(result.linked for result in results)
    assert api.link_waiting_enrollments("progu-sso", sso_provider.organization_id, "STU-9", user.pk) == []


def test_unknown_providers_users_and_blank_keys_link_nothing(program, sso_provider, enroll_students, make_user):
    enroll_students(program, ["STU-9"])
    user = make_user()

    assert api.link_waiting_enrollments("no-such-sso", None, "STU-9", user.pk) == []
    assert api.link_waiting_enrollments("progu-sso", None, "STU-9", 10**9) == []
    assert api.link_waiting_enrollments("progu-sso", None, "   ", user.pk) == []
    assert user_of(program, "STU-9") is None
