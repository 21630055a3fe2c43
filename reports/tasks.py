"""Celery tasks of the reports: thin and retry-safe.

Every task takes keys, not objects, and writes by upsert on the natural key,
so a retry or a duplicate delivery changes nothing. Many scopes are computed
together in one grouped pass (``snapshot_scopes``): the organisation, the teams,
the territories and the pipelines each cover every deal, so one task per scope
would read the whole database once per scope.
"""

import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from pipeline.scopes import Scope
from reports.background import recompute_soon
from reports.grouped import learned_forget
from reports.services import (
    affected_scope_keys,
    every_scope_key,
    forecasts_mature,
    scope_snapshots_compute,
    scopes_dirty,
    scopes_mark_dirty,
    snapshots_compute,
    standard_scopes,
)
from salesmgr.cache import cache_add, cache_delete, cache_lease
from salesmgr.queue import INTERACTIVE_QUEUE, task_publish

RECOMPUTE_LOCK = "reports:recompute-queued"
RECOMPUTE_RUNNING = "reports:recompute-running"
RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 3, "acks_late": True}


@shared_task(name="reports.snapshot_scope", **RETRY)
def snapshot_scope(scope_key: str, as_of: str | None = None) -> str:
    """Recompute one scope's funnel and forecast snapshots."""
    scope_snapshots_compute(
        scope=Scope.from_key(scope_key), as_of=datetime.date.fromisoformat(as_of) if as_of else None
    )
    return scope_key


@shared_task(name="reports.snapshot_scopes", **RETRY)
def snapshot_scopes(scope_keys: list[str], only_if_dirty: bool = False) -> int:
    """Recompute many scopes' funnel and forecast snapshots in one grouped pass.

    A change's recompute (``only_if_dirty``) runs one at a time: while one runs, another
    rings for a recompute after it instead (``recompute_ring``), rather than compute the
    same scopes beside it on the worker's other process, each pass then taking twice as long
    on a machine the web shares. The marks stay; the pass that runs next reads them all.
    The running pass holds its mark as a lease of ``REPORTS_RECOMPUTE_LEASE`` seconds, renewed
    while it runs: a worker killed mid-pass holds up the next one for at most that long.
    """
    scopes = [Scope.from_key(key) for key in scope_keys]
    if not only_if_dirty:
        return len(snapshots_compute(scopes=scopes))
    lease = settings.REPORTS_RECOMPUTE_LEASE
    running = cache_add(RECOMPUTE_RUNNING, 1, timeout=lease)
    if running is False:
        recompute_ring()
        return 0
    if running is None:  # no cache: nothing to hold, nothing to wait for
        return len(snapshots_compute(scopes=scopes, only_if_dirty=True))
    try:
        with cache_lease(RECOMPUTE_RUNNING, lease):
            return len(snapshots_compute(scopes=scopes, only_if_dirty=True))
    finally:
        cache_delete(RECOMPUTE_RUNNING)


@shared_task(name="reports.nightly_snapshots", **RETRY)
def nightly_snapshots() -> int:
    """Queue the snapshots of every standard scope (and any other still stale), then fill matured forecasts."""
    keys = [scope.key for scope in standard_scopes()]
    standard = set(keys)
    keys += [key for key in scopes_dirty() if key not in standard]
    snapshot_scopes.delay(keys)
    mature_forecasts.delay()
    return len(keys)


@shared_task(name="reports.mature_forecasts", **RETRY)
def mature_forecasts() -> int:
    return forecasts_mature()


@shared_task(name="reports.recompute_dirty_scopes", **RETRY)
def recompute_dirty_scopes() -> int:
    """Recompute every scope marked stale, in one grouped pass; each is unmarked once written.

    Queued after a burst of changes and, as the sweep, by beat every
    ``REPORTS_SWEEP_SECONDS``: marks left while the broker was down are picked
    up once it is back, without another change or the nightly run.
    """
    keys = scopes_dirty(until=timezone.now())
    if keys:
        # People are waiting for these figures: the interactive queue, not the nightly one's.
        snapshot_scopes.apply_async((keys,), {"only_if_dirty": True}, queue=INTERACTIVE_QUEUE)
    return len(keys)


def queue_recompute(deal_ids: list[int], territory_ids: list[int] | tuple = ()) -> None:
    """Mark the scopes these deals touch as stale, then ring for one recompute of a burst of changes.

    Runs after the change has committed (see ``scopes_recompute_soon``).
    """
    scopes_recompute_soon(keys=affected_scope_keys(deal_ids, territory_ids))


def queue_recompute_everywhere() -> None:
    """Mark every scope stale and ring for one recompute: the exchange rates changed, so any
    converted figure may have moved, the model's trainings too."""
    learned_forget()
    scopes_recompute_soon(keys=every_scope_key())


def scopes_recompute_soon(*, keys: set[str]) -> None:
    """Mark these scopes as stale, then ring for one recompute of a burst of marks.

    The mark goes to the database first, so it survives a Redis outage; a
    recompute unmarks only scopes marked before it started, so a mark written
    inside a transaction could be cleared by a recompute that never saw the
    change. The first mark then takes a lock that lives
    ``REPORTS_RECOMPUTE_DELAY`` seconds and queues the recompute to run when
    it ends; marks meanwhile only mark. With Redis unreachable nothing is
    queued and the sweep picks the marks up. Without a worker
    (``REPORTS_RECOMPUTE_ON_CHANGE`` off) the embedded recompute
    (``reports.background``) runs it on a thread of this process instead,
    when ``REPORTS_EMBEDDED_RECOMPUTE`` is on.
    """
    scopes_mark_dirty(keys=keys)
    recompute_ring()


def recompute_ring() -> None:
    """Ring for one recompute of every scope marked stale; rings within ``REPORTS_RECOMPUTE_DELAY`` of the first are one."""
    if not settings.REPORTS_RECOMPUTE_ON_CHANGE:
        if settings.REPORTS_EMBEDDED_RECOMPUTE:
            recompute_soon()
        return
    delay = settings.REPORTS_RECOMPUTE_DELAY
    if cache_add(RECOMPUTE_LOCK, 1, timeout=delay):
        task_publish(recompute_dirty_scopes, countdown=delay, ignore_result=True)
