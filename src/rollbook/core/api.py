"""Public API of the core app: roles with scopes.

Every permission check and every tenant filter in Rollbook asks these functions;
nothing reads RoleAssignment directly.

A role is always held within a scope: operators globally, learners over themselves, program
administrators within an organization or a program, enterprise administrators and learners within
an enterprise customer. Organization keys are casefolded short names; program and customer keys
are UUIDs in their canonical (lower-case, hyphenated) form, so lookups never depend on case.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import QuerySet
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey

from rollbook.core.data import GLOBAL_SCOPE, ROLE_SCOPE_KINDS, SELF_SCOPE, Role, Scope, ScopeKind
from rollbook.core.errors import InvalidInput
from rollbook.core.models import RoleAssignment
from rollbook.core.normalise import normalise_key

__all__ = [
    "GLOBAL_SCOPE",
    "SELF_SCOPE",
    "Role",
    "Scope",
    "ScopeKind",
    "grant",
    "has_role",
    "is_operator",
    "is_operator_or_has_role",
    "normalise_scope",
    "organizations_administered",
    "parse_role",
    "parse_role_and_scope",
    "parse_scope",
    "restrict_to_scopes",
    "revoke",
    "roles_by_user",
    "roles_of",
    "scope_keys_for",
    "scopes_for",
]

_ROLE_CACHE_ATTRIBUTE = "_rollbook_role_cache"
_SCOPE_KEY_MAX_LENGTH = 255
_SCOPE_ALIASES = {"org": ScopeKind.ORGANIZATION, "customer": ScopeKind.ENTERPRISE_CUSTOMER}
_UNKEYED_KINDS = frozenset({ScopeKind.GLOBAL, ScopeKind.SELF})
_UUID_KEYED_KINDS = frozenset({ScopeKind.PROGRAM, ScopeKind.ENTERPRISE_CUSTOMER})


def parse_role(text: Role | str) -> Role:
    """Return ``text`` as a Role; raise InvalidInput (field ``role``) naming the valid roles when it is none."""
    try:
        return Role(str(text).strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput({"role": [f"Unknown role {str(text)!r}; use one of {choices}."]}) from None


def parse_scope(text: str) -> Scope:
    """Parse ``kind:key`` (``org:`` and ``customer:`` are accepted shorthands) into a Scope.

    ``global`` and ``self`` need no key (``global:*`` is accepted too). The key is returned as given,
    trimmed; ``normalise_scope`` (called by grant, revoke and has_role) canonicalises it.
    Raises InvalidInput (field ``scope``) with a readable message when the text is not of that form.
    """
    kind_text, separator, key = str(text).partition(":")
    kind_text = kind_text.strip().lower()
    key = key.strip()
    try:
        kind = _SCOPE_ALIASES.get(kind_text) or ScopeKind(kind_text)
    except ValueError:
        choices = ", ".join([k.value for k in ScopeKind] + list(_SCOPE_ALIASES))
        raise InvalidInput({"scope": [f"Unknown scope kind {kind_text!r}; use one of {choices}."]}) from None
    if kind in _UNKEYED_KINDS:
        if key not in ("", "*"):
            raise InvalidInput({"scope": [f"A {kind.value} scope takes no key; write just {kind.value!r}."]})
        return Scope(kind, "*")
    if not separator or not key:
        raise InvalidInput({"scope": [f"A {kind.value} scope needs a key, e.g. {kind.value}:<key>."]})
    return Scope(kind, key)


def normalise_scope(role: Role | str, scope: Scope) -> Scope:
    """Return ``scope`` in its canonical form for ``role``.

    Raises InvalidInput (field ``scope``) when the scope kind does not fit the role (an operator is
    always global, a learner always self), when a keyed scope has no key, or when a program or
    customer key is not a UUID.
    """
    role = parse_role(role)
    try:
        kind = ScopeKind(scope.kind)
    except ValueError:
        raise InvalidInput({"scope": [f"Unknown scope kind {scope.kind!r}."]}) from None
    if kind not in ROLE_SCOPE_KINDS[role]:
        allowed = ", ".join(sorted(k.value for k in ROLE_SCOPE_KINDS[role]))
        raise InvalidInput({"scope": [f"Role {role.value} takes a scope of kind {allowed}, not {kind.value}."]})
    key = str(scope.key or "").strip()
    if kind in _UNKEYED_KINDS:
        if key not in ("", "*"):
            raise InvalidInput({"scope": [f"A {kind.value} scope takes no key."]})
        return Scope(kind, "*")
    if not key:
        raise InvalidInput({"scope": [f"A {kind.value} scope needs a key, e.g. {kind.value}:<key>."]})
    if kind in _UUID_KEYED_KINDS:
        try:
            key = str(uuid.UUID(key))
        except ValueError:
            raise InvalidInput({"scope": [f"A {kind.value} scope key must be a UUID, not {key!r}."]}) from None
    elif kind is ScopeKind.COURSE_RUN:
        try:
            key = str(CourseKey.from_string(key))
        except InvalidKeyError:
            raise InvalidInput({"scope": [f"A {kind.value} scope key must be a course key, not {key!r}."]}) from None
    else:
        key = normalise_key(key)
    if len(key) > _SCOPE_KEY_MAX_LENGTH:
        raise InvalidInput({"scope": [f"A scope key has at most {_SCOPE_KEY_MAX_LENGTH} characters."]})
    return Scope(kind, key)


def parse_role_and_scope(role: Role | str, scope: Scope | str | None = None) -> tuple[Role, Scope]:
    """Parse and check a (role, scope) pair as an operator would type it (``program_admin``, ``org:MITx``).

    Operators default to the global scope and learners to self; every other role needs a scope.
    Returns the role and the canonical scope; raises InvalidInput (field ``role`` or ``scope``).
    """
    role = parse_role(role)
    if scope is None or (isinstance(scope, str) and not scope.strip()):
        if role == Role.OPERATOR:
            return role, GLOBAL_SCOPE
        if role == Role.LEARNER:
            return role, SELF_SCOPE
        kinds = " or ".join(sorted(f"{k.value}:<key>" for k in ROLE_SCOPE_KINDS[role]))
        raise InvalidInput({"scope": [f"Role {role.value} needs a scope ({kinds})."]})
    if isinstance(scope, str):
        scope = parse_scope(scope)
    return role, normalise_scope(role, scope)


def _forget_cached_roles(user: AbstractBaseUser) -> None:
    user.__dict__.pop(_ROLE_CACHE_ATTRIBUTE, None)


def grant(user: AbstractBaseUser, role: Role | str, scope: Scope = GLOBAL_SCOPE) -> bool:
    """Give ``user`` the ``role`` within ``scope``. Returns True if it was new, False if already held.

    A learner granted without a scope is given the self scope. Raises InvalidInput when the role is
    unknown or the scope does not fit it (see ``normalise_scope``).
    """
    role = parse_role(role)
    if role == Role.LEARNER and scope == GLOBAL_SCOPE:
        scope = SELF_SCOPE
    scope = normalise_scope(role, scope)
    _forget_cached_roles(user)
    _, created = RoleAssignment.objects.get_or_create(
        user=user, role=role.value, scope_kind=scope.kind.value, scope_key=scope.key
    )
    return created


def revoke(user: AbstractBaseUser, role: Role | str, scope: Scope | None = None) -> int:
    """Take ``role`` from ``user``: within ``scope`` only, or everywhere when scope is None.

    Returns how many assignments were removed (0 when the user did not hold it). Every removal is
    kept in the assignment history.
    """
    role = parse_role(role)
    assignments = RoleAssignment.objects.filter(user=user, role=role.value)
    if scope is not None:
        scope = normalise_scope(role, scope)
        assignments = assignments.filter(scope_kind=scope.kind.value, scope_key=scope.key)
    _forget_cached_roles(user)
    count = 0
    with transaction.atomic():
        for assignment in assignments.select_for_update():  # one by one so each removal is kept in history
            assignment.delete()
            count += 1
    return count


def _is_active_user(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return user is not None and user.is_authenticated and user.is_active


def scopes_for(user: AbstractBaseUser | AnonymousUser | None, role: Role | str) -> frozenset[Scope]:
    """Return every scope in which ``user`` holds ``role`` (empty for anonymous or inactive users).

    Django superusers hold the operator role globally without an assignment. The user's assignments
    are read once and cached on the user object; grant and revoke clear that cache.
    """
    role = parse_role(role)
    if not _is_active_user(user):
        return frozenset()
    if role == Role.OPERATOR and getattr(user, "is_superuser", False):
        return frozenset({GLOBAL_SCOPE})
    cache = user.__dict__.get(_ROLE_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        for r, kind, key in RoleAssignment.objects.filter(user=user).values_list("role", "scope_kind", "scope_key"):
            cache.setdefault(r, set()).add(Scope(ScopeKind(kind), key))
        user.__dict__[_ROLE_CACHE_ATTRIBUTE] = cache
    return frozenset(cache.get(role.value, ()))


def has_role(user: AbstractBaseUser | AnonymousUser | None, role: Role | str, scope: Scope | None = None) -> bool:
    """True when ``user`` holds ``role`` anywhere, or within ``scope`` when one is given.

    The scope is compared in canonical form (``org:MITx`` matches an assignment for ``org:mitx``);
    a scope that cannot fit the role is simply not held. Operators do not implicitly hold other
    roles here: use ``is_operator_or_has_role`` for "may act in this scope".
    """
    scopes = scopes_for(user, role)
    if scope is None:
        return bool(scopes)
    try:
        scope = normalise_scope(role, scope)
    except InvalidInput:
        return False
    return scope in scopes or GLOBAL_SCOPE in scopes


def is_operator(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """True when ``user`` is an active operator (platform staff) or superuser: every scope, every write."""
    return bool(scopes_for(user, Role.OPERATOR))


def is_operator_or_has_role(
    user: AbstractBaseUser | AnonymousUser | None, role: Role | str, scope: Scope | None = None
) -> bool:
    """True when ``user`` is an operator, or holds ``role`` (within ``scope`` when one is given)."""
    return is_operator(user) or has_role(user, role, scope)


def scope_keys_for(
    user: AbstractBaseUser | AnonymousUser | None, role: Role | str, kind: ScopeKind | str
) -> set[str] | None:
    """The canonical keys of the ``kind`` scopes in which ``user`` holds ``role``.

    Returns None for operators, meaning "all of them"; an empty set when the user holds none.
    """
    if is_operator(user):
        return None
    kind = ScopeKind(kind)
    return {scope.key for scope in scopes_for(user, role) if scope.kind == kind}


def organizations_administered(user: AbstractBaseUser | AnonymousUser | None) -> set[str] | None:
    """Casefolded short names of the organizations ``user`` administers as program administrator.

    None means every organization (operators); an empty set means none.
    """
    return scope_keys_for(user, Role.PROGRAM_ADMIN, ScopeKind.ORGANIZATION)


def restrict_to_scopes(
    queryset: QuerySet,
    user: AbstractBaseUser | AnonymousUser | None,
    role: Role | str,
    kind: ScopeKind | str,
    lookup: str,
) -> QuerySet:
    """Filter ``queryset`` to the rows whose ``lookup`` value is a ``kind`` scope key in which ``user`` holds ``role``.

    ``lookup`` must name a field holding keys in canonical form (e.g. ``org__short_name_normalized``
    for organizations). Operators see the queryset unfiltered; users without the role see nothing.
    """
    keys = scope_keys_for(user, role, kind)
    if keys is None:
        return queryset
    if not keys:
        return queryset.none()
    return queryset.filter(**{f"{lookup}__in": sorted(keys)})


def roles_of(user: AbstractBaseUser | AnonymousUser | None) -> list[tuple[Role, Scope]]:
    """Every (role, scope) assigned to the user, sorted, for display in the CLI, admin and ``/me``.

    Superusers' implicit operator role is not an assignment and is not listed (``is_operator`` says it).
    """
    if user is None or not user.is_authenticated:
        return []
    return roles_by_user([user.pk])[user.pk]


def roles_by_user(user_ids: Iterable[int]) -> dict[int, list[tuple[Role, Scope]]]:
    """``{user_id: [(role, scope), ...]}`` for every given user (an empty list when none), sorted.

    One query per ROLLBOOK_BULK_BATCH_SIZE users.
    """
    ids = sorted(set(user_ids))
    result: dict[int, list[tuple[Role, Scope]]] = {user_id: [] for user_id in ids}
    batch_size = settings.BULK_BATCH_SIZE
    for start in range(0, len(ids), batch_size):
        rows = (
            RoleAssignment.objects.filter(user_id__in=ids[start : start + batch_size])
            .order_by("user_id", "role", "scope_kind", "scope_key")
            .values_list("user_id", "role", "scope_kind", "scope_key")
        )
        for user_id, role, kind, key in rows:
            result[user_id].append((Role(role), Scope(ScopeKind(kind), key)))
    return result
