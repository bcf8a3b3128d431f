"""Roles with scopes: parsing, granting, revoking, checking, and the tenant filters built on them."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser

from rollbook.core import api as core_api
from rollbook.core.data import GLOBAL_SCOPE, SELF_SCOPE, Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput
from rollbook.core.models import RoleAssignment

ORG_MITX = Scope(ScopeKind.ORGANIZATION, "MITx")
ORG_HARVARD = Scope(ScopeKind.ORGANIZATION, "HarvardX")


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("program_admin", Role.PROGRAM_ADMIN),
        ("  Operator ", Role.OPERATOR),
        (Role.LEARNER, Role.LEARNER),
    ],
)
def test_parse_role_accepts_role_names_in_any_case(text, expected):
    assert core_api.parse_role(text) == expected


def test_parse_role_names_the_valid_roles_when_unknown():
    with pytest.raises(InvalidInput) as caught:
        core_api.parse_role("registrar")
    assert "role" in caught.value.errors
    assert "program_admin" in caught.value.errors["role"][0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("org:MITx", Scope(ScopeKind.ORGANIZATION, "MITx")),
        ("organization: MITx ", Scope(ScopeKind.ORGANIZATION, "MITx")),
        ("customer:abc", Scope(ScopeKind.ENTERPRISE_CUSTOMER, "abc")),
        ("program:p1", Scope(ScopeKind.PROGRAM, "p1")),
        ("global", GLOBAL_SCOPE),
        ("global:*", GLOBAL_SCOPE),
        ("SELF", SELF_SCOPE),
    ],
)
def test_parse_scope_reads_kind_and_key(text, expected):
    assert core_api.parse_scope(text) == expected


@pytest.mark.parametrize("text", ["team:x", "org", "org:", "organization:  ", "global:everything", "self:me", ""])
def test_parse_scope_refuses_malformed_text_with_a_scope_error(text):
    with pytest.raises(InvalidInput) as caught:
        core_api.parse_scope(text)
    assert list(caught.value.errors) == ["scope"]


def test_normalise_scope_casefolds_organizations_and_canonicalises_uuids():
    customer = uuid.uuid4()
    assert core_api.normalise_scope(Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, " MITx ")) == Scope(
        ScopeKind.ORGANIZATION, "mitx"
    )
    upper = Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(customer).upper())
    assert core_api.normalise_scope(Role.ENTERPRISE_ADMIN, upper) == Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(customer))
    hexed = Scope(ScopeKind.PROGRAM, customer.hex)
    assert core_api.normalise_scope(Role.PROGRAM_ADMIN, hexed).key == str(customer)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.OPERATOR, ORG_MITX),
        (Role.LEARNER, ORG_MITX),
        (Role.PROGRAM_ADMIN, GLOBAL_SCOPE),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(uuid.uuid4()))),
        (Role.ENTERPRISE_ADMIN, ORG_MITX),
        (Role.ENTERPRISE_LEARNER, SELF_SCOPE),
        (Role.ENTERPRISE_ADMIN, Scope(ScopeKind.ENTERPRISE_CUSTOMER, "not-a-uuid")),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "")),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "x" * 256)),
    ],
)
def test_normalise_scope_refuses_scopes_that_do_not_fit_the_role(role, scope):
    with pytest.raises(InvalidInput) as caught:
        core_api.normalise_scope(role, scope)
    assert "scope" in caught.value.errors


def test_parse_role_and_scope_defaults_operator_to_global_and_learner_to_self():
    assert core_api.parse_role_and_scope("operator") == (Role.OPERATOR, GLOBAL_SCOPE)
    assert core_api.parse_role_and_scope("learner", "") == (Role.LEARNER, SELF_SCOPE)
    assert core_api.parse_role_and_scope("program_admin", "org:MITx") == (
        Role.PROGRAM_ADMIN,
        Scope(ScopeKind.ORGANIZATION, "mitx"),
    )


def test_parse_role_and_scope_requires_a_scope_for_scoped_roles():
    with pytest.raises(InvalidInput) as caught:
        core_api.parse_role_and_scope("program_admin")
    assert "needs a scope" in caught.value.errors["scope"][0]


# --- grant and revoke ---------------------------------------------------------------------------


def test_grant_reports_whether_the_role_is_new_and_stores_org_keys_casefolded(make_user):
    user = make_user()
    assert core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX) is True
    assert core_api.grant(user, "program_admin", Scope(ScopeKind.ORGANIZATION, "mitx")) is False
    assert list(RoleAssignment.objects.filter(user=user).values_list("scope_key", flat=True)) == ["mitx"]


def test_grant_keeps_history(make_user):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX)
    history = RoleAssignment.history.filter(user_id=user.pk)
    assert [h.history_type for h in history] == ["+"]


def test_grant_gives_learners_the_self_scope_by_default(make_user):
    user = make_user()
    core_api.grant(user, Role.LEARNER)
    assert core_api.roles_of(user) == [(Role.LEARNER, SELF_SCOPE)]


def test_grant_refuses_a_misfitting_scope_or_unknown_role_and_writes_nothing(make_user):
    user = make_user()
    with pytest.raises(InvalidInput):
        core_api.grant(user, Role.OPERATOR, ORG_MITX)
    with pytest.raises(InvalidInput):
        core_api.grant(user, Role.PROGRAM_ADMIN)
    with pytest.raises(InvalidInput):
        core_api.grant(user, "dean", ORG_MITX)
    assert not RoleAssignment.objects.filter(user=user).exists()


def test_revoke_within_one_scope_leaves_the_others(make_user):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX)
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_HARVARD)
    assert core_api.revoke(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "MITX")) == 1
    assert core_api.roles_of(user) == [(Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "harvardx"))]


def test_revoke_without_scope_removes_the_role_everywhere_and_keeps_history(make_user):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX)
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_HARVARD)
    core_api.grant(user, Role.LEARNER)
    assert core_api.revoke(user, Role.PROGRAM_ADMIN) == 2
    assert core_api.roles_of(user) == [(Role.LEARNER, SELF_SCOPE)]
    removals = RoleAssignment.history.filter(user_id=user.pk, history_type="-")
    assert removals.count() == 2


def test_revoke_of_a_role_not_held_removes_nothing(make_user):
    user = make_user()
    assert core_api.revoke(user, Role.OPERATOR) == 0


# --- checking -----------------------------------------------------------------------------------


def test_scopes_for_lists_the_scopes_of_one_role(make_user):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX)
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_HARVARD)
    core_api.grant(user, Role.LEARNER)
    assert core_api.scopes_for(user, Role.PROGRAM_ADMIN) == {
        Scope(ScopeKind.ORGANIZATION, "mitx"),
        Scope(ScopeKind.ORGANIZATION, "harvardx"),
    }


def test_scopes_for_is_empty_for_anonymous_none_and_inactive_users(make_user):
    inactive = make_user(is_active=False)
    core_api.grant(inactive, Role.OPERATOR)
    assert core_api.scopes_for(AnonymousUser(), Role.LEARNER) == frozenset()
    assert core_api.scopes_for(None, Role.OPERATOR) == frozenset()
    assert core_api.scopes_for(inactive, Role.OPERATOR) == frozenset()
    assert not core_api.is_operator(inactive)


def test_superusers_are_operators_without_an_assignment(make_user):
    root = make_user(is_superuser=True)
    assert core_api.is_operator(root)
    assert core_api.scopes_for(root, Role.OPERATOR) == {GLOBAL_SCOPE}
    assert core_api.roles_of(root) == []


def test_role_checks_read_assignments_once_per_user_object(make_user, django_assert_num_queries):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX)
    with django_assert_num_queries(1):
        core_api.has_role(user, Role.PROGRAM_ADMIN)
        core_api.has_role(user, Role.ENTERPRISE_ADMIN)
        core_api.is_operator(user)


def test_grant_and_revoke_clear_the_cached_roles(make_user):
    user = make_user()
    assert not core_api.is_operator(user)  # fills the cache
    core_api.grant(user, Role.OPERATOR)
    assert core_api.is_operator(user)
    core_api.revoke(user, Role.OPERATOR)
    assert not core_api.is_operator(user)


def test_has_role_compares_scopes_in_canonical_form(make_user):
    user = make_user()
    core_api.grant(user, Role.PROGRAM_ADMIN, ORG_MITX)
    assert core_api.has_role(user, Role.PROGRAM_ADMIN)
    assert core_api.has_role(user, Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, " mItX"))
    assert not core_api.has_role(user, Role.PROGRAM_ADMIN, ORG_HARVARD)
    assert not core_api.has_role(user, Role.PROGRAM_ADMIN, GLOBAL_SCOPE)  # does not fit: not held, no error
    assert not core_api.has_role(user, Role.ENTERPRISE_ADMIN)


def test_operators_do_not_implicitly_hold_other_roles_but_may_act_anywhere(operator, make_user):
    admin = make_user()
    core_api.grant(admin, Role.PROGRAM_ADMIN, ORG_MITX)
    assert not core_api.has_role(operator, Role.PROGRAM_ADMIN, ORG_MITX)
    assert core_api.is_operator_or_has_role(operator, Role.PROGRAM_ADMIN, ORG_MITX)
    assert core_api.is_operator_or_has_role(admin, Role.PROGRAM_ADMIN, ORG_MITX)
    assert not core_api.is_operator_or_has_role(admin, Role.PROGRAM_ADMIN, ORG_HARVARD)
    assert not core_api.is_operator_or_has_role(AnonymousUser(), Role.PROGRAM_ADMIN)


def test_organizations_administered(operator, learner, make_user):
    admin = make_user()
    core_api.grant(admin, Role.PROGRAM_ADMIN, ORG_MITX)
    core_api.grant(admin, Role.PROGRAM_ADMIN, Scope(ScopeKind.PROGRAM, str(uuid.uuid4())))
    assert core_api.organizations_administered(operator) is None
    assert core_api.organizations_administered(admin) == {"mitx"}
    assert core_api.organizations_administered(learner) == set()
    assert core_api.organizations_administered(AnonymousUser()) == set()


def test_scope_keys_for_any_role_and_kind(make_user):
    customer = uuid.uuid4()
    user = make_user()
    core_api.grant(user, Role.ENTERPRISE_ADMIN, Scope(ScopeKind.ENTERPRISE_CUSTOMER, str(customer).upper()))
    assert core_api.scope_keys_for(user, Role.ENTERPRISE_ADMIN, ScopeKind.ENTERPRISE_CUSTOMER) == {str(customer)}
    assert core_api.scope_keys_for(user, Role.ENTERPRISE_LEARNER, "enterprise_customer") == set()


def test_restrict_to_scopes_filters_rows_to_the_callers_scopes(operator, make_user, learner):
    admin = make_user()
    other = make_user()
    core_api.grant(admin, Role.PROGRAM_ADMIN, ORG_MITX)
    core_api.grant(other, Role.PROGRAM_ADMIN, ORG_HARVARD)
    rows = RoleAssignment.objects.filter(scope_kind=ScopeKind.ORGANIZATION)  # any model with canonical keys will do

    def visible(user):
        filtered = core_api.restrict_to_scopes(rows, user, Role.PROGRAM_ADMIN, ScopeKind.ORGANIZATION, "scope_key")
        return sorted(filtered.values_list("scope_key", flat=True))

    assert visible(operator) == ["harvardx", "mitx"]
    assert visible(admin) == ["mitx"]
    assert visible(learner) == []


def test_roles_by_user_reads_many_users_in_one_query(make_user, django_assert_num_queries):
    users = [make_user() for _ in range(5)]
    for user in users[:3]:
        core_api.grant(user, Role.LEARNER)
    core_api.grant(users[0], Role.PROGRAM_ADMIN, ORG_MITX)
    with django_assert_num_queries(1):
        roles = core_api.roles_by_user(user.pk for user in users)
    assert roles[users[0].pk] == [
        (Role.LEARNER, SELF_SCOPE),
        (Role.PROGRAM_ADMIN, Scope(ScopeKind.ORGANIZATION, "mitx")),
    ]
    assert roles[users[4].pk] == []


def test_roles_by_user_queries_once_per_batch(make_user, settings, django_assert_num_queries):
    settings.BULK_BATCH_SIZE = 2
    users = [make_user() for _ in range(5)]
    with django_assert_num_queries(3):
        roles = core_api.roles_by_user(user.pk for user in users)
    assert set(roles) == {user.pk for user in users}


def test_roles_of_anonymous_is_empty():
    assert core_api.roles_of(AnonymousUser()) == []
