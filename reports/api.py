"""Metrics and forecasts over REST: scoped by role, served from the latest snapshot when one matches."""

import datetime
from collections.abc import Mapping

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from pipeline.money import reporting_currency, unconverted_notice
from pipeline.periods import Period
from pipeline.scopes import Scope, scope_for
from reports.forecasts import HORIZONS
from reports.metrics import INTERVALS
from reports.runners import (
    AccuracyRunner,
    ForecastRunner,
    FunnelRunner,
    GapRunner,
    SeriesRunner,
)
from reports.runners.gap import GAP_PERIODS
from reports.services import RefreshUnavailable, refresh_queue, refresh_state
from salesmgr.api.fields import DateField

# Ids are 64-bit: a larger number is a bad request, not a database error.
ID = {"required": False, "min_value": 1, "max_value": 2**63 - 1}


NO_SUCH_SCOPE = OpenApiResponse(description="A scope outside your reach (or that does not exist).")
QUEUE_UNAVAILABLE = OpenApiResponse(
    description="The task queue cannot be reached; try again in a minute."
)
RETRY_AFTER_SECONDS = 60


def _unavailable(error: RefreshUnavailable) -> Response:
    return Response(
        {"detail": str(error)},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class ScopeQuery(serializers.Serializer):
    owner = serializers.IntegerField(**ID, help_text="A person: their own deals.")
    team = serializers.IntegerField(**ID, help_text="A manager: everyone below them.")
    territory = serializers.IntegerField(**ID, help_text="A territory and those inside it.")
    pipeline = serializers.IntegerField(**ID)
    product = serializers.IntegerField(**ID, help_text="Deals with a line of this product.")

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF refuses it with its usual message
        empty = [name for name in self.fields if name in data and not str(data.get(name)).strip()]
        if empty:
            raise serializers.ValidationError(
                {name: ["Give a value, or leave the parameter out."] for name in empty}
            )
        return super().to_internal_value(data)

    def scope(self, user) -> Scope:
        data = self.validated_data
        return scope_for(
            user,
            Scope(
                **{name: data.get(name) for name in self.fields if name in Scope.__annotations__}
            ),
        )


class PeriodQuery(ScopeQuery):
    start = DateField(required=False, help_text="First day (default: 90 days before end).")
    end = DateField(required=False, help_text="Day after the last (default: tomorrow).")

    def validate(self, attrs):
        end = attrs.get("end") or Period.default().end
        start = attrs.get("start") or end - datetime.timedelta(days=90)
        if start >= end:
            raise serializers.ValidationError({"start": "The period must start before it ends."})
        if (end - start).days > 3660:
            raise serializers.ValidationError({"start": "A period can span ten years at most."})
        attrs["period"] = Period(start, end)
        return attrs


class SeriesQuery(PeriodQuery):
    interval = serializers.ChoiceField(choices=sorted(INTERVALS), default="month")


class ForecastQuery(ScopeQuery):
    as_of = DateField(required=False, help_text="Default: today.")
    horizon = serializers.ChoiceField(
        choices=HORIZONS, required=False, help_text="30, 60 or 90; default all."
    )

    def validate_as_of(self, value):
        if value > timezone.localdate():
            raise serializers.ValidationError("A forecast is made as of today or a past date.")
        if value.year < 2000:
            raise serializers.ValidationError("That date is before any history.")
        return value


class AccuracyQuery(ScopeQuery):
    horizon = serializers.ChoiceField(choices=HORIZONS, required=False)
    start = DateField(required=False, help_text="Forecasts made on or after this date.")
    end = DateField(required=False, help_text="Forecasts made before this date.")

    def validate(self, attrs):
        if "start" in attrs and "end" in attrs and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"start": "The period must start before it ends."})
        return attrs


def _parse(serializer_class, request):
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query


MONEY = {"max_digits": 16, "decimal_places": 2}


class StageFigures(serializers.Serializer):
    pipeline = serializers.IntegerField()
    pipeline_name = serializers.CharField()
    stage = serializers.IntegerField()
    name = serializers.CharField()
    order = serializers.IntegerField()
    probability = serializers.IntegerField()
    entered = serializers.IntegerField()
    advanced = serializers.IntegerField()
    conversion = serializers.FloatField(allow_null=True)
    avg_days_in_stage = serializers.FloatField(allow_null=True)
    open_now = serializers.IntegerField()
    open_value_now = serializers.DecimalField(**MONEY)


class Unconverted(serializers.Serializer):
    currency = serializers.CharField()
    deals = serializers.IntegerField()
    value = serializers.DecimalField(
        **MONEY, help_text="Their summed amount as entered, in this currency."
    )


class InReportingCurrency(serializers.Serializer):
    """Money in the reporting currency, and the deals left out for want of an exchange rate."""

    currency = serializers.SerializerMethodField(
        help_text="The reporting currency every amount here is in."
    )
    unconverted = Unconverted(
        many=True,
        default=list,
        help_text="Per currency, deals with no exchange rate on the date they convert at: left out of every sum.",
    )
    unconverted_notice = serializers.SerializerMethodField(
        help_text="The same in words, empty when every deal converted."
    )

    @extend_schema_field(serializers.CharField())
    def get_currency(self, figures) -> str:
        return reporting_currency()

    @extend_schema_field(serializers.CharField())
    def get_unconverted_notice(self, figures) -> str:
        return unconverted_notice(figures.get("unconverted") or [])


class FunnelFigures(InReportingCurrency):
    scope = serializers.CharField()
    start = DateField()
    end = DateField()
    open_deals = serializers.IntegerField()
    open_value = serializers.DecimalField(**MONEY)
    avg_open_deal_size = serializers.DecimalField(**MONEY, allow_null=True)
    won_deals = serializers.IntegerField()
    won_value = serializers.DecimalField(**MONEY)
    avg_won_deal_size = serializers.DecimalField(**MONEY, allow_null=True)
    lost_deals = serializers.IntegerField()
    close_ratio = serializers.FloatField(allow_null=True)
    avg_sales_cycle_days = serializers.FloatField(allow_null=True)
    sales_velocity = serializers.DecimalField(**MONEY, allow_null=True)
    stages = StageFigures(many=True)
    computed_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=["snapshot", "live"])
    stale = serializers.BooleanField(
        help_text="Deals changed since it was computed; a recompute is on its way."
    )


class SeriesPoint(serializers.Serializer):
    bucket = DateField()
    created_deals = serializers.IntegerField()
    created_value = serializers.DecimalField(**MONEY)
    won_deals = serializers.IntegerField()
    won_value = serializers.DecimalField(**MONEY)
    lost_deals = serializers.IntegerField()
    lost_value = serializers.DecimalField(**MONEY)


class SeriesFigures(serializers.Serializer):
    scope = serializers.CharField()
    currency = serializers.CharField(help_text="The reporting currency every value is in.")
    interval = serializers.CharField()
    points = SeriesPoint(many=True)


class Gap(serializers.Serializer):
    pipeline = serializers.DecimalField(**MONEY, allow_null=True)
    best_case = serializers.DecimalField(**MONEY, allow_null=True)
    commit = serializers.DecimalField(**MONEY, allow_null=True)
    weighted = serializers.DecimalField(**MONEY, allow_null=True)
    model = serializers.DecimalField(**MONEY, allow_null=True)


class ForecastFigures(InReportingCurrency):
    scope = serializers.CharField()
    as_of = DateField()
    horizon = serializers.IntegerField()
    window_end = DateField()
    pipeline = serializers.DecimalField(**MONEY)
    best_case = serializers.DecimalField(**MONEY)
    commit = serializers.DecimalField(**MONEY)
    weighted = serializers.DecimalField(**MONEY)
    model = serializers.DecimalField(**MONEY)
    model_p10 = serializers.DecimalField(**MONEY)
    model_p90 = serializers.DecimalField(**MONEY)
    overdue_value = serializers.DecimalField(**MONEY)
    won_in_window = serializers.DecimalField(**MONEY)
    quota = serializers.DecimalField(**MONEY, allow_null=True)
    gap = Gap()
    window_deals = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=["snapshot", "live"])
    stale = serializers.BooleanField(
        help_text="Deals changed since it was computed; a recompute is on its way."
    )


class Forecasts(serializers.Serializer):
    scope = serializers.CharField()
    as_of = DateField()
    forecasts = ForecastFigures(many=True)


class MethodAccuracy(serializers.Serializer):
    forecast = serializers.DecimalField(**MONEY)
    error = serializers.DecimalField(**MONEY)
    abs_pct_error = serializers.FloatField(allow_null=True)


class AccuracyRow(serializers.Serializer):
    as_of = DateField()
    horizon = serializers.IntegerField()
    actual = serializers.DecimalField(**MONEY)
    methods = serializers.DictField(child=MethodAccuracy())


class MethodSummary(serializers.Serializer):
    mape = serializers.FloatField(allow_null=True)
    bias = serializers.FloatField(allow_null=True)


class BandCalibration(serializers.Serializer):
    below = serializers.FloatField(
        help_text="Share of matured windows whose actual fell below the model's P10."
    )
    inside = serializers.FloatField(
        help_text="Share whose actual lay inside P10-P90 (80% when calibrated)."
    )
    above = serializers.FloatField(help_text="Share whose actual rose above P90.")


class AccuracySummary(serializers.Serializer):
    horizon = serializers.IntegerField()
    snapshots = serializers.IntegerField()
    methods = serializers.DictField(child=MethodSummary())
    band = BandCalibration()


class Accuracy(serializers.Serializer):
    scope = serializers.CharField()
    summary = AccuracySummary(many=True)
    snapshots = AccuracyRow(many=True)


class FunnelView(APIView):
    """Funnel metrics (METRICS.md) for a scope and period."""

    @extend_schema(parameters=[PeriodQuery], responses={200: FunnelFigures, 404: NO_SUCH_SCOPE})
    def get(self, request):
        query = _parse(PeriodQuery, request)
        scope = query.scope(request.user)
        data = FunnelRunner(scope, query.validated_data["period"]).run()
        return Response(FunnelFigures(data).data)


class SeriesView(APIView):
    """Created, won and lost deals per week or month, zero-filled, for charts."""

    @extend_schema(parameters=[SeriesQuery], responses={200: SeriesFigures, 404: NO_SUCH_SCOPE})
    def get(self, request):
        query = _parse(SeriesQuery, request)
        scope = query.scope(request.user)
        interval = query.validated_data["interval"]
        points = SeriesRunner(scope, query.validated_data["period"], interval).run()
        return Response(
            SeriesFigures(
                {
                    "scope": scope.key,
                    "currency": reporting_currency(),
                    "interval": interval,
                    "points": points,
                }
            ).data
        )


class ForecastView(APIView):
    """30, 60 and 90-day forecasts against quota, with the model's P10-P90 range."""

    @extend_schema(parameters=[ForecastQuery], responses={200: Forecasts, 404: NO_SUCH_SCOPE})
    def get(self, request):
        query = _parse(ForecastQuery, request)
        scope = query.scope(request.user)
        as_of = query.validated_data.get("as_of") or timezone.localdate()
        horizons = (
            (query.validated_data["horizon"],) if "horizon" in query.validated_data else HORIZONS
        )
        figures = ForecastRunner(scope, as_of, horizons).run()
        return Response(Forecasts({"scope": scope.key, "as_of": as_of, "forecasts": figures}).data)


class AccuracyView(APIView):
    """How past forecasts compared with what was won: per snapshot and summarised per method."""

    @extend_schema(parameters=[AccuracyQuery], responses={200: Accuracy, 404: NO_SUCH_SCOPE})
    def get(self, request):
        query = _parse(AccuracyQuery, request)
        scope = query.scope(request.user)
        data = query.validated_data
        body = AccuracyRunner(
            scope, horizon=data.get("horizon"), start=data.get("start"), end=data.get("end")
        ).run()
        return Response(Accuracy(body).data)


class GapQuery(ScopeQuery):
    period = serializers.ChoiceField(
        choices=list(GAP_PERIODS),
        default="month",
        help_text="The calendar month, quarter or year holding today.",
    )


class GapToTarget(serializers.Serializer):
    commit = serializers.DecimalField(**MONEY, allow_null=True)
    best_case = serializers.DecimalField(**MONEY, allow_null=True)
    model = serializers.DecimalField(**MONEY, allow_null=True)
    model_p10 = serializers.DecimalField(**MONEY, allow_null=True)
    model_p90 = serializers.DecimalField(**MONEY, allow_null=True)


class GapRep(serializers.Serializer):
    owner_id = serializers.IntegerField()
    name = serializers.CharField()
    target = serializers.DecimalField(**MONEY)
    won = serializers.DecimalField(**MONEY)
    commit = serializers.DecimalField(**MONEY)
    best_case = serializers.DecimalField(**MONEY)
    pipeline = serializers.DecimalField(**MONEY)
    gap_commit = serializers.DecimalField(**MONEY, help_text="target - won - commit")
    attainment = serializers.FloatField(allow_null=True)


class GapFigures(serializers.Serializer):
    scope = serializers.CharField()
    period = serializers.ChoiceField(choices=list(GAP_PERIODS))
    start = DateField()
    end = DateField(help_text="The day after the period's last.")
    days_left = serializers.IntegerField(
        help_text="Days from today (included) to the period's end."
    )
    target = serializers.DecimalField(
        **MONEY, allow_null=True, help_text="Null for a pipeline or product."
    )
    target_basis = serializers.ChoiceField(choices=["own", "rollup"], allow_null=True)
    target_description = serializers.CharField(allow_null=True)
    won = serializers.DecimalField(
        **MONEY, help_text="Won with closed_at from the period's start up to now."
    )
    commit = serializers.DecimalField(**MONEY)
    best_case = serializers.DecimalField(**MONEY)
    model = serializers.DecimalField(**MONEY)
    model_p10 = serializers.DecimalField(**MONEY)
    model_p90 = serializers.DecimalField(**MONEY)
    pipeline = serializers.DecimalField(
        **MONEY, help_text="Open pipeline in the forecast window, omitted excluded."
    )
    gap = GapToTarget(help_text="target - won - each projection.")
    to_win = serializers.DecimalField(
        **MONEY, allow_null=True, help_text="target - won, never below 0."
    )
    close_ratio = serializers.FloatField(allow_null=True, help_text="Of the last 90 days.")
    pipeline_needed = serializers.DecimalField(
        **MONEY, allow_null=True, help_text="to_win / close_ratio."
    )
    coverage = serializers.FloatField(allow_null=True, help_text="pipeline / to_win.")
    run_rate_per_week = serializers.DecimalField(**MONEY, allow_null=True)
    horizon = serializers.IntegerField(help_text="The forecast horizon nearest to days_left.")
    forecast_end = DateField()
    computed_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=["snapshot", "live"])
    stale = serializers.BooleanField()
    reps = GapRep(many=True, help_text="One row per rep of a team, territory or the organisation.")


class GapView(APIView):
    """The gap to target of a scope for this month, quarter or year, against its projections."""

    @extend_schema(parameters=[GapQuery], responses={200: GapFigures, 404: NO_SUCH_SCOPE})
    def get(self, request):
        query = _parse(GapQuery, request)
        scope = query.scope(request.user)
        figures = GapRunner(scope, query.validated_data["period"], timezone.localdate()).run()
        return Response(GapFigures(figures).data)


class RefreshQueued(serializers.Serializer):
    task_id = serializers.CharField()
    scope = serializers.CharField()
    status_url = serializers.CharField()


class RefreshState(serializers.Serializer):
    task_id = serializers.CharField()
    state = serializers.CharField(help_text="PENDING, STARTED, RETRY, FAILURE or SUCCESS.")
    ready = serializers.BooleanField()
    timed_out = serializers.BooleanField(
        help_text="Not finished within the poll time-out: a worker may be down; stop polling."
    )


class RefreshView(APIView):
    """Queue a recompute of a scope's snapshots; poll ``metrics/refresh/{task_id}/`` for its state."""

    @extend_schema(
        request=ScopeQuery,
        responses={202: RefreshQueued, 404: NO_SUCH_SCOPE, 503: QUEUE_UNAVAILABLE},
        summary="Recompute the snapshots of a scope",
    )
    def post(self, request):
        query = ScopeQuery(data=request.data)
        query.is_valid(raise_exception=True)
        scope = query.scope(request.user)
        try:
            task_id = refresh_queue(user=request.user, scope=scope)
        except RefreshUnavailable as error:
            return _unavailable(error)
        body = {"task_id": task_id, "scope": scope.key, "status_url": f"{request.path}{task_id}/"}
        return Response(RefreshQueued(body).data, status=status.HTTP_202_ACCEPTED)


class RefreshStateView(APIView):
    @extend_schema(
        responses={
            200: RefreshState,
            404: OpenApiResponse(description="No such task of yours."),
            503: QUEUE_UNAVAILABLE,
        },
        summary="The state of a queued recompute",
    )
    def get(self, request, task_id: str):
        try:
            state = refresh_state(user=request.user, task_id=task_id)
        except RefreshUnavailable as error:
            return _unavailable(error)
        if state is None:
            raise Http404("No such task.")
        return Response(
            RefreshState(
                {
                    "task_id": task_id,
                    "state": state.state,
                    "ready": state.ready,
                    "timed_out": state.timed_out,
                }
            ).data
        )
