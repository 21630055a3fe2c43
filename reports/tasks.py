"""Celery tasks of the reports: thin, retry-safe, fanned out per scope.

Every task takes keys, not objects, and writes by upsert on the natural key,
so a retry or a duplicate delivery changes nothing.
"""

import datetime

from celery import group, shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from reports.scopes import Scope
from reports.services import (
    affected_scope_keys,
    forecast_snapshots_compute,
    forecasts_mature,
    metric_snapshot_compute,
    scopes_mark_dirty,
    scopes_take_dirty,
    standard_scopes,
)

RECOMPUTE_LOCK = "reports:recompute-queued"
RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 3, "acks_late": True}


@shared_task(name="reports.snapshot_scope", **RETRY)
def snapshot_scope(scope_key: str, as_of: str | None = None) -> str:
    """Recompute one scope's funnel and forecast snapshots."""
    scope = Scope.from_key(scope_key)
    metric_snapshot_compute(scope=scope)
    forecast_snapshots_compute(scope=scope, as_of=datetime.date.fromisoformat(as_of) if as_of else None)
    return scope_key


@shared_task(name="reports.nightly_snapshots", **RETRY)
def nightly_snapshots() -> int:
    """Fan out one snapshot task per standard scope, then fill the forecasts that matured."""
    keys = [scope.key for scope in standard_scopes()]
    group(snapshot_scope.s(key) for key in keys).apply_async()
    mature_forecasts.delay()
    return len(keys)


@shared_task(name="reports.mature_forecasts", **RETRY)
def mature_forecasts() -> int:
    return forecasts_mature()


@shared_task(name="reports.recompute_dirty_scopes", **RETRY)
def recompute_dirty_scopes() -> int:
    """Recompute every scope marked stale since the last run (one task per scope)."""
    keys = scopes_take_dirty(until=timezone.now())
    if keys:
        group(snapshot_scope.s(key) for key in keys).apply_async()
    return len(keys)


def queue_recompute(deal_ids: list[int]) -> None:
    """Mark the scopes these deals touch as stale and queue one recompute for a burst of changes.

    The first change takes a lock that lives ``REPORTS_RECOMPUTE_DELAY``
    seconds and queues the recompute to run when it ends; changes meanwhile only
    mark their scopes, which that one run picks up.
    """
    scopes_mark_dirty(keys=affected_scope_keys(deal_ids))
    if not settings.REPORTS_RECOMPUTE_ON_CHANGE:
        return
    delay = settings.REPORTS_RECOMPUTE_DELAY
    if cache.add(RECOMPUTE_LOCK, 1, timeout=delay):
        recompute_dirty_scopes.apply_async(countdown=delay)
