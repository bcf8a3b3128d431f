"""Errors every app raises for bad input, and the REST exception handler that maps them.

Apps raise these from ``api.py``; the REST layer turns them into 400/404/409 answers with
field errors, so bad input never becomes a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class RollbookError(Exception):
    """Base of the errors ``api.py`` functions raise on purpose."""


class InvalidInput(RollbookError, ValueError):
    """The caller's input is wrong. ``errors`` maps a field name (or ``non_field_errors``) to messages."""

    def __init__(self, errors: dict[str, list[str]] | str):
        if isinstance(errors, str):
            errors = {"non_field_errors": [errors]}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


class NotFound(RollbookError, LookupError):
    """A named object does not exist (or is not visible to the caller)."""


class Conflict(RollbookError):
    """The request is well-formed but conflicts with the current state (e.g. deleting a referenced row)."""


def django_validation_messages(exc: DjangoValidationError) -> dict[str, list[str]]:
    """Flatten a Django ValidationError into ``{field: [messages]}``."""
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [str(m) for e in errors for m in e.messages]
            for field, errors in exc.error_dict.items()
        }
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: maps Rollbook and Django errors onto 400/403/404/409."""
    if isinstance(exc, InvalidInput):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(django_validation_messages(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (NotFound, ObjectDoesNotExist)):
        exc = Http404(str(exc) or "Not found.")
    if isinstance(exc, (Conflict, ProtectedError, RestrictedError)):
        detail = str(exc.args[0]) if exc.args else "The object is still referenced."
        return Response({"detail": detail}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied(str(exc) or None)
    return drf_exception_handler(exc, context)
