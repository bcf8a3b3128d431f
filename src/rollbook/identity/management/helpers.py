"""Helpers shared by the identity management commands: readable errors and role arguments."""

from __future__ import annotations

import argparse

from django.core.management.base import CommandError

from rollbook.core.data import Role, Scope
from rollbook.core.errors import InvalidInput, RollbookError
from rollbook.identity import api as identity_api
from rollbook.identity.models import User


def command_error(exc: RollbookError) -> CommandError:
    """A CommandError (non-zero exit, no traceback) carrying the api error's message."""
    if isinstance(exc, InvalidInput):
        lines = [
            f"{field}: {message}" if field != "non_field_errors" else message
            for field, messages in exc.errors.items()
            for message in messages
        ]
        return CommandError("\n".join(lines))
    return CommandError(str(exc))


def find_user(identifier: str) -> User:
    """The user named by username, or else by email (any case); CommandError when there is none."""
    user = identity_api.users_by_identifiers([identifier]).get(identifier)
    if user is None:
        raise CommandError(f"No user with username or email {identifier!r}.")
    return user


def describe_roles(roles: list[tuple[Role, Scope]]) -> str:
    """``program_admin@organization:mitx, learner@self:*`` (or ``-`` when there are none)."""
    return ", ".join(f"{role.value}@{scope}" for role, scope in roles) or "-"


class RoleOrScopeAction(argparse.Action):
    """Records ``--role`` and ``--scope`` options in the order given, so each scope pairs with the role before it."""

    def __call__(self, parser, namespace, values, option_string=None):
        sequence = list(getattr(namespace, self.dest, None) or [])
        sequence.append((option_string.lstrip("-"), values))
        setattr(namespace, self.dest, sequence)


def add_role_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Add repeatable, ordered ``--role`` and ``--scope`` options (stored together in ``grants``)."""
    parser.add_argument(
        "--role",
        dest="grants",
        action=RoleOrScopeAction,
        required=required,
        metavar="ROLE",
        help=f"A role: {', '.join(r.value for r in Role)}. Repeat for several roles.",
    )
    parser.add_argument(
        "--scope",
        dest="grants",
        action=RoleOrScopeAction,
        metavar="KIND:KEY",
        help="The scope of the --role just before it, e.g. org:MITx, program:<uuid>, customer:<uuid>. "
        "Operators (global) and learners (self) need none.",
    )


def pair_roles_with_scopes(sequence: list[tuple[str, str]] | None) -> list[tuple[str, str | None]]:
    """Pair each ``--scope`` with the ``--role`` before it; roles without one get None (their default)."""
    pairs: list[list[str | None]] = []
    for option, value in sequence or []:
        if option == "role":
            pairs.append([value, None])
        elif not pairs or pairs[-1][1] is not None:
            raise CommandError(f"--scope {value} must follow the --role it belongs to (one scope per role).")
        else:
            pairs[-1][1] = value
    return [(role, scope) for role, scope in pairs]
