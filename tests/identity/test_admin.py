"""The identity admin: pages render, creation and actions go through the api, secrets are shown only once."""

from __future__ import annotations

import re

import pytest

from rollbook.catalog.models import Organization
from rollbook.core import api as core_api
from rollbook.core.data import Role
from rollbook.identity import api as identity_api
from rollbook.identity.models import ApiClient, IdentityProvider, SsoLink, User

USERS = "/admin/identity/user/"
PROVIDERS = "/admin/identity/identityprovider/"
LINKS = "/admin/identity/ssolink/"
CLIENTS = "/admin/identity/apiclient/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_every_identity_page_renders(admin_browser, make_user, make_client, provider):
    user = make_user("ada")
    core_api.grant(user, Role.LEARNER)
    link = identity_api.link_sso(provider, "student-1", user)
    client, _ = make_client(roles=[("program_admin", "org:MITx")])
    for url in [
        USERS,
        USERS + "?q=ada",
        USERS + "add/",
        f"{USERS}{user.pk}/change/",
        f"{USERS}{user.pk}/history/",
        PROVIDERS,
        PROVIDERS + "add/",
        f"{PROVIDERS}{provider.pk}/change/",
        f"{PROVIDERS}{provider.pk}/history/",
        LINKS,
        LINKS + "?q=STUDENT",
        LINKS + "add/",
        f"{LINKS}{link.pk}/change/",
        CLIENTS,
        CLIENTS + "add/",
        f"{CLIENTS}{client.pk}/change/",
        f"{CLIENTS}{client.pk}/history/",
    ]:
        assert admin_browser.get(url).status_code == 200, url


def test_user_page_shows_roles_and_links(admin_browser, make_user, provider):
    user = make_user("ada")
    core_api.grant(user, Role.LEARNER)
    identity_api.link_sso(provider, "Student-1", user)
    page = admin_browser.get(f"{USERS}{user.pk}/change/").content.decode()
    assert "learner" in page and "Student-1" in page


def test_adding_a_user_goes_through_the_api(admin_browser):
    response = admin_browser.post(
        USERS + "add/",
        {
            "username": "ada",
            "email": "Ada@Example.com",
            "first_name": "Ada",
            "last_name": "",
            "usable_password": "true",
            "password1": "correct-horse-battery-staple",
            "password2": "correct-horse-battery-staple",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    ada = User.objects.get(username="ada")
    assert (ada.email_normalized, ada.first_name) == ("ada@example.com", "Ada")
    assert ada.check_password("correct-horse-battery-staple")
    assert response.url == f"{USERS}{ada.pk}/change/"


def test_adding_a_user_with_a_taken_email_shows_an_error(admin_browser, make_user):
    make_user("bob", "bob@example.com")
    response = admin_browser.post(
        USERS + "add/", {"username": "ada", "email": "BOB@example.com", "usable_password": "false"}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not User.objects.filter(username="ada").exists()


def test_changing_an_email_to_a_taken_one_shows_an_error(admin_browser, make_user):
    make_user("bob", "bob@example.com")
    ada = make_user("ada", "ada@example.com")
    response = admin_browser.post(
        f"{USERS}{ada.pk}/change/",
        {"username": "ada", "email": "Bob@Example.com", "is_active": "on", "date_joined_0": "2026-01-01"},
    )
    assert response.status_code == 200
    assert "Another user has this email address" in response.content.decode()
    ada.refresh_from_db()
    assert ada.email == "ada@example.com"


def test_user_actions(admin_browser, make_user):
    ada = make_user("ada")
    admin_browser.post(USERS, {"action": "make_operators", "_selected_action": [ada.pk]})
    ada.refresh_from_db()
    assert ada.is_superuser and core_api.has_role(ada, Role.OPERATOR)
    admin_browser.post(USERS, {"action": "deactivate_users", "_selected_action": [ada.pk]})
    ada.refresh_from_db()
    assert not ada.is_active
    admin_browser.post(USERS, {"action": "activate_users", "_selected_action": [ada.pk]})
    ada.refresh_from_db()
    assert ada.is_active


def test_adding_a_provider_lowercases_its_slug(admin_browser):
    organization = Organization.objects.create(short_name="MITx", name="MIT")
    response = admin_browser.post(
        PROVIDERS + "add/", {"slug": "MIT-SSO", "name": "MIT", "organization": organization.pk, "enabled": "on"}
    )
    assert response.status_code == 302
    provider = identity_api.get_identity_provider("mit-sso")
    assert (provider.slug, provider.organization) == ("mit-sso", organization)
    response = admin_browser.post(PROVIDERS + "add/", {"slug": "mit-sso", "name": "Again"})
    assert response.status_code == 200
    assert IdentityProvider.objects.count() == 1


def test_provider_change_and_actions_go_through_the_api(admin_browser, provider):
    response = admin_browser.post(f"{PROVIDERS}{provider.pk}/change/", {"name": "Renamed", "organization": ""})
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.name == "Renamed"
    admin_browser.post(PROVIDERS, {"action": "disable_providers", "_selected_action": [provider.pk]})
    provider.refresh_from_db()
    assert not provider.enabled
    admin_browser.post(PROVIDERS, {"action": "enable_providers", "_selected_action": [provider.pk]})
    provider.refresh_from_db()
    assert provider.enabled


def test_adding_a_link_shows_conflicts_on_the_form(admin_browser, provider, make_user):
    first, second = make_user(), make_user()
    response = admin_browser.post(
        LINKS + "add/", {"provider": provider.pk, "user": first.pk, "external_user_key": "Student-1"}
    )
    assert response.status_code == 302
    assert identity_api.user_for_external_key("mit-sso", "student-1") == first
    response = admin_browser.post(
        LINKS + "add/", {"provider": provider.pk, "user": second.pk, "external_user_key": "STUDENT-1"}
    )
    assert response.status_code == 200
    assert "already linked to another user" in response.content.decode()
    assert SsoLink.objects.count() == 1


def test_deleting_links_unlinks_them(admin_browser, provider, make_user):
    link = identity_api.link_sso(provider, "student-1", make_user())
    response = admin_browser.post(LINKS, {"action": "delete_selected", "_selected_action": [link.pk], "post": "yes"})
    assert response.status_code == 302
    assert not SsoLink.objects.exists()
    assert SsoLink.history.filter(history_type="-").count() == 1


def test_adding_a_client_shows_the_secret_once(admin_browser):
    response = admin_browser.post(
        CLIENTS + "add/",
        {"client_name": "SIS", "requested_client_id": "sis", "roles": "program_admin org:MITx\n\nlearner\n"},
        follow=True,
    )
    assert response.status_code == 200
    notes = messages_of(response)
    secret = re.search(r"Secret of sis: (\S+)", " ".join(notes)).group(1)
    client = identity_api.authenticate_client("sis", secret)
    assert client is not None and client.name == "SIS"
    assert [role.value for role, _ in core_api.roles_of(client.user)] == ["learner", "program_admin"]
    page = admin_browser.get(f"{CLIENTS}{client.pk}/change/").content.decode()
    assert secret not in page
    assert client.secret_hash not in page
    assert "program_admin@organization:mitx" in page


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"client_name": "SIS", "roles": "program_admin"}, "needs a scope"),
        ({"client_name": "SIS", "roles": "program_admin org:MITx extra"}, "at most one scope"),
        ({"client_name": "SIS", "requested_client_id": "bad id"}, "Use only letters"),
        ({"client_name": "", "roles": ""}, "This field is required"),
    ],
)
def test_adding_a_client_with_bad_input_shows_errors(admin_browser, form, message):
    response = admin_browser.post(CLIENTS + "add/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ApiClient.objects.exists()


def test_client_list_reads_roles_in_bounded_queries(admin_browser, make_client, django_assert_max_num_queries):
    for number in range(5):
        make_client(roles=[("program_admin", f"org:Org{number}")])
    with django_assert_max_num_queries(12):
        response = admin_browser.get(CLIENTS)
    assert "program_admin@organization:org4" in response.content.decode()


def test_client_actions_rotate_deactivate_activate(admin_browser, make_client):
    client, old_secret = make_client(client_id="sis")
    response = admin_browser.post(CLIENTS, {"action": "rotate_secrets", "_selected_action": [client.pk]}, follow=True)
    new_secret = re.search(r"Secret of sis: (\S+)", " ".join(messages_of(response))).group(1)
    assert identity_api.authenticate_client("sis", old_secret) is None
    assert identity_api.authenticate_client("sis", new_secret) == client
    admin_browser.post(CLIENTS, {"action": "deactivate_clients", "_selected_action": [client.pk]})
    assert identity_api.authenticate_client("sis", new_secret) is None
    admin_browser.post(CLIENTS, {"action": "activate_clients", "_selected_action": [client.pk]})
    assert identity_api.authenticate_client("sis", new_secret) == client


def test_renaming_a_client(admin_browser, make_client):
    client, _ = make_client()
    response = admin_browser.post(f"{CLIENTS}{client.pk}/change/", {"name": "Renamed"})
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.name == "Renamed"


def test_clients_cannot_be_deleted_in_the_admin(admin_browser, make_client):
    client, _ = make_client()
    assert admin_browser.get(f"{CLIENTS}{client.pk}/delete/").status_code == 403
