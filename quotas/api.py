"""Territories and quotas over REST. Everyone reads what they may see; admins write."""

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from quotas.checks import territory_delete_errors
from quotas.models import HandoverRule, Quota, QuotaPeriod, Territory
from quotas.selectors import quotas_visible_to, territories_visible_to
from quotas.services import (
    quota_delete,
    quota_set,
    territory_create,
    territory_delete,
    territory_update,
)
from salesmgr.api.base import IdFilter, ScopedViewSet, VisiblePrimaryKeyRelatedField
from salesmgr.models import User
from salesmgr.selectors import users_visible_to


class TerritorySerializer(serializers.ModelSerializer):
    parent = VisiblePrimaryKeyRelatedField(
        selector=territories_visible_to, required=False, allow_null=True
    )
    parent_name = serializers.CharField(source="parent.name", read_only=True, allow_null=True)
    reps = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, many=True, required=False, help_text="Members: reps only."
    )
    owner = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, required=False, allow_null=True, help_text="A manager."
    )
    named_rep = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, required=False, allow_null=True
    )
    handover_rule = serializers.ChoiceField(choices=HandoverRule.choices, required=False)

    class Meta:
        model = Territory
        fields = [
            "id",
            "name",
            "parent",
            "parent_name",
            "region",
            "owner",
            "reps",
            "handover_rule",
            "named_rep",
        ]


class TerritoryFilter(django_filters.FilterSet):
    parent = IdFilter(field_name="parent_id")


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class TerritoryViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Territories (a tree through ``parent``) and the reps assigned to each."""

    selector = territories_visible_to
    serializer_class = TerritorySerializer
    filterset_class = TerritoryFilter
    search_fields = ["name", "region"]
    ordering_fields = ["name", "id"]
    ordering = ["name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def shape(self, queryset):
        return queryset.select_related("parent").prefetch_related(
            Prefetch("reps", queryset=User.objects.only("pk"))
        )

    def perform_create(self, serializer):
        serializer.instance = territory_create(**serializer.validated_data, by=self.request.user)

    def perform_update(self, serializer):
        serializer.instance = territory_update(
            territory=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        errors = territory_delete_errors(territory=instance)
        if errors:
            raise serializers.ValidationError(errors)
        territory_delete(territory=instance, by=self.request.user)


class QuotaSerializer(serializers.ModelSerializer):
    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    target = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    period = serializers.ChoiceField(choices=QuotaPeriod.choices, default=QuotaPeriod.MONTH)

    class Meta:
        model = Quota
        fields = ["id", "owner", "owner_name", "period", "period_start", "period_end", "target"]
        validators = []  # quota_set refuses overlaps and backwards periods with a clear message


class QuotaFilter(django_filters.FilterSet):
    owner = IdFilter(field_name="owner_id")

    class Meta:
        model = Quota
        fields = {"period": ["exact"], "period_start": ["gte", "lte"]}


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class QuotaViewSet(viewsets.ModelViewSet, ScopedViewSet):
    """Targets per person and period; a person's periods never overlap."""

    selector = quotas_visible_to
    serializer_class = QuotaSerializer
    filterset_class = QuotaFilter
    ordering_fields = ["period_start", "target", "id"]
    ordering = ["owner_id", "period_start"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"

    def shape(self, queryset):
        return queryset.select_related("owner")

    def perform_create(self, serializer):
        serializer.instance = quota_set(**serializer.validated_data)

    def perform_update(self, serializer):
        quota = serializer.instance
        data = {
            field: serializer.validated_data.get(field, getattr(quota, field))
            for field in ("owner", "period", "period_start", "period_end", "target")
        }
        serializer.instance = quota_set(quota=quota, **data)

    def perform_destroy(self, instance):
        quota_delete(quota=instance, by=self.request.user)
