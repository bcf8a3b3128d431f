"""``rollbook deactivate-client CLIENT_ID``: no new tokens, and issued tokens stop working."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rollbook.core.errors import RollbookError
from rollbook.identity import api as identity_api
from rollbook.identity.management.helpers import command_error


class Command(BaseCommand):
    help = "Deactivate an API client: it gets no new tokens and the tokens it holds stop working."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, client_id: str, **options):
        try:
            client = identity_api.get_api_client(client_id)
            was_active = client.is_active
            identity_api.deactivate_api_client(client)
        except RollbookError as exc:
            raise command_error(exc) from None
        if was_active:
            self.stdout.write(f"Deactivated API client {client.client_id} ({client.name}).")
        else:
            self.stdout.write(f"API client {client.client_id} ({client.name}) was already inactive.")
