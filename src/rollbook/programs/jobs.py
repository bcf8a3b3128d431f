"""Upload jobs: a CSV of program or program-course enrollments, checked at once, written in the background.

Public through ``rollbook.programs.api`` (``start_enrollment_job``, ``run_enrollment_job``, ``get_job``);
the REST layer and the CLI also use ``parse_enrollment_csv``, ``result_code`` and ``jobs_visible_to``.

The flow:

1. ``start_enrollment_job`` reads and checks the whole file synchronously. A file that is not UTF-8
   text, not CSV, empty, lacking a column, with a ragged row, an empty student key or status, or a bad
   ``course_staff`` / ``curriculum_uuid`` cell raises ``InvalidInput`` (a 400) naming the lines, and no
   job is created. A file over ``settings.PROGRAM_UPLOAD_MAX_BYTES`` raises ``UploadTooLarge`` (a 413).
   Statuses are not checked here: a bad one is a per-row ``invalid-status`` result, as in a direct write.
2. The job row is created ``pending`` with the parsed rows. A second write job for a program while one is
   pending or in progress is refused by the database (a partial unique constraint) and raises
   ``Conflict`` (a 409). Dry-run jobs never block and are never blocked.
3. After the transaction commits, the Celery task ``programs.run_enrollment_job`` is queued (it runs
   in-process when no broker is configured).
4. ``run_enrollment_job`` writes the rows in chunks through ``write_program_enrollments`` /
   ``write_program_course_enrollments`` with ``create=True, update=True`` (a PUT), updating
   ``done`` after each chunk, then stores a result CSV (one status per row, in file order) and a summary.

Keys repeated in the file (ignoring case; per course for course rows) are all reported ``duplicated``,
whichever chunk they fall in. A course row naming a run that is malformed, unknown or not in the program
is reported ``course-not-found``. Each chunk is its own transaction: should the database fail midway,
the job ends ``failed`` with the chunks already written kept and the rows not reached reported
``internal-error``.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid as uuid_module
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from rollbook.core import api as core_api
from rollbook.core.bulk import batch_size
from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.core.normalise import normalise_key
from rollbook.programs.data import (
    PROGRAM_COURSE_ENROLLMENT_STATUSES,
    PROGRAM_ENROLLMENT_STATUSES,
    RUNNING_JOB_STATES,
    JobKind,
    JobState,
    ProgramCourseEnrollmentRequest,
    ProgramEnrollmentRequest,
    WriteError,
)
from rollbook.programs.models import KEY_MAX_LENGTH, EnrollmentJob, Program

log = logging.getLogger(__name__)

__all__ = [
    "COURSE_NOT_FOUND",
    "CourseRow",
    "ProgramRow",
    "UploadTooLarge",
    "get_job",
    "jobs_visible_to",
    "parse_enrollment_csv",
    "parse_job_uuid",
    "result_code",
    "run_enrollment_job",
    "start_enrollment_job",
]

COURSE_NOT_FOUND = "course-not-found"
"""Per-row result of a course upload row whose course run is malformed, unknown or not in the program."""

PROGRAM_COLUMNS = ("student_key", "status")
PROGRAM_OPTIONAL_COLUMNS = ("curriculum_uuid",)
COURSE_COLUMNS = ("student_key", "course_id", "status")
COURSE_OPTIONAL_COLUMNS = ("course_staff",)
MAX_REPORTED_LINE_ERRORS = 20
CHUNK_BATCHES = 10  # rows per write call = CHUNK_BATCHES * settings.BULK_BATCH_SIZE

_TRUE_WORDS = frozenset({"true", "yes", "1", "y", "t"})
_FALSE_WORDS = frozenset({"false", "no", "0", "n", "f"})


class UploadTooLarge(InvalidInput):
    """The uploaded file is larger than ``settings.PROGRAM_UPLOAD_MAX_BYTES`` (the REST layer answers 413)."""


@dataclass(frozen=True, slots=True)
class ProgramRow:
    """One checked row of a program-enrollment upload."""

    student_key: str
    status: str
    curriculum_uuid: str | None = None


@dataclass(frozen=True, slots=True)
class CourseRow:
    """One checked row of a program-course-enrollment upload."""

    student_key: str
    course_id: str
    status: str
    course_staff: bool | None = None


def _api():
    # programs.api re-exports this module's functions, so it is imported when first needed
    from rollbook.programs import api

    return api


def _kind(kind: JobKind | str) -> JobKind:
    try:
        return JobKind(str(kind))
    except ValueError:
        choices = ", ".join(k.value for k in JobKind)
        raise InvalidInput({"kind": [f"Unknown job kind {kind!r}; use one of {choices}."]}) from None


def _read_bytes(source: bytes | str | Any, limit: int) -> bytes:
    if isinstance(source, str):
        data = source.encode("utf-8")
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif hasattr(source, "read"):
        size = getattr(source, "size", None)
        if isinstance(size, int) and size > limit:
            raise UploadTooLarge({"file": [f"The file has {size} bytes; at most {limit} are accepted."]})
        data = source.read(limit + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
    else:
        raise InvalidInput({"file": ["Give the CSV as text, bytes or a file."]})
    if len(data) > limit:
        raise UploadTooLarge({"file": [f"The file is larger than the {limit} bytes accepted."]})
    return data


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            {"file": [f"The file is not UTF-8 text (undecodable byte at offset {exc.start}); save it as 'CSV UTF-8'."]}
        ) from None
    if "\x00" in text:
        raise InvalidInput({"file": ["The file is not a CSV text file (it contains NUL bytes)."]})
    return text


def _flag(value: str) -> bool | None:
    word = value.strip().lower()
    if not word:
        return None
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(word)


def parse_enrollment_csv(
    kind: JobKind | str, source: bytes | str | Any, *, course_key: str | None = None
) -> list[ProgramRow] | list[CourseRow]:
    """Read and check an upload; return its rows in file order, or raise InvalidInput (field ``file``).

    Program uploads have the columns ``student_key,status`` (and optionally ``curriculum_uuid``); course
    uploads ``student_key,course_id,status`` (and optionally ``course_staff``: true/false/yes/no/1/0 or
    empty). Header names are trimmed and matched ignoring case, in any order; other columns are ignored.
    Cells are trimmed. With ``course_key``, a course upload may leave out ``course_id`` (or leave cells
    empty) and every row is for that course; a row naming another course is refused. Blank lines are
    skipped. The file may be at most ``settings.PROGRAM_UPLOAD_MAX_BYTES`` (else ``UploadTooLarge``).
    """
    kind = _kind(kind)
    text = _decode(_read_bytes(source, settings.PROGRAM_UPLOAD_MAX_BYTES))
    required = PROGRAM_COLUMNS if kind == JobKind.PROGRAM_ENROLLMENTS else COURSE_COLUMNS
    if course_key is not None:
        required = tuple(column for column in required if column != "course_id")
    example = ",".join(PROGRAM_COLUMNS if kind == JobKind.PROGRAM_ENROLLMENTS else COURSE_COLUMNS)
    if not text.strip():
        raise InvalidInput({"file": [f"The file is empty; it needs a header row ({example}) and rows."]})
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        lines = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise InvalidInput({"file": [f"The file is not valid CSV (line {reader.line_num}): {exc}."]}) from None
    columns = [name.strip().lower() for name in header]
    repeated = sorted(name for name, count in Counter(columns).items() if count > 1 and name)
    if repeated:
        raise InvalidInput({"file": [f"The header names these columns more than once: {', '.join(repeated)}."]})
    missing = [name for name in required if name not in columns]
    if missing:
        raise InvalidInput(
            {"file": [f"The header lacks the column(s) {', '.join(missing)}; it must name {example} (any order)."]}
        )
    position = {name: index for index, name in enumerate(columns)}
    errors: list[str] = []
    rows: list = []
    for line, cells in lines:
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line
        if len(errors) >= MAX_REPORTED_LINE_ERRORS:
            errors.append("… and possibly more; fix these first.")
            break
        if len(cells) != len(columns):
            errors.append(f"Line {line} has {len(cells)} cell(s); the header has {len(columns)}.")
            continue
        row_errors: list[str] = []

        def cell(name: str, row_cells: list[str] = cells) -> str:
            return row_cells[position[name]].strip() if name in position else ""

        student_key = cell("student_key")
        if not student_key:
            row_errors.append("student_key is empty")
        elif len(student_key) > KEY_MAX_LENGTH:
            row_errors.append(f"student_key is longer than {KEY_MAX_LENGTH} characters")
        status = cell("status")
        if not status:
            row_errors.append("status is empty")
        if kind == JobKind.PROGRAM_ENROLLMENTS:
            curriculum_uuid = cell("curriculum_uuid") or None
            if curriculum_uuid is not None:
                try:
                    curriculum_uuid = str(uuid_module.UUID(curriculum_uuid))
                except ValueError:
                    row_errors.append(f"curriculum_uuid {curriculum_uuid!r} is not a UUID")
            row = ProgramRow(student_key, status, curriculum_uuid)
        else:
            course_id = cell("course_id")
            if not course_id:
                if course_key is None:
                    row_errors.append("course_id is empty")
                course_id = course_key or ""
            elif course_key is not None and course_id != course_key:
                row_errors.append(f"course_id {course_id!r} is not the course of this upload ({course_key})")
            try:
                course_staff = _flag(cell("course_staff"))
            except ValueError:
                course_staff = None
                row_errors.append(f"course_staff {cell('course_staff')!r} is not true or false")
            row = CourseRow(student_key, course_id, status, course_staff)
        if row_errors:
            errors.append(f"Line {line}: {'; '.join(row_errors)}.")
        else:
            rows.append(row)
    if errors:
        raise InvalidInput({"file": errors})
    if not rows:
        raise InvalidInput({"file": [f"The file has a header but no rows; add one row per student ({example})."]})
    return rows


def _rows_to_json(rows: Sequence[ProgramRow | CourseRow]) -> list[list]:
    if rows and isinstance(rows[0], CourseRow):
        return [[row.student_key, row.course_id, row.status, row.course_staff] for row in rows]
    return [[row.student_key, row.status, row.curriculum_uuid] for row in rows]


def _rows_from_json(kind: JobKind, stored: list[list]) -> list[ProgramRow] | list[CourseRow]:
    if kind == JobKind.COURSE_ENROLLMENTS:
        return [CourseRow(*values) for values in stored]
    return [ProgramRow(*values) for values in stored]


def start_enrollment_job(
    program: Program,
    kind: JobKind | str,
    csv_file_or_text: bytes | str | Any,
    *,
    course_key: str | None = None,
    dry_run: bool = False,
    created_by: AbstractBaseUser | None = None,
    file_name: str = "",
    run_in_background: bool = True,
) -> EnrollmentJob:
    """Check an uploaded CSV and create a ``pending`` job writing it; return the job.

    ``kind`` is ``program_enrollments`` or ``course_enrollments``; ``course_key`` (course uploads only)
    names the run every row is for (it must be in the program). Raises InvalidInput for a bad file
    (nothing is created; see ``parse_enrollment_csv``), a bad kind or course key, UploadTooLarge for an
    oversized file, NotFound for a course not in the program, and Conflict when a write job of this
    program is already pending or in progress (dry runs are exempt). With ``run_in_background`` the
    Celery task is queued once the surrounding transaction commits (queueing failures mark the job
    failed rather than raise); without it the caller runs ``run_enrollment_job`` itself.
    """
    kind = _kind(kind)
    if course_key is not None:
        if kind != JobKind.COURSE_ENROLLMENTS:
            raise InvalidInput({"course_key": ["Only course-enrollment uploads name a course."]})
        course_key = str(_api().course_run_in_program(program, course_key).course_key)
    rows = parse_enrollment_csv(kind, csv_file_or_text, course_key=course_key)
    if not file_name:
        file_name = str(getattr(csv_file_or_text, "name", "") or "")
    try:
        with transaction.atomic():
            job = EnrollmentJob.objects.create(
                program=program,
                kind=kind,
                dry_run=bool(dry_run),
                created_by=created_by if created_by is not None and created_by.is_authenticated else None,
                file_name=file_name[-255:],
                rows=_rows_to_json(rows),
                total=len(rows),
            )
    except IntegrityError:
        running = (
            EnrollmentJob.objects.filter(program=program, state__in=sorted(RUNNING_JOB_STATES), dry_run=False)
            .values_list("uuid", flat=True)
            .first()
        )
        if running is None:
            raise
        raise Conflict(
            f"A write job for this program is already running ({running}); try again when it has finished."
        ) from None
    if run_in_background:
        job_uuid = str(job.uuid)
        transaction.on_commit(lambda: _queue(job_uuid))
    return job


def _queue(job_uuid: str) -> None:
    from rollbook.programs.tasks import run_enrollment_job_task

    try:
        run_enrollment_job_task.delay(job_uuid)
    except Exception as exc:  # a broker that is down must not turn the upload into a 500
        log.exception("Could not queue enrollment job %s", job_uuid)
        EnrollmentJob.objects.filter(uuid=job_uuid, state=JobState.PENDING).update(
            state=JobState.FAILED, error=f"The job could not be queued: {exc}", finished=timezone.now()
        )


def parse_job_uuid(job_uuid: str | uuid_module.UUID) -> uuid_module.UUID:
    """``job_uuid`` as a UUID; InvalidInput (field ``job_id``) when it is not one."""
    if isinstance(job_uuid, uuid_module.UUID):
        return job_uuid
    try:
        return uuid_module.UUID(str(job_uuid).strip())
    except ValueError:
        raise InvalidInput({"job_id": [f"{job_uuid!r} is not a UUID."]}) from None


def get_job(job_uuid: str | uuid_module.UUID) -> EnrollmentJob:
    """The job with this uuid (with its program). InvalidInput (field ``job_id``) for a malformed uuid,
    NotFound when there is none."""
    wanted = parse_job_uuid(job_uuid)
    try:
        return EnrollmentJob.objects.select_related("program").get(uuid=wanted)
    except EnrollmentJob.DoesNotExist:
        raise NotFound(f"No job has the uuid {wanted}.") from None


def jobs_visible_to(user: AbstractBaseUser | AnonymousUser | None) -> QuerySet[EnrollmentJob]:
    """The jobs ``user`` may see, newest first: every job for operators, their own for anyone else."""
    jobs = EnrollmentJob.objects.select_related("program").defer("rows", "result_csv")
    if core_api.is_operator(user):
        return jobs
    if user is None or not user.is_authenticated:
        return jobs.none()
    return jobs.filter(created_by=user)


def result_code(results: Iterable[str], ok_statuses: Iterable[str]) -> int:
    """The HTTP-style code of a bulk result: 200 all written, 207 some, 422 none, 204 when there were none."""
    ok = frozenset(ok_statuses)
    written = refused = 0
    for status in results:
        if status in ok:
            written += 1
        else:
            refused += 1
    if not written and not refused:
        return 204
    if not refused:
        return 200
    return 207 if written else 422


def run_enrollment_job(
    job_uuid: str | uuid_module.UUID, *, on_progress: Callable[[int, int], None] | None = None
) -> EnrollmentJob:
    """Write the rows of a pending (or interrupted in-progress) job and store its result; return the job.

    Safe to call twice: a finished job is returned as it is. ``on_progress(done, total)`` is called after
    every chunk. Errors do not propagate: the job ends ``failed`` with the error recorded (and logged).
    """
    wanted = parse_job_uuid(job_uuid)
    claimed = EnrollmentJob.objects.filter(uuid=wanted, state__in=sorted(RUNNING_JOB_STATES)).update(
        state=JobState.IN_PROGRESS, started=timezone.now(), done=0
    )
    job = get_job(wanted)
    if not claimed:
        return job
    kind = JobKind(job.kind)
    rows = _rows_from_json(kind, job.rows)
    results: list[str | None] = [None] * len(rows)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        EnrollmentJob.objects.filter(pk=job.pk).update(done=done)
        if on_progress is not None:
            on_progress(done, len(rows))

    tally: Counter[str] = Counter()
    error = ""
    try:
        if kind == JobKind.PROGRAM_ENROLLMENTS:
            _run_program_rows(job, rows, results, tally, advance)
        else:
            _run_course_rows(job, rows, results, tally, advance)
    except Exception as exc:
        log.exception("Enrollment job %s failed", job.uuid)
        error = f"{type(exc).__name__}: {exc}"
    final = [status or WriteError.INTERNAL_ERROR.value for status in results]
    ok = PROGRAM_ENROLLMENT_STATUSES if kind == JobKind.PROGRAM_ENROLLMENTS else PROGRAM_COURSE_ENROLLMENT_STATUSES
    tally["refused"] = sum(1 for status in final if status not in ok)
    job.result_csv = _result_csv(kind, rows, final)
    job.summary = {
        "total": len(rows),
        "code": result_code(final, ok),
        "statuses": dict(sorted(Counter(final).items())),
        "created": tally["created"],
        "updated": tally["updated"],
        "unchanged": tally["unchanged"],
        "refused": tally["refused"],
        "dry_run": job.dry_run,
    }
    job.error = error
    job.state = JobState.FAILED if error else JobState.SUCCEEDED
    job.done = len(rows) if not error else min(done, len(rows))
    job.finished = timezone.now()
    job.save(update_fields=["result_csv", "summary", "error", "state", "done", "finished"])
    return job


def _chunk_size() -> int:
    return batch_size() * CHUNK_BATCHES


def _duplicated_indexes(identities: Sequence[Any]) -> set[int]:
    counts = Counter(identities)
    return {index for index, identity in enumerate(identities) if counts[identity] > 1}


def _write_chunks(
    indexes: Sequence[int],
    make_requests: Callable[[Sequence[int]], list],
    keys_of: Callable[[Sequence[int]], list[str]],
    write: Callable[[list], Any],
    results: list[str | None],
    tally: Counter,
    advance: Callable[[int], None],
) -> None:
    size = _chunk_size()
    for start in range(0, len(indexes), size):
        chunk = indexes[start : start + size]
        report = write(make_requests(chunk))
        for index, key in zip(chunk, keys_of(chunk), strict=True):
            results[index] = report.results.get(key, WriteError.INTERNAL_ERROR.value)
        tally.update(report.counts())
        advance(len(chunk))


def _run_program_rows(
    job: EnrollmentJob, rows: list[ProgramRow], results: list, tally: Counter, advance: Callable[[int], None]
) -> None:
    api = _api()
    duplicated = _duplicated_indexes([normalise_key(row.student_key) for row in rows])
    for index in duplicated:
        results[index] = WriteError.DUPLICATED.value
    if duplicated:
        advance(len(duplicated))
    pending = [index for index in range(len(rows)) if index not in duplicated]
    _write_chunks(
        pending,
        lambda chunk: [
            ProgramEnrollmentRequest(rows[i].student_key, rows[i].status, rows[i].curriculum_uuid) for i in chunk
        ],
        lambda chunk: [rows[i].student_key for i in chunk],
        lambda requests: api.write_program_enrollments_report(
            job.program, requests, create=True, update=True, dry_run=job.dry_run
        ),
        results,
        tally,
        advance,
    )


def _canonical_course(course_id: str) -> str | None:
    from rollbook.catalog import api as catalog_api

    try:
        return str(catalog_api.parse_course_key(course_id))
    except InvalidInput:
        return None


def _run_course_rows(
    job: EnrollmentJob, rows: list[CourseRow], results: list, tally: Counter, advance: Callable[[int], None]
) -> None:
    api = _api()
    runs = {str(run.course_key) for run in api.program_course_runs(job.program)}
    canonical = {course_id: _canonical_course(course_id) for course_id in {row.course_id for row in rows}}
    refused = 0
    by_course: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        course_key = canonical[row.course_id]
        if course_key is None or course_key not in runs:
            results[index] = COURSE_NOT_FOUND
            refused += 1
        else:
            by_course.setdefault(course_key, []).append(index)
    for course_key, indexes in by_course.items():
        duplicated = _duplicated_indexes([normalise_key(rows[i].student_key) for i in indexes])
        for position in duplicated:
            results[indexes[position]] = WriteError.DUPLICATED.value
        refused += len(duplicated)
        by_course[course_key] = [index for position, index in enumerate(indexes) if position not in duplicated]
    if refused:
        advance(refused)
    for course_key, indexes in by_course.items():
        _write_chunks(
            indexes,
            lambda chunk: [
                ProgramCourseEnrollmentRequest(rows[i].student_key, rows[i].status, rows[i].course_staff) for i in chunk
            ],
            lambda chunk: [rows[i].student_key for i in chunk],
            lambda requests, course_key=course_key: api.write_program_course_enrollments_report(
                job.program, course_key, requests, create=True, update=True, dry_run=job.dry_run
            ),
            results,
            tally,
            advance,
        )


def _result_csv(kind: JobKind, rows: Sequence[ProgramRow | CourseRow], statuses: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if kind == JobKind.COURSE_ENROLLMENTS:
        writer.writerow(["student_key", "course_id", "status"])
        writer.writerows([row.student_key, row.course_id, status] for row, status in zip(rows, statuses, strict=True))
    else:
        writer.writerow(["student_key", "status"])
        writer.writerows([row.student_key, status] for row, status in zip(rows, statuses, strict=True))
    return buffer.getvalue()
