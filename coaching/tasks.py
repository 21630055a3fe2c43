"""Celery tasks of the coaching app: thin and retry-safe (each service writes by its natural key)."""

import datetime

from celery import shared_task
from django.utils import timezone

from coaching.digests import digests_due
from coaching.services import digest_send, milestones_record, reminders_compute
from salesmgr.models import User

RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 3, "acks_late": True}


@shared_task(name="coaching.daily_reminders", **RETRY)
def daily_reminders(day: str | None = None) -> int:
    """Write the reminders of ``day`` (ISO date; default today): a rerun changes nothing."""
    return reminders_compute(day=datetime.date.fromisoformat(day) if day else timezone.localdate())


@shared_task(name="coaching.record_milestones", **RETRY)
def record_milestones(deal_ids: list[int] | None = None) -> int:
    """Record the quota milestones reached this month and quarter by these deals' owners, or by everyone."""
    return milestones_record(day=timezone.localdate(), deal_ids=deal_ids)


@shared_task(name="coaching.send_due_digests", **RETRY)
def send_due_digests(now: str | None = None) -> int:
    """Queue every weekly digest whose day and hour have come at ``now`` (ISO moment; default now) and
    that has not gone out this week; the number queued. A rerun queues only those still unsent."""
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    due = digests_due(moment)
    for person_id, week in due:
        send_digest.delay(person_id, week.isoformat(), moment.isoformat())
    return len(due)


@shared_task(name="coaching.send_digest", **RETRY)
def send_digest(person_id: int, week: str, now: str | None = None) -> bool:
    """Send one person the digest of ``week`` (its Monday) unless it went out already."""
    person = User.objects.filter(pk=person_id, is_active=True).first()
    if person is None or not person.email:
        return False
    moment = datetime.datetime.fromisoformat(now) if now else timezone.now()
    sent = digest_send(person=person, week=datetime.date.fromisoformat(week), now=moment)
    return sent is not None
