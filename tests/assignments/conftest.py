"""Fixtures of the assignments tests: those of ``tests/budgets/conftest.py`` (which include the enterprise
world). ``acme_assigned_budget`` has its configuration (``acme_assigned_budget.assignment_configuration``)."""

from tests.budgets.conftest import *  # noqa: F403
