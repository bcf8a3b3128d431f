"""Public API of the core app: roles with scopes.

Every permission check and every tenant filter in Rollbook asks these functions;
nothing reads RoleAssignment directly.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from rollbook.core.data import GLOBAL_SCOPE, ROLE_SCOPE_KINDS, SELF_SCOPE, Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput
from rollbook.core.models import RoleAssignment

__all__ = [
    "GLOBAL_SCOPE",
    "SELF_SCOPE",
    "Role",
    "Scope",
    "ScopeKind",
    "grant",
    "has_role",
    "is_operator",
    "parse_scope",
    "revoke",
    "roles_of",
    "scopes_for",
]


def _normalise_scope(role: Role, scope: Scope) -> Scope:
    role = Role(role)
    kind = ScopeKind(scope.kind)
    if kind not in ROLE_SCOPE_KINDS[role]:
        allowed = ", ".join(sorted(k.value for k in ROLE_SCOPE_KINDS[role]))
        raise InvalidInput({"scope": [f"Role {role.value} takes a scope of kind {allowed}, not {kind.value}."]})
    key = scope.key.strip()
    if kind in (ScopeKind.GLOBAL, ScopeKind.SELF):
        key = "*"
    elif kind == ScopeKind.ORGANIZATION:
        key = key.casefold()
    if not key:
        raise InvalidInput({"scope": ["A scope needs a key, e.g. organization:MITx."]})
    return Scope(kind, key)


def parse_scope(text: str) -> Scope:
    """Parse ``kind:key`` (``org:`` and ``customer:`` are accepted shorthands) into a Scope.

    Raises InvalidInput with a readable message when the text is not of that form.
    """
    aliases = {"org": ScopeKind.ORGANIZATION, "customer": ScopeKind.ENTERPRISE_CUSTOMER}
    kind_text, sep, key = text.partition(":")
    kind_text = kind_text.strip().lower()
    if kind_text in ("global", "self") and not sep:
        return Scope(ScopeKind(kind_text), "*")
    try:
        kind = aliases.get(kind_text) or ScopeKind(kind_text)
    except ValueError:
        choices = ", ".join([k.value for k in ScopeKind] + list(aliases))
        raise InvalidInput({"scope": [f"Unknown scope kind {kind_text!r}; use one of {choices}."]}) from None
    return Scope(kind, key.strip() or ("*" if kind in (ScopeKind.GLOBAL, ScopeKind.SELF) else ""))


def grant(user: AbstractBaseUser, role: Role | str, scope: Scope = GLOBAL_SCOPE) -> bool:
    """Give ``user`` the ``role`` within ``scope``. Returns True if it was new, False if already held.

    Raises InvalidInput when the scope kind does not fit the role (an operator is always global,
    a learner always self).
    """
    role = Role(role)
    if role == Role.LEARNER and scope == GLOBAL_SCOPE:
        scope = SELF_SCOPE
    scope = _normalise_scope(role, scope)
    user.__dict__.pop("_rollbook_role_cache", None)
    _, created = RoleAssignment.objects.get_or_create(
        user=user, role=role.value, scope_kind=scope.kind.value, scope_key=scope.key
    )
    return created


def revoke(user: AbstractBaseUser, role: Role | str, scope: Scope | None = None) -> int:
    """Take ``role`` from ``user``: within ``scope`` only, or everywhere when scope is None.

    Returns how many assignments were removed (0 when the user did not hold it).
    """
    role = Role(role)
    assignments = RoleAssignment.objects.filter(user=user, role=role.value)
    if scope is not None:
        scope = _normalise_scope(role, scope)
        assignments = assignments.filter(scope_kind=scope.kind.value, scope_key=scope.key)
    user.__dict__.pop("_rollbook_role_cache", None)
    count = 0
    for assignment in assignments:  # one by one so each removal is kept in history
        assignment.delete()
        count += 1
    return count


def scopes_for(user: AbstractBaseUser | AnonymousUser | None, role: Role | str) -> frozenset[Scope]:
    """Return every scope in which ``user`` holds ``role`` (empty for anonymous or inactive users).

    Django superusers hold the operator role globally without an assignment.
    """
    role = Role(role)
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    if role == Role.OPERATOR and getattr(user, "is_superuser", False):
        return frozenset({GLOBAL_SCOPE})
    cache = getattr(user, "_rollbook_role_cache", None)
    if cache is None:
        cache = {}
        for r, kind, key in RoleAssignment.objects.filter(user=user).values_list("role", "scope_kind", "scope_key"):
            cache.setdefault(r, set()).add(Scope(ScopeKind(kind), key))
        user._rollbook_role_cache = cache
    return frozenset(cache.get(role.value, ()))


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: Role | str, scope: Scope | None = None) -> bool:
    """True when ``user`` holds ``role`` (within ``scope`` if one is given; global operators hold it everywhere)."""
    scopes = scopes_for(user, role)
    if scope is None:
        return bool(scopes)
    return scope in scopes or GLOBAL_SCOPE in scopes


def is_operator(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """True when ``user`` is an operator (platform staff): every scope, every write."""
    return bool(scopes_for(user, Role.OPERATOR))


def roles_of(user: AbstractBaseUser) -> list[tuple[Role, Scope]]:
    """Every (role, scope) the user holds, sorted, for display in the CLI and admin."""
    rows = RoleAssignment.objects.filter(user=user).order_by("role", "scope_kind", "scope_key")
    return [(Role(r.role), Scope(ScopeKind(r.scope_kind), r.scope_key)) for r in rows]
