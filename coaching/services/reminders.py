"""The daily reminders: each person's action items due or overdue, and their one-on-ones the next day."""

import datetime

from django.db import transaction
from django.db.models import Q

from coaching.models import ActionItem, ActionItemStatus, MeetingStatus, OneOnOne, Reminder
from pipeline.periods import DAY, start_of

# Days of reminders kept: enough for a weekly digest to read the week gone by.
KEEP_DAYS = 35


def reminders_compute(*, day: datetime.date) -> int:
    """Make ``day``'s reminders exactly what is due then; the number of rows it stands at.

    An open action item due on or before ``day`` reminds its owner; a scheduled
    meeting of an active series on the next day reminds its manager and its
    rep. Rows already there stay, rows no longer due (an item done, a meeting
    cancelled since an earlier run) go: running it twice leaves the same rows.
    Days older than ``KEEP_DAYS`` are dropped.
    """
    items = ActionItem.objects.filter(status=ActionItemStatus.OPEN, due_on__lte=day).values_list(
        "pk", "owner_id"
    )
    meetings = OneOnOne.objects.filter(
        status=MeetingStatus.SCHEDULED,
        series__active=True,
        scheduled_at__gte=start_of(day + DAY),
        scheduled_at__lt=start_of(day + 2 * DAY),
    ).values_list("pk", "series__manager_id", "series__rep_id")
    wanted = [Reminder(person_id=owner, day=day, action_item_id=pk) for pk, owner in items]
    for pk, manager_id, rep_id in meetings:
        wanted += [
            Reminder(person_id=manager_id, day=day, meeting_id=pk),
            Reminder(person_id=rep_id, day=day, meeting_id=pk),
        ]
    keep_items = Q(action_item_id__in=[r.action_item_id for r in wanted if r.action_item_id])
    keep_meetings = Q(meeting_id__in=[r.meeting_id for r in wanted if r.meeting_id])
    with transaction.atomic():
        Reminder.objects.filter(day=day).exclude(keep_items | keep_meetings).delete()
        Reminder.objects.filter(day__lt=day - KEEP_DAYS * DAY).delete()
        Reminder.objects.bulk_create(wanted, ignore_conflicts=True, batch_size=2000)
    return len(wanted)
