"""Celery tasks of the core: thin wrappers that call one service."""

from celery import shared_task

from salesmgr.services import signin_throttles_purge


@shared_task(name="salesmgr.purge_signin_throttles", acks_late=True)
def purge_signin_throttles() -> int:
    """Forget failed sign-in windows that have ended; safe to run twice."""
    return signin_throttles_purge()
