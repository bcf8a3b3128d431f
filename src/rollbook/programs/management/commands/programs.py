"""``rollbook programs …``: import program enrollments from CSV, link student keys, expire waiting enrollments."""

from __future__ import annotations

import io
from argparse import RawDescriptionHelpFormatter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.programs import api, jobs
from rollbook.programs.data import JobKind, JobState

HELP = """\
Program enrollments from the command line.

  rollbook programs import FILE.csv --program UUID [--course KEY] [--dry-run] [--result OUT.csv]
      Create or update enrollments from a UTF-8 CSV, as the upload endpoints do, with a progress bar.
      Program enrollments: columns student_key,status (optionally curriculum_uuid).
      Program-course enrollments: columns student_key,course_id,status (optionally course_staff) — chosen
      when the header has a course_id column or --course is given; with --course KEY the course_id column
      may be left out and every row is for that run. The whole file is checked first; a bad file changes
      nothing. Writes a result CSV (one status per row, in file order) to --result, by default
      FILE.result.csv next to the file. Exit status 1 when any row was not written.

  rollbook programs link --program UUID KEY:USERNAME [KEY:USERNAME ...]
      Link student keys to accounts (for partners without single sign-on). A malformed pair or a key
      given twice changes nothing. Exit status 1 when any key could not be linked.

  rollbook programs expire-waiting [--days 60]
      Delete program enrollments never linked to an account and unchanged for DAYS days, with their
      program-course enrollments and their history (so the student keys are gone).
"""


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Keeps the help text as written."""


def _program(uuid: str):
    try:
        return api.get_program(uuid)
    except (InvalidInput, NotFound) as exc:
        raise CommandError(str(exc)) from None


def _header_names(raw: bytes) -> set[str]:
    first = raw.decode("utf-8-sig", errors="replace").splitlines()[:1]
    return {name.strip().lower() for name in first[0].split(",")} if first else set()


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{import,link,expire-waiting}")
        actions.required = True
        importing = actions.add_parser("import", help="Import enrollments from a CSV file.")
        importing.add_argument("file", help="The CSV file.")
        importing.add_argument("--program", required=True, help="The program's UUID.")
        importing.add_argument("--course", help="The course run every row is for (course enrollments).")
        importing.add_argument("--dry-run", action="store_true", help="Report what would happen; write nothing.")
        importing.add_argument("--result", help="Where to write the result CSV (default FILE.result.csv).")
        linking = actions.add_parser("link", help="Link student keys to accounts.")
        linking.add_argument("--program", required=True, help="The program's UUID.")
        linking.add_argument("pairs", nargs="+", metavar="KEY:USERNAME", help="A student key and a username.")
        expiring = actions.add_parser("expire-waiting", help="Delete old never-linked program enrollments.")
        expiring.add_argument("--days", type=int, default=60, help="Age in days (default 60).")

    def handle(self, *args, action: str, verbosity: int = 1, **options) -> None:
        if action == "import":
            self._import(verbosity=verbosity, **options)
        elif action == "link":
            self._link(options["program"], options["pairs"])
        else:
            self._expire(options["days"])

    # --- import ----------------------------------------------------------------------------------

    def _import(
        self, *, file: str, program: str, course: str | None, dry_run: bool, result: str | None, verbosity: int, **_
    ) -> None:
        target = _program(program)
        path = Path(file)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
        kind = (
            JobKind.COURSE_ENROLLMENTS if course or "course_id" in _header_names(raw) else JobKind.PROGRAM_ENROLLMENTS
        )
        try:
            job = jobs.start_enrollment_job(
                target,
                kind,
                raw,
                course_key=course,
                dry_run=dry_run,
                file_name=path.name,
                run_in_background=False,
            )
        except (InvalidInput, NotFound, Conflict) as exc:
            file_errors = exc.errors.get("file") if isinstance(exc, InvalidInput) else None
            raise CommandError(f"{file}: " + (" ".join(file_errors) if file_errors else str(exc))) from None
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=verbosity < 1,
        )
        with progress:
            task = progress.add_task("Checking" if dry_run else "Writing", total=job.total)
            job = jobs.run_enrollment_job(
                job.uuid, on_progress=lambda done, total: progress.update(task, completed=done)
            )
        out = Path(result) if result else path.with_name(path.name + ".result.csv")
        try:
            out.write_text(job.result_csv, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write the result to {out}: {exc.strerror or exc}.") from None
        self._report(job, out, show_table=verbosity > 0)
        if job.state == JobState.FAILED:
            raise CommandError(f"The import failed: {job.error}. Rows not reached are marked internal-error in {out}.")
        refused = job.summary.get("refused", 0)
        if refused:
            outcome = "Dry run: nothing was written." if dry_run else "The other rows were written."
            raise CommandError(f"{refused} of {job.total} row(s) were not written (see {out}). {outcome}")

    def _report(self, job, out: Path, *, show_table: bool) -> None:
        buffer = io.StringIO()
        console = Console(file=buffer, width=120, force_terminal=self.stdout.isatty(), highlight=False)
        summary = job.summary
        if job.dry_run:
            console.print("[bold yellow]Dry run: nothing was written. The report tells what would happen.[/]")
        if show_table:
            table = Table(title="Results by status")
            table.add_column("Status")
            table.add_column("Rows", justify="right")
            for status, count in summary.get("statuses", {}).items():
                table.add_row(status, str(count))
            console.print(table)
        verb = "would be" if job.dry_run else "were"
        console.print(
            f"{summary.get('total', 0)} row(s): {summary.get('created', 0)} {verb} created, "
            f"{summary.get('updated', 0)} updated, {summary.get('unchanged', 0)} unchanged, "
            f"{summary.get('refused', 0)} refused."
        )
        console.print(f"Result CSV: {out}")
        self.stdout.write(buffer.getvalue(), ending="")

    # --- link ------------------------------------------------------------------------------------

    def _link(self, program: str, pairs: list[str]) -> None:
        target = _program(program)
        mapping: dict[str, str] = {}
        seen: set[str] = set()
        for pair in pairs:
            key, separator, username = pair.partition(":")
            key, username = key.strip(), username.strip()
            if not separator or not key or not username:
                raise CommandError(f"{pair!r} is not KEY:USERNAME. Nothing was linked.")
            folded = key.casefold()
            if folded in seen:
                raise CommandError(f"The student key {key!r} is given more than once. Nothing was linked.")
            seen.add(folded)
            mapping[key] = username
        errors = api.link_program_enrollments(target, mapping)
        for key, username in mapping.items():
            if key in errors:
                self.stderr.write(f"{key}: {errors[key]}")
            else:
                self.stdout.write(f"{key}: linked to {username}")
        if errors:
            raise CommandError(f"{len(errors)} of {len(mapping)} key(s) could not be linked.")

    # --- expire-waiting --------------------------------------------------------------------------

    def _expire(self, days: int) -> None:
        if days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = api.expire_waiting_enrollments(days=days)
        self.stdout.write(f"Deleted {deleted} waiting program enrollment(s) unchanged for {days} day(s) or more.")
