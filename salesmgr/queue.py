"""Queueing a Celery task as a helper that never breaks a request: when the broker is down it says so.

A task queued from a request is a follow-up (a recompute, a refresh): the
write it follows has committed and must still be answered. Publishing is
tried once more after a short pause, not for the minutes Celery would wait by
default, and a broker that cannot be reached is logged and answered as None.
For a few seconds after such a failure the process does not try again: one
write rings several doorbells (metrics, milestones), and a dead broker should
cost it one wait, not one per bell. Every queued follow-up has a periodic sweep
that catches what was skipped.
"""

import logging
import time
from collections.abc import Iterable
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError

from salesmgr.cache import CACHE_ERRORS

logger = logging.getLogger(__name__)

# kombu wraps the transport's connection errors in OperationalError; Celery's
# Redis result backend raises RuntimeError when it cannot subscribe to a result.
BROKER_ERRORS = (OperationalError, RuntimeError, *CACHE_ERRORS)
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0, "interval_max": 0.2}
# The Celery queues (settings.CELERY_TASK_ROUTES): what a person waits for, and the long work.
INTERACTIVE_QUEUE = "interactive"
HEAVY_QUEUE = "heavy"
# Seconds after a failed publish during which this process answers None at once.
BROKER_DOWN_PAUSE = 10.0
_broker_down_until = 0.0


def broker_pause_end() -> None:
    """Forget a recent broker failure: the next publish tries the broker again."""
    global _broker_down_until
    _broker_down_until = 0.0


def task_publish(
    task: Task,
    *,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    countdown: float | None = None,
    task_id: str | None = None,
    ignore_result: bool = False,
) -> str | None:
    """Queue ``task``; its id, or None when the broker cannot be reached (logged).

    With ``task_always_eager`` the task runs here and its errors propagate as usual.
    """
    options: dict[str, Any] = {"countdown": countdown, "task_id": task_id}
    if ignore_result:
        # Nobody waits for the result, so the result backend is not asked to follow it.
        options["ignore_result"] = True
    if task.app.conf.task_always_eager:
        return task.apply_async(tuple(args), kwargs, **options).id
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        logger.warning("task queue unavailable (%s): it failed moments ago, not tried", task.name)
        return None
    try:
        return task.apply_async(
            tuple(args), kwargs, retry=True, retry_policy=PUBLISH_RETRY, **options
        ).id
    except BROKER_ERRORS as exc:
        _broker_down_until = time.monotonic() + BROKER_DOWN_PAUSE
        logger.warning("task queue unavailable (%s): %s", task.name, exc)
        return None
