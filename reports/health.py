"""Health endpoints for load balancers, container health checks and operators.

``/healthz`` says the web process is up and answers, touching nothing else.
``/readyz`` checks what a request needs and what keeps the figures fresh, each
part with its own time limit, and answers 503 when the database or (where one
is configured) Redis cannot be reached. A worker that did not answer a ping,
beat not having run for a while and the age of the oldest scope's latest
snapshot are reported, not failed on: the app serves without them, from the
snapshots it has.
"""

import time

from django.conf import settings
from django.db import connection
from django.db.models import Max, Min
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django_celery_beat.models import PeriodicTask

from reports.models import MetricSnapshot
from salesmgr.celery import app as celery_app

WORKER_PING_SECONDS = 1.0


@require_safe
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        answer = {"ok": True, **(check() or {})}
    except Exception as exc:  # noqa: BLE001 - a readiness probe reports every failure, never raises
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    answer["ms"] = round((time.monotonic() - started) * 1000, 1)
    return answer


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _redis() -> dict:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=settings.REDIS_TIMEOUT_SECONDS)
    return {}


def _worker() -> dict:
    replies = celery_app.control.ping(timeout=WORKER_PING_SECONDS)
    if not replies:
        raise RuntimeError(f"no worker answered a ping within {WORKER_PING_SECONDS:g} s")
    return {"workers": len(replies)}


def _beat(now) -> dict:
    last = PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]
    return {
        "last_run_at": last.isoformat() if last else None,
        "seconds_since": round((now - last).total_seconds()) if last else None,
    }


def _snapshots(now) -> dict:
    """The age of the stalest scope's newest snapshot: how old the oldest figure a page shows can be."""
    newest = MetricSnapshot.objects.values("scope_key").annotate(newest=Max("computed_at"))
    oldest = newest.aggregate(oldest=Min("newest"))["oldest"]
    return {"oldest_latest_computed_at": oldest.isoformat() if oldest else None,
            "age_seconds": round((now - oldest).total_seconds()) if oldest else None}  # fmt: skip


@require_safe
@never_cache
def readyz(request):
    now = timezone.now()
    checks = {"database": _timed(_database)}
    queued = bool(settings.REDIS_URL)
    if queued:
        checks["redis"] = _timed(_redis)
        checks["worker"] = _timed(_worker)
    if checks["database"]["ok"]:
        checks["beat"] = _timed(lambda: _beat(now))
        checks["snapshots"] = _timed(lambda: _snapshots(now))
    required = ["database", "redis"] if queued else ["database"]
    ready = all(checks[name]["ok"] for name in required)
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)
