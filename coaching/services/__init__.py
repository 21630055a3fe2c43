"""Every write of the coaching app goes through these functions."""

from coaching.services.celebrations import milestones_record, shout_out_create
from coaching.services.digests import digest_preference_save, digest_send
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
from coaching.services.ride_alongs import ride_along_delete, ride_along_record, ride_along_update
from coaching.services.sessions import (
    session_commitment_add,
    session_create,
    session_record,
    session_update,
)
from coaching.services.team_meetings import (
    team_action_item_add,
    team_action_item_complete,
    team_meeting_minutes_save,
    team_meeting_record,
    team_meeting_schedule,
    team_meeting_schedule_next,
)
from coaching.services.training import (
    assignment_complete,
    assignment_renew,
    course_create,
    course_update,
    courses_assign,
    mentor_meeting_record,
    mentorship_create,
    mentorship_end,
    onboarding_start,
    onboarding_step_create,
    onboarding_step_tick,
    onboarding_step_update,
)

__all__ = [
    "assignment_complete",
    "assignment_renew",
    "course_create",
    "course_update",
    "courses_assign",
    "digest_preference_save",
    "digest_send",
    "mentor_meeting_record",
    "mentorship_create",
    "mentorship_end",
    "onboarding_start",
    "onboarding_step_create",
    "onboarding_step_tick",
    "onboarding_step_update",
    "action_item_add",
    "action_item_complete",
    "meeting_notes_save",
    "meeting_record",
    "meetings_plan",
    "milestones_record",
    "reminders_compute",
    "ride_along_delete",
    "ride_along_record",
    "ride_along_update",
    "series_schedule",
    "series_stop",
    "session_commitment_add",
    "session_create",
    "session_record",
    "session_update",
    "shout_out_create",
    "talking_point_add",
    "team_action_item_add",
    "team_action_item_complete",
    "team_meeting_minutes_save",
    "team_meeting_record",
    "team_meeting_schedule",
    "team_meeting_schedule_next",
]
