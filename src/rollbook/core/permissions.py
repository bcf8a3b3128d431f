"""DRF permission classes built on the role API."""

from rest_framework import permissions

from rollbook.core import api as core_api
from rollbook.core.data import Role


class IsOperator(permissions.BasePermission):
    """Only operators (platform staff) may call."""

    message = "Only operators may do this."

    def has_permission(self, request, view) -> bool:
        return core_api.is_operator(request.user)


class OperatorWritesAuthenticatedReads(permissions.BasePermission):
    """Any authenticated caller may read; only operators may write."""

    message = "Only operators may change this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return core_api.is_operator(request.user)


def operator_or_role(*roles: Role | str) -> type[permissions.BasePermission]:
    """A permission class admitting operators and holders of any of ``roles`` (in any scope).

    It only opens the door: views must still narrow their querysets to the caller's scopes
    (``core_api.restrict_to_scopes``) and check the scope of each write.
    """
    wanted = tuple(core_api.parse_role(role) for role in roles)
    names = ", ".join(role.value for role in wanted) or "nobody else"

    class IsOperatorOrHasRole(permissions.BasePermission):
        message = f"Only operators and holders of these roles may do this: {names}."

        def has_permission(self, request, view) -> bool:
            user = request.user
            return core_api.is_operator(user) or any(core_api.has_role(user, role) for role in wanted)

    IsOperatorOrHasRole.__name__ = IsOperatorOrHasRole.__qualname__ = "IsOperatorOr" + "".join(
        role.value.title().replace("_", "") for role in wanted
    )
    return IsOperatorOrHasRole
