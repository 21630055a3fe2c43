"""The audit log's filters, shared by its page and its API: kind, actor, target and a date range."""

import datetime

import django_filters
from django.utils import timezone

from salesmgr.api.base import IdFilter
from salesmgr.audit.models import AuditEvent, AuditKind


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class AuditEventFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AuditKind.choices)
    actor = IdFilter(field_name="actor_id", help_text="The id of the person who acted.")
    target = IdFilter(field_name="target_id", help_text="The id of the person acted on.")
    since = django_filters.DateFilter(
        method="filter_since", help_text="Events on or after this day (YYYY-MM-DD)."
    )
    until = django_filters.DateFilter(
        method="filter_until", help_text="Events on or before this day (YYYY-MM-DD)."
    )
    request_id = django_filters.CharFilter(max_length=128, help_text="One request's events.")

    class Meta:
        model = AuditEvent
        fields = []

    # The first and last days a date can name bound nothing (and their midnights may not exist).
    def filter_since(self, queryset, name, value):
        if value <= datetime.date.min + datetime.timedelta(days=1):
            return queryset
        return queryset.filter(at__gte=_day_start(value))

    def filter_until(self, queryset, name, value):
        if value >= datetime.date.max - datetime.timedelta(days=1):
            return queryset
        return queryset.filter(at__lt=_day_start(value + datetime.timedelta(days=1)))
