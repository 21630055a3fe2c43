"""Celery tasks of webhooks: send one delivery; sweep for what was not queued."""

from celery import shared_task

from pipeline.webhooks.services import webhook_delivery_attempt, webhooks_sweep
from salesmgr.queue import task_publish


@shared_task(name="pipeline.webhook_deliver", acks_late=True, ignore_result=True)
def webhook_deliver(delivery_id: int, attempts: int | None = None) -> str:
    """Try one delivery; a message for an attempt already made, or a finished delivery, does nothing."""
    return webhook_delivery_attempt(
        delivery_id=delivery_id, attempts=attempts, publish=webhook_publish
    )


@shared_task(name="pipeline.webhooks_sweep", acks_late=True, ignore_result=True)
def webhooks_sweep_task() -> int:
    """Queue the due deliveries nobody queued (run by beat)."""
    return len(webhooks_sweep(publish=webhook_publish))


def webhook_publish(delivery_id: int, attempts: int, countdown: float) -> None:
    """Queue a delivery's attempt in ``countdown`` seconds.

    Without a broker tasks run in the calling process, where waiting is not an
    option: a later attempt is then left to the sweep.
    """
    if webhook_deliver.app.conf.task_always_eager and countdown > 0:
        return
    task_publish(
        webhook_deliver,
        args=[delivery_id, attempts],
        countdown=countdown or None,
        ignore_result=True,
    )
