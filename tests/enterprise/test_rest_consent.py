"""The data-sharing consent REST API (``/enterprise/api/v1/data_sharing_consent/``): the edx consent shape,
grant and revoke with history, who may read or change whose consent, and bad input."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest

from rollbook.enterprise.models import DataSharingConsent, EnterpriseCustomer
from tests.enterprise.conftest import ART_KEY, PYTHON_COURSE, PYTHON_KEY

pytestmark = pytest.mark.django_db

URL = "/enterprise/api/v1/data_sharing_consent/"


def params(customer, course_id: str = PYTHON_KEY, **extra) -> dict:
    return {"enterprise_customer_uuid": str(customer.uuid), "course_id": course_id, **extra}


def query(customer, course_id: str = PYTHON_KEY, **extra) -> str:
    return URL + "?" + urlencode(params(customer, course_id, **extra))


def records() -> list[tuple]:
    return sorted(DataSharingConsent.objects.values_list("customer__slug", "user__username", "granted"))


@pytest.fixture
def acme_learner_api(acme_learner, client_for):
    return client_for(acme_learner)


def test_no_record_means_no_consent(acme_learner_api, acme, acme_catalog, acme_learner):
    response = acme_learner_api.get(URL, params(acme))
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "username": "acme-learner",
        "enterprise_customer_uuid": str(acme.uuid),
        "course_id": PYTHON_KEY,
        "exists": False,
        "consent_provided": False,
        "consent_required": True,
    }
    assert records() == []


def test_a_learner_grants_then_revokes_and_the_record_keeps_its_history(acme_learner_api, acme, acme_catalog):
    response = acme_learner_api.post(URL, params(acme), format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["exists"], response.json()["consent_provided"]) == (True, True)
    assert records() == [("acme", "acme-learner", True)]
    # any key of the same course reads the same record
    again = acme_learner_api.get(URL, params(acme, PYTHON_COURSE)).json()
    assert (again["exists"], again["consent_provided"], again["course_id"]) == (True, True, PYTHON_COURSE)

    response = acme_learner_api.delete(query(acme))
    assert response.status_code == 200, response.json()
    assert (response.json()["exists"], response.json()["consent_provided"]) == (True, False)
    assert records() == [("acme", "acme-learner", False)]
    assert DataSharingConsent.objects.get().history.count() == 2


def test_revoking_takes_its_parameters_from_the_body_too(acme_learner_api, acme, acme_catalog):
    acme_learner_api.post(URL, params(acme), format="json")
    response = acme_learner_api.delete(URL, params(acme, "EntU+Python"), format="json")
    assert response.status_code == 200
    assert response.json()["consent_provided"] is False
    assert records() == [("acme", "acme-learner", False)]


def test_consent_is_not_required_outside_the_catalog_or_when_the_customer_does_not_ask(
    acme_learner_api, acme, acme_catalog
):
    assert acme_learner_api.get(URL, params(acme, ART_KEY)).json()["consent_required"] is False
    assert acme_learner_api.get(URL, params(acme)).json()["consent_required"] is True
    EnterpriseCustomer.objects.filter(pk=acme.pk).update(enable_data_sharing_consent=False)
    assert acme_learner_api.get(URL, params(acme)).json()["consent_required"] is False
    EnterpriseCustomer.objects.filter(pk=acme.pk).update(
        enable_data_sharing_consent=True, enforce_data_sharing_consent="externally_managed"
    )
    assert acme_learner_api.get(URL, params(acme)).json()["consent_required"] is False


def test_a_learner_may_not_read_or_change_someone_elses_consent(
    acme_learner_api, acme, acme_catalog, make_acme_learner, operator_api
):
    make_acme_learner("classmate")
    operator_api.post(URL, params(acme, username="classmate"), format="json")
    assert acme_learner_api.get(URL, params(acme, username="classmate")).status_code == 403
    assert acme_learner_api.post(URL, params(acme, username="classmate"), format="json").status_code == 403
    assert acme_learner_api.delete(query(acme, username="classmate")).status_code == 403
    assert records() == [("acme", "classmate", True)]
    # naming oneself is fine
    assert acme_learner_api.get(URL, params(acme, username="acme-learner")).json()["username"] == "acme-learner"


def test_admins_read_their_learners_consent_but_do_not_change_it(
    client_for, acme, acme_catalog, acme_admin, acme_learner, make_user
):
    admin_api = client_for(acme_admin)
    client_for(acme_learner).post(URL, params(acme), format="json")
    response = admin_api.get(URL, params(acme, username="acme-learner"))
    assert response.status_code == 200
    assert (response.json()["username"], response.json()["consent_provided"]) == ("acme-learner", True)
    assert admin_api.delete(query(acme, username="acme-learner")).status_code == 403
    assert admin_api.post(URL, params(acme, username="acme-learner"), format="json").status_code == 403
    assert records() == [("acme", "acme-learner", True)]
    # someone who is no learner of the customer reads the same as someone who does not exist
    make_user("outsider")
    for username in ("outsider", "nobody-at-all"):
        response = admin_api.get(URL, params(acme, username=username))
        assert response.status_code == 400
        assert "username" in response.json()


def test_operators_read_and_change_anyones_consent(operator_api, acme, acme_catalog, acme_learner):
    response = operator_api.post(URL, params(acme, username="acme-learner"), format="json")
    assert response.status_code == 200
    assert response.json()["username"] == "acme-learner"
    assert operator_api.get(URL, params(acme, username="acme-learner")).json()["consent_provided"] is True
    assert operator_api.delete(query(acme, username="acme-learner")).json()["consent_provided"] is False
    assert operator_api.get(URL, params(acme, username="nobody-at-all")).status_code == 400


def test_only_linked_learners_give_consent(operator_api, client_for, acme, acme_catalog, acme_admin, make_user):
    make_user("outsider")
    response = operator_api.post(URL, params(acme, username="outsider"), format="json")
    assert response.status_code == 400
    assert "username" in response.json()
    response = client_for(acme_admin).post(URL, params(acme), format="json")  # an admin is no learner
    assert response.status_code == 400
    assert records() == []


def test_a_learner_linked_to_no_customer_is_refused(client_for, learner, acme, acme_catalog):
    client = client_for(learner)
    assert client.get(URL, params(acme)).status_code == 403
    assert client.post(URL, params(acme), format="json").status_code == 403
    assert client.delete(query(acme)).status_code == 403
    assert records() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"enterprise_customer_uuid": None}, "enterprise_customer_uuid"),
        ({"enterprise_customer_uuid": "not-a-uuid"}, "enterprise_customer_uuid"),
        ({"course_id": None}, "course_id"),
        ({"course_id": ""}, "course_id"),
        ({"course_id": "course-v1:what"}, "course_id"),
        ({"course_id": "course-v1:EntU+Nothing+2030"}, "course_id"),
        ({"course_id": "course-v1:entu+python+2030"}, "course_id"),  # course keys are case-sensitive
        ({"course_id": ["a", "b"]}, "course_id"),
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(acme_learner_api, acme, acme_catalog, change, field):
    body = {key: value for key, value in {**params(acme), **change}.items() if value is not None}
    for response in (acme_learner_api.get(URL, body), acme_learner_api.post(URL, body, format="json")):
        assert response.status_code == 400
        assert field in response.json()
    assert records() == []


def test_an_unknown_customer_is_a_400_for_operators(operator_api, db):
    body = {"enterprise_customer_uuid": str(uuid.uuid4()), "course_id": PYTHON_KEY}
    response = operator_api.get(URL, body)
    assert response.status_code == 400
    assert "enterprise_customer_uuid" in response.json()


def test_a_body_that_is_not_an_object_is_a_400(acme_learner_api, acme):
    assert acme_learner_api.post(URL, ["a"], format="json").status_code == 400
    assert acme_learner_api.delete(URL).status_code == 400
