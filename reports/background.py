"""The embedded recompute: without a broker, stale scopes are recomputed on a thread of the web process.

With no ``REDIS_URL`` Celery runs tasks eagerly, so a recompute queued by a
change would run inside the request that made it. Instead the first change
a process serves starts a timer of ``REPORTS_EMBEDDED_DELAY`` seconds on a
daemon thread; changes meanwhile only mark their scopes. When it fires, every
scope marked stale is recomputed in one grouped pass, and a change marked
while that ran starts the timer again. The timer is started lazily, by the
first change or stale read, only in a process that serves requests (a
management command such as ``seed_demo`` leaves its marks to the web
process), and belongs to the process that started it: runserver's
autoreloader parent serves nothing and never starts one, and a gunicorn
worker forked from a parent that had one starts its own.
"""

import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from reports.models import DirtyScope
from reports.services import dirty_scopes_recompute
from salesmgr.priority import run_below_the_web

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_timer: threading.Timer | None = None
_owner_pid: int | None = None
_serving = False


def on_request_started(**kwargs) -> None:
    """This process serves requests: it may start the embedded recompute (connected in ``ReportsConfig.ready``)."""
    global _serving
    _serving = True


def recompute_soon() -> None:
    """Recompute the stale scopes ``REPORTS_EMBEDDED_DELAY`` seconds from now, unless a recompute is already waiting."""
    global _timer, _owner_pid
    if not _serving:
        return
    with _lock:
        if _owner_pid != os.getpid():
            _timer, _owner_pid = None, os.getpid()
        if _timer is not None:
            return
        _timer = threading.Timer(settings.REPORTS_EMBEDDED_DELAY, _recompute)
        _timer.name = "reports-embedded-recompute"
        _timer.daemon = True
        _timer.start()


def recompute_wait(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until no embedded recompute waits or runs; whether none does."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            timer = _timer if _owner_pid == os.getpid() else None
        if timer is None:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        timer.join(remaining)


def _recompute() -> None:
    global _timer
    run_below_the_web()  # this thread only: the requests' threads keep their priority
    started = timezone.now()
    marked_meanwhile = False
    close_old_connections()
    try:
        dirty_scopes_recompute(until=started)
        marked_meanwhile = DirtyScope.objects.filter(marked_at__gt=started).exists()
    except Exception:
        logger.exception(
            "the embedded recompute of stale scopes failed; the next change or run retries"
        )
    finally:
        connection.close()
        with _lock:
            _timer = None
    if marked_meanwhile:
        recompute_soon()
