"""Program setup: programs, authoring organizations, curricula, and which runs belong to a program."""

from __future__ import annotations

import uuid

import pytest

from rollbook.core.errors import InvalidInput, NotFound
from rollbook.programs import api
from rollbook.programs.models import Program, ProgramOrganization


def test_create_program_keeps_the_organizations_in_order(program_orgs):
    wanted = uuid.uuid4()

    program = api.create_program("  Data Science  ", organizations=["partneru", "PROGU"], uuid=str(wanted))

    assert (program.title, program.program_type, program.uuid) == ("Data Science", "masters", wanted)
    assert list(
        ProgramOrganization.objects.filter(program=program).values_list("organization__short_name", "position")
    ) == [("PartnerU", 0), ("ProgU", 1)]


def test_create_program_refuses_bad_input_with_field_errors(program_orgs):
    taken = api.create_program("Taken", organizations=["ProgU"])

    with pytest.raises(InvalidInput) as raised:
        api.create_program(" ", program_type="bachelor", organizations=["ProgU", "NoSuchU", "progu"], uuid=taken.uuid)

    assert set(raised.value.errors) == {"title", "program_type", "organizations", "uuid"}
    assert len(raised.value.errors["organizations"]) == 2
    for bad in ({"organizations": []}, {"organizations": "ProgU"}, {"organizations": ["ProgU"], "uuid": "x"}):
        with pytest.raises(InvalidInput):
            api.create_program("T", **bad)
    with pytest.raises(InvalidInput):
        api.create_program("x" * 256, organizations=["ProgU"])
    assert Program.objects.count() == 1


def test_program_types(program_orgs):
    assert api.create_program("MM", program_type="micromasters", organizations=["ProgU"]).program_type == "micromasters"


def test_get_program(program):
    assert api.get_program(str(program.uuid)) == program
    assert api.get_program(program.uuid) == program
    assert api.get_program(str(program.uuid).upper()) == program
    with pytest.raises(NotFound):
        api.get_program(uuid.uuid4())
    with pytest.raises(InvalidInput) as raised:
        api.get_program("not-a-uuid")
    assert "program_uuid" in raised.value.errors


def test_create_curriculum(program, program_runs):
    curriculum = api.create_curriculum(
        str(program.uuid), name="Stats only", catalog_course_keys=["catalog-course:progu:Stats"], is_active=False
    )

    assert (curriculum.program, curriculum.name, curriculum.is_active) == (program, "Stats only", False)
    assert [course.course_code for course in curriculum.catalog_courses.all()] == ["Stats"]


def test_create_curriculum_refuses_bad_input(program):
    with pytest.raises(InvalidInput) as raised:
        api.create_curriculum(
            program,
            catalog_course_keys=[
                "catalog-course:ProgU:Math",
                "catalog-course:ProgU:Math",
                "ProgU+Math",
                "catalog-course:ProgU:Nope",
            ],
            is_active="yes",
            uuid="nope",
        )
    assert set(raised.value.errors) == {"catalog_course_keys", "is_active", "uuid"}
    assert len(raised.value.errors["catalog_course_keys"]) == 3
    with pytest.raises(InvalidInput):
        api.create_curriculum(program, catalog_course_keys="catalog-course:ProgU:Math")
    with pytest.raises(InvalidInput):
        api.create_curriculum(program, catalog_course_keys=[], uuid=program.curricula.get().uuid)
    with pytest.raises(NotFound):
        api.create_curriculum(uuid.uuid4(), catalog_course_keys=[])
    assert program.curricula.count() == 1


def test_program_course_runs_are_the_runs_of_every_curriculums_courses(program, make_program_run, outside_run):
    make_program_run("course-v1:ProgU+Math+2031")
    api.create_curriculum(program, name="old", catalog_course_keys=["catalog-course:ProgU:Art"], is_active=False)

    assert [str(run.course_key) for run in api.program_course_runs(program)] == [
        "course-v1:ProgU+Art+2030",
        "course-v1:ProgU+Math+2030",
        "course-v1:ProgU+Math+2031",
        "course-v1:ProgU+Stats+2030",
    ]


def test_course_run_in_program(program, math_run, outside_run, other_program):
    assert api.course_run_in_program(program, "course-v1:ProgU+Math+2030") == math_run
    assert api.course_run_in_program(other_program, math_run.course_key) == math_run
    with pytest.raises(InvalidInput):
        api.course_run_in_program(program, "Math 101")
    with pytest.raises(NotFound):
        api.course_run_in_program(program, "course-v1:ProgU+Math+1999")
    with pytest.raises(NotFound):
        api.course_run_in_program(program, outside_run.course_key)
    with pytest.raises(NotFound):
        api.course_run_in_program(other_program, "course-v1:ProgU+Stats+2030")


def test_first_active_curriculum_and_deactivation_with_history(program, curriculum):
    later = api.create_curriculum(program, name="later", catalog_course_keys=[])
    assert api.first_active_curriculum(program) == curriculum

    assert api.set_curricula_active([curriculum], active=False) == 1
    assert api.set_curricula_active([curriculum], active=False) == 0
    assert api.first_active_curriculum(program) == later
    assert list(curriculum.history.values_list("is_active", flat=True).order_by("history_id")) == [True, False]


def test_programs_queryset_prefetches_organizations_and_curricula(program, other_program, django_assert_num_queries):
    with django_assert_num_queries(4):  # programs, their organizations (with the organization), curricula
        listed = list(api.programs_queryset())
        assert [[link.organization.short_name for link in p.authoring_organizations.all()] for p in listed] == [
            ["ProgU", "PartnerU"],
            ["ProgU"],
        ]
        assert [len(p.curricula.all()) for p in listed] == [1, 1]
