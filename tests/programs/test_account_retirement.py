"""Retiring an account replaces its personal data everywhere: account, SSO keys, program student keys."""

import pytest
from django.core.management import CommandError, call_command

from rollbook.identity import api as identity_api
from rollbook.identity.models import SsoLink, User
from rollbook.programs.models import ProgramEnrollment

pytestmark = pytest.mark.django_db


def _everything_stored_about(user_id: int) -> str:
    """Every value of every live and history row tied to the user, as one text to search."""
    rows = [
        *User.objects.filter(pk=user_id).values(),
        *User.history.filter(id=user_id).values(),
        *SsoLink.history.filter(user_id=user_id).values(),
        *ProgramEnrollment.objects.filter(user_id=user_id).values(),
        *ProgramEnrollment.history.filter(user_id=user_id).values(),
    ]
    return repr(rows).casefold()


def test_retirement_replaces_personal_data_in_live_and_history_rows(
    program, link_student, enroll_students, django_capture_on_commit_callbacks
):
    enroll_students(program, ["STU-Retire"], status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        user = link_student("STU-Retire")  # realization links the waiting program enrollment
    identity_api.update_user(user, first_name="Ada", last_name="Lovelace")
    enrollment = ProgramEnrollment.objects.get(user=user)
    assert enrollment.external_user_key == "STU-Retire"
    old_username, old_email = user.username, user.email

    retired = identity_api.retire_user(user)

    stored = _everything_stored_about(user.pk)
    for secret in ("stu-retire", old_username.casefold(), old_email.casefold(), "lovelace"):
        assert secret not in stored, f"{secret!r} survived retirement"
    user.refresh_from_db()
    assert user.username == retired and not user.is_active and not user.has_usable_password()
    assert not SsoLink.objects.filter(user=user).exists()
    enrollment.refresh_from_db()
    assert enrollment.user_id == user.pk  # the record stays, tied to the retired account
    assert enrollment.external_user_key.startswith("retired_user_")
    assert identity_api.retire_user(user) == retired  # idempotent


def test_retire_user_command_needs_confirmation(make_user):
    user = make_user("leaving", email="leaving@example.com")
    with pytest.raises(CommandError):
        call_command("retire_user", "leaving")
    user.refresh_from_db()
    assert user.is_active
    call_command("retire_user", "leaving@example.com", "--yes")
    user.refresh_from_db()
    assert not user.is_active and user.username.startswith("retired_user_")


def test_a_failing_app_aborts_the_whole_retirement(make_user, monkeypatch):
    from rollbook.programs import signals as program_signals

    user = make_user("keepme", email="keepme@example.com")

    def boom(user_id):
        raise RuntimeError("cannot retire student keys")

    monkeypatch.setattr(program_signals, "retire_external_keys", boom)
    with pytest.raises(RuntimeError):
        identity_api.retire_user(user)
    user.refresh_from_db()
    assert user.username == "keepme" and user.is_active
