"""Fixtures shared by every programs test module.

The world they build:

- two organizations, ``ProgU`` (first authoring organization; owns the identity provider ``progu-sso``)
  and ``PartnerU``;
- catalog courses ``ProgU+Math`` and ``ProgU+Stats``, each with a run (``course-v1:ProgU+Math+2030``,
  ``course-v1:ProgU+Stats+2030``) offering audit (free), verified (paid) and masters modes; any other run
  of these two courses (``make_program_run``) is in the program too;
- ``outside_run``: ``course-v1:ProgU+Art+2030``, a run of a course in no curriculum;
- ``program`` ("Master of Data", ProgU then PartnerU) with one active ``curriculum`` of Math and Stats;
- ``other_program``, another ProgU program whose curriculum also has Math (for the cross-program rule);
- ``linked_students``: {key: user} for three students whose keys are linked at ``progu-sso``;
  ``unlinked_keys``: three keys nobody is linked to;
- ``enroll_students`` / ``enroll_in_course``: write program / program-course enrollments through the API.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.identity import api as identity_api

_numbers = itertools.count(1)

PROGRAM_MODES = (ModeSpec("audit"), ModeSpec("verified", 4900), ModeSpec("masters"))
MATH_KEY = "course-v1:ProgU+Math+2030"
STATS_KEY = "course-v1:ProgU+Stats+2030"
ART_KEY = "course-v1:ProgU+Art+2030"
LINKED_KEYS = ("STU-L1", "STU-L2", "STU-L3")
UNLINKED_KEYS = ("STU-U1", "STU-U2", "STU-U3")


@pytest.fixture
def program_orgs(db) -> tuple:
    """(ProgU, PartnerU): the program's authoring organizations, in order."""
    return catalog_api.create_organization("ProgU", name="Programs University"), catalog_api.create_organization(
        "PartnerU", name="Partner University"
    )


@pytest.fixture
def sso_provider(program_orgs):
    """The enabled identity provider ``progu-sso`` of ProgU, the program's first organization."""
    return identity_api.create_identity_provider("progu-sso", "ProgU single sign-on", organization=program_orgs[0])


@pytest.fixture
def make_program_run(program_orgs) -> Callable[..., object]:
    """Create a run (and its catalog course when new); ``modes`` is a sequence of ModeSpec (default audit,
    verified, masters). Runs of ProgU+Math and ProgU+Stats belong to ``program``."""

    def _make(course_key: str, modes: Sequence[ModeSpec] = PROGRAM_MODES, **fields):
        return catalog_api.create_course_run(course_key, modes=modes, **fields)

    return _make


@pytest.fixture
def program_runs(make_program_run) -> list:
    """[Math run, Stats run]: the runs of the program's curriculum, offering audit, verified and masters."""
    return [make_program_run(MATH_KEY), make_program_run(STATS_KEY)]


@pytest.fixture
def math_run(program_runs):
    return program_runs[0]


@pytest.fixture
def stats_run(program_runs):
    return program_runs[1]


@pytest.fixture
def outside_run(make_program_run):
    """A run of a course that is in no curriculum of ``program``."""
    return make_program_run(ART_KEY)


@pytest.fixture
def program(program_orgs, program_runs, sso_provider):
    """ "Master of Data" by ProgU then PartnerU, with one active curriculum of Math and Stats."""
    from rollbook.programs import api as programs_api

    created = programs_api.create_program("Master of Data", organizations=["ProgU", "PartnerU"])
    programs_api.create_curriculum(
        created, name="2030", catalog_course_keys=["catalog-course:ProgU:Math", "catalog-course:ProgU:Stats"]
    )
    return created


@pytest.fixture
def curriculum(program):
    """The program's one (active) curriculum."""
    return program.curricula.get()


@pytest.fixture
def other_program(program):
    """A second ProgU program whose curriculum shares the Math course with ``program``."""
    from rollbook.programs import api as programs_api

    created = programs_api.create_program("Master of Numbers", organizations=["ProgU"])
    programs_api.create_curriculum(created, name="Numbers", catalog_course_keys=["catalog-course:ProgU:Math"])
    return created


@pytest.fixture
def link_student(sso_provider, make_user) -> Callable[..., object]:
    """Link ``key`` at ``progu-sso`` to ``user`` (a new user when not given); return the user."""

    def _link(key: str, user=None):
        user = user or make_user(f"student{next(_numbers)}")
        identity_api.link_sso(sso_provider, key, user)
        return user

    return _link


@pytest.fixture
def linked_students(link_student) -> dict:
    """{key: user} for STU-L1..STU-L3, each linked at ``progu-sso``."""
    return {key: link_student(key) for key in LINKED_KEYS}


@pytest.fixture
def unlinked_keys(sso_provider) -> list[str]:
    """STU-U1..STU-U3: student keys nobody is linked to."""
    return list(UNLINKED_KEYS)


@pytest.fixture
def enroll_students() -> Callable[..., dict]:
    """Create (or update) program enrollments through the API: ``enroll_students(program, keys, status=...)``;
    returns the per-key results."""
    from rollbook.programs import api as programs_api

    def _enroll(program, keys: Sequence[str], status: str = "enrolled", curriculum_uuid: str | None = None):
        requests = [programs_api.ProgramEnrollmentRequest(key, status, curriculum_uuid) for key in keys]
        return programs_api.write_program_enrollments(program, requests, create=True, update=True)

    return _enroll


@pytest.fixture
def enroll_in_course() -> Callable[..., dict]:
    """Create (or update) program-course enrollments through the API:
    ``enroll_in_course(program, course_key, keys, status="active", course_staff=None)``; returns the results."""
    from rollbook.programs import api as programs_api

    def _enroll(program, course_key, keys: Sequence[str], status: str = "active", course_staff: bool | None = None):
        requests = [programs_api.ProgramCourseEnrollmentRequest(key, status, course_staff) for key in keys]
        return programs_api.write_program_course_enrollments(
            program, str(course_key), requests, create=True, update=True
        )

    return _enroll
