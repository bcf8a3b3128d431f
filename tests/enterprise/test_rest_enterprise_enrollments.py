"""``GET /enterprise/api/v1/enterprise-course-enrollment/``: the enterprise enrollments each caller may see,
their fields (license, default intention realized), filters, paging and bad parameters."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.models import CourseEnrollment
from rollbook.enterprise import api
from rollbook.enterprise.data import EnrollItem, LicenseStatus
from rollbook.enterprise.models import EnterpriseCourseEnrollment, EnterpriseCustomerUser, License
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_KEY

URL = "/enterprise/api/v1/enterprise-course-enrollment/"
FIELDS = {
    "id",
    "enterprise_customer_user",
    "user_id",
    "course_run_key",
    "mode",
    "is_active",
    "source",
    "license_uuid",
    "saved_for_later",
    "unenrolled",
    "unenrolled_at",
    "created",
    "default_intention_uuid",
}


def license_of(plan, user) -> License:
    return License.objects.get(plan=plan, user=user, status=LicenseStatus.ACTIVATED)


def enroll_with_license(customer, plan, user, course_key: str) -> None:
    [result] = api.enroll_learners_in_courses(
        customer, [EnrollItem(course_key, user_id=user.pk, license_uuid=str(license_of(plan, user).uuid))]
    )
    assert result.outcome == "success", result.message


def left_manual_enrollment(customer, user, course_key: str) -> EnterpriseCourseEnrollment:
    """A manual enterprise enrollment the learner has left (made with the ORM: no api call does this)."""
    data = enrollments_api.enroll(user, course_key, "audit")
    return EnterpriseCourseEnrollment.objects.create(
        customer_user=EnterpriseCustomerUser.objects.get(customer=customer, user=user),
        course_enrollment=CourseEnrollment.objects.get(uuid=data.uuid),
        source="manual",
        unenrolled=True,
        unenrolled_at=timezone.now(),
    )


@pytest.fixture
def world(acme, acme_plan, acme_learner, make_acme_learner, globex, globex_plan, globex_learner):
    """acme_learner: a realized default enrollment in Python and a left manual one in Data; another acme learner:
    Python through the API; globex_learner: Art through the API."""
    intention = api.create_intention(acme, PYTHON_KEY)
    api.realize_default_enrollments(acme, acme_learner)
    left = left_manual_enrollment(acme, acme_learner, DATA_KEY)
    other = make_acme_learner()
    enroll_with_license(acme, acme_plan, other, PYTHON_KEY)
    enroll_with_license(globex, globex_plan, globex_learner, ART_KEY)
    return {"intention": intention, "left": left, "other": other}


def rows(response) -> list[tuple[int, str]]:
    return [(row["user_id"], row["course_run_key"]) for row in response.json()["results"]]


def test_admins_see_their_customers_enrollments_with_every_field(acme_admin, client_for, acme, acme_plan, world):
    acme_learner = world["left"].customer_user.user

    response = client_for(acme_admin).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert set(body) == {"count", "next", "previous", "results"}
    assert rows(response) == [
        (acme_learner.pk, PYTHON_KEY),
        (acme_learner.pk, DATA_KEY),
        (world["other"].pk, PYTHON_KEY),
    ]
    realized, left, other = body["results"]
    assert all(set(row) == FIELDS for row in body["results"])
    assert realized["source"] == "default_enrollment"
    assert realized["default_intention_uuid"] == str(world["intention"].uuid)
    assert realized["license_uuid"] == str(license_of(acme_plan, acme_learner).uuid)
    assert (realized["mode"], realized["is_active"], realized["unenrolled"]) == ("verified", True, None)
    assert realized["enterprise_customer_user"] == world["left"].customer_user_id
    assert (left["source"], left["unenrolled"], left["license_uuid"], left["default_intention_uuid"]) == (
        "manual",
        True,
        None,
        None,
    )
    assert left["unenrolled_at"] is not None
    assert (other["source"], other["saved_for_later"]) == ("api", False)


def test_learners_see_only_their_own(acme_learner, client_for, acme, world):
    response = client_for(acme_learner).get(URL)

    assert response.status_code == 200
    assert rows(response) == [(acme_learner.pk, PYTHON_KEY), (acme_learner.pk, DATA_KEY)]

    in_acme = client_for(acme_learner).get(f"{URL}?enterprise_customer_uuid={acme.uuid}")
    assert rows(in_acme) == rows(response)


def test_operators_see_every_customer_and_may_pick_one(operator_api, acme, globex, globex_learner, world):
    assert operator_api.get(URL).json()["count"] == 4

    response = operator_api.get(f"{URL}?enterprise_customer_uuid={globex.uuid}")

    assert rows(response) == [(globex_learner.pk, ART_KEY)]


def test_callers_of_no_customer_see_nothing(client_for, make_user, world):
    assert client_for(make_user()).get(URL).json()["count"] == 0


def test_filters(acme_admin, client_for, acme, world):
    client = client_for(acme_admin)

    assert [key for _user, key in rows(client.get(URL, {"course_run_key": PYTHON_KEY}))] == [PYTHON_KEY] * 2
    assert rows(client.get(f"{URL}?unenrolled=true")) == [(world["left"].customer_user.user_id, DATA_KEY)]
    assert len(rows(client.get(f"{URL}?unenrolled=false"))) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("enterprise_customer_uuid=nope", "enterprise_customer_uuid"),
        ("course_run_key=not-a-key", "course_run_key"),
        ("unenrolled=sometimes", "unenrolled"),
        ("page_size=0", "page_size"),
        ("page_size=x", "page_size"),
    ],
)
def test_bad_parameters_are_400s(acme_admin, client_for, acme, query, field):
    response = client_for(acme_admin).get(f"{URL}?{query}")

    assert response.status_code == 400
    assert field in response.json()


def test_a_customer_the_caller_may_not_read_is_a_403(acme_admin, client_for, world):
    response = client_for(acme_admin).get(f"{URL}?enterprise_customer_uuid={uuid.uuid4()}")

    assert response.status_code == 403


def test_the_list_is_paged(acme_admin, client_for, world):
    client = client_for(acme_admin)

    first = client.get(f"{URL}?page_size=2").json()
    second = client.get(first["next"]).json()

    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert second["next"] is None


def test_listing_takes_a_constant_number_of_queries(acme_admin, client_for, acme, acme_plan, make_acme_learner):
    api.create_intention(acme, PYTHON_KEY)
    client = client_for(acme_admin)
    first = make_acme_learner()
    api.realize_default_enrollments(acme, first)
    left_manual_enrollment(acme, first, DATA_KEY)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).json()["count"] == 2
    for _ in range(3):
        learner = make_acme_learner()
        api.realize_default_enrollments(acme, learner)
        left_manual_enrollment(acme, learner, DATA_KEY)
    with CaptureQueriesContext(connection) as many:
        assert client.get(URL).json()["count"] == 8
    assert len(many.captured_queries) == len(few.captured_queries)


def test_enrollments_cannot_be_written_here(acme_learner, client_for, world):
    client = client_for(acme_learner)

    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(URL, {}, format="json").status_code == 405


# --- PATCH enterprise-course-enrollment/{id}/: saved for later -------------------------------------


def detail(row: EnterpriseCourseEnrollment) -> str:
    return f"{URL}{row.pk}/"


def realized_row(world) -> EnterpriseCourseEnrollment:
    """acme_learner's realized Python enrollment."""
    return EnterpriseCourseEnrollment.objects.get(
        customer_user=world["left"].customer_user, course_enrollment__course_run__course_key=PYTHON_KEY
    )


def saved_flags() -> dict[int, bool]:
    return dict(EnterpriseCourseEnrollment.objects.values_list("pk", "saved_for_later"))


def test_learners_save_their_enrollment_for_later_and_take_it_back(acme_learner, client_for, world):
    row = realized_row(world)
    client = client_for(acme_learner)

    saved = client.patch(detail(row), {"saved_for_later": True}, format="json")

    assert saved.status_code == 200
    body = saved.json()
    assert set(body) == FIELDS
    assert (body["id"], body["user_id"], body["course_run_key"]) == (row.pk, acme_learner.pk, PYTHON_KEY)
    assert body["saved_for_later"] is True
    assert body["default_intention_uuid"] == str(world["intention"].uuid)
    row.refresh_from_db()
    assert row.saved_for_later is True
    assert row.history.first().saved_for_later is True

    again = client.patch(detail(row), {"saved_for_later": True}, format="json")
    assert (again.status_code, again.json()["saved_for_later"]) == (200, True)
    assert row.history.count() == 2  # created, saved: the repeat wrote nothing

    back = client.patch(detail(row), {"saved_for_later": False}, format="json")
    assert (back.status_code, back.json()["saved_for_later"]) == (200, False)
    assert client.get(URL).json()["results"][0]["saved_for_later"] is False


def test_operators_may_save_any_enrollment_for_later(operator_api, world):
    row = realized_row(world)

    response = operator_api.patch(detail(row), {"saved_for_later": True}, format="json")

    assert (response.status_code, response.json()["saved_for_later"]) == (200, True)


def test_the_customers_admins_may_not_save_a_learners_enrollment_for_later(acme_admin, client_for, world):
    before = saved_flags()

    response = client_for(acme_admin).patch(detail(realized_row(world)), {"saved_for_later": True}, format="json")

    assert response.status_code == 403
    assert saved_flags() == before


def test_another_learner_of_the_customer_gets_a_404(client_for, world):
    before = saved_flags()

    response = client_for(world["other"]).patch(detail(realized_row(world)), {"saved_for_later": True}, format="json")

    assert response.status_code == 404
    assert saved_flags() == before


@pytest.mark.parametrize(
    "path", ["0/", "999999999/", "abc/", "-1/", "1.5/", "%D9%A3/", f"{2**63 - 1}/", f"{2**63}/", "9" * 40 + "/"]
)
def test_unknown_and_malformed_ids_are_404s(operator_api, world, path):
    response = operator_api.patch(URL + path, {"saved_for_later": True}, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"saved_for_later": "true"}, "saved_for_later"),
        ({"saved_for_later": 1}, "saved_for_later"),
        ({"saved_for_later": None}, "saved_for_later"),
        ({}, "saved_for_later"),
        ({"saved_for_later": True, "mode": "audit"}, "mode"),
        ([True], "non_field_errors"),
        ("true", "non_field_errors"),
    ],
)
def test_bad_bodies_are_400s(acme_learner, client_for, world, body, field):
    before = saved_flags()

    response = client_for(acme_learner).patch(detail(realized_row(world)), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert saved_flags() == before


def test_anonymous_callers_get_a_401(anon, world):
    response = anon.patch(detail(realized_row(world)), {"saved_for_later": True}, format="json")

    assert response.status_code == 401


def test_an_enrollment_is_only_patched(acme_learner, client_for, world):
    client = client_for(acme_learner)
    path = detail(realized_row(world))

    for method in ("get", "post", "put", "delete"):
        assert getattr(client, method)(path, {"saved_for_later": True}, format="json").status_code == 405
