"""Celebrations over REST: quota milestones (read) and shout-outs (managers write, the team reads).

Thin: every record comes from a coaching visibility selector; a shout-out is
written by ``shout_out_create``, whose refusal names the field.
"""

import django_filters
from rest_framework import mixins, serializers

from coaching.checks import SHOUT_OUT_MAX
from coaching.models import Milestone, MilestonePeriod, ShoutOut
from coaching.selectors import milestones_visible_to, shout_outs_visible_to
from coaching.services import shout_out_create
from salesmgr.api.base import (
    EVERYONE,
    MANAGERS,
    IdempotentCreateMixin,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
)
from salesmgr.selectors import users_visible_to


class MilestoneSerializer(serializers.ModelSerializer):
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)

    class Meta:
        model = Milestone
        fields = [
            "id",
            "rep",
            "rep_name",
            "period",
            "period_start",
            "level",
            "won",
            "target",
            "reached_at",
        ]
        read_only_fields = fields


class MilestoneFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    period = django_filters.ChoiceFilter(choices=MilestonePeriod.choices)


class MilestoneViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Quota milestones: a rep's won value reached 50%, 100% or 150% of the month's or quarter's quota."""

    selector = milestones_visible_to
    serializer_class = MilestoneSerializer
    filterset_class = MilestoneFilter
    ordering_fields = ["reached_at", "period_start", "level", "id"]
    ordering = ["-reached_at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE}

    def shape(self, queryset):
        return queryset.select_related("rep")


class ShoutOutSerializer(serializers.ModelSerializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    author_name = serializers.CharField(
        source="author.display_name", read_only=True, allow_null=True, default=None
    )
    message = serializers.CharField(max_length=SHOUT_OUT_MAX)

    class Meta:
        model = ShoutOut
        fields = ["id", "rep", "rep_name", "author", "author_name", "message", "created_at"]
        read_only_fields = ["author", "created_at"]


class ShoutOutFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")


class ShoutOutViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Shout-outs: a manager praises someone in their team; the team reads them."""

    selector = shout_outs_visible_to
    serializer_class = ShoutOutSerializer
    filterset_class = ShoutOutFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": MANAGERS}

    def shape(self, queryset):
        return queryset.select_related("rep", "author")

    def perform_create(self, serializer):
        serializer.instance = shout_out_create(by=self.request.user, **serializer.validated_data)
