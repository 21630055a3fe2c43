"""Reads of the reports on a PostgreSQL streaming replica, everything else on the primary.

With ``DATABASE_REPLICA_URL`` set the settings add a ``replica`` database
alias. Nothing goes there by default: a request is served from the replica
only while ``reads_on_replica`` is on, which ``ReplicaReadsMiddleware``
turns on for the GET requests of the views listed in
``settings.DATABASE_REPLICA_VIEWS`` (dashboards, the report catalog, the
metrics API, exports). Even then the router keeps on the primary:

- every write, and every migration;
- every read inside a transaction on the primary (a service that reads,
  then writes what it read, must read the rows it is about to write);
- sessions, users, tokens, sign-in throttles, idempotency keys and the
  scheduler's tables: who is signed in and what they may do is never a
  replica's (possibly late) answer;
- a client that wrote within the last ``DATABASE_REPLICA_PIN_SECONDS``
  (the middleware's pin), so a user's own change shows on their next page.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

# Apps and models whose reads stay on the primary whatever the request.
PRIMARY_APPS = frozenset(
    {"admin", "auth", "authtoken", "contenttypes", "django_celery_beat", "sessions"}
)
PRIMARY_MODELS = frozenset({"salesmgr.user", "salesmgr.signinthrottle", "salesmgr.idempotencykey"})

_reads_on_replica: ContextVar[bool] = ContextVar("reads_on_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in connections.settings


@contextmanager
def reads_on_replica() -> Iterator[None]:
    """Within this block the router may send reads to the replica."""
    token = _reads_on_replica.set(True)
    try:
        yield
    finally:
        _reads_on_replica.reset(token)


def replica_reads_start() -> Token:
    """Turn replica reads on until ``replica_reads_stop`` (for a request's whole view)."""
    return _reads_on_replica.set(True)


def replica_reads_stop(token: Token) -> None:
    _reads_on_replica.reset(token)


class ReplicaRouter:
    """Installed always; without a ``replica`` alias it routes nothing (Django's default)."""

    def db_for_read(self, model, **hints):
        if not _reads_on_replica.get() or not replica_configured():
            return None
        meta = model._meta
        if meta.app_label in PRIMARY_APPS or meta.label_lower in PRIMARY_MODELS:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the primary's rows: an object read there may refer to one read here.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
