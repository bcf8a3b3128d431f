"""``identity.signals.user_created``: sent once, after the commit, however a user is created."""

import logging

import pytest
from django.core.management import call_command
from django.db import transaction

from rollbook.identity import api as identity_api
from rollbook.identity.models import User
from rollbook.identity.signals import user_created

pytestmark = pytest.mark.django_db


@pytest.fixture
def announced():
    """The user ids ``user_created`` announced during the test, in order."""
    received: list[int] = []

    def receiver(sender, user_id, **kwargs):
        received.append(user_id)

    user_created.connect(receiver, dispatch_uid="test-user-created")
    yield received
    user_created.disconnect(dispatch_uid="test-user-created")


def test_sent_after_the_commit_not_before(announced, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user = identity_api.create_user("ada", "ada@example.com")
    assert announced == []
    for callback in callbacks:
        callback()
    assert announced == [user.pk]


def test_sent_for_every_way_of_creating_a_user(announced, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        by_api = identity_api.create_user("api-user", "api@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        by_manager = User.objects.create_user(username="manager-user", email="manager@example.com", password="x")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("create_operator", "cli-user", "--email", "cli@example.com", "--no-password", stdout=None)
    with django_capture_on_commit_callbacks(execute=True):
        client, _secret = identity_api.create_api_client("Reporting", client_id="reporting")
    by_cli = identity_api.get_user(username="cli-user")
    assert announced == [by_api.pk, by_manager.pk, by_cli.pk, client.user.pk]


def test_sent_for_users_added_in_the_admin(announced, make_user, client, django_capture_on_commit_callbacks):
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    announced.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/identity/user/add/",
            {
                "username": "ada",
                "email": "ada@example.com",
                "first_name": "",
                "last_name": "",
                "usable_password": "false",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert announced == [User.objects.get(username="ada").pk]


def test_not_sent_for_changes_or_rolled_back_creations(announced, make_user, django_capture_on_commit_callbacks):
    user = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        identity_api.update_user(user, first_name="Changed")
        with pytest.raises(RuntimeError), transaction.atomic():
            identity_api.create_user("ghost", "ghost@example.com")
            raise RuntimeError("roll back")
    assert announced == []
    assert not User.objects.filter(username="ghost").exists()


def test_a_failing_receiver_is_logged_and_the_others_still_run(announced, caplog, django_capture_on_commit_callbacks):
    def failing(sender, user_id, **kwargs):
        raise RuntimeError("receiver broke")

    user_created.connect(failing, dispatch_uid="test-failing")
    try:
        with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
            user = identity_api.create_user("bea", "bea@example.com")
    finally:
        user_created.disconnect(dispatch_uid="test-failing")
    assert User.objects.filter(pk=user.pk).exists()
    assert announced == [user.pk]
    assert any("user_created receiver" in record.getMessage() for record in caplog.records)
