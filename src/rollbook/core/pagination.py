"""Pagination with a page size the caller may choose, up to a configured maximum: cursor pagination
(Rollbook's own lists) and page-number pagination (``count/next/previous/results``, the shape of the
Open edX APIs whose clients we serve)."""

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class _CallerChosenPageSize:
    """``page_size`` from the query, ROLLBOOK_API_PAGE_SIZE by default; a non-integer, non-positive or
    oversized value is a 400 with a field error rather than being silently clamped."""

    page_size_query_param = "page_size"

    def __init__(self) -> None:
        # read per instance so that settings overrides (and tests) take effect
        self.page_size = settings.API_PAGE_SIZE
        self.max_page_size = settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": [f"{raw!r} is not a whole number."]}) from None
        if size < 1 or size > self.max_page_size:
            raise ValidationError({"page_size": [f"Must be between 1 and {self.max_page_size}."]})
        return size


class CursorPagination(_CallerChosenPageSize, pagination.CursorPagination):
    """Cursor pagination ordered newest first (``-created``, then ``-id``) (views may override ``ordering``)."""

    ordering = ("-created", "-id")

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except Exception as exc:  # DRF raises NotFound("Invalid cursor"); keep it a 400 field error
            raise ValidationError({"cursor": ["Invalid cursor."]}) from exc


class PageNumberPagination(_CallerChosenPageSize, pagination.PageNumberPagination):
    """Page-number pagination: ``{count, next, previous, results}`` and ``?page=N``."""
