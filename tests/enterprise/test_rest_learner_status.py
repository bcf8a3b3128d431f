"""``default-enterprise-enrollment-intentions/learner-status/`` and ``.../realize/``: the upstream learner-status
shape, whose status a caller gets (``lms_user_id`` for operators only), realization for oneself, for a named
learner and for a whole customer, idempotency and never re-enrolling a learner who left."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rollbook.enrollments import api as enrollments_api
from rollbook.enrollments.models import CourseEnrollment
from rollbook.enterprise import api
from rollbook.enterprise.models import DefaultEnrollmentRealization, License
from tests.enterprise.conftest import ART_KEY, AUDIT_ONLY_KEY, CLOSED_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

BASE = "/enterprise/api/v1/default-enterprise-enrollment-intentions/"
STATUS_URL = BASE + "learner-status/"
REALIZE_URL = BASE + "realize/"
STATUS_ITEM_FIELDS = {
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
    "has_existing_enrollment",
    "is_existing_enrollment_active",
    "is_existing_enrollment_audit",
    "reason",
}
# What realizing the ``intentions`` fixture enrolls a licensed acme learner in.
EVERY_ENROLLABLE = {PYTHON_KEY: ("verified", True), DATA_KEY: ("verified", True), AUDIT_ONLY_KEY: ("audit", True)}


def status_url(customer, query: str = "") -> str:
    return f"{STATUS_URL}?enterprise_customer_uuid={customer.uuid}" + (f"&{query}" if query else "")


def by_key(items: list[dict]) -> dict[str, dict]:
    return {item["content_key"]: item for item in items}


def enrolled(user) -> dict[str, tuple[str, bool]]:
    """{run key: (mode, is_active)} of the user's course enrollments."""
    return {
        str(row.course_run.course_key): (row.mode, row.is_active)
        for row in CourseEnrollment.objects.filter(user=user).select_related("course_run")
    }


@pytest.fixture
def intentions(acme, acme_plan):
    """Acme's intentions: the Python course, the Data run, the closed run, ElseU Art (outside every acme
    catalog) and the audit-only run."""
    return {
        key: api.create_intention(acme, key) for key in (PYTHON_COURSE, DATA_KEY, CLOSED_KEY, ART_KEY, AUDIT_ONLY_KEY)
    }


@pytest.fixture
def learner_api(acme_learner, client_for):
    return client_for(acme_learner)


@pytest.fixture
def admin_api(acme_admin, client_for):
    return client_for(acme_admin)


# --- learner status ------------------------------------------------------------------------------


def test_a_learner_gets_their_status_in_the_upstream_shape(learner_api, acme, acme_learner, intentions):
    enrollments_api.enroll(acme_learner, DATA_KEY, "verified")
    enrollments_api.enroll(acme_learner, AUDIT_ONLY_KEY, "audit")

    response = learner_api.get(status_url(acme))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"lms_user_id", "user_email", "enterprise_customer_uuid", "enrollment_statuses", "metadata"}
    assert (body["lms_user_id"], body["user_email"], body["enterprise_customer_uuid"]) == (
        acme_learner.pk,
        acme_learner.email,
        str(acme.uuid),
    )
    statuses = body["enrollment_statuses"]
    assert set(statuses) == {"needs_enrollment", "already_enrolled"}
    enrollable = by_key(statuses["needs_enrollment"]["enrollable"])
    not_enrollable = by_key(statuses["needs_enrollment"]["not_enrollable"])
    already = by_key(statuses["already_enrolled"])
    assert set(enrollable) == {PYTHON_COURSE}
    assert set(not_enrollable) == {CLOSED_KEY, ART_KEY}
    assert set(already) == {DATA_KEY, AUDIT_ONLY_KEY}
    every_item = [*enrollable.values(), *not_enrollable.values(), *already.values()]
    assert all(set(item) == STATUS_ITEM_FIELDS for item in every_item)
    assert enrollable[PYTHON_COURSE]["reason"] == "enrollable"
    assert enrollable[PYTHON_COURSE]["course_run_key"] == PYTHON_KEY
    assert (
        enrollable[PYTHON_COURSE]["has_existing_enrollment"],
        enrollable[PYTHON_COURSE]["is_existing_enrollment_active"],
        enrollable[PYTHON_COURSE]["is_existing_enrollment_audit"],
    ) == (False, None, None)
    assert not_enrollable[CLOSED_KEY]["reason"] == "run_not_enrollable"
    assert not_enrollable[ART_KEY]["reason"] == "no_catalog"
    assert already[DATA_KEY]["reason"] == "active_paid_enrollment"
    assert (already[DATA_KEY]["is_existing_enrollment_active"], already[DATA_KEY]["is_existing_enrollment_audit"]) == (
        True,
        False,
    )
    assert already[AUDIT_ONLY_KEY]["reason"] == "audit_only_enrolled"
    assert body["metadata"] == {
        "total_default_enterprise_enrollment_intentions": 5,
        "total_needs_enrollment": {"enrollable": 1, "not_enrollable": 2},
        "total_already_enrolled": 2,
    }


def test_an_audit_enrollment_is_an_upgrade(learner_api, acme, acme_learner, intentions):
    enrollments_api.enroll(acme_learner, DATA_KEY, "audit")

    body = learner_api.get(status_url(acme)).json()

    item = by_key(body["enrollment_statuses"]["needs_enrollment"]["enrollable"])[DATA_KEY]
    assert item["reason"] == "audit_upgrade"
    assert item["is_existing_enrollment_audit"] is True


def test_lms_user_id_is_ignored_for_learners_and_admins(
    learner_api, admin_api, acme, acme_learner, make_acme_learner, intentions
):
    other = make_acme_learner()

    mine = learner_api.get(status_url(acme, f"lms_user_id={other.pk}"))
    assert mine.status_code == 200
    assert mine.json()["lms_user_id"] == acme_learner.pk

    # the admin is no learner of acme: their own status is asked for, and refused
    response = admin_api.get(status_url(acme, f"lms_user_id={other.pk}"))
    assert response.status_code == 400
    assert "lms_user_id" in response.json()


def test_operators_may_name_the_learner(operator_api, acme, acme_learner, intentions):
    response = operator_api.get(status_url(acme, f"lms_user_id={acme_learner.pk}"))

    assert response.status_code == 200
    assert response.json()["lms_user_id"] == acme_learner.pk


@pytest.mark.parametrize("lms_user_id", ["abc", "987654", "<unlinked>", "<globex>"])
def test_an_unknown_or_unlinked_user_is_a_400(operator_api, acme, make_user, globex_learner, lms_user_id):
    if lms_user_id == "<unlinked>":
        lms_user_id = str(make_user().pk)
    elif lms_user_id == "<globex>":
        lms_user_id = str(globex_learner.pk)

    response = operator_api.get(status_url(acme, f"lms_user_id={lms_user_id}"))

    assert response.status_code == 400
    assert "lms_user_id" in response.json()


@pytest.mark.parametrize(
    "query", ["", "?enterprise_customer_uuid=nope", f"?enterprise_customer_uuid={uuid.UUID(int=7)}"]
)
def test_the_customer_is_required_and_checked(operator_api, acme, query):
    response = operator_api.get(STATUS_URL + query)

    assert response.status_code == 400
    assert "enterprise_customer_uuid" in response.json()


def test_callers_outside_the_customer_are_refused(learner_api, client_for, make_user, acme):
    outsider = make_user()

    assert client_for(outsider).get(status_url(acme)).status_code == 403


def test_learner_status_takes_a_constant_number_of_queries(learner_api, acme, acme_learner, acme_plan):
    for key in (PYTHON_COURSE, DATA_KEY):
        api.create_intention(acme, key)
    enrollments_api.enroll(acme_learner, DATA_KEY, "audit")
    with CaptureQueriesContext(connection) as few:
        assert learner_api.get(status_url(acme)).status_code == 200
    for key in (CLOSED_KEY, ART_KEY, AUDIT_ONLY_KEY, "catalog-course:EntU:PaidOnly"):
        api.create_intention(acme, key)
    enrollments_api.enroll(acme_learner, AUDIT_ONLY_KEY, "audit")
    enrollments_api.enroll(acme_learner, PYTHON_KEY, "verified")
    with CaptureQueriesContext(connection) as many:
        response = learner_api.get(status_url(acme))
    assert response.json()["metadata"]["total_default_enterprise_enrollment_intentions"] == 6
    assert len(many.captured_queries) == len(few.captured_queries)


# --- realization ---------------------------------------------------------------------------------


def test_a_learner_realizes_their_defaults_idempotently(learner_api, acme, acme_plan, acme_learner, intentions):
    response = learner_api.post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"realized", "failures"}
    assert all(
        set(item) == {"intention_uuid", "course_run_key", "course_enrollment_uuid", "mode", "license_uuid"}
        for item in body["realized"]
    )
    license = License.objects.get(plan=acme_plan, user=acme_learner)
    assert sorted(
        (item["intention_uuid"], item["course_run_key"], item["mode"]) for item in body["realized"]
    ) == sorted(
        [
            (str(intentions[PYTHON_COURSE].uuid), PYTHON_KEY, "verified"),
            (str(intentions[DATA_KEY].uuid), DATA_KEY, "verified"),
            (str(intentions[AUDIT_ONLY_KEY].uuid), AUDIT_ONLY_KEY, "audit"),
        ]
    )
    assert {item["license_uuid"] for item in body["realized"]} == {str(license.uuid)}
    assert body["failures"] == []
    assert enrolled(acme_learner) == EVERY_ENROLLABLE
    assert DefaultEnrollmentRealization.objects.count() == 3

    again = learner_api.post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json")

    assert again.status_code == 200
    assert again.json()["realized"] == []  # nothing enrollable is left
    assert DefaultEnrollmentRealization.objects.count() == 3


def test_a_learner_who_left_is_never_enrolled_again(learner_api, acme, acme_learner, intentions):
    assert learner_api.post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json").status_code == 200
    enrollments_api.unenroll(acme_learner, PYTHON_KEY)

    response = learner_api.post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json")

    assert response.json() == {"realized": [], "failures": []}
    assert enrolled(acme_learner) == {**EVERY_ENROLLABLE, PYTHON_KEY: ("verified", False)}
    status = learner_api.get(status_url(acme)).json()
    left = by_key(status["enrollment_statuses"]["needs_enrollment"]["not_enrollable"])[PYTHON_COURSE]
    assert left["reason"] == "left_paid_enrollment"


def test_a_learner_without_a_license_gets_failures(acme, make_acme_learner, client_for, intentions):
    unlicensed = make_acme_learner(licensed=False)

    response = client_for(unlicensed).post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["realized"] == []
    assert sorted((failure["intention_uuid"], failure["course_run_key"]) for failure in body["failures"]) == sorted(
        [
            (str(intentions[PYTHON_COURSE].uuid), PYTHON_KEY),
            (str(intentions[DATA_KEY].uuid), DATA_KEY),
            (str(intentions[AUDIT_ONLY_KEY].uuid), AUDIT_ONLY_KEY),
        ]
    )
    assert all("license" in failure["reason"] for failure in body["failures"])
    assert enrolled(unlicensed) == {}


def test_learners_may_not_realize_for_someone_else(learner_api, acme, acme_learner, make_acme_learner, intentions):
    other = make_acme_learner()

    refused = learner_api.post(
        REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid), "lms_user_id": other.pk}, format="json"
    )
    assert refused.status_code == 403
    assert enrolled(other) == {}

    own = learner_api.post(
        REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid), "lms_user_id": acme_learner.pk}, format="json"
    )
    assert own.status_code == 200
    assert enrolled(acme_learner) == EVERY_ENROLLABLE


def test_operators_may_realize_for_a_named_learner(operator_api, acme, acme_learner, intentions):
    response = operator_api.post(
        REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid), "lms_user_id": acme_learner.pk}, format="json"
    )

    assert response.status_code == 200
    assert enrolled(acme_learner) == EVERY_ENROLLABLE


def test_admins_realize_for_every_learner(admin_api, acme, acme_learner, make_acme_learner, intentions):
    other = make_acme_learner()

    response = admin_api.post(
        REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid), "all_learners": True}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "learners": 2,
        "enrollments_created": 6,
        "realizations_created": 6,
        "skipped_without_license": 0,
        "failures": 0,
    }
    assert enrolled(acme_learner) == enrolled(other) == EVERY_ENROLLABLE


def test_learners_may_not_realize_for_every_learner(learner_api, acme, make_acme_learner, intentions):
    other = make_acme_learner()

    response = learner_api.post(
        REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid), "all_learners": True}, format="json"
    )

    assert response.status_code == 403
    assert enrolled(other) == {}


def test_an_admin_who_is_no_learner_has_nothing_of_their_own_to_realize(admin_api, acme, intentions):
    response = admin_api.post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json")

    assert response.status_code == 400
    assert "lms_user_id" in response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "enterprise_customer_uuid"),
        ({"enterprise_customer_uuid": "acme"}, "enterprise_customer_uuid"),
        ({"enterprise_customer_uuid": str(uuid.UUID(int=3))}, "enterprise_customer_uuid"),
        ({"enterprise_customer_uuid": "<acme>", "lms_user_id": "x"}, "lms_user_id"),
        ({"enterprise_customer_uuid": "<acme>", "lms_user_id": 987654}, "lms_user_id"),
        ({"enterprise_customer_uuid": "<acme>", "all_learners": "maybe"}, "all_learners"),
        ({"enterprise_customer_uuid": "<acme>", "all_learners": True, "lms_user_id": 1}, "all_learners"),
    ],
)
def test_bad_realize_bodies_are_400s(operator_api, acme, intentions, body, field):
    if body.get("enterprise_customer_uuid") == "<acme>":
        body = {**body, "enterprise_customer_uuid": str(acme.uuid)}

    response = operator_api.post(REALIZE_URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DefaultEnrollmentRealization.objects.exists()


def test_callers_of_no_customer_are_refused_before_their_body_is_read(client_for, make_user, acme):
    outsider = make_user()

    assert client_for(outsider).post(REALIZE_URL, {}, format="json").status_code == 403
    assert (
        client_for(outsider).post(REALIZE_URL, {"enterprise_customer_uuid": str(acme.uuid)}, format="json").status_code
        == 403
    )
