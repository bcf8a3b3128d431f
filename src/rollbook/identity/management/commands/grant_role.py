"""``rollbook grant-role USER --role R [--scope S] ...``: give a user (or a client's service user) roles."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from rollbook.core import api as core_api
from rollbook.core.errors import RollbookError
from rollbook.identity.management.helpers import (
    add_role_arguments,
    command_error,
    describe_roles,
    find_user,
    pair_roles_with_scopes,
)


class Command(BaseCommand):
    help = (
        "Grant roles to a user named by username or email (an API client's user is 'client.<client_id>'); "
        "each --scope pairs with the --role before it."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", help="Username or email.")
        add_role_arguments(parser, required=True)

    def handle(self, *args, user: str, **options):
        holder = find_user(user)
        pairs = pair_roles_with_scopes(options.get("grants"))
        try:
            with transaction.atomic():
                grants = [core_api.parse_role_and_scope(role, scope) for role, scope in pairs]
                for role, scope in grants:
                    created = core_api.grant(holder, role, scope)
                    verb = "Granted" if created else "Already held:"
                    self.stdout.write(f"{verb} {role.value}@{scope} to {holder.username}.")
        except RollbookError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"{holder.username} now holds: {describe_roles(core_api.roles_of(holder))}")
