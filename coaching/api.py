"""One-on-ones over REST: series, meetings (with their agenda), notes, talking points and action items.

Thin: validate, call a service or a selector, render. Every record comes from
a coaching visibility selector; the private note is answered only by
``notes`` to those who run the meeting, through ``private_note_text``.
"""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from coaching.models import (
    ActionItem,
    ActionItemStatus,
    Cadence,
    MeetingStatus,
    OneOnOne,
    OneOnOneSeries,
    TalkingPoint,
    Weekday,
)
from coaching.selectors import (
    action_items_visible_to,
    meeting_agenda,
    meetings_visible_to,
    private_note_text,
    series_visible_to,
    talking_points_visible_to,
)
from coaching.services import (
    action_item_add,
    action_item_complete,
    meeting_notes_save,
    meeting_record,
    series_schedule,
    series_stop,
    talking_point_add,
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
from salesmgr.selectors import users_visible_to


@extend_schema_field(
    {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "10:00"}
)
class TimeOfDayField(serializers.TimeField):
    """A local time of day as HH:MM: no zone, no seconds (a meeting is at the organisation's local time)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class SeriesSerializer(serializers.ModelSerializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    manager = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to,
        required=False,
        help_text="Default: you, if you are a manager; else the rep's manager.",
    )
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    cadence = serializers.ChoiceField(choices=Cadence.choices)
    weekday = serializers.ChoiceField(choices=Weekday.choices, help_text="0 is Monday.")
    time = TimeOfDayField(help_text="Local time of day, HH:MM.")

    class Meta:
        model = OneOnOneSeries
        fields = [
            "id",
            "manager",
            "manager_name",
            "rep",
            "rep_name",
            "cadence",
            "weekday",
            "time",
            "starts_on",
            "active",
            "created_at",
        ]
        read_only_fields = ["active", "created_at"]
        validators = []  # series_schedule refuses a second active series with a clear message


class SeriesFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    manager = IdFilter(field_name="manager_id")

    class Meta:
        model = OneOnOneSeries
        fields = ["active"]


class SeriesViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Recurring one-on-ones: managers schedule theirs, admins anyone's; reps read their own."""

    selector = series_visible_to
    serializer_class = SeriesSerializer
    filterset_class = SeriesFilter
    ordering_fields = ["starts_on", "id"]
    ordering = ["id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": MANAGERS, "stop": MANAGERS}

    def shape(self, queryset):
        return queryset.select_related("manager", "rep")

    def perform_create(self, serializer):
        serializer.instance = series_schedule(by=self.request.user, **serializer.validated_data)

    @extend_schema(request=None, responses=SeriesSerializer, summary="Stop a series")
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        series = series_stop(series=self.get_object(), by=request.user)
        return Response(self.get_serializer(series).data)


class MeetingSerializer(serializers.ModelSerializer):
    manager = serializers.IntegerField(source="series.manager_id", read_only=True)
    rep = serializers.IntegerField(source="series.rep_id", read_only=True)
    rep_name = serializers.CharField(source="series.rep.display_name", read_only=True)
    manager_name = serializers.CharField(source="series.manager.display_name", read_only=True)

    class Meta:
        model = OneOnOne
        fields = [
            "id",
            "series",
            "manager",
            "manager_name",
            "rep",
            "rep_name",
            "scheduled_at",
            "status",
            "shared_notes",
            "updated_at",
        ]
        read_only_fields = fields


class MeetingDetailSerializer(MeetingSerializer):
    agenda = serializers.SerializerMethodField()

    class Meta(MeetingSerializer.Meta):
        fields = [*MeetingSerializer.Meta.fields, "agenda"]
        read_only_fields = fields

    def get_agenda(self, meeting) -> dict:
        return meeting_agenda(meeting)


@extend_schema_serializer(component_name="MeetingRecord")
class RecordSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=MeetingStatus.choices)


class SharedNotesSerializer(serializers.Serializer):
    shared_notes = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)


class ManagerNotesSerializer(SharedNotesSerializer):
    private_notes = serializers.CharField(
        allow_blank=True,
        required=False,
        trim_whitespace=False,
        help_text="Only the rep's managers and admins ever read or write it.",
    )


class MeetingFilter(django_filters.FilterSet):
    series = IdFilter(field_name="series_id")
    rep = IdFilter(field_name="series__rep_id")
    scheduled_from = django_filters.DateFilter(
        field_name="scheduled_at", lookup_expr="date__gte", help_text="On or after this day."
    )
    scheduled_to = django_filters.DateFilter(
        field_name="scheduled_at", lookup_expr="date__lte", help_text="On or before this day."
    )

    class Meta:
        model = OneOnOne
        fields = ["status"]


class MeetingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Meetings of the series you see; one meeting answers with its agenda as of its time."""

    selector = meetings_visible_to
    filterset_class = MeetingFilter
    ordering_fields = ["scheduled_at", "id"]
    ordering = ["-scheduled_at", "-id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "record": MANAGERS, "notes": EVERYONE, "notes_save": MANAGERS}

    def get_serializer_class(self):
        return MeetingDetailSerializer if self.action == "retrieve" else MeetingSerializer

    def shape(self, queryset):
        return queryset.select_related("series", "series__manager", "series__rep")

    @extend_schema(
        request=RecordSerializer,
        responses=MeetingSerializer,
        summary="Record a meeting as held, missed or cancelled",
    )
    @action(detail=True, methods=["post"])
    def record(self, request, pk=None):
        payload = RecordSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        meeting = meeting_record(
            meeting=self.get_object(), by=request.user, **payload.validated_data
        )
        return Response(MeetingSerializer(meeting).data)

    def _notes(self, meeting):
        private = private_note_text(self.request.user, meeting)
        if private is None:
            return SharedNotesSerializer({"shared_notes": meeting.shared_notes}).data
        return ManagerNotesSerializer(
            {"shared_notes": meeting.shared_notes, "private_notes": private}
        ).data

    @extend_schema(
        responses=ManagerNotesSerializer,
        summary="A meeting's notes: the shared part; the private part too for its managers",
    )
    @action(detail=True, methods=["get"])
    def notes(self, request, pk=None):
        return Response(self._notes(self.get_object()))

    @extend_schema(
        request=ManagerNotesSerializer,
        responses=ManagerNotesSerializer,
        summary="Save a meeting's notes",
    )
    @notes.mapping.patch
    def notes_save(self, request, pk=None):
        payload = ManagerNotesSerializer(data=request.data)
        require_json_types(payload)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        meeting = meeting_notes_save(
            meeting=self.get_object(),
            by=request.user,
            shared=data.get("shared_notes"),
            private=data.get("private_notes"),
        )
        return Response(self._notes(meeting))


class TalkingPointSerializer(serializers.ModelSerializer):
    meeting = VisiblePrimaryKeyRelatedField(selector=meetings_visible_to)
    author_name = serializers.CharField(source="author.display_name", read_only=True)
    text = serializers.CharField(max_length=500)

    class Meta:
        model = TalkingPoint
        fields = ["id", "meeting", "author", "author_name", "text", "created_at"]
        read_only_fields = ["author", "created_at"]


class TalkingPointFilter(django_filters.FilterSet):
    meeting = IdFilter(field_name="meeting_id")


class TalkingPointViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """What the rep and the manager want to raise; both add them."""

    selector = talking_points_visible_to
    serializer_class = TalkingPointSerializer
    filterset_class = TalkingPointFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["meeting_id", "created_at", "id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": EVERYONE}

    def shape(self, queryset):
        return queryset.select_related("author")

    def perform_create(self, serializer):
        serializer.instance = talking_point_add(by=self.request.user, **serializer.validated_data)


class ActionItemSerializer(serializers.ModelSerializer):
    meeting = VisiblePrimaryKeyRelatedField(
        selector=meetings_visible_to,
        allow_null=True,
        help_text="The one-on-one it was agreed at; null for items of other meetings (see team_meeting and coaching_session).",
    )
    team_meeting = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The team meeting it was agreed at, if any."
    )
    coaching_session = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="The coaching session it was committed to at, if any."
    )
    owner = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    owner_name = serializers.CharField(source="owner.display_name", read_only=True)
    text = serializers.CharField(max_length=500)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "meeting",
            "team_meeting",
            "coaching_session",
            "owner",
            "owner_name",
            "text",
            "due_on",
            "status",
            "created_by",
            "created_at",
            "completed_at",
        ]
        read_only_fields = ["status", "created_by", "created_at", "completed_at"]

    def validate_meeting(self, meeting):
        if meeting is None:
            raise serializers.ValidationError(
                "Choose the one-on-one; items of a team meeting or a coaching session are added there."
            )
        return meeting


class ActionItemFilter(django_filters.FilterSet):
    meeting = IdFilter(field_name="meeting_id")
    team_meeting = IdFilter(field_name="team_meeting_id")
    coaching_session = IdFilter(field_name="coaching_session_id")
    owner = IdFilter(field_name="owner_id")
    series = IdFilter(field_name="meeting__series_id")
    status = django_filters.ChoiceFilter(choices=ActionItemStatus.choices)
    due_before = django_filters.DateFilter(field_name="due_on", lookup_expr="lte")


class ActionItemViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    ScopedViewSet,
):
    """Commitments from one-on-ones: managers add them; the owner (or a manager) completes them."""

    selector = action_items_visible_to
    serializer_class = ActionItemSerializer
    filterset_class = ActionItemFilter
    ordering_fields = ["due_on", "created_at", "id"]
    ordering = ["due_on", "id"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "create": MANAGERS, "complete": EVERYONE}

    def shape(self, queryset):
        return queryset.select_related("owner")

    def perform_create(self, serializer):
        serializer.instance = action_item_add(by=self.request.user, **serializer.validated_data)

    @extend_schema(request=None, responses=ActionItemSerializer, summary="Mark an action item done")
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        item = action_item_complete(item=self.get_object(), by=request.user)
        return Response(self.get_serializer(item).data)
