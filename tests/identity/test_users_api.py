"""Users: creation rules, lookups (one at a time and in bulk), changes and operators."""

from __future__ import annotations

import uuid

import pytest

from rollbook.core import api as core_api
from rollbook.core.data import Role
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.identity import api as identity_api
from rollbook.identity.models import User

STRONG = "correct-horse-battery-staple-42"


def test_create_user_stores_email_as_given_and_sets_the_password(db):
    user = identity_api.create_user(" ada ", " Ada@Example.COM ", password=STRONG, first_name="Ada")
    user.refresh_from_db()
    assert (user.username, user.email, user.email_normalized) == ("ada", "Ada@Example.COM", "ada@example.com")
    assert user.first_name == "Ada"
    assert user.check_password(STRONG)
    assert user.is_active and not user.is_staff and not user.is_service_account


def test_create_user_without_password_cannot_log_in(db):
    user = identity_api.create_user("sso-only", "sso@example.com")
    assert not user.has_usable_password()


def test_create_user_keeps_history_without_the_password(db):
    user = identity_api.create_user("ada", "ada@example.com", password=STRONG)
    record = User.history.get(id=user.pk)
    assert record.history_type == "+"
    assert record.email == "ada@example.com"
    assert not hasattr(record, "password")


@pytest.mark.parametrize("email", ["ADA@example.com", " ada@EXAMPLE.com"])
def test_emails_are_unique_ignoring_case(db, email):
    identity_api.create_user("ada", "ada@example.com")
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_user("ada2", email)
    assert list(caught.value.errors) == ["email"]
    assert User.objects.count() == 1


@pytest.mark.parametrize("username", ["ada", "ADA", " Ada "])
def test_usernames_are_unique_and_may_not_differ_only_by_case(db, username):
    identity_api.create_user("ada", "ada@example.com")
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_user(username, "other@example.com")
    assert list(caught.value.errors) == ["username"]


def test_create_user_reports_every_bad_field_at_once(db):
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_user("no spaces allowed", "not-an-email", password="123", last_name="x" * 151)
    assert set(caught.value.errors) == {"username", "email", "password", "last_name"}


@pytest.mark.parametrize(("username", "email"), [("", "a@example.com"), ("ada", ""), ("x" * 151, "a@example.com")])
def test_create_user_requires_username_and_email(db, username, email):
    with pytest.raises(InvalidInput):
        identity_api.create_user(username, email)


def test_create_user_checks_passwords_unless_told_not_to(db):
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_user("ada", "ada@example.com", password="password")
    assert "password" in caught.value.errors
    user = identity_api.create_user("ada", "ada@example.com", password="password", validate_password=False)
    assert user.check_password("password")


def test_create_user_refuses_unknown_fields(db):
    with pytest.raises(TypeError):
        identity_api.create_user("ada", "ada@example.com", is_superuser=True)


def test_get_user_by_each_identifier(make_user):
    user = make_user("ada", "Ada@Example.com")
    assert identity_api.get_user(username="ada") == user
    assert identity_api.get_user(email="  ada@EXAMPLE.com") == user
    assert identity_api.get_user(uuid=user.uuid) == user
    assert identity_api.get_user(uuid=str(user.uuid).upper()) == user
    assert identity_api.get_user(id=user.pk) == user


def test_get_user_errors(make_user):
    make_user("ada")
    with pytest.raises(NotFound):
        identity_api.get_user(username="ADA")
    with pytest.raises(NotFound):
        identity_api.get_user(uuid=uuid.uuid4())
    with pytest.raises(InvalidInput):
        identity_api.get_user(uuid="nope")
    with pytest.raises(InvalidInput):
        identity_api.get_user(id="nope")
    with pytest.raises(TypeError):
        identity_api.get_user()
    with pytest.raises(TypeError):
        identity_api.get_user(username="ada", email="ada@example.com")


def test_users_by_identifiers_resolves_usernames_and_emails_in_one_query(make_user, django_assert_num_queries):
    ada = make_user("ada", "ada@example.com")
    bob = make_user("bob", "Bob@Example.com")
    values = ["ada", "BOB@example.com", " bob@example.COM ", "nobody", "nobody@example.com", "", "ada"]
    with django_assert_num_queries(1):
        found = identity_api.users_by_identifiers(values)
    assert found == {"ada": ada, "BOB@example.com": bob, " bob@example.COM ": bob}


def test_users_by_identifiers_prefers_a_username_match(make_user):
    owner = make_user("x@example.com", "owner@example.com")
    make_user("someone", "X@example.com")
    assert identity_api.users_by_identifiers(["x@example.com"]) == {"x@example.com": owner}


def test_users_by_identifiers_queries_once_per_batch(make_user, settings, django_assert_num_queries):
    settings.BULK_BATCH_SIZE = 2
    users = [make_user() for _ in range(5)]
    with django_assert_num_queries(3):
        found = identity_api.users_by_identifiers([u.email.upper() for u in users])
    assert sorted(u.pk for u in found.values()) == sorted(u.pk for u in users)


def test_update_user_changes_only_given_fields_and_checks_email(make_user):
    ada = make_user("ada", "ada@example.com")
    make_user("bob", "bob@example.com")
    assert identity_api.update_user(ada, email="ADA@example.com", first_name="Ada") == ["email", "first_name"]
    ada.refresh_from_db()
    assert (ada.email, ada.email_normalized, ada.first_name) == ("ADA@example.com", "ada@example.com", "Ada")
    assert identity_api.update_user(ada, email="ADA@example.com") == []
    with pytest.raises(InvalidInput) as caught:
        identity_api.update_user(ada, email="BOB@example.com")
    assert list(caught.value.errors) == ["email"]
    with pytest.raises(InvalidInput):
        identity_api.update_user(ada, email="broken")
    ada.refresh_from_db()
    assert ada.email == "ADA@example.com"


def test_email_in_use_ignores_case_and_the_user_themself(make_user):
    ada = make_user("ada", "ada@example.com")
    assert identity_api.email_in_use(" ADA@example.com")
    assert not identity_api.email_in_use("ada@example.com", exclude=ada)
    assert not identity_api.email_in_use("new@example.com")


def test_set_password_validates_and_none_makes_it_unusable(make_user):
    user = make_user()
    with pytest.raises(InvalidInput):
        identity_api.set_password(user, "short")
    identity_api.set_password(user, STRONG)
    user.refresh_from_db()
    assert user.check_password(STRONG)
    identity_api.set_password(user, None)
    user.refresh_from_db()
    assert not user.has_usable_password()


def test_service_accounts_cannot_get_a_password(make_client):
    client, _ = make_client()
    with pytest.raises(InvalidInput):
        identity_api.set_password(client.user, STRONG)


def test_deactivate_and_activate_report_whether_they_changed_anything(make_user):
    user = make_user()
    assert identity_api.deactivate_user(user) is True
    assert identity_api.deactivate_user(user) is False
    user.refresh_from_db()
    assert not user.is_active
    assert identity_api.activate_user(user) is True
    assert identity_api.activate_user(user) is False


def test_make_operator_is_idempotent(make_user):
    user = make_user(is_active=False)
    assert identity_api.make_operator(user) == [
        "activated",
        "made staff",
        "made superuser",
        "granted the operator role",
    ]
    user.refresh_from_db()
    assert user.is_active and user.is_staff and user.is_superuser
    assert core_api.has_role(user, Role.OPERATOR)
    assert identity_api.make_operator(user) == []


def test_make_operator_refuses_service_accounts(make_client):
    client, _ = make_client()
    with pytest.raises(InvalidInput):
        identity_api.make_operator(client.user)
    client.user.refresh_from_db()
    assert not client.user.is_superuser
