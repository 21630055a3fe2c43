"""A believable year of weekly team meetings for the demo organisation, drawn from a seeded random generator.

Every manager meets their team once a week at the same time; most past
meetings were held, with minutes and a few action items for the manager or
someone in the team (most done within days, the newest still open); some were
cancelled; next week's is scheduled. ``coaching.services.demo_team_meetings``
writes the plans.
"""

import datetime
import random
from dataclasses import dataclass, field

from django.utils import timezone

from coaching.models import TeamMeetingStatus
from coaching.services.demo_team_meetings import demo_team_meetings_create
from salesmgr.models import Role, User

HISTORY_DAYS = 364
PLANNED_AHEAD_DAYS = 7
HELD_SHARE = 0.88

MINUTES = [
    "Celebrated {name}'s win. Forecast reviewed against quota: commit holds, best case depends on two late-stage deals.",
    "Walked through the deals that moved this week. Agreed to clean up close dates before the forecast call.",
    "Stalled deals reviewed one by one; two to be closed out as lost, the rest get a next step by Friday.",
    "Quiet week for wins; pipeline coverage for next quarter is thin, so prospecting mornings on Tuesday and Thursday.",
    "Shout-out to {name} for the customer reference. Shared what worked in the demo.",
    "Quarter review: on track for quota if the two commit deals land. {name} presents the win review next week.",
]
ITEMS = [
    "Update close dates of stalled deals",
    "Share the win review deck",
    "Book two prospecting mornings",
    "Send the pricing FAQ to the team",
    "Pair up on the next demo",
    "Log last week's calls before Friday",
    "Ask finance about the discount policy",
]


@dataclass
class TeamItemPlan:
    owner_id: int
    text: str
    due_on: datetime.date
    completed_at: datetime.datetime | None


@dataclass
class TeamMeetingPlan:
    manager_id: int
    scheduled_at: datetime.datetime
    status: str
    minutes: str = ""
    items: list[TeamItemPlan] = field(default_factory=list)


def team_meetings_plan(
    rng: random.Random,
    *,
    manager_id: int,
    members: list[tuple[int, str]],
    today: datetime.date,
) -> list[TeamMeetingPlan]:
    """One manager's year of weekly team meetings up to a week after ``today``; ``members`` are (id, first name)."""
    weekday = rng.randrange(5)
    time = datetime.time(rng.choice([9, 10, 16]), rng.choice([0, 30]))
    start = today - datetime.timedelta(days=HISTORY_DAYS)
    day = start + datetime.timedelta(days=(weekday - start.weekday()) % 7)
    now = timezone.make_aware(datetime.datetime.combine(today, datetime.time(0)))
    owners = [manager_id, *(pk for pk, _ in members)]
    plans = []
    while day <= today + datetime.timedelta(days=PLANNED_AHEAD_DAYS):
        at = timezone.make_aware(datetime.datetime.combine(day, time))
        day += datetime.timedelta(days=7)
        if at >= now:
            plans.append(TeamMeetingPlan(manager_id, at, TeamMeetingStatus.SCHEDULED))
            continue
        if rng.random() >= HELD_SHARE:
            plans.append(TeamMeetingPlan(manager_id, at, TeamMeetingStatus.CANCELLED))
            continue
        name = rng.choice(members)[1] if members else "the team"
        meeting = TeamMeetingPlan(
            manager_id, at, TeamMeetingStatus.HELD, rng.choice(MINUTES).format(name=name)
        )
        for _ in range(rng.randint(0, 3)):
            done_after = datetime.timedelta(days=rng.randint(1, 12), hours=rng.randint(0, 8))
            # Most items get done; of those left open, the old ones were mostly closed out since.
            recent = now - at < datetime.timedelta(weeks=6)
            done = rng.random() < (0.8 if recent else 0.97) and at + done_after < now
            meeting.items.append(
                TeamItemPlan(
                    owner_id=rng.choice(owners),
                    text=rng.choice(ITEMS),
                    due_on=at.date() + datetime.timedelta(days=rng.choice([2, 7, 7, 14])),
                    completed_at=at + done_after if done else None,
                )
            )
        plans.append(meeting)
    return plans


def seed_team_meetings(*, seed: int, today: datetime.date) -> str:
    """Plan and store every active manager's year of team meetings; says what it wrote."""
    rng = random.Random(f"team-meetings-{seed}")
    managers = list(
        User.objects.filter(role=Role.MANAGER, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    members: dict[int, list[tuple[int, str]]] = {pk: [] for pk in managers}
    for pk, manager_id, full_name, first, username in (
        User.objects.filter(manager_id__in=managers, is_active=True)
        .order_by("pk")
        .values_list("pk", "manager_id", "full_name", "first_name", "username")
    ):
        members[manager_id].append((pk, first or (full_name or username).split()[0]))
    plans = [
        plan
        for manager_id in managers
        if members[manager_id]
        for plan in team_meetings_plan(
            rng, manager_id=manager_id, members=members[manager_id], today=today
        )
    ]
    meetings, items = demo_team_meetings_create(plans=plans)
    return f"Team meetings: {meetings:,} meetings, {items:,} action items."
