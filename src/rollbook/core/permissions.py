"""DRF permission classes built on the role API."""

from rest_framework import permissions

from rollbook.core import api as core_api


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
