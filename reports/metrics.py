"""Funnel metrics, exactly as METRICS.md defines them, computed in the database.

Every figure can be taken as the pipeline stood at a past moment (``as_of``):
deals are then read from their change history and transitions after that
moment are ignored. A ratio with a zero denominator is None.

Money is in the reporting currency (``pipeline.money``): open value at the
rate of the day the funnel is taken as of, won value at each deal's close
date. A deal whose currency has no rate by then is left out of the sums and
listed under ``unconverted`` (per currency: deals and value as entered).
"""

import datetime
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from pipeline.models import Deal, Stage, StageKind, StageTransition
from pipeline.money import (
    at_close,
    at_day,
    converted,
    local_date_of,
    unconverted,
    unconverted_by_currency,
    unconverted_count,
)
from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.selectors import deals_as_of
from reports import rollups
from reports.sql import DaysBetween, aggregate_over, later_in_deal

ZERO = Decimal("0.00")


def _ratio(numerator, denominator):
    if not denominator:
        return None
    return numerator / denominator


def deal_rows(scope: Scope, as_of: datetime.datetime | None = None) -> QuerySet:
    """The deals of ``scope``: live rows, or as they stood at ``as_of`` (owner, account and the
    account's territory then)."""
    if as_of is None:
        return Deal.objects.filter(deleted_at__isnull=True).filter(scope.deal_filter())
    return deals_as_of(as_of).filter(scope.deal_filter(territory_at=as_of))


def closed_deal_rows(scope: Scope) -> QuerySet:
    """The scope's live deals, a closed one counted in the territory its account lay in when it closed:
    what was won in a territory stays won there whatever a later realignment moves."""
    return Deal.objects.filter(deleted_at__isnull=True).filter(
        scope.deal_filter(territory_at="closed_at")
    )


def transitions_in(scope: Scope, as_of: datetime.datetime | None = None) -> QuerySet:
    """Stage transitions of the scope's deals (only those up to ``as_of`` when given)."""
    transitions = StageTransition.objects.filter(deal_id__in=deal_rows(scope, as_of).values("id"))
    if as_of is not None:
        transitions = transitions.filter(at__lte=as_of)
    return transitions


def local_day(as_of: datetime.datetime | None = None) -> datetime.date:
    """The date open pipeline converts at: that of ``as_of``, or today."""
    return timezone.localdate(as_of) if as_of is not None else timezone.localdate()


def _funnel_filters(period: Period) -> tuple[Q, Q, Q]:
    start, end = period.bounds
    closed_in_period = Q(closed_at__gte=start, closed_at__lt=end)
    return (
        Q(status=StageKind.OPEN),
        Q(status=StageKind.WON) & closed_in_period,
        Q(status=StageKind.LOST) & closed_in_period,
    )


def deal_sums(period: Period, day: datetime.date) -> dict:
    """The aggregates over deal rows that the deal-level funnel figures derive from;
    open value converts at the rate of ``day``, won value at each deal's close date."""
    open_, won, lost = _funnel_filters(period)
    open_value, won_value = converted(on=day), at_close()
    return {
        "open_deals": Count("id", filter=open_),
        "open_value": Sum(open_value, filter=open_),
        "won_deals": Count("id", filter=won),
        "won_value": Sum(won_value, filter=won),
        "lost_deals": Count("id", filter=lost),
        "cycle_days": Sum(DaysBetween(F("closed_at"), F("created_at")), filter=won),
        "open_unconverted": unconverted_count(open_value, open_),
        "won_unconverted": unconverted_count(won_value, won),
    }


# ``deal_sums``'s aggregates over open deals only; the others count deals closed in the period.
OPEN_DEAL_SUMS = ("open_deals", "open_value", "open_unconverted")


def sums_by_owner(deals: QuerySet, parts: Iterable[tuple[Q | QuerySet, dict]]) -> dict[int, dict]:
    """Per owner, each part's aggregates over the rows of ``deals`` that meet its condition (one query
    a part); an owner without such rows gets 0 for a count, else the aggregate's ``default`` (None for
    a sum without one). A part whose condition is a queryset of its own with an ``owner_id`` (a rollup
    of the same deals) is aggregated over that queryset instead.

    Each aggregate must count only rows of its own part (its filter implies the part's condition):
    then the figures equal one query over the parts' rows together, overlapping or not.
    Split so, each part can be read from one covering index (the open deals from the per-owner open
    index, those closed in a period from the per-owner close index) with no visit to the table: one
    query over "open or closed in the period" read every table page of a team's deals instead (at
    1,000,000 deals, 23,000 pages for 190,000 deals).
    """
    found: dict[int, dict] = {}
    defaults = {}
    for condition, aggregates in parts:
        for name, aggregate in aggregates.items():
            defaults[name] = (
                0 if isinstance(aggregate, Count) else getattr(aggregate, "default", None)
            )
        source = condition if isinstance(condition, QuerySet) else deals.filter(condition)
        rows = source.values("owner_id").annotate(**aggregates).order_by()
        for row in rows:
            found.setdefault(row.pop("owner_id"), {}).update(row)
    return {owner: {**defaults, "owner_id": owner, **sums} for owner, sums in found.items()}


def funnel_unconverted(
    rows: QuerySet, period: Period, day: datetime.date, sums: dict
) -> list[dict]:
    """The open and won deals ``deal_sums`` left out for want of a rate, per currency (a query only when
    ``sums`` counted some)."""
    if not (sums.get("open_unconverted") or sums.get("won_unconverted")):
        return []
    return unconverted_by_currency(rows, funnel_unconverted_filter(period, day))


def funnel_unconverted_filter(period: Period, day: datetime.date) -> Q:
    """The deals ``deal_sums`` leaves out: open without a rate on ``day``, won in the period without one
    on their close date."""
    open_, won, _ = _funnel_filters(period)
    return (open_ & unconverted(converted(on=day))) | (won & unconverted(at_close()))


def add_sums(rows) -> dict:
    """``deal_sums`` of several groups (stages, cells) added up: None where no group had a value."""
    totals = {"open_deals": 0, "open_value": None, "won_deals": 0, "won_value": None, "lost_deals": 0,
              "cycle_days": None, "open_unconverted": 0, "won_unconverted": 0}  # fmt: skip
    for row in rows:
        for key, total in totals.items():
            value = row[key]
            if value is not None:
                totals[key] = value if total is None else total + value
    return totals


def figures_from_sums(sums: dict) -> dict:
    """The deal-level figures from ``deal_sums``; the sales cycle is their summed days over the won deals."""
    won = sums["won_deals"]
    return deal_figures(
        open_deals=sums["open_deals"],
        open_value=sums["open_value"],
        won_deals=won,
        won_value=sums["won_value"],
        lost_deals=sums["lost_deals"],
        avg_sales_cycle_days=sums["cycle_days"] / won
        if won and sums["cycle_days"] is not None
        else None,
        open_unconverted=sums.get("open_unconverted") or 0,
        won_unconverted=sums.get("won_unconverted") or 0,
    )


def deal_totals(scope: Scope, period: Period, as_of: datetime.datetime | None = None) -> dict:
    """The deal-level funnel figures, from one aggregate query (and one more listing the deals left out
    for want of an exchange rate, when there are any)."""
    rows, day = deal_rows(scope, as_of), local_day(as_of)
    sums = rows.aggregate(**deal_sums(period, day))
    return {**figures_from_sums(sums), "unconverted": funnel_unconverted(rows, period, day, sums)}


def deal_figures(
    *,
    open_deals: int,
    open_value,
    won_deals: int,
    won_value,
    lost_deals: int,
    avg_sales_cycle_days: float | None,
    open_unconverted: int = 0,
    won_unconverted: int = 0,
) -> dict:
    """The deal-level figures with the ratios derived from the counts and sums.

    Counts and the close ratio count every deal; an average deal size divides
    the converted value by the deals it holds, not those left out for want of a rate.
    """
    totals = {
        "open_deals": open_deals,
        "open_value": _money(open_value or ZERO),
        "won_deals": won_deals,
        "won_value": _money(won_value or ZERO),
        "lost_deals": lost_deals,
        "avg_sales_cycle_days": avg_sales_cycle_days,
    }
    totals["avg_open_deal_size"] = _money(
        _ratio(totals["open_value"], open_deals - open_unconverted)
    )
    totals["avg_won_deal_size"] = _money(_ratio(totals["won_value"], won_deals - won_unconverted))
    totals["close_ratio"] = _ratio(totals["won_deals"], totals["won_deals"] + totals["lost_deals"])
    cycle = totals["avg_sales_cycle_days"]
    if None in (totals["avg_won_deal_size"], totals["close_ratio"]) or not cycle:
        totals["sales_velocity"] = None
    else:
        velocity = (
            totals["open_deals"] * totals["avg_won_deal_size"] * Decimal(str(totals["close_ratio"]))
        )
        totals["sales_velocity"] = _money(velocity / Decimal(str(cycle)))
    return totals


def _money(value):
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def open_stages() -> list[Stage]:
    """Every open stage, in the order the funnel lists them: by pipeline name, then stage order."""
    return list(
        Stage.objects.filter(kind=StageKind.OPEN)
        .select_related("pipeline")
        .order_by("pipeline__name", "order")
    )


def stage_figures(
    scope: Scope, period: Period, as_of: datetime.datetime | None = None
) -> list[dict]:
    """Per open stage: entered, advanced, conversion, time in stage, and what sits there now."""
    start, end = period.bounds
    transitions = transitions_in(scope, as_of)
    flow = {
        stage_id: (entered, advanced)
        for stage_id, entered, advanced in flow_counts(transitions, period)
    }
    stays = {
        row["from_stage_id"]: row["avg_days"]
        for row in transitions.filter(at__gte=start, at__lt=end, from_stage__isnull=False)
        .values("from_stage_id")
        .annotate(avg_days=Avg(DaysBetween(F("at"), F("from_stage_entered_at"))))
    }
    open_now = {
        row["stage_id"]: (row["deals"], row["value"])
        for row in deal_rows(scope, as_of)
        .filter(status=StageKind.OPEN)
        .values("stage_id")
        .annotate(deals=Count("id"), value=Sum(converted(on=local_day(as_of))))
    }
    stages = [
        stage
        for stage in open_stages()
        if scope.pipeline is None or stage.pipeline_id == scope.pipeline
    ]
    return stage_rows(stages, flow=flow, stays=stays, open_now=open_now)


def flow_counts(transitions: QuerySet, period: Period, group: dict | None = None) -> list[tuple]:
    """Per open stage: ``(*group, stage id, entered, advanced)`` over ``period``.

    ``entered`` counts the distinct deals with a transition into the stage in
    the period; ``advanced`` those of them that afterwards (among
    ``transitions``: up to ``as_of`` when they are cut there) reached an open
    stage of higher order or won. One ordered pass from the period's start:
    each row sees its deal's later transitions through a window.
    """
    group = group or {}
    start, end = period.bounds
    entry = Q(at__lt=end, to_stage__kind=StageKind.OPEN)
    moves = (
        transitions.filter(at__gte=start)
        .order_by()
        .annotate(
            later_won=later_in_deal(
                Max(Case(When(to_stage__kind=StageKind.WON, then=Value(1)), default=Value(0)))
            ),
            later_order=later_in_deal(
                Max("to_stage__order", filter=Q(to_stage__kind=StageKind.OPEN))
            ),
        )
        .values(
            "deal_id",
            "to_stage_id",
            "later_won",
            "later_order",
            stage_order=F("to_stage__order"),
            entry=Case(When(entry, then=Value(1)), default=Value(0), output_field=IntegerField()),
            **group,
        )
    )
    columns = ", ".join([*group, "to_stage_id"])
    return aggregate_over(
        moves,
        f"{columns}, COUNT(DISTINCT deal_id), "
        "COUNT(DISTINCT CASE WHEN later_won = 1 OR later_order > stage_order THEN deal_id END)",
        "entry = 1",
        (),
        columns,
    )


def stage_rows(stages: list[Stage], *, flow: dict, stays: dict, open_now: dict) -> list[dict]:
    """The per-stage figures from ``flow`` (entered, advanced), ``stays`` (mean days) and ``open_now``
    (deals, value), each keyed by stage id."""
    figures = []
    for stage in stages:
        entered, advanced = flow.get(stage.pk, (0, 0))
        deals, value = open_now.get(stage.pk, (0, None))
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
                "open_now": deals,
                "open_value_now": _money(value or ZERO),
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


def created_day() -> TruncDate:
    """The local date a deal was created on, the day its created value converts at."""
    return local_date_of(OuterRef("created_at"))


def series(
    scope: Scope, period: Period, interval: str = "month", as_of: datetime.datetime | None = None
) -> list:
    """Created, won and lost deals and value per week or month, zero-filled (two queries; on
    PostgreSQL one more asks whether the daily rollups may be read).

    A live series of people (the organisation, a team or a rep: no territory, pipeline or product,
    which the rollups do not keep) sums the closed and created deals' daily rollups, each row of an
    owner, day and currency converted once at its day's rate, as each deal would be: the
    organisation's year by month at 1,000,000 deals took 0.9 s from the deals, 0.08 s from
    the rollups."""
    if as_of is None and rollups.keyed_for(scope) and rollups.ready():
        bucket = Cast(INTERVALS[interval]("day"), DateField())
        sums = {"deals": Sum("deals"), "value": Sum(at_day())}
        return series_points(
            period,
            interval,
            rollups.closed_days(period.start, period.end)
            .filter(scope.deal_filter())
            .values("status", bucket=bucket)
            .annotate(**sums)
            .order_by(),
            rollups.created_days(period.start, period.end)
            .filter(scope.deal_filter())
            .values(bucket=bucket)
            .annotate(**sums)
            .order_by(),
        )
    rows = deal_rows(scope, as_of)
    return series_points(
        period,
        interval,
        series_closed(rows, period, interval).values("bucket", "status").annotate(**series_sums()),
        series_created(rows, period, interval)
        .values("bucket")
        .annotate(**series_sums(created=True)),
    )


def series_closed(rows: QuerySet, period: Period, interval: str) -> QuerySet:
    """The ``rows`` won or lost in the period, with the ``bucket`` each closed in (``series``)."""
    start, end = period.bounds
    return rows.filter(
        status__in=[StageKind.WON, StageKind.LOST], closed_at__gte=start, closed_at__lt=end
    ).annotate(bucket=INTERVALS[interval]("closed_at"))


def series_created(rows: QuerySet, period: Period, interval: str) -> QuerySet:
    """The ``rows`` created in the period, with the ``bucket`` each was created in (``series``)."""
    start, end = period.bounds
    return rows.filter(created_at__gte=start, created_at__lt=end).annotate(
        bucket=INTERVALS[interval]("created_at")
    )


def series_sums(created: bool = False) -> dict:
    """What ``series`` sums per bucket: of the deals closed (grouped by status too), or of those created."""
    return {
        "deals": Count("id"),
        "value": Sum(converted(on=created_day()) if created else at_close()),
    }


def series_points(
    period: Period, interval: str, closed: Iterable[dict], created: Iterable[dict]
) -> list:
    """``series``'s zero-filled points from its sums: ``closed`` by bucket and status, ``created`` by
    bucket. A bucket may come in several rows (the parts of a scope): their sums add up."""
    points = {bucket: _empty_point(bucket) for bucket in _buckets(period, interval)}
    for kind, rows in (("status", closed), ("created", created)):
        for row in rows:
            point = points.get(_local_date(row["bucket"]))
            if point is None:
                continue
            prefix = row["status"] if kind == "status" else "created"
            point[f"{prefix}_deals"] += row["deals"]
            point[f"{prefix}_value"] += row["value"] or ZERO
    for point in points.values():
        for prefix in ("created", "won", "lost"):
            point[f"{prefix}_value"] = _money(point[f"{prefix}_value"])
    return list(points.values())


def _local_date(value: datetime.date | datetime.datetime) -> datetime.date:
    """The date a truncated bucket starts on, in the configured time zone (a date stays as it is)."""
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
