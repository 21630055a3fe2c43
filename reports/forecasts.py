"""Forecasts for 30, 60 and 90 days, as METRICS.md defines them, and a model learned from history.

The model-based forecast
------------------------
For a scope and a moment T it learns, from the stage transitions in the year
before T of the scope's deals as they stood at T (and nothing after T):

1. For each open stage, what had become of every entry into it by T: the days
   it stayed (to the deal's next transition, if any), the days to the first
   close after it and whether that was a win (if it had closed), and for an
   entry still open at T, the days it has been watched.
2. An open deal that has sat ``a`` days in stage ``s`` is compared with the
   entries of ``s`` that were still in ``s`` after ``a`` days, followed
   wherever they went next. Its chance of a win inside the window of ``H``
   days is the share of them won between ``a`` and ``a + H`` days after their
   entry, a cumulative incidence of wins against losses in which an entry
   still open at T counts for the days it was watched and is censored after
   (``entry_chances``). Entries count by recency, ``0.5 ** (age / 90 days)``,
   so that a change in win rates shows within a quarter rather than a year:
   the last quarter weighs about as much as the three before it. With ``n``
   such entries followed beyond ``a`` days (the effective number of weighted
   ones, ``(sum w)^2 / sum w^2``, so thin recent data is still shrunk), it
   is shrunk with a weight of ``PRIOR_WEIGHT`` entries, ``(n * share +
   PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)``, toward the stage's chance at
   ``a // 2`` days (itself so shrunk, down to age 0), and at age 0 toward the
   stage's configured probability (spread over the window by the timing of the
   stage's own wins, all stages' pooled when it has none: a deal entering the
   first stage wins later than one entering the last): a deal stalled longer than any entry was followed
   takes the chance of younger ages, not a fresh deal's configured one.
   Sizes: each entry also weighs ``2 ** band``, its deal's size band as it stood
   at T (``size_band``, ``floor(log2 amount)`` in the reporting currency), and
   the chance applied to the open value of a stage and age is moved from the
   share by count toward the share of *value* won, with the weight of its
   effective number of entries against ``PRIOR_WEIGHT`` (``Training.value_chance``):
   where large deals win less or later, the open value, mostly large deals,
   gets their rate rather than the mix's. That difference is shrunk toward the
   difference at ``a // 2`` days, as the chance is (``VALUE_CASCADE``), so an
   age few sized entries reach keeps what younger ages showed.
3. New business: deals created and won inside a window, which no open deal
   predicts. A deal created on day ``x`` of the window is won inside it with
   the chance a fresh entry of its pipeline's first stage is won within ``H -
   x`` days: the chance of step 2 at age 0, with the same recency weights and
   censoring, so a drop in the win rate of new deals shows as soon as their
   entries show it (a deal created 60 days ago and still open counts for the
   days it was watched). Summed over the window's days, times the deals
   created per day and the mean value of the year's wins that could fall in
   a window, each weighted by the window starts it falls in (large deals
   that take longer than the window lend it nothing)
   (``new_business_chance``, ``arrivals_estimate``). Without a win in the
   year it falls back on the year's average: ``sum(amount * max(0, H - D)) /
   L`` over the deals created in the ``L`` days that could have finished (a
   deal won ``D`` days after creation falls inside ``H - D`` of the window
   starts).

4. A change the year's entries are slow to show (``exit_shift``): a chance of
   a win 60-90 days after entry can only be read from entries that old, but
   whether a deal leaving a stage went on or was lost shows at once. For each
   stage, the exits of about the last three weeks (weighing ``0.5 ** (days since /
   RECENT_HALF_LIFE_DAYS)``) are compared with the long run's share going on
   among exits after as long in the stage (the year without the recent exits);
   the log ratio of what went on to what the long run expected is shrunk by its
   sampling noise (``shrunk_change``: nothing when it is within the noise). A
   deal's chance is scaled by the shifts of every stage on its path to a win
   (it and the open stages after it), and the new business by its pipeline's
   first stage's path.
5. How much new business is created now (``arrival_change``): the deals created
   in the ``H`` days just past against the span's rate, the log ratio shrunk by
   its Poisson noise, scales the new business (a growing, shrinking or seasonal
   business).
6. Wins of deals lost at the moment that come back (``reopened_overlap``): a
   lost deal is in no open stage and is not new, yet some are reopened and won.
   The value of the year's wins whose deal had been lost, each weighted by the
   window starts at which it was lost and then won inside the window (as the
   new business weighs its wins by slack), over the span's days: the value
   such wins brought a window on average, with its compound Poisson variance.
7. Optional, off by default (``CHAINED``, ``Training.chained``): chances chained through the
   stages. Each entry also
   records where it went when it left its stage (``entry_counts``), and the share of step 2 is
   replaced, before the shrinkage, by ``sum over days d >= a and destinations j of S(d) h_j(d)
   W_j(a + H - d)``: the share of the entries in ``s`` at age ``a`` still there on day ``d``, the
   share of those at risk leaving for ``j`` that day, and the chance a fresh entry of ``j`` is won
   within what is left of the window (chained in turn; 1 for a win, 0 for a loss). Each stage's
   exits are read from its own entries, so a change in a later stage reaches an early deal's
   chance as soon as that stage's exits show it. New business sums the first stage's chained curve.

The expected value is the sum over open deals of ``p * amount`` plus the new
business and the reopened wins. Its variance adds these parts: each deal's own win, ``p * (1 - p) *
amount^2``; the uncertainty of the learned chances, a Beta posterior's
``p * (1 - p) / (n + PRIOR_WEIGHT + 1)`` (``rate_variance``), shared by every
deal of a stage (its chances at all ages rest on nested sets of the same
entries, so their errors are added before squaring: ``(sum of amount *
sqrt(Var p))^2`` per stage); and the new business's, the compound Poisson one
(``rate * area * E[amount^2]``, with the learned chance's own uncertainty) or,
when larger, the variance of the value created and won inside each whole past
window of the history (``past_windows``) relative to their mean, at the mean
now, since new business comes in waves; and what is left of the uncertainty of the shifts (shared by every
deal on a path, so added before squaring) and of the arrival change (``mean^2
* Var``). The P10-P90 range is ``expected -/+ q * sigma`` (never below zero):
``q`` is the normal's 1.2816 when every part of the variance is worked out, and
a Student t's 90th percentile when the new business's spread was read off a
few past windows (``band_quantile``: four 90-day windows leave three degrees of
freedom, so the spread itself is uncertain and the range is wider).

Money is in the reporting currency (``pipeline.money``): open deals convert
at the rate of the as-of date, won deals (the value won in the window and the
new business learned from history) at their close date. A deal whose
currency has no rate by then is left out and listed under ``unconverted``.
"""

import datetime
import functools
import math
import operator
from collections import defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import NamedTuple

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    F,
    FloatField,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, FirstValue, Floor, Greatest, Least
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from pipeline.models import Deal, ForecastCategory, Stage, StageKind, StageTransition
from pipeline.money import (
    CONVERTED,
    RateIn,
    RateMap,
    at_close,
    converted,
    merge_unconverted,
    reporting_currency,
    unconverted,
    unconverted_by_currency,
    unconverted_count,
)
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from reports.metrics import closed_deal_rows, deal_rows
from reports.sql import DaysApart, DaysBetween, FloorLog2, aggregate_over, later_in_deal
from reports.targets import scope_target

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
    "unconverted",
)
LOOKBACK_DAYS = 365
# An entry's weight in the training halves every this many days of age (``entry_counts``).
HALF_LIFE_DAYS = 90
# Weights are counted in millionths of a fresh entry, whole numbers, so that sums are exact in any order.
WEIGHT_SCALE = 1_000_000
PRIOR_WEIGHT = 10
# The chance of an open deal and of new business chained through the stages its exits go to
# (``Training.chained``) rather than read off its stage's entries followed to their close alone.
# Off: on two draws of every world it moved the model's MAPE over weighted's by 0.002 on the nine
# worlds (0.310 to 0.308), 0.003 on the held-out ones (0.447 to 0.444) and made the sealed ones
# worse (0.550 to 0.573, ``two-segments``); benchmarks/README.md, sixth round.
CHAINED = False
# A change seen in the recent exits of a pipeline's first stage, the newest deals, is carried to the
# later stages on the path of new business (``model_estimate``'s ``path_shift``), whose own recent
# exits are of older deals: "new_business" (default), "all" (open deals' stages ahead too) or None.
# On the same draws (benchmarks/README.md, seventh round), "new_business" took the held-out worlds'
# ratio from 0.445 to 0.427 and left the nine (0.284 to 0.285) and the sealed and fresh ones (0.517
# to 0.516) as they were; "all" took the held-out ones to 0.411 but the sealed and fresh to 0.533.
CARRIED_SHIFT = "new_business"
# The shifts' own size counts as their doubt (eighth round, ``model_estimate``'s ``path_shift``): a path's
# summed shift ``s`` adds ``s^2`` to its variance on the log scale, one sigma as large as the change it
# applies. How much of a change seen in three weeks of exits the window's exits will carry is not known
# from them: the chances it scales were learned from entries older than the long run it is measured
# against (after a fall it is too small), and a change may fade (seasons). On the same draws
# (benchmarks/README.md, eighth round) it took the band's coverage on the held-out worlds from 80% to
# 84% (``win-rate-shift`` at 90 days 55% to 78%), the fresh ones' from 70% to 76%, and left the nine
# worlds' at 79-80%; the centre, and so every MAPE, is unchanged. False: the shrinkage's ``k v`` alone.
SHIFT_DOUBT = True
# The value's correction of a stage's chance (the share of value won against the share of entries)
# shrunk toward the correction at half the age, as the chance is, rather than toward none (tenth
# round, ``value_gap`` in ``model_estimate``). Large, slow deals are most of the value still in a stage
# at ages few sized entries reach. On the same draws (benchmarks/README.md, tenth round) it took the
# sealed ``two-segments`` from 0.86/0.48/0.28 MAPE to 0.58/0.36/0.26 at 30/60/90 days and
# ``segment-mix`` from 0.36 to 0.32 at 30, and moved the one-size worlds by 0.01 or less.
VALUE_CASCADE = True
# Stage exits weigh ``0.5 ** (days since the exit / RECENT_HALF_LIFE_DAYS)`` when the recent ones are
# compared with the long run (``Training.shift``). Their mean age is ``RECENT_HALF_LIFE_DAYS / ln 2``:
# at 15 days about three weeks, within the shortest horizon (at 30 it was six weeks, and a change
# showed in the forecast a month and a half late). The noise of fewer recent exits is the shrinkage's
# to weigh (``shrunk_change``), and what is left of it widens the band.
RECENT_HALF_LIFE_DAYS = 15
MAX_DAYS = 730
# The destinations of a stage exit that are not an open stage (``entry_counts``, ``Training.moves``).
WON_EXIT, LOST_EXIT, UNKNOWN_EXIT = -1, -2, -3
Z_80 = 1.2816  # the 10th and 90th percentiles of a normal distribution lie this many sigmas out


def money(value) -> Decimal:
    """A sum of money rounded to the cent (None and 0 give 0.00)."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def moment_of(
    as_of: datetime.date, now: datetime.datetime | None = None
) -> tuple[datetime.datetime, bool]:
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
    won = won_rows(scope, as_of, horizon, now=now)
    won_sums = won.aggregate(value=Sum(at_close()), unconverted=unconverted_count(at_close(), Q()))
    training = training if training is not None else closing_stats(scope, moment, live)
    missing = []
    if sums["unconverted"] or won_sums["unconverted"]:
        missing = merge_unconverted(
            unconverted_by_currency(rows, window_unconverted(as_of, horizon)),
            unconverted_by_currency(won, unconverted(at_close())),
        )
    return forecast_result(
        scope=scope,
        as_of=as_of,
        horizon=horizon,
        live=live,
        sums=sums,
        won=money(won_sums["value"]),
        quota=prorated_quota(scope, as_of, horizon),
        model=model_forecast(scope, moment, horizon, rows=rows, training=training),
        unconverted=missing,
    )


def _window(as_of: datetime.date, horizon: int) -> tuple[Q, Q, Q]:
    """The open deals in the window, those of them counted (not omitted), and the overdue ones."""
    window_end = as_of + datetime.timedelta(days=horizon)
    in_window = Q(
        status=StageKind.OPEN, expected_close_date__gte=as_of, expected_close_date__lt=window_end
    )
    counted = in_window & ~Q(forecast_category=ForecastCategory.OMITTED)
    return in_window, counted, Q(status=StageKind.OPEN, expected_close_date__lt=as_of)


def window_sums(as_of: datetime.date, horizon: int, suffix: str = "") -> dict:
    """The aggregates over deal rows behind the pipeline, best-case, commit and weighted forecasts,
    in the reporting currency at the rates of ``as_of``."""
    in_window, counted, overdue = _window(as_of, horizon)
    committed = [ForecastCategory.COMMIT, ForecastCategory.BEST_CASE]
    value = converted(on=as_of)
    return {
        f"pipeline{suffix}": Sum(value, filter=counted),
        f"best_case{suffix}": Sum(value, filter=in_window & Q(forecast_category__in=committed)),
        f"commit{suffix}": Sum(
            value, filter=in_window & Q(forecast_category=ForecastCategory.COMMIT)
        ),
        # Exact in the reporting currency; a converted amount has the rate's places.
        f"weighted{suffix}": Sum(
            value * F("stage__probability") / Value(100),
            filter=counted,
            output_field=DecimalField(max_digits=40, decimal_places=14),
        ),
        f"overdue_value{suffix}": Sum(value, filter=overdue),
        f"window_deals{suffix}": Count("id", filter=counted),
        f"unconverted{suffix}": unconverted_count(value, counted | overdue),
    }


def window_unconverted(as_of: datetime.date, horizon: int) -> Q:
    """The deals ``window_sums`` leaves out for want of a rate on ``as_of``: counted or overdue."""
    _, counted, overdue = _window(as_of, horizon)
    return (counted | overdue) & unconverted(converted(on=as_of))


def forecast_result(
    *,
    scope: Scope,
    as_of: datetime.date,
    horizon: int,
    live: bool,
    sums: dict,
    won: Decimal,
    quota,
    model: dict,
    unconverted: list[dict],
) -> dict:
    """The figures of one forecast from its sums (``window_sums``), the value won, the quota and the model;
    ``unconverted`` lists per currency the deals left out for want of a rate."""
    result = {key: money(sums[key]) for key in MONEY_SUMS}
    result["window_deals"] = sums["window_deals"]
    result["unconverted"] = unconverted
    result["won_in_window"] = won
    result["quota"] = quota
    result["model"] = model["expected"]
    result["model_p10"] = model["p10"]
    result["model_p90"] = model["p90"]
    result["gap"] = {
        method: (
            None
            if result["quota"] is None
            else result["quota"] - result["won_in_window"] - result[method]
        )
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


def won_rows(
    scope: Scope, as_of: datetime.date, horizon: int, *, now: datetime.datetime
) -> QuerySet:
    """The deals won so far (as known now) with ``closed_at`` in the window; their value converts at
    their close dates. Past the as-of date a deal counts in the territory it was won in
    (``closed_deal_rows``), so a later realignment leaves a past forecast as it was."""
    start = start_of(as_of)
    end = min(start_of(as_of + datetime.timedelta(days=horizon)), now)
    rows = deal_rows(scope) if moment_of(as_of, now)[1] else closed_deal_rows(scope)
    return rows.filter(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end)


def prorated_quota(scope: Scope, as_of: datetime.date, horizon: int) -> Decimal | None:
    """Quota targets in scope, each weighted by the share of its period inside the window (``scope_target``)."""
    target = scope_target(scope, Period(as_of, as_of + datetime.timedelta(days=horizon)))
    return None if target is None else target.amount


def size_band(value) -> Case:
    """The size band of an amount in the reporting currency, in SQL: ``floor(log2(value))``, so a band
    spans a factor of two (NULL for no amount, none above zero, or no rate)."""
    return Case(
        When(GreaterThan(value, 0), then=FloorLog2(value)),
        default=None,
        output_field=IntegerField(),
    )


def deal_band(day: datetime.date) -> Case:
    """``size_band`` of a deal row's amount at the rates of ``day``."""
    return size_band(converted(on=day))


def transition_band(moment: datetime.datetime, live: bool) -> dict:
    """A transition's ``band`` column: the ``size_band`` of its deal's amount as it stood at ``moment``
    (the live row when ``live``, else its latest history row by then), at the rates of that day."""
    day = timezone.localdate(moment)
    if live:
        amount = F("deal__amount")
        value = Case(
            When(deal__currency=reporting_currency(), then=amount),
            default=amount * RateIn(RateMap(day), F("deal__currency")),
            output_field=CONVERTED,
        )
        return {"band": size_band(value)}
    then = Deal.history.filter(id=OuterRef("deal_id"), history_date__lte=moment).order_by(
        "-history_date", "-history_id"
    )
    return {"band": Subquery(then.values(size=deal_band(day))[:1], output_field=IntegerField())}


def closing_stats(scope: Scope, moment: datetime.datetime, live: bool = False) -> "Training":
    """Per open stage: the entries of the year before ``moment``, counted by what had become of them by then
    (``entry_counts``) and by their deal's size band then (``transition_band``), over the scope's deals
    as they stood at ``moment`` (live rows when ``live``). One query."""
    training = Training()
    deals = deal_rows(scope, None if live else moment).values("id")
    for band, stage_id, stay, close, won, observed, exit_to, *weights in entry_counts(
        StageTransition.objects.filter(deal_id__in=deals), moment, transition_band(moment, live)
    ):
        training.add(stage_id, (stay, close, won, observed), *weights, band=band, exit_to=exit_to)
    return training


def entry_counts(
    transitions: QuerySet,
    moment: datetime.datetime,
    group: dict | None = None,
    stream: bool = False,
) -> list[tuple] | Iterator[tuple]:
    """Entries into open stages in the ``LOOKBACK_DAYS`` before ``moment``, as known at ``moment``:
    ``(*group, stage id, stay, close, won, observed, weight, squared weight, recent weight, its square,
    overlap)``.

    ``stay`` is the whole days from the entry to the deal's next transition
    (None while it is still in the stage), ``close`` those to its first close
    after the entry (None while open), ``won`` 1 when that close was a win (a
    win and a loss at the same instant count as a win), and ``observed`` the
    whole days from the entry to ``moment`` for an entry not closed by then
    (None otherwise). Days are capped at ``MAX_DAYS``. One ordered pass over
    the year's transitions: each row sees its deal's later ones through a
    window. ``group`` adds columns to group by, e.g. a deal's owner. ``stream``: the rows come
    as they are read (``aggregate_over``), for a result too big to hold twice.

    An entry weighs ``0.5 ** (age / HALF_LIFE_DAYS)``, its age the days from
    the entry to ``moment``: win rates change, and a chance learned from the
    year with every entry alike lags a change by half a year. The weight and
    its square come as whole ``WEIGHT_SCALE``ths, exact sums that add up the
    same over cells as over a scope; the square gives the effective number of
    entries (``entry_chances``). An entry that has left the stage also weighs
    ``0.5 ** (days since it left / RECENT_HALF_LIFE_DAYS)`` (0 while it is still
    in the stage): the recent exits that ``Training.shift`` compares with the long run;
    ``overlap`` is the product of its two weights, the share of its weight the long
    run leaves to the recent exits.
    """
    group = group or {}

    def days_since_entry(later):
        return Least(Cast(Floor(DaysApart(later, F("at"))), IntegerField()), Value(MAX_DAYS))

    moves = (
        transitions.filter(at__gte=moment - datetime.timedelta(days=LOOKBACK_DAYS), at__lt=moment)
        .order_by()
        .annotate(
            next_move=later_in_deal(Min("at")),
            next_close=later_in_deal(
                Min("at", filter=Q(to_stage__kind__in=[StageKind.WON, StageKind.LOST]))
            ),
            next_win=later_in_deal(Min("at", filter=Q(to_stage__kind=StageKind.WON))),
            # Where the entry went when it left the stage: its deal's next transition's stage.
            next_stage=later_in_deal(FirstValue("to_stage_id")),
            next_kind=later_in_deal(FirstValue("to_stage__kind")),
        )
        .annotate(
            stay=days_since_entry(F("next_move")),
            days=days_since_entry(F("next_close")),
            observed=days_since_entry(Value(moment, output_field=DateTimeField())),
            age=DaysApart(Value(moment, output_field=DateTimeField()), F("at")),
            exit_age=DaysApart(Value(moment, output_field=DateTimeField()), F("next_move")),
        )
        .values(
            "to_stage_id",
            "stay",
            "days",
            "observed",
            "next_move",
            "next_close",
            "next_win",
            "next_stage",
            "next_kind",
            "age",
            "exit_age",
            stage_kind=F("to_stage__kind"),
            **group,
        )
    )
    # LEAST of NULL and a number is the number on PostgreSQL: keep "not yet" as NULL explicitly.
    columns = ", ".join(
        [
            *group,
            "to_stage_id",
            "CASE WHEN next_move IS NOT NULL THEN stay END",
            "CASE WHEN next_close IS NOT NULL THEN days END",
            "CASE WHEN next_win = next_close THEN 1 ELSE 0 END",
            "CASE WHEN next_close IS NULL THEN observed END",
            # The destination of the exit (``Training.moves``): an open stage's id, a win or a loss.
            f"CASE WHEN next_move IS NULL THEN NULL WHEN next_kind = '{StageKind.WON}' THEN {WON_EXIT} "
            f"WHEN next_kind = '{StageKind.LOST}' THEN {LOST_EXIT} ELSE next_stage END",
        ]
    )
    # Each entry's two decays are worked out once (``per_row``): on PostgreSQL the days are
    # numeric, and a numeric POWER costs more than the rest of the row.
    # In double precision: a numeric POWER costs some 7 microseconds, seconds over a year of
    # transitions at a million deals.
    decays = {
        "entry_decay": f"POWER(CAST(0.5 AS DOUBLE PRECISION), CAST(age AS DOUBLE PRECISION) / {float(HALF_LIFE_DAYS)})",
        "exit_decay": f"CASE WHEN next_move IS NULL THEN NULL ELSE POWER(CAST(0.5 AS DOUBLE PRECISION), "
        f"CAST(exit_age AS DOUBLE PRECISION) / {float(RECENT_HALF_LIFE_DAYS)}) END",
    }
    weight = f"CAST(ROUND(entry_decay * {WEIGHT_SCALE}) AS BIGINT)"
    recent = (
        f"CASE WHEN next_move IS NULL THEN 0 ELSE "
        f"CAST(ROUND(exit_decay * {WEIGHT_SCALE}) AS BIGINT) END"
    )
    # The part of an exit's weight that is recent, which the long run leaves out when compared.
    overlap = (
        f"CASE WHEN next_move IS NULL THEN 0 ELSE CAST(ROUND(entry_decay "
        f"* exit_decay * {WEIGHT_SCALE}) AS BIGINT) END"
    )
    # Whole sums (PostgreSQL sums integers as numeric): read as ints, not decimals.
    sums = ", ".join(
        f"CAST(SUM({term}) AS BIGINT)"
        for term in (weight, f"{weight} * {weight}", recent, f"{recent} * {recent}", overlap)
    )
    return aggregate_over(
        moves,
        f"{columns}, {sums}",
        "stage_kind = %s",
        (StageKind.OPEN,),
        ", ".join(str(n) for n in range(1, len(group) + 7)),
        per_row=decays,
        stream=stream,
    )


def open_group_sums(day: datetime.date) -> dict:
    """The value and the squared value of open deals, in the reporting currency at the rates of ``day``;
    a deal without a rate adds nothing (the forecast's ``unconverted`` lists it)."""
    value = converted(on=day)
    return {"value": Sum(value), "value_sq": Sum(value * value)}


def elapsed_days(moment: datetime.datetime):
    """Whole days an open deal has sat in its stage at ``moment`` (at most ``MAX_DAYS``), in SQL."""
    return Least(
        Cast(
            Floor(DaysApart(Value(moment, output_field=DateTimeField()), F("stage_entered_at"))),
            IntegerField(),
        ),
        Value(MAX_DAYS),
    )


def model_forecast(
    scope: Scope,
    moment: datetime.datetime,
    horizon: int,
    *,
    rows=None,
    training: dict | None = None,
) -> dict:
    """The model's expected value won in ``[moment, moment + horizon)`` with its P10-P90 range.

    ``rows`` are the scope's deals as they stood at ``moment`` (default: live rows, for a live moment).
    """
    rows = rows if rows is not None else deal_rows(scope)
    stats = training if training is not None else closing_stats(scope, moment, live=True)
    probabilities, paths = open_stage_table()
    open_groups = (
        rows.filter(status=StageKind.OPEN)
        .annotate(elapsed=elapsed_days(moment))
        .values("stage_id", "elapsed")
        .annotate(**open_group_sums(timezone.localdate(moment)))
        .order_by()
    )
    return model_estimate(
        stats=stats,
        open_groups={
            (g["stage_id"], g["elapsed"]): (g["value"], g["value_sq"]) for g in open_groups
        },
        probabilities=probabilities,
        horizon=horizon,
        new_business=new_business_from(
            moment, horizon, **rows.aggregate(**new_business_sums(moment, horizon))
        ),
        paths=paths,
    )


def entry_key(stage_id: int, outcome: tuple, band: int | None, exit_to: int | None) -> tuple:
    """An entry as ``Training.add_entries`` reads it: ``(stage id, outcome, scale, move)``, ``scale``
    what its size band weighs (``band_scale``; None: no band), the move its ``Training.moves`` key
    (the stay, where it went, and how long it was watched while still in the stage), as
    ``Training.add`` works it out."""
    stay, close, won, observed = outcome
    if stay is None:
        exit_to = None
    elif exit_to is None:
        exit_to = (WON_EXIT if won else LOST_EXIT) if close == stay else UNKNOWN_EXIT
    return (
        stage_id,
        outcome,
        band_scale(band),
        (stay, exit_to, observed if stay is None else None),
    )


def band_scale(band: int | None) -> int | None:
    """What an entry of a deal in size band ``band`` (``size_band``) weighs in the value's chances,
    beside its recency: ``2 ** band``, the band's lower bound (1 below band 0; None: no band)."""
    return None if band is None else 2 ** max(0, band)


def _take_counts(mine: dict, theirs: dict, copy: bool = False) -> None:
    """Add ``theirs`` (key -> list of counts) into ``mine``, taking over the lists of new keys
    (copies of them with ``copy``, leaving ``theirs`` as it was)."""
    for key, counts in theirs.items():
        have = mine.get(key)
        if have is None:
            mine[key] = list(counts) if copy else counts
        elif len(counts) == 2:  # a sized outcome's (``Training.sized``), written out
            have[0] += counts[0]
            have[1] += counts[1]
        elif len(counts) == 5:  # an outcome's (``Training.outcomes``), written out
            have[0] += counts[0]
            have[1] += counts[1]
            have[2] += counts[2]
            have[3] += counts[3]
            have[4] += counts[4]
        else:
            for index, count in enumerate(counts):
                have[index] += count


class Training:
    """The model's training: per open stage, the weights of entries (``entry_counts``) and their squares
    by ``(stay, close, won, observed)``; the chances worked out from them are kept for every horizon at once.

    Weights are whole numbers (``WEIGHT_SCALE``ths of a fresh entry, or 1 per entry when counted by hand),
    so that entries added in any order give the same training.
    """

    def __init__(self):
        self.outcomes: dict = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0, 0]))
        self._chances: dict = {}
        self._shifts: dict = {}
        self._win_days: dict | None = None
        self._stage_win_days: dict = {}
        self._entries: dict = {}
        # Per open stage: the weight and squared weight by outcome of the entries whose deal's
        # size is known, each weighing its size band's ``band_scale`` as well (its square, in the
        # squares): what the value's chances (``value_chance``) are worked out from.
        self.sized: dict = defaultdict(dict)
        self._band_chances: dict = {}
        # Per open stage: the weight of entries by ``(stay, exit destination, observed)``, the
        # destination an open stage's id, ``WON_EXIT`` or ``LOST_EXIT`` (None: still in the stage,
        # watched ``observed`` days); the multi-state chances are worked out from them (``chained``).
        # Kept only while ``CHAINED`` is on: nothing else reads them, and at a million deals
        # keeping them cost the nightly pass a few seconds.
        self.moves: dict = defaultdict(lambda: defaultdict(int))
        self._curves: dict = {}
        self._chained: dict = {}
        self._hazards: dict = {}

    def add(
        self,
        stage_id: int,
        outcome: tuple,
        weight: int,
        squares: int | None = None,
        recent: int = 0,
        recent_squares: int = 0,
        overlap: int = 0,
        band: int | None = None,
        exit_to: int | None = None,
    ) -> None:
        """Entries of ``weight`` in all, their squared weights summing to ``squares`` (default: entries of
        weight 1); ``recent``, ``recent_squares`` and ``overlap``: their exits' weights by recency, as
        ``entry_counts`` gives them; ``band``: their deals' size band (``size_band``; None: unknown);
        ``exit_to``: where they went when they left the stage (``WON_EXIT``, ``LOST_EXIT`` or an open
        stage's id; None while still in it)."""
        stay, close, won, observed = outcome
        if stay is None:
            exit_to = None
        elif exit_to is None:
            # Counted by hand without a destination: a close is one, a move on is not known.
            exit_to = (WON_EXIT if won else LOST_EXIT) if close == stay else UNKNOWN_EXIT
        if CHAINED:
            self.moves[stage_id][(stay, exit_to, observed if stay is None else None)] += int(weight)
        self._curves.clear()
        self._chained.clear()
        self._hazards.clear()
        if band is not None:
            scale = band_scale(band)
            sized = self.sized[stage_id].setdefault(outcome, [0, 0])
            sized[0] += int(weight) * scale
            sized[1] += int(weight if squares is None else squares) * scale * scale
            self._band_chances.clear()
        counts = self.outcomes[stage_id][outcome]
        counts[0] += int(weight)
        counts[1] += int(weight if squares is None else squares)
        counts[2] += int(recent or 0)
        counts[3] += int(recent_squares or 0)
        counts[4] += int(overlap or 0)
        self._chances.pop(stage_id, None)
        self._shifts.pop(stage_id, None)
        self._win_days = None
        self._stage_win_days.pop(stage_id, None)
        self._entries.pop(stage_id, None)

    def add_entries(self, keys: Iterable[tuple], weights: Iterable[int]) -> None:
        """``add`` each entry of ``keys``, in order, as ``entry_key`` makes them from what
        ``entry_counts`` gives, with its five whole weights (weight, squares, recent, recent
        squares, overlap), every one given, read in turn from ``weights`` (one flat sequence).

        The same counts as one ``add`` per entry (same keys, added in the same order), in one loop
        that forgets the worked-out chances once at the end: a grouped pass adds every cell of a
        scope, hundreds of thousands of entries over its scopes.
        """
        moves, sized_by_stage, outcomes = self.moves, self.sized, self.outcomes
        # Where the exits went is read by the chained chances alone (``chained``), off by default.
        chained = CHAINED
        touched = set()
        any_band = False
        flat = iter(weights)
        for (
            stage_id,
            outcome,
            scale,
            move,
        ), weight, squares, recent, recent_squares, overlap in zip(
            keys, flat, flat, flat, flat, flat, strict=True
        ):
            if chained:
                moves[stage_id][move] += weight
            # A new key is set directly rather than through the default factories: the same
            # lists, without a call per key.
            if scale is not None:
                by_outcome = sized_by_stage[stage_id]
                sized = by_outcome.get(outcome)
                if sized is None:
                    by_outcome[outcome] = [weight * scale, squares * scale * scale]
                else:
                    sized[0] += weight * scale
                    sized[1] += squares * scale * scale
                any_band = True
            by_outcome = outcomes[stage_id]
            counts = by_outcome.get(outcome)
            if counts is None:
                by_outcome[outcome] = [weight, squares, recent, recent_squares, overlap]
            else:
                counts[0] += weight
                counts[1] += squares
                counts[2] += recent
                counts[3] += recent_squares
                counts[4] += overlap
            touched.add(stage_id)
        if not touched:
            return
        self._curves.clear()
        self._chained.clear()
        self._hazards.clear()
        if any_band:
            self._band_chances.clear()
        for stage_id in touched:
            self._chances.pop(stage_id, None)
            self._shifts.pop(stage_id, None)
            self._stage_win_days.pop(stage_id, None)
            self._entries.pop(stage_id, None)
        self._win_days = None

    def merge(self, other: "Training", keep: bool = False) -> None:
        """Add ``other``'s counts to these, as adding its entries would; ``other`` is used up (its
        counts are taken over, not copied) unless ``keep``. The trainings of scopes inside a
        bigger one, added up: each key once, where adding the entries again costs one step per
        entry."""
        for stage_id, by_outcome in other.outcomes.items():
            _take_counts(self.outcomes[stage_id], by_outcome, copy=keep)
        for stage_id, by_outcome in other.sized.items():
            _take_counts(self.sized[stage_id], by_outcome, copy=keep)
        for stage_id, moves in other.moves.items():
            mine = self.moves[stage_id]
            for key, weight in moves.items():
                mine[key] += weight
        if not keep:
            other.__init__()
        self._chances.clear()
        self._shifts.clear()
        self._win_days = None
        self._stage_win_days.clear()
        self._entries.clear()
        self._band_chances.clear()
        self._curves.clear()
        self._chained.clear()
        self._hazards.clear()

    def shift(self, stage_id: int) -> tuple[float, float]:
        """``exit_shift`` of the stage: the log of how much likelier its recent exits were to go on than
        the long run says, shrunk by its noise, and the variance left in it."""
        known = self._shifts.get(stage_id)
        if known is None:
            known = self._shifts[stage_id] = exit_shift(self.outcomes.get(stage_id, {}))
        return known

    def entries(self, stage_id: int) -> int:
        """The weight of the stage's entries."""
        known = self._entries.get(stage_id)
        if known is None:
            known = self._entries[stage_id] = sum(
                counts[0] for counts in self.outcomes.get(stage_id, {}).values()
            )
        return known

    def win_timing(self, horizon: int) -> float | None:
        """The share of the entries' wins (by weight) that came within ``horizon`` days of the entry (None: no wins)."""
        if self._win_days is None:
            self._win_days = defaultdict(int)
            for stage_id in self.outcomes:
                for day, n in self._stage_days(stage_id).items():
                    self._win_days[day] += n
        wins = sum(self._win_days.values())
        within = sum(n for day, n in self._win_days.items() if day < horizon)
        return within / wins if wins else None

    def _stage_days(self, stage_id: int) -> dict:
        """The weight of the stage's entries won, by the day of their stay they were won on."""
        days = self._stage_win_days.get(stage_id)
        if days is None:
            days = self._stage_win_days[stage_id] = defaultdict(int)
            for (_, close, won, _), counts in self.outcomes.get(stage_id, {}).items():
                if won:
                    days[close] += counts[0]
        return days

    def stage_win_timing(self, stage_id: int, horizon: int) -> tuple[float, float] | None:
        """The timing of the stage's own wins: the share of its entries' wins (by weight) that came
        within ``horizon`` days of the entry, and the sum of those shares within ``u = 1 ... horizon``
        days (the area under the curve a fresh entry's chance follows). None: the stage has no win."""
        days = self._stage_days(stage_id)
        wins = sum(days.values())
        if not wins:
            return None
        within = sum(n for day, n in days.items() if day < horizon)
        # A win on day d counts in every u above it: for u = d + 1 ... horizon.
        area = sum(n * (horizon - day) for day, n in days.items() if day < horizon)
        return within / wins, area / wins

    def chance(self, stage_id: int, age: int, horizon: int, ages: set[int]) -> tuple[float, float]:
        """``entry_chances`` of the stage at ``age`` for ``horizon``; the first call for a stage
        works out every age in ``ages`` for every horizon."""
        known = self._chances.get(stage_id)
        if known is None or age not in known:
            known = entry_chances(self.outcomes.get(stage_id, {}), ages | {age}, HORIZONS)
            self._chances[stage_id] = known
        return known[age][horizon][:2]

    def value_chance(
        self, stage_id: int, age: int, horizon: int, ages: set[int]
    ) -> tuple[float, float]:
        """``entry_chances`` of the stage at ``age`` for ``horizon`` with each entry weighing its
        deal's size as well as its recency (``2 ** band``, the band's lower bound): the share of the
        value of the entries still in the stage after ``age`` days that was won within the window,
        and the effective number of entries that rests on (``(0, 0)`` without sized entries)."""
        key = (stage_id, "value")
        known = self._band_chances.get(key)
        if known is None or age not in known:
            sized = self.sized.get(stage_id)
            known = entry_chances(sized, ages | {age}, HORIZONS) if sized else {}
            self._band_chances[key] = known
        if age not in known:
            return 0.0, 0.0
        return known[age][horizon][:2]

    def area(self, stage_id: int, horizon: int, ages: set[int]) -> tuple[float, float]:
        """The stage's fresh entries followed and the sum of their chances won within 1 ... ``horizon``
        days (``entry_chances`` at age 0)."""
        self.chance(stage_id, 0, horizon, ages | {0})
        followed, _, area = self._chances[stage_id][0][horizon]
        return followed, area

    def hazards(self, stage_id: int) -> tuple[dict, list[float]] | None:
        """The stage's exits per day by destination over the entries at risk that day (still in the
        stage, or left it that day), and the share of them leaving at all: ``(by destination, all)``,
        lists over days ``0 ... MAX_DAYS``. An entry still in the stage at the moment is at risk
        while it was watched and censored after. None when an exit's destination is unknown."""
        if stage_id not in self._hazards:
            self._hazards[stage_id] = self._work_out_hazards(stage_id)
        return self._hazards[stage_id]

    def _work_out_hazards(self, stage_id: int) -> tuple[dict, list[float]] | None:
        exits: dict = defaultdict(lambda: [0] * (MAX_DAYS + 2))
        leaving = [0] * (MAX_DAYS + 2)
        censored = [0] * (MAX_DAYS + 2)
        for (stay, exit_to, observed), weight in self.moves.get(stage_id, {}).items():
            if stay is None:
                censored[min(observed, MAX_DAYS)] += weight
            elif exit_to == UNKNOWN_EXIT:
                return None
            else:
                exits[exit_to][stay] += weight
                leaving[stay] += weight
        # At risk on day d: left on day d or later, or still in the stage and watched beyond d.
        at_risk = [0] * (MAX_DAYS + 2)
        running = 0
        for day in range(MAX_DAYS, -1, -1):
            running += leaving[day] + censored[day + 1]
            at_risk[day] = running
        by_destination = {
            exit_to: [n / at_risk[d] if at_risk[d] else 0.0 for d, n in enumerate(days)]
            for exit_to, days in exits.items()
        }
        total = [n / at_risk[d] if at_risk[d] else 0.0 for d, n in enumerate(leaving)]
        return by_destination, total

    def chained(self, stage_id: int, age: int, paths: dict) -> dict[int, float] | None:
        """The multi-state chance of a win within each horizon for an entry still in the stage after
        ``age`` days: ``sum over days d and destinations j of S(d) h_j(d) W_j(a + H - d)``, with ``S``
        the share still in the stage on day ``d``, ``h_j`` the share of those at risk that left for
        ``j`` that day and ``W_j(u)`` the chance a fresh entry of ``j`` is won within ``u`` days
        (``curve``: 1 for a win, 0 for a loss). Each stage's exits are read from its own entries, so a
        change in a later stage reaches an early deal's chance as soon as that stage's exits show it,
        not once entries of the early stage have been followed to their close. None: an exit's
        destination is unknown (counted by hand), for ``entry_chances`` to answer alone."""
        key = (stage_id, age)
        if key in self._chained:
            return self._chained[key]
        rates = self.hazards(stage_id)
        if rates is None:
            self._chained[key] = None
            return None
        by_destination, total = rates
        longest = max(HORIZONS)
        curves = {
            exit_to: self.next_curve(exit_to, stage_id, paths)
            for exit_to in by_destination
            if exit_to != LOST_EXIT
        }
        # The share leaving for each destination on each day of the window, of those in the stage at ``age``.
        parts = {exit_to: [0.0] * longest for exit_to in curves}
        staying = 1.0
        for t in range(longest):
            day = age + t
            if day > MAX_DAYS or staying <= 0:
                break
            for exit_to in curves:
                parts[exit_to][t] = staying * by_destination[exit_to][day]
            staying *= 1 - total[day]
        result = {}
        for horizon in HORIZONS:
            chance = 0.0
            for exit_to, part in parts.items():
                # sum over t < H of part[t] * curve[H - t]
                chance += sum(map(operator.mul, part, curves[exit_to][horizon:0:-1]))
            result[horizon] = min(1.0, chance)
        self._chained[key] = result
        return result

    def next_curve(self, exit_to: int, came_from: int, paths: dict) -> list[float]:
        """``curve`` of where an exit of ``came_from`` went: a win, 1 from a day on; a stage later on
        its path, that stage's multi-state curve; any other stage (a move back or to another
        pipeline), its entries' cumulative incidence alone, so that the chain never loops; for a
        stage, half a day later, as the days are whole days counted from each entry."""
        if exit_to == WON_EXIT:
            return [0.0] + [1.0] * max(HORIZONS)
        forward = exit_to != came_from and exit_to in paths.get(came_from, ())
        key = (exit_to, forward, "next")
        known = self._curves.get(key)
        if known is None:
            curve = self.curve(exit_to, paths, chain=forward)
            # Days are whole days from each entry: a move on day ``d`` of the stay and a win on day
            # ``e`` of the next stage's lie ``d + e`` or ``d + e + 1`` days from the entry, each about
            # half the time. Without this, every link of the chain would gain half a day.
            known = [0.0] + [(curve[u] + curve[u - 1]) / 2 for u in range(1, len(curve))]
            self._curves[key] = known
        return known

    def curve(self, stage_id: int, paths: dict, chain: bool = True) -> list[float]:
        """``W(u)`` for ``u = 0 ... max(HORIZONS)``: the chance a fresh entry of the stage is won within
        ``u`` days, chained through the stages its exits go to (``chained`` at age 0), or with
        ``chain`` off (or an exit's destination unknown) its entries' cumulative incidence
        (``entry_chances``)."""
        longest = max(HORIZONS)
        key = (stage_id, chain)
        known = self._curves.get(key)
        if known is not None:
            return known
        self._curves[key] = None  # a loop of stages of the same rank ends in the plain curve
        rates = self.hazards(stage_id) if chain else None
        curve = [0.0] * (longest + 1)
        if rates is None:
            days = tuple(range(1, longest + 1))
            fresh = entry_chances(self.outcomes.get(stage_id, {}), {0}, days)[0]
            curve = [0.0] + [fresh[u][1] for u in days]
        else:
            by_destination, total = rates
            nexts = {}
            for step in by_destination:
                if step == LOST_EXIT:
                    continue
                if step != WON_EXIT and self._curves.get((step, True), 0) is None:
                    nexts[step] = self.curve(step, paths, chain=False)
                else:
                    nexts[step] = self.next_curve(step, stage_id, paths)
            parts = {step: [0.0] * longest for step in nexts}
            staying = 1.0
            for day in range(longest):
                for step in nexts:
                    parts[step][day] = staying * by_destination[step][day]
                staying *= 1 - total[day]
            for u in range(1, longest + 1):
                # sum over steps and t < u of part[t] * next[u - t]
                curve[u] = min(
                    1.0,
                    sum(
                        sum(map(operator.mul, part, nexts[step][u:0:-1]))
                        for step, part in parts.items()
                    ),
                )
        self._curves[key] = curve
        return curve


_first = operator.itemgetter(0)


def entry_chances(
    outcomes: dict, ages: set[int], horizons: tuple[int, ...]
) -> dict[int, dict[int, tuple[float, float]]]:
    """For each age ``a`` and horizon ``H``: how many entries of a stage were still in it after ``a`` days
    and are followed beyond, and the share of them (by weight) won within ``[a, a + H)`` days of their entry.

    ``outcomes`` holds the weight and squared weight of entries by ``(stay, close, won, observed)``
    (``entry_counts``). The number followed is the effective one, ``(sum w)^2 / sum w^2``: entries
    weighted by recency inform the chance as fewer equal ones would, so a history of old entries
    and a few recent ones is still shrunk toward the prior. With equal weights it is the count.
    An entry is followed wherever it goes after leaving the stage. The share is
    a cumulative incidence (Aalen-Johansen, wins against losses): an entry
    still open at the moment counts while it was observed and is censored after.
    Each comes as ``(followed, share, area)``, ``area`` the sum of the shares won within
    1, 2, ..., ``H`` days: the expected wins of a window's arrivals (``new_business_chance``).
    """
    # Each entry with the last age it is known to have spent in the stage, oldest first.
    members = sorted(
        (
            (observed if stay is None else stay, close, won, observed, counts[0], counts[1])
            for (stay, close, won, observed), counts in outcomes.items()
        ),
        key=_first,
        reverse=True,
    )
    longest = max(horizons)
    # Days past MAX_DAYS hold nothing: padded with zeros, a window runs to its end untested (a
    # day with nothing leaves the shares as they were, exactly).
    size = MAX_DAYS + longest + 2
    closes = [0] * size
    wins = [0] * size
    censored = [0] * size
    censored_squares = [0] * size
    # The window's days cut at each horizon, in order: the shares are read at each cut.
    cuts = sorted(set(horizons))
    in_stage = in_stage_squares = 0
    index = 0
    count = len(members)
    chances = {}
    for age in sorted(ages, reverse=True):
        while index < count and members[index][0] >= age:
            _, close, won, observed, n, squares = members[index]
            if close is None:
                censored[observed] += n
                censored_squares[observed] += squares
            else:
                closes[close] += n
                if won:
                    wins[close] += n
            in_stage += n
            in_stage_squares += squares
            index += 1
        # At risk on day u: closed on day u or later, or still open and observed beyond day u.
        at_risk = followed = in_stage - censored[age]
        followed_squares = in_stage_squares - censored_squares[age]
        effective = followed * followed / followed_squares if followed_squares > 0 else 0.0
        open_share, won_share, area = 1.0, 0.0, 0.0
        shares, areas = {}, {}
        start = age
        for cut in cuts:
            end = age + cut
            for closed, won_then, left in zip(
                closes[start:end], wins[start:end], censored[start + 1 : end + 1], strict=True
            ):
                if at_risk > 0:
                    won_share += open_share * won_then / at_risk
                    open_share *= 1 - closed / at_risk
                    at_risk -= closed + left
                area += won_share
            shares[cut], areas[cut] = won_share, area
            start = end
        chances[age] = {
            horizon: (effective, shares[horizon], areas[horizon]) for horizon in horizons
        }
    return chances


def exit_shift(outcomes: dict) -> tuple[float, float]:
    """How the stage's recent exits went against the long run: ``(log ratio, its variance)``.

    ``outcomes`` is a stage's training (``entry_counts``). An exit goes on (to a
    later stage or a win) or is lost. An exit weighs ``a = 0.5 ** (days since /
    RECENT_HALF_LIFE_DAYS)`` among the recent ones and ``w (1 - a)`` in the long
    run, ``w`` its entry's weight in the chances: the long run is the year
    without what the recent exits say, so a change is not half hidden in it. The
    long run's share going on is taken per time spent in the stage before the exit
    (whole days in doubling bins: 0, 1, 2-3, 4-7, ...; deals that sit long mostly
    die, so a recent batch of slow exits is no sign of a change). The recent exits
    went on ``O`` times (by weight) where the long-run shares of their bins
    expected ``E``. With no change ``O - E`` has about the variance of the recent
    exits' own, ``sum(a^2 q (1 - q))``, plus that of the long-run shares, ``q (1 -
    q) sum(w^2) / sum(w (1 - a))^2`` per bin times the bin's recent weight squared
    (more than it is: the recent weights are not taken out of ``sum(w^2)``). The
    log ratio ``d = log(O / E)`` has ``v = Var / E^2`` and is shrunk by it
    (``shrunk_change``).
    """
    # stay bin -> [long-run weight gone on, long-run weight, squared entry weights, recent weight]
    bins: dict = {}
    recent = []
    bin_of: dict = {}  # stay -> its bin, worked out once a stay
    for (stay, close, won, _), counts in outcomes.items():
        if stay is None:
            continue
        went_on = not (close == stay and not won)
        stay_bin = bin_of.get(stay)
        if stay_bin is None:
            stay_bin = bin_of[stay] = max(0, int(stay)).bit_length()
        if len(counts) == 5:
            weight, squares, recent_weight, recent_squares, overlap = counts
        else:
            # Counts made by hand may stop at the squares: no recent exits then.
            weight, squares, recent_weight, recent_squares, overlap = (*counts, 0, 0, 0)[:5]
        past = weight - overlap
        totals = bins.get(stay_bin)
        if totals is None:
            totals = bins[stay_bin] = [0, 0, 0, 0]
        totals[0] += past * went_on
        totals[1] += past
        totals[2] += squares
        if recent_weight:
            totals[3] += recent_weight
            recent.append((stay_bin, went_on, recent_weight, recent_squares))
    observed = expected = noise = 0.0
    for stay_bin, went_on, weight, squares in recent:
        gone_on, total, _, _ = bins[stay_bin]
        if total <= 0:
            continue
        share = gone_on / total
        observed += weight * went_on
        expected += weight * share
        noise += squares * share * (1 - share)
    for gone_on, total, squares, weight in bins.values():
        if total > 0 and weight:
            share = gone_on / total
            noise += weight * weight * share * (1 - share) * squares / (total * total)
    if expected <= 0 or noise <= 0:
        return 0.0, 0.0
    # Half a fresh exit each side keeps the log finite when none of the recent exits went on.
    half = WEIGHT_SCALE / 2
    return shrunk_change(
        math.log((observed + half) / (expected + half)), noise / (expected * expected)
    )


def shrunk_change(change: float, noise: float) -> tuple[float, float]:
    """A measured change (a log ratio) with sampling variance ``noise``, shrunk toward none:
    the empirical Bayes estimate when the true change's spread is estimated as ``change^2 - noise``,
    ``(k change, k noise)`` with ``k = 1 - noise / change^2``; none when the change is within the noise."""
    if change * change <= noise:
        return 0.0, 0.0
    keep = 1 - noise / (change * change)
    return keep * change, keep * noise


def open_stage_table() -> tuple[dict[int, int], dict[int, tuple[int, ...]]]:
    """The open stages' configured probabilities, and each one's path to a win: it and the open
    stages after it in its pipeline. One query."""
    stages = list(
        Stage.objects.filter(kind=StageKind.OPEN).values_list(
            "pk", "pipeline_id", "order", "probability"
        )
    )
    paths = {
        pk: tuple(other for other, line, rank, _ in stages if line == pipeline and rank >= order)
        for pk, pipeline, order, _ in stages
    }
    return {pk: probability for pk, _, _, probability in stages}, paths


def halves_to_work_out(known: dict, stage_id, age: int) -> list[int]:
    """The ages ``age``, ``age // 2``, ... down to the first one ``known`` holds for the stage (or to
    0), youngest first: the order in which each, shrunk toward the one at half its age, is worked
    out (``model_estimate``)."""
    missing = []
    while (stage_id, age) not in known:
        missing.append(age)
        if age == 0:
            break
        age //= 2
    return missing[::-1]


def model_estimate(
    *,
    stats: Training,
    open_groups: dict,
    probabilities: dict,
    horizon: int,
    new_business: tuple,
    paths: dict | None = None,
) -> dict:
    """The model's figures from its training (``closing_stats``), the open deals grouped by
    ``(stage id, days in stage)`` into ``(value, value squared)``, the stages' configured
    probabilities and the new business expected (``NewBusiness``: mean, variance and, optionally,
    the degrees of freedom of a variance measured from past windows).

    ``paths`` (``open_stage_table``) gives each stage the stages a deal in it still has to leave
    forward to win; the recent exits of each (``exit_shift``) scale its chance (default: the
    stage alone). New business scales by the path of its pipeline's first stage."""
    paths = paths or {}
    # The prior: the configured win chance, spread over time by the timing of the stage's own wins
    # (a deal entering the first stage wins later than one entering the last); for a stage without
    # a win, by the pooled timing of all stages' wins.
    timing = stats.win_timing(horizon)
    timing = min(1.0, horizon / 90) if timing is None else timing

    @functools.cache
    def stage_timing(stage_id) -> float:
        own = stats.stage_win_timing(stage_id, horizon)
        return timing if own is None else own[0]

    ages: dict = defaultdict(set)
    for stage_id, elapsed in open_groups:
        age = max(0, elapsed or 0)
        while True:
            # The chance at every age halved down to 0, each the prior of the one above.
            ages[stage_id].add(age)
            if age == 0:
                break
            age //= 2
    chain: dict = {}

    def stage_chance(stage_id, age: int, prior: float) -> tuple[float, float, float]:
        """The stage's chance at ``age`` shrunk toward its chance at half the age (at 0 toward
        ``prior``), with the entries followed and their raw share.

        The ages halved down to the first one known are worked out from there up, in a loop: a
        function calling itself would be a reference cycle holding the training until the
        garbage collector's next pass, where the loop's training is let go with its scope."""
        for step in halves_to_work_out(chain, stage_id, age):
            followed, share = stats.chance(stage_id, step, horizon, ages[stage_id])
            chained = stats.chained(stage_id, step, paths) if CHAINED and followed > 0 else None
            estimate = share if chained is None else chained[horizon]
            below = prior if step == 0 else chain[(stage_id, step // 2)][0]
            p = (followed * estimate + PRIOR_WEIGHT * below) / (followed + PRIOR_WEIGHT)
            chain[(stage_id, step)] = (p, followed, share)
        return chain[(stage_id, age)]

    gaps: dict = {}

    def value_gap(stage_id, age: int, prior: float) -> tuple[float, float]:
        """The share of value won against the share of entries won at ``age``, shrunk with
        ``PRIOR_WEIGHT`` toward that difference at half the age (at 0 toward none), as the chance
        itself is (``stage_chance``); and the effective number of sized entries it rests on. A
        stage's largest deals are often its slowest, the last to leave it: at an age few sized
        entries reach, the difference read at younger ages still holds, where shrinking toward
        none gave the open value, mostly those large deals, the share by count."""
        for step in halves_to_work_out(gaps, stage_id, age):
            sized, value_share = stats.value_chance(stage_id, step, horizon, ages[stage_id])
            won_share = stage_chance(stage_id, step, prior)[2]
            below = 0.0 if step == 0 else gaps[(stage_id, step // 2)][0]
            gap = (sized * (value_share - won_share) + PRIOR_WEIGHT * below) / (
                sized + PRIOR_WEIGHT
            )
            gaps[(stage_id, step)] = (gap, sized)
        return gaps[(stage_id, age)]

    # Each stage's pipeline's first stage: where a change in the deals coming in shows first.
    later = {step for stage_id, path in paths.items() for step in path if step != stage_id}
    entrance = {
        step: stage_id for stage_id, path in paths.items() if stage_id not in later for step in path
    }

    # Per stage, not per group of its deals: worked out once each (both are read for every
    # group of open deals, hundreds a stage).
    @functools.cache
    def path_shift(stage_id, new: bool = False) -> tuple[float, float]:
        """The summed log shifts along the stage's path, and their summed variances. With
        ``CARRIED_SHIFT`` (for ``new`` business, or for every deal with "all"), a stage ahead
        counts at least the shift of its pipeline's first stage, in the same direction: the recent
        exits of a stage ahead are of deals older than those to come, while the first stage's are
        of the newest deals. With ``SHIFT_DOUBT`` the summed shift's square adds to the variance:
        the change may carry through the window more than it shows or fade, by as much as its size."""
        path = paths.get(stage_id, (stage_id,))
        first = entrance.get(stage_id)
        carrying = CARRIED_SHIFT == "all" or (CARRIED_SHIFT == "new_business" and new)
        carried = stats.shift(first) if carrying and first is not None else (0.0, 0.0)
        shift = variance = 0.0
        copies = (
            0  # the first stage's shift, counted this many times: one error, added before squaring
        )
        for step in path:
            own = stats.shift(step)
            if step != stage_id and abs(carried[0]) > abs(own[0]) and carried[0] * own[0] >= 0:
                shift += carried[0]
                copies += 1
            elif carrying and step == first:
                shift += own[0]
                copies += 1
            else:
                shift += own[0]
                variance += own[1]
        variance += copies * copies * carried[1]
        if SHIFT_DOUBT:
            variance += shift * shift
        return shift, variance

    expected = 0.0
    variance = 0.0
    # A stage's chances at every age are learned from nested sets of the same entries, so their
    # errors move together: the stage's deals share one error, its deviation the sum of theirs.
    rate_spread: dict = defaultdict(float)
    # The shifts are shared by every stage on a path: their errors are added before squaring.
    shift_spread = 0.0
    # Summed in a fixed order so that the same groups always give the same floating-point total.
    for (stage_id, elapsed), (value, value_sq) in sorted(
        open_groups.items(), key=lambda item: (item[0][0], item[0][1] or 0)
    ):
        probability = probabilities.get(stage_id)
        if probability is None:
            continue
        age = max(0, elapsed or 0)
        prior = probability / 100 * stage_timing(stage_id)
        p, followed, won_share = stage_chance(stage_id, age, prior)
        if stats.sized.get(stage_id):
            # Deals of every size: the share of the value of the entries still in the stage that
            # was won, its difference from the share of entries shrunk with ``PRIOR_WEIGHT``
            # toward the difference at half the age (``value_gap``).
            if VALUE_CASCADE:
                gap, sized = value_gap(stage_id, age, prior)
                p += gap
            else:
                sized, value_share = stats.value_chance(stage_id, age, horizon, ages[stage_id])
                if sized > 0:
                    p += sized / (sized + PRIOR_WEIGHT) * (value_share - won_share)
            if sized > 0:
                followed = sized
        shift, shift_variance = path_shift(stage_id)
        p = min(1.0, max(0.0, p * math.exp(shift)))
        expected += p * float(value or 0)
        variance += p * (1 - p) * float(value_sq or 0)
        rate_spread[stage_id] += float(value or 0) * math.sqrt(rate_variance(p, followed))
        shift_spread += p * float(value or 0) * math.sqrt(shift_variance)
    variance += sum(spread * spread for _, spread in sorted(rate_spread.items()))

    new_mean, new_var, freedom, arrivals = (*new_business, None, None)[:4]
    # New deals enter their pipeline's first stage: scaled by its path, the pipelines weighed by entries.
    firsts = sorted(
        (stage_id, stats.entries(stage_id)) for stage_id in paths if stage_id not in later
    )
    total = sum(weight for _, weight in firsts)
    if total > 0 and arrivals is not None:
        fresh = new_business_chance(
            stats, firsts, probabilities, horizon, timing, {s: ages[s] for s, _ in firsts}, paths
        )
        if fresh is not None:
            new_mean, new_var, freedom = arrivals_estimate(arrivals, *fresh, horizon, freedom)
    if total > 0:
        shifts = [(path_shift(stage_id, new=True), weight / total) for stage_id, weight in firsts]
        shift = sum(part[0] * share for part, share in shifts)
        scale = math.exp(shift)
        new_mean, new_var = new_mean * scale, new_var * scale * scale
        shift_spread += new_mean * math.sqrt(sum(part[1] * share for part, share in shifts))
    variance += shift_spread * shift_spread
    expected += new_mean
    variance += new_var
    # Deals lost at the moment that come back and are won (step 6), as known from the year's wins.
    reopened_mean, reopened_var = getattr(new_business, "reopened", (0.0, 0.0))
    expected += reopened_mean
    variance += reopened_var
    sigma = math.sqrt(max(variance, 0.0))
    reach = band_quantile(variance, new_var, freedom)
    return {
        "expected": money(expected),
        "p10": money(max(0.0, expected - reach * sigma)),
        "p90": money(expected + reach * sigma),
        "new_business": money(new_mean),
    }


def new_business_chance(
    stats: Training,
    firsts: list[tuple[int, int]],
    probabilities: dict,
    horizon: int,
    timing: float,
    ages: dict,
    paths: dict | None = None,
) -> tuple[float, float] | None:
    """The expected wins inside a window of ``horizon`` days per deal created in it each day, and the
    number of fresh entries that rests on: the sum over ``u = 1 ... H`` of the chance a fresh entry of
    the pipeline's first stage is won within ``u`` days (``Training.area``, the same cumulative incidence
    an open deal's chance is, with its recency and censoring), shrunk toward the configured
    probability like an open deal's chance. The first stages of several pipelines count by entries.
    None when no first stage has a configured probability."""
    total = area = followed_sum = 0.0
    for stage_id, weight in firsts:
        probability = probabilities.get(stage_id)
        if probability is None or weight <= 0:
            continue
        followed, raw = stats.area(stage_id, horizon, ages.get(stage_id, set()))
        if CHAINED and followed > 0 and stats.hazards(stage_id) is not None:
            raw = sum(stats.curve(stage_id, paths or {})[1 : horizon + 1])
        # The prior's chance spread over the window's days by the timing of the stage's own wins
        # (without one: the pooled timing, and a window's arrivals waiting half of it on average).
        own = stats.stage_win_timing(stage_id, horizon)
        prior = probability / 100 * (timing * horizon / 2 if own is None else own[1])
        area += weight * (followed * raw + PRIOR_WEIGHT * prior) / (followed + PRIOR_WEIGHT)
        followed_sum += weight * followed
        total += weight
    if total <= 0:
        return None
    return area / total, followed_sum / total


def arrivals_estimate(
    arrivals: "Arrivals", area: float, followed: float, horizon: int, freedom: int | None
) -> tuple[float, float, int | None]:
    """Mean and variance of the new business of a window from the deals created per day, the wins a
    day's arrivals bring (``new_business_chance``) and the value a win brings, with the degrees of
    freedom of the variance.

    The compound Poisson variance, ``rate * area * E[amount^2]``, or, when larger, the past windows'
    spread relative to their mean (``Arrivals.spread``) at this mean (new business comes in waves);
    plus the uncertainty of the learned chance, ``(rate * H * amount)^2 * Var(p)`` with ``p`` the mean
    chance over the window, and of the arrival change, ``mean^2 * Var(log rate)``."""
    mean = arrivals.rate * area * arrivals.amount
    variance = arrivals.rate * area * arrivals.amount_sq
    if arrivals.spread is not None and arrivals.spread * mean * mean > variance:
        variance = arrivals.spread * mean * mean
    else:
        freedom = None
    chance = min(1.0, area / horizon)
    scale = arrivals.rate * horizon * arrivals.amount
    variance += scale * scale * rate_variance(chance, followed)
    variance += mean * mean * arrivals.rate_variance
    return mean, variance, freedom


def band_quantile(variance: float, estimated: float, freedom: int | None) -> float:
    """How many sigmas out the P10 and P90 lie, when ``estimated`` of the ``variance`` was measured
    from a few past windows (``freedom`` degrees of freedom; None: none of it was).

    A variance read off four 90-day windows is itself uncertain, as likely too small as too
    large: the honest range is a Student t's, with the degrees of freedom the whole variance has
    by the Welch-Satterthwaite rule (the other parts are worked out, not sampled). It is never
    narrower than the normal one: with many windows, or none, it is ``Z_80``.
    """
    if not freedom or estimated <= 0 or variance <= 0:
        return Z_80
    return student_t_90(variance * variance * freedom / (estimated * estimated))


T_90_ONE, T_90_TWO = math.tan(0.4 * math.pi), 0.8 / math.sqrt(0.18)  # exact at one and two degrees


def student_t_90(freedom: float) -> float:
    """The 90th percentile of a Student t with ``freedom`` degrees of freedom (at least one): exact at
    one and two, between them interpolated, beyond two by the Cornish-Fisher expansion around the
    normal's (within 0.002 of the tables)."""
    z = Z_80
    n = max(1.0, freedom)
    if n <= 2:
        return T_90_ONE + (n - 1) * (T_90_TWO - T_90_ONE)
    return (
        z
        + (z**3 + z) / (4 * n)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * n**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * n**3)
    )


def rate_variance(p: float, followed: float) -> float:
    """The variance of a shrunk chance ``p``: a Beta posterior's, with the ``followed`` entries
    (the effective number of weighted ones) plus the prior's ``PRIOR_WEIGHT`` as its sample size."""
    return p * (1 - p) / (followed + PRIOR_WEIGHT + 1)


def past_windows(
    moment: datetime.datetime, horizon: int
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """The whole windows of ``horizon`` days that fit in the ``LOOKBACK_DAYS`` before ``moment``, latest first."""
    return [
        (
            moment - datetime.timedelta(days=horizon * (k + 1)),
            moment - datetime.timedelta(days=horizon * k),
        )
        for k in range(LOOKBACK_DAYS // horizon)
    ]


def new_business_sums(moment: datetime.datetime, horizon: int, suffix: str = "") -> dict:
    """The aggregates over deal rows behind the new business of a window: what was created in the
    ``LOOKBACK_DAYS`` that could have finished, the won part weighted by its slack, and the value
    created and won inside each past window (``past_windows``); the deals created in the window
    just past (``arrived``) and in the span that could have finished (``arrived_before``)."""
    span_start = moment - datetime.timedelta(days=LOOKBACK_DAYS)
    span_end = moment - datetime.timedelta(days=horizon)
    created = Q(created_at__gte=span_start, created_at__lt=span_end)
    slack = Value(float(horizon)) - DaysBetween(F("closed_at"), F("created_at"))
    won_fast = created & Q(status=StageKind.WON, closed_at__lt=moment) & Q(GreaterThan(slack, 0))
    value = at_close()
    sums = {
        f"arrived{suffix}": Count(
            "id",
            filter=Q(
                created_at__gte=moment - datetime.timedelta(days=horizon), created_at__lt=moment
            ),
        ),
        f"arrived_before{suffix}": Count("id", filter=created),
        f"weighted{suffix}": Sum(value * slack, filter=won_fast, output_field=FloatField()),
        f"weighted_sq{suffix}": Sum(
            value * value * slack, filter=won_fast, output_field=FloatField()
        ),
        f"first{suffix}": Min("created_at", filter=created),
        # The slack alone: the value a win brings inside a window (``Arrivals``) is the slack-weighted
        # mean of the wins that could fall in one, so that large deals that take longer than the
        # window to win do not lend their size to the quick ones.
        f"slack{suffix}": Sum(slack, filter=won_fast, output_field=FloatField()),
    }
    for k, (start, end) in enumerate(past_windows(moment, horizon)):
        inside = Q(status=StageKind.WON, created_at__gte=start, closed_at__lt=end)
        sums[f"window_{k}{suffix}"] = Sum(value, filter=inside, output_field=FloatField())
    # Wins of deals that had been lost: each weighted by the window starts at which it lay lost and
    # was then won inside the window (``reopened_overlap``); NULL (nothing) for a win never lost.
    won_back = Q(status=StageKind.WON, closed_at__gte=span_start, closed_at__lt=moment)
    overlap = reopened_overlap(span_start, span_end, horizon)
    sums[f"reopened{suffix}"] = Sum(value * overlap, filter=won_back, output_field=FloatField())
    sums[f"reopened_sq{suffix}"] = Sum(
        value * value * overlap, filter=won_back, output_field=FloatField()
    )
    return sums


def reopened_overlap(
    span_start: datetime.datetime, span_end: datetime.datetime, horizon: int
) -> Subquery:
    """For a won deal row (``id``, ``closed_at``): the days ``t`` in ``[span_start, span_end)`` at which
    the deal lay lost and was won within ``horizon`` days, so that a window starting at ``t`` would
    have seen it come back and be won (``t`` from its last loss before the win, and at least
    ``closed_at - horizon``, up to its reopening); None for a deal never reopened. Read from its last
    transition out of a lost stage before the win (transitions are never edited, and both lie before
    a moment the win lies before)."""
    reopenings = StageTransition.objects.filter(
        deal_id=OuterRef("id"), from_stage__kind=StageKind.LOST, at__lt=OuterRef("closed_at")
    ).order_by("-at")
    days = DaysBetween(
        Least(F("at"), Value(span_end, output_field=DateTimeField())),
        Greatest(
            F("from_stage_entered_at"),
            OuterRef("closed_at") - datetime.timedelta(days=horizon),
            Value(span_start, output_field=DateTimeField()),
        ),
    )
    overlap = Greatest(days, Value(0.0), output_field=FloatField())
    return Subquery(reopenings.values(overlap=overlap)[:1], output_field=FloatField())


class Arrivals(NamedTuple):
    """What the new business of a window is made of, for ``model_estimate`` to work it out from the
    chances of fresh entries: deals created per day now (after ``arrival_change``) and the variance
    of its log, and the mean and mean square of the value a win brought among the wins that could
    fall inside a window (each weighted by the ``H - D`` window starts it falls in, as the year's
    average weighs it, so that the value goes with the timing); ``spread``, the
    variance of the past windows' value relative to their mean squared, when it exceeds the compound
    Poisson one (None otherwise)."""

    rate: float
    rate_variance: float
    amount: float
    amount_sq: float
    spread: float | None = None


class NewBusiness(NamedTuple):
    """The new business expected in a window: its mean and variance, and the degrees of freedom of
    that variance when it was measured from past windows (None: the compound Poisson one); and
    ``arrivals``, the parts to work it out from the chances of fresh entries instead; ``reopened``,
    the mean and variance of the value won in a window by deals lost at its start (step 6)."""

    mean: float
    variance: float
    freedom: int | None = None
    arrivals: Arrivals | None = None
    reopened: tuple[float, float] = (0.0, 0.0)


def new_business_from(
    moment: datetime.datetime,
    horizon: int,
    *,
    weighted: float | None,
    weighted_sq: float | None,
    first,
    arrived: int | None = None,
    arrived_before: int | None = None,
    slack: float | None = None,
    reopened: float | None = None,
    reopened_sq: float | None = None,
    **windows,
) -> NewBusiness:
    """Mean and variance of the new business per window, from ``new_business_sums``.

    The variance is the compound Poisson one, or, when larger, the spread of the value created
    and won in the past windows wholly inside the history: new business comes in waves. A spread
    read off ``k`` windows has ``k - 1`` degrees of freedom, which the band allows for (``band_quantile``).

    The value won from what is created is learned over the span; how much is created is read
    from the window just past, when it differs from the span's rate beyond a Poisson count's
    noise (``arrival_change``): a business that grows or shrinks, or is in a busy season, brings
    more or less new business now than its year's average. The mean scales by the change, the
    Poisson variance with it, the measured spread with its square, and the variance left in the
    change adds ``mean^2 * Var(log change)``.
    """
    span_start = moment - datetime.timedelta(days=LOOKBACK_DAYS)
    span_end = moment - datetime.timedelta(days=horizon)
    if first is None:
        days = (span_end - span_start).total_seconds() / 86400
        return NewBusiness(
            0.0, 0.0, reopened=((reopened or 0.0) / days, (reopened_sq or 0.0) / days)
        )
    length = max(1.0, (span_end - max(first, span_start)).total_seconds() / 86400)
    mean, variance = (weighted or 0.0) / length, (weighted_sq or 0.0) / length
    won_back = ((reopened or 0.0) / length, (reopened_sq or 0.0) / length)
    change, change_variance = arrival_change(arrived, arrived_before, horizon, length)
    scale = math.exp(change)
    mean, variance = mean * scale, variance * scale
    known = mean * mean * change_variance
    arrivals = None
    if slack and arrived_before:
        arrivals = Arrivals(
            rate=arrived_before / length * scale,
            rate_variance=change_variance,
            amount=(weighted or 0.0) / slack,
            amount_sq=(weighted_sq or 0.0) / slack,
        )
    observed = [
        float(windows.get(f"window_{k}") or 0.0)
        for k, (start, _) in enumerate(past_windows(moment, horizon))
        if start >= first
    ]
    if len(observed) >= 2:
        centre = sum(observed) / len(observed)
        spread = (
            sum((value - centre) ** 2 for value in observed) / (len(observed) - 1) * scale * scale
        )
        if spread > variance:
            if arrivals is not None and mean > 0:
                arrivals = arrivals._replace(spread=spread / (mean * mean))
            return NewBusiness(mean, spread + known, len(observed) - 1, arrivals, won_back)
    return NewBusiness(mean, variance + known, None, arrivals, won_back)


def arrival_change(
    arrived: int | None, before: int | None, horizon: int, length: float
) -> tuple[float, float]:
    """The log of the rate of deals created in the ``horizon`` days just past against that of the
    ``length`` days of the span (``before`` deals), shrunk by its Poisson noise (``shrunk_change``),
    and the variance left in it. None of either: no change."""
    if arrived is None or not before:
        return 0.0, 0.0
    recent, past = arrived + 0.5, before + 0.5
    return shrunk_change(
        math.log(recent / horizon) - math.log(past / length), 1 / recent + 1 / past
    )
