"""Shared value types of the core app: roles, scopes, bulk-result statuses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A role a user (or an API client's service user) may hold, always with a scope."""

    OPERATOR = "operator"
    PROGRAM_ADMIN = "program_admin"
    ENTERPRISE_ADMIN = "enterprise_admin"
    ENTERPRISE_LEARNER = "enterprise_learner"
    LEARNER = "learner"
    COURSE_STAFF = "course_staff"


class ScopeKind(StrEnum):
    """What a scope's key names."""

    GLOBAL = "global"  # key is "*": the whole installation (operators)
    ORGANIZATION = "organization"  # key is the organization short_name, casefolded
    PROGRAM = "program"  # key is the program UUID
    ENTERPRISE_CUSTOMER = "enterprise_customer"  # key is the customer UUID
    SELF = "self"  # key is "*": the holder's own records only (learners)
    COURSE_RUN = "course_run"  # key is the course run's key, exactly as written (course keys are case-sensitive)


# Which scope kinds each role may be granted with.
ROLE_SCOPE_KINDS: dict[Role, frozenset[ScopeKind]] = {
    Role.OPERATOR: frozenset({ScopeKind.GLOBAL}),
    Role.PROGRAM_ADMIN: frozenset({ScopeKind.ORGANIZATION, ScopeKind.PROGRAM}),
    Role.ENTERPRISE_ADMIN: frozenset({ScopeKind.ENTERPRISE_CUSTOMER}),
    Role.ENTERPRISE_LEARNER: frozenset({ScopeKind.ENTERPRISE_CUSTOMER}),
    Role.LEARNER: frozenset({ScopeKind.SELF}),
    Role.COURSE_STAFF: frozenset({ScopeKind.COURSE_RUN}),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a role applies: a kind and a key (see ScopeKind for what the key holds)."""

    kind: ScopeKind
    key: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


GLOBAL_SCOPE = Scope(ScopeKind.GLOBAL, "*")
SELF_SCOPE = Scope(ScopeKind.SELF, "*")
