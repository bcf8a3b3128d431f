"""Data-sharing consent: missing is not granted, null is not granted, revoking keeps the record and its
history, only linked learners answer, and ``granted_pairs`` is one query per batch.

Content keys resolve through ``catalogs.resolve_content_key`` and requirements through
``catalogs.customer_contains`` (catalogs helper): these tests wait on them."""

import pytest

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enterprise import api
from rollbook.enterprise.models import DataSharingConsent
from tests.enterprise.conftest import ART_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(acme_catalog, globex_catalog, runs):
    """Both customers with their catalogs; ``runs`` by key."""
    return runs


def test_a_missing_record_is_not_consent_and_reading_creates_nothing(world, acme, acme_learner):
    state = api.get_consent(acme, acme_learner, PYTHON_KEY)
    assert (state.exists, state.granted, state.consent_required) == (False, None, True)
    assert (state.customer_uuid, state.user_id, state.username) == (acme.uuid, acme_learner.pk, acme_learner.username)
    assert state.course_key == PYTHON_COURSE
    assert not DataSharingConsent.objects.exists()


def test_a_null_answer_exists_but_is_not_consent(world, acme, acme_learner):
    course = world[PYTHON_KEY].catalog_course
    DataSharingConsent.objects.create(customer=acme, user=acme_learner, catalog_course=course, granted=None)
    state = api.get_consent(acme, acme_learner, PYTHON_KEY)
    assert (state.exists, state.granted) == (True, None)
    assert api.granted_pairs(acme, [(acme_learner.pk, course.pk)]) == set()


def test_grant_then_revoke_keeps_the_record_and_its_history(world, acme, acme_learner):
    granted = api.grant_consent(acme, acme_learner, PYTHON_KEY)
    assert (granted.exists, granted.granted) == (True, True)
    for key in (PYTHON_COURSE, "EntU+Python", PYTHON_KEY):  # every form names the same course
        assert api.get_consent("acme", acme_learner, key).granted is True
    api.grant_consent(acme, acme_learner, "EntU+Python")  # idempotent: no new history row

    revoked = api.revoke_consent(str(acme.uuid), acme_learner, PYTHON_COURSE)

    assert (revoked.exists, revoked.granted) == (True, False)
    record = DataSharingConsent.objects.get()
    assert record.granted is False
    assert list(record.history.order_by("history_id").values_list("granted", flat=True)) == [True, False]
    assert api.get_consent(acme, acme_learner, PYTHON_KEY).granted is False


def test_only_linked_learners_answer(world, acme, globex_learner, make_acme_learner, make_user):
    for user in (make_user(), globex_learner):
        with pytest.raises(InvalidInput) as exc_info:
            api.grant_consent(acme, user, PYTHON_KEY)
        assert list(exc_info.value.errors) == ["username"]
    unlinked = make_acme_learner()
    api.unlink_learners(acme, [unlinked.email])
    with pytest.raises(InvalidInput):
        api.revoke_consent(acme, unlinked, PYTHON_KEY)
    assert not DataSharingConsent.objects.exists()


@pytest.mark.parametrize("key", ["not a key", "course-v1:EntU+Nope+2030", "catalog-course:EntU:Nope", ""])
def test_bad_keys_are_refused(world, acme, acme_learner, key):
    for call in (api.get_consent, api.grant_consent, api.revoke_consent):
        with pytest.raises(InvalidInput) as exc_info:
            call(acme, acme_learner, key)
        assert list(exc_info.value.errors) == ["content_key"]
    with pytest.raises(InvalidInput):
        api.consent_required(acme, key)
    assert not DataSharingConsent.objects.exists()


def test_unknown_customers_are_not_found(world, acme_learner):
    with pytest.raises(NotFound):
        api.get_consent("nobody", acme_learner, PYTHON_KEY)
    with pytest.raises(NotFound):
        api.grant_consent("nobody", acme_learner, PYTHON_KEY)


def test_consent_is_required_at_enrollment_for_courses_in_the_customers_catalogs(world, acme):
    assert api.consent_required(acme, PYTHON_KEY)
    assert not api.consent_required(acme, ART_KEY)  # not in acme's catalogs
    api.update_customer(acme, enforce_data_sharing_consent="externally_managed")
    assert not api.consent_required(acme, PYTHON_KEY)
    api.update_customer(acme, enforce_data_sharing_consent="at_enrollment", enable_data_sharing_consent=False)
    assert not api.consent_required(acme, PYTHON_KEY)


def test_granted_pairs_is_one_query_whatever_the_number_of_pairs(
    world, acme, globex, make_acme_learner, django_assert_num_queries
):
    python, data = world[PYTHON_KEY].catalog_course, world[DATA_KEY].catalog_course
    learners = [make_acme_learner(licensed=False) for _ in range(6)]
    for index, learner in enumerate(learners):
        answer = True if index % 3 == 0 else (False if index % 3 == 1 else None)
        DataSharingConsent.objects.create(customer=acme, user=learner, catalog_course=python, granted=answer)
        DataSharingConsent.objects.create(customer=globex, user=learner, catalog_course=data, granted=True)
    few = [(learners[0].pk, python.pk), (learners[1].pk, python.pk)]
    many = [(learner.pk, course.pk) for learner in learners for course in (python, data)] * 3

    with django_assert_num_queries(1):
        assert api.granted_pairs(acme, few) == {(learners[0].pk, python.pk)}
    with django_assert_num_queries(1):
        assert api.granted_pairs(acme, many) == {(learners[0].pk, python.pk), (learners[3].pk, python.pk)}
    with django_assert_num_queries(0):
        assert api.granted_pairs(acme, []) == set()
