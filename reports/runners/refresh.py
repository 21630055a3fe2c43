"""Refreshing a scope's snapshots: queue a recompute and let only its requester poll it."""

from dataclasses import dataclass

from celery.result import AsyncResult
from django.core.cache import cache

from pipeline.scopes import Scope
from reports.tasks import snapshot_scope
from salesmgr.models import User

REFRESH_OWNER = "reports:refresh-owner:{}"
REFRESH_OWNER_TIMEOUT = 24 * 3600


@dataclass
class RefreshState:
    task_id: str
    state: str
    ready: bool


def refresh_queue(*, user: User, scope: Scope) -> str:
    """Queue a recompute of ``scope``'s snapshots for ``user``; returns the task id only they may poll."""
    result = snapshot_scope.delay(scope.key)
    cache.set(REFRESH_OWNER.format(result.id), user.pk, timeout=REFRESH_OWNER_TIMEOUT)
    return result.id


def refresh_state(*, user: User, task_id: str) -> RefreshState | None:
    """The state of a recompute ``user`` queued, or None when it is not theirs (or unknown)."""
    if cache.get(REFRESH_OWNER.format(task_id)) != user.pk:
        return None
    result = AsyncResult(task_id)
    return RefreshState(task_id=task_id, state=result.state, ready=result.ready())
