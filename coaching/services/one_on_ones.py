"""Writes of the one-on-ones: scheduling a series, recording meetings, notes, talking points and action items.

Each service checks who may act (through the coaching selectors) and the rules
(``coaching.checks``) before it writes; a refusal writes nothing.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coaching.checks import action_item_errors, series_active_clash, series_errors, text_errors
from coaching.models import (
    ActionItem,
    ActionItemStatus,
    MeetingStatus,
    OneOnOne,
    OneOnOneSeries,
    PrivateNote,
    TalkingPoint,
)
from coaching.selectors import meetings_managed_by, meetings_visible_to, series_managed_by
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for

NOT_YOURS = "Only the rep's managers and admins run this one-on-one."
NOTES_MAX = 20_000


def _first_on_or_after(day: datetime.date, weekday: int) -> datetime.date:
    return day + datetime.timedelta(days=(weekday - day.weekday()) % 7)


def _at(series: OneOnOneSeries, day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, series.time))


def _require_manages(by: User, meeting: OneOnOne) -> None:
    if not meetings_managed_by(by).filter(pk=meeting.pk).exists():
        raise PermissionDenied(NOT_YOURS)


def meetings_plan(*, series: OneOnOneSeries, until: datetime.date) -> list[OneOnOne]:
    """Schedule the series' meetings after its last one, up to ``until`` (at least the next one).

    A meeting already at a time (a concurrent call) is never made twice.
    """
    last = series.meetings.order_by("-scheduled_at").values_list("scheduled_at", flat=True).first()
    if last is None:
        day = _first_on_or_after(series.starts_on, series.weekday)
    else:
        day = timezone.localdate(last) + datetime.timedelta(days=series.every_days)
    step = datetime.timedelta(days=series.every_days)
    planned = []
    while not planned or day <= until:
        planned.append(
            OneOnOne.objects.get_or_create(series=series, scheduled_at=_at(series, day))[0]
        )
        day += step
    return planned


@transaction.atomic
def series_schedule(
    *,
    by: User,
    rep: User | None,
    cadence: str,
    weekday: int,
    time: datetime.time | None,
    starts_on: datetime.date | None,
    manager: User | None = None,
) -> OneOnOneSeries:
    """Start a recurring one-on-one between ``manager`` (default: ``by`` if a manager, else the rep's manager) and ``rep``.

    The first meeting is scheduled at once; each recorded meeting schedules the next.
    """
    if manager is None:
        manager = by if by.is_manager else (rep.manager if rep is not None else None)
    errors = series_errors(
        by=by,
        manager=manager,
        rep=rep,
        cadence=cadence,
        weekday=weekday,
        time=time,
        starts_on=starts_on,
    )
    if not errors:
        errors = series_active_clash(manager=manager, rep=rep)
    if errors:
        raise ValidationError(errors)
    series = OneOnOneSeries.objects.create(
        manager=manager, rep=rep, cadence=cadence, weekday=weekday, time=time, starts_on=starts_on
    )
    meetings_plan(series=series, until=starts_on)
    return series


@transaction.atomic
def series_stop(*, series: OneOnOneSeries, by: User) -> OneOnOneSeries:
    """End a series: it schedules nothing more and its meetings still ahead are cancelled."""
    if not series_managed_by(by).filter(pk=series.pk).exists():
        raise PermissionDenied(NOT_YOURS)
    OneOnOneSeries.objects.filter(pk=series.pk).update(active=False)
    series.meetings.filter(status=MeetingStatus.SCHEDULED, scheduled_at__gt=timezone.now()).update(
        status=MeetingStatus.CANCELLED, updated_at=timezone.now()
    )
    series.refresh_from_db()
    return series


@transaction.atomic
def meeting_record(*, meeting: OneOnOne, by: User, status: str) -> OneOnOne:
    """Record whether a meeting was held, missed or cancelled (or put it back to scheduled).

    Once it is past, the series' next meeting is scheduled if it is not already.
    """
    _require_manages(by, meeting)
    if status not in MeetingStatus.values:
        raise ValidationError({"status": "Choose scheduled, held, missed or cancelled."})
    OneOnOne.objects.filter(pk=meeting.pk).update(status=status, updated_at=timezone.now())
    meeting.refresh_from_db()
    series = meeting.series
    later = series.meetings.filter(scheduled_at__gt=meeting.scheduled_at)
    if status != MeetingStatus.SCHEDULED and series.active and not later.exists():
        meetings_plan(series=series, until=timezone.localdate(meeting.scheduled_at))
    return meeting


@transaction.atomic
def meeting_notes_save(
    *, meeting: OneOnOne, by: User, shared: str | None = None, private: str | None = None
) -> OneOnOne:
    """Save the meeting's shared notes and/or the manager's private note (None leaves a part as it is)."""
    _require_manages(by, meeting)
    errors = {
        field: f"Keep the notes to {NOTES_MAX:,} characters."
        for field, text in (("shared_notes", shared), ("private_notes", private))
        if text is not None and len(text) > NOTES_MAX
    }
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    if shared is not None:
        OneOnOne.objects.filter(pk=meeting.pk).update(shared_notes=shared, updated_at=now)
        meeting.shared_notes = shared
    if private is not None:
        PrivateNote.objects.update_or_create(
            meeting=meeting, defaults={"text": private, "updated_by": by, "updated_at": now}
        )
    return meeting


@transaction.atomic
def talking_point_add(*, meeting: OneOnOne, by: User, text: str) -> TalkingPoint:
    """Add a talking point to a meeting; the rep and their managers may."""
    if not meetings_visible_to(by).filter(pk=meeting.pk).exists():
        raise PermissionDenied("You are not part of this one-on-one.")
    errors = text_errors(text)
    if errors:
        raise ValidationError(errors)
    return TalkingPoint.objects.create(meeting=meeting, author=by, text=text.strip())


@transaction.atomic
def action_item_add(
    *, meeting: OneOnOne, by: User, owner: User | None, text: str, due_on: datetime.date | None
) -> ActionItem:
    """Agree an action item at a meeting, owned by the rep or the manager; it carries over until done."""
    _require_manages(by, meeting)
    errors = action_item_errors(meeting=meeting, owner=owner, text=text, due_on=due_on)
    if errors:
        raise ValidationError(errors)
    return ActionItem.objects.create(
        meeting=meeting, owner=owner, text=text.strip(), due_on=due_on, created_by=by
    )


@transaction.atomic
def action_item_complete(*, item: ActionItem, by: User) -> ActionItem:
    """Mark an item done: its owner may, their managers and admins, and whoever runs its one-on-one. Done twice is done once."""
    if not (
        may_act_for(actor=by, owner_id=item.owner_id)
        or (item.meeting_id and meetings_managed_by(by).filter(pk=item.meeting_id).exists())
    ):
        raise PermissionDenied("Only the item's owner and the rep's managers complete it.")
    ActionItem.objects.filter(pk=item.pk, status=ActionItemStatus.OPEN).update(
        status=ActionItemStatus.DONE, completed_at=timezone.now(), completed_by=by
    )
    item.refresh_from_db()
    return item
