"""Identity providers and SSO links: external user keys matched ignoring case, one link per key and per user."""

from __future__ import annotations

import pytest

from rollbook.catalog.models import Organization
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.identity import api as identity_api
from rollbook.identity.models import IdentityProvider, SsoLink

# --- providers ----------------------------------------------------------------------------------


def test_create_identity_provider_lowercases_the_slug(db):
    organization = Organization.objects.create(short_name="MITx", name="MIT")
    provider = identity_api.create_identity_provider(" MIT-SSO ", "MIT login", organization=organization)
    assert (provider.slug, provider.name, provider.organization, provider.enabled) == (
        "mit-sso",
        "MIT login",
        organization,
        True,
    )
    assert identity_api.get_identity_provider("Mit-Sso") == provider


def test_create_identity_provider_errors(provider):
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_identity_provider("MIT-sso", "Again")
    assert list(caught.value.errors) == ["slug"]
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_identity_provider("has spaces", "")
    assert set(caught.value.errors) == {"slug", "name"}
    with pytest.raises(InvalidInput) as caught:
        identity_api.create_identity_provider("new", "New", organization=Organization(short_name="X", name="X"))
    assert list(caught.value.errors) == ["organization"]
    assert IdentityProvider.objects.count() == 1


def test_get_unknown_identity_provider_is_not_found(db):
    with pytest.raises(NotFound):
        identity_api.get_identity_provider("nope")


def test_disable_and_enable_keep_history(provider):
    identity_api.disable_identity_provider("mit-sso")
    provider.refresh_from_db()
    assert not provider.enabled
    identity_api.enable_identity_provider(provider)
    provider.refresh_from_db()
    assert provider.enabled
    assert [h.enabled for h in provider.history.order_by("history_id")] == [True, False, True]


def test_update_identity_provider(provider):
    organization = Organization.objects.create(short_name="MITx", name="MIT")
    identity_api.update_identity_provider("mit-sso", name="MIT touchstone", organization=organization)
    provider.refresh_from_db()
    assert (provider.name, provider.organization) == ("MIT touchstone", organization)
    with pytest.raises(InvalidInput):
        identity_api.update_identity_provider(provider, name=" ", organization=None)


# --- linking ------------------------------------------------------------------------------------


def test_link_sso_is_idempotent_and_ignores_case(provider, make_user):
    user = make_user()
    link = identity_api.link_sso("mit-sso", " Student-42 ", user)
    assert (link.external_user_key, link.external_user_key_normalized) == ("Student-42", "student-42")
    assert identity_api.link_sso(provider, "STUDENT-42", user) == link
    assert SsoLink.objects.count() == 1
    assert SsoLink.history.count() == 1


def test_a_key_linked_to_one_user_cannot_be_linked_to_another(provider, make_user):
    first, second = make_user(), make_user()
    identity_api.link_sso(provider, "student-42", first)
    with pytest.raises(Conflict, match="already linked to another user"):
        identity_api.link_sso(provider, "STUDENT-42", second)
    assert identity_api.user_for_external_key("mit-sso", "student-42") == first


def test_a_user_linked_with_one_key_cannot_be_linked_with_another(provider, make_user):
    user = make_user()
    identity_api.link_sso(provider, "student-42", user)
    with pytest.raises(Conflict, match="already linked at mit-sso with the key 'student-42'"):
        identity_api.link_sso(provider, "student-43", user)


def test_the_same_key_may_be_linked_at_another_provider(provider, make_user):
    other_provider = identity_api.create_identity_provider("harvard-sso", "Harvard")
    first, second = make_user(), make_user()
    identity_api.link_sso(provider, "student-42", first)
    identity_api.link_sso(other_provider, "student-42", second)
    assert identity_api.user_for_external_key("harvard-sso", "Student-42") == second


def test_link_sso_input_errors(provider, make_user):
    user = make_user()
    with pytest.raises(InvalidInput) as caught:
        identity_api.link_sso(provider, "   ", user)
    assert list(caught.value.errors) == ["external_user_key"]
    with pytest.raises(InvalidInput):
        identity_api.link_sso(provider, "k" * 256, user)
    with pytest.raises(NotFound):
        identity_api.link_sso("unknown", "student-42", user)
    identity_api.disable_identity_provider(provider)
    with pytest.raises(InvalidInput) as caught:
        identity_api.link_sso(provider, "student-42", user)
    assert list(caught.value.errors) == ["provider"]
    assert not SsoLink.objects.exists()


def test_check_sso_link_writes_nothing(provider, make_user):
    user = make_user()
    assert identity_api.check_sso_link(provider, "student-42", user) is None
    assert not SsoLink.objects.exists()


def test_unlink_sso_by_user_or_key(provider, make_user):
    first, second = make_user(), make_user()
    identity_api.link_sso(provider, "student-1", first)
    identity_api.link_sso(provider, "student-2", second)
    assert identity_api.unlink_sso(provider, user=first) is True
    assert identity_api.unlink_sso("mit-sso", external_user_key="STUDENT-2") is True
    assert identity_api.unlink_sso(provider, user=first) is False
    assert not SsoLink.objects.exists()
    assert SsoLink.history.filter(history_type="-").count() == 2
    with pytest.raises(TypeError):
        identity_api.unlink_sso(provider)
    with pytest.raises(TypeError):
        identity_api.unlink_sso(provider, user=first, external_user_key="student-1")


# --- resolving ----------------------------------------------------------------------------------


def test_user_for_external_key(provider, make_user):
    user = make_user()
    identity_api.link_sso(provider, "Student-42", user)
    assert identity_api.user_for_external_key("MIT-SSO", " student-42 ") == user
    assert identity_api.user_for_external_key("mit-sso", "student-43") is None
    assert identity_api.user_for_external_key("mit-sso", "") is None
    with pytest.raises(NotFound):
        identity_api.user_for_external_key("unknown", "student-42")


def test_links_keep_resolving_after_the_provider_is_disabled(provider, make_user):
    user = make_user()
    identity_api.link_sso(provider, "student-42", user)
    identity_api.disable_identity_provider(provider)
    assert identity_api.user_for_external_key("mit-sso", "student-42") == user


def test_users_for_external_keys_resolves_in_one_query_keyed_by_normalised_key(
    provider, make_user, django_assert_num_queries
):
    users = [make_user() for _ in range(3)]
    for number, user in enumerate(users):
        identity_api.link_sso(provider, f"Student-{number}", user)
    keys = ["STUDENT-0", "student-1", " Student-2 ", "student-9", "student-0", ""]
    with django_assert_num_queries(1):
        found = identity_api.users_for_external_keys("mit-sso", keys)
    assert found == {"student-0": users[0], "student-1": users[1], "student-2": users[2]}
    assert found[normalise_key(" Student-2 ")] == users[2]


def test_users_for_external_keys_queries_once_per_batch(provider, make_user, settings, django_assert_num_queries):
    settings.BULK_BATCH_SIZE = 2
    users = [make_user() for _ in range(5)]
    for number, user in enumerate(users):
        identity_api.link_sso(provider, f"key-{number}", user)
    with django_assert_num_queries(3):
        found = identity_api.users_for_external_keys("mit-sso", [f"KEY-{n}" for n in range(5)])
    assert len(found) == 5


def test_users_for_external_keys_tells_an_unknown_provider_from_no_links(provider):
    assert identity_api.users_for_external_keys("mit-sso", ["nobody"]) == {}
    assert identity_api.users_for_external_keys("mit-sso", []) == {}
    with pytest.raises(NotFound):
        identity_api.users_for_external_keys("unknown", ["nobody"])
    with pytest.raises(NotFound):
        identity_api.users_for_external_keys("unknown", [])


def test_external_keys_for_users(provider, make_user, django_assert_num_queries):
    linked, unlinked = make_user(), make_user()
    identity_api.link_sso(provider, "Student-42", linked)
    with django_assert_num_queries(2):  # the provider, then the links
        keys = identity_api.external_keys_for_users("mit-sso", [linked, unlinked.pk])
    assert keys == {linked.pk: "Student-42"}


def test_linking_announces_the_link_after_commit(django_capture_on_commit_callbacks, make_user):
    from rollbook.identity import api as identity_api
    from rollbook.identity.signals import sso_link_saved

    provider = identity_api.create_identity_provider("uni-sso", "University")
    user = make_user()
    received = []

    def receiver(sender, link, **kwargs):
        received.append(link)

    sso_link_saved.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            identity_api.link_sso(provider, "S-001", user)
        assert [(e.provider_slug, e.external_user_key, e.user_id) for e in received] == [("uni-sso", "S-001", user.pk)]
        with django_capture_on_commit_callbacks(execute=True):
            identity_api.link_sso(provider, "s-001", user)  # the same link again, any case: announced again
        assert len(received) == 2
    finally:
        sso_link_saved.disconnect(receiver)
