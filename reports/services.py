"""Writing snapshots: the funnel and the forecasts of a scope, upserted on their natural key."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from pipeline.models import Deal, Pipeline, StageKind
from quotas.models import Territory
from reports.forecasts import HORIZONS, closing_stats, forecast, moment_of
from reports.metrics import Period, deal_rows, funnel, start_of
from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot, ScopeKind
from reports.scopes import Scope
from salesmgr.models import Role, User
from salesmgr.selectors import ancestor_ids

FORECAST_FIELDS = (
    "pipeline",
    "best_case",
    "commit",
    "weighted",
    "model",
    "model_p10",
    "model_p90",
    "overdue_value",
    "won_in_window",
    "quota",
    "window_deals",
)


def scope_kind(scope: Scope) -> str:
    named = [name for name in ("owner", "team", "territory", "pipeline", "product") if getattr(scope, name) is not None]
    if not named:
        return ScopeKind.ORGANISATION
    return named[0] if len(named) == 1 else ScopeKind.CUSTOM


def standard_scopes() -> list[Scope]:
    """The organisation, every manager's team, every rep, territory and pipeline (three queries)."""
    scopes = [Scope()]
    people = User.objects.filter(is_active=True, role__in=[Role.MANAGER, Role.REP]).values_list("pk", "role")
    for pk, role in people:
        scopes.append(Scope(team=pk) if role == Role.MANAGER else Scope(owner=pk))
    scopes += [Scope(territory=pk) for pk in Territory.objects.values_list("pk", flat=True)]
    scopes += [Scope(pipeline=pk) for pk in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True)]
    return scopes


def metric_snapshot_compute(*, scope: Scope, period: Period | None = None) -> MetricSnapshot:
    """Compute the funnel of ``scope`` over ``period`` (the standard 90 days) and upsert it."""
    period = period or Period.default()
    snapshot = MetricSnapshot(
        scope_key=scope.key,
        scope_kind=scope_kind(scope),
        period_start=period.start,
        period_end=period.end,
        data=funnel(scope, period),
        computed_at=timezone.now(),
    )
    MetricSnapshot.objects.bulk_create(
        [snapshot],
        update_conflicts=True,
        unique_fields=["scope_key", "period_start", "period_end"],
        update_fields=["scope_kind", "data", "computed_at"],
    )
    return snapshot


def forecast_snapshots_compute(
    *, scope: Scope, as_of: datetime.date | None = None, now: datetime.datetime | None = None
) -> list[ForecastSnapshot]:
    """Compute the 30, 60 and 90-day forecasts of ``scope`` as of a date and upsert them.

    A past ``as_of`` is computed from the reconstructed history, as it stood then.
    """
    now = now or timezone.now()
    as_of = as_of or timezone.localdate(now)
    moment, _ = moment_of(as_of, now)
    training = closing_stats(scope, moment)
    snapshots = []
    for horizon in HORIZONS:
        figures = forecast(scope, as_of, horizon, now=now, training=training)
        snapshots.append(
            ForecastSnapshot(
                scope_key=scope.key,
                scope_kind=scope_kind(scope),
                as_of=as_of,
                horizon=horizon,
                computed_at=now,
                **{field: figures[field] for field in FORECAST_FIELDS},
            )
        )
    ForecastSnapshot.objects.bulk_create(
        snapshots,
        update_conflicts=True,
        unique_fields=["scope_key", "as_of", "horizon"],
        update_fields=[*FORECAST_FIELDS, "scope_kind", "computed_at"],
    )
    return snapshots


def forecasts_mature(*, today: datetime.date | None = None) -> int:
    """Fill ``actual`` of every snapshot whose window has passed; returns how many.

    One query per scope reads the value won per day; each window's actual is a
    sum over those days.
    """
    today = today or timezone.localdate()
    pending = list(ForecastSnapshot.objects.filter(actual__isnull=True).only("pk", "scope_key", "as_of", "horizon"))
    due = defaultdict(list)
    for snapshot in pending:
        if snapshot.as_of + datetime.timedelta(days=snapshot.horizon) <= today:
            due[snapshot.scope_key].append(snapshot)
    updated = []
    for key, snapshots in due.items():
        first = min(s.as_of for s in snapshots)
        last = max(s.as_of + datetime.timedelta(days=s.horizon) for s in snapshots)
        daily = dict(
            deal_rows(Scope.from_key(key))
            .filter(status=StageKind.WON, closed_at__gte=start_of(first), closed_at__lt=start_of(last))
            .annotate(day=TruncDate("closed_at"))
            .values("day")
            .annotate(value=Sum("amount"))
            .values_list("day", "value")
        )
        for snapshot in snapshots:
            days = (snapshot.as_of + datetime.timedelta(days=n) for n in range(snapshot.horizon))
            snapshot.actual = sum((daily.get(day, Decimal("0")) for day in days), Decimal("0.00"))
            updated.append(snapshot)
    ForecastSnapshot.objects.bulk_update(updated, ["actual"], batch_size=1000)
    return len(updated)


def affected_scope_keys(deal_ids: list[int]) -> set[str]:
    """The standard scopes whose figures a change to these deals can move."""
    keys = {Scope().key}
    rows = Deal.objects.filter(pk__in=deal_ids).values_list("owner_id", "pipeline_id", "account__territory_id")
    owners = set()
    for owner_id, pipeline_id, territory_id in rows:
        owners.add(owner_id)
        keys.add(Scope(owner=owner_id).key)
        keys.add(Scope(pipeline=pipeline_id).key)
        territory = territory_id
        seen = set()
        while territory is not None and territory not in seen:
            seen.add(territory)
            keys.add(Scope(territory=territory).key)
            territory = Territory.objects.filter(pk=territory).values_list("parent_id", flat=True).first()
    for owner_id in owners:
        keys.update(Scope(team=manager_id).key for manager_id in ancestor_ids(owner_id))
    return keys


def scopes_mark_dirty(*, keys: set[str]) -> None:
    """Note that these scopes' snapshots are stale until recomputed."""
    now = timezone.now()
    DirtyScope.objects.bulk_create(
        [DirtyScope(scope_key=key, marked_at=now) for key in keys],
        update_conflicts=True,
        unique_fields=["scope_key"],
        update_fields=["marked_at"],
    )


def scopes_take_dirty(*, until: datetime.datetime) -> list[str]:
    """The scopes marked stale up to ``until``, unmarked as they are handed out."""
    stale = DirtyScope.objects.filter(marked_at__lte=until)
    keys = list(stale.values_list("scope_key", flat=True))
    DirtyScope.objects.filter(scope_key__in=keys, marked_at__lte=until).delete()
    return keys




def forecasts_backfill(
    *,
    start: datetime.date,
    end: datetime.date,
    scopes: list[Scope] | None = None,
    on_day=None,
) -> int:
    """Compute the daily forecast snapshots as of every date in ``[start, end]``, then mature them.

    Each day is computed from the history as it stood that morning, so the
    snapshots are what the forecast would have said then. Returns the number
    of snapshots written; ``on_day(date)`` is called after each day.
    """
    if end < start:
        raise ValueError("The backfill ends before it starts.")
    scopes = scopes if scopes is not None else standard_scopes()
    written = 0
    day = start
    while day <= end:
        for scope in scopes:
            written += len(forecast_snapshots_compute(scope=scope, as_of=day))
        if on_day is not None:
            on_day(day)
        day += datetime.timedelta(days=1)
    forecasts_mature()
    return written
