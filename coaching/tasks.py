"""Celery tasks of the coaching app: thin and retry-safe (each service writes by its natural key)."""

import datetime

from celery import shared_task
from django.utils import timezone

from coaching.services import milestones_record, reminders_compute

RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 3, "acks_late": True}


@shared_task(name="coaching.daily_reminders", **RETRY)
def daily_reminders(day: str | None = None) -> int:
    """Write the reminders of ``day`` (ISO date; default today): a rerun changes nothing."""
    return reminders_compute(day=datetime.date.fromisoformat(day) if day else timezone.localdate())


@shared_task(name="coaching.record_milestones", **RETRY)
def record_milestones(deal_ids: list[int] | None = None) -> int:
    """Record the quota milestones reached this month and quarter by these deals' owners, or by everyone."""
    return milestones_record(day=timezone.localdate(), deal_ids=deal_ids)
