"""``rollbook create-client NAME --role R --scope S ...``: an OAuth2 client-credentials API client."""

from __future__ import annotations

import shlex

from django.core.management.base import BaseCommand

from rollbook.core import api as core_api
from rollbook.core.errors import RollbookError
from rollbook.identity import api as identity_api
from rollbook.identity.management.helpers import (
    add_role_arguments,
    command_error,
    describe_roles,
    pair_roles_with_scopes,
)


class Command(BaseCommand):
    help = (
        "Create an API client (OAuth2 client credentials) holding the given roles, each --scope pairing with the "
        "--role before it. Prints the client id and the secret, which is shown only this once."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the client is, e.g. 'MITx registrar sync'.")
        add_role_arguments(parser, required=False)
        parser.add_argument("--client-id", help="Choose the client id (letters, digits, '.', '_', '-').")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Rollbook's address, for the example curl command."
        )

    def handle(self, *args, name: str, client_id: str | None, base_url: str, **options):
        roles = pair_roles_with_scopes(options.get("grants"))
        try:
            client, secret = identity_api.create_api_client(name, roles=roles, client_id=client_id)
        except RollbookError as exc:
            raise command_error(exc) from None
        token_url = base_url.rstrip("/") + "/oauth2/access_token"
        curl = " ".join(
            [
                "curl -s -X POST",
                shlex.quote(token_url),
                "-d grant_type=client_credentials",
                "-d " + shlex.quote(f"client_id={client.client_id}"),
                "-d " + shlex.quote(f"client_secret={secret}"),
                "-d token_type=jwt",
            ]
        )
        self.stdout.write(f"Created API client {client.name!r}.")
        self.stdout.write(f"  client_id:     {client.client_id}")
        self.stdout.write(f"  client_secret: {secret}")
        self.stdout.write(f"  roles:         {describe_roles(core_api.roles_of(client.user))}")
        self.stdout.write("The secret is shown only now: store it safely (rollbook rotate-client-secret replaces it).")
        self.stdout.write("Get a token with:")
        self.stdout.write(f"  {curl}")
