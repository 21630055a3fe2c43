"""Team meetings over REST: list, one meeting with its agenda and items, schedule, minutes and status, items.

Thin: validate, call a service or a selector, render. Every meeting comes from
``team_meetings_visible_to``; one outside it is a 404.
"""

import django_filters
from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from coaching.api import ActionItemSerializer
from coaching.models import TeamMeeting, TeamMeetingStatus
from coaching.services import (
    team_action_item_add,
    team_meeting_minutes_save,
    team_meeting_record,
    team_meeting_schedule,
)
from coaching.services.team_meetings import MINUTES_MAX
from coaching.team_meetings import (
    team_meeting_action_items,
    team_meeting_agenda_for,
    team_meetings_visible_to,
)
from salesmgr.api.base import (
    EVERYONE,
    MANAGERS,
    IdempotentCreateMixin,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
    require_json_types,
)
from salesmgr.api.fields import DateField
from salesmgr.selectors import users_visible_to


class TeamMeetingSerializer(serializers.ModelSerializer):
    manager = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to,
        required=False,
        help_text="Whose team meets. Default: you (a manager); admins name the manager.",
    )
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    status = serializers.ChoiceField(choices=TeamMeetingStatus.choices, read_only=True)

    class Meta:
        model = TeamMeeting
        fields = [
            "id",
            "manager",
            "manager_name",
            "scheduled_at",
            "status",
            "minutes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "minutes", "created_at", "updated_at"]
        validators = []  # team_meeting_schedule refuses a second meeting at one time with a clear message


class TeamMeetingDetailSerializer(TeamMeetingSerializer):
    agenda = serializers.SerializerMethodField()
    action_items = serializers.SerializerMethodField()

    class Meta(TeamMeetingSerializer.Meta):
        fields = [*TeamMeetingSerializer.Meta.fields, "agenda", "action_items"]
        read_only_fields = fields

    def get_agenda(self, meeting) -> dict:
        return team_meeting_agenda_for(self.context["request"].user, meeting)

    @extend_schema_field(ActionItemSerializer(many=True))
    def get_action_items(self, meeting) -> list[dict]:
        return ActionItemSerializer(
            team_meeting_action_items(meeting), many=True, context=self.context
        ).data


class TeamMeetingChangeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TeamMeetingStatus.choices, required=False)
    minutes = serializers.CharField(
        allow_blank=True, required=False, trim_whitespace=False, max_length=MINUTES_MAX
    )


class TeamActionItemSerializer(serializers.Serializer):
    owner = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to, help_text="The team's manager or someone in the team."
    )
    text = serializers.CharField(max_length=500)
    due_on = DateField()


class TeamMeetingFilter(django_filters.FilterSet):
    manager = IdFilter(field_name="manager_id")
    scheduled_from = django_filters.DateFilter(
        field_name="scheduled_at", lookup_expr="date__gte", help_text="On or after this day."
    )
    scheduled_to = django_filters.DateFilter(
        field_name="scheduled_at", lookup_expr="date__lte", help_text="On or before this day."
    )

    class Meta:
        model = TeamMeeting
        fields = ["status"]


class TeamMeetingViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """A manager's weekly team meetings: the manager runs them, the team reads them; one answers with its agenda as of its time."""

    selector = team_meetings_visible_to
    filterset_class = TeamMeetingFilter
    ordering_fields = ["scheduled_at", "id"]
    ordering = ["-scheduled_at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {
        "read": EVERYONE,
        "create": MANAGERS,
        "partial_update": MANAGERS,
        "action_items": MANAGERS,
    }

    def get_serializer_class(self):
        return TeamMeetingDetailSerializer if self.action == "retrieve" else TeamMeetingSerializer

    def shape(self, queryset):
        return queryset.select_related("manager")

    def perform_create(self, serializer):
        serializer.instance = team_meeting_schedule(
            by=self.request.user, **serializer.validated_data
        )

    @extend_schema(
        request=TeamMeetingChangeSerializer,
        responses=TeamMeetingSerializer,
        summary="Record a team meeting held, cancelled or scheduled, and/or save its minutes",
    )
    def partial_update(self, request, pk=None):
        meeting = self.get_object()
        payload = TeamMeetingChangeSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if not data:
            raise serializers.ValidationError(
                {"non_field_errors": ["Give the status, the minutes or both."]}
            )
        with transaction.atomic():
            if "minutes" in data:
                meeting = team_meeting_minutes_save(
                    meeting=meeting, by=request.user, minutes=data["minutes"]
                )
            if "status" in data:
                meeting = team_meeting_record(
                    meeting=meeting, by=request.user, status=data["status"]
                )
        return Response(TeamMeetingSerializer(meeting, context=self.get_serializer_context()).data)

    @extend_schema(
        request=TeamActionItemSerializer,
        responses={status.HTTP_201_CREATED: ActionItemSerializer},
        summary="Agree an action item at a team meeting",
    )
    @action(detail=True, methods=["post"], url_path="action-items")
    def action_items(self, request, pk=None):
        meeting = self.get_object()

        def produce():
            payload = TeamActionItemSerializer(
                data=request.data, context=self.get_serializer_context()
            )
            require_json_types(payload)
            payload.is_valid(raise_exception=True)
            item = team_action_item_add(meeting=meeting, by=request.user, **payload.validated_data)
            return Response(
                ActionItemSerializer(item, context=self.get_serializer_context()).data,
                status=status.HTTP_201_CREATED,
            )

        return self.run_idempotent(request, produce)
