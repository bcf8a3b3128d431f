"""Role assignments: who holds which role, and where."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from rollbook.core.data import ROLE_SCOPE_KINDS, Role, ScopeKind


def _role_scope_pairs_q() -> models.Q:
    allowed = models.Q()
    for role, kinds in ROLE_SCOPE_KINDS.items():
        allowed |= models.Q(role=role.value, scope_kind__in=sorted(kind.value for kind in kinds))
    return allowed


class RoleAssignment(models.Model):
    """A user holds ``role`` within ``scope_kind:scope_key``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=32, choices=[(r.value, r.value) for r in Role])
    scope_kind = models.CharField(max_length=32, choices=[(k.value, k.value) for k in ScopeKind])
    scope_key = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role", "scope_kind", "scope_key"], name="unique_role_assignment"),
            models.CheckConstraint(condition=_role_scope_pairs_q(), name="role_assignment_scope_kind_fits_role"),
            models.CheckConstraint(condition=~models.Q(scope_key=""), name="role_assignment_scope_key_not_empty"),
        ]
        indexes = [models.Index(fields=["role", "scope_kind", "scope_key"])]

    def __str__(self) -> str:
        return f"{self.user} {self.role} @ {self.scope_kind}:{self.scope_key}"
