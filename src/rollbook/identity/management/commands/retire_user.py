"""``rollbook retire-user USER --yes``: retire an account, replacing its personal data everywhere."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rollbook.core.errors import RollbookError
from rollbook.identity import api as identity_api
from rollbook.identity.management.helpers import command_error, find_user


class Command(BaseCommand):
    help = (
        "Retire an account for good: username, email, names, SSO keys and program student keys are replaced "
        "in live and history rows and the account is deactivated. Cannot be undone; needs --yes."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", help="Username or email.")
        parser.add_argument("--yes", action="store_true", help="Confirm: this cannot be undone.")

    def handle(self, *args, user: str, yes: bool, **options):
        if not yes:
            raise CommandError("Retiring an account cannot be undone; add --yes to confirm.")
        account = find_user(user)
        try:
            retired = identity_api.retire_user(account)
        except RollbookError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"Retired {user!r}: the account is now {retired}.")
