"""Runners: one per report, the one code path the API and the browser pages call.

A runner takes typed input, answers ``run()`` and names its result with a
``cache_key``. Funnel and forecast runners read a snapshot when a fresh one
matches the question and compute live otherwise; every answer says which
(``source``) and when it was computed (``computed_at``). Every runner issues
a fixed number of queries, whatever the number of deals or people.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.utils import timezone

from pipeline.models import Activity, Deal, Stage, StageKind
from quotas.models import Quota
from reports.forecasts import HORIZONS, METHODS, closing_stats, forecast, moment_of
from reports.metrics import Period, deal_rows, deal_totals, funnel, series, start_of
from reports.models import MetricSnapshot
from reports.scopes import Scope
from reports.selectors import (
    accuracy_summary,
    forecast_snapshot_for,
    matured_forecasts,
    metric_snapshot_for,
)
from reports.services import FORECAST_FIELDS
from salesmgr.cache import cache_get, cache_set
from salesmgr.models import Role

ZERO = Decimal("0.00")
FUNNEL_MONEY = (
    "open_value",
    "avg_open_deal_size",
    "won_value",
    "avg_won_deal_size",
    "sales_velocity",
)


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _date(value) -> datetime.date | None:
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(value)


def _typed_funnel(data: dict) -> dict:
    """A stored funnel (JSON: money and dates as text) with the types a live one has."""
    typed = {**data, "start": _date(data["start"]), "end": _date(data["end"])}
    for name in FUNNEL_MONEY:
        typed[name] = _decimal(data.get(name))
    typed["stages"] = [
        {**stage, "open_value_now": _decimal(stage["open_value_now"])} for stage in data["stages"]
    ]
    return typed


@dataclass(frozen=True)
class FunnelRunner:
    """Every funnel metric of a scope over a period: the stored snapshot when fresh, else live."""

    scope: Scope
    period: Period

    @property
    def cache_key(self) -> str:
        return f"funnel:{self.scope.key}:{self.period.start}:{self.period.end}"

    def run(self) -> dict:
        snapshot = metric_snapshot_for(self.scope, self.period.start, self.period.end)
        if snapshot is not None:
            return {
                **_typed_funnel(snapshot.data),
                "computed_at": snapshot.computed_at,
                "source": "snapshot",
            }
        return {**funnel(self.scope, self.period), "computed_at": timezone.now(), "source": "live"}

    def totals(self) -> dict:
        """The deal-level figures alone: from the snapshot when fresh, else one live query (no stage figures)."""
        snapshot = metric_snapshot_for(self.scope, self.period.start, self.period.end)
        if snapshot is not None:
            return {
                **_typed_funnel(snapshot.data),
                "computed_at": snapshot.computed_at,
                "source": "snapshot",
            }
        return {
            **deal_totals(self.scope, self.period),
            "start": self.period.start,
            "end": self.period.end,
            "computed_at": timezone.now(),
            "source": "live",
        }


TOTALS = (
    "open_deals",
    "open_value",
    "avg_open_deal_size",
    "won_deals",
    "won_value",
    "avg_won_deal_size",
    "lost_deals",
    "close_ratio",
    "avg_sales_cycle_days",
    "sales_velocity",
)


@dataclass(frozen=True)
class PreviousTotalsRunner:
    """The deal-level funnel figures of the period of equal length just before ``period``.

    Open deals and open value are those of the pipeline as it stood when that
    period ended. They come from the period's own snapshot when one was kept
    (the nightly run writes it on the period's last day), else from the change
    history, which is heavy: a past moment's figures do not move, so the
    answer is cached, and ``stored()`` says whether one is at hand cheaply.
    """

    scope: Scope
    period: Period
    timeout: int = 6 * 3600

    @property
    def previous(self) -> Period:
        return Period(
            self.period.start - datetime.timedelta(days=self.period.days), self.period.start
        )

    @property
    def cache_key(self) -> str:
        return f"previous-totals:{self.scope.key}:{self.previous.start}:{self.previous.end}"

    def stored(self) -> dict | None:
        """The figures from the cache or the period's snapshot (at most one query), or None."""
        cached = cache_get(self.cache_key)
        if cached is not None:
            return cached
        previous = self.previous
        snapshot = (
            MetricSnapshot.objects.filter(
                scope_key=self.scope.key, period_start=previous.start, period_end=previous.end
            )
            .only("data", "computed_at")
            .first()
        )
        if snapshot is None:
            return None
        data = _typed_funnel(snapshot.data)
        result = {
            **{name: data.get(name) for name in TOTALS},
            "start": previous.start,
            "end": previous.end,
            "computed_at": snapshot.computed_at,
            "source": "snapshot",
        }
        cache_set(self.cache_key, result, self.timeout)
        return result

    def run(self) -> dict:
        stored = self.stored()
        if stored is not None:
            return stored
        previous = self.previous
        moment = start_of(previous.end)
        now = timezone.now()
        totals = deal_totals(self.scope, previous, as_of=moment if moment < now else None)
        result = {
            **{name: totals[name] for name in TOTALS},
            "start": previous.start,
            "end": previous.end,
            "computed_at": now,
            "source": "live",
        }
        cache_set(self.cache_key, result, self.timeout)
        return result


@dataclass(frozen=True)
class SeriesRunner:
    """Created, won and lost deals and value per week or month, zero-filled (always live: two grouped queries)."""

    scope: Scope
    period: Period
    interval: str = "month"

    @property
    def cache_key(self) -> str:
        return f"series:{self.scope.key}:{self.period.start}:{self.period.end}:{self.interval}"

    def run(self) -> list[dict]:
        return series(self.scope, self.period, self.interval)


@dataclass(frozen=True)
class ForecastRunner:
    """The forecasts of a scope as of a date, one per horizon: each from its snapshot when fresh, else live.

    Live horizons share one pass over the history.
    """

    scope: Scope
    as_of: datetime.date
    horizons: tuple[int, ...] = HORIZONS

    @property
    def cache_key(self) -> str:
        return f"forecast:{self.scope.key}:{self.as_of}:{','.join(map(str, self.horizons))}"

    def run(self) -> list[dict]:
        now = timezone.now()
        training = None
        figures = []
        for horizon in self.horizons:
            snapshot = forecast_snapshot_for(self.scope, self.as_of, horizon)
            if snapshot is None:
                if training is None:
                    training = closing_stats(self.scope, moment_of(self.as_of, now)[0])
                live = forecast(self.scope, self.as_of, horizon, now=now, training=training)
                figures.append({**live, "computed_at": now, "source": "live"})
                continue
            stored = {name: getattr(snapshot, name) for name in FORECAST_FIELDS}
            quota = stored["quota"]
            stored["gap"] = {
                method: None if quota is None else quota - stored["won_in_window"] - stored[method]
                for method in METHODS
            }
            figures.append(
                {
                    "scope": self.scope.key,
                    "as_of": self.as_of,
                    "horizon": horizon,
                    "window_end": self.as_of + datetime.timedelta(days=horizon),
                    "live": False,
                    "computed_at": snapshot.computed_at,
                    "source": "snapshot",
                    **stored,
                }
            )
        return figures


@dataclass(frozen=True)
class AccuracyRunner:
    """Matured forecasts of a scope against what was won: per snapshot (oldest first, at most
    ``limit``) and summarised per horizon and method (two queries)."""

    scope: Scope
    horizon: int | None = None
    start: datetime.date | None = None
    end: datetime.date | None = None
    limit: int = 1000

    @property
    def cache_key(self) -> str:
        return f"accuracy:{self.scope.key}:{self.horizon}:{self.start}:{self.end}:{self.limit}"

    def run(self) -> dict:
        snapshots = matured_forecasts(
            self.scope, horizon=self.horizon, start=self.start, end=self.end
        )
        rows = []
        for snapshot in snapshots[: self.limit]:
            methods = {}
            for method in METHODS:
                value = getattr(snapshot, method)
                error = value - snapshot.actual
                methods[method] = {
                    "forecast": value,
                    "error": error,
                    "abs_pct_error": float(abs(error) / snapshot.actual)
                    if snapshot.actual
                    else None,
                }
            rows.append(
                {
                    "as_of": snapshot.as_of,
                    "horizon": snapshot.horizon,
                    "actual": snapshot.actual,
                    "methods": methods,
                }
            )
        return {"scope": self.scope.key, "summary": accuracy_summary(snapshots), "snapshots": rows}


# Quota attainment.


@dataclass(frozen=True)
class DateWindow:
    """``[start, end)`` in dates, e.g. a calendar month."""

    start: datetime.date
    end: datetime.date

    @property
    def last_day(self) -> datetime.date:
        return self.end - datetime.timedelta(days=1)


def month_of(day: datetime.date) -> DateWindow:
    start = day.replace(day=1)
    return DateWindow(start, (start + datetime.timedelta(days=32)).replace(day=1))


def quarter_of(day: datetime.date) -> DateWindow:
    start = day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    end_month = start.month + 3
    end = (
        start.replace(year=start.year + 1, month=1)
        if end_month > 12
        else start.replace(month=end_month)
    )
    return DateWindow(start, end)


def _prorated(target: Decimal, period_start, period_end, window: DateWindow) -> Decimal:
    """The part of a quota's target that falls in ``window`` (by days), as the forecasts prorate."""
    inside = (min(period_end, window.last_day) - max(period_start, window.start)).days + 1
    if inside <= 0:
        return ZERO
    return target * inside / ((period_end - period_start).days + 1)


def _ratio(numerator, denominator) -> float | None:
    if not denominator:
        return None
    return float(numerator / denominator)


def quota_attainment(owners: Q, windows: dict[str, DateWindow]) -> dict[int, dict]:
    """Per person with a quota in any of ``windows``: won value, target and attainment in each (one query).

    The target of a window is the person's quotas prorated by the days of
    their periods inside it, so a calendar-month quota's attainment in its
    month is exactly ``won_value in the quota period / target``. Won value is
    every deal the person won with ``closed_at`` in the window.
    """
    first = min(w.start for w in windows.values())
    last = max(w.end for w in windows.values())
    won = Deal.objects.filter(
        owner_id=OuterRef("owner_id"), status=StageKind.WON, deleted_at__isnull=True
    ).order_by()
    sums = {
        f"won_{name}": Subquery(
            won.filter(closed_at__gte=start_of(w.start), closed_at__lt=start_of(w.end))
            .values("owner_id")
            .annotate(value=Sum("amount"))
            .values("value")
        )
        for name, w in windows.items()
    }
    rows = (
        Quota.objects.filter(owners, period_start__lt=last, period_end__gte=first)
        .annotate(**sums)
        .values(
            "owner_id",
            "owner__username",
            "owner__full_name",
            "owner__first_name",
            "owner__last_name",
            "period_start",
            "period_end",
            "target",
            *sums,
        )
        .order_by("owner_id", "period_start")
    )
    people: dict[int, dict] = {}
    for row in rows:
        person = people.setdefault(
            row["owner_id"],
            {
                "owner_id": row["owner_id"],
                "name": _display_name(row),
                **{name: {"won": row[f"won_{name}"] or ZERO, "target": ZERO} for name in windows},
            },
        )
        for name, w in windows.items():
            person[name]["target"] += _prorated(
                row["target"], row["period_start"], row["period_end"], w
            )
    for person in people.values():
        for name in windows:
            figures = person[name]
            figures["target"] = figures["target"].quantize(Decimal("0.01"))
            figures["attainment"] = _ratio(figures["won"], figures["target"])
    return people


def _display_name(row: dict, prefix: str = "owner__") -> str:
    full = row[f"{prefix}full_name"]
    first_last = f"{row[f'{prefix}first_name']} {row[f'{prefix}last_name']}".strip()
    return full or first_last or row[f"{prefix}username"]


@dataclass(frozen=True)
class LeaderboardRunner:
    """Reps of a scope ranked by quota attainment in the calendar month of ``today`` (one grouped query).

    Pipeline and product scopes have no quotas (they do not split by deal), so no leaderboard.
    The ranking sorts at most one row per rep.
    """

    scope: Scope
    today: datetime.date
    limit: int = 20

    @property
    def cache_key(self) -> str:
        return f"leaderboard:{self.scope.key}:{self.today}:{self.limit}"

    def run(self) -> dict:
        window = month_of(self.today)
        owners = self.scope.quota_owner_filter()
        if owners is None:
            return {"applies": False, "window": window, "rows": [], "total": 0}
        people = quota_attainment(owners & Q(owner__role=Role.REP), {"month": window})
        ranked = sorted(
            people.values(),
            key=lambda p: (
                p["month"]["attainment"] is None,
                -(p["month"]["attainment"] or 0),
                p["name"],
            ),
        )
        rows = [
            {"rank": rank, "owner_id": p["owner_id"], "name": p["name"], **p["month"]}
            for rank, p in enumerate(ranked[: self.limit], start=1)
        ]
        return {"applies": True, "window": window, "rows": rows, "total": len(ranked)}


# Deals that need attention.

DEAL_ROW_FIELDS = (
    "id",
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "created_at",
    "stage_entered_at",
    "stage__id",
    "stage__name",
    "stage__rot_days",
    "account__id",
    "account__name",
    "owner__id",
    "owner__username",
    "owner__full_name",
    "owner__first_name",
    "owner__last_name",
)


def rotting_stages() -> list[Stage]:
    """Open stages that have a limit on days in stage (one query; stages are reference data)."""
    return list(
        Stage.objects.filter(kind=StageKind.OPEN, rot_days__isnull=False).only("pk", "rot_days")
    )


def stalled_condition(stages: list[Stage], today: datetime.date) -> Q:
    """Open deals with more whole days in their stage than the stage's ``rot_days``, as the board counts them.

    One indexable condition per stage, so the database never computes a date per row.
    """
    condition = Q(pk__in=[])
    for stage in stages:
        condition |= Q(
            stage_id=stage.pk,
            stage_entered_at__lt=start_of(today - datetime.timedelta(days=stage.rot_days)),
        )
    return condition


def _deal_row(deal: Deal, today: datetime.date) -> Deal:
    entered = timezone.localtime(deal.stage_entered_at).date()
    deal.days_in_stage = max((today - entered).days, 0)
    deal.days_overdue = max((today - deal.expected_close_date).days, 0)
    deal.is_stalled = deal.stage.rot_days is not None and deal.days_in_stage > deal.stage.rot_days
    deal.is_overdue = deal.expected_close_date < today
    return deal


def _top_deals(deals, limit: int, today: datetime.date, **annotations) -> dict:
    """The ``limit`` biggest deals and how many there are in all, in one query.

    The count and the ranking read deal rows only; accounts, owners and stages
    (and any ``annotations``) are joined for the ``limit`` rows shown.
    """
    biggest = deals.order_by("-amount", "id").values("pk")[:limit]
    total = deals.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    rows = list(
        Deal.objects.filter(pk__in=Subquery(biggest))
        .select_related("stage", "account", "owner")
        .only(*DEAL_ROW_FIELDS)
        .annotate(total=Subquery(total, output_field=IntegerField()), **annotations)
        .order_by("-amount", "id")
    )
    return {
        "rows": [_deal_row(deal, today) for deal in rows],
        "total": rows[0].total if rows else 0,
    }


@dataclass(frozen=True)
class StalledDealsRunner:
    """Open deals of a scope stuck in their stage past its ``rot_days``: the biggest first (two queries)."""

    scope: Scope
    today: datetime.date
    limit: int = 10

    @property
    def cache_key(self) -> str:
        return f"stalled:{self.scope.key}:{self.today}:{self.limit}"

    def run(self, stages: list[Stage] | None = None) -> dict:
        stages = rotting_stages() if stages is None else stages
        deals = (
            deal_rows(self.scope)
            .filter(status=StageKind.OPEN)
            .filter(stalled_condition(stages, self.today))
        )
        return _top_deals(deals, self.limit, self.today)


@dataclass(frozen=True)
class OverdueDealsRunner:
    """Open deals of a scope whose expected close date has passed: the biggest first (one query)."""

    scope: Scope
    today: datetime.date
    limit: int = 10

    @property
    def cache_key(self) -> str:
        return f"overdue:{self.scope.key}:{self.today}:{self.limit}"

    def run(self) -> dict:
        deals = deal_rows(self.scope).filter(
            status=StageKind.OPEN, expected_close_date__lt=self.today
        )
        return _top_deals(deals, self.limit, self.today)


QUIET_DAYS = 14


@dataclass(frozen=True)
class AttentionRunner:
    """A person's open deals that need attention: stalled, overdue, or quiet (no activity in the
    last ``QUIET_DAYS`` days and none planned); the biggest first (two queries)."""

    scope: Scope
    now: datetime.datetime
    limit: int = 10

    @property
    def cache_key(self) -> str:
        return f"attention:{self.scope.key}:{self.now:%Y-%m-%d}:{self.limit}"

    def run(self) -> dict:
        today = timezone.localdate(self.now)
        stalled = stalled_condition(rotting_stages(), today)
        activities = Activity.objects.filter(deal_id=OuterRef("pk"))
        quiet_since = self.now - datetime.timedelta(days=QUIET_DAYS)
        # Anything from QUIET_DAYS ago on, planned ones included, keeps a deal from being quiet;
        # a deal younger than that has not had the time to be.
        touched = activities.filter(occurred_at__gte=quiet_since)
        quiet = Q(created_at__lt=quiet_since) & ~Exists(touched)
        deals = (
            deal_rows(self.scope)
            .filter(status=StageKind.OPEN)
            .filter(stalled | Q(expected_close_date__lt=today) | quiet)
        )
        found = _top_deals(
            deals,
            self.limit,
            today,
            last_activity_at=Subquery(
                activities.filter(occurred_at__lte=self.now)
                .order_by("-occurred_at")
                .values("occurred_at")[:1]
            ),
            next_activity_at=Subquery(
                activities.filter(occurred_at__gt=self.now)
                .order_by("occurred_at")
                .values("occurred_at")[:1]
            ),
        )
        for deal in found["rows"]:
            deal.is_quiet = (
                deal.created_at < quiet_since
                and deal.next_activity_at is None
                and (deal.last_activity_at is None or deal.last_activity_at < quiet_since)
            )
        return found


# The rep's own pages.


@dataclass(frozen=True)
class PipelineByStageRunner:
    """Open deals of a scope per stage, in pipeline order: how many and their value (one grouped query)."""

    scope: Scope

    @property
    def cache_key(self) -> str:
        return f"pipeline-by-stage:{self.scope.key}"

    def run(self) -> list[dict]:
        return list(
            deal_rows(self.scope)
            .filter(status=StageKind.OPEN)
            .values(
                "stage_id", "stage__name", "stage__order", "stage__probability", "pipeline__name"
            )
            .annotate(deals=Count("id"), value=Sum("amount"))
            .order_by("pipeline__name", "stage__order")
        )


@dataclass(frozen=True)
class RecentActivityRunner:
    """The newest activities a person wrote, up to now (one query)."""

    user_id: int
    now: datetime.datetime
    limit: int = 10

    @property
    def cache_key(self) -> str:
        return f"recent-activity:{self.user_id}:{self.limit}"

    def run(self) -> list[Activity]:
        return list(
            Activity.objects.filter(author_id=self.user_id, occurred_at__lte=self.now)
            .select_related("deal", "account")
            .only(
                "id",
                "kind",
                "subject",
                "occurred_at",
                "deal__id",
                "deal__name",
                "account__id",
                "account__name",
            )
            .order_by("-occurred_at", "-id")[: self.limit]
        )
