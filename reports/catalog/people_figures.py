"""Figures per person or per team that the rep scorecards and the team health report share.

Each is one grouped query over every person (or team) at once, never one per
row: the reports pass the ids they show and get a dict keyed by id back.

Definitions (METRICS.md, extended in the README's "Rep scorecards" and "Team health"):

- pipeline coverage over a period ``[start, end)`` of ``L`` days is taken as
  of the day ``d = min(end, today)``: the open pipeline as it stood then
  (omitted excluded) expected to close in ``[d, d + L)``, at the rates of
  ``d``, over the remaining quota of those days (their prorated target less
  what was already won in them by then, which is only ever today's wins).
  Today's pipeline is read live; a past day's from the deals' history.
- forecast accuracy is ``1 - MAPE`` (never below 0) of the ``commit``
  forecasts of ``HORIZON`` days of the person's or team's own scope whose
  window ended in the period (matured, with something won in it).
"""

import datetime
import statistics
from decimal import Decimal

from django.db.models import (
    Avg,
    Count,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Abs, Cast

from pipeline.models import ForecastCategory, StageKind
from pipeline.money import at_close, at_day, converted, unconverted, unconverted_count
from pipeline.periods import DAY, Period, start_of
from pipeline.scopes import Scope
from pipeline.selectors import deals_as_of_parts
from reports.models import ForecastSnapshot
from reports.sql import DaysBetween, IntervalDays

HORIZON = 30
ACCURACY_METHOD = "commit"
CENT = Decimal("0.01")


def ratio(numerator, denominator) -> float | None:
    """``numerator / denominator`` as a float; None without a denominator (METRICS.md)."""
    if numerator is None or not denominator:
        return None
    return float(Decimal(numerator) / Decimal(denominator))


def money(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT)


def median(values) -> float | Decimal | None:
    """The median of the known values (None when there is none)."""
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def change(now, before):
    """``now - before``, None when either is unknown."""
    if now is None or before is None:
        return None
    return now - before


def other_conditions(scope: Scope) -> Scope:
    """The scope's conditions on deals other than people (territory, pipeline, product)."""
    return Scope(territory=scope.territory, pipeline=scope.pipeline, product=scope.product)


def coverage_day(period: Period, today: datetime.date) -> datetime.date:
    """The day a period's pipeline coverage is taken as of: its end, or today for one not over yet."""
    return min(period.end, today)


def coverage_window(day: datetime.date, days: int) -> tuple[datetime.date, datetime.date]:
    """The days the coverage counts, first and last (inclusive, as quota windows are)."""
    return day, day + datetime.timedelta(days=days) - DAY


def pipeline_in_window(day: datetime.date, days: int) -> Sum:
    """The open pipeline expected to close in ``[day, day + days)``, omitted excluded, at ``day``'s rates."""
    return Sum(converted(on=day), filter=window_pipeline(day, days))


def won_since(moment: datetime.datetime) -> Sum:
    """Value won from ``moment`` on, at close-date rates: what a window's remaining quota no longer needs."""
    return Sum(at_close(), filter=Q(status=StageKind.WON, closed_at__gte=moment))


def closed_sums(period: Period, suffix: str) -> dict:
    """Won and lost counts, won value (close-date rates), summed cycle days and won deals without a rate,
    over deals closed in ``period``."""
    start, end = period.bounds
    closed = Q(closed_at__gte=start, closed_at__lt=end)
    won = Q(status=StageKind.WON) & closed
    return {
        f"won{suffix}": Count("id", filter=won),
        f"lost{suffix}": Count("id", filter=Q(status=StageKind.LOST) & closed),
        f"won_value{suffix}": Sum(at_close(), filter=won),
        f"cycle_days{suffix}": Sum(DaysBetween(F("closed_at"), F("created_at")), filter=won),
        f"won_unconverted{suffix}": unconverted_count(at_close(), won),
    }


def rolled_closed_sums(period: Period, suffix: str) -> dict:
    """``closed_sums`` over the closed rollup's rows (``reports.rollups.closed_days``): the same figures,
    each row's amount converted at its day's rate and its summed age read in days."""
    won = Q(status=StageKind.WON, day__gte=period.start, day__lt=period.end)
    lost = Q(status=StageKind.LOST, day__gte=period.start, day__lt=period.end)
    value = at_day()
    return {
        f"won{suffix}": Sum("deals", filter=won, default=0),
        f"lost{suffix}": Sum("deals", filter=lost, default=0),
        f"won_value{suffix}": Sum(value, filter=won),
        f"cycle_days{suffix}": IntervalDays(Sum("cycle", filter=won)),
        f"won_unconverted{suffix}": Sum("deals", filter=won & unconverted(value), default=0),
    }


def rolled_won_since(day: datetime.date) -> Sum:
    """``won_since`` the start of ``day`` over the closed rollup's rows."""
    return Sum(at_day(), filter=Q(status=StageKind.WON, day__gte=day))


def open_then(moment: datetime.datetime, day: datetime.date, days: int) -> list[QuerySet]:
    """The deal versions of ``moment`` in the pipeline of ``[day, day + days)`` (``window_pipeline``),
    in the two parts of ``versions_at``: still current, or superseded since. No version is in both.

    Each part is asked per close day of the window, so that it is a range per day of the open
    versions' span index (which carries each version's span, owner and amount): the window's range
    with ``version_at``'s ``OR`` read every version ever due in it and kept a fifth (at 1,000,000
    deals an admin's 233,000 entries for 50,000 versions, 57-71 ms on three processes; 41-45 ms on
    one this way). No live deal is read: the version says whether the deal was open then, whose it
    was and where it was to close. A caller groups each part and adds the parts up (a ``UNION ALL``).
    """
    close_days = [day + datetime.timedelta(days=n) for n in range(days)]
    counted = window_pipeline(day, days) & Q(expected_close_date__in=close_days)
    return deals_as_of_parts(moment, where=counted)


def window_pipeline(day: datetime.date, days: int) -> Q:
    """The open versions, not omitted, expected to close in ``[day, day + days)``: what a window's
    pipeline sums."""
    return Q(
        status=StageKind.OPEN,
        expected_close_date__gte=day,
        expected_close_date__lt=day + datetime.timedelta(days=days),
    ) & ~Q(forecast_category=ForecastCategory.OMITTED)


def history_pipeline(
    conditions: Scope, owner_ids: list[int], day: datetime.date, days: int
) -> dict[int, Decimal]:
    """Per owner then, the pipeline of ``[day, day + days)`` as it stood at the start of ``day``
    (the deals' history: owner, stage, amount, close date and territory then); one query, the two
    parts of ``open_then`` grouped apart and added up. Only the versions in the window are read: an
    owner with none has no pipeline either way."""
    moment = start_of(day)
    first, second = (
        part.filter(conditions.deal_filter(territory_at=moment), owner_id__in=owner_ids)
        .values("owner_id")
        .annotate(pipeline=pipeline_in_window(day, days))
        .order_by()
        for part in open_then(moment, day, days)
    )
    found: dict[int, Decimal] = {}
    for row in first.union(second, all=True):
        if row["pipeline"] is not None:
            found[row["owner_id"]] = found.get(row["owner_id"], Decimal(0)) + row["pipeline"]
    return found


def accuracy_by_scope(
    keys: list[str], windows: dict[str, Period]
) -> dict[str, dict[str, float | None]]:
    """Per scope key and window: ``1 - MAPE`` (floored at 0) of the matured ``ACCURACY_METHOD``
    forecasts of ``HORIZON`` days whose window ended in it, and how many there were (one query)."""
    lag = datetime.timedelta(days=HORIZON)
    error = Abs(Cast(F(ACCURACY_METHOD) - F("actual"), FloatField())) / Cast(
        F("actual"), FloatField()
    )
    aggregates = {}
    first = min(window.start for window in windows.values())
    last = max(window.end for window in windows.values())
    for name, window in windows.items():
        # The window [as_of, as_of + HORIZON) ends in the period when as_of + HORIZON - 1 day falls in it.
        ended = Q(as_of__gte=window.start - lag + DAY, as_of__lt=window.end - lag + DAY)
        aggregates[f"mape_{name}"] = Avg(error, filter=ended)
        aggregates[f"n_{name}"] = Count("id", filter=ended)
    rows = (
        ForecastSnapshot.objects.filter(
            scope_key__in=keys,
            horizon=HORIZON,
            actual__gt=0,
            as_of__gte=first - lag + DAY,
            as_of__lt=last - lag + DAY,
        )
        .values("scope_key")
        .annotate(**aggregates)
        .order_by()
    )
    found = {}
    for row in rows:
        found[row["scope_key"]] = {
            name: None if row[f"mape_{name}"] is None else max(0.0, 1.0 - row[f"mape_{name}"])
            for name in windows
        }
    return found
