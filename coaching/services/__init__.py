"""Every write of the coaching app goes through these functions."""

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

__all__ = [
    "action_item_add",
    "action_item_complete",
    "meeting_notes_save",
    "meeting_record",
    "meetings_plan",
    "series_schedule",
    "series_stop",
    "talking_point_add",
]
