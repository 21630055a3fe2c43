"""The coaching app's tables, one module per part; every write goes through ``coaching.services``."""

from coaching.models.celebrations import (
    MILESTONE_LEVELS,
    Milestone,
    MilestonePeriod,
    Reminder,
    ShoutOut,
)
from coaching.models.one_on_ones import (
    CADENCE_DAYS,
    ActionItem,
    ActionItemStatus,
    Cadence,
    MeetingStatus,
    OneOnOne,
    OneOnOneSeries,
    PrivateNote,
    TalkingPoint,
    Weekday,
)
from coaching.models.ride_alongs import RideAlong, SkillScore
from coaching.models.team_meetings import TeamMeeting, TeamMeetingStatus

__all__ = [
    "CADENCE_DAYS",
    "MILESTONE_LEVELS",
    "ActionItem",
    "ActionItemStatus",
    "Cadence",
    "MeetingStatus",
    "Milestone",
    "MilestonePeriod",
    "OneOnOne",
    "OneOnOneSeries",
    "PrivateNote",
    "Reminder",
    "RideAlong",
    "ShoutOut",
    "SkillScore",
    "TalkingPoint",
    "TeamMeeting",
    "TeamMeetingStatus",
    "Weekday",
]
