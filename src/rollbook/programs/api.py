"""Public API of the programs app: programs and curricula, program and program-course enrollments.

Other apps, the REST layer, the admin, the CLI and tasks use only this module (and ``programs.data``).
It re-exports the public functions of the app's private modules:

- ``setup``: ``create_program``, ``create_curriculum``, ``get_program``, ``programs_queryset``,
  ``program_course_runs``, ``course_run_in_program``, ``first_active_curriculum``, ``set_curricula_active``;
- ``writing``: ``write_program_enrollments`` and ``write_program_course_enrollments`` (``{key as given:
  status}``), and their ``..._report`` forms returning a ``WriteReport`` (results, the action taken per key
  — created / updated / unchanged / refused — and Master's-track outcomes; what a dry run shows);
- ``reading``: ``fetch_program_enrollments``, ``fetch_program_course_enrollments``,
  ``fetch_program_enrollments_by_student`` and the unscoped querysets behind them;
- ``masters``: ``enroll_in_masters_track``;
- ``linking``: ``link_program_enrollments``, ``link_waiting_enrollments`` (realization on SSO links);
- ``retention``: ``expire_waiting_enrollments``, ``retire_external_keys``, ``retired_external_key``;
- ``jobs``: ``start_enrollment_job``, ``run_enrollment_job``, ``get_job`` (CSV upload jobs).

None of them checks permissions: callers do. Bad input raises ``InvalidInput`` (field errors), a missing
program or run ``NotFound``; bulk writes report per key and never raise for one bad row.
"""

from __future__ import annotations

from rollbook.programs.data import (
    ACTIVE_PROGRAM_STATUSES,
    MastersOutcome,
    MastersResult,
    ProgramCourseEnrollmentRequest,
    ProgramCourseEnrollmentStatus,
    ProgramEnrollmentRequest,
    ProgramEnrollmentStatus,
    ProgramType,
    WriteAction,
    WriteError,
    WriteReport,
)
from rollbook.programs.jobs import get_job, run_enrollment_job, start_enrollment_job
from rollbook.programs.linking import WaitingLinkResult, link_program_enrollments, link_waiting_enrollments
from rollbook.programs.masters import enroll_in_masters_track
from rollbook.programs.reading import (
    fetch_program_course_enrollments,
    fetch_program_enrollments,
    fetch_program_enrollments_by_student,
    program_course_enrollments_queryset,
    program_enrollments_queryset,
)
from rollbook.programs.retention import expire_waiting_enrollments, retire_external_keys, retired_external_key
from rollbook.programs.setup import (
    course_run_in_program,
    create_curriculum,
    create_program,
    first_active_curriculum,
    get_program,
    program_course_runs,
    programs_queryset,
    set_curricula_active,
)
from rollbook.programs.writing import (
    write_program_course_enrollments,
    write_program_course_enrollments_report,
    write_program_enrollments,
    write_program_enrollments_report,
)

__all__ = [
    "ACTIVE_PROGRAM_STATUSES",
    "MastersOutcome",
    "MastersResult",
    "ProgramCourseEnrollmentRequest",
    "ProgramCourseEnrollmentStatus",
    "ProgramEnrollmentRequest",
    "ProgramEnrollmentStatus",
    "ProgramType",
    "WaitingLinkResult",
    "WriteAction",
    "WriteError",
    "WriteReport",
    "course_run_in_program",
    "create_curriculum",
    "create_program",
    "enroll_in_masters_track",
    "expire_waiting_enrollments",
    "fetch_program_course_enrollments",
    "fetch_program_enrollments",
    "fetch_program_enrollments_by_student",
    "first_active_curriculum",
    "get_job",
    "get_program",
    "link_program_enrollments",
    "link_waiting_enrollments",
    "program_course_enrollments_queryset",
    "program_course_runs",
    "program_enrollments_queryset",
    "programs_queryset",
    "retire_external_keys",
    "retired_external_key",
    "run_enrollment_job",
    "set_curricula_active",
    "start_enrollment_job",
    "write_program_course_enrollments",
    "write_program_course_enrollments_report",
    "write_program_enrollments",
    "write_program_enrollments_report",
]
