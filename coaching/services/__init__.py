"""Every write of the coaching app goes through these functions."""

from coaching.services.celebrations import milestones_record, shout_out_create
from coaching.services.one_on_ones import (
    action_item_add,
    action_item_complete,
    meeting_notes_save,
    meeting_record,
    meetings_plan,
    series_schedule,
    series_stop,
    talking_point_add,
)
from coaching.services.reminders import reminders_compute
from coaching.services.team_meetings import (
    team_action_item_add,
    team_action_item_complete,
    team_meeting_minutes_save,
    team_meeting_record,
    team_meeting_schedule,
    team_meeting_schedule_next,
)

__all__ = [
    "action_item_add",
    "action_item_complete",
    "meeting_notes_save",
    "meeting_record",
    "meetings_plan",
    "milestones_record",
    "reminders_compute",
    "series_schedule",
    "series_stop",
    "shout_out_create",
    "talking_point_add",
    "team_action_item_add",
    "team_action_item_complete",
    "team_meeting_minutes_save",
    "team_meeting_record",
    "team_meeting_schedule",
    "team_meeting_schedule_next",
]
