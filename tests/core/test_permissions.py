"""The DRF permission classes built on roles."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from rollbook.core import api as core_api
from rollbook.core.data import Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput
from rollbook.core.permissions import IsOperator, OperatorWritesAuthenticatedReads, operator_or_role


def request_by(user, method: str = "GET"):
    return SimpleNamespace(user=user, method=method)


def test_is_operator_admits_operators_and_superusers_only(operator, learner, make_user):
    root = make_user(is_superuser=True)
    permission = IsOperator()
    assert permission.has_permission(request_by(operator), None)
    assert permission.has_permission(request_by(root), None)
    assert not permission.has_permission(request_by(learner), None)
    assert not permission.has_permission(request_by(AnonymousUser()), None)


@pytest.mark.parametrize(
    ("who", "method", "allowed"),
    [
        ("operator", "GET", True),
        ("operator", "POST", True),
        ("learner", "GET", True),
        ("learner", "HEAD", True),
        ("learner", "POST", False),
        ("learner", "DELETE", False),
        ("anonymous", "GET", False),
    ],
)
def test_operator_writes_authenticated_reads(operator, learner, who, method, allowed):
    user = {"operator": operator, "learner": learner, "anonymous": AnonymousUser()}[who]
    assert OperatorWritesAuthenticatedReads().has_permission(request_by(user, method), None) is allowed


def test_operator_or_role_admits_operators_and_holders_of_the_roles(operator, learner, make_user):
    program_admin = make_user()
    core_api.grant(program_admin, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "MITx"))
    permission_class = operator_or_role(Role.PROGRAM_ADMIN, "enterprise_admin")
    permission = permission_class()
    assert permission.has_permission(request_by(operator), None)
    assert permission.has_permission(request_by(program_admin), None)
    assert not permission.has_permission(request_by(learner), None)
    assert not permission.has_permission(request_by(AnonymousUser()), None)
    assert "program_admin" in permission.message


def test_operator_or_role_refuses_unknown_roles_when_declared():
    with pytest.raises(InvalidInput):
        operator_or_role("dean")
