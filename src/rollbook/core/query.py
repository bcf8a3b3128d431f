"""Reading query parameters the same way on every endpoint."""

from rest_framework.exceptions import ValidationError

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def query_flag(request, name: str) -> bool:
    """A boolean query parameter (true/false, 1/0, yes/no, on/off); absent is false; anything else is a 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError({name: [f"{raw!r} is not a boolean; use true or false."]})
