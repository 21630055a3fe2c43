"""Writing snapshots: the funnel and the forecasts of a scope, upserted on their natural key; queueing a refresh."""

import datetime
import functools
import json
import operator
import time
import uuid
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal

from celery.result import AsyncResult
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from pipeline.models import Account, Deal, Pipeline, StageKind
from pipeline.money import at_close
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from quotas.models import Territory
from reports import grouped
from reports.forecasts import FORECAST_FIELDS, HORIZONS, closing_stats, forecast, moment_of
from reports.metrics import closed_deal_rows, funnel
from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot, ScopeKind
from salesmgr.cache import cache_set
from salesmgr.models import Role, User
from salesmgr.queue import BROKER_ERRORS, task_publish
from salesmgr.sqlite import ids_among

# The scopes the nightly run snapshots and deal changes mark stale by name.
STANDARD_KINDS = (
    ScopeKind.ORGANISATION,
    ScopeKind.TEAM,
    ScopeKind.OWNER,
    ScopeKind.TERRITORY,
    ScopeKind.PIPELINE,
)


def scope_kind(scope: Scope) -> str:
    named = [
        name
        for name in ("owner", "team", "territory", "pipeline", "product")
        if getattr(scope, name) is not None
    ]
    if not named:
        return ScopeKind.ORGANISATION
    return named[0] if len(named) == 1 else ScopeKind.CUSTOM


def standard_scopes() -> list[Scope]:
    """The organisation, every manager's team, every rep, territory and pipeline (three queries)."""
    scopes = [Scope()]
    people = User.objects.filter(is_active=True, role__in=[Role.MANAGER, Role.REP]).values_list(
        "pk", "role"
    )
    for pk, role in people:
        scopes.append(Scope(team=pk) if role == Role.MANAGER else Scope(owner=pk))
    scopes += [Scope(territory=pk) for pk in Territory.objects.values_list("pk", flat=True)]
    scopes += [
        Scope(pipeline=pk)
        for pk in Pipeline.objects.filter(is_active=True).values_list("pk", flat=True)
    ]
    return scopes


def _metric_snapshot(
    scope: Scope, period: Period, data: dict, computed_at: datetime.datetime
) -> MetricSnapshot:
    return MetricSnapshot(
        scope_key=scope.key,
        scope_kind=scope_kind(scope),
        period_start=period.start,
        period_end=period.end,
        data=data,
        computed_at=computed_at,
    )


def _forecast_snapshot(
    scope: Scope, figures: dict, computed_at: datetime.datetime
) -> ForecastSnapshot:
    return ForecastSnapshot(
        scope_key=scope.key,
        scope_kind=scope_kind(scope),
        as_of=figures["as_of"],
        horizon=figures["horizon"],
        computed_at=computed_at,
        **{field: figures[field] for field in FORECAST_FIELDS},
    )


def _upsert_metrics(snapshots: list[MetricSnapshot]) -> None:
    MetricSnapshot.objects.bulk_create(
        snapshots,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["scope_key", "period_start", "period_end"],
        update_fields=["scope_kind", "data", "computed_at"],
    )


def _upsert_forecasts(snapshots: list[ForecastSnapshot]) -> None:
    ForecastSnapshot.objects.bulk_create(
        snapshots,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["scope_key", "as_of", "horizon"],
        update_fields=[*FORECAST_FIELDS, "scope_kind", "computed_at"],
    )


def metric_snapshot_compute(*, scope: Scope, period: Period | None = None) -> MetricSnapshot:
    """Compute the funnel of ``scope`` over ``period`` (the standard 90 days) and upsert it."""
    period = period or Period.default()
    snapshot = _metric_snapshot(scope, period, funnel(scope, period), timezone.now())
    _upsert_metrics([snapshot])
    return snapshot


def forecast_snapshots_compute(
    *, scope: Scope, as_of: datetime.date | None = None, now: datetime.datetime | None = None
) -> list[ForecastSnapshot]:
    """Compute the 30, 60 and 90-day forecasts of ``scope`` as of a date and upsert them.

    A past ``as_of`` is computed from the reconstructed history, as it stood then.
    """
    now = now or timezone.now()
    as_of = as_of or timezone.localdate(now)
    moment, live = moment_of(as_of, now)
    training = closing_stats(scope, moment, live)
    snapshots = [
        _forecast_snapshot(scope, forecast(scope, as_of, horizon, now=now, training=training), now)
        for horizon in HORIZONS
    ]
    _upsert_forecasts(snapshots)
    return snapshots


def snapshots_compute(
    *, scopes: list[Scope], only_if_dirty: bool = False, now: datetime.datetime | None = None
) -> list[str]:
    """Rewrite today's funnel and forecast snapshots of many scopes; returns the keys written.

    Every scope without a product comes from one grouped pass over the data
    (``reports.grouped``), which costs about what the organisation alone does;
    a product scope is computed on its own. Each scope is then unmarked unless
    a change marked it after the computation started; with ``only_if_dirty``
    scopes no longer marked are skipped.
    """
    by_key = {scope.key: scope for scope in scopes}
    # The marks as they stand before any figure is read: only these are cleared afterwards. A
    # mark that appears during the pass keeps, even when its time (another host's clock) is
    # earlier than the pass's start.
    seen = _marks_seen(by_key)
    if only_if_dirty:
        by_key = {key: scope for key, scope in by_key.items() if key in seen}
    started = now or timezone.now()
    cellular = [scope for scope in by_key.values() if scope.product is None]
    if cellular:
        period = Period.default(timezone.localdate(started))
        today = timezone.localdate(started)
        beside: dict = {}

        def read_beside() -> None:
            # The dashboard lists' and the gap's grouped reads, while the model's Python works.
            beside["lists"] = _dashboard_lists_read(cellular, period, today)
            beside["gap"] = _gap_deals_read(cellular, today)

        # A change's recompute (only the scopes still marked) reuses the model's recent trainings.
        results = grouped.figures(
            cellular,
            period=period,
            now=started,
            reuse_learned=only_if_dirty,
            meanwhile=read_beside,
        )
        # One transaction: a worker killed while writing leaves the previous snapshots whole
        # and the scopes still marked, and the redelivered task writes them all again.
        with transaction.atomic():
            _snapshot_writes_serialized()
            newer = _newer_snapshot_keys([scope.key for scope in cellular], period, started)
            cellular = [scope for scope in cellular if scope.key not in newer]
            _upsert_metrics(
                [
                    _metric_snapshot(scope, period, results[scope.key]["funnel"], started)
                    for scope in cellular
                ]
            )
            _upsert_forecasts(
                [
                    _forecast_snapshot(scope, figures, started)
                    for scope in cellular
                    for figures in results[scope.key]["forecasts"]
                ]
            )
            _dashboard_lists_store(cellular, period, started, beside["lists"])
            _gap_deals_store(cellular, started, beside["gap"])
            _marks_clear(seen, [scope.key for scope in cellular], started)
    for scope in by_key.values():
        if scope.product is not None:
            scope_snapshots_compute(scope=scope)
    return list(by_key)


def _marks_seen(keys) -> dict[str, datetime.datetime]:
    """The stale marks of these scopes that are committed now: key -> when marked."""
    return dict(
        DirtyScope.objects.filter(scope_key__in=list(keys)).values_list("scope_key", "marked_at")
    )


def _marks_clear(
    seen: dict[str, datetime.datetime], keys: list[str], started: datetime.datetime
) -> None:
    """Remove the marks of ``keys`` that were ``seen`` before their figures were read and made
    before ``started``, and only those: a scope marked again since keeps its new mark."""
    pairs = [
        Q(scope_key=key, marked_at=seen[key])
        for key in keys
        if key in seen and seen[key] <= started
    ]
    if pairs:
        DirtyScope.objects.filter(functools.reduce(operator.or_, pairs)).delete()


# Passes that write snapshots take turns (a change's recompute, the sweep, a refresh, the nightly run).
SNAPSHOT_WRITE_LOCK = 7_152_411_001


def _snapshot_writes_serialized() -> None:
    """Inside a transaction: wait until no other pass is writing snapshots (SQLite writes one at a time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SNAPSHOT_WRITE_LOCK])


def _newer_snapshot_keys(keys: list[str], period: Period, started: datetime.datetime) -> set[str]:
    """The scopes whose snapshot of ``period`` a pass started after ``started`` has written already.

    Two passes can overlap; the one that started first and finishes last must
    not put older figures over newer ones (nor unmark what the newer one saw).
    """
    newer = MetricSnapshot.objects.filter(
        scope_key__in=keys,
        period_start=period.start,
        period_end=period.end,
        computed_at__gt=started,
    )
    return set(newer.values_list("scope_key", flat=True))


def _dashboard_lists_read(
    scopes: list[Scope], period: Period, today: datetime.date
) -> dict[str, dict]:
    """The dashboard lists of these scopes (none with a product), for ``_dashboard_lists_store``."""
    # Imported here: the runners read this module.
    from reports.runners.dashboard_lists import grouped_lists

    return grouped_lists(scopes, period, today) if scopes else {}


def _dashboard_lists_store(
    scopes: list[Scope], period: Period, computed_at: datetime.datetime, found: dict | None = None
) -> None:
    """Keep the dashboard's lists (``found``: ``_dashboard_lists_read`` of these scopes and more;
    None: read them now) beside the snapshots written at ``computed_at``, before the scopes are
    unmarked."""
    from reports.runners.dashboard_lists import dashboard_lists_store

    dashboard_lists_store(
        scopes=scopes,
        period=period,
        today=timezone.localdate(computed_at),
        computed_at=computed_at,
        found=found,
    )


def _gap_deals_read(scopes: list[Scope], today: datetime.date) -> dict[str, dict]:
    """The gap's deal figures of these scopes (none with a product), for ``_gap_deals_store``."""
    from reports.runners.gap import gap_deal_figures_grouped

    return gap_deal_figures_grouped(scopes, today) if len(scopes) > 1 else {}


def _gap_deals_store(
    scopes: list[Scope], computed_at: datetime.datetime, found: dict | None = None
) -> None:
    """Keep the gap's deal figures (``found``: ``_gap_deals_read`` of these scopes and more; None:
    read them now) beside the forecast snapshots written at ``computed_at``."""
    from reports.runners.gap import gap_deals_store

    gap_deals_store(
        scopes=scopes, today=timezone.localdate(computed_at), computed_at=computed_at, found=found
    )


def dirty_scopes_recompute(*, until: datetime.datetime | None = None) -> list[str]:
    """Recompute every scope marked stale (up to ``until``, default now) in one grouped pass; returns the keys written."""
    keys = scopes_dirty(until=until or timezone.now())
    if not keys:
        return []
    return snapshots_compute(scopes=[Scope.from_key(key) for key in keys], only_if_dirty=True)


def forecasts_mature(*, today: datetime.date | None = None) -> int:
    """Fill ``actual`` of every snapshot whose window has passed; returns how many.

    One query per scope reads the value won per day; each window's actual is a
    sum over those days.
    """
    today = today or timezone.localdate()
    pending = list(
        ForecastSnapshot.objects.filter(actual__isnull=True).only(
            "pk", "scope_key", "as_of", "horizon"
        )
    )
    due = defaultdict(list)
    for snapshot in pending:
        if snapshot.as_of + datetime.timedelta(days=snapshot.horizon) <= today:
            due[snapshot.scope_key].append(snapshot)
    updated = []
    for key, snapshots in due.items():
        first = min(s.as_of for s in snapshots)
        last = max(s.as_of + datetime.timedelta(days=s.horizon) for s in snapshots)
        daily = dict(
            closed_deal_rows(Scope.from_key(key))
            .filter(
                status=StageKind.WON, closed_at__gte=start_of(first), closed_at__lt=start_of(last)
            )
            .annotate(day=TruncDate("closed_at"))
            .values("day")
            .annotate(value=Sum(at_close()))
            .values_list("day", "value")
        )
        for snapshot in snapshots:
            days = (snapshot.as_of + datetime.timedelta(days=n) for n in range(snapshot.horizon))
            snapshot.actual = sum((daily.get(day) or Decimal("0") for day in days), Decimal("0.00"))
            updated.append(snapshot)
    ForecastSnapshot.objects.bulk_update(updated, ["actual"], batch_size=1000)
    return len(updated)


def affected_scope_keys(deal_ids: list[int], territory_ids: list[int] | tuple = ()) -> set[str]:
    """The scopes whose figures a change to these deals can move (a few more are harmless, one fewer is not).

    The organisation and, for every version of each deal (now and before the
    change: a reassigned deal leaves its old owner's figures too), its owner,
    the owner's managers' teams, its pipeline and its account's territory with
    the territories above it; ``territory_ids`` adds territories whose accounts
    moved. Then every other scope that has snapshots (a combined or product
    scope) and is made only of those parts. One query, whatever the number of deals.
    """
    keys = {Scope().key}
    others = set()
    with connection.cursor() as cursor:
        cursor.execute(*_touched_scopes_sql(deal_ids, territory_ids))
        for kind, pk, other in cursor.fetchall():
            if kind == "other":
                others.add(other)
            else:
                keys.add(Scope(**{kind: pk}).key)
    # A product is no part here: any change may have touched a product's deals.
    keys |= {
        key
        for key in others
        if all(part.key in keys for part in Scope.from_key(key).parts if part.product is None)
    }
    return keys


def _ids_in(column: str, ids) -> tuple[str, object]:
    """``column`` among ``ids``, as SQL and its one parameter."""
    among, param = ids_among(ids)
    return f"{column} {among}", param


def _touched_scopes_sql(deal_ids, territory_ids) -> tuple[str, list]:
    """One statement answering (kind, id, None) for every owner, pipeline, team and territory
    ``affected_scope_keys`` names, and ("other", None, key) for every other scope with snapshots.

    Each version's account is joined, not required: a version whose account is gone still
    counts. A territory named in ``territory_ids`` counts even when it is gone.
    """
    deals = _ids_in("d.id", deal_ids)
    versions = _ids_in("h.id", deal_ids)
    named = [int(pk) for pk in territory_ids]
    if connection.vendor == "postgresql":
        named = "unnest(%s::bigint[])", named
    else:
        named = "value FROM json_each(%s)", json.dumps(named)
    standard = ", ".join(f"'{kind}'" for kind in STANDARD_KINDS)
    sql = f"""
        WITH RECURSIVE versions(owner_id, pipeline_id, territory_id) AS (
            SELECT d.owner_id, d.pipeline_id, a.territory_id
            FROM {Deal._meta.db_table} d LEFT JOIN {Account._meta.db_table} a ON a.id = d.account_id
            WHERE {deals[0]}
            UNION
            SELECT h.owner_id, h.pipeline_id, a.territory_id
            FROM {Deal.history.model._meta.db_table} h
            LEFT JOIN {Account._meta.db_table} a ON a.id = h.account_id
            WHERE {versions[0]}
        ),
        managers(id) AS (
            SELECT u.manager_id FROM {User._meta.db_table} u
            WHERE u.id IN (SELECT owner_id FROM versions) AND u.manager_id IS NOT NULL
            UNION
            SELECT u.manager_id FROM {User._meta.db_table} u JOIN managers m ON u.id = m.id
            WHERE u.manager_id IS NOT NULL
        ),
        territories(id) AS (
            SELECT territory_id FROM versions WHERE territory_id IS NOT NULL
            UNION
            SELECT {named[0]}
            UNION
            SELECT t.parent_id FROM {Territory._meta.db_table} t JOIN territories s ON t.id = s.id
            WHERE t.parent_id IS NOT NULL
        )
        SELECT 'owner', owner_id, NULL FROM versions
        UNION ALL SELECT 'pipeline', pipeline_id, NULL FROM versions
        UNION ALL SELECT 'team', id, NULL FROM managers
        UNION ALL SELECT 'territory', id, NULL FROM territories
        UNION ALL SELECT 'other', NULL, scope_key FROM {MetricSnapshot._meta.db_table}
            WHERE scope_kind NOT IN ({standard})
        UNION ALL SELECT 'other', NULL, scope_key FROM {ForecastSnapshot._meta.db_table}
            WHERE scope_kind NOT IN ({standard})
    """
    return sql, [deals[1], versions[1], named[1]]


def _other_snapshot_keys() -> set[str]:
    """Keys of the scopes outside the standard ones that have snapshots (asked for through a refresh)."""
    other = ~Q(scope_kind__in=STANDARD_KINDS)
    metric = MetricSnapshot.objects.filter(other).order_by().values_list("scope_key", flat=True)
    forecast = ForecastSnapshot.objects.filter(other).order_by().values_list("scope_key", flat=True)
    return set(metric.union(forecast))  # UNION: the distinct keys of both, in one query


def every_scope_key() -> set[str]:
    """Every scope with figures to keep: the standard ones and any other that has snapshots."""
    return {scope.key for scope in standard_scopes()} | _other_snapshot_keys()


MARKS_PER_STATEMENT = 400


def scopes_mark_dirty(*, keys: set[str]) -> None:
    """Note that these scopes' snapshots are stale until recomputed."""
    # As the ORM writes a date-time to this database (SQLite keeps text in its own form, which
    # the marks' later reads compare with).
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    ordered = sorted(keys)  # concurrent marks take the rows' locks in one order
    # One statement a batch (an upsert is atomic on its own), so a change's few marks need no
    # transaction around them and no ORM compile; batches keep under SQLite's 999 parameters,
    # and several batches are written together or not at all.
    batches = transaction.atomic() if len(ordered) > MARKS_PER_STATEMENT else nullcontext()
    with batches, connection.cursor() as cursor:
        for start in range(0, len(ordered), MARKS_PER_STATEMENT):
            batch = ordered[start : start + MARKS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {DirtyScope._meta.db_table} (scope_key, marked_at) VALUES "
                + ", ".join(["(%s, %s)"] * len(batch))
                + " ON CONFLICT (scope_key) DO UPDATE SET marked_at = excluded.marked_at",
                [value for key in batch for value in (key, now)],
            )


def scopes_dirty(*, until: datetime.datetime | None = None) -> list[str]:
    """The scopes marked stale (up to ``until``).

    They stay marked until their snapshots are rewritten (``scope_snapshots_compute``),
    so readers see them stale until then, even while the recompute waits in a queue.
    """
    stale = (
        DirtyScope.objects.all()
        if until is None
        else DirtyScope.objects.filter(marked_at__lte=until)
    )
    return list(stale.order_by("scope_key").values_list("scope_key", flat=True))


def scope_snapshots_compute(*, scope: Scope, as_of: datetime.date | None = None) -> None:
    """Rewrite one scope's funnel and forecast snapshots (the forecasts as of ``as_of``, default today).

    Then the scope's stale mark is removed unless a change marked it again
    after the computation started. A forecast as of a past date leaves the
    mark: today's figures were not rewritten.
    """
    started = timezone.now()
    seen = _marks_seen([scope.key])  # before any figure is read: see snapshots_compute
    with transaction.atomic():  # all of the scope's snapshots, or none of them
        _snapshot_writes_serialized()
        today = as_of is None or as_of >= timezone.localdate(started)
        if today and _newer_snapshot_keys(
            [scope.key], Period.default(timezone.localdate(started)), started
        ):
            return
        snapshot = metric_snapshot_compute(scope=scope)
        forecast_snapshots_compute(scope=scope, as_of=as_of, now=started)
        _dashboard_lists_store(
            [scope], Period.default(timezone.localdate(started)), snapshot.computed_at
        )
        if as_of is None or as_of >= timezone.localdate(started):
            _gap_deals_store([scope], started)
            _marks_clear(seen, [scope.key], started)


def forecasts_backfill(
    *,
    start: datetime.date,
    end: datetime.date,
    scopes: list[Scope] | None = None,
    every: int = 1,
    on_day=None,
) -> int:
    """Compute the forecast snapshots as of every ``every``-th date in ``[start, end]``, then mature them.

    Each day is computed from the history as it stood that morning, so the
    snapshots are what the forecast would have said then. Every scope without
    a product comes from one grouped pass per day (``grouped.forecasts_as_of``),
    which costs about what the organisation alone does; a product scope is
    computed on its own. Returns the number of snapshots written;
    ``on_day(date)`` is called after each day.
    """
    if every < 1:
        raise ValueError("every must be at least 1 day.")
    if end < start:
        raise ValueError("The backfill ends before it starts.")
    scopes = scopes if scopes is not None else standard_scopes()
    cellular = [scope for scope in scopes if scope.product is None]
    by_product = [scope for scope in scopes if scope.product is not None]
    now = timezone.now()
    written = 0
    day = start
    while day <= end:
        if cellular:
            results = grouped.forecasts_as_of(cellular, as_of=day, now=now)
            snapshots = [
                _forecast_snapshot(scope, figures, now)
                for scope in cellular
                for figures in results[scope.key]
            ]
            _upsert_forecasts(snapshots)
            written += len(snapshots)
        for scope in by_product:
            written += len(forecast_snapshots_compute(scope=scope, as_of=day, now=now))
        if on_day is not None:
            on_day(day)
        day += datetime.timedelta(days=every)
    forecasts_mature()
    return written


# Refreshing a scope's snapshots on request.

REFRESH_OWNER = "reports:refresh-owner:{}"
REFRESH_OWNER_TIMEOUT = 24 * 3600


class RefreshUnavailable(Exception):
    """Redis cannot be reached: a refresh can be neither queued nor followed."""

    def __init__(self) -> None:
        super().__init__(
            "The figures cannot be recomputed right now: the task queue is unreachable. Try again in a minute."
        )


@dataclass
class RefreshState:
    task_id: str
    state: str
    ready: bool
    # Not finished within ``REFRESH_POLL_TIMEOUT_SECONDS`` of being queued: the page stops
    # polling and says so (a worker may be down; the task finishes when one is back).
    timed_out: bool = False


def refresh_queue(*, user: User, scope: Scope) -> str:
    """Queue a recompute of ``scope``'s snapshots for ``user``; returns the task id only they may poll.

    Raises ``RefreshUnavailable`` when the owner mark or the task cannot be stored.
    """
    from reports.tasks import snapshot_scope  # the tasks module imports this one

    task_id = str(uuid.uuid4())
    owner = (user.pk, time.time())
    if not cache_set(REFRESH_OWNER.format(task_id), owner, REFRESH_OWNER_TIMEOUT):
        raise RefreshUnavailable
    if task_publish(snapshot_scope, args=[scope.key], task_id=task_id) is None:
        raise RefreshUnavailable
    return task_id


def refresh_state(*, user: User, task_id: str) -> RefreshState | None:
    """The state of a recompute ``user`` queued, or None when it is not theirs (or unknown).

    Raises ``RefreshUnavailable`` when Redis cannot be reached: the cache is
    read directly, since a miss would wrongly answer "not yours".
    """
    try:
        uuid.UUID(task_id)
    except ValueError:
        return None  # not an id refresh_queue made: nothing to look up
    try:
        owner = cache.get(REFRESH_OWNER.format(task_id))
        if not isinstance(owner, tuple) or owner[0] != user.pk:
            return None
        result = AsyncResult(task_id)
        ready = result.ready()
        waited = time.time() - owner[1]
        timed_out = not ready and waited > settings.REFRESH_POLL_TIMEOUT_SECONDS
        return RefreshState(task_id=task_id, state=result.state, ready=ready, timed_out=timed_out)
    except BROKER_ERRORS as exc:
        raise RefreshUnavailable from exc
