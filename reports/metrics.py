"""Funnel metrics, exactly as METRICS.md defines them, computed in the database.

Every figure can be taken as the pipeline stood at a past moment (``as_of``):
deals are then read from their change history and transitions after that
moment are ignored. A ratio with a zero denominator is None.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Avg, Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from pipeline.models import Deal, Stage, StageKind, StageTransition
from pipeline.selectors import deals_as_of
from reports.scopes import Scope
from reports.sql import DaysBetween

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in dates."""

    start: datetime.date
    end: datetime.date

    @classmethod
    def default(cls, today: datetime.date | None = None) -> "Period":
        today = today or timezone.localdate()
        end = today + datetime.timedelta(days=1)
        return cls(end - datetime.timedelta(days=90), end)

    @property
    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        return start_of(self.start), start_of(self.end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def start_of(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``day`` in the configured time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _ratio(numerator, denominator):
    if not denominator:
        return None
    return numerator / denominator


def deal_rows(scope: Scope, as_of: datetime.datetime | None = None) -> QuerySet:
    """The deals of ``scope``: live rows, or as they stood at ``as_of``."""
    rows = Deal.objects.filter(deleted_at__isnull=True) if as_of is None else deals_as_of(as_of)
    return rows.filter(scope.deal_filter())


def transitions_in(scope: Scope, as_of: datetime.datetime | None = None) -> QuerySet:
    """Stage transitions of the scope's deals (only those up to ``as_of`` when given)."""
    transitions = StageTransition.objects.filter(deal_id__in=deal_rows(scope, as_of).values("id"))
    if as_of is not None:
        transitions = transitions.filter(at__lte=as_of)
    return transitions


def deal_totals(scope: Scope, period: Period, as_of: datetime.datetime | None = None) -> dict:
    """The deal-level funnel figures, from one aggregate query."""
    start, end = period.bounds
    closed_in_period = Q(closed_at__gte=start, closed_at__lt=end)
    won = Q(status=StageKind.WON) & closed_in_period
    lost = Q(status=StageKind.LOST) & closed_in_period
    open_ = Q(status=StageKind.OPEN)
    totals = deal_rows(scope, as_of).aggregate(
        open_deals=Count("id", filter=open_),
        open_value=Sum("amount", filter=open_),
        won_deals=Count("id", filter=won),
        won_value=Sum("amount", filter=won),
        lost_deals=Count("id", filter=lost),
        avg_sales_cycle_days=Avg(DaysBetween(F("closed_at"), F("created_at")), filter=won),
    )
    totals["open_value"] = totals["open_value"] or ZERO
    totals["won_value"] = totals["won_value"] or ZERO
    totals["avg_open_deal_size"] = _money(_ratio(totals["open_value"], totals["open_deals"]))
    totals["avg_won_deal_size"] = _money(_ratio(totals["won_value"], totals["won_deals"]))
    totals["close_ratio"] = _ratio(totals["won_deals"], totals["won_deals"] + totals["lost_deals"])
    cycle = totals["avg_sales_cycle_days"]
    if None in (totals["avg_won_deal_size"], totals["close_ratio"]) or not cycle:
        totals["sales_velocity"] = None
    else:
        velocity = totals["open_deals"] * totals["avg_won_deal_size"] * Decimal(str(totals["close_ratio"]))
        totals["sales_velocity"] = _money(velocity / Decimal(str(cycle)))
    return totals


def _money(value):
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _stages_of(scope: Scope) -> list[Stage]:
    stages = Stage.objects.filter(kind=StageKind.OPEN).select_related("pipeline").order_by("pipeline__name", "order")
    if scope.pipeline is not None:
        stages = stages.filter(pipeline_id=scope.pipeline)
    return list(stages)


def stage_figures(scope: Scope, period: Period, as_of: datetime.datetime | None = None) -> list[dict]:
    """Per open stage: entered, advanced, conversion, time in stage, and what sits there now."""
    start, end = period.bounds
    transitions = transitions_in(scope, as_of)

    later = StageTransition.objects.filter(deal_id=OuterRef("deal_id"), at__gt=OuterRef("at")).filter(
        Q(to_stage__kind=StageKind.WON)
        | Q(to_stage__kind=StageKind.OPEN, to_stage__order__gt=OuterRef("to_stage__order"))
    )
    if as_of is not None:
        later = later.filter(at__lte=as_of)
    flow = {
        row["to_stage_id"]: row
        for row in transitions.filter(at__gte=start, at__lt=end, to_stage__kind=StageKind.OPEN)
        .annotate(went_on=Exists(later))
        .values("to_stage_id")
        .annotate(
            entered=Count("deal_id", distinct=True),
            advanced=Count("deal_id", distinct=True, filter=Q(went_on=True)),
        )
    }
    stays = {
        row["from_stage_id"]: row["avg_days"]
        for row in transitions.filter(at__gte=start, at__lt=end, from_stage__isnull=False)
        .values("from_stage_id")
        .annotate(avg_days=Avg(DaysBetween(F("at"), F("from_stage_entered_at"))))
    }
    open_now = {
        row["stage_id"]: row
        for row in deal_rows(scope, as_of)
        .filter(status=StageKind.OPEN)
        .values("stage_id")
        .annotate(deals=Count("id"), value=Sum("amount"))
    }

    figures = []
    for stage in _stages_of(scope):
        entered = flow.get(stage.pk, {}).get("entered", 0)
        advanced = flow.get(stage.pk, {}).get("advanced", 0)
        figures.append(
            {
                "pipeline": stage.pipeline_id,
                "pipeline_name": stage.pipeline.name,
                "stage": stage.pk,
                "name": stage.name,
                "order": stage.order,
                "probability": stage.probability,
                "entered": entered,
                "advanced": advanced,
                "conversion": _ratio(advanced, entered),
                "avg_days_in_stage": stays.get(stage.pk),
                "open_now": open_now.get(stage.pk, {}).get("deals", 0),
                "open_value_now": open_now.get(stage.pk, {}).get("value") or ZERO,
            }
        )
    return figures


def funnel(scope: Scope, period: Period, as_of: datetime.datetime | None = None) -> dict:
    """Every funnel metric of METRICS.md for ``scope`` over ``period`` (five queries)."""
    return {
        "scope": scope.key,
        "start": period.start,
        "end": period.end,
        "as_of": as_of,
        **deal_totals(scope, period, as_of),
        "stages": stage_figures(scope, period, as_of),
    }


INTERVALS = {"week": TruncWeek, "month": TruncMonth}


def _buckets(period: Period, interval: str) -> list[datetime.date]:
    """Every bucket start from the one holding ``period.start`` up to ``period.end``."""
    if interval == "week":
        day = period.start - datetime.timedelta(days=period.start.weekday())
        step = datetime.timedelta(days=7)
        buckets = []
        while day < period.end:
            buckets.append(day)
            day += step
        return buckets
    day = period.start.replace(day=1)
    buckets = []
    while day < period.end:
        buckets.append(day)
        day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return buckets


def series(scope: Scope, period: Period, interval: str = "month", as_of: datetime.datetime | None = None) -> list:
    """Created, won and lost deals and value per week or month, zero-filled (two queries)."""
    trunc = INTERVALS[interval]
    start, end = period.bounds
    rows = deal_rows(scope, as_of)
    points = {bucket: _empty_point(bucket) for bucket in _buckets(period, interval)}

    closed = (
        rows.filter(closed_at__gte=start, closed_at__lt=end)
        .annotate(bucket=trunc("closed_at"))
        .values("bucket", "status")
        .annotate(deals=Count("id"), value=Sum("amount"))
    )
    for row in closed:
        point = points.get(_as_date(row["bucket"]))
        if point is not None:
            point[f"{row['status']}_deals"] = row["deals"]
            point[f"{row['status']}_value"] = row["value"] or ZERO
    created = (
        rows.filter(created_at__gte=start, created_at__lt=end)
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(deals=Count("id"), value=Sum("amount"))
    )
    for row in created:
        point = points.get(_as_date(row["bucket"]))
        if point is not None:
            point["created_deals"] = row["deals"]
            point["created_value"] = row["value"] or ZERO
    return list(points.values())


def _as_date(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def _empty_point(bucket: datetime.date) -> dict:
    return {
        "bucket": bucket,
        "created_deals": 0,
        "created_value": ZERO,
        "won_deals": 0,
        "won_value": ZERO,
        "lost_deals": 0,
        "lost_value": ZERO,
    }
