"""A believable year of one-on-ones for the demo organisation, drawn from a seeded random generator.

Only plans: ``coaching.services.demo`` writes them. Each person with a manager
meets them weekly or fortnightly; most meetings are held, some missed or
cancelled; held ones have talking points, notes and action items, most of
which get done within a couple of weeks while the newest stay open.
"""

import datetime
import random
from dataclasses import dataclass, field

from django.utils import timezone

from coaching.models import Cadence, MeetingStatus

HISTORY_DAYS = 364
PLANNED_AHEAD_DAYS = 14

REP_POINTS = [
    "Pricing approval for {deal}",
    "Help getting a meeting with the economic buyer at {deal}",
    "Is {deal} still realistic this quarter?",
    "Territory overlap with a colleague",
    "Time off next month",
    "Feedback on my demo last week",
    "Training on negotiation",
    "Too many inbound leads to follow up",
]
MANAGER_POINTS = [
    "Next steps on {deal}",
    "Close date of {deal} keeps moving",
    "Pipeline coverage for next quarter",
    "Activity is below your usual this week",
    "Forecast call: what is commit?",
    "Stalled deals: what would unblock them?",
    "Your goals for the half year",
    "Win review: what worked at {deal}",
]
SHARED_NOTES = [
    "Agreed to qualify harder before proposals. {deal} goes to commit if the legal review lands this week.",
    "Good week: two new opportunities. Focus next on multi-threading {deal}.",
    "Pipeline is thin for next quarter; block two prospecting mornings.",
    "Walked through the stalled deals; {deal} to be closed out as lost if no answer by Friday.",
    "Discussed the demo feedback: shorter intro, more discovery questions.",
]
PRIVATE_NOTES = [
    "Seems stretched; check workload next time.",
    "Ready for a bigger territory soon.",
    "Forecast tends to be optimistic: discount commit by a third.",
    "Consider for the mentoring programme.",
    "Quiet today; follow up informally.",
]
ITEMS = [
    ("rep", "Send the revised proposal to {deal}"),
    ("rep", "Book a call with the CFO at {deal}"),
    ("rep", "Update close dates of stalled deals"),
    ("rep", "Log last week's calls"),
    ("manager", "Get discount approval for {deal}"),
    ("manager", "Introduce the solutions engineer for {deal}"),
    ("manager", "Share the negotiation training link"),
]


@dataclass
class ItemPlan:
    owner_id: int
    text: str
    due_on: datetime.date
    completed_at: datetime.datetime | None


@dataclass
class MeetingPlan:
    scheduled_at: datetime.datetime
    status: str
    shared_notes: str = ""
    private_notes: str = ""
    points: list[tuple[int, str, datetime.datetime]] = field(default_factory=list)
    items: list[ItemPlan] = field(default_factory=list)


@dataclass
class SeriesPlan:
    manager_id: int
    rep_id: int
    cadence: str
    weekday: int
    time: datetime.time
    starts_on: datetime.date
    meetings: list[MeetingPlan] = field(default_factory=list)


def _deal(rng: random.Random, deals: list[str]) -> str:
    return rng.choice(deals) if deals else "the biggest deal"


def series_plan(
    rng: random.Random,
    *,
    manager_id: int,
    rep_id: int,
    deal_names: list[str],
    today: datetime.date,
) -> SeriesPlan:
    """One person's year of one-on-ones with their manager, up to two weeks after ``today``."""
    cadence = Cadence.WEEKLY if rng.random() < 0.6 else Cadence.FORTNIGHTLY
    step = 7 if cadence == Cadence.WEEKLY else 14
    weekday = rng.randrange(5)
    time = datetime.time(rng.choice([9, 10, 11, 14, 15, 16]), rng.choice([0, 30]))
    starts_on = today - datetime.timedelta(days=HISTORY_DAYS)
    plan = SeriesPlan(manager_id, rep_id, cadence, weekday, time, starts_on)
    day = starts_on + datetime.timedelta(days=(weekday - starts_on.weekday()) % 7)
    now = timezone.make_aware(datetime.datetime.combine(today, datetime.time(0)))
    while day <= today + datetime.timedelta(days=PLANNED_AHEAD_DAYS):
        at = timezone.make_aware(datetime.datetime.combine(day, time))
        plan.meetings.append(_meeting(rng, plan, at, now, deal_names))
        day += datetime.timedelta(days=step)
    return plan


def _meeting(
    rng, plan: SeriesPlan, at: datetime.datetime, now: datetime.datetime, deals
) -> MeetingPlan:
    if at >= now:
        meeting = MeetingPlan(at, MeetingStatus.SCHEDULED)
        meeting.points = [(plan.rep_id, rng.choice(REP_POINTS).format(deal=_deal(rng, deals)), now)]
        return meeting
    roll = rng.random()
    status = (
        MeetingStatus.HELD
        if roll < 0.84
        else MeetingStatus.MISSED
        if roll < 0.94
        else MeetingStatus.CANCELLED
    )
    meeting = MeetingPlan(at, status)
    if status != MeetingStatus.HELD:
        return meeting
    before = at - datetime.timedelta(days=1)
    for _ in range(rng.randint(0, 2)):
        meeting.points.append(
            (plan.rep_id, rng.choice(REP_POINTS).format(deal=_deal(rng, deals)), before)
        )
    for _ in range(rng.randint(1, 2)):
        meeting.points.append(
            (plan.manager_id, rng.choice(MANAGER_POINTS).format(deal=_deal(rng, deals)), before)
        )
    meeting.shared_notes = rng.choice(SHARED_NOTES).format(deal=_deal(rng, deals))
    if rng.random() < 0.35:
        meeting.private_notes = rng.choice(PRIVATE_NOTES)
    for _ in range(rng.randint(0, 3)):
        who, text = rng.choice(ITEMS)
        due = at.date() + datetime.timedelta(days=rng.choice([3, 7, 7, 14]))
        done_after = datetime.timedelta(days=rng.randint(1, 16), hours=rng.randint(0, 8))
        completed = at + done_after if rng.random() < 0.85 and at + done_after < now else None
        meeting.items.append(
            ItemPlan(
                owner_id=plan.rep_id if who == "rep" else plan.manager_id,
                text=text.format(deal=_deal(rng, deals)),
                due_on=due,
                completed_at=completed,
            )
        )
    return meeting
