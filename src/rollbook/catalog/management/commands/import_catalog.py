"""``rollbook import-catalog FILE.csv [--dry-run]``: create or update course runs from a CSV file."""

from __future__ import annotations

import csv
import io
from argparse import RawDescriptionHelpFormatter
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import DatabaseError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ImportStatus, RowResult
from rollbook.core.errors import InvalidInput

HELP = """\
Create or update course runs (with their organizations, catalog courses and modes) from a CSV file.

The file is UTF-8 text, comma-separated, with a header row naming the columns (any order, any case).
Only course_key is required:

  course_key        the run's key, course-v1:ORG+CODE+RUN. A missing catalog course is created; a missing
                    organization too when ROLLBOOK_ORGANIZATIONS_AUTOCREATE is on (otherwise the row fails).
                    A CCX key, ccx-v1:ORG+CODE+RUN+ccx@N, needs its master run course-v1:ORG+CODE+RUN to
                    exist already or to be created by another row of the file.
  title             the run's title (a new catalog course gets it too); default: the catalog course's title
  language          the catalog course's language code: en, es-419, zh-cn, ... (not EN or en_us)
  start             when the run starts        } ISO 8601, e.g. 2027-01-31T00:00Z or 2027-01-31
  end               when it ends               } (no offset means UTC); the word "none" clears the date
  enrollment_start  when enrollment opens      }
  enrollment_end    when enrollment closes     }
  pacing            self or instructor (default instructor)
  marketable        true or false (yes/no, 1/0; default true)
  modes             all of the run's modes, as slug:price_in_cents[@upgrade_deadline] joined by ";",
                    e.g. audit:0;verified:4900@2027-01-31T00:00Z. Modes not listed are removed.

An empty cell leaves that field as it is. Each row is reported as created, updated (with what changed),
unchanged, error (with the reason) or duplicated (its key appears on more than one row; none of those rows
is applied). Rows without problems are applied even when others fail. The exit status is 1 when any row
failed. With --dry-run the report tells what would happen and nothing is written.

Example: src/rollbook/catalog/fixtures/example_catalog.csv
"""

STATUS_STYLES = {
    ImportStatus.CREATED: "green",
    ImportStatus.UPDATED: "cyan",
    ImportStatus.UNCHANGED: "dim",
    ImportStatus.ERROR: "bold red",
    ImportStatus.DUPLICATED: "bold red",
}


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Keeps the column table of the help text as written."""


def read_catalog_csv(path: str) -> list[dict[str | None, str | list[str] | None]]:
    """Read a catalog CSV into row dicts; raise CommandError with a plain explanation when the file is
    missing, not UTF-8, not CSV, or lacks the required columns."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{path} is not UTF-8 text (undecodable byte at offset {exc.start}); save it as 'CSV UTF-8'."
        ) from None
    if "\x00" in text:
        raise CommandError(f"{path} is not a CSV text file.")
    if not text.strip():
        raise CommandError(f"{path} is empty; it needs a header row, e.g. course_key,title,start,end.")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        columns = reader.fieldnames or []
        rows = list(reader)
    except csv.Error as exc:
        raise CommandError(f"{path} is not valid CSV (line {reader.line_num}): {exc}.") from None
    try:
        catalog_api.validate_import_columns(columns)
    except InvalidInput as exc:
        raise CommandError(f"{path}: {' '.join(exc.errors['columns'])}") from None
    return rows


def _details(result: RowResult) -> str:
    lines = [f"{field}: {' '.join(messages)}" for field, messages in result.errors.items()]
    for change in result.changes:
        if change.old:
            lines.append(f"{change.field}: {change.old} → {change.new}")
        else:
            lines.append(f"{change.field}: {change.new}")
    lines.extend(f"warning: {warning}" for warning in result.warnings)
    return "\n".join(lines)


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="The CSV file to import.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would change; write nothing.")

    def handle(self, *args, file: str, dry_run: bool, verbosity: int, **options) -> None:
        rows = read_catalog_csv(file)
        results = self._import(rows, dry_run=dry_run, show_progress=verbosity > 0)
        self._report(results, dry_run=dry_run, show_rows=verbosity > 0)
        failed = [result for result in results if not result.ok]
        if failed:
            if dry_run:
                outcome = "Dry run: nothing was written."
            elif len(failed) < len(results):
                outcome = "The other rows were applied."
            else:
                outcome = "Nothing was applied."
            raise CommandError(f"{len(failed)} of {len(results)} row(s) failed (first: row {failed[0].row}). {outcome}")

    def _import(self, rows: list, *, dry_run: bool, show_progress: bool) -> list[RowResult]:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=not show_progress,
        )
        with progress:
            tasks = {
                "check": progress.add_task("Checking rows", total=len(rows)),
                "write": progress.add_task("Would write" if dry_run else "Writing", total=len(rows)),
            }
            try:
                return catalog_api.import_catalog_rows(
                    rows, dry_run=dry_run, on_progress=lambda stage, count: progress.advance(tasks[stage], count)
                )
            except DatabaseError as exc:
                raise CommandError(
                    f"The database refused the import ({exc}); the catalog probably changed meanwhile. "
                    "Nothing was written; run the import again."
                ) from None

    def _report(self, results: list[RowResult], *, dry_run: bool, show_rows: bool) -> None:
        buffer = io.StringIO()
        console = Console(file=buffer, width=160, force_terminal=self.stdout.isatty(), highlight=False)
        if dry_run:
            console.print("[bold yellow]Dry run: nothing was written. The report tells what would happen.[/]")
        if show_rows and results:
            table = Table(title="Catalog import", show_lines=False)
            table.add_column("Row", justify="right")
            table.add_column("Course key", overflow="fold")
            table.add_column("Status")
            table.add_column("Details", overflow="fold")
            for result in results:
                style = STATUS_STYLES[result.status]
                table.add_row(
                    str(result.row), result.course_key, f"[{style}]{result.status.value}[/]", _details(result)
                )
            console.print(table)
        counts = Counter(result.status for result in results)
        summary = ", ".join(f"{status.value} {counts.get(status, 0)}" for status in ImportStatus)
        console.print(f"{len(results)} row(s): {summary}.")
        self.stdout.write(buffer.getvalue(), ending="")
