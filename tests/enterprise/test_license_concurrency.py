"""Simultaneous assignments in one plan never give out more licenses than it has seats (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections

from rollbook.core.errors import InvalidInput
from rollbook.enterprise import api, licenses
from rollbook.enterprise.models import License

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent transactions"),
]


def _race(plan, email_lists, monkeypatch):
    """Call assign_licenses once per email list, all at the same moment, each in its own thread and
    connection; return ({thread index: result}, {thread index: InvalidInput})."""
    start = threading.Barrier(len(email_lists), timeout=10)
    original = licenses._emails_holding_a_seat

    def slow_holding_check(*args, **kwargs):
        # Widen the window between reading the plan's free seats and writing them.
        time.sleep(0.05)
        return original(*args, **kwargs)

    monkeypatch.setattr(licenses, "_emails_holding_a_seat", slow_holding_check)
    results, refusals, crashes = {}, {}, []

    def assign(index: int, emails: list[str]) -> None:
        try:
            start.wait()
            results[index] = api.assign_licenses(plan.uuid, emails)
        except InvalidInput as exc:
            refusals[index] = exc
        except Exception as exc:  # reported below
            crashes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=assign, args=(index, emails)) for index, emails in enumerate(email_lists)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert crashes == []
    return results, refusals


def test_ten_simultaneous_assignments_on_five_seats_give_exactly_five(acme_plan, monkeypatch):
    results, refusals = _race(acme_plan, [[f"racer{n}@example.com"] for n in range(10)], monkeypatch)

    assert (len(results), len(refusals)) == (5, 5)
    assert all(exc.errors == {"user_emails": ["0 licenses are free; 1 emails need one."]} for exc in refusals.values())
    winners = {email for result in results.values() for email in result.assigned}
    assigned = License.objects.filter(plan=acme_plan, status="assigned")
    assert set(assigned.values_list("user_email_normalized", flat=True)) == winners
    assert len(winners) == 5
    assert not License.objects.filter(plan=acme_plan, status="unassigned").exists()


def test_simultaneous_batches_are_all_or_nothing(acme_plan, monkeypatch):
    batches = [[f"team{team}-{n}@example.com" for n in range(3)] for team in range(2)]

    results, refusals = _race(acme_plan, batches, monkeypatch)

    assert (len(results), len(refusals)) == (1, 1)
    [(winner, result)] = results.items()
    assert set(result.assigned) == set(batches[winner])
    assert set(
        License.objects.filter(plan=acme_plan, status="assigned").values_list("user_email_normalized", flat=True)
    ) == set(batches[winner])
    assert "2 licenses are free; 3 emails need one." in next(iter(refusals.values())).errors["user_emails"]
