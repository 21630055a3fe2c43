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
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Floor, Least
from django.utils import timezone

from pipeline.models import Deal, ForecastCategory, Stage, StageKind, StageTransition
from quotas.models import Quota
from reports.metrics import deal_rows, start_of
from reports.scopes import Scope
from reports.sql import DaysBetween

HORIZONS = (30, 60, 90)
METHODS = ("pipeline", "best_case", "commit", "weighted", "model")
LOOKBACK_DAYS = 365
PRIOR_WEIGHT = 10
MAX_DAYS = 730
Z_80 = 1.2816  # the 10th and 90th percentiles of a normal distribution lie this many sigmas out


def _money(value) -> Decimal:
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
    window_end = as_of + datetime.timedelta(days=horizon)
    rows = deal_rows(scope, None if live else moment)

    in_window = Q(status=StageKind.OPEN, expected_close_date__gte=as_of, expected_close_date__lt=window_end)
    counted = in_window & ~Q(forecast_category=ForecastCategory.OMITTED)
    figures = rows.aggregate(
        pipeline=Sum("amount", filter=counted),
        best_case=Sum(
            "amount",
            filter=in_window & Q(forecast_category__in=[ForecastCategory.COMMIT, ForecastCategory.BEST_CASE]),
        ),
        commit=Sum("amount", filter=in_window & Q(forecast_category=ForecastCategory.COMMIT)),
        weighted=Sum(
            F("amount") * F("stage__probability") / Value(100),
            filter=counted,
            output_field=FloatField(),
        ),
        overdue_value=Sum("amount", filter=Q(status=StageKind.OPEN, expected_close_date__lt=as_of)),
        window_deals=Count("id", filter=counted),
    )
    result = {key: _money(value) for key, value in figures.items() if key != "window_deals"}
    result["window_deals"] = figures["window_deals"]
    result["won_in_window"] = won_in_window(scope, as_of, horizon, now=now)
    result["quota"] = prorated_quota(scope, as_of, horizon)
    model = model_forecast(scope, moment, horizon, rows=rows, training=training)
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
        "window_end": window_end,
        "live": live,
        **result,
    }


def won_in_window(scope: Scope, as_of: datetime.date, horizon: int, *, now: datetime.datetime) -> Decimal:
    """Value won so far (as known now) with ``closed_at`` in the window."""
    start = start_of(as_of)
    end = min(start_of(as_of + datetime.timedelta(days=horizon)), now)
    won = deal_rows(scope).filter(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end)
    return _money(won.aggregate(value=Sum("amount"))["value"])


def prorated_quota(scope: Scope, as_of: datetime.date, horizon: int) -> Decimal | None:
    """Quota targets in scope, each weighted by the share of its period inside the window.

    A team's target is its reps' quotas unless the manager has a quota of
    their own for the window. Quotas do not split by pipeline or product, so
    those scopes have none.
    """
    owners = scope.quota_owner_filter()
    if owners is None:
        return None
    last_day = as_of + datetime.timedelta(days=horizon - 1)
    overlapping = Quota.objects.filter(period_start__lte=last_day, period_end__gte=as_of)
    quotas = overlapping.filter(owners)
    if scope.team is not None and scope.owner is None:
        own = overlapping.filter(owner_id=scope.team)
        quotas = own if own.exists() else quotas.filter(owner__role="rep")
    elif scope.owner is None:
        quotas = quotas.filter(owner__role="rep")
    total = Decimal("0")
    for period_start, period_end, target in quotas.values_list("period_start", "period_end", "target"):
        inside = (min(period_end, last_day) - max(period_start, as_of)).days + 1
        total += target * inside / ((period_end - period_start).days + 1)
    return _money(total)


def closing_stats(scope: Scope, moment: datetime.datetime) -> dict:
    """Per open stage: entries closed before ``moment``, by days to close and outcome (one query)."""
    closes = StageTransition.objects.filter(
        deal_id=OuterRef("deal_id"),
        at__gt=OuterRef("at"),
        at__lt=moment,
        to_stage__kind__in=[StageKind.WON, StageKind.LOST],
    ).order_by("at", "pk")
    entries = (
        StageTransition.objects.filter(
            deal_id__in=deal_rows(scope).values("id"),
            to_stage__kind=StageKind.OPEN,
            at__gte=moment - datetime.timedelta(days=LOOKBACK_DAYS),
            at__lt=moment,
        )
        .annotate(
            closed_at=Subquery(closes.values("at")[:1], output_field=DateTimeField()),
            close_kind=Subquery(closes.values("to_stage__kind")[:1]),
        )
        .filter(closed_at__isnull=False)
        .annotate(
            days=Least(
                Cast(Floor(DaysBetween(F("closed_at"), F("at"))), IntegerField()),
                Value(MAX_DAYS),
            )
        )
    )
    stats: dict = defaultdict(lambda: {"won": defaultdict(int), "closed": defaultdict(int)})
    rows = entries.values("to_stage_id", "days", "close_kind").annotate(n=Count("pk")).order_by()
    for row in rows:
        stats[row["to_stage_id"]]["closed"][row["days"]] += row["n"]
        if row["close_kind"] == StageKind.WON:
            stats[row["to_stage_id"]]["won"][row["days"]] += row["n"]
    return stats


def _count_from(histogram: dict, low: int, high: int | None = None) -> int:
    return sum(n for day, n in histogram.items() if day >= low and (high is None or day < high))


def model_forecast(
    scope: Scope, moment: datetime.datetime, horizon: int, *, rows=None, training: dict | None = None
) -> dict:
    """The model's expected value won in ``[moment, moment + horizon)`` with its P10-P90 range."""
    rows = rows if rows is not None else deal_rows(scope)
    stats = training if training is not None else closing_stats(scope, moment)
    stages = {stage.pk: stage for stage in Stage.objects.filter(kind=StageKind.OPEN)}
    pooled_won: dict = defaultdict(int)
    for stage_stats in stats.values():
        for day, n in stage_stats["won"].items():
            pooled_won[day] += n
    pooled_total = sum(pooled_won.values())

    open_groups = (
        rows.filter(status=StageKind.OPEN)
        .annotate(
            elapsed=Least(
                Cast(Floor(DaysBetween(Value(moment, output_field=DateTimeField()), F("stage_entered_at"))),
                     IntegerField()),
                Value(MAX_DAYS),
            )
        )
        .values("stage_id", "elapsed")
        .annotate(deals=Count("id"), value=Sum("amount"), value_sq=Sum(F("amount") * F("amount")))
        .order_by()
    )
    expected = 0.0
    variance = 0.0
    for group in open_groups:
        stage = stages.get(group["stage_id"])
        if stage is None:
            continue
        elapsed = max(0, group["elapsed"] or 0)
        stage_stats = stats.get(stage.pk, {"won": {}, "closed": {}})
        unclosed = _count_from(stage_stats["closed"], elapsed)
        wins_in_window = _count_from(stage_stats["won"], elapsed, elapsed + horizon)
        # The prior: the configured win chance, spread over time by the pooled timing of wins.
        timing = (
            _count_from(pooled_won, 0, horizon) / pooled_total if pooled_total else min(1.0, horizon / 90)
        )
        prior = stage.probability / 100 * timing
        p = (wins_in_window + PRIOR_WEIGHT * prior) / (unclosed + PRIOR_WEIGHT)
        p = min(1.0, max(0.0, p))
        value = float(group["value"] or 0)
        expected += p * value
        variance += p * (1 - p) * float(group["value_sq"] or 0)

    new_mean, new_var = _new_business(scope, moment, horizon)
    expected += new_mean
    variance += new_var
    sigma = math.sqrt(max(variance, 0.0))
    return {
        "expected": _money(expected),
        "p10": _money(max(0.0, expected - Z_80 * sigma)),
        "p90": _money(expected + Z_80 * sigma),
        "new_business": _money(new_mean),
    }


def _new_business(scope: Scope, moment: datetime.datetime, horizon: int) -> tuple[float, float]:
    """Expected value (and its variance) of deals created and won inside one window (one query)."""
    span_start = moment - datetime.timedelta(days=LOOKBACK_DAYS)
    span_end = moment - datetime.timedelta(days=horizon)
    created = Deal.objects.filter(
        scope.deal_filter(), deleted_at__isnull=True, created_at__gte=span_start, created_at__lt=span_end
    )
    won_fast = created.filter(status=StageKind.WON, closed_at__lt=moment).annotate(
        slack=Value(float(horizon)) - DaysBetween(F("closed_at"), F("created_at"))
    ).filter(slack__gt=0)
    sums = won_fast.aggregate(
        weighted=Sum(F("amount") * F("slack"), output_field=FloatField()),
        weighted_sq=Sum(F("amount") * F("amount") * F("slack"), output_field=FloatField()),
    )
    first = created.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return 0.0, 0.0
    length = max(1.0, (span_end - max(first, span_start)).total_seconds() / 86400)
    return (sums["weighted"] or 0.0) / length, (sums["weighted_sq"] or 0.0) / length
