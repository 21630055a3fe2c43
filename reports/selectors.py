"""Reads of snapshots: the latest one that answers a question, if any, and whether deals changed since."""

import datetime
from collections import defaultdict

from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast

from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.forecasts import METHODS
from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot

# A read of today's figures before today's snapshots exist answers from a snapshot this recent.
LATEST_DAYS = datetime.timedelta(days=7)


def scope_stale(scope: Scope) -> bool:
    """A deal change since the scope's snapshots were written, to it or to a scope it is part of (one query)."""
    keys = {scope.key, *(part.key for part in scope.parts)}
    return DirtyScope.objects.filter(scope_key__in=keys).exists()


def metric_snapshot_for(
    scope: Scope, start: datetime.date, end: datetime.date
) -> MetricSnapshot | None:
    """The stored funnel for exactly this scope and period, however old (``scope_stale`` says if it is)."""
    return MetricSnapshot.objects.filter(
        scope_key=scope.key, period_start=start, period_end=end
    ).first()


def forecast_snapshots_for(
    scope: Scope, as_of: datetime.date, horizons: tuple[int, ...]
) -> dict[int, ForecastSnapshot]:
    """The stored forecasts for this scope and date by horizon, however old (one query)."""
    snapshots = ForecastSnapshot.objects.filter(
        scope_key=scope.key, as_of=as_of, horizon__in=horizons
    )
    return {snapshot.horizon: snapshot for snapshot in snapshots}


def metric_snapshot_latest(scope: Scope, period: Period) -> MetricSnapshot | None:
    """The stored funnel for this scope and period or, failing that, the latest over a period as long ending up to a week before it (one query)."""
    recent = MetricSnapshot.objects.filter(
        scope_key=scope.key, period_end__lte=period.end, period_end__gte=period.end - LATEST_DAYS
    ).order_by("-period_end")
    return next(
        (
            snapshot
            for snapshot in recent
            if (snapshot.period_end - snapshot.period_start).days == period.days
        ),
        None,
    )


def forecast_snapshots_latest(
    scope: Scope, as_of: datetime.date, horizons: tuple[int, ...]
) -> dict[int, ForecastSnapshot]:
    """The stored forecasts for this scope and date by horizon or, failing that, those of the latest day up to a week before that has every horizon (one query)."""
    by_day: dict[datetime.date, dict[int, ForecastSnapshot]] = defaultdict(dict)
    recent = ForecastSnapshot.objects.filter(
        scope_key=scope.key, horizon__in=horizons, as_of__lte=as_of, as_of__gte=as_of - LATEST_DAYS
    )
    for snapshot in recent:
        by_day[snapshot.as_of][snapshot.horizon] = snapshot
    complete = [day for day, snapshots in by_day.items() if len(snapshots) == len(set(horizons))]
    return by_day[max(complete)] if complete else {}


def matured_forecasts(
    scope: Scope, *, horizon: int | None = None, start=None, end=None
) -> QuerySet:
    """Forecast snapshots of a scope whose window has passed (``actual`` known), oldest first."""
    snapshots = ForecastSnapshot.objects.filter(scope_key=scope.key, actual__isnull=False)
    if horizon is not None:
        snapshots = snapshots.filter(horizon=horizon)
    if start is not None:
        snapshots = snapshots.filter(as_of__gte=start)
    if end is not None:
        snapshots = snapshots.filter(as_of__lt=end)
    return snapshots.order_by("as_of", "horizon")


BAND_SIDES = {
    "below": Q(actual__lt=F("model_p10")),
    "inside": Q(actual__gte=F("model_p10"), actual__lte=F("model_p90")),
    "above": Q(actual__gt=F("model_p90")),
}


def accuracy_summary(snapshots: QuerySet) -> list[dict]:
    """Per horizon and method: mean absolute percentage error and bias, and the model band's
    calibration (the shares of windows whose actual fell below, inside or above P10-P90), in one query.

    MAPE skips windows where nothing was won (its percentage is undefined);
    bias is the mean of ``forecast - actual``. An actual on P10 or P90 is inside.
    """
    with_actual = Q(actual__gt=0)
    aggregates = {"count": Count("pk")}
    for method in METHODS:
        error = Cast(F(method) - F("actual"), FloatField())
        aggregates[f"{method}__mape"] = Avg(
            Abs(error) / Cast(F("actual"), FloatField()), filter=with_actual
        )
        aggregates[f"{method}__bias"] = Avg(error)
    for side, condition in BAND_SIDES.items():
        aggregates[f"band__{side}"] = Avg(
            Case(When(condition, then=Value(1.0)), default=Value(0.0), output_field=FloatField())
        )
    rows = snapshots.order_by().values("horizon").annotate(**aggregates).order_by("horizon")
    return [
        {
            "horizon": row["horizon"],
            "snapshots": row["count"],
            "methods": {
                method: {"mape": row[f"{method}__mape"], "bias": row[f"{method}__bias"]}
                for method in METHODS
            },
            "band": {side: row[f"band__{side}"] for side in BAND_SIDES},
        }
        for row in rows
    ]


def metric_snapshots_fresh(scopes: list[Scope], period: Period) -> dict[str, dict] | None:
    """The stored funnels of scopes of one condition each (a rep, a team...) over exactly ``period``, by
    scope key, when every scope has one that no deal change has made stale since; else None (one query)."""
    if any(len(scope.parts) > 1 for scope in scopes):
        raise ValueError(
            "A combined scope is stale when any of its parts is; read it with scope_stale."
        )
    keys = {scope.key for scope in scopes}
    rows = (
        MetricSnapshot.objects.filter(
            scope_key__in=keys, period_start=period.start, period_end=period.end
        )
        .annotate(stale=Exists(DirtyScope.objects.filter(scope_key=OuterRef("scope_key"))))
        .values_list("scope_key", "data", "stale")
    )
    fresh = {key: data for key, data, stale in rows if not stale}
    return fresh if len(fresh) == len(keys) else None
