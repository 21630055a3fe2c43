"""Forecasts for 30, 60 and 90 days, as METRICS.md defines them, and a model learned from history.

The model-based forecast
------------------------
For a scope and a moment T it learns, from the scope's own stage
transitions in the year before T (and nothing after T):

1. For each open stage, how deals that entered it ended: every entry whose
   deal closed (won or lost) before T gives the number of days from the entry
   to the first close after it, and whether that close was a win. (Entries
   whose deal is still open at T are left out.)
2. For an open deal that has sat ``a`` days in stage ``s``, the chance that it
   is won inside the window of ``H`` days is then

       p = wins closing in [a, a + H) days  /  entries still unclosed after a days

   counted over the entries of ``s``. When the history is thin this is shrunk
   toward the stage's configured probability (spread over the window by the
   pooled timing of all stages), with a weight of ``PRIOR_WEIGHT`` entries.
3. New business: deals created and won inside a window, which no open deal
   predicts. A deal created at day ``x`` and won ``D`` days later falls inside a
   window ``[d, d + H)`` for ``H - D`` of the possible window starts, so the
   expected value per window is ``sum(amount * max(0, H - D)) / L`` over the
   deals created in the ``L`` days of history that could have finished.

The expected value is the sum over open deals of ``p * amount`` plus the new
business. Treating deals as independent wins (and new business as a compound
Poisson count) gives a variance, and the P10-P90 range is the normal
approximation ``expected -/+ 1.2816 * sigma`` (never below zero).
"""

import datetime
import math
from collections import defaultdict
from decimal import Decimal

from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Floor, Least
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from pipeline.models import Deal, ForecastCategory, Stage, StageKind, StageTransition
from pipeline.periods import start_of
from pipeline.scopes import Scope
from quotas.models import Quota
from reports.metrics import deal_rows
from reports.sql import DaysBetween, aggregate_over, later_in_deal

HORIZONS = (30, 60, 90)
# The forecasts read straight off sums of open deals, then every method compared with quota.
SUMMED_METHODS = ("pipeline", "best_case", "commit", "weighted")
METHODS = (*SUMMED_METHODS, "model")
# The sums of money over deal rows behind a forecast (``window_sums``).
MONEY_SUMS = (*SUMMED_METHODS, "overdue_value")
# Every figure of a forecast that a snapshot stores.
FORECAST_FIELDS = (
    *METHODS,
    "model_p10",
    "model_p90",
    "overdue_value",
    "won_in_window",
    "quota",
    "window_deals",
)
LOOKBACK_DAYS = 365
PRIOR_WEIGHT = 10
MAX_DAYS = 730
Z_80 = 1.2816  # the 10th and 90th percentiles of a normal distribution lie this many sigmas out


def money(value) -> Decimal:
    """A sum of money rounded to the cent (None and 0 give 0.00)."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def moment_of(as_of: datetime.date, now: datetime.datetime | None = None) -> tuple[datetime.datetime, bool]:
    """The instant a forecast "as of" a date looks from, and whether that is the live state."""
    now = now or timezone.now()
    if as_of >= timezone.localdate(now):
        return now, True
    return start_of(as_of), False


def forecast(
    scope: Scope,
    as_of: datetime.date,
    horizon: int,
    *,
    now: datetime.datetime | None = None,
    training: dict | None = None,
) -> dict:
    """Every forecast figure of METRICS.md for the window ``[as_of, as_of + horizon)``.

    ``training`` (from ``closing_stats``) lets several horizons share one pass over the history.
    """
    if horizon not in HORIZONS:
        raise ValueError(f"horizon must be one of {HORIZONS}")
    now = now or timezone.now()
    moment, live = moment_of(as_of, now)
    rows = deal_rows(scope, None if live else moment)
    sums = rows.aggregate(**window_sums(as_of, horizon))
    return forecast_result(
        scope=scope,
        as_of=as_of,
        horizon=horizon,
        live=live,
        sums=sums,
        won=won_in_window(scope, as_of, horizon, now=now),
        quota=prorated_quota(scope, as_of, horizon),
        model=model_forecast(scope, moment, horizon, rows=rows, training=training),
    )


def window_sums(as_of: datetime.date, horizon: int, suffix: str = "") -> dict:
    """The aggregates over deal rows behind the pipeline, best-case, commit and weighted forecasts."""
    window_end = as_of + datetime.timedelta(days=horizon)
    in_window = Q(status=StageKind.OPEN, expected_close_date__gte=as_of, expected_close_date__lt=window_end)
    counted = in_window & ~Q(forecast_category=ForecastCategory.OMITTED)
    committed = [ForecastCategory.COMMIT, ForecastCategory.BEST_CASE]
    return {
        f"pipeline{suffix}": Sum("amount", filter=counted),
        f"best_case{suffix}": Sum("amount", filter=in_window & Q(forecast_category__in=committed)),
        f"commit{suffix}": Sum("amount", filter=in_window & Q(forecast_category=ForecastCategory.COMMIT)),
        # Exact: amounts have cents and probabilities are whole percents.
        f"weighted{suffix}": Sum(
            F("amount") * F("stage__probability") / Value(100),
            filter=counted,
            output_field=DecimalField(max_digits=24, decimal_places=4),
        ),
        f"overdue_value{suffix}": Sum("amount", filter=Q(status=StageKind.OPEN, expected_close_date__lt=as_of)),
        f"window_deals{suffix}": Count("id", filter=counted),
    }


def forecast_result(
    *, scope: Scope, as_of: datetime.date, horizon: int, live: bool, sums: dict, won: Decimal, quota, model: dict
) -> dict:
    """The figures of one forecast from its sums (``window_sums``), the value won, the quota and the model."""
    result = {key: money(sums[key]) for key in MONEY_SUMS}
    result["window_deals"] = sums["window_deals"]
    result["won_in_window"] = won
    result["quota"] = quota
    result["model"] = model["expected"]
    result["model_p10"] = model["p10"]
    result["model_p90"] = model["p90"]
    result["gap"] = {
        method: (None if result["quota"] is None else result["quota"] - result["won_in_window"] - result[method])
        for method in METHODS
    }
    return {
        "scope": scope.key,
        "as_of": as_of,
        "horizon": horizon,
        "window_end": as_of + datetime.timedelta(days=horizon),
        "live": live,
        **result,
    }


def won_in_window(scope: Scope, as_of: datetime.date, horizon: int, *, now: datetime.datetime) -> Decimal:
    """Value won so far (as known now) with ``closed_at`` in the window."""
    start = start_of(as_of)
    end = min(start_of(as_of + datetime.timedelta(days=horizon)), now)
    won = deal_rows(scope).filter(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end)
    return money(won.aggregate(value=Sum("amount"))["value"])


def prorated_quota(scope: Scope, as_of: datetime.date, horizon: int) -> Decimal | None:
    """Quota targets in scope, each weighted by the share of its period inside the window.

    A team's target is its reps' quotas unless the manager has a quota of
    their own for the window; a team within a territory counts only its reps
    there. Quotas do not split by pipeline or product, so those scopes have none.
    """
    owners = scope.quota_owner_filter()
    if owners is None:
        return None
    last_day = as_of + datetime.timedelta(days=horizon - 1)
    overlapping = Quota.objects.filter(period_start__lte=last_day, period_end__gte=as_of)
    quotas = overlapping.filter(owners)
    if scope.team is not None and scope == Scope(team=scope.team):
        own = overlapping.filter(owner_id=scope.team)
        quotas = own if own.exists() else quotas.filter(owner__role="rep")
    elif scope.owner is None:
        quotas = quotas.filter(owner__role="rep")
    total = Decimal("0")
    for period_start, period_end, target in quotas.values_list("period_start", "period_end", "target"):
        inside = (min(period_end, last_day) - max(period_start, as_of)).days + 1
        total += target * inside / ((period_end - period_start).days + 1)
    return money(total)


def closing_stats(scope: Scope, moment: datetime.datetime) -> dict:
    """Per open stage: entries closed before ``moment``, by days to close and outcome (one query)."""
    stats: dict = defaultdict(lambda: {"won": defaultdict(int), "closed": defaultdict(int)})
    transitions = StageTransition.objects.filter(deal_id__in=deal_rows(scope).values("id"))
    for stage_id, days, won, entries in closing_counts(transitions, moment):
        stats[stage_id]["closed"][days] += entries
        if won:
            stats[stage_id]["won"][days] += entries
    return stats


def closing_counts(transitions: QuerySet, moment: datetime.datetime, group: dict | None = None) -> list[tuple]:
    """Entries into open stages in the ``LOOKBACK_DAYS`` before ``moment`` whose deal closed before
    ``moment``: ``(*group, stage id, whole days to the first close after the entry, won (1 or 0), entries)``.

    One ordered pass over the year's transitions: each row sees its deal's
    first close after it through a window (a win and a loss at the same instant
    count as a win). ``group`` adds columns to group by, e.g. a deal's owner.
    """
    group = group or {}
    moves = (
        transitions.filter(at__gte=moment - datetime.timedelta(days=LOOKBACK_DAYS), at__lt=moment)
        .order_by()
        .annotate(
            next_close=later_in_deal(Min("at", filter=Q(to_stage__kind__in=[StageKind.WON, StageKind.LOST]))),
            next_win=later_in_deal(Min("at", filter=Q(to_stage__kind=StageKind.WON))),
        )
        .annotate(days=Least(Cast(Floor(DaysBetween(F("next_close"), F("at"))), IntegerField()), Value(MAX_DAYS)))
        .values("to_stage_id", "days", "next_close", "next_win", stage_kind=F("to_stage__kind"), **group)
    )
    columns = ", ".join([*group, "to_stage_id", "days", "CASE WHEN next_win = next_close THEN 1 ELSE 0 END"])
    return aggregate_over(
        moves,
        f"{columns}, COUNT(*)",
        "stage_kind = %s AND next_close IS NOT NULL",
        (StageKind.OPEN,),
        ", ".join(str(n) for n in range(1, len(group) + 4)),
    )


def elapsed_days(moment: datetime.datetime):
    """Whole days an open deal has sat in its stage at ``moment`` (at most ``MAX_DAYS``), in SQL."""
    return Least(
        Cast(Floor(DaysBetween(Value(moment, output_field=DateTimeField()), F("stage_entered_at"))), IntegerField()),
        Value(MAX_DAYS),
    )


def model_forecast(
    scope: Scope, moment: datetime.datetime, horizon: int, *, rows=None, training: dict | None = None
) -> dict:
    """The model's expected value won in ``[moment, moment + horizon)`` with its P10-P90 range."""
    rows = rows if rows is not None else deal_rows(scope)
    stats = training if training is not None else closing_stats(scope, moment)
    open_groups = (
        rows.filter(status=StageKind.OPEN)
        .annotate(elapsed=elapsed_days(moment))
        .values("stage_id", "elapsed")
        .annotate(value=Sum("amount"), value_sq=Sum(F("amount") * F("amount")))
        .order_by()
    )
    return model_estimate(
        stats=stats,
        open_groups={(g["stage_id"], g["elapsed"]): (g["value"], g["value_sq"]) for g in open_groups},
        probabilities=dict(Stage.objects.filter(kind=StageKind.OPEN).values_list("pk", "probability")),
        horizon=horizon,
        new_business=_new_business(scope, moment, horizon),
    )


class _Histogram:
    """Counts by whole days (0 to ``MAX_DAYS``), summed over any range of days in constant time."""

    def __init__(self, counts: dict):
        below = [0] * (MAX_DAYS + 2)  # below[k]: how many fall on days before k
        for day, n in counts.items():
            below[min(max(day, 0), MAX_DAYS) + 1] += n
        for k in range(1, len(below)):
            below[k] += below[k - 1]
        self._below = below
        self.total = below[-1]

    def between(self, low: int, high: int | None = None) -> int:
        """How many fall on days ``low <= day < high`` (no upper end when ``high`` is None)."""
        last = MAX_DAYS + 1
        high = last if high is None else min(max(high, 0), last)
        return max(0, self._below[high] - self._below[min(max(low, 0), last)])


def model_estimate(
    *, stats: dict, open_groups: dict, probabilities: dict, horizon: int, new_business: tuple[float, float]
) -> dict:
    """The model's figures from its training (``closing_stats``), the open deals grouped by
    ``(stage id, days in stage)`` into ``(value, value squared)``, the stages' configured
    probabilities and the new business expected (mean, variance)."""
    pooled: dict = defaultdict(int)
    for stage_stats in stats.values():
        for day, n in stage_stats["won"].items():
            pooled[day] += n
    pooled_won = _Histogram(pooled)
    # The prior: the configured win chance, spread over time by the pooled timing of wins.
    timing = pooled_won.between(0, horizon) / pooled_won.total if pooled_won.total else min(1.0, horizon / 90)
    histograms = {
        stage_id: (_Histogram(stage_stats["closed"]), _Histogram(stage_stats["won"]))
        for stage_id, stage_stats in stats.items()
    }
    empty = (_Histogram({}), _Histogram({}))
    expected = 0.0
    variance = 0.0
    # Summed in a fixed order so that the same groups always give the same floating-point total.
    for (stage_id, elapsed), (value, value_sq) in sorted(open_groups.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        probability = probabilities.get(stage_id)
        if probability is None:
            continue
        elapsed = max(0, elapsed or 0)
        closed, won = histograms.get(stage_id, empty)
        unclosed = closed.between(elapsed)
        wins_in_window = won.between(elapsed, elapsed + horizon)
        prior = probability / 100 * timing
        p = (wins_in_window + PRIOR_WEIGHT * prior) / (unclosed + PRIOR_WEIGHT)
        p = min(1.0, max(0.0, p))
        expected += p * float(value or 0)
        variance += p * (1 - p) * float(value_sq or 0)

    new_mean, new_var = new_business
    expected += new_mean
    variance += new_var
    sigma = math.sqrt(max(variance, 0.0))
    return {
        "expected": money(expected),
        "p10": money(max(0.0, expected - Z_80 * sigma)),
        "p90": money(expected + Z_80 * sigma),
        "new_business": money(new_mean),
    }


def _new_business(scope: Scope, moment: datetime.datetime, horizon: int) -> tuple[float, float]:
    """Expected value (and its variance) of deals created and won inside one window (one query)."""
    sums = Deal.objects.filter(scope.deal_filter(), deleted_at__isnull=True).aggregate(
        **new_business_sums(moment, horizon)
    )
    return new_business_from(moment, horizon, **sums)


def new_business_sums(moment: datetime.datetime, horizon: int, suffix: str = "") -> dict:
    """The aggregates over deal rows behind the new business of a window: what was created in the
    ``LOOKBACK_DAYS`` that could have finished, and the won part weighted by its slack."""
    span_start = moment - datetime.timedelta(days=LOOKBACK_DAYS)
    span_end = moment - datetime.timedelta(days=horizon)
    created = Q(created_at__gte=span_start, created_at__lt=span_end)
    slack = Value(float(horizon)) - DaysBetween(F("closed_at"), F("created_at"))
    won_fast = created & Q(status=StageKind.WON, closed_at__lt=moment) & Q(GreaterThan(slack, 0))
    return {
        f"weighted{suffix}": Sum(F("amount") * slack, filter=won_fast, output_field=FloatField()),
        f"weighted_sq{suffix}": Sum(F("amount") * F("amount") * slack, filter=won_fast, output_field=FloatField()),
        f"first{suffix}": Min("created_at", filter=created),
    }


def new_business_from(
    moment: datetime.datetime, horizon: int, *, weighted: float | None, weighted_sq: float | None, first
) -> tuple[float, float]:
    """Mean and variance of the new business per window, from ``new_business_sums``."""
    if first is None:
        return 0.0, 0.0
    span_start = moment - datetime.timedelta(days=LOOKBACK_DAYS)
    span_end = moment - datetime.timedelta(days=horizon)
    length = max(1.0, (span_end - max(first, span_start)).total_seconds() / 86400)
    return (weighted or 0.0) / length, (weighted_sq or 0.0) / length
