"""Default-enrollment intentions: creation from any accepted key form, duplicates (soft-deleted ones
included, with how to restore them), soft delete and restore with history, and resolution for now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.enterprise import api
from rollbook.enterprise.data import ContentType
from rollbook.enterprise.models import DefaultEnrollmentIntention
from tests.enterprise.conftest import (
    ART_KEY,
    AUDIT_ONLY_KEY,
    CLOSED_KEY,
    DATA_KEY,
    PAID_ONLY_KEY,
    PYTHON_COURSE,
    PYTHON_KEY,
)


def test_a_run_key_makes_a_run_intention(acme, runs):
    intention = api.create_intention(acme, PYTHON_KEY)

    assert intention.content_type == ContentType.COURSE_RUN
    assert intention.content_key == PYTHON_KEY
    assert intention.course_run == runs[PYTHON_KEY]
    assert intention.catalog_course == runs[PYTHON_KEY].catalog_course
    assert intention.history.count() == 1


@pytest.mark.parametrize("key", [PYTHON_COURSE, "EntU+Python", " entu+Python "])
def test_course_keys_in_either_form_are_stored_canonically(acme, runs, key):
    intention = api.create_intention(str(acme.uuid), key)

    assert intention.content_type == ContentType.COURSE
    assert intention.content_key == PYTHON_COURSE
    assert intention.course_run is None
    assert intention.catalog_course == runs[PYTHON_KEY].catalog_course


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("not a key", "malformed"),
        ("", "malformed"),
        ("course-v1:EntU+Nothing+2030", "No course run"),
        ("course-v1:entu+python+2030", "case-sensitive"),
        ("catalog-course:EntU:Nothing", "No catalog course"),
    ],
)
def test_bad_keys_are_refused_with_the_reason_and_nothing_is_written(acme, key, fragment):
    with pytest.raises(InvalidInput) as caught:
        api.create_intention(acme, key)

    assert list(caught.value.errors) == ["content_key"]
    assert fragment in caught.value.errors["content_key"][0]
    assert not DefaultEnrollmentIntention.objects.exists()


def test_an_unknown_customer_is_not_found(runs):
    with pytest.raises(NotFound):
        api.create_intention("00000000-0000-0000-0000-000000000000", PYTHON_KEY)


def test_catalog_membership_is_not_checked_at_creation(acme, runs):
    intention = api.create_intention(acme, ART_KEY)  # ElseU is in none of acme's catalogs

    assert intention.content_key == ART_KEY


@pytest.mark.parametrize(
    ("first", "second"),
    [(PYTHON_KEY, PYTHON_KEY), (PYTHON_COURSE, "EntU+Python"), ("EntU+Python", PYTHON_COURSE)],
)
def test_duplicates_are_refused_as_bad_input(acme, runs, first, second):
    existing = api.create_intention(acme, first)

    with pytest.raises(InvalidInput) as caught:
        api.create_intention(acme, second)

    assert str(existing.uuid) in str(caught.value.errors["content_key"])
    assert "restore" not in str(caught.value.errors["content_key"])
    assert DefaultEnrollmentIntention.objects.count() == 1


def test_a_course_and_one_of_its_runs_are_different_intentions(acme, runs):
    api.create_intention(acme, PYTHON_COURSE)
    api.create_intention(acme, PYTHON_KEY)

    assert DefaultEnrollmentIntention.objects.filter(customer=acme).count() == 2


def test_the_same_key_in_another_customer_is_fine(acme, globex, runs):
    api.create_intention(acme, PYTHON_KEY)
    api.create_intention(globex, PYTHON_KEY)

    assert DefaultEnrollmentIntention.objects.count() == 2


def test_a_soft_deleted_duplicate_says_how_to_restore_it(acme, runs):
    existing = api.delete_intention(api.create_intention(acme, PYTHON_COURSE).uuid)

    with pytest.raises(InvalidInput) as caught:
        api.create_intention(acme, "EntU+Python")

    message = str(caught.value.errors["content_key"])
    assert "deleted" in message
    assert f"/enterprise/api/v1/default-enterprise-enrollment-intentions/{existing.uuid}/restore/" in message
    assert f"rollbook enterprise restore-intention {existing.uuid}" in message


def test_delete_and_restore_are_soft_idempotent_and_keep_history(acme, runs):
    intention = api.create_intention(acme, PYTHON_KEY)

    api.delete_intention(intention.uuid)
    api.delete_intention(str(intention.uuid))
    assert DefaultEnrollmentIntention.objects.get(pk=intention.pk).is_removed
    assert list(api.intentions_queryset(acme)) == []
    assert list(api.intentions_queryset(acme, include_removed=True)) == [intention]

    api.restore_intention(intention.uuid)
    api.restore_intention(intention.uuid)
    assert not DefaultEnrollmentIntention.objects.get(pk=intention.pk).is_removed
    assert [row.is_removed for row in intention.history.order_by("history_id")] == [False, True, False]


def test_get_intention(acme, runs):
    intention = api.create_intention(acme, PYTHON_KEY)

    assert api.get_intention(str(intention.uuid)) == intention
    for bad in ("nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            api.get_intention(bad)
    api.delete_intention(intention)
    with pytest.raises(NotFound):
        api.get_intention(intention.uuid)
    assert api.get_intention(intention.uuid, include_removed=True) == intention


# --- resolution ----------------------------------------------------------------------------------


def _by_key(resolved):
    return {item.content_key: item for item in resolved}


def test_resolution_of_runs_and_courses(acme, acme_catalog, runs, make_run):
    make_run("course-v1:EntU+Hidden+2030", marketable=False)
    for key in (PYTHON_COURSE, DATA_KEY, PAID_ONLY_KEY, CLOSED_KEY, AUDIT_ONLY_KEY, ART_KEY, "EntU+Hidden"):
        api.create_intention(acme, key)

    resolved = _by_key(api.resolve_intentions(acme))

    python = resolved[PYTHON_COURSE]
    assert (python.content_type, python.course_run_key, python.course_run_id) == (
        ContentType.COURSE,
        PYTHON_KEY,
        runs[PYTHON_KEY].pk,
    )
    assert python.course_key == PYTHON_COURSE
    assert python.is_course_run_enrollable
    assert python.best_mode_for_course_run == "verified"
    assert python.course_run_enroll_by_date == runs[PYTHON_KEY].enrollment_end
    assert python.applicable_catalog_uuids == (acme_catalog.uuid,)

    assert resolved[DATA_KEY].content_type == ContentType.COURSE_RUN
    assert resolved[DATA_KEY].course_run_key == DATA_KEY
    assert resolved[PAID_ONLY_KEY].best_mode_for_course_run == "verified"
    assert resolved[AUDIT_ONLY_KEY].best_mode_for_course_run == "audit"
    assert not resolved[CLOSED_KEY].is_course_run_enrollable
    assert resolved[CLOSED_KEY].applicable_catalog_uuids == (acme_catalog.uuid,)
    assert resolved[ART_KEY].applicable_catalog_uuids == ()

    hidden = resolved["catalog-course:EntU:Hidden"]
    assert (hidden.course_run_id, hidden.course_run_key, hidden.best_mode_for_course_run) == (None, None, None)
    assert not hidden.is_course_run_enrollable
    assert hidden.course_run_enroll_by_date is None
    assert hidden.applicable_catalog_uuids == ()  # empty without a run, even though the catalog has the course


def test_best_mode_follows_the_priority_and_defaults_to_audit(acme, make_run):
    make_run("course-v1:EntU+Pro+2030", modes=(ModeSpec("honor"), ModeSpec("professional", 9900)))
    make_run("course-v1:EntU+Honor+2030", modes=(ModeSpec("honor"),))
    make_run("course-v1:EntU+Credit+2030", modes=(ModeSpec("credit", 100),))
    for key in ("course-v1:EntU+Pro+2030", "course-v1:EntU+Honor+2030", "course-v1:EntU+Credit+2030"):
        api.create_intention(acme, key)

    best = {item.content_key: item.best_mode_for_course_run for item in api.resolve_intentions(acme)}

    assert best == {
        "course-v1:EntU+Pro+2030": "professional",
        "course-v1:EntU+Honor+2030": "honor",
        "course-v1:EntU+Credit+2030": "audit",
    }


def test_removed_intentions_are_not_resolved_unless_given(acme, runs):
    kept = api.create_intention(acme, PYTHON_KEY)
    removed = api.delete_intention(api.create_intention(acme, DATA_KEY))

    assert [item.uuid for item in api.resolve_intentions(acme)] == [kept.uuid]
    assert [item.uuid for item in api.resolve_intentions(acme, [removed])] == [removed.uuid]


def test_a_course_intention_follows_the_advertised_run(acme, runs, make_run):
    api.create_intention(acme, PYTHON_COURSE)
    now = timezone.now()
    later = make_run(
        "course-v1:EntU+Python+2031",
        start=now + timedelta(days=20),
        end=now + timedelta(days=300),
        enrollment_start=now - timedelta(days=1),
        enrollment_end=now + timedelta(days=200),
    )
    assert api.resolve_intentions(acme)[0].course_run_key == PYTHON_KEY

    catalog_api.set_runs_marketable([PYTHON_KEY], marketable=False)

    assert api.resolve_intentions(acme)[0].course_run_id == later.pk


def test_resolution_takes_a_constant_number_of_queries(acme, acme_catalog, runs, make_run, django_assert_num_queries):
    api.create_intention(acme, PYTHON_COURSE)
    api.create_intention(acme, DATA_KEY)
    with django_assert_num_queries(7) as few:
        api.resolve_intentions(acme)
    for code in ("A", "B", "C"):
        make_run(f"course-v1:EntU+{code}+2030")
        api.create_intention(acme, f"EntU+{code}")
        api.create_intention(acme, f"course-v1:EntU+{code}+2030")
    api.create_intention(acme, CLOSED_KEY)

    with django_assert_num_queries(len(few.captured_queries)):
        resolved = api.resolve_intentions(acme)

    assert len(resolved) == 9
