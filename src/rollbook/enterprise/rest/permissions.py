"""Who may do what in the enterprise REST API.

- Operators: everything.
- Enterprise administrators (role ``enterprise_admin`` scoped ``enterprise_customer:<uuid>``): read and
  manage their customers' learners, catalogs, plans, licenses, enrollments and intentions.
- Learners: their own records in the customers they are linked to (``lms_user_id`` and similar
  parameters naming another user are honoured for operators alone; learners always get themselves).

Tenant isolation: a customer named in the path or query that the caller may not act for is a 403; an
object addressed by its own uuid that the caller may not see is a 404 (its existence is not revealed).
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from rest_framework.exceptions import PermissionDenied

from rollbook.core import api as core_api
from rollbook.core.data import Role, ScopeKind
from rollbook.enterprise import api

UserLike = AbstractBaseUser | AnonymousUser | None


def administered_customer_uuids(user: UserLike) -> set[str] | None:
    """Canonical uuid strings of the customers ``user`` administers; None means all (operators)."""
    return core_api.scope_keys_for(user, Role.ENTERPRISE_ADMIN, ScopeKind.ENTERPRISE_CUSTOMER)


def may_administer(user: UserLike, customer_uuid: uuid.UUID | str) -> bool:
    """True when ``user`` is an operator or an enterprise admin of the customer."""
    keys = administered_customer_uuids(user)
    return keys is None or str(customer_uuid) in keys


def is_learner_of(user: UserLike, customer_uuid: uuid.UUID | str) -> bool:
    """True when ``user`` is a linked learner of the customer."""
    if user is None or not user.is_authenticated:
        return False
    try:
        return api.is_linked_learner(customer_uuid, user)
    except Exception:  # an unknown customer: not a learner of it
        return False


def may_read(user: UserLike, customer_uuid: uuid.UUID | str) -> bool:
    """True for operators, the customer's admins and its linked learners."""
    return may_administer(user, customer_uuid) or is_learner_of(user, customer_uuid)


def require_admin(user: UserLike, customer_uuid: uuid.UUID | str) -> None:
    """Raise PermissionDenied (403) unless ``user`` may administer the customer."""
    if not may_administer(user, customer_uuid):
        raise PermissionDenied("You are not an administrator of this enterprise customer.")


def require_reader(user: UserLike, customer_uuid: uuid.UUID | str) -> None:
    """Raise PermissionDenied (403) unless ``user`` is an operator, admin or linked learner of the customer."""
    if not may_read(user, customer_uuid):
        raise PermissionDenied("You have no access to this enterprise customer.")
