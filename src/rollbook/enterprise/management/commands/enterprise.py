"""``rollbook enterprise …``: default-enrollment checks and realization, learner status, linking learners and
assigning licenses from the command line."""

from __future__ import annotations

import io
import sys
import time
from argparse import RawDescriptionHelpFormatter
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.utils import timezone
from rich.console import Console
from rich.table import Table

from rollbook.core.errors import Conflict, InvalidInput, NotFound
from rollbook.enterprise import api
from rollbook.enterprise.data import IntentionProblem, IntentionStatus
from rollbook.identity import api as identity_api

HELP = """\
Enterprise customers from the command line. CUSTOMER is a customer's slug or uuid.

  rollbook enterprise validate-intentions [--customer CUSTOMER] [--delay-minutes 30]
      List default-enrollment intentions outside their customer's catalogs, or whose run is missing or
      cannot be enrolled in now, for every customer unless one is given. Only intentions created more than
      --delay-minutes ago are checked (newer ones may still be being set up). Exit status 1 when any.

  rollbook enterprise realize --customer CUSTOMER
      Enroll every active learner of the customer in its enrollable default enrollments (with an activated
      license covering them) and print the counts and the time taken. Idempotent.

  rollbook enterprise restore-intention UUID
      Undo the soft delete of an intention (then run `realize` to enroll learners in it).

  rollbook enterprise learner-status --customer CUSTOMER --user USERNAME_OR_EMAIL
      Show how each of the customer's intentions stands for one learner: already enrolled, enrollable, or
      not enrollable, and which rule decided.

  rollbook enterprise link-learners --customer CUSTOMER FILE|-
      Link learners by email, one per line (blank lines and lines starting with # are skipped; - reads
      standard input). Emails without an account become pending learners, linked when they register.
      Prints the count per outcome; exit status 1 when any email was refused (malformed or repeated).

  rollbook enterprise assign-licenses --plan UUID FILE|-
      Assign a license of the plan to each email (same file format). Nothing is assigned when the plan has
      fewer free seats than new emails. Exit status 1 when any email was refused.
"""

ACTIONS = (
    "validate-intentions",
    "realize",
    "restore-intention",
    "learner-status",
    "link-learners",
    "assign-licenses",
)
API_ERRORS = (InvalidInput, NotFound, Conflict)


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Keeps the help text as written."""


def _message(exc: Exception) -> str:
    if isinstance(exc, InvalidInput):
        return "; ".join(
            " ".join(texts) if field == "non_field_errors" else f"{field}: {' '.join(texts)}"
            for field, texts in exc.errors.items()
        )
    return str(exc)


def _customer(reference: str):
    try:
        return api.get_customer(reference.strip())
    except API_ERRORS as exc:
        raise CommandError(f"Unknown customer {reference!r}: {_message(exc)}") from None


def _user(reference: str):
    user = identity_api.users_by_identifiers([reference]).get(reference)
    if user is None:
        raise CommandError(f"No user with username or email {reference!r}.")
    return user


def _tally(counts: Counter[str]) -> str:
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items())) or "nothing"


class Command(BaseCommand):
    help = HELP
    stealth_options = ("stdin",)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{" + ",".join(ACTIONS) + "}")
        actions.required = True
        validate = actions.add_parser("validate-intentions", help="List intentions that cannot be realized.")
        validate.add_argument("--customer", help="Only this customer (slug or uuid).")
        validate.add_argument(
            "--delay-minutes", type=int, default=30, help="Skip intentions created less than this ago (default 30)."
        )
        realize = actions.add_parser("realize", help="Realize a customer's default enrollments.")
        realize.add_argument("--customer", required=True, help="The customer (slug or uuid).")
        restore = actions.add_parser("restore-intention", help="Undo the soft delete of an intention.")
        restore.add_argument("uuid", help="The intention's uuid.")
        status = actions.add_parser("learner-status", help="Default-enrollment status of one learner.")
        status.add_argument("--customer", required=True, help="The customer (slug or uuid).")
        status.add_argument("--user", required=True, help="The learner's username or email.")
        link = actions.add_parser("link-learners", help="Link learners by email.")
        link.add_argument("--customer", required=True, help="The customer (slug or uuid).")
        link.add_argument("file", help="A file of emails, one per line, or - for standard input.")
        assign = actions.add_parser("assign-licenses", help="Assign a plan's licenses by email.")
        assign.add_argument("--plan", required=True, help="The subscription plan's uuid.")
        assign.add_argument("file", help="A file of emails, one per line, or - for standard input.")

    def handle(self, *args, action: str, **options) -> None:
        handlers = {
            "validate-intentions": self._validate,
            "realize": self._realize,
            "restore-intention": self._restore,
            "learner-status": self._learner_status,
            "link-learners": self._link_learners,
            "assign-licenses": self._assign_licenses,
        }
        try:
            handlers[action](**options)
        except API_ERRORS as exc:
            raise CommandError(_message(exc)) from None

    def _console(self) -> tuple[Console, io.StringIO]:
        buffer = io.StringIO()
        return Console(file=buffer, width=200, force_terminal=self.stdout.isatty(), highlight=False), buffer

    def _emit(self, buffer: io.StringIO) -> None:
        self.stdout.write(buffer.getvalue(), ending="")

    def _emails(self, file: str, stdin=None) -> list[str]:
        if file == "-":
            text = (stdin or sys.stdin).read()
        else:
            try:
                text = Path(file).read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
            except UnicodeDecodeError:
                raise CommandError(f"{file} is not UTF-8 text.") from None
        emails = [line.strip() for line in text.splitlines()]
        emails = [email for email in emails if email and not email.startswith("#")]
        if not emails:
            raise CommandError(f"No emails in {'standard input' if file == '-' else file}.")
        return emails

    # --- validate-intentions ---------------------------------------------------------------------

    def _validate(self, *, customer: str | None, delay_minutes: int, **_) -> None:
        if delay_minutes < 0:
            raise CommandError("--delay-minutes must be 0 or more.")
        target = _customer(customer) if customer else None
        cutoff = timezone.now() - timedelta(minutes=delay_minutes)
        problems = api.validate_intentions(target)
        old_enough = set(
            api.intentions_queryset(target)
            .filter(uuid__in=[problem.intention_uuid for problem in problems], created__lte=cutoff)
            .values_list("uuid", flat=True)
        )
        reported = [problem for problem in problems if problem.intention_uuid in old_enough]
        console, buffer = self._console()
        scope = f"customer {target.slug}" if target else "every customer"
        if reported:
            console.print(self._problem_table(reported, scope))
        else:
            console.print(f"No problems with the default-enrollment intentions of {scope}.")
        skipped = len(problems) - len(reported)
        if skipped:
            console.print(f"{skipped} problem(s) of intentions created in the last {delay_minutes} minute(s) skipped.")
        self._emit(buffer)
        if reported:
            raise CommandError(f"{len(reported)} default-enrollment intention(s) have problems.")

    @staticmethod
    def _problem_table(problems: Iterable[IntentionProblem], scope: str) -> Table:
        table = Table(title=f"Default-enrollment intentions with problems ({scope})", title_justify="left")
        for column in ("customer", "content key", "intention"):
            table.add_column(column, no_wrap=True)
        table.add_column("problem", overflow="fold")
        for problem in sorted(problems, key=lambda p: (p.customer_slug, p.content_key)):
            table.add_row(problem.customer_slug, problem.content_key, str(problem.intention_uuid), problem.problem)
        return table

    # --- realize ---------------------------------------------------------------------------------

    def _realize(self, *, customer: str, **_) -> None:
        target = _customer(customer)
        started = time.perf_counter()
        result = api.realize_for_customer(target)
        elapsed = time.perf_counter() - started
        console, buffer = self._console()
        table = Table(title=f"Default enrollments realized for {target.slug}", title_justify="left")
        table.add_column("")
        table.add_column("count", justify="right")
        for label, value in (
            ("active learners", result.learners),
            ("enrollments created or upgraded", result.enrollments_created),
            ("realizations recorded", result.realizations_created),
            ("skipped: no activated license covers it", result.skipped_without_license),
            ("failures", result.failures),
        ):
            table.add_row(label, f"{value:,}")
        console.print(table)
        console.print(f"Done in {elapsed:.2f} s.")
        self._emit(buffer)

    # --- restore-intention -----------------------------------------------------------------------

    def _restore(self, *, uuid: str, **_) -> None:
        try:
            intention = api.restore_intention(uuid.strip())
        except NotFound:
            raise CommandError(f"No default-enrollment intention {uuid!r}.") from None
        self.stdout.write(
            f"Intention {intention.uuid} ({intention.content_key}) of {intention.customer.slug} is applied again. "
            f"Run `rollbook enterprise realize --customer {intention.customer.slug}` to enroll learners in it."
        )

    # --- learner-status --------------------------------------------------------------------------

    def _learner_status(self, *, customer: str, user: str, **_) -> None:
        target = _customer(customer)
        learner = _user(user)
        try:
            status = api.learner_status(target, learner)
        except InvalidInput:
            raise CommandError(f"{learner.username} is not a linked learner of {target.slug}.") from None
        console, buffer = self._console()
        table = Table(
            title=f"Default enrollments of {learner.username} ({status.user_email}) at {target.slug}",
            title_justify="left",
        )
        for column in ("group", "content key", "run", "mode", "reason", "existing enrollment"):
            table.add_column(column, no_wrap=True)
        groups = (
            ("already enrolled", status.already_enrolled),
            ("enrollable", status.enrollable),
            ("not enrollable", status.not_enrollable),
        )
        for group, items in groups:
            for item in items:
                table.add_row(
                    group,
                    item.intention.content_key,
                    item.intention.course_run_key or "-",
                    item.intention.best_mode_for_course_run or "-",
                    item.reason.value,
                    self._existing(item),
                )
        console.print(table)
        console.print(
            f"{status.total} intention(s): {len(status.already_enrolled)} already enrolled, "
            f"{len(status.enrollable)} enrollable, {len(status.not_enrollable)} not enrollable."
        )
        self._emit(buffer)

    @staticmethod
    def _existing(item: IntentionStatus) -> str:
        if not item.has_existing_enrollment:
            return "none"
        state = "active" if item.is_existing_enrollment_active else "inactive"
        return f"{state}{', audit' if item.is_existing_enrollment_audit else ''}"

    # --- link-learners ---------------------------------------------------------------------------

    def _link_learners(self, *, customer: str, file: str, stdin=None, **_) -> None:
        target = _customer(customer)
        emails = self._emails(file, stdin)
        results = api.link_learners(target, emails)
        counts = Counter(result.status for result in results)
        refused = [r for r in results if r.status in (api.LinkStatus.INVALID_EMAIL, api.LinkStatus.DUPLICATED)]
        for result in refused:
            self.stderr.write(f"{result.email}: {result.status}")
        self.stdout.write(f"{len(results)} email(s) for {target.slug}: {_tally(counts)}.")
        if refused:
            raise CommandError(f"{len(refused)} of {len(results)} email(s) were refused.")

    # --- assign-licenses -------------------------------------------------------------------------

    def _assign_licenses(self, *, plan: str, file: str, stdin=None, **_) -> None:
        try:
            target = api.get_plan(plan.strip())
        except API_ERRORS:
            raise CommandError(f"No subscription plan {plan!r}.") from None
        emails = self._emails(file, stdin)
        result = api.assign_licenses(target, emails)
        for email, error in result.errors.items():
            self.stderr.write(f"{email}: {error}")
        counts = Counter(assigned=len(result.assigned), already_assigned=len(result.already_assigned))
        if result.errors:
            counts["refused"] = len(result.errors)
        self.stdout.write(f"{len(emails)} email(s) for plan {target.title!r}: {_tally(counts)}.")
        if result.errors:
            raise CommandError(f"{len(result.errors)} email(s) were refused.")
