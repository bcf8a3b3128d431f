"""/api/identity/v1/users/: operators list, search, create and read users."""

from __future__ import annotations

import uuid

import pytest

from rollbook.identity.models import User

URL = "/api/identity/v1/users/"


def usernames(response) -> list[str]:
    return [row["username"] for row in response.json()["results"]]


def test_only_operators_may_list_or_create(anon, learner_api):
    assert anon.get(URL).status_code == 401
    assert learner_api.get(URL).status_code == 403
    assert learner_api.post(URL, {"username": "x", "email": "x@example.com"}, format="json").status_code == 403


def test_operators_list_users_newest_first_in_bounded_queries(operator_api, make_user, django_assert_max_num_queries):
    for _ in range(10):
        make_user()
    with django_assert_max_num_queries(4):
        response = operator_api.get(URL, {"page_size": 5})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 5
    assert body["next"]
    assert set(body["results"][0]) == {
        "uuid",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_service_account",
        "date_joined",
    }
    following = operator_api.get(body["next"]).json()
    assert not set(usernames(response)) & {row["username"] for row in following["results"]}


def test_filters(operator_api, make_user, make_client):
    make_user("ada", "Ada.Lovelace@Example.com", first_name="Ada")
    make_user("bob", "bob@example.com", is_active=False)
    client, _ = make_client()
    assert usernames(operator_api.get(URL, {"email": "ada.lovelace@example.COM"})) == ["ada"]
    assert usernames(operator_api.get(URL, {"username": "bob"})) == ["bob"]
    assert usernames(operator_api.get(URL, {"is_active": "false"})) == ["bob"]
    assert usernames(operator_api.get(URL, {"is_service_account": "true"})) == [client.user.username]
    assert usernames(operator_api.get(URL, {"q": "LOVELACE"})) == ["ada"]


def test_bad_filter_and_page_size_are_400(operator_api):
    assert operator_api.get(URL, {"is_active": "perhaps"}).status_code == 400
    assert operator_api.get(URL, {"page_size": "many"}).status_code == 400


def test_create_user(operator_api):
    response = operator_api.post(
        URL,
        {"username": "ada", "email": "Ada@Example.com", "password": "correct-horse-battery-staple", "first_name": "A"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "Ada@Example.com"
    assert "password" not in body
    user = User.objects.get(uuid=body["uuid"])
    assert user.check_password("correct-horse-battery-staple")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "other", "email": "TAKEN@example.com"}, "email"),
        ({"username": "TAKEN", "email": "new@example.com"}, "username"),
        ({"username": "new", "email": "not-an-email"}, "email"),
        ({"username": "new", "email": "new@example.com", "password": "123"}, "password"),
        ({"username": "new"}, "email"),
        ({"username": ["a"], "email": "new@example.com"}, "username"),
    ],
)
def test_create_user_errors_are_400_with_field_errors(operator_api, make_user, payload, field):
    make_user("taken", "taken@example.com")
    response = operator_api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_read_one_user_by_uuid(operator_api, make_user):
    user = make_user("ada")
    assert operator_api.get(f"{URL}{user.uuid}/").json()["username"] == "ada"
    assert operator_api.get(f"{URL}{uuid.uuid4()}/").status_code == 404
    assert operator_api.get(f"{URL}not-a-uuid/").status_code == 404
