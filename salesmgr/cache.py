"""The cache as a helper that never breaks a request: when Redis is down it misses.

Everything kept in the cache can be recomputed or is a convenience (a burst
lock, a throttle counter, a computed figure). A connection failure is logged
and answered as a miss, so a write that has committed still answers 2xx and a
page still renders from the database.
"""

import logging
import threading
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

# What a cache backend raises when its server is unreachable: redis-py's
# errors derive from ConnectionError/TimeoutError, and OSError covers sockets.
CACHE_ERRORS = (ConnectionError, TimeoutError, OSError)

try:  # redis-py is installed with the project, but the cache may be another backend
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover
    pass
else:
    CACHE_ERRORS = (*CACHE_ERRORS, RedisError)


def _unavailable(action: str, key: str, exc: Exception) -> None:
    logger.warning("cache unavailable (%s %s): %s", action, key, exc)


def cache_get(key: str, default: Any = None) -> Any:
    """The cached value, or ``default`` when it is missing or the cache is unreachable."""
    try:
        return cache.get(key, default)
    except CACHE_ERRORS as exc:
        _unavailable("get", key, exc)
        return default


def cache_set(key: str, value: Any, timeout: float | None) -> bool:
    """Store a value; False when the cache is unreachable."""
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        _unavailable("set", key, exc)
        return False
    return True


def cache_add(key: str, value: Any, timeout: float | None) -> bool | None:
    """Store a value only if the key is free: True if stored, False if taken, None if unreachable."""
    try:
        return cache.add(key, value, timeout)
    except CACHE_ERRORS as exc:
        _unavailable("add", key, exc)
        return None


def cache_incr(key: str, timeout: float | None) -> int | None:
    """Count up a key (starting at 1 with ``timeout``); None when the cache is unreachable."""
    try:
        if cache.add(key, 1, timeout):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout)
            return 1
    except CACHE_ERRORS as exc:
        _unavailable("incr", key, exc)
        return None


def cache_delete(key: str) -> bool:
    """Remove a key; False when the cache is unreachable."""
    try:
        cache.delete(key)
    except CACHE_ERRORS as exc:
        _unavailable("delete", key, exc)
        return False
    return True


def cache_touch(key: str, timeout: float | None) -> bool:
    """Give a key a new timeout from now; False when it is gone or the cache is unreachable."""
    try:
        return bool(cache.touch(key, timeout))
    except CACHE_ERRORS as exc:
        _unavailable("touch", key, exc)
        return False


@contextmanager
def cache_lease(key: str, timeout: float):
    """Keep ``key`` (a lock already taken with ``timeout``) for as long as the block runs.

    A thread renews it every third of ``timeout``, so a lock can be short-lived whatever the
    block takes: if the process dies (a worker killed mid-pass), the key lapses within
    ``timeout`` instead of when the longest pass would have ended.
    """
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(timeout / 3):
            cache_touch(key, timeout)

    keeper = threading.Thread(target=renew, name=f"lease {key}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
