"""A believable year (and a month) of ride-alongs for the demo organisation, drawn from a seeded random generator.

Only plans: ``coaching.services.ride_alongs.demo_ride_alongs_create`` writes them.
Each rep's manager joins them on a client visit once or twice most months,
linking the rep's own logged visit when there is one that month and logging
one otherwise. Every rep has a level per skill; for some, coaching starts to
show partway through the year and their scores drift upward from then on.
"""

import datetime
import random
from dataclasses import dataclass, field

from django.utils import timezone

from coaching.models import RideAlong
from coaching.services.ride_alongs import demo_ride_alongs_create
from coaching.skills import SCORE_MAX, SCORE_MIN, Skill
from pipeline.models import Account, Activity, ActivityKind, Deal
from salesmgr.models import Role, User

MONTHS = 13
# The chance a skill is seen (and so scored) on a visit.
SKILL_SEEN = 0.85
# The share of reps whose scores rise once coaching takes.
IMPROVERS = 0.4

OBSERVATIONS = [
    "Built rapport quickly; the agenda was clear from the start.",
    "Let the customer talk; good follow-up questions on their current process.",
    "Demo ran long; the customer lost interest before the pricing slide.",
    "Handled the budget objection calmly and tied the answer back to their pain.",
    "Did not ask for a next step before leaving; we agreed to follow up by email.",
    "Strong close: the customer agreed to a pilot and named the decision makers.",
    "Talked over the customer twice; needs to pause after questions.",
    "Well prepared: knew the account's history and the open support tickets.",
]
LOW_NOTES = {
    Skill.OPENING: "Jumped into the pitch without setting an agenda.",
    Skill.DISCOVERY: "Closed questions only; missed the real pain.",
    Skill.PRESENTATION: "Feature tour instead of the customer's use case.",
    Skill.OBJECTIONS: "Argued with the objection instead of exploring it.",
    Skill.CLOSING: "No clear next step agreed.",
}
HIGH_NOTES = {
    Skill.OPENING: "Clear agenda and time check; the customer relaxed at once.",
    Skill.DISCOVERY: "Found the budget owner and the deadline.",
    Skill.PRESENTATION: "Tailored the demo to their workflow.",
    Skill.OBJECTIONS: "Acknowledged, asked why, answered with a reference customer.",
    Skill.CLOSING: "Asked for the order and got a date for the pilot.",
}


@dataclass
class RideAlongPlan:
    manager_id: int
    rep_id: int
    visited_on: datetime.date
    account_id: int
    deal_id: int | None
    activity_id: int | None  # None: log the visit
    observations: str
    scores: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Visit:
    """A client visit the rep logged: its id, day, account and deal."""

    pk: int
    day: datetime.date
    account_id: int
    deal_id: int | None


@dataclass(frozen=True)
class Place:
    """A deal of the rep (or an account of theirs with no deal) a visit could be about."""

    account_id: int
    deal_id: int | None
    since: datetime.date


def _month_starts(today: datetime.date) -> list[datetime.date]:
    first = today.replace(day=1)
    starts = []
    for _ in range(MONTHS):
        starts.append(first)
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    return starts[::-1]


def _score(level: float, rng: random.Random) -> int:
    return max(SCORE_MIN, min(SCORE_MAX, round(level + rng.gauss(0, 0.55))))


def rep_plan(
    rng: random.Random,
    *,
    manager_id: int,
    rep_id: int,
    visits: list[Visit],
    places: list[Place],
    today: datetime.date,
) -> list[RideAlongPlan]:
    """A year of ride-alongs of one rep, up to the day before ``today``."""
    if not visits and not places:
        return []
    improves = rng.random() < IMPROVERS
    levels = {skill: rng.uniform(1.8, 3.6 if improves else 4.3) for skill in Skill.values}
    coached_from = rng.randrange(2, 7)  # the month coaching starts to show
    used: set[int] = set()
    plans = []
    for index, start in enumerate(_month_starts(today)):
        end = min(_next_month(start), today)  # the days before ``end``
        if end <= start:
            continue
        for _ in range(rng.choice([0, 1, 1, 1, 2, 2])):
            lift = 0.22 * (index - coached_from) if improves and index > coached_from else 0.0
            plan = _ride_along(rng, manager_id, rep_id, start, end, visits, places, used)
            # The month still running has had only some of its ride-alongs.
            if plan is None or rng.random() > (end - start).days / 30:
                continue
            for skill in Skill.values:
                if rng.random() >= SKILL_SEEN:
                    continue
                score = _score(levels[skill] + lift, rng)
                note = (
                    LOW_NOTES[skill]
                    if score <= 2 and rng.random() < 0.6
                    else HIGH_NOTES[skill]
                    if score >= 4 and rng.random() < 0.4
                    else ""
                )
                plan.scores.append((skill, score, note))
            plans.append(plan)
    return sorted(plans, key=lambda plan: plan.visited_on)


def _next_month(first: datetime.date) -> datetime.date:
    return (first + datetime.timedelta(days=32)).replace(day=1)


def _ride_along(rng, manager_id, rep_id, start, end, visits, places, used) -> RideAlongPlan | None:
    """A ride-along in ``[start, end)``: on one of the rep's visits then, else on a new visit to a deal."""
    logged = [v for v in visits if start <= v.day < end and v.pk not in used]
    observations = rng.choice(OBSERVATIONS)
    if logged:
        visit = rng.choice(logged)
        used.add(visit.pk)
        return RideAlongPlan(
            manager_id, rep_id, visit.day, visit.account_id, visit.deal_id, visit.pk, observations
        )
    day = start + datetime.timedelta(days=rng.randrange((end - start).days))
    open_then = [place for place in places if place.since <= day]
    if not open_then:
        return None
    place = rng.choice(open_then)
    return RideAlongPlan(
        manager_id, rep_id, day, place.account_id, place.deal_id, None, observations
    )


def seed_ride_alongs(*, seed: int, today: datetime.date) -> str:
    """Plan and store the demo's year of ride-alongs (once: skipped when any exist); says what it did."""
    if RideAlong.objects.exists():
        return "Ride-alongs already present."
    rng = random.Random(f"ride-alongs-{seed}")
    reps = list(
        User.objects.filter(role=Role.REP, is_active=True, manager__isnull=False)
        .order_by("pk")
        .values_list("pk", "manager_id")
    )
    ids = [pk for pk, _ in reps]
    since = _month_starts(today)[0]
    visits: dict[int, list[Visit]] = {pk: [] for pk in ids}
    for pk, author_id, at, account_id, deal_id in (
        Activity.objects.filter(
            kind=ActivityKind.CLIENT_VISIT,
            author_id__in=ids,
            occurred_at__date__gte=since,
            occurred_at__date__lt=today,
            account__deleted_at__isnull=True,
        )
        .order_by("author_id", "occurred_at", "pk")
        .values_list("pk", "author_id", "occurred_at", "account_id", "deal_id")
    ):
        visits[author_id].append(Visit(pk, timezone.localdate(at), account_id, deal_id))
    places: dict[int, list[Place]] = {pk: [] for pk in ids}
    for owner_id, account_id, deal_id, created in (
        Deal.objects.filter(owner_id__in=ids, deleted_at__isnull=True, account__deleted_at=None)
        .order_by("owner_id", "pk")
        .values_list("owner_id", "account_id", "pk", "created_at")
    ):
        places[owner_id].append(Place(account_id, deal_id, timezone.localdate(created)))
    # A visit about the account rather than one deal, at the accounts the rep has deals with.
    with_deals = {
        (owner_id, place.account_id) for owner_id, rows in places.items() for place in rows
    }
    for owner_id, account_id, created in (
        Account.objects.filter(owner_id__in=ids, deleted_at__isnull=True)
        .order_by("owner_id", "pk")
        .values_list("owner_id", "pk", "created_at")
    ):
        if (owner_id, account_id) in with_deals:
            places[owner_id].append(Place(account_id, None, timezone.localdate(created)))
    plans = [
        plan
        for pk, manager_id in reps
        for plan in rep_plan(
            rng,
            manager_id=manager_id,
            rep_id=pk,
            visits=visits[pk],
            places=places[pk],
            today=today,
        )
    ]
    count = demo_ride_alongs_create(plans=plans)
    return f"Ride-alongs: {count:,} with {sum(len(p.scores) for p in plans):,} scores."
