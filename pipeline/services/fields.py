"""What the reference-data services share: setting named fields and raising a check's errors."""

from django.core.exceptions import ValidationError
from django.db import models


def set_fields(row: models.Model, changes: dict, allowed: tuple[str, ...]) -> None:
    """Set ``changes`` on ``row``; a field outside ``allowed`` is a programming error."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")
    for field, value in changes.items():
        setattr(row, field, value)


def refuse(errors: dict[str, str]) -> None:
    """Raise the errors a check found, if any."""
    if errors:
        raise ValidationError(errors)
