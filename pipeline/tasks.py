"""Celery tasks of the pipeline: thin wrappers that call one service."""

import datetime

from celery import shared_task
from django.conf import settings

from pipeline.services import deals_purge_deleted
from pipeline.services.import_jobs import import_job_run
from pipeline.services.territories import realignment_run, realignments_requeue_stalled
from salesmgr.queue import task_publish


@shared_task(
    name="pipeline.purge_deleted_deals", acks_late=True, max_retries=3, default_retry_delay=60
)
def purge_deleted_deals(days: int = 30) -> int:
    """Remove deals soft-deleted more than ``days`` ago; safe to run twice."""
    return deals_purge_deleted(older_than=datetime.timedelta(days=days))


@shared_task(
    name="pipeline.realign_territories", acks_late=True, max_retries=3, default_retry_delay=30
)
def realign_territories(job_id: int) -> int:
    """Run (or resume) one territory realignment job; a second run of a finished job does nothing."""
    return realignment_run(job_id=job_id).done


@shared_task(name="pipeline.requeue_stalled_realignments", acks_late=True)
def requeue_stalled_realignments() -> list[int]:
    """Queue again the realignment jobs with no progress for a while (run by beat every minute)."""
    return realignments_requeue_stalled(
        run=lambda job_id: task_publish(realign_territories, args=[job_id], ignore_result=True)
    )


# Celery finds tasks in each app's ``tasks`` module: the webhooks' tasks are registered here.
from pipeline.webhooks.tasks import webhook_deliver, webhooks_sweep_task  # noqa: E402, F401


@shared_task(name="pipeline.run_import", acks_late=True, max_retries=3, default_retry_delay=30)
def run_import(job_id: int) -> int:
    """Run (or resume) an import's dry run or writing run for a slice of time, then queue the rest.

    Slices keep each task within Celery's time limit; eagerly (no broker) it runs to the end.
    A finished job is left alone.
    """
    eager = run_import.app.conf.task_always_eager
    job = import_job_run(job_id=job_id, seconds=None if eager else settings.IMPORT_SLICE_SECONDS)
    if job is not None and job.is_busy:
        task_publish(run_import, args=[job_id], ignore_result=True)
    return job.done if job else 0
