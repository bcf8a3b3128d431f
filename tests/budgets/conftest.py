"""Fixtures of the budgets tests: the enterprise world of ``tests/enterprise/conftest.py`` (acme, globex,
catalogs, runs — Python and Data runs cost 4900 cents in verified —, admins, learners) plus budgets built
with the models directly, so each module depends only on the API it is about:

- ``acme_budget``: direct access, 10,000 cents, on acme's catalog, current;
- ``acme_assigned_budget``: assigned access, 20,000 cents, with its assignment configuration;
- ``globex_budget``: direct, 10,000 cents, on globex's catalog.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.assignments.models import AssignmentConfiguration
from rollbook.budgets.data import AccessMethod
from rollbook.budgets.models import Budget
from tests.enterprise.conftest import *  # noqa: F403  (the shared enterprise fixtures)

PRICE = 4900  # the verified price of the fixture runs


def make_budget(customer, catalog, *, spend_limit_cents=10_000, access_method=AccessMethod.DIRECT, **fields):
    """A current budget (started 30 days ago, ends in 335 days); an assigned one gets its configuration."""
    now = timezone.now()
    values = {"start": now - timedelta(days=30), "expiration": now + timedelta(days=335), **fields}
    budget = Budget.objects.create(
        customer=customer,
        catalog=catalog,
        title=f"{customer.name} {access_method} budget {Budget.objects.count() + 1}",
        spend_limit_cents=spend_limit_cents,
        access_method=access_method,
        **values,
    )
    if access_method == AccessMethod.ASSIGNED:
        AssignmentConfiguration.objects.create(customer=customer, budget=budget)
    return budget


@pytest.fixture
def acme_budget(acme_catalog):
    return make_budget(acme_catalog.customer, acme_catalog)


@pytest.fixture
def acme_assigned_budget(acme_catalog):
    return make_budget(
        acme_catalog.customer, acme_catalog, spend_limit_cents=20_000, access_method=AccessMethod.ASSIGNED
    )


@pytest.fixture
def globex_budget(globex_catalog):
    return make_budget(globex_catalog.customer, globex_catalog)
