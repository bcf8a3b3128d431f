"""REST API at /api/enrollments/v1/: permissions, validation, filters, bulk statuses, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from rollbook.enrollments import api
from rollbook.enrollments.models import CourseEnrollment

LIST = "/api/enrollments/v1/enrollments/"
BULK = "/api/enrollments/v1/enrollments/bulk/"


def detail(enrollment_uuid) -> str:
    return f"{LIST}{enrollment_uuid}/"


# --- authentication and who may act for whom -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST), ("post", LIST), ("post", BULK), ("get", detail("8d5f5f7e-0000-4000-8000-000000000000"))],
)
def test_anonymous_callers_get_401(anon, db, method, url):
    assert getattr(anon, method)(url, {}, format="json").status_code == 401


def test_learner_enrolls_themselves_in_the_best_free_mode(learner_api, learner, run):
    response = learner_api.post(LIST, {"course_key": str(run.course_key)}, format="json")

    assert response.status_code == 201, response.data
    assert response.data["user"] == learner.username
    assert response.data["mode"] == "audit"  # verified costs money
    assert response.data["is_active"] is True
    assert api.is_enrolled(learner, run.course_key)

    again = learner_api.post(LIST, {"course_key": str(run.course_key), "user": learner.username}, format="json")
    assert again.status_code == 200
    assert again.data["uuid"] == response.data["uuid"]


def test_learner_may_not_enroll_someone_else(learner_api, make_user, run):
    other = make_user()
    response = learner_api.post(LIST, {"course_key": str(run.course_key), "user": other.username}, format="json")
    assert response.status_code == 403
    assert not CourseEnrollment.objects.exists()


def test_learner_may_not_skip_access_checks(learner_api, closed_run):
    response = learner_api.post(
        LIST, {"course_key": str(closed_run.course_key), "skip_access_checks": True}, format="json"
    )
    assert response.status_code == 403


def test_learner_may_not_pick_a_paid_mode(learner_api, run):
    response = learner_api.post(LIST, {"course_key": str(run.course_key), "mode": "verified"}, format="json")
    assert response.status_code == 400
    assert "mode" in response.data


def test_learner_is_held_to_the_enrollment_window(learner_api, closed_run):
    response = learner_api.post(LIST, {"course_key": str(closed_run.course_key)}, format="json")
    assert response.status_code == 400
    assert "course_key" in response.data


def test_operator_enrolls_anyone_in_any_mode_and_may_skip_checks(operator_api, make_user, run, closed_run):
    other = make_user()
    paid = operator_api.post(
        LIST, {"course_key": str(run.course_key), "user": other.username, "mode": "verified"}, format="json"
    )
    assert paid.status_code == 201, paid.data
    assert (paid.data["user"], paid.data["mode"]) == (other.username, "verified")

    closed = {"course_key": str(closed_run.course_key), "user": other.username}
    assert operator_api.post(LIST, closed, format="json").status_code == 400
    assert operator_api.post(LIST, {**closed, "skip_access_checks": True}, format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"course_key": "not a key"}, "course_key"),
        ({"course_key": "course-v1:TestX+Missing+2030"}, "course_key"),
        ({"course_key": ["course-v1:TestX+Open+2030"]}, "course_key"),
        ({}, "course_key"),
        ({"course_key": "course-v1:TestX+Open+2030", "mode": "gold"}, "mode"),
        ({"course_key": "course-v1:TestX+Open+2030", "mode": 5}, "mode"),
        ({"course_key": "course-v1:TestX+Open+2030", "mode": "professional"}, "mode"),
        ({"course_key": "course-v1:TestX+Open+2030", "user": "nobody"}, "user"),
        ({"course_key": "course-v1:TestX+Open+2030", "skip_access_checks": "perhaps"}, "skip_access_checks"),
    ],
)
def test_bad_create_input_is_a_400_naming_the_field(operator_api, run, body, field):
    response = operator_api.post(LIST, body, format="json")
    assert response.status_code == 400, response.data
    assert field in response.data


def test_create_body_that_is_not_an_object_is_a_400(operator_api, run):
    response = operator_api.post(LIST, [{"course_key": str(run.course_key)}], format="json")
    assert response.status_code == 400
    garbled = operator_api.post(LIST, "{not json", content_type="application/json")
    assert garbled.status_code == 400


# --- reading -------------------------------------------------------------------------------------


@pytest.fixture
def two_learners_enrolled(learner, make_user, make_run):
    """The learner and another user, each enrolled in two runs (one of the other user's inactive)."""
    other = make_user()
    first, second = make_run("course-v1:TestX+First+2030"), make_run("course-v1:TestX+Second+2030")
    mine = [api.enroll(learner, first.course_key, "audit"), api.enroll(learner, second.course_key, "verified")]
    theirs = [api.enroll(other, first.course_key, "verified"), api.enroll(other, second.course_key, "audit")]
    theirs[1] = api.unenroll(other, second.course_key)
    return mine, theirs, other


def uuids(response) -> set[str]:
    return {item["uuid"] for item in response.data["results"]}


def test_learner_lists_only_their_own(learner_api, two_learners_enrolled):
    mine, _theirs, other = two_learners_enrolled
    response = learner_api.get(LIST)
    assert response.status_code == 200
    assert uuids(response) == {str(e.uuid) for e in mine}
    assert learner_api.get(LIST, {"username": other.username}).data["results"] == []


def test_operator_lists_everything_with_filters(operator_api, two_learners_enrolled):
    mine, theirs, other = two_learners_enrolled
    everything = {str(e.uuid) for e in mine + theirs}
    assert uuids(operator_api.get(LIST)) == everything
    assert uuids(operator_api.get(LIST, {"username": other.username})) == {str(e.uuid) for e in theirs}
    assert uuids(operator_api.get(LIST, {"course_key": "course-v1:TestX+First+2030"})) == {
        str(mine[0].uuid),
        str(theirs[0].uuid),
    }
    assert uuids(operator_api.get(LIST, {"mode": "verified"})) == {str(mine[1].uuid), str(theirs[0].uuid)}
    assert uuids(operator_api.get(LIST, {"is_active": "false"})) == {str(theirs[1].uuid)}
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert uuids(operator_api.get(LIST, {"created_after": past, "created_before": future})) == everything
    assert uuids(operator_api.get(LIST, {"created_after": future})) == set()
    assert uuids(operator_api.get(LIST, {"created_before": past})) == set()


def test_list_pages_newest_first(operator_api, two_learners_enrolled):
    first_page = operator_api.get(LIST, {"page_size": 3})
    assert len(first_page.data["results"]) == 3
    second_page = operator_api.get(first_page.data["next"])
    assert len(second_page.data["results"]) == 1
    created = [item["created"] for item in first_page.data["results"] + second_page.data["results"]]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"course_key": "nope"}, "course_key"),
        ({"is_active": "maybe"}, "is_active"),
        ({"mode": "gold"}, "mode"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"page_size": "0"}, "page_size"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(operator_api, db, params, field):
    response = operator_api.get(LIST, params)
    assert response.status_code == 400, response.data
    assert field in response.data


def test_list_query_count_does_not_grow_with_rows(
    operator_api, learner, make_users, make_run, django_assert_max_num_queries
):
    runs = [make_run() for _ in range(2)]
    api.enroll(learner, runs[0].course_key)
    with django_assert_max_num_queries(3) as few:
        assert len(operator_api.get(LIST).data["results"]) == 1
    for user in make_users(20):
        for run in runs:
            api.enroll(user, run.course_key)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(operator_api.get(LIST).data["results"]) == 41


def test_retrieve_own_other_and_unknown(learner_api, operator_api, two_learners_enrolled):
    mine, theirs, _other = two_learners_enrolled
    own = learner_api.get(detail(mine[0].uuid))
    assert own.status_code == 200
    assert own.data["course_key"] == "course-v1:TestX+First+2030"
    assert learner_api.get(detail(theirs[0].uuid)).status_code == 404
    assert operator_api.get(detail(theirs[0].uuid)).status_code == 200
    assert operator_api.get(detail("8d5f5f7e-0000-4000-8000-000000000000")).status_code == 404
    assert operator_api.get(detail("not-a-uuid")).status_code == 404


# --- updating ------------------------------------------------------------------------------------


def test_learner_unenrolls_and_reenrolls_by_patch(learner_api, learner, run):
    created = learner_api.post(LIST, {"course_key": str(run.course_key)}, format="json").data
    off = learner_api.patch(detail(created["uuid"]), {"is_active": False}, format="json")
    assert off.status_code == 200 and off.data["is_active"] is False
    assert learner_api.patch(detail(created["uuid"]), {"is_active": False}, format="json").status_code == 200
    assert not api.is_enrolled(learner, run.course_key)
    on = learner_api.patch(detail(created["uuid"]), {"is_active": True}, format="json")
    assert on.status_code == 200 and on.data["is_active"] is True


def test_learner_patch_rules(learner_api, learner, closed_run, two_learners_enrolled):
    mine, theirs, _other = two_learners_enrolled
    assert learner_api.patch(detail(theirs[0].uuid), {"is_active": False}, format="json").status_code == 404
    paid = learner_api.patch(detail(mine[0].uuid), {"mode": "verified"}, format="json")
    assert paid.status_code == 400 and "mode" in paid.data
    skip = learner_api.patch(detail(mine[0].uuid), {"is_active": True, "skip_access_checks": True}, format="json")
    assert skip.status_code == 403
    closed = api.enroll(learner, closed_run.course_key, skip_access_checks=True)
    api.unenroll(learner, closed_run.course_key)
    reopen = learner_api.patch(detail(closed.uuid), {"is_active": True}, format="json")
    assert reopen.status_code == 400 and "is_active" in reopen.data


def test_operator_patches_mode(operator_api, two_learners_enrolled):
    mine, _theirs, _other = two_learners_enrolled
    response = operator_api.patch(detail(mine[0].uuid), {"mode": "verified"}, format="json")
    assert response.status_code == 200 and response.data["mode"] == "verified"
    assert api.get_enrollment_by_uuid(mine[0].uuid).mode == "verified"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "non_field_errors"),
        ({"is_active": "sometimes"}, "is_active"),
        ({"mode": "gold"}, "mode"),
        ({"mode": "masters"}, "mode"),
    ],
)
def test_bad_patch_input_is_a_400(operator_api, two_learners_enrolled, body, field):
    mine, _theirs, _other = two_learners_enrolled
    response = operator_api.patch(detail(mine[0].uuid), body, format="json")
    assert response.status_code == 400, response.data
    assert field in response.data


def test_put_and_delete_are_not_allowed(operator_api, two_learners_enrolled):
    mine, _theirs, _other = two_learners_enrolled
    assert operator_api.put(detail(mine[0].uuid), {"is_active": False}, format="json").status_code == 405
    assert operator_api.delete(detail(mine[0].uuid)).status_code == 405


# --- bulk ----------------------------------------------------------------------------------------


def test_bulk_all_ok_is_200(operator_api, make_users, run):
    users = make_users(3)
    body = {"requests": [{"username": u.username, "course_key": str(run.course_key)} for u in users]}

    response = operator_api.post(BULK, body, format="json")

    assert response.status_code == 200, response.data
    assert [r["status"] for r in response.data["results"]] == ["enrolled"] * 3
    assert response.data["summary"] == {"enrolled": 3}
    assert [r["enrollment"]["user"] for r in response.data["results"]] == [u.username for u in users]


def test_bulk_mixed_is_207_and_echoes_each_request(operator_api, make_users, run):
    user = make_users(1)[0]
    body = {
        "requests": [
            {"email": user.email, "course_key": str(run.course_key), "mode": "audit"},
            {"user_id": 999999, "course_key": str(run.course_key)},
            {"username": user.username, "course_key": "garbage"},
        ]
    }

    response = operator_api.post(BULK, body, format="json")

    assert response.status_code == 207
    results = response.data["results"]
    assert [r["status"] for r in results] == ["enrolled", "unknown_user", "invalid_course_key"]
    assert (results[0]["email"], results[0]["mode"], results[0]["enrollment"]["mode"]) == (user.email, "audit", "audit")
    assert results[1]["user_id"] == 999999 and results[1]["enrollment"] is None and results[1]["message"]
    assert results[2]["course_key"] == "garbage"


def test_bulk_none_ok_is_422(operator_api, make_users, run, closed_run):
    user = make_users(1)[0]
    body = {
        "requests": [
            {"username": user.username, "course_key": str(closed_run.course_key)},
            {"username": user.username, "course_key": str(run.course_key), "mode": "gold"},
        ]
    }
    response = operator_api.post(BULK, body, format="json")
    assert response.status_code == 422
    assert response.data["summary"] == {"not_enrollable": 1, "invalid_mode": 1}
    assert not CourseEnrollment.objects.exists()

    response = operator_api.post(BULK, {**body, "skip_access_checks": True}, format="json")
    assert response.status_code == 207


def test_bulk_over_the_limit_is_413(operator_api, settings, run):
    settings.BULK_MAX_ITEMS = 2
    body = {"requests": [{"user_id": n, "course_key": str(run.course_key)} for n in range(1, 4)]}
    response = operator_api.post(BULK, body, format="json")
    assert response.status_code == 413
    assert "requests" in response.data


@pytest.mark.parametrize(
    "body",
    [
        {"requests": []},
        {},
        {"requests": "everyone"},
        {"requests": [{"course_key": "course-v1:TestX+Open+2030"}]},
        {"requests": [{"username": "a", "email": "a@example.com", "course_key": "course-v1:TestX+Open+2030"}]},
        {"requests": [{"user_id": "seven", "course_key": "course-v1:TestX+Open+2030"}]},
        {"requests": [{"username": "a"}]},
        [{"username": "a", "course_key": "course-v1:TestX+Open+2030"}],
    ],
)
def test_bulk_malformed_body_is_a_400(operator_api, run, body):
    response = operator_api.post(BULK, body, format="json")
    assert response.status_code == 400, response.data


def test_bulk_is_for_operators_only(learner_api, learner, run):
    body = {"requests": [{"username": learner.username, "course_key": str(run.course_key)}]}
    assert learner_api.post(BULK, body, format="json").status_code == 403


def test_bulk_endpoint_query_count_does_not_grow_with_items(
    operator_api, make_users, make_run, django_assert_max_num_queries
):
    runs = [make_run() for _ in range(4)]
    users = make_users(50)
    one = {"requests": [{"user_id": users[0].pk, "course_key": str(runs[0].course_key)}]}
    with django_assert_max_num_queries(14) as few:
        assert operator_api.post(BULK, one, format="json").status_code == 200
    many = {"requests": [{"user_id": u.pk, "course_key": str(r.course_key)} for u in users[1:] for r in runs]}
    with django_assert_max_num_queries(len(few.captured_queries) + 8):
        response = operator_api.post(BULK, many, format="json")
    assert response.status_code == 200
    assert response.data["summary"] == {"enrolled": 49 * 4}


# --- OpenAPI -------------------------------------------------------------------------------------


def test_openapi_schema_documents_the_endpoints_without_warnings(db):
    GENERATOR_STATS.reset()
    patterns = [path("api/enrollments/v1/", include("rollbook.enrollments.rest.urls"))]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)

    paths = schema["paths"]
    assert set(paths["/api/enrollments/v1/enrollments/"]) == {"get", "post"}
    assert set(paths["/api/enrollments/v1/enrollments/{uuid}/"]) == {"get", "patch"}
    assert set(paths["/api/enrollments/v1/enrollments/bulk/"]["post"]["responses"]) >= {
        "200",
        "207",
        "400",
        "413",
        "422",
    }
    list_params = {p["name"] for p in paths["/api/enrollments/v1/enrollments/"]["get"]["parameters"]}
    assert list_params >= {"course_key", "username", "mode", "is_active", "created_after", "created_before"}
    # The JWT authenticator lives in core and is documented through SPECTACULAR_SETTINGS; only our own warnings count.
    ours = [w for w in GENERATOR_STATS._warn_cache if "could not resolve authenticator" not in w]
    assert ours == []
    assert not GENERATOR_STATS._error_cache
