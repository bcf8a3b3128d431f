"""validate_intentions: intentions outside their customer's catalogs, with no run, or whose run cannot be
enrolled in now."""

from __future__ import annotations

from rollbook.enterprise import api
from tests.enterprise.conftest import ART_KEY, CLOSED_KEY, DATA_KEY, PYTHON_COURSE


def problems_by_key(problems):
    found: dict[str, list[str]] = {}
    for problem in problems:
        found.setdefault(problem.content_key, []).append(problem.problem)
    return found


def test_good_intentions_have_no_problems(acme, acme_catalog):
    api.create_intention(acme, PYTHON_COURSE)
    api.create_intention(acme, DATA_KEY)

    assert api.validate_intentions(acme) == []


def test_each_problem_is_reported_with_its_reason(acme, acme_catalog, make_run):
    make_run("course-v1:EntU+Hidden+2030", marketable=False)
    art = api.create_intention(acme, ART_KEY)
    api.create_intention(acme, CLOSED_KEY)
    api.create_intention(acme, "EntU+Hidden")
    api.create_intention(acme, PYTHON_COURSE)

    problems = api.validate_intentions(str(acme.uuid))

    found = problems_by_key(problems)
    assert set(found) == {ART_KEY, CLOSED_KEY, "catalog-course:EntU:Hidden"}
    (outside,) = found[ART_KEY]
    assert "Outside the customer's catalogs" in outside and "catalog-course:ElseU:Art" in outside
    (closed,) = found[CLOSED_KEY]
    assert closed == f"The run {CLOSED_KEY} is not open for enrollment now."
    (hidden,) = found["catalog-course:EntU:Hidden"]
    assert "No advertised run" in hidden
    art_problem = next(problem for problem in problems if problem.content_key == ART_KEY)
    assert (art_problem.intention_uuid, art_problem.customer_slug) == (art.uuid, "acme")


def test_a_customer_without_catalogs_has_every_intention_outside(acme):
    api.create_intention(acme, PYTHON_COURSE)

    (problem,) = api.validate_intentions(acme)

    assert "Outside the customer's catalogs" in problem.problem


def test_removed_intentions_are_not_checked(acme, acme_catalog):
    api.delete_intention(api.create_intention(acme, ART_KEY))

    assert api.validate_intentions(acme) == []


def test_every_customer_is_checked_unless_one_is_given(acme, acme_catalog, globex, globex_catalog):
    api.create_intention(acme, ART_KEY)  # outside acme's catalog
    api.create_intention(globex, ART_KEY)  # inside globex's
    api.create_intention(globex, PYTHON_COURSE)  # outside globex's

    everyone = api.validate_intentions()

    assert sorted((problem.customer_slug, problem.content_key) for problem in everyone) == [
        ("acme", ART_KEY),
        ("globex", PYTHON_COURSE),
    ]
    assert [problem.customer_slug for problem in api.validate_intentions(globex)] == ["globex"]
