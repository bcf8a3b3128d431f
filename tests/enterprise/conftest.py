"""Fixtures shared by every enterprise test module. The world is built with the catalog API and the
enterprise models directly, so each module's tests depend only on the API they are about.

- organizations ``EntU`` (in Acme's catalog) and ``ElseU`` (in no catalog);
- runs, each offering audit (free) and verified (4900 cents) unless said otherwise:
  ``course-v1:EntU+Python+2030`` (open now), ``course-v1:EntU+Data+2030`` (open now),
  ``course-v1:EntU+PaidOnly+2030`` (verified only), ``course-v1:EntU+Closed+2020`` (enrollment ended),
  ``course-v1:EntU+AuditOnly+2030`` (audit only), ``course-v1:ElseU+Art+2030`` (outside every catalog);
- customer ``acme`` (consent at enrollment) with catalog "Acme all EntU" (the whole EntU organization)
  and a current plan of 5 seats on it; customer ``globex`` with its own catalog (only ElseU+Art) and plan;
- ``acme_admin`` / ``globex_admin``: enterprise admins of their customer (role ``enterprise_admin``);
- ``acme_learner``: a linked, active learner of acme holding an activated acme license;
  ``make_acme_learner(licensed=True)`` makes more; ``globex_learner`` likewise for globex.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from rollbook.catalog import api as catalog_api
from rollbook.catalog.data import ModeSpec
from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.enterprise.data import LicenseStatus
from rollbook.enterprise.models import (
    EnterpriseCatalog,
    EnterpriseCatalogCourse,
    EnterpriseCatalogOrganization,
    EnterpriseCustomer,
    EnterpriseCustomerUser,
    License,
    SubscriptionPlan,
)

_numbers = itertools.count(1)

AUDIT_VERIFIED = (ModeSpec("audit"), ModeSpec("verified", 4900))
PYTHON_KEY = "course-v1:EntU+Python+2030"
DATA_KEY = "course-v1:EntU+Data+2030"
PAID_ONLY_KEY = "course-v1:EntU+PaidOnly+2030"
CLOSED_KEY = "course-v1:EntU+Closed+2020"
AUDIT_ONLY_KEY = "course-v1:EntU+AuditOnly+2030"
ART_KEY = "course-v1:ElseU+Art+2030"
PYTHON_COURSE = "catalog-course:EntU:Python"


def _open_run(course_key: str, modes=AUDIT_VERIFIED, **fields):
    now = timezone.now()
    schedule = {
        "start": now - timedelta(days=10),
        "end": now + timedelta(days=200),
        "enrollment_start": now - timedelta(days=30),
        "enrollment_end": now + timedelta(days=100),
    }
    schedule.update(fields)
    return catalog_api.create_course_run(course_key, modes=modes, **schedule)


@pytest.fixture
def ent_orgs(db):
    """(EntU, ElseU)."""
    return catalog_api.create_organization("EntU", name="Enterprise University"), catalog_api.create_organization(
        "ElseU", name="Elsewhere University"
    )


@pytest.fixture
def make_run(ent_orgs) -> Callable[..., object]:
    """Create an open run (enrollment open now, started 10 days ago) with audit and verified unless told."""
    return _open_run


@pytest.fixture
def runs(make_run) -> dict[str, object]:
    """{course key: run} for the six runs described in the module docstring."""
    now = timezone.now()
    return {
        PYTHON_KEY: make_run(PYTHON_KEY),
        DATA_KEY: make_run(DATA_KEY),
        PAID_ONLY_KEY: make_run(PAID_ONLY_KEY, modes=(ModeSpec("verified", 4900),)),
        CLOSED_KEY: make_run(
            CLOSED_KEY,
            start=now - timedelta(days=400),
            end=now - timedelta(days=300),
            enrollment_start=now - timedelta(days=500),
            enrollment_end=now - timedelta(days=350),
        ),
        AUDIT_ONLY_KEY: make_run(AUDIT_ONLY_KEY, modes=(ModeSpec("audit"),)),
        ART_KEY: make_run(ART_KEY),
    }


def _customer(slug: str, name: str) -> EnterpriseCustomer:
    return EnterpriseCustomer.objects.create(name=name, slug=slug)


def _plan(customer, catalog, seats: int = 5) -> SubscriptionPlan:
    now = timezone.now()
    plan = SubscriptionPlan.objects.create(
        customer=customer,
        catalog=catalog,
        title=f"{customer.name} plan",
        seats=seats,
        start=now - timedelta(days=30),
        expiration=now + timedelta(days=335),
    )
    License.objects.bulk_create([License(plan=plan) for _ in range(seats)])
    return plan


@pytest.fixture
def acme(runs):
    """Customer ``acme`` (data-sharing consent at enrollment, audit reporting off)."""
    return _customer("acme", "Acme Corp")


@pytest.fixture
def acme_catalog(acme, ent_orgs):
    """Acme's catalog: the whole EntU organization."""
    catalog = EnterpriseCatalog.objects.create(customer=acme, title="Acme all EntU")
    EnterpriseCatalogOrganization.objects.create(catalog=catalog, organization=ent_orgs[0])
    return catalog


@pytest.fixture
def acme_plan(acme_catalog):
    """A current 5-seat plan of acme on ``acme_catalog``."""
    return _plan(acme_catalog.customer, acme_catalog)


@pytest.fixture
def globex(runs):
    """Customer ``globex``: another tenant."""
    return _customer("globex", "Globex Inc")


@pytest.fixture
def globex_catalog(globex, runs):
    """Globex's catalog: only ElseU+Art, named explicitly."""
    catalog = EnterpriseCatalog.objects.create(customer=globex, title="Globex art")
    EnterpriseCatalogCourse.objects.create(catalog=catalog, catalog_course=runs[ART_KEY].catalog_course)
    return catalog


@pytest.fixture
def globex_plan(globex_catalog):
    return _plan(globex_catalog.customer, globex_catalog)


def _admin_of(make_user, customer, name: str):
    user = make_user(name)
    core_api.grant(user, Role.ENTERPRISE_ADMIN, Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(customer.uuid)))
    return user


@pytest.fixture
def acme_admin(make_user, acme):
    return _admin_of(make_user, acme, "acme-admin")


@pytest.fixture
def globex_admin(make_user, globex):
    return _admin_of(make_user, globex, "globex-admin")


def activate_license_for(plan, user) -> License:
    """Give ``user`` one free license of ``plan``, activated (ORM, for fixtures)."""
    now = timezone.now()
    license = License.objects.filter(plan=plan, status=LicenseStatus.UNASSIGNED).order_by("id").first()
    assert license is not None, "no free seat left in the fixture plan"
    license.status = LicenseStatus.ACTIVATED
    license.user = user
    license.user_email = user.email
    license.assigned_at = license.activated_at = now
    license.save()
    return license


def _learner_maker(make_user, customer, plan_fixture):
    def _make(name: str | None = None, *, licensed: bool = True, active: bool = True):
        user = make_user(name or f"{customer.slug}-learner{next(_numbers)}")
        core_api.grant(user, Role.LEARNER)
        EnterpriseCustomerUser.objects.create(customer=customer, user=user, active=active, linked=True)
        if licensed:
            activate_license_for(plan_fixture, user)
        return user

    return _make


@pytest.fixture
def make_acme_learner(make_user, acme, acme_plan) -> Callable[..., object]:
    """Make a linked learner of acme (active in acme), with an activated acme license unless ``licensed=False``."""
    return _learner_maker(make_user, acme, acme_plan)


@pytest.fixture
def acme_learner(make_acme_learner):
    return make_acme_learner("acme-learner")


@pytest.fixture
def make_globex_learner(make_user, globex, globex_plan) -> Callable[..., object]:
    return _learner_maker(make_user, globex, globex_plan)


@pytest.fixture
def globex_learner(make_globex_learner):
    return make_globex_learner("globex-learner")
