"""The default-enrollment-intention REST endpoints (``/enterprise/api/v1/default-enterprise-enrollment-intentions/``):
list, create, detail, soft delete and restore, their shapes, bad input, who may do what, and the realization
scheduled for existing learners when an intention is created or restored."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollbook.enterprise import api
from rollbook.enterprise.models import (
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCourseEnrollment,
)
from tests.enterprise.conftest import ART_KEY, CLOSED_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

BASE = "/enterprise/api/v1/default-enterprise-enrollment-intentions/"
ITEM_FIELDS = {
    "uuid",
    "content_key",
    "content_type",
    "enterprise_customer",
    "course_run_key",
    "is_course_run_enrollable",
    "course_run_enroll_by_date",
    "best_mode_for_course_run",
    "applicable_enterprise_catalog_uuids",
    "course_key",
    "created",
    "modified",
    "is_removed",
}


def list_url(customer, query: str = "") -> str:
    return f"{BASE}?enterprise_customer_uuid={customer.uuid}" + (f"&{query}" if query else "")


def detail_url(intention) -> str:
    return f"{BASE}{intention.uuid}/"


def restore_url(intention) -> str:
    return f"{BASE}{intention.uuid}/restore/"


def realizations_of(intention) -> list[tuple[int, str, str]]:
    """(user id, run key, mode) of the enrollments the intention realized."""
    rows = DefaultEnrollmentRealization.objects.filter(intention=intention).select_related(
        "realized_enrollment__customer_user", "realized_enrollment__course_enrollment__course_run"
    )
    return sorted(
        (
            row.realized_enrollment.customer_user.user_id,
            str(row.realized_enrollment.course_enrollment.course_run.course_key),
            row.realized_enrollment.course_enrollment.mode,
        )
        for row in rows
    )


@pytest.fixture
def admin_api(acme_admin, client_for):
    return client_for(acme_admin)


@pytest.fixture
def acme_learner_api(acme_learner, client_for):
    return client_for(acme_learner)


@pytest.fixture
def intentions(acme, acme_plan):
    """Acme's intentions: Python (run), ElseU Art (a run outside acme's catalogs), and the Python course."""
    return {
        "python": api.create_intention(acme, PYTHON_KEY),
        "art": api.create_intention(acme, ART_KEY),
        "course": api.create_intention(acme, "catalog-course:EntU:Data"),
    }


# --- listing -------------------------------------------------------------------------------------


def test_admin_lists_the_customers_intentions_resolved_for_now(admin_api, acme, acme_catalog, intentions):
    response = admin_api.get(list_url(acme))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["previous"] is None and body["next"] is None
    rows = {row["uuid"]: row for row in body["results"]}
    assert [row["uuid"] for row in body["results"]] == [str(i.uuid) for i in intentions.values()]
    assert all(set(row) == ITEM_FIELDS for row in rows.values())
    python = rows[str(intentions["python"].uuid)]
    assert python["content_key"] == PYTHON_KEY
    assert python["content_type"] == "course_run"
    assert python["enterprise_customer"] == str(acme.uuid)
    assert python["course_run_key"] == PYTHON_KEY
    assert python["course_key"] == PYTHON_COURSE
    assert python["is_course_run_enrollable"] is True
    assert python["best_mode_for_course_run"] == "verified"
    assert python["applicable_enterprise_catalog_uuids"] == [str(acme_catalog.uuid)]
    assert python["is_removed"] is False
    art = rows[str(intentions["art"].uuid)]
    assert art["applicable_enterprise_catalog_uuids"] == []
    course = rows[str(intentions["course"].uuid)]
    assert course["content_type"] == "course"
    assert course["content_key"] == "catalog-course:EntU:Data"
    assert course["course_run_key"] == DATA_KEY  # the run the course advertises now


def test_linked_learners_and_operators_may_list(acme_learner_api, operator_api, acme, intentions):
    for client in (acme_learner_api, operator_api):
        response = client.get(list_url(acme))
        assert response.status_code == 200
        assert response.json()["count"] == 3


def test_removed_intentions_are_listed_only_on_request_by_admins(admin_api, acme_learner_api, acme, intentions):
    api.delete_intention(intentions["art"])

    listed = admin_api.get(list_url(acme)).json()["results"]
    assert str(intentions["art"].uuid) not in {row["uuid"] for row in listed}

    with_removed = admin_api.get(list_url(acme, "include_removed=true")).json()["results"]
    flags = {row["uuid"]: row["is_removed"] for row in with_removed}
    assert flags[str(intentions["art"].uuid)] is True
    assert flags[str(intentions["python"].uuid)] is False

    refused = acme_learner_api.get(list_url(acme, "include_removed=true"))
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "enterprise_customer_uuid"),
        ("?enterprise_customer_uuid=", "enterprise_customer_uuid"),
        ("?enterprise_customer_uuid=not-a-uuid", "enterprise_customer_uuid"),
        (f"?enterprise_customer_uuid={uuid.UUID(int=7)}", "enterprise_customer_uuid"),
    ],
)
def test_the_customer_query_parameter_is_required_and_checked(operator_api, acme, query, field):
    response = operator_api.get(BASE + query)

    assert response.status_code == 400
    assert field in response.json()


def test_bad_list_parameters_are_400s(admin_api, acme, intentions):
    assert admin_api.get(list_url(acme, "include_removed=perhaps")).status_code == 400
    assert admin_api.get(list_url(acme, "page_size=0")).status_code == 400
    assert admin_api.get(list_url(acme, "page_size=lots")).status_code == 400


def test_the_list_is_paged(admin_api, acme, intentions):
    first = admin_api.get(list_url(acme, "page_size=2")).json()

    assert first["count"] == 3
    assert len(first["results"]) == 2
    second = admin_api.get(first["next"]).json()
    assert [row["uuid"] for row in first["results"] + second["results"]] == [str(i.uuid) for i in intentions.values()]


def test_listing_takes_a_constant_number_of_queries(admin_api, acme, acme_plan, runs):
    for key in (PYTHON_KEY, "catalog-course:EntU:Data"):  # a run and a course
        api.create_intention(acme, key)
    with CaptureQueriesContext(connection) as few:
        assert admin_api.get(list_url(acme)).status_code == 200
    for key in (DATA_KEY, ART_KEY, CLOSED_KEY, "catalog-course:EntU:Python", "catalog-course:ElseU:Art"):
        api.create_intention(acme, key)
    with CaptureQueriesContext(connection) as many:
        response = admin_api.get(list_url(acme))
    assert response.json()["count"] == 7
    assert len(many.captured_queries) == len(few.captured_queries)


# --- creating ------------------------------------------------------------------------------------


def test_admin_creates_an_intention_and_existing_learners_get_it(
    admin_api, acme, acme_learner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_api.post(
            BASE, {"enterprise_customer": str(acme.uuid), "content_key": PYTHON_KEY}, format="json"
        )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == ITEM_FIELDS
    assert (body["content_key"], body["content_type"], body["course_run_key"]) == (
        PYTHON_KEY,
        "course_run",
        PYTHON_KEY,
    )
    intention = DefaultEnrollmentIntention.objects.get(uuid=body["uuid"])
    assert intention.customer == acme
    assert len(callbacks) >= 1
    # the after-commit task enrolled the existing learner with their license, in the best mode
    assert realizations_of(intention) == [(acme_learner.pk, PYTHON_KEY, "verified")]


def test_nothing_is_realized_before_commit(admin_api, acme, acme_learner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_api.post(
            BASE, {"enterprise_customer": str(acme.uuid), "content_key": PYTHON_KEY}, format="json"
        )

    assert response.status_code == 201
    assert len(callbacks) == 1
    assert not EnterpriseCourseEnrollment.objects.exists()


def test_a_course_key_is_stored_canonically(operator_api, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.post(
            BASE, {"enterprise_customer": str(acme.uuid), "content_key": "  entu+Python "}, format="json"
        )

    assert response.status_code == 201
    body = response.json()
    assert (body["content_key"], body["content_type"], body["course_run_key"]) == (PYTHON_COURSE, "course", PYTHON_KEY)


def test_a_duplicate_is_a_400(admin_api, acme, intentions):
    response = admin_api.post(BASE, {"enterprise_customer": str(acme.uuid), "content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 400
    assert str(intentions["python"].uuid) in response.json()["content_key"][0]
    assert DefaultEnrollmentIntention.objects.filter(customer=acme).count() == 3


def test_a_soft_deleted_duplicate_is_a_400_saying_how_to_restore(admin_api, acme, intentions):
    api.delete_intention(intentions["python"])

    response = admin_api.post(BASE, {"enterprise_customer": str(acme.uuid), "content_key": PYTHON_KEY}, format="json")

    assert response.status_code == 400
    assert restore_url(intentions["python"]) in response.json()["content_key"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_key": PYTHON_KEY}, "enterprise_customer"),
        ({"enterprise_customer": "acme", "content_key": PYTHON_KEY}, "enterprise_customer"),
        ({"enterprise_customer": str(uuid.UUID(int=7)), "content_key": PYTHON_KEY}, "enterprise_customer"),
        ({"enterprise_customer": "<acme>"}, "content_key"),
        ({"enterprise_customer": "<acme>", "content_key": ""}, "content_key"),
        ({"enterprise_customer": "<acme>", "content_key": ["x"]}, "content_key"),
        ({"enterprise_customer": "<acme>", "content_key": "course-v1:EntU+Python"}, "content_key"),
        ({"enterprise_customer": "<acme>", "content_key": "course-v1:EntU+Nope+2030"}, "content_key"),
        ({"enterprise_customer": "<acme>", "content_key": "catalog-course:EntU:Nope"}, "content_key"),
        ({"enterprise_customer": "<acme>", "content_key": "x" * 300}, "content_key"),
    ],
)
def test_bad_create_bodies_are_400s_and_write_nothing(operator_api, acme, body, field):
    if body.get("enterprise_customer") == "<acme>":
        body = {**body, "enterprise_customer": str(acme.uuid)}

    response = operator_api.post(BASE, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DefaultEnrollmentIntention.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(operator_api, acme):
    response = operator_api.post(BASE, [PYTHON_KEY], format="json")

    assert response.status_code == 400


def test_learners_cannot_create(acme_learner_api, acme):
    response = acme_learner_api.post(
        BASE, {"enterprise_customer": str(acme.uuid), "content_key": PYTHON_KEY}, format="json"
    )

    assert response.status_code == 403
    assert not DefaultEnrollmentIntention.objects.exists()


# --- detail, delete, restore ---------------------------------------------------------------------


def test_detail_for_admins_and_learners(admin_api, acme_learner_api, acme, intentions):
    for client in (admin_api, acme_learner_api):
        response = client.get(detail_url(intentions["python"]))
        assert response.status_code == 200
        assert response.json()["uuid"] == str(intentions["python"].uuid)
        assert set(response.json()) == ITEM_FIELDS


@pytest.mark.parametrize("ident", ["not-a-uuid", str(uuid.UUID(int=42))])
def test_unknown_or_malformed_intentions_are_404s(admin_api, acme, ident):
    assert admin_api.get(f"{BASE}{ident}/").status_code == 404
    assert admin_api.delete(f"{BASE}{ident}/").status_code == 404
    assert admin_api.post(f"{BASE}{ident}/restore/").status_code == 404


def test_admin_soft_deletes_and_restores(admin_api, acme_learner_api, acme, intentions):
    python = intentions["python"]

    assert admin_api.delete(detail_url(python)).status_code == 204
    assert admin_api.delete(detail_url(python)).status_code == 204  # idempotent
    python.refresh_from_db()
    assert python.is_removed is True
    assert admin_api.get(detail_url(python)).json()["is_removed"] is True
    assert acme_learner_api.get(detail_url(python)).status_code == 404  # learners do not see removed ones

    response = admin_api.post(restore_url(python))

    assert response.status_code == 200
    assert response.json()["is_removed"] is False
    python.refresh_from_db()
    assert python.is_removed is False


def test_restoring_realizes_for_existing_learners(admin_api, acme, acme_learner, django_capture_on_commit_callbacks):
    intention = api.create_intention(acme, DATA_KEY)
    api.delete_intention(intention)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(restore_url(intention))

    assert response.status_code == 200
    assert realizations_of(intention) == [(acme_learner.pk, DATA_KEY, "verified")]


def test_learners_can_neither_delete_nor_restore(acme_learner_api, acme, intentions):
    python = intentions["python"]
    assert acme_learner_api.delete(detail_url(python)).status_code == 403
    assert acme_learner_api.post(restore_url(python)).status_code == 403  # visible to them, not theirs to change
    python.refresh_from_db()
    assert python.is_removed is False
