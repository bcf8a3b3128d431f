"""``rollbook create-operator USERNAME --email E``: an operator who can use the Django admin."""

from __future__ import annotations

import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from rollbook.core.errors import NotFound, RollbookError
from rollbook.identity import api as identity_api
from rollbook.identity.management.helpers import command_error


class Command(BaseCommand):
    help = (
        "Create or update an operator: active, staff and superuser (so they can use the Django admin), "
        "holding the operator role. Idempotent; prints what it changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", help="Required when creating; changes the email of an existing user.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--password", help="The password (visible in the process list: prefer the others).")
        source.add_argument("--password-from-env", metavar="VAR", help="Read the password from environment VAR.")
        source.add_argument(
            "--no-password",
            action="store_true",
            help="Never ask: a new user gets an unusable password, an existing one keeps theirs.",
        )
        parser.add_argument(
            "--skip-password-validation", action="store_true", help="Accept a password the validators refuse."
        )

    def handle(self, *args, username: str, email: str | None, **options):
        try:
            user = identity_api.get_user(username=username)
        except NotFound:
            user = None
        if user is None and not email:
            raise CommandError("--email is required to create a new operator.")
        password = self._password(options, creating=user is None)
        validate = not options["skip_password_validation"]
        try:
            with transaction.atomic():
                if user is None:
                    user = identity_api.create_user(username, email, password=password, validate_password=validate)
                    changes = ["created", *identity_api.make_operator(user)]
                else:
                    changes = [f"changed {field}" for field in identity_api.update_user(user, email=email)]
                    if password is not None:
                        identity_api.set_password(user, password, validate=validate)
                        changes.append("set the password")
                    changes += identity_api.make_operator(user)
        except RollbookError as exc:
            raise command_error(exc) from None
        if changes:
            self.stdout.write(f"Operator {user.username} <{user.email}>: {', '.join(changes)}.")
        else:
            self.stdout.write(f"{user.username} <{user.email}> is already an operator; nothing changed.")

    def _password(self, options: dict, *, creating: bool) -> str | None:
        if options["password"] is not None:
            return options["password"]
        if options["password_from_env"]:
            value = os.environ.get(options["password_from_env"], "")
            if not value:
                raise CommandError(f"The environment variable {options['password_from_env']} is not set or empty.")
            return value
        if options["no_password"] or not creating or not sys.stdin.isatty():
            return None
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords do not match.")
        return first or None
