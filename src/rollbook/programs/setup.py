"""Setting programs up: programs, their authoring organizations and curricula, and which course runs they cover.

Public through ``rollbook.programs.api``. Bad input raises ``InvalidInput`` with field errors; a missing
program or run raises ``NotFound``.
"""

from __future__ import annotations

import uuid as uuid_module
from collections.abc import Iterable, Sequence

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from opaque_keys.edx.keys import CourseKey

from rollbook.catalog import api as catalog_api
from rollbook.core.errors import InvalidInput, NotFound
from rollbook.programs.data import ProgramType
from rollbook.programs.models import (
    Curriculum,
    CurriculumCourse,
    Program,
    ProgramOrganization,
)

TITLE_MAX_LENGTH = 255


def parse_uuid(value: object, field: str = "uuid") -> uuid_module.UUID:
    """``value`` as a UUID; InvalidInput naming ``field`` when it is not one."""
    if isinstance(value, uuid_module.UUID):
        return value
    try:
        return uuid_module.UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        raise InvalidInput({field: [f"{value!r} is not a UUID."]}) from None


def programs_queryset() -> QuerySet[Program]:
    """Every program, with its authoring organizations and curricula prefetched, for listing and filtering."""
    return Program.objects.prefetch_related("authoring_organizations__organization", "curricula")


def get_program(program_uuid: str | uuid_module.UUID) -> Program:
    """The program with this uuid. InvalidInput (field ``program_uuid``) for a malformed uuid, NotFound when none."""
    wanted = parse_uuid(program_uuid, "program_uuid")
    try:
        return Program.objects.get(uuid=wanted)
    except Program.DoesNotExist:
        raise NotFound(f"No program has the uuid {wanted}.") from None


def _program(program: Program | str | uuid_module.UUID) -> Program:
    return program if isinstance(program, Program) else get_program(program)


def _new_uuid(model, value, errors: dict[str, list[str]], what: str):
    """Parse the uuid a caller chose for a new ``model`` row (None when not chosen); a malformed or taken one is
    recorded in ``errors``."""
    if value is None:
        return None
    try:
        parsed = parse_uuid(value)
    except InvalidInput as exc:
        errors.update(exc.errors)
        return None
    if model.objects.filter(uuid=parsed).exists():
        errors["uuid"] = [f"A {what} with the uuid {parsed} exists already."]
    return parsed


def create_program(
    title: str,
    *,
    program_type: str = ProgramType.MASTERS,
    organizations: Sequence[str],
    uuid: str | uuid_module.UUID | None = None,
) -> Program:
    """Create a program authored by ``organizations`` (short names, any case, at least one), in that order.

    The first organization is the one whose identity providers link the program's students. Raises
    InvalidInput naming ``title`` (empty or too long), ``program_type`` (unknown), ``organizations``
    (none, repeated, or unknown) or ``uuid`` (malformed or taken).
    """
    errors: dict[str, list[str]] = {}
    clean_title = title.strip() if isinstance(title, str) else ""
    if not clean_title:
        errors["title"] = ["A title is required."]
    elif len(clean_title) > TITLE_MAX_LENGTH:
        errors["title"] = [f"A title has at most {TITLE_MAX_LENGTH} characters."]
    if program_type not in {t.value for t in ProgramType}:
        errors["program_type"] = [f"{program_type!r} is not one of {', '.join(t.value for t in ProgramType)}."]
    orgs = []
    if isinstance(organizations, str) or not organizations:
        errors["organizations"] = ["Give the short names of the authoring organizations, the first one first."]
    else:
        for short_name in organizations:
            try:
                org = catalog_api.get_organization(str(short_name))
            except ObjectDoesNotExist:
                errors.setdefault("organizations", []).append(f"No organization {short_name!r}.")
                continue
            if org in orgs:
                errors.setdefault("organizations", []).append(f"{org.short_name} is named more than once.")
            orgs.append(org)
    program_uuid = _new_uuid(Program, uuid, errors, "program")
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            program = Program.objects.create(
                title=clean_title, program_type=program_type, **({"uuid": program_uuid} if program_uuid else {})
            )
            ProgramOrganization.objects.bulk_create(
                ProgramOrganization(program=program, organization=org, position=position)
                for position, org in enumerate(orgs)
            )
    except IntegrityError:
        raise InvalidInput({"uuid": [f"A program with the uuid {program_uuid} exists already."]}) from None
    return program


def create_curriculum(
    program: Program | str | uuid_module.UUID,
    *,
    name: str = "",
    catalog_course_keys: Sequence[str],
    is_active: bool = True,
    uuid: str | uuid_module.UUID | None = None,
) -> Curriculum:
    """Add a curriculum made of these catalog courses (``catalog-course:ORG:CODE``, in order) to the program.

    Raises NotFound for an unknown program and InvalidInput naming ``catalog_course_keys`` (malformed,
    unknown or repeated keys), ``name`` (too long), ``is_active`` (not a boolean) or ``uuid`` (malformed
    or taken).
    """
    program = _program(program)
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or len(name) > TITLE_MAX_LENGTH:
        errors["name"] = [f"A name is text of at most {TITLE_MAX_LENGTH} characters."]
    if not isinstance(is_active, bool):
        errors["is_active"] = ["Must be true or false."]
    courses = []
    if isinstance(catalog_course_keys, str):
        errors["catalog_course_keys"] = ["Give a list of catalog course keys."]
        catalog_course_keys = []
    for key in catalog_course_keys:
        try:
            course = catalog_api.get_catalog_course(key_str=key)
        except InvalidInput:
            errors.setdefault("catalog_course_keys", []).append(
                f"{key!r} is not a catalog course key (catalog-course:ORG:CODE)."
            )
            continue
        except ObjectDoesNotExist:
            errors.setdefault("catalog_course_keys", []).append(f"No catalog course {key}.")
            continue
        if course in courses:
            errors.setdefault("catalog_course_keys", []).append(f"{key} is named more than once.")
        courses.append(course)
    curriculum_uuid = _new_uuid(Curriculum, uuid, errors, "curriculum")
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            curriculum = Curriculum.objects.create(
                program=program,
                name=name.strip(),
                is_active=is_active,
                **({"uuid": curriculum_uuid} if curriculum_uuid else {}),
            )
            CurriculumCourse.objects.bulk_create(
                CurriculumCourse(curriculum=curriculum, catalog_course=course, position=position)
                for position, course in enumerate(courses)
            )
    except IntegrityError:
        raise InvalidInput({"uuid": [f"A curriculum with the uuid {curriculum_uuid} exists already."]}) from None
    return curriculum


def set_curricula_active(curricula: Iterable[Curriculum], *, active: bool) -> int:
    """Mark these curricula active (or not); return how many changed. Each change is kept in history."""
    changed = 0
    with transaction.atomic():
        for curriculum in curricula:
            if curriculum.is_active != active:
                curriculum.is_active = active
                curriculum.save(update_fields=["is_active", "modified"])
                changed += 1
    return changed


def first_active_curriculum(program: Program) -> Curriculum | None:
    """The program's oldest active curriculum, or None: where new enrollments go when none is named."""
    return program.curricula.filter(is_active=True).order_by("created", "pk").first()


def first_organization_id(program: Program) -> int | None:
    """The id of the program's first authoring organization (the one whose identity providers link students)."""
    return (
        ProgramOrganization.objects.filter(program=program)
        .order_by("position")
        .values_list("organization_id", flat=True)
        .first()
    )


def program_course_runs_queryset(program: Program) -> QuerySet:
    """The course runs of the catalog courses of the program's curricula (active or not), as a queryset."""
    catalog_course_ids = CurriculumCourse.objects.filter(curriculum__program=program).values("catalog_course_id")
    return catalog_api.course_runs_queryset().filter(catalog_course_id__in=catalog_course_ids)


def program_course_runs(program: Program | str | uuid_module.UUID) -> list:
    """The course runs of the catalog courses of the program's curricula (active or not), by course key."""
    return list(program_course_runs_queryset(_program(program)).order_by("course_key"))


def course_run_in_program(program: Program | str | uuid_module.UUID, course_key: str | CourseKey):
    """The run with exactly this course key, if it belongs to the program.

    Raises InvalidInput (field ``course_key``) for a malformed key, NotFound when no run has the key or
    the run's catalog course is in none of the program's curricula.
    """
    program = _program(program)
    key = catalog_api.parse_course_key(course_key)
    try:
        run = catalog_api.get_course_run(key)
    except ObjectDoesNotExist:
        raise NotFound(f"No course run has the key {key}.") from None
    if not CurriculumCourse.objects.filter(
        curriculum__program=program, catalog_course_id=run.catalog_course_id
    ).exists():
        raise NotFound(f"The course run {key} is not part of the program {program.uuid}.")
    return run
