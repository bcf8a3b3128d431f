"""``rollbook assignments …``: the daily assignment jobs, run by hand (Celery beat runs expire and retire-pii)."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from rollbook.assignments import api, notifications
from rollbook.core.errors import Conflict, InvalidInput, NotFound

HELP = """\
Content-assignment maintenance jobs.

  rollbook assignments expire
      Expire every allocated assignment whose earliest expiration (90 days after allocation, the run's
      enroll-by date, the budget's expiration) has passed, and email the learners. Prints how many.

  rollbook assignments retire-pii
      Replace the email address of assignments expired 90 days after allocation (once their expiry email
      went) with a retired address, in live and history rows. Prints how many.

  rollbook assignments nudge [--days 30]
      Email every learner whose accepted assignment's run starts exactly DAYS days from today (UTC),
      across all customers. Prints how many were nudged and how many were not.
"""


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Keeps the help text as written."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{expire,retire-pii,nudge}")
        actions.required = True
        actions.add_parser("expire", help="Expire assignments past their expiration and email the learners.")
        actions.add_parser("retire-pii", help="Retire the emails of assignments expired after 90 days.")
        nudging = actions.add_parser("nudge", help="Email learners whose accepted course starts in DAYS days.")
        nudging.add_argument("--days", type=int, default=30, help="Days before the run starts (default 30).")

    def handle(self, *args, action: str, **options) -> None:
        try:
            if action == "expire":
                expired = api.expire_due()
                self.stdout.write(f"Expired {expired} assignment(s).")
            elif action == "retire-pii":
                retired = api.retire_expired_pii()
                self.stdout.write(f"Retired the email address of {retired} expired assignment(s).")
            else:
                self._nudge(options["days"])
        except (InvalidInput, NotFound, Conflict) as exc:
            raise CommandError(str(exc) or type(exc).__name__) from None

    def _nudge(self, days: int) -> None:
        result = notifications.nudge_runs_starting_in(days)
        self.stdout.write(
            f"Nudged {len(result.done)} assignment(s) whose run starts in {days} day(s); "
            f"{len(result.refused)} not nudged."
        )
        for assignment_uuid, reason in result.refused.items():
            self.stderr.write(f"{assignment_uuid}: {reason}")
