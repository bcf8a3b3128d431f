"""``rollbook revoke-role USER --role R [--scope S]``: take a role from a user, in one scope or everywhere."""

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
        "Revoke roles from a user named by username or email: a --role with a --scope is revoked in that scope "
        "only, a --role without one everywhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("user", help="Username or email.")
        add_role_arguments(parser, required=True)

    def handle(self, *args, user: str, **options):
        holder = find_user(user)
        pairs = pair_roles_with_scopes(options.get("grants"))
        try:
            with transaction.atomic():
                for role_text, scope_text in pairs:
                    role = core_api.parse_role(role_text)
                    scope = None if scope_text is None else core_api.parse_scope(scope_text)
                    removed = core_api.revoke(holder, role, scope)
                    where = f"@{core_api.normalise_scope(role, scope)}" if scope is not None else " (every scope)"
                    self.stdout.write(f"Revoked {role.value}{where} from {holder.username}: {removed} removed.")
        except RollbookError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"{holder.username} now holds: {describe_roles(core_api.roles_of(holder))}")
