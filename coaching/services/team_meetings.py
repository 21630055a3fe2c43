"""Writes of the team meetings: scheduling one, recording it held or cancelled, its minutes and action items.

Each service checks who may act (through ``coaching.team_meetings``) and the
rules (the ``*_errors`` checks here, which write nothing) before it writes; a
refusal writes nothing.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coaching.checks import Errors, text_errors
from coaching.models import ActionItem, ActionItemStatus, TeamMeeting, TeamMeetingStatus
from coaching.team_meetings import team_meetings_managed_by
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import is_in_team

NOT_YOURS = "Only the team's manager and admins run its team meetings."
MINUTES_MAX = 20_000
# A meeting's agenda reads the weeks around it; dates far outside the business's life are typos.
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100


def _require_runs(by: User, meeting: TeamMeeting) -> None:
    if not team_meetings_managed_by(by).filter(pk=meeting.pk).exists():
        raise PermissionDenied(NOT_YOURS)


def team_meeting_errors(
    *, by: User, manager: User | None, scheduled_at: datetime.datetime | None
) -> Errors:
    """Whether ``by`` may schedule a meeting of ``manager``'s team at ``scheduled_at`` (one query for a clash).

    A manager schedules their own team's meetings, an admin any manager's; two
    meetings of one team never share a time.
    """
    errors: Errors = {}
    if manager is None:
        errors["manager"] = "Choose the manager whose team meets."
    elif not manager.is_manager:
        errors["manager"] = "Only a manager has a team to meet."
    elif not manager.is_active:
        errors["manager"] = "This person's account is inactive."
    elif not by.is_admin and manager.pk != by.pk:
        errors["manager"] = "You schedule your own team's meetings only."
    if scheduled_at is None:
        errors["scheduled_at"] = "Give the date and time."
    elif not EARLIEST_YEAR <= scheduled_at.year <= LATEST_YEAR:
        errors["scheduled_at"] = f"Give a date from {EARLIEST_YEAR} to {LATEST_YEAR}."
    if (
        not errors
        and TeamMeeting.objects.filter(manager=manager, scheduled_at=scheduled_at).exists()
    ):
        errors["scheduled_at"] = "The team already has a meeting at this time."
    return errors


@transaction.atomic
def team_meeting_schedule(
    *, by: User, scheduled_at: datetime.datetime | None, manager: User | None = None
) -> TeamMeeting:
    """Schedule a meeting of ``manager``'s team (default: ``by``'s own)."""
    if manager is None and by.is_manager:
        manager = by
    errors = team_meeting_errors(by=by, manager=manager, scheduled_at=scheduled_at)
    if errors:
        raise ValidationError(errors)
    return TeamMeeting.objects.create(manager=manager, scheduled_at=scheduled_at, created_by=by)


@transaction.atomic
def team_meeting_schedule_next(*, meeting: TeamMeeting, by: User) -> TeamMeeting:
    """The same team's meeting a week after ``meeting``, scheduled if it is not already."""
    _require_runs(by, meeting)
    next_at = meeting.scheduled_at + datetime.timedelta(days=7)
    existing = TeamMeeting.objects.filter(manager_id=meeting.manager_id, scheduled_at=next_at)
    return existing.first() or TeamMeeting.objects.create(
        manager_id=meeting.manager_id, scheduled_at=next_at, created_by=by
    )


@transaction.atomic
def team_meeting_record(*, meeting: TeamMeeting, by: User, status: str) -> TeamMeeting:
    """Record a team meeting as held or cancelled (or put it back to scheduled)."""
    _require_runs(by, meeting)
    if status not in TeamMeetingStatus.values:
        raise ValidationError({"status": "Choose scheduled, held or cancelled."})
    TeamMeeting.objects.filter(pk=meeting.pk).update(status=status, updated_at=timezone.now())
    meeting.refresh_from_db()
    return meeting


@transaction.atomic
def team_meeting_minutes_save(*, meeting: TeamMeeting, by: User, minutes: str) -> TeamMeeting:
    """Save the minutes the whole team reads."""
    _require_runs(by, meeting)
    if minutes is None:
        raise ValidationError({"minutes": "Give the minutes (empty to clear them)."})
    if len(minutes) > MINUTES_MAX:
        raise ValidationError({"minutes": f"Keep the minutes to {MINUTES_MAX:,} characters."})
    now = timezone.now()
    TeamMeeting.objects.filter(pk=meeting.pk).update(minutes=minutes, updated_at=now)
    meeting.minutes, meeting.updated_at = minutes, now
    return meeting


def team_action_item_errors(
    *, meeting: TeamMeeting, owner: User | None, text: str, due_on: datetime.date | None
) -> Errors:
    """A team meeting's item is owned by the team's manager or someone in the team, says something and has a due date."""
    errors = text_errors(text)
    if owner is None:
        errors["owner"] = "Choose who owns it."
    elif owner.pk != meeting.manager_id and not is_in_team(
        manager=meeting.manager, user_id=owner.pk
    ):
        errors["owner"] = "The owner is the team's manager or someone in the team."
    elif not owner.is_active:
        errors["owner"] = "This person's account is inactive."
    if due_on is None:
        errors["due_on"] = "Give a due date."
    elif due_on < timezone.localdate(meeting.scheduled_at) - datetime.timedelta(days=1):
        errors["due_on"] = "The due date is before the meeting."
    return errors


@transaction.atomic
def team_action_item_add(
    *, meeting: TeamMeeting, by: User, owner: User | None, text: str, due_on: datetime.date | None
) -> ActionItem:
    """Agree an action item at a team meeting; it carries over to the team's later meetings until done."""
    _require_runs(by, meeting)
    errors = team_action_item_errors(meeting=meeting, owner=owner, text=text, due_on=due_on)
    if errors:
        raise ValidationError(errors)
    return ActionItem.objects.create(
        team_meeting=meeting, owner=owner, text=text.strip(), due_on=due_on, created_by=by
    )


@transaction.atomic
def team_action_item_complete(*, item: ActionItem, by: User) -> ActionItem:
    """Mark a team meeting's item done: its owner may, and whoever runs the meeting. Done twice is done once."""
    runs = (
        item.team_meeting_id is not None
        and team_meetings_managed_by(by).filter(pk=item.team_meeting_id).exists()
    )
    if not (runs or item.owner_id == by.pk):
        raise PermissionDenied("Only the item's owner and the team's manager complete it.")
    ActionItem.objects.filter(pk=item.pk, status=ActionItemStatus.OPEN).update(
        status=ActionItemStatus.DONE, completed_at=timezone.now(), completed_by=by
    )
    item.refresh_from_db()
    return item
