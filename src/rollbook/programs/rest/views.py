"""REST views of the programs app (``/api/program_enrollments/v1/``), in the Open edX LMS v1 shape.

Who may do what:
- anonymous callers get 401;
- operators may read and write every program;
- program administrators may read and write the programs they administer: those named by a
  ``program_admin`` role scoped to the program (``program:<uuid>``) or to one of its authoring
  organizations (``org:<short name>``); any other program is a 403;
- everyone else gets 403;
- upload jobs are visible to their creator and to operators (anyone else: 404).

Bulk writes answer ``{student_key: status}`` with 200 (all written), 207 (some), 422 (none) or 204 (an
empty list); 413 past ``ROLLBOOK_PROGRAM_WRITE_MAX_RECORDS`` records. ``?dry_run=true`` tells what would
happen and writes nothing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from rollbook.core import api as core_api
from rollbook.core.bulk import batch_size
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.core.errors import NotFound
from rollbook.core.pagination import CursorPagination
from rollbook.core.permissions import operator_or_role
from rollbook.core.query import query_flag
from rollbook.programs import api, jobs
from rollbook.programs.data import (
    PROGRAM_COURSE_ENROLLMENT_STATUSES,
    PROGRAM_ENROLLMENT_STATUSES,
    JobKind,
    JobState,
    WriteAction,
)
from rollbook.programs.models import CourseStaffAssignment, Program, ProgramOrganization
from rollbook.programs.rest.serializers import (
    JobCreatedSerializer,
    JobSerializer,
    PayloadTooLarge,
    ProgramCourseEnrollmentItemSerializer,
    ProgramCourseEnrollmentPageSerializer,
    ProgramCourseEnrollmentRowSerializer,
    ProgramEnrollmentItemSerializer,
    ProgramEnrollmentPageSerializer,
    ProgramEnrollmentRowSerializer,
    UploadSerializer,
    parse_course_items,
    parse_program_items,
)

IsOperatorOrProgramAdmin = operator_or_role(Role.PROGRAM_ADMIN)

BAD_REQUEST = OpenApiResponse(description="Malformed input; the body maps each field (or item index) to its errors.")
NOT_AUTHENTICATED = OpenApiResponse(description="No or invalid credentials.")
FORBIDDEN = OpenApiResponse(description="The caller administers neither this program nor its organizations.")
PROGRAM_NOT_FOUND = OpenApiResponse(description="No such program.")
COURSE_NOT_FOUND = OpenApiResponse(description="No such program, or the course run is unknown or not in the program.")
TOO_LARGE = OpenApiResponse(description="More records than ROLLBOOK_PROGRAM_WRITE_MAX_RECORDS.")
RESULTS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description="`{student_key: status}`: the written status, or why the record was not written "
    "(duplicated, invalid-status, conflict, illegal-operation, not-in-program, not-found). With "
    "`?dry_run=true` the body is instead `{dry_run: true, results: {student_key: status}, summary: {created, "
    "updated, unchanged, refused: counts}, created: [keys], updated: [keys], unchanged: [keys], refused: [keys]}`.",
)

PROGRAM_UUID = OpenApiParameter("program_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The program.")
COURSE_KEY = OpenApiParameter(
    "course_key", OpenApiTypes.STR, OpenApiParameter.PATH, description="A course run key, course-v1:ORG+CODE+RUN."
)
JOB_ID = OpenApiParameter("job_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The job.")
DRY_RUN = OpenApiParameter(
    "dry_run", OpenApiTypes.BOOL, description="true: tell what would happen; write nothing (default false)."
)
STATUSES = OpenApiParameter(
    "statuses", OpenApiTypes.STR, description="Only these statuses (comma-separated, or the parameter repeated)."
)
STUDENT_KEY = OpenApiParameter(
    "student_key", OpenApiTypes.STR, many=True, description="Only these student keys (repeat it; any case)."
)
REALIZED_ONLY = OpenApiParameter("realized_only", OpenApiTypes.BOOL, description="Only students linked to an account.")
WAITING_ONLY = OpenApiParameter("waiting_only", OpenApiTypes.BOOL, description="Only students not linked yet.")
CURRICULUM_UUIDS = OpenApiParameter(
    "curriculum_uuids", OpenApiTypes.STR, description="Only these curricula (comma-separated UUIDs, or repeated)."
)
ACTIVE_ONLY = OpenApiParameter("active_only", OpenApiTypes.BOOL, description="Only active program-course enrollments.")
INACTIVE_ONLY = OpenApiParameter("inactive_only", OpenApiTypes.BOOL, description="Only inactive ones.")
ROSTER_FORMAT = OpenApiParameter(
    "format", OpenApiTypes.STR, enum=["csv", "json"], description="csv (default) or json; `fmt` is accepted too."
)


# --- helpers -------------------------------------------------------------------------------------


def query_list(request, name: str) -> list[str] | None:
    """A list query parameter, comma-separated and/or repeated; None when absent."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def query_choices(request, name: str, allowed: frozenset[str]) -> list[str] | None:
    """A list query parameter whose every value must be one of ``allowed`` (else a 400)."""
    values = query_list(request, name)
    if values is None:
        return None
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValidationError({name: [f"Unknown value(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}."]})
    return values


def may_administer(user, program: Program) -> bool:
    """True when ``user`` is an operator or a program administrator of ``program`` or of one of its authoring
    organizations."""
    if core_api.is_operator(user):
        return True
    if str(program.uuid) in (core_api.scope_keys_for(user, Role.PROGRAM_ADMIN, ScopeKind.PROGRAM) or set()):
        return True
    organizations = core_api.organizations_administered(user)
    if not organizations:
        return False
    authoring = ProgramOrganization.objects.filter(program=program).values_list(
        "organization__short_name_normalized", flat=True
    )
    return bool(organizations & set(authoring))


def program_for(request, program_uuid: str) -> Program:
    """The program of the URL, if the caller may administer it (400 malformed uuid, 404 unknown, 403 not theirs)."""
    program = api.get_program(program_uuid)
    if not may_administer(request.user, program):
        raise PermissionDenied("You do not administer this program.")
    return program


def course_key_for(program: Program, course_key: str) -> str:
    """The canonical key of a run of ``program`` (400 malformed, 404 unknown or not in the program)."""
    return str(api.course_run_in_program(program, course_key).course_key)


class IdCursorPagination(CursorPagination):
    """Cursor pagination in id order (the upstream order)."""

    ordering = ("id",)


class IgnoreClientContentNegotiation(BaseContentNegotiation):
    """Use the view's first renderer whatever the client asks for (``?format=`` chooses the file type here,
    and an ``Accept: text/csv`` must not be a 406)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CsvBodyParser(BaseParser):
    """A ``text/csv`` request body, read as bytes (at most ``ROLLBOOK_PROGRAM_UPLOAD_MAX_BYTES``)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        limit = int(settings.PROGRAM_UPLOAD_MAX_BYTES)
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge(f"The file is larger than the {limit} bytes accepted.")
        return data


def _write_response(report, *, ok: frozenset[str], dry_run: bool) -> Response:
    code = jobs.result_code(report.results.values(), ok)
    if not dry_run:
        return Response(report.results, status=code)
    outcome: dict[str, list[str]] = {action.value: [] for action in WriteAction}
    for key, action in report.actions.items():
        outcome[action].append(key)
    body = {
        "dry_run": True,
        "results": report.results,
        "summary": {name: len(keys) for name, keys in outcome.items()},
        **outcome,
    }
    return Response(body, status=code)


def _write_schema(kind: str, item_serializer, method: str, *, course: bool) -> Callable:
    what = "program-course enrollments" if course else "program enrollments"
    missing = "not-found" if course else "not-in-program"
    effect = {
        "POST": f"Creates new {what}; an existing one is reported `conflict`.",
        "PATCH": f"Updates existing {what}; a missing one is reported `{missing}`.",
        "PUT": f"Creates or updates {what}.",
    }[method]
    return extend_schema(
        summary=f"{method} {kind}",
        description=effect + " One result per student key (matched ignoring case). 200 when every record was "
        "written, 207 when some were, 422 when none was, 204 for an empty list; 413 past "
        "ROLLBOOK_PROGRAM_WRITE_MAX_RECORDS records. With `?dry_run=true` nothing is written and the body "
        "tells what would be created, updated, left unchanged and refused.",
        parameters=[PROGRAM_UUID, *([COURSE_KEY] if course else []), DRY_RUN],
        request=item_serializer(many=True),
        responses={
            200: RESULTS,
            204: OpenApiResponse(description="The list was empty; nothing to do."),
            207: RESULTS,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: COURSE_NOT_FOUND if course else PROGRAM_NOT_FOUND,
            413: TOO_LARGE,
            422: RESULTS,
        },
    )


# --- program enrollments -------------------------------------------------------------------------


def _program_rows(enrollments: list) -> list[dict[str, Any]]:
    return [
        {
            "student_key": enrollment.external_user_key,
            "status": enrollment.status,
            "account_exists": enrollment.user_id is not None,
            "curriculum_uuid": str(enrollment.curriculum.uuid),
            "username": enrollment.user.username if enrollment.user_id else "",
            "email": enrollment.user.email if enrollment.user_id else "",
        }
        for enrollment in enrollments
    ]


def _program_enrollments(request, program: Program) -> QuerySet:
    return api.fetch_program_enrollments(
        program,
        curriculum_uuids=query_list(request, "curriculum_uuids"),
        external_user_keys=query_list(request, "student_key"),
        statuses=query_choices(request, "statuses", PROGRAM_ENROLLMENT_STATUSES),
        realized_only=query_flag(request, "realized_only"),
        waiting_only=query_flag(request, "waiting_only"),
    ).select_related("user", "curriculum")


class ProgramEnrollmentsView(APIView):
    """A program's enrollments: list, and bulk create (POST) / update (PATCH) / create-or-update (PUT)."""

    permission_classes = [IsOperatorOrProgramAdmin]

    @extend_schema(
        summary="List a program's enrollments",
        description="Cursor-paged in id order. Filters: statuses, curriculum_uuids, student_key, realized_only / "
        "waiting_only (not both).",
        parameters=[PROGRAM_UUID, STATUSES, CURRICULUM_UUIDS, STUDENT_KEY, REALIZED_ONLY, WAITING_ONLY],
        responses={
            200: ProgramEnrollmentPageSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: PROGRAM_NOT_FOUND,
        },
    )
    def get(self, request, program_uuid: str):
        program = program_for(request, program_uuid)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(_program_enrollments(request, program), request, view=self)
        return paginator.get_paginated_response(_program_rows(page))

    def _write(self, request, program_uuid: str, *, create: bool, update: bool) -> Response:
        program = program_for(request, program_uuid)
        dry_run = query_flag(request, "dry_run")
        requests = parse_program_items(request.data)
        if not requests:
            return Response(status=status.HTTP_204_NO_CONTENT)
        report = api.write_program_enrollments_report(program, requests, create=create, update=update, dry_run=dry_run)
        return _write_response(report, ok=PROGRAM_ENROLLMENT_STATUSES, dry_run=dry_run)

    @_write_schema("program enrollments", ProgramEnrollmentItemSerializer, "POST", course=False)
    def post(self, request, program_uuid: str):
        return self._write(request, program_uuid, create=True, update=False)

    @_write_schema("program enrollments", ProgramEnrollmentItemSerializer, "PATCH", course=False)
    def patch(self, request, program_uuid: str):
        return self._write(request, program_uuid, create=False, update=True)

    @_write_schema("program enrollments", ProgramEnrollmentItemSerializer, "PUT", course=False)
    def put(self, request, program_uuid: str):
        return self._write(request, program_uuid, create=True, update=True)


# --- program-course enrollments ------------------------------------------------------------------


def _staff_user_ids(user_ids: set[int], course_key: str) -> set[int]:
    """Those of ``user_ids`` holding the course-staff role of the run (one query per batch of users)."""
    if not user_ids:
        return set()
    wanted = (Role.COURSE_STAFF, Scope(ScopeKind.COURSE_RUN, course_key))
    return {user_id for user_id, roles in core_api.roles_by_user(user_ids).items() if wanted in roles}


def _with_staff_assignment(queryset: QuerySet) -> QuerySet:
    return queryset.annotate(
        has_staff_assignment=Exists(CourseStaffAssignment.objects.filter(program_course_enrollment=OuterRef("pk")))
    )


def _course_rows(enrollments: list, course_key: str) -> list[dict[str, Any]]:
    staff = _staff_user_ids(
        {e.program_enrollment.user_id for e in enrollments if e.program_enrollment.user_id}, course_key
    )
    rows = []
    for enrollment in enrollments:
        student = enrollment.program_enrollment
        rows.append(
            {
                "student_key": student.external_user_key,
                "status": enrollment.status,
                "account_exists": student.user_id is not None,
                "curriculum_uuid": str(student.curriculum.uuid),
                "course_staff": student.user_id in staff if student.user_id else enrollment.has_staff_assignment,
            }
        )
    return rows


def _course_enrollments(request, program: Program, course_key: str) -> QuerySet:
    queryset = api.fetch_program_course_enrollments(
        program,
        course_key,
        external_user_keys=query_list(request, "student_key"),
        statuses=query_choices(request, "statuses", PROGRAM_COURSE_ENROLLMENT_STATUSES),
        active_only=query_flag(request, "active_only"),
        inactive_only=query_flag(request, "inactive_only"),
        realized_only=query_flag(request, "realized_only"),
        waiting_only=query_flag(request, "waiting_only"),
    )
    return _with_staff_assignment(queryset.select_related("program_enrollment__curriculum"))


class ProgramCourseEnrollmentsView(APIView):
    """The enrollments of a program's students in one of its course runs: list and bulk writes."""

    permission_classes = [IsOperatorOrProgramAdmin]

    @extend_schema(
        summary="List a program's enrollments in a course run",
        description="Cursor-paged in id order. Filters: statuses, student_key, active_only / inactive_only, "
        "realized_only / waiting_only.",
        parameters=[
            PROGRAM_UUID,
            COURSE_KEY,
            STATUSES,
            STUDENT_KEY,
            ACTIVE_ONLY,
            INACTIVE_ONLY,
            REALIZED_ONLY,
            WAITING_ONLY,
        ],
        responses={
            200: ProgramCourseEnrollmentPageSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: COURSE_NOT_FOUND,
        },
    )
    def get(self, request, program_uuid: str, course_key: str):
        program = program_for(request, program_uuid)
        course_key = course_key_for(program, course_key)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(_course_enrollments(request, program, course_key), request, view=self)
        return paginator.get_paginated_response(_course_rows(page, course_key))

    def _write(self, request, program_uuid: str, course_key: str, *, create: bool, update: bool) -> Response:
        program = program_for(request, program_uuid)
        course_key = course_key_for(program, course_key)
        dry_run = query_flag(request, "dry_run")
        requests = parse_course_items(request.data)
        if not requests:
            return Response(status=status.HTTP_204_NO_CONTENT)
        report = api.write_program_course_enrollments_report(
            program, course_key, requests, create=create, update=update, dry_run=dry_run
        )
        return _write_response(report, ok=PROGRAM_COURSE_ENROLLMENT_STATUSES, dry_run=dry_run)

    @_write_schema("program-course enrollments", ProgramCourseEnrollmentItemSerializer, "POST", course=True)
    def post(self, request, program_uuid: str, course_key: str):
        return self._write(request, program_uuid, course_key, create=True, update=False)

    @_write_schema("program-course enrollments", ProgramCourseEnrollmentItemSerializer, "PATCH", course=True)
    def patch(self, request, program_uuid: str, course_key: str):
        return self._write(request, program_uuid, course_key, create=False, update=True)

    @_write_schema("program-course enrollments", ProgramCourseEnrollmentItemSerializer, "PUT", course=True)
    def put(self, request, program_uuid: str, course_key: str):
        return self._write(request, program_uuid, course_key, create=True, update=True)


# --- rosters -------------------------------------------------------------------------------------


def _roster_format(request) -> str:
    value = (request.query_params.get("format") or request.query_params.get("fmt") or "csv").strip().lower()
    if value not in ("csv", "json"):
        raise ValidationError({"format": [f"{value!r} is not a roster format; use csv or json."]})
    return value


def _in_id_chunks(queryset: QuerySet) -> Iterator[list]:
    """The rows of ``queryset`` in id order, one query per ``settings.BULK_BATCH_SIZE`` rows."""
    size = batch_size()
    last_id = 0
    while True:
        chunk = list(queryset.filter(id__gt=last_id).order_by("id")[:size])
        if not chunk:
            return
        yield chunk
        if len(chunk) < size:
            return
        last_id = chunk[-1].id


class _Echo:
    def write(self, value: str) -> str:
        return value


def _stream(rows: Iterator[dict[str, Any]], columns: list[str], fmt: str) -> Iterator[str]:
    if fmt == "json":
        yield "["
        first = True
        for row in rows:
            yield ("" if first else ",") + json.dumps(row)
            first = False
        yield "]"
        return
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow(
            [
                ("true" if value else "false") if isinstance(value, bool) else ("" if value is None else value)
                for value in (row[column] for column in columns)
            ]
        )


def _roster_response(rows: Iterator[dict[str, Any]], columns: list[str], fmt: str, name: str) -> StreamingHttpResponse:
    content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    response = StreamingHttpResponse(_stream(rows, columns, fmt), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


ROSTER_RESPONSES = {
    (200, "text/csv"): OpenApiTypes.STR,
    400: BAD_REQUEST,
    401: NOT_AUTHENTICATED,
    403: FORBIDDEN,
}


class ProgramRosterView(APIView):
    """Download every enrollment of a program as one CSV or JSON file."""

    permission_classes = [IsOperatorOrProgramAdmin]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientContentNegotiation

    @extend_schema(
        summary="Download a program's roster",
        description="Every program enrollment (with the list filters), streamed as CSV (columns student_key, "
        "status, account_exists, curriculum_uuid, username, email) or as a JSON list of the same objects.",
        parameters=[PROGRAM_UUID, ROSTER_FORMAT, STATUSES, CURRICULUM_UUIDS, STUDENT_KEY, REALIZED_ONLY, WAITING_ONLY],
        responses={
            **ROSTER_RESPONSES,
            (200, "application/json"): ProgramEnrollmentRowSerializer(many=True),
            404: PROGRAM_NOT_FOUND,
        },
    )
    def get(self, request, program_uuid: str):
        program = program_for(request, program_uuid)
        fmt = _roster_format(request)
        queryset = _program_enrollments(request, program)
        rows = (row for chunk in _in_id_chunks(queryset) for row in _program_rows(chunk))
        columns = list(ProgramEnrollmentRowSerializer().fields)
        return _roster_response(rows, columns, fmt, f"program-{program.uuid}-enrollments")


class ProgramCourseRosterView(APIView):
    """Download every enrollment of a program's students in one course run as one CSV or JSON file."""

    permission_classes = [IsOperatorOrProgramAdmin]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientContentNegotiation

    @extend_schema(
        summary="Download a program's roster of a course run",
        description="Every program-course enrollment of the run (with the list filters), streamed as CSV "
        "(columns student_key, status, account_exists, curriculum_uuid, course_staff) or JSON.",
        parameters=[
            PROGRAM_UUID,
            COURSE_KEY,
            ROSTER_FORMAT,
            STATUSES,
            STUDENT_KEY,
            ACTIVE_ONLY,
            INACTIVE_ONLY,
            REALIZED_ONLY,
            WAITING_ONLY,
        ],
        responses={
            **ROSTER_RESPONSES,
            (200, "application/json"): ProgramCourseEnrollmentRowSerializer(many=True),
            404: COURSE_NOT_FOUND,
        },
    )
    def get(self, request, program_uuid: str, course_key: str):
        program = program_for(request, program_uuid)
        course_key = course_key_for(program, course_key)
        fmt = _roster_format(request)
        queryset = _course_enrollments(request, program, course_key)
        rows = (row for chunk in _in_id_chunks(queryset) for row in _course_rows(chunk, course_key))
        columns = list(ProgramCourseEnrollmentRowSerializer().fields)
        safe_key = course_key.replace(":", "_").replace("+", "_")
        return _roster_response(rows, columns, fmt, f"program-{program.uuid}-{safe_key}-enrollments")


# --- upload jobs ---------------------------------------------------------------------------------


def _job_url(request, job) -> str:
    return request.build_absolute_uri(reverse("program-enrollment-job", args=[str(job.uuid)]))


def _result_url(request) -> Callable:
    return lambda job: request.build_absolute_uri(reverse("program-enrollment-job-result", args=[str(job.uuid)]))


def _upload_source(request) -> tuple[Any, str]:
    if request.FILES:
        upload = request.FILES.get("file") or next(iter(request.FILES.values()))
        return upload, upload.name or ""
    if isinstance(request.data, bytes):
        return request.data, ""
    raise ValidationError(
        {"file": ["Send the CSV as a multipart form with a file field named 'file', or as a text/csv body."]}
    )


def _refuse_oversized(request) -> None:
    limit = int(settings.PROGRAM_UPLOAD_MAX_BYTES)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # multipart framing adds a little; anything much larger than the limit is refused before it is read
    if length > limit + 64 * 1024:
        raise PayloadTooLarge(f"The upload is larger than the {limit} bytes accepted.")


class _UploadView(APIView):
    permission_classes = [IsOperatorOrProgramAdmin]
    parser_classes = [MultiPartParser, CsvBodyParser]
    kind: JobKind

    def post(self, request, program_uuid: str):
        program = program_for(request, program_uuid)
        dry_run = query_flag(request, "dry_run")
        _refuse_oversized(request)
        source, name = _upload_source(request)
        try:
            job = jobs.start_enrollment_job(
                program, self.kind, source, dry_run=dry_run, created_by=request.user, file_name=name
            )
        except jobs.UploadTooLarge as exc:
            raise PayloadTooLarge(" ".join(exc.errors.get("file", [str(exc)]))) from None
        body = {"job_id": str(job.uuid), "job_url": _job_url(request, job), "state": job.state}
        return Response(body, status=status.HTTP_202_ACCEPTED)


def _upload_schema(columns: str, what: str) -> Callable:
    return extend_schema(
        summary=f"Upload a CSV of {what}",
        description=f"A UTF-8 CSV with the columns {columns} (header names trimmed, any case, any order), as a "
        "multipart file field `file` or as a `text/csv` body, at most ROLLBOOK_PROGRAM_UPLOAD_MAX_BYTES. The "
        "whole file is checked first: a bad encoding, a missing column, a ragged row, an empty cell or an empty "
        "file is a 400 naming the lines, and nothing is written. Then a job writes the rows (create or update) "
        "in the background: 202 with its id and URL. While another write job of the program is pending or "
        "running the upload is refused with 409. `?dry_run=true` writes nothing; the job's result tells what "
        "would happen.",
        parameters=[PROGRAM_UUID, DRY_RUN],
        request={"multipart/form-data": UploadSerializer, "text/csv": OpenApiTypes.STR},
        responses={
            202: JobCreatedSerializer,
            400: BAD_REQUEST,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: PROGRAM_NOT_FOUND,
            409: OpenApiResponse(description="A write job of this program is already pending or running."),
            413: OpenApiResponse(description="The file is larger than ROLLBOOK_PROGRAM_UPLOAD_MAX_BYTES."),
        },
    )


class ProgramEnrollmentUploadView(_UploadView):
    """Upload program enrollments (``student_key,status[,curriculum_uuid]``) as a background job."""

    kind = JobKind.PROGRAM_ENROLLMENTS

    @_upload_schema("student_key,status (optionally curriculum_uuid)", "program enrollments")
    def post(self, request, program_uuid: str):
        return super().post(request, program_uuid)


class ProgramCourseEnrollmentUploadView(_UploadView):
    """Upload program-course enrollments (``student_key,course_id,status[,course_staff]``) as a background job."""

    kind = JobKind.COURSE_ENROLLMENTS

    @_upload_schema(
        "student_key,course_id,status (optionally course_staff: true/false). A row whose course is unknown or "
        "not in the program gets `course-not-found`",
        "program-course enrollments",
    )
    def post(self, request, program_uuid: str):
        return super().post(request, program_uuid)


def _visible_job(request, job_uuid: str):
    """The job of the URL if the caller may see it (400 malformed uuid, 404 unknown or someone else's); its
    stored rows are not loaded."""
    wanted = jobs.parse_job_uuid(job_uuid)
    job = jobs.jobs_visible_to(request.user).filter(uuid=wanted).first()
    if job is None:
        raise NotFound(f"No job has the uuid {wanted}.")
    return job


JOB_NOT_FOUND = OpenApiResponse(description="No such job visible to the caller.")


class JobListView(APIView):
    """The caller's upload jobs (every job for operators), newest first."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="List upload jobs",
        description="Your own jobs (operators: every job), newest first, cursor-paged.",
        responses={200: JobSerializer(many=True), 400: BAD_REQUEST, 401: NOT_AUTHENTICATED},
    )
    def get(self, request):
        paginator = CursorPagination()
        page = paginator.paginate_queryset(jobs.jobs_visible_to(request.user), request, view=self)
        data = JobSerializer(page, many=True, context={"result_url": _result_url(request)}).data
        return paginator.get_paginated_response(data)


class JobDetailView(APIView):
    """An upload job: state, progress, summary."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Follow an upload job",
        description="State (pending, in_progress, succeeded, failed), progress (rows done / total) and, once "
        "finished, a summary and the URL of the result CSV.",
        parameters=[JOB_ID],
        responses={200: JobSerializer, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 404: JOB_NOT_FOUND},
    )
    def get(self, request, job_uuid: str):
        job = _visible_job(request, job_uuid)
        return Response(JobSerializer(job, context={"result_url": _result_url(request)}).data)


class JobResultView(APIView):
    """The result CSV of a finished upload job."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = IgnoreClientContentNegotiation

    @extend_schema(
        summary="Download an upload job's result",
        description="A CSV with one row per uploaded row, in file order: student_key,status (course uploads: "
        "student_key,course_id,status). 404 until the job has finished.",
        parameters=[JOB_ID],
        responses={(200, "text/csv"): OpenApiTypes.STR, 400: BAD_REQUEST, 401: NOT_AUTHENTICATED, 404: JOB_NOT_FOUND},
    )
    def get(self, request, job_uuid: str):
        job = _visible_job(request, job_uuid)
        if job.state not in (JobState.SUCCEEDED, JobState.FAILED):
            raise NotFound(f"The job has no result yet (it is {job.state}).")
        response = HttpResponse(job.result_csv, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.uuid}-result.csv"'
        return response
