"""``rollbook enterprise validate-intentions | realize | restore-intention | learner-status | link-learners |
assign-licenses``."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rollbook.enterprise import api
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import (
    DefaultEnrollmentIntention,
    DefaultEnrollmentRealization,
    EnterpriseCustomerUser,
    License,
)
from tests.enterprise.conftest import ART_KEY, CLOSED_KEY, DATA_KEY, PYTHON_COURSE, PYTHON_KEY

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command("enterprise", *args, **options)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str, stdin: str | None = None) -> tuple[str, str, str]:
    """Run a command expected to exit with status 1; return (out, err, the CommandError's message)."""
    out, err = io.StringIO(), io.StringIO()
    options = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    with pytest.raises(CommandError) as raised:
        call_command("enterprise", *args, **options)
    return out.getvalue(), err.getvalue(), str(raised.value)


def age(intention: DefaultEnrollmentIntention, minutes: int) -> None:
    DefaultEnrollmentIntention.objects.filter(pk=intention.pk).update(
        created=timezone.now() - timedelta(minutes=minutes)
    )


# --- validate-intentions --------------------------------------------------------------------------


@pytest.fixture
def acme_intentions(acme, acme_catalog, globex, globex_catalog):
    """Acme: Python (fine), Art (outside its catalog), Closed (enrollment ended), all created an hour ago;
    Data (fine). Globex: Art (fine)."""
    made = {key: api.create_intention(acme, key) for key in (PYTHON_KEY, ART_KEY, CLOSED_KEY, DATA_KEY)}
    for intention in made.values():
        age(intention, 60)
    age(api.create_intention(globex, ART_KEY), 60)
    return made


def test_validate_lists_the_problems_in_a_table_and_exits_1(acme_intentions):
    out, _, message = run_failing("validate-intentions")
    assert "2 default-enrollment intention(s) have problems" in message
    assert "Default-enrollment intentions with problems (every customer)" in out
    assert ART_KEY in out and CLOSED_KEY in out
    assert str(acme_intentions[ART_KEY].uuid) in out
    assert PYTHON_KEY not in out and DATA_KEY not in out


def test_validate_of_one_customer(acme_intentions, globex):
    out, _ = run("validate-intentions", "--customer", "globex")
    assert "No problems with the default-enrollment intentions of customer globex." in out
    _, _, message = run_failing("validate-intentions", "--customer", str(acme_intentions[ART_KEY].customer.uuid))
    assert "2 default-enrollment intention(s)" in message


def test_validate_skips_intentions_younger_than_the_delay(acme_intentions):
    age(acme_intentions[ART_KEY], 10)
    age(acme_intentions[CLOSED_KEY], 10)
    out, _ = run("validate-intentions", "--delay-minutes", "30")
    assert "No problems" in out
    assert "2 problem(s) of intentions created in the last 30 minute(s) skipped." in out
    _, _, message = run_failing("validate-intentions", "--delay-minutes", "5")
    assert "2 default-enrollment intention(s)" in message


def test_validate_ignores_soft_deleted_intentions(acme_intentions):
    api.delete_intention(acme_intentions[ART_KEY])
    api.delete_intention(acme_intentions[CLOSED_KEY])
    out, _ = run("validate-intentions")
    assert "No problems with the default-enrollment intentions of every customer." in out


def test_validate_refuses_bad_options(acme_intentions):
    assert "Unknown customer 'nobody'" in run_failing("validate-intentions", "--customer", "nobody")[2]
    assert "--delay-minutes must be 0 or more" in run_failing("validate-intentions", "--delay-minutes", "-1")[2]


# --- realize, restore-intention, learner-status ---------------------------------------------------


def test_realize_prints_the_counts_and_is_idempotent(acme, make_acme_learner):
    learners = [make_acme_learner() for _ in range(3)]
    make_acme_learner(licensed=False)
    api.create_intention(acme, PYTHON_KEY)
    api.create_intention(acme, PYTHON_COURSE.replace("Python", "Data"))

    out, _ = run("realize", "--customer", "acme")
    assert "Default enrollments realized for acme" in out
    assert "realizations recorded" in out
    assert "Done in" in out
    assert DefaultEnrollmentRealization.objects.count() == 2 * len(learners)

    again, _ = run("realize", "--customer", "acme")
    assert DefaultEnrollmentRealization.objects.count() == 2 * len(learners)
    realized_line = next(line for line in again.splitlines() if "realizations recorded" in line)
    assert realized_line.split()[-2] == "0"  # the count column: nothing new


def test_realize_of_an_unknown_customer_is_an_error_not_a_traceback(db):
    assert "Unknown customer 'nobody'" in run_failing("realize", "--customer", "nobody")[2]


def test_restore_intention(acme):
    intention = api.create_intention(acme, PYTHON_KEY)
    api.delete_intention(intention)

    out, _ = run("restore-intention", str(intention.uuid))

    intention.refresh_from_db()
    assert not intention.is_removed
    assert f"Intention {intention.uuid} ({PYTHON_KEY}) of acme is applied again." in out
    assert "No default-enrollment intention 'not-a-uuid'" in run_failing("restore-intention", "not-a-uuid")[2]
    missing = "00000000-0000-4000-8000-000000000000"
    assert f"No default-enrollment intention '{missing}'" in run_failing("restore-intention", missing)[2]


def test_learner_status_shows_each_group_and_rule(acme, acme_learner):
    api.create_intention(acme, PYTHON_KEY)
    api.create_intention(acme, CLOSED_KEY)

    out, _ = run("learner-status", "--customer", "acme", "--user", acme_learner.email.upper())

    assert f"Default enrollments of {acme_learner.username}" in out
    python_row = next(line for line in out.splitlines() if PYTHON_KEY in line)
    closed_row = next(line for line in out.splitlines() if CLOSED_KEY in line)
    assert "enrollable" in python_row and "verified" in python_row and "none" in python_row
    assert "not enrollable" in closed_row and "run_not_enrollable" in closed_row
    assert "2 intention(s): 0 already enrolled, 1 enrollable, 1 not enrollable." in out

    api.realize_default_enrollments(acme, acme_learner)
    out, _ = run("learner-status", "--customer", "acme", "--user", acme_learner.username)
    python_row = next(line for line in out.splitlines() if PYTHON_KEY in line)
    assert "already enrolled" in python_row and "active_paid_enrollment" in python_row


def test_learner_status_errors(acme, globex_learner, acme_learner):
    assert (
        "No user with username or email 'ghost'"
        in run_failing("learner-status", "--customer", "acme", "--user", "ghost")[2]
    )
    not_linked = run_failing("learner-status", "--customer", "acme", "--user", globex_learner.username)[2]
    assert not_linked == "globex-learner is not a linked learner of acme."


# --- link-learners ------------------------------------------------------------------------------


def test_link_learners_from_a_file(tmp_path, acme, make_user):
    known = make_user("known", email="Known@Example.com")
    emails = tmp_path / "emails.txt"
    emails.write_text("# new hires\nknown@example.COM\n\nnew.hire@acme.example\n", encoding="utf-8")

    out, _ = run("link-learners", "--customer", "acme", str(emails))

    assert "2 email(s) for acme: linked 1, pending 1." in out
    assert EnterpriseCustomerUser.objects.filter(customer=acme, user=known, linked=True).exists()
    assert EnterpriseCustomerUser.objects.filter(customer=acme, user__isnull=True).get().user_email == (
        "new.hire@acme.example"
    )
    again, _ = run("link-learners", "--customer", "acme", str(emails))
    assert "already_linked 2" in again


def test_link_learners_from_standard_input_reports_refused_emails(acme):
    out, err, message = run_failing(
        "link-learners", "--customer", "acme", "-", stdin="a@acme.example\nnot an email\nA@acme.example\n"
    )
    assert "not an email: invalid_email" in err
    assert "3 email(s) for acme:" in out and "invalid_email 1" in out and "duplicated 2" in out
    assert message == "3 of 3 email(s) were refused."
    assert not EnterpriseCustomerUser.objects.filter(customer=acme).exists()


def test_link_learners_input_errors(tmp_path, acme):
    assert "Cannot read" in run_failing("link-learners", "--customer", "acme", str(tmp_path / "missing.txt"))[2]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody\n\n", encoding="utf-8")
    assert f"No emails in {empty}" in run_failing("link-learners", "--customer", "acme", str(empty))[2]
    assert "Unknown customer" in run_failing("link-learners", "--customer", "ghost", "-", stdin="a@b.example\n")[2]


# --- assign-licenses ----------------------------------------------------------------------------


def test_assign_licenses_counts_and_refusals(tmp_path, acme_plan):
    emails = tmp_path / "emails.txt"
    emails.write_text("ann@acme.example\nBEN@acme.example\n", encoding="utf-8")

    out, _ = run("assign-licenses", "--plan", str(acme_plan.uuid), str(emails))

    assert f"2 email(s) for plan {acme_plan.title!r}: already_assigned 0, assigned 2." in out
    assigned = License.objects.filter(plan=acme_plan, status=LicenseStatus.ASSIGNED)
    assert sorted(assigned.values_list("user_email_normalized", flat=True)) == ["ann@acme.example", "ben@acme.example"]

    out, err, message = run_failing(
        "assign-licenses", "--plan", str(acme_plan.uuid), "-", stdin="ben@acme.example\nbad address\n"
    )
    assert "already_assigned 1" in out and "refused 1" in out
    assert "bad address:" in err
    assert message == "1 email(s) were refused."


def test_assign_licenses_never_over_assigns(acme_plan):
    six = "".join(f"person{n}@acme.example\n" for n in range(6))
    message = run_failing("assign-licenses", "--plan", str(acme_plan.uuid), "-", stdin=six)[2]
    assert "5 licenses are free; 6 emails need one." in message
    assert not License.objects.filter(plan=acme_plan).exclude(status=LicenseStatus.UNASSIGNED).exists()


def test_assign_licenses_to_an_unknown_plan(db):
    missing = "00000000-0000-4000-8000-000000000000"
    assert (
        f"No subscription plan '{missing}'" in run_failing("assign-licenses", "--plan", missing, "-", stdin="a@b.c")[2]
    )


def test_the_rollbook_script_lists_the_subcommands():
    completed = subprocess.run(
        [sys.executable, "-c", "from rollbook.cli import main; main()", "enterprise", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    for action in ("validate-intentions", "realize", "restore-intention", "learner-status", "link-learners"):
        assert action in completed.stdout
    assert "assign-licenses" in completed.stdout
