"""Insights over REST: ``insights/?rep=<id>&period=...``, a rep against their team."""

from collections.abc import Mapping

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from coaching.insights import insight_reps_visible_to, insights
from pipeline.periods import CUSTOM, PRESETS, Period
from salesmgr.api.fields import DateField

MAX_ID = 2**63 - 1
MAX_DAYS = 3660
MONEY = {"max_digits": 16, "decimal_places": 2}


class InsightsQuery(serializers.Serializer):
    rep = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="The rep (default: yourself, if you are one). Managers name a rep of their team, admins any rep.",
    )
    period = serializers.ChoiceField(
        choices=[*PRESETS, CUSTOM],
        default="90d",
        help_text="A named period around today, or custom with start and end.",
    )
    start = DateField(required=False, help_text="First day, with period=custom.")
    end = DateField(required=False, help_text="The day after the last, with period=custom.")

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            empty = [
                name for name in self.fields if name in data and not str(data.get(name)).strip()
            ]
            if empty:
                raise serializers.ValidationError(
                    {name: ["Give a value, or leave the parameter out."] for name in empty}
                )
        return super().to_internal_value(data)

    def validate(self, attrs):
        today = timezone.localdate()
        if attrs["period"] != CUSTOM:
            for name in ("start", "end"):
                if name in attrs:
                    raise serializers.ValidationError(
                        {name: ["Give start and end only with period=custom."]}
                    )
            attrs["period"] = Period.named(attrs["period"], today)
            return attrs
        for name in ("start", "end"):
            if name not in attrs:
                raise serializers.ValidationError(
                    {name: ["period=custom needs a start and an end."]}
                )
        start, end = attrs["start"], attrs["end"]
        if start >= end:
            raise serializers.ValidationError({"start": ["The period must start before it ends."]})
        if (end - start).days > MAX_DAYS:
            raise serializers.ValidationError({"start": ["A period can span ten years at most."]})
        for name in ("start", "end"):
            if not 1900 <= attrs[name].year <= 9998:
                raise serializers.ValidationError({name: ["Give a date between 1900 and 9998."]})
        attrs["period"] = Period(start, end, CUSTOM)
        return attrs


class InsightSpread(serializers.Serializer):
    median = serializers.FloatField(allow_null=True)
    q1 = serializers.FloatField(allow_null=True)
    q3 = serializers.FloatField(allow_null=True)
    reps = serializers.IntegerField(help_text="The team's reps that have this figure.")


class InsightMetric(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.ChoiceField(choices=["ratio", "money", "days", "times", "count"])
    higher_is_better = serializers.BooleanField()
    rep = serializers.FloatField(allow_null=True)
    team = InsightSpread()


class InsightCounts(serializers.Serializer):
    won_deals = serializers.IntegerField()
    lost_deals = serializers.IntegerField()
    won_value = serializers.DecimalField(**MONEY)
    pipeline = serializers.DecimalField(
        **MONEY, help_text="Open, due in the next 90 days, omitted excluded."
    )
    quota = serializers.DecimalField(
        **MONEY, allow_null=True, help_text="Prorated to the next 90 days."
    )
    unconverted_deals = serializers.IntegerField(
        help_text="Deals left out of the sums for want of a rate."
    )


class InsightStageSide(serializers.Serializer):
    entered = serializers.IntegerField()
    advanced = serializers.IntegerField()
    conversion = serializers.FloatField(allow_null=True)


class InsightRepStage(InsightStageSide):
    stays = serializers.IntegerField(
        allow_null=True,
        help_text="Stays in the stage that ended in the period (null: read from a snapshot).",
    )
    avg_days_in_stage = serializers.FloatField(allow_null=True)


class InsightTeamStage(serializers.Serializer):
    conversion = InsightSpread()
    avg_days_in_stage = InsightSpread()


class InsightStageTest(serializers.Serializer):
    tested = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True, help_text="Why the counts are too few to test.")
    z = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(
        allow_null=True, help_text="One-sided: the rep's conversion is lower."
    )
    alpha = serializers.FloatField(
        allow_null=True, help_text="0.05 over the number of stages tested."
    )
    below_team = serializers.BooleanField()


class InsightStage(serializers.Serializer):
    stage = serializers.IntegerField()
    name = serializers.CharField()
    pipeline = serializers.IntegerField()
    pipeline_name = serializers.CharField()
    order = serializers.IntegerField()
    rep = InsightRepStage()
    rest = InsightStageSide(help_text="The team without the rep, its deals pooled.")
    team = InsightTeamStage()
    test = InsightStageTest()


class InsightActivityShare(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    rep = serializers.FloatField(
        allow_null=True, help_text="The kind's share of the rep's activities."
    )
    team = InsightSpread()


class InsightFocus(serializers.Serializer):
    stage = serializers.IntegerField()
    name = serializers.CharField()
    pipeline_name = serializers.CharField()
    evidence = serializers.CharField()


class InsightPerson(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class InsightTeam(serializers.Serializer):
    manager = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    reps = serializers.IntegerField()


class InsightThresholds(serializers.Serializer):
    min_entered = serializers.IntegerField()
    min_expected = serializers.IntegerField()
    alpha = serializers.FloatField()


class Insights(serializers.Serializer):
    rep = InsightPerson()
    team = InsightTeam()
    start = DateField()
    end = DateField(help_text="The day after the period's last.")
    today = DateField()
    currency = serializers.CharField()
    metrics = InsightMetric(many=True)
    counts = InsightCounts()
    stages = InsightStage(many=True)
    stages_source = serializers.CharField(
        help_text="Where the stage figures came from: snapshot (the reps' funnel snapshots) or live."
    )
    activity_mix = InsightActivityShare(many=True)
    focus = InsightFocus(
        allow_null=True, help_text="The stage suggested for the next coaching session, if any."
    )
    thresholds = InsightThresholds()


def insight_subject(user, rep_id: int | None):
    """The rep whose insights ``user`` asks for: 400 without one when they are no rep themselves,
    404 outside their reach (one query)."""
    if rep_id is None:
        if not user.is_rep:
            raise exceptions.ValidationError({"rep": ["Name the rep whose insights you want."]})
        rep_id = user.pk
    rep = insight_reps_visible_to(user).filter(pk=rep_id).first()
    if rep is None:
        raise exceptions.NotFound({"rep": ["No such rep within your reach."]})
    return rep


class InsightsView(APIView):
    """A rep against their team (median and quartiles): conversion and time per stage, win rate, deal
    size, sales cycle, activities, pipeline coverage, and the stage to coach next."""

    @extend_schema(
        parameters=[InsightsQuery],
        responses={
            200: Insights,
            400: OpenApiResponse(description="Bad input, named by field."),
            404: OpenApiResponse(description="A rep outside your reach (or no such rep)."),
        },
    )
    def get(self, request):
        query = InsightsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        rep = insight_subject(request.user, query.validated_data.get("rep"))
        figures = insights(rep, query.validated_data["period"], timezone.localdate())
        return Response(Insights(figures).data)
