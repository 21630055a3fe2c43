"""Celery tasks of the core: thin wrappers that call one service."""

from celery import shared_task

from salesmgr.audit.services import audit_events_purge
from salesmgr.services import signin_throttles_purge


@shared_task(name="salesmgr.purge_signin_throttles", acks_late=True)
def purge_signin_throttles() -> int:
    """Forget failed sign-in windows that have ended; safe to run twice."""
    return signin_throttles_purge()


@shared_task(name="salesmgr.purge_audit_events", acks_late=True)
def purge_audit_events() -> int:
    """Delete audit events past their retention; safe to run twice."""
    return audit_events_purge()
