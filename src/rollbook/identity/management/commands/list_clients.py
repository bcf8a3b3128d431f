"""``rollbook list-clients``: every API client with its roles (never its secret)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rollbook.core import api as core_api
from rollbook.identity import api as identity_api
from rollbook.identity.management.helpers import describe_roles


class Command(BaseCommand):
    help = "List API clients: client id, name, whether active, roles, creation time."

    def add_arguments(self, parser):
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--active", action="store_true", help="Only active clients.")
        state.add_argument("--inactive", action="store_true", help="Only deactivated clients.")

    def handle(self, *args, active: bool, inactive: bool, **options):
        clients = identity_api.list_api_clients(active=True if active else False if inactive else None)
        if not clients:
            self.stdout.write("No API clients.")
            return
        roles = core_api.roles_by_user(client.user_id for client in clients)
        rows = [
            (
                client.client_id,
                client.name,
                "active" if client.is_active else "inactive",
                describe_roles(roles[client.user_id]),
                client.created.strftime("%Y-%m-%d %H:%M"),
            )
            for client in clients
        ]
        header = ("CLIENT ID", "NAME", "STATE", "ROLES", "CREATED (UTC)")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
