"""Program administrators read the enrollments of their organizations' runs, and change none of them."""

import pytest

from rollbook.core import api as core_api
from rollbook.enrollments import api

pytestmark = pytest.mark.django_db


@pytest.fixture
def registrar(make_user):
    user = make_user("registrar")
    core_api.grant(user, core_api.Role.PROGRAM_ADMIN, core_api.parse_scope("org:northx"))
    return user


def test_program_admin_sees_own_organization_only(make_run, make_user, registrar, client_for):
    north = make_run("course-v1:NorthX+A1+2030")
    south = make_run("course-v1:SouthX+B1+2030")
    learner = make_user()
    mine = api.enroll(learner, str(north.course_key))
    theirs = api.enroll(learner, str(south.course_key))
    client = client_for(registrar)

    listed = client.get("/api/enrollments/v1/enrollments/")
    assert listed.status_code == 200
    assert [row["uuid"] for row in listed.json()["results"]] == [str(mine.uuid)]
    assert client.get(f"/api/enrollments/v1/enrollments/{mine.uuid}/").status_code == 200
    assert client.get(f"/api/enrollments/v1/enrollments/{theirs.uuid}/").status_code == 404


def test_program_admin_cannot_change_learners_enrollments(make_run, make_user, registrar, client_for):
    north = make_run("course-v1:NorthX+A2+2030")
    learner = make_user()
    enrollment = api.enroll(learner, str(north.course_key))
    response = client_for(registrar).patch(
        f"/api/enrollments/v1/enrollments/{enrollment.uuid}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 404
    assert api.is_enrolled(learner, str(north.course_key))


def test_other_learners_see_nothing_of_the_organization(make_run, make_user, client_for):
    north = make_run("course-v1:NorthX+A3+2030")
    api.enroll(make_user(), str(north.course_key))
    outsider = make_user()
    listed = client_for(outsider).get("/api/enrollments/v1/enrollments/")
    assert listed.status_code == 200
    assert listed.json()["results"] == []
