"""Query-string filters of the pipeline's list endpoints (django-filter)."""

import datetime
from decimal import Decimal

import django_filters
from rest_framework.exceptions import ValidationError

from pipeline.models import ActivityKind, DealLineItem, ForecastCategory, StageKind
from salesmgr.api.base import IdFilter
from salesmgr.selectors import team_member_ids_subquery

# No amount reaches this (14 digits, 2 of them decimals), so a bound beyond it filters as it.
AMOUNT_LIMIT = Decimal("1e12")


class AmountFilter(django_filters.NumberFilter):
    """A bound on an amount: any number, as the schema says; one beyond every amount is clamped to the limit."""

    def get_max_validator(self):
        return None

    def filter(self, qs, value):
        if value is not None:
            value = max(min(value, AMOUNT_LIMIT), -AMOUNT_LIMIT)
        return super().filter(qs, value)


class DealFilter(django_filters.FilterSet):
    owner = IdFilter(field_name="owner_id")
    team = IdFilter(method="filter_team", label="Manager id: deals of everyone below them")
    stage = IdFilter(field_name="stage_id")
    pipeline = IdFilter(field_name="pipeline_id")
    account = IdFilter(field_name="account_id")
    territory = IdFilter(field_name="account__territory_id")
    product = IdFilter(method="filter_product", label="Deals with a line item of this product")
    forecast_category = django_filters.ChoiceFilter(choices=ForecastCategory.choices)
    status = django_filters.ChoiceFilter(choices=StageKind.choices, label="open, won or lost")
    close_after = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="gte")
    close_before = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="lte")
    amount_min = AmountFilter(field_name="amount", lookup_expr="gte")
    amount_max = AmountFilter(field_name="amount", lookup_expr="lte")
    deleted = django_filters.BooleanFilter(
        method="filter_deleted", label="Admins only: true lists soft-deleted deals instead"
    )

    def filter_team(self, queryset, name, value):
        return queryset.filter(owner_id__in=team_member_ids_subquery(int(value)))

    def filter_product(self, queryset, name, value):
        return queryset.filter(
            pk__in=DealLineItem.objects.filter(product_id=value).values("deal_id")
        )

    def filter_deleted(self, queryset, name, value):
        # The viewset already limits who sees deleted rows; this picks the side.
        return queryset.filter(deleted_at__isnull=not value)


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, turned to UTC: PostgreSQL refuses offsets beyond +/-15:59 that ISO allows."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(datetime.UTC)
            except OverflowError:
                raise ValidationError(
                    {self.field_name: ["That date and time is out of range."]}
                ) from None
        return super().filter(qs, value)


class ActivityFilter(django_filters.FilterSet):
    # Only a deal or account the caller may see selects: a deal reassigned away names none.
    deal = IdFilter(method="_shown", field_name="deal_id")
    account = IdFilter(method="_shown", field_name="account_id")
    author = IdFilter(field_name="author_id")
    kind = django_filters.ChoiceFilter(choices=ActivityKind.choices)
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    def _shown(self, queryset, name, value):
        """Activities on that deal (or account), among those whose deal (account) the caller may see."""
        if value is None:
            return queryset
        shown = "deal_shown" if name == "deal_id" else "account_shown"
        return queryset.filter(**{name: value, shown: True})
