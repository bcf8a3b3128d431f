"""Finding one row by the uuid a caller gave."""

from django.db.models import Model, QuerySet

from rollbook.core.errors import NotFound
from rollbook.core.normalise import parse_uuid


def one_by_uuid(queryset: QuerySet, value: object, what: str) -> Model:
    """The row of ``queryset`` whose ``uuid`` is ``value``; NotFound("No <what> has the uuid …") when there is
    none, a malformed uuid included."""
    wanted = parse_uuid(value)
    found = None if wanted is None else queryset.filter(uuid=wanted).first()
    if found is None:
        raise NotFound(f"No {what} has the uuid {value}.")
    return found
