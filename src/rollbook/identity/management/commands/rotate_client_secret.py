"""``rollbook rotate-client-secret CLIENT_ID``: replace a client's secret and print the new one once."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rollbook.core.errors import RollbookError
from rollbook.identity import api as identity_api
from rollbook.identity.management.helpers import command_error


class Command(BaseCommand):
    help = "Give an API client a new secret (the old one stops working) and print it; it is shown only once."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, client_id: str, **options):
        try:
            client = identity_api.get_api_client(client_id)
            secret = identity_api.rotate_client_secret(client)
        except RollbookError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"New secret for API client {client.client_id} ({client.name}):")
        self.stdout.write(f"  client_secret: {secret}")
        self.stdout.write("The old secret no longer works; tokens already issued stay valid until they expire.")
