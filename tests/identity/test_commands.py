"""The identity CLI: create-operator, create-client, list-clients, deactivate-client, rotate-client-secret,
grant-role and revoke-role, called as management commands and through the ``rollbook`` script."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from rollbook import cli
from rollbook.core import api as core_api
from rollbook.core.data import GLOBAL_SCOPE, Role, Scope, ScopeKind
from rollbook.identity import api as identity_api
from rollbook.identity.models import ApiClient, User

STRONG = "correct-horse-battery-staple-42"


@pytest.fixture(autouse=True)
def not_interactive(monkeypatch):
    """Commands never prompt here, even when pytest runs with a terminal on stdin (tests opt in)."""
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- create-operator ----------------------------------------------------------------------------


def test_create_operator_creates_a_staff_superuser_operator(db):
    output = run("create_operator", "alice", "--email", "Alice@Example.com", "--password", STRONG)
    alice = identity_api.get_user(username="alice")
    assert alice.is_staff and alice.is_superuser and alice.is_active
    assert alice.email == "Alice@Example.com"
    assert alice.check_password(STRONG)
    assert core_api.roles_of(alice) == [(Role.OPERATOR, GLOBAL_SCOPE)]
    assert "alice" in output and "created" in output and "granted the operator role" in output


def test_create_operator_is_idempotent(db):
    run("create_operator", "alice", "--email", "alice@example.com", "--password", STRONG)
    output = run("create_operator", "alice")
    assert "already an operator; nothing changed" in output
    assert User.objects.filter(username="alice").count() == 1
    assert identity_api.get_user(username="alice").check_password(STRONG)


def test_create_operator_promotes_and_updates_an_existing_user(make_user):
    bob = make_user("bob", "bob@example.com")
    output = run("create_operator", "bob", "--email", "Bob@New.example.com", "--password", STRONG)
    bob.refresh_from_db()
    assert bob.is_superuser and bob.email == "Bob@New.example.com" and bob.check_password(STRONG)
    assert "changed email" in output and "made superuser" in output and "set the password" in output


def test_create_operator_reads_the_password_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("OPERATOR_PASSWORD", STRONG)
    run("create_operator", "alice", "--email", "alice@example.com", "--password-from-env", "OPERATOR_PASSWORD")
    assert identity_api.get_user(username="alice").check_password(STRONG)


def test_create_operator_prompts_for_a_password_when_interactive(db, monkeypatch):
    answers = iter([STRONG, STRONG])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    run("create_operator", "alice", "--email", "alice@example.com")
    assert identity_api.get_user(username="alice").check_password(STRONG)


def test_create_operator_without_a_password_when_not_interactive(db):
    run("create_operator", "alice", "--email", "alice@example.com")
    assert not identity_api.get_user(username="alice").has_usable_password()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alice"], "--email is required"),
        (["alice", "--email", "not-an-email"], "email:"),
        (["alice", "--email", "a@example.com", "--password", "123"], "password:"),
        (["alice", "--email", "a@example.com", "--password-from-env", "ROLLBOOK_TEST_UNSET_VARIABLE"], "not set"),
        (["bad name!", "--email", "a@example.com"], "username:"),
    ],
)
def test_create_operator_errors_are_clear_and_write_nothing(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_operator", *args)
    assert not User.objects.exists()


def test_create_operator_may_skip_password_validation(db):
    run("create_operator", "alice", "--email", "a@example.com", "--password", "123", "--skip-password-validation")
    assert identity_api.get_user(username="alice").check_password("123")


def test_create_operator_refuses_a_taken_email(make_user):
    make_user("bob", "bob@example.com")
    with pytest.raises(CommandError, match="email"):
        run("create_operator", "alice", "--email", "BOB@example.com")


def test_passwords_do_not_match_when_prompted(db, monkeypatch):
    answers = iter([STRONG, STRONG + "x"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="do not match"):
        run("create_operator", "alice", "--email", "alice@example.com")


# --- create-client ------------------------------------------------------------------------------


def secret_from(output: str) -> str:
    return re.search(r"client_secret: (\S+)", output).group(1)


def test_create_client_pairs_each_scope_with_the_role_before_it(db):
    output = run(
        "create_client",
        "MITx registrar",
        "--role",
        "operator",
        "--role",
        "program_admin",
        "--scope",
        "org:MITx",
        "--role",
        "learner",
        "--role",
        "program_admin",
        "--scope",
        "org:HarvardX",
        "--client-id",
        "mitx-registrar",
    )
    client = identity_api.get_api_client("mitx-registrar")
    assert core_api.roles_of(client.user) == [
        (Role.LEARNER, Scope(ScopeKind.SELF, "*")),
        (Role.OPERATOR, GLOBAL_SCOPE),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "harvardx")),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "mitx")),
    ]
    secret = secret_from(output)
    assert identity_api.authenticate_client("mitx-registrar", secret) == client
    assert "client_id:     mitx-registrar" in output
    assert "curl -s -X POST http://127.0.0.1:8000/oauth2/access_token" in output
    assert f"-d client_secret={secret}" in output


def test_create_client_generates_a_client_id_and_uses_the_base_url(db):
    output = run("create_client", "Reports", "--base-url", "https://roll.example.com/")
    client_id = re.search(r"client_id:\s+(\S+)", output).group(1)
    assert identity_api.get_api_client(client_id).name == "Reports"
    assert "https://roll.example.com/oauth2/access_token" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "program_admin"], "needs a scope"),
        (["--role", "dean"], "Unknown role"),
        (["--role", "operator", "--scope", "org:MITx"], "takes a scope of kind global"),
        (["--role", "program_admin", "--scope", "team:x"], "Unknown scope kind"),
        (["--scope", "org:MITx", "--role", "program_admin"], "must follow the --role"),
        (["--role", "program_admin", "--scope", "org:A", "--scope", "org:B"], "must follow the --role"),
        (["--client-id", "has space"], "client_id:"),
    ],
)
def test_create_client_errors_are_clear_and_write_nothing(db, args, message):
    users = User.objects.count()
    with pytest.raises(CommandError, match=message):
        run("create_client", "Bad client", *args)
    assert not ApiClient.objects.exists()
    assert User.objects.count() == users


@pytest.fixture
def script(db, monkeypatch):
    """Run the ``rollbook`` console script in-process, keeping the test's database connection open.

    (Django closes every connection when a command run from the command line ends, which would end
    the test's transaction on PostgreSQL.)
    """
    monkeypatch.setattr(connections, "close_all", lambda: None)
    return cli.main


def test_the_rollbook_script_maps_dashes_and_exits_non_zero_without_a_traceback(script, capsys):
    with pytest.raises(SystemExit) as exited:
        script(["rollbook", "create-client", "Bad", "--role", "program_admin"])
    assert exited.value.code != 0
    captured = capsys.readouterr()
    assert "needs a scope" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_the_rollbook_script_runs_create_client(script, capsys):
    script(["rollbook", "create-client", "SIS", "--client-id", "sis", "--role", "program_admin", "--scope", "org:X"])
    assert "client_secret:" in capsys.readouterr().out
    assert identity_api.get_api_client("sis").name == "SIS"


# --- list, deactivate, rotate -------------------------------------------------------------------


def test_list_clients_shows_roles_and_state_but_never_secrets(make_client, django_assert_max_num_queries):
    _active, active_secret = make_client("Active one", roles=[("program_admin", "org:MITx")], client_id="active-one")
    gone, _ = make_client("Gone", client_id="gone")
    identity_api.deactivate_api_client(gone)
    with django_assert_max_num_queries(2):
        output = run("list_clients")
    lines = output.splitlines()
    assert lines[0].split()[:3] == ["CLIENT", "ID", "NAME"]
    assert any(line.startswith("active-one") and "program_admin@organization:mitx" in line for line in lines)
    assert any(line.startswith("gone") and "inactive" in line for line in lines)
    assert active_secret not in output
    only_inactive = run("list_clients", "--inactive")
    assert "gone" in only_inactive and "active-one" not in only_inactive


def test_list_clients_when_there_are_none(db):
    assert "No API clients" in run("list_clients")


def test_deactivate_client(make_client):
    _client, secret = make_client(client_id="sis")
    assert "Deactivated API client sis" in run("deactivate_client", "sis")
    assert identity_api.authenticate_client("sis", secret) is None
    assert "already inactive" in run("deactivate_client", "sis")
    with pytest.raises(CommandError, match="No API client"):
        run("deactivate_client", "nope")


def test_rotate_client_secret(make_client):
    client, old_secret = make_client(client_id="sis")
    new_secret = secret_from(run("rotate_client_secret", "sis"))
    assert identity_api.authenticate_client("sis", old_secret) is None
    assert identity_api.authenticate_client("sis", new_secret) == client
    with pytest.raises(CommandError, match="No API client"):
        run("rotate_client_secret", "nope")


# --- grant-role and revoke-role -----------------------------------------------------------------


def test_grant_role_by_username_or_email(make_user):
    ada = make_user("ada", "Ada@Example.com")
    output = run("grant_role", "ADA@example.com", "--role", "program_admin", "--scope", "org:MITx", "--role", "learner")
    assert "Granted program_admin@organization:mitx to ada" in output
    assert core_api.roles_of(ada) == [
        (Role.LEARNER, Scope(ScopeKind.SELF, "*")),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "mitx")),
    ]
    assert "Already held" in run("grant_role", "ada", "--role", "learner")


def test_grant_role_errors(make_user):
    ada = make_user("ada")
    with pytest.raises(CommandError, match="No user"):
        run("grant_role", "nobody", "--role", "learner")
    with pytest.raises(CommandError, match="needs a scope"):
        run("grant_role", "ada", "--role", "learner", "--role", "program_admin")
    assert core_api.roles_of(ada) == []  # all or nothing


def test_grant_role_to_a_clients_service_user(make_client):
    client, _ = make_client(client_id="sis")
    run("grant_role", "client.sis", "--role", "program_admin", "--scope", "org:MITx")
    assert core_api.has_role(client.user, Role.PROGRAM_ADMIN)


def test_revoke_role_in_one_scope_or_everywhere(make_user):
    ada = make_user("ada")
    for org in ("MITx", "HarvardX"):
        core_api.grant(ada, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, org))
    core_api.grant(ada, Role.LEARNER)
    output = run("revoke_role", "ada", "--role", "program_admin", "--scope", "org:MITX")
    assert "Revoked program_admin@organization:mitx from ada: 1 removed" in output
    output = run("revoke_role", "ada", "--role", "program_admin")
    assert "1 removed" in output
    assert core_api.roles_of(ada) == [(Role.LEARNER, Scope(ScopeKind.SELF, "*"))]
    with pytest.raises(CommandError, match="takes a scope of kind"):
        run("revoke_role", "ada", "--role", "operator", "--scope", "org:MITx")
