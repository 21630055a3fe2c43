"""Coaching sessions over REST: the GROW notes, the evidence, the figures before and after, commitments.

Thin: validate, call a service or a selector, render. Every session comes from
``sessions_visible_to``; a session outside it is a 404.
"""

import django_filters
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from coaching.models import ActionItem, CoachingSession, SessionFocus, SessionStatus
from coaching.services import (
    session_commitment_add,
    session_create,
    session_record,
    session_update,
)
from coaching.sessions import (
    session_before_after,
    session_commitments,
    sessions_visible_to,
    with_open_commitments,
)
from coaching.skills import Skill
from pipeline.selectors import deals_visible_to, stages_visible_to
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

GROW_HELP = {
    "goal": "Goal: what the rep wants to be able to do.",
    "reality": "Reality: where things stand, with the evidence.",
    "options": "Options: the ways to get there.",
    "will": "Will: what the rep will do; the commitments are action items.",
}


def _grow_field(name: str) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text=GROW_HELP[name]
    )


class CommitmentSerializer(serializers.ModelSerializer):
    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    text = serializers.CharField(max_length=500)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "coaching_session",
            "owner",
            "owner_name",
            "text",
            "due_on",
            "status",
            "created_at",
            "completed_at",
        ]
        read_only_fields = ["coaching_session", "status", "created_at", "completed_at"]


@extend_schema_field(
    {
        "type": "object",
        "description": "The rep's figures on the focus before the session and since; "
        "`enough` is false while a side has too few deals or scorecards to compare.",
        "properties": {
            "kind": {"type": "string", "enum": ["stage", "skill", "deal"]},
            "before": {"type": "object", "nullable": True},
            "after": {"type": "object", "nullable": True},
            "enough": {"type": "boolean"},
            "min_count": {"type": "integer"},
        },
    }
)
class BeforeAfterField(serializers.ReadOnlyField):
    pass


class SessionSerializer(serializers.ModelSerializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    manager = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to,
        required=False,
        help_text="Default: you, if you are a manager; else the rep's manager.",
    )
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    focus = serializers.ChoiceField(choices=SessionFocus.choices)
    skill = serializers.ChoiceField(
        choices=Skill.choices, required=False, allow_blank=True, help_text="With focus=skill."
    )
    stage = VisiblePrimaryKeyRelatedField(
        selector=stages_visible_to, required=False, allow_null=True, help_text="With focus=stage."
    )
    deal = VisiblePrimaryKeyRelatedField(
        selector=deals_visible_to, required=False, allow_null=True, help_text="With focus=deal."
    )
    follow_up_on = DateField(required=False, allow_null=True)
    goal = _grow_field("goal")
    reality = _grow_field("reality")
    options = _grow_field("options")
    will = _grow_field("will")
    commitments_open = serializers.IntegerField(read_only=True, default=0)
    commitments_total = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = CoachingSession
        fields = [
            "id",
            "manager",
            "manager_name",
            "rep",
            "rep_name",
            "scheduled_on",
            "status",
            "focus",
            "skill",
            "stage",
            "deal",
            "goal",
            "reality",
            "options",
            "will",
            "follow_up_on",
            "commitments_open",
            "commitments_total",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "created_at", "updated_at"]

    def to_representation(self, instance):
        """The focus deal only when the reader may see it (``sessions_visible_to``)."""
        data = super().to_representation(instance)
        if instance.deal_id and instance.shown_deal is None:
            data["deal"] = None
        return data


class SessionUpdateSerializer(SessionSerializer):
    """The fields a manager may change; everything optional."""

    focus = serializers.ChoiceField(choices=SessionFocus.choices, required=False)
    scheduled_on = DateField(required=False)

    class Meta(SessionSerializer.Meta):
        read_only_fields = ["manager", "rep", "status", "created_at", "updated_at"]


class SessionDetailSerializer(SessionSerializer):
    evidence = serializers.JSONField(
        read_only=True,
        help_text="The insight figures behind the focus when the session was planned.",
    )
    before_after = BeforeAfterField(source="figures")
    commitments = CommitmentSerializer(source="commitment_list", many=True, read_only=True)

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "evidence", "before_after", "commitments"]
        read_only_fields = fields


class RecordSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SessionStatus.choices)


class SessionFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    manager = IdFilter(field_name="manager_id")
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)
    focus = django_filters.ChoiceFilter(choices=SessionFocus.choices)


class SessionViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Coaching sessions: managers run their team's, admins anyone's; reps read their own."""

    selector = sessions_visible_to
    filterset_class = SessionFilter
    ordering_fields = ["scheduled_on", "follow_up_on", "id"]
    ordering = ["-scheduled_on", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {
        "read": EVERYONE,
        "create": MANAGERS,
        "partial_update": MANAGERS,
        "record": MANAGERS,
        "commitments": MANAGERS,
    }

    def get_serializer_class(self):
        if self.action == "retrieve":
            return SessionDetailSerializer
        if self.action == "partial_update":
            return SessionUpdateSerializer
        return SessionSerializer

    def shape(self, queryset):
        return with_open_commitments(queryset.select_related("manager", "rep", "deal__stage"))

    def _detail(self, session) -> dict:
        session.figures = session_before_after(session, timezone.localdate())
        session.commitment_list = session_commitments(session)
        return SessionDetailSerializer(session, context=self.get_serializer_context()).data

    def retrieve(self, request, *args, **kwargs):
        return Response(self._detail(self.get_object()))

    def perform_create(self, serializer):
        serializer.instance = session_create(by=self.request.user, **serializer.validated_data)

    @extend_schema(request=SessionUpdateSerializer, responses=SessionDetailSerializer)
    def partial_update(self, request, pk=None):
        session = self.get_object()
        payload = self.get_serializer(session, data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        session = session_update(session=session, by=request.user, **payload.validated_data)
        return Response(self._detail(self.get_object()))

    @extend_schema(
        request=RecordSerializer,
        responses=SessionSerializer,
        summary="Record a session as held or cancelled (or planned again)",
    )
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        payload = RecordSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        session_record(session=self.get_object(), by=request.user, **payload.validated_data)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        request=CommitmentSerializer,
        responses={201: CommitmentSerializer},
        summary="Add a commitment (an action item) to the session's Will",
    )
    @action(detail=True, methods=["post"])
    def commitments(self, request, pk=None):
        session = self.get_object()
        payload = CommitmentSerializer(data=request.data, context=self.get_serializer_context())
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        item = session_commitment_add(session=session, by=request.user, **payload.validated_data)
        return Response(CommitmentSerializer(item).data, status=status.HTTP_201_CREATED)
