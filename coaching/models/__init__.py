"""The coaching app's tables, one module per part; every write goes through ``coaching.services``."""

from coaching.models.celebrations import (
    MILESTONE_LEVELS,
    Milestone,
    MilestonePeriod,
    Reminder,
    ShoutOut,
)
from coaching.models.digests import DigestPreference, DigestSend
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
from coaching.models.sessions import CoachingSession, SessionFocus, SessionStatus
from coaching.models.team_meetings import TeamMeeting, TeamMeetingStatus
from coaching.models.training import (
    Assignment,
    Course,
    CourseKind,
    MentorMeeting,
    Mentorship,
    Onboarding,
    OnboardingProgress,
    OnboardingStep,
)

__all__ = [
    "CADENCE_DAYS",
    "MILESTONE_LEVELS",
    "ActionItem",
    "ActionItemStatus",
    "Assignment",
    "Course",
    "CourseKind",
    "Cadence",
    "CoachingSession",
    "DigestPreference",
    "DigestSend",
    "MeetingStatus",
    "MentorMeeting",
    "Mentorship",
    "Milestone",
    "MilestonePeriod",
    "OneOnOne",
    "OneOnOneSeries",
    "Onboarding",
    "OnboardingProgress",
    "OnboardingStep",
    "PrivateNote",
    "Reminder",
    "RideAlong",
    "SessionFocus",
    "SessionStatus",
    "ShoutOut",
    "SkillScore",
    "TalkingPoint",
    "TeamMeeting",
    "TeamMeetingStatus",
    "Weekday",
]
