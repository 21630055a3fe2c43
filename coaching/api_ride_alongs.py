"""Ride-alongs over REST: client visits a manager joined, each with its scorecard, and a rep's skills history.

Thin: validate, call a service or a selector, render. Every record comes from
``ride_alongs_visible_to``; ids in input must name what the user may see.
"""

from collections.abc import Mapping

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from coaching.models import RideAlong, SkillScore
from coaching.ride_along_checks import NOTE_MAX, OBSERVATIONS_MAX, ScoreLine
from coaching.ride_alongs import (
    ride_alongs_listed,
    ride_alongs_visible_to,
    skills_history,
    skills_subjects_visible_to,
)
from coaching.services import ride_along_delete, ride_along_record, ride_along_update
from coaching.skills import SCORE_MAX, SCORE_MIN, Skill
from pipeline.selectors import accounts_visible_to, activities_visible_to, deals_visible_to
from salesmgr.api.base import (
    EVERYONE,
    MANAGERS,
    IdempotentCreateMixin,
    IdFilter,
    ScopedViewSet,
    VisiblePrimaryKeyRelatedField,
)
from salesmgr.api.fields import DateField
from salesmgr.selectors import users_visible_to

MAX_ID = 2**63 - 1


class SkillScoreSerializer(serializers.ModelSerializer):
    skill = serializers.ChoiceField(choices=Skill.choices)
    score = serializers.IntegerField(min_value=SCORE_MIN, max_value=SCORE_MAX)
    note = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False, default="")
    skill_label = serializers.CharField(source="get_skill_display", read_only=True)

    class Meta:
        model = SkillScore
        fields = ["skill", "skill_label", "score", "note"]
        validators = []  # the service refuses a skill scored twice, naming it


class RideAlongSerializer(serializers.ModelSerializer):
    rep = VisiblePrimaryKeyRelatedField(selector=users_visible_to)
    manager = VisiblePrimaryKeyRelatedField(
        selector=users_visible_to,
        required=False,
        help_text="Who joined the visit. Default: you, if you are a manager; else the rep's manager.",
    )
    rep_name = serializers.CharField(source="rep.display_name", read_only=True)
    manager_name = serializers.CharField(source="manager.display_name", read_only=True)
    account = VisiblePrimaryKeyRelatedField(selector=accounts_visible_to)
    account_name = serializers.CharField(source="account.name", read_only=True, allow_null=True)
    deal = VisiblePrimaryKeyRelatedField(selector=deals_visible_to, required=False, allow_null=True)
    deal_name = serializers.CharField(source="deal.name", read_only=True, allow_null=True)
    activity = VisiblePrimaryKeyRelatedField(
        selector=activities_visible_to,
        required=False,
        allow_null=True,
        help_text="The rep's client visit on this account (and deal) that day. Leave it out to log the visit.",
    )
    observations = serializers.CharField(
        max_length=OBSERVATIONS_MAX, allow_blank=True, required=False, default=""
    )
    scores = SkillScoreSerializer(
        many=True, required=False, help_text="At most one line per skill; a patch replaces all."
    )
    average_score = serializers.SerializerMethodField()

    class Meta:
        model = RideAlong
        fields = [
            "id",
            "manager",
            "manager_name",
            "rep",
            "rep_name",
            "visited_on",
            "account",
            "account_name",
            "deal",
            "deal_name",
            "activity",
            "observations",
            "scores",
            "average_score",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def to_representation(self, instance):
        """The deal and account only when the reader may see them (``ride_alongs_visible_to``)."""
        data = super().to_representation(instance)
        if instance.shown_deal is None:
            data["deal"] = data["deal_name"] = None
        if instance.shown_account is None:
            data["account"] = data["account_name"] = None
        return data

    def get_average_score(self, ride_along) -> float | None:
        average = getattr(ride_along, "average_score", None)
        return None if average is None else round(float(average), 2)

    def validate(self, attrs):
        if self.instance is not None:
            fixed = [name for name in ("rep", "manager") if name in attrs]
            if fixed:
                raise serializers.ValidationError(
                    {name: ["The people of a ride-along stay; record another."] for name in fixed}
                )
        if "scores" in attrs:
            attrs["scores"] = [ScoreLine(**line) for line in attrs["scores"]]
        return attrs


class RideAlongFilter(django_filters.FilterSet):
    rep = IdFilter(field_name="rep_id")
    manager = IdFilter(field_name="manager_id")
    account = IdFilter(field_name="account_id")
    deal = IdFilter(field_name="deal_id")
    visited_from = django_filters.DateFilter(
        field_name="visited_on", lookup_expr="gte", help_text="On or after this day."
    )
    visited_to = django_filters.DateFilter(
        field_name="visited_on", lookup_expr="lte", help_text="On or before this day."
    )

    class Meta:
        model = RideAlong
        fields = []


@extend_schema_view(destroy=extend_schema(responses={204: None}))
class RideAlongViewSet(
    IdempotentCreateMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Client visits a manager joined, with a scorecard per skill: managers record their team's,
    admins anyone's; reps read their own."""

    selector = ride_alongs_visible_to
    serializer_class = RideAlongSerializer
    filterset_class = RideAlongFilter
    ordering_fields = ["visited_on", "id"]
    ordering = ["-visited_on", "-id"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = r"\d+"
    role_rules = {"read": EVERYONE, "write": MANAGERS}

    def shape(self, queryset):
        return ride_alongs_listed(queryset)

    def _fresh(self, ride_along: RideAlong) -> RideAlong:
        # Read back through the selector, so a deal outside the writer's scope stays hidden.
        visible = ride_alongs_visible_to(self.request.user)
        return ride_alongs_listed(visible.filter(pk=ride_along.pk)).get()

    def perform_create(self, serializer):
        ride_along = ride_along_record(by=self.request.user, **serializer.validated_data)
        serializer.instance = self._fresh(ride_along)

    def perform_update(self, serializer):
        ride_along = ride_along_update(
            ride_along=serializer.instance, by=self.request.user, **serializer.validated_data
        )
        serializer.instance = self._fresh(ride_along)

    def perform_destroy(self, instance):
        ride_along_delete(ride_along=instance, by=self.request.user)


class SkillsHistoryQuery(serializers.Serializer):
    rep = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Whose history (default: yourself). Managers name someone of their team, admins anyone.",
    )

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and "rep" in data and not str(data.get("rep")).strip():
            raise serializers.ValidationError(
                {"rep": ["Give a value, or leave the parameter out."]}
            )
        return super().to_internal_value(data)


class SkillPoint(serializers.Serializer):
    visited_on = DateField()
    score = serializers.IntegerField()
    note = serializers.CharField(allow_blank=True)
    ride_along = serializers.IntegerField()
    rolling_average = serializers.FloatField(
        help_text="The average of the rep's last three scores of the skill, this one included."
    )


class SkillQuarter(serializers.Serializer):
    quarter = serializers.CharField()
    start = DateField()
    rep_average = serializers.FloatField(allow_null=True)
    rep_scores = serializers.IntegerField()
    team_median = serializers.FloatField(
        allow_null=True,
        help_text="The median of every score the team's ride-alongs gave the skill.",
    )
    team_scores = serializers.IntegerField()
    team_reps = serializers.IntegerField()


class SkillSeries(serializers.Serializer):
    skill = serializers.ChoiceField(choices=Skill.choices)
    label = serializers.CharField()
    scores = SkillPoint(many=True)
    latest = serializers.IntegerField(allow_null=True)
    rolling_average = serializers.FloatField(allow_null=True)
    quarters = SkillQuarter(many=True)


class SkillsPerson(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SkillsHistory(serializers.Serializer):
    rep = SkillsPerson()
    since = DateField()
    today = DateField()
    rolling_scorecards = serializers.IntegerField()
    skills = SkillSeries(many=True)


class SkillsHistoryView(APIView):
    """A person's ride-along scores skill by skill over the last five quarters: each score with a
    rolling average, and per quarter their average against the team's median."""

    @extend_schema(
        parameters=[SkillsHistoryQuery],
        responses={
            200: SkillsHistory,
            400: OpenApiResponse(description="Bad input, named by field."),
            404: OpenApiResponse(description="Someone outside your reach (or no such person)."),
        },
    )
    def get(self, request):
        query = SkillsHistoryQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rep_id = query.validated_data.get("rep", request.user.pk)
        rep = skills_subjects_visible_to(request.user).filter(pk=rep_id).first()
        if rep is None:
            raise exceptions.NotFound({"rep": ["No such person within your reach."]})
        return Response(SkillsHistory(skills_history(rep, today=timezone.localdate())).data)
