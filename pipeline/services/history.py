"""The first entry of a record's change history, for rows written without one."""

from django.db import models
from django.utils import timezone


def history_base_ensure(instance: models.Model) -> None:
    """Record a row's stored values as its "created" history entry when it has no history yet.

    Bulk loads (the importer, the demo data) write rows without history; a
    change read against nothing would lose the value it replaced.
    """
    model = type(instance)
    if model.history.filter(id=instance.pk).exists():
        return
    stored = model._base_manager.get(pk=instance.pk)
    values = {
        field.attname: getattr(stored, field.attname) for field in model._meta.concrete_fields
    }
    model.history.model.objects.create(
        **values,
        history_date=getattr(stored, "created_at", None) or timezone.now(),
        history_type="+",
        history_user=None,
    )
