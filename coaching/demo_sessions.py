"""A believable year of coaching sessions for the demo organisation, drawn from a seeded random generator.

Only plans: ``coaching.services.sessions.demo_sessions_create`` writes them.
Each rep is coached every six to ten weeks: mostly on a stage of their main
pipeline, sometimes on a skill or one of their bigger deals. Past sessions are
mostly held (some cancelled), each with a follow-up a month or so later and
one to three commitments, most done by now; the next session of some reps is
planned in the coming weeks. The evidence is taken as of the session's day.
"""

import datetime
import random
from dataclasses import dataclass, field

from coaching.models import SessionFocus, SessionStatus
from coaching.services.sessions import demo_sessions_create
from coaching.skills import Skill
from pipeline.models import Deal, Stage, StageKind
from salesmgr.models import Role, User

HISTORY_DAYS = 364
AHEAD_DAYS = 21

GOALS = {
    SessionFocus.STAGE: [
        "Move more {stage} deals forward instead of letting them stall.",
        "Get out of {stage} within two weeks on most deals.",
        "Qualify harder before a deal reaches {stage}.",
    ],
    SessionFocus.SKILL: [
        "Be confident at {skill} on every first meeting.",
        "Make {skill} a strength rather than something to get through.",
    ],
    SessionFocus.DEAL: [
        "Close {deal} this quarter, or call it lost early.",
        "Find the economic buyer at {deal}.",
    ],
}
REALITIES = [
    "Deals sit in {what} longer than the team's and fewer move on; the rep agrees the next step is often vague.",
    "On the last calls {what} was rushed; the customer did most of the talking only at the end.",
    "Pipeline is healthy but {what} is where it leaks: too many deals go quiet there.",
]
OPTIONS = [
    "Book the next meeting before leaving the current one; write a mutual plan; ask for a champion.",
    "Role-play the objections once a week; shadow a peer's call; use the discovery checklist.",
    "Drop deals with no budget sooner; bring the solutions engineer in earlier.",
]
WILLS = [
    "Agree a dated next step on every deal in {what} by Friday.",
    "Try the new question list on the next five first calls and note what changed.",
    "Review the stalled deals together in two weeks.",
]
COMMITMENTS = [
    ("rep", "Set a dated next step on every open deal in {what}"),
    ("rep", "Use the discovery checklist on the next five calls"),
    ("rep", "Write a mutual close plan for the biggest deal"),
    ("rep", "Role-play objection handling with a peer"),
    ("manager", "Join one of the rep's calls next week"),
    ("manager", "Share the call recordings of a strong {what}"),
]


@dataclass
class CommitmentPlan:
    owner_id: int
    text: str
    due_on: datetime.date
    completed_on: datetime.date | None


@dataclass
class SessionPlan:
    manager_id: int
    rep_id: int
    scheduled_on: datetime.date
    status: str
    focus: str
    skill: str = ""
    stage_id: int | None = None
    deal_id: int | None = None
    goal: str = ""
    reality: str = ""
    options: str = ""
    will: str = ""
    follow_up_on: datetime.date | None = None
    commitments: list[CommitmentPlan] = field(default_factory=list)


def rep_sessions_plan(
    rng: random.Random,
    *,
    manager_id: int,
    rep_id: int,
    stages: list[tuple[int, str]],
    deals: list[tuple[int, str]],
    today: datetime.date,
) -> list[SessionPlan]:
    """One rep's year of coaching sessions: ``stages`` the open stages of their main pipeline, ``deals``
    some of their open deals (id and name)."""
    plans = []
    day = today - datetime.timedelta(days=HISTORY_DAYS - rng.randrange(30))
    while day <= today + datetime.timedelta(days=AHEAD_DAYS):
        plans.append(_session(rng, manager_id, rep_id, day, stages, deals, today))
        day += datetime.timedelta(days=rng.randrange(42, 71))
    return plans


def _focus(rng, stages, deals) -> tuple[str, dict, str]:
    roll = rng.random()
    if roll < 0.55 and stages:
        stage_id, name = rng.choice(stages)
        return SessionFocus.STAGE, {"stage_id": stage_id}, name
    if roll < 0.8 or not deals:
        skill = rng.choice(Skill.values)
        return SessionFocus.SKILL, {"skill": skill}, Skill(skill).label.lower()
    deal_id, name = rng.choice(deals)
    return SessionFocus.DEAL, {"deal_id": deal_id}, name


def _session(rng, manager_id, rep_id, day, stages, deals, today) -> SessionPlan:
    focus, target, what = _focus(rng, stages, deals)
    if day > today:
        status = SessionStatus.PLANNED
    else:
        status = SessionStatus.HELD if rng.random() < 0.85 else SessionStatus.CANCELLED
    goal = rng.choice(GOALS[focus]).format(stage=what, skill=what, deal=what)
    plan = SessionPlan(manager_id, rep_id, day, status, focus, goal=goal, **target)
    if status == SessionStatus.CANCELLED:
        return plan
    plan.reality = rng.choice(REALITIES).format(what=what)
    plan.follow_up_on = day + datetime.timedelta(days=rng.choice([28, 35, 42]))
    if status == SessionStatus.PLANNED:
        return plan
    plan.options = rng.choice(OPTIONS)
    plan.will = rng.choice(WILLS).format(what=what)
    for _ in range(rng.randint(1, 3)):
        who, text = rng.choice(COMMITMENTS)
        due = day + datetime.timedelta(days=rng.choice([7, 14, 21]))
        done = due + datetime.timedelta(days=rng.randint(-5, 6))
        # Commitments of more than six weeks ago are all done: only recent ones stay open.
        old = due < today - datetime.timedelta(days=42)
        completed = done if (old or rng.random() < 0.7) and done < today else None
        plan.commitments.append(
            CommitmentPlan(
                owner_id=rep_id if who == "rep" else manager_id,
                text=text.format(what=what),
                due_on=due,
                completed_on=completed,
            )
        )
    return plan


DEALS_PER_REP = 8


def seed_sessions(rng: random.Random, *, today: datetime.date) -> int:
    """Plan and store a year of coaching sessions for every active rep with a manager; returns how many."""
    reps = list(
        User.objects.filter(role=Role.REP, is_active=True, manager__isnull=False)
        .order_by("pk")
        .values_list("pk", "manager_id")
    )
    stages: dict[int, list[tuple[int, str]]] = {}
    for stage_id, pipeline_id, name in (
        Stage.objects.filter(kind=StageKind.OPEN)
        .order_by("pipeline_id", "order")
        .values_list("pk", "pipeline_id", "name")
    ):
        stages.setdefault(pipeline_id, []).append((stage_id, name))
    deals: dict[int, list[tuple[int, str]]] = {pk: [] for pk, _ in reps}
    main_pipeline: dict[int, int] = {}
    for owner_id, pipeline_id, deal_id, name in (
        Deal.objects.filter(owner_id__in=deals, status="open", deleted_at__isnull=True)
        .order_by("owner_id", "-amount", "pk")
        .values_list("owner_id", "pipeline_id", "pk", "name")
    ):
        main_pipeline.setdefault(owner_id, pipeline_id)
        if len(deals[owner_id]) < DEALS_PER_REP:
            deals[owner_id].append((deal_id, name))
    plans = [
        plan
        for rep_id, manager_id in reps
        for plan in rep_sessions_plan(
            rng,
            manager_id=manager_id,
            rep_id=rep_id,
            stages=stages.get(main_pipeline.get(rep_id), []),
            deals=deals[rep_id],
            today=today,
        )
    ]
    return demo_sessions_create(plans=plans, today=today)
