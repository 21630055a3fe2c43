"""Every read of the coaching sessions: who sees which, the evidence of a new session, and the figures
before and after it.

Visibility: admins see every session; a manager the sessions of the reps of
their team at any depth (and those they ran); a rep their own. Only admins
and the rep's managers run a session.

Before and after. ``d`` is the session's day; the *before* window is the
``WINDOW_DAYS`` days up to ``d`` (``[d - 90, d)``), the *after* window runs
from ``d`` to the follow-up day, both included, or to today while the
follow-up is still ahead. Each window is read on its own history: only the
transitions up to the window's end count, so nothing that happened after the
session leaks into its *before* figures. The definitions are those of
METRICS.md and the insights:

- for a stage focus, the rep's ``entered`` / ``advanced`` / ``conversion`` of
  the stage (``reports.metrics.flow_counts``) and the mean days of the stays
  in it that ended in the window (``avg_days_in_stage``), with the count;
- for a skill focus, the mean ride-along score of the skill over the
  scorecards of visits in the window, with the count; for closing, the one
  skill a deal figure measures directly, also the win rate (``close_ratio``)
  of the deals closed in the window;
- for a deal focus, the deal's stage and amount when the session was planned
  (its evidence) against now.

A side with fewer than ``MIN_COUNT`` deals (or ``MIN_SCORECARDS`` scorecards)
is flagged ``enough: false``: the page says "not enough data yet" instead of
comparing noise. A fixed number of queries for each focus.
"""

import datetime

from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from coaching.insights import (
    _name,
    _people,
    _stage_flow,
    _stage_rows,
    focus_evidence,
    team_of_rep,
    weakest_stage,
)
from coaching.models import (
    ActionItem,
    ActionItemStatus,
    CoachingSession,
    SessionFocus,
    SkillScore,
)
from coaching.skills import Skill
from pipeline.models import Deal, Stage, StageKind, StageTransition
from pipeline.periods import DAY, Period
from pipeline.selectors import deals_visible_to
from reports.metrics import flow_counts
from reports.sql import DaysBetween
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery

WINDOW_DAYS = 90
# A skill is scored only on ride-alongs, which are rarer than deals: its evidence looks further back.
SKILL_EVIDENCE_DAYS = 180
MIN_COUNT = 5
MIN_SCORECARDS = 2


def _in_team(user: User) -> Q:
    return Q(rep_id__in=team_member_ids_subquery(user.pk))


def sessions_visible_to(user: User) -> QuerySet[CoachingSession]:
    """Sessions ``user`` may read: admins all, managers their team's at any depth and their own, reps their own."""
    if user.is_admin:
        return CoachingSession.objects.annotate(deal_shown=Value(True))
    condition = Q(rep_id=user.pk)
    if user.is_manager:
        condition |= _in_team(user) | Q(manager_id=user.pk)
    # A focus deal since given outside ``user``'s scope is hidden: ``CoachingSession.shown_deal``.
    shown = Q(deal__isnull=True) | Q(deal__in=deals_visible_to(user).values("pk"))
    return CoachingSession.objects.filter(condition).annotate(
        deal_shown=Case(
            When(shown, then=Value(True)), default=Value(False), output_field=BooleanField()
        )
    )


def sessions_managed_by(user: User) -> QuerySet[CoachingSession]:
    """Sessions ``user`` may run (edit, record, add commitments to): admins all, managers their team's."""
    if user.is_admin:
        return CoachingSession.objects.all()
    if user.is_manager:
        return CoachingSession.objects.filter(_in_team(user))
    return CoachingSession.objects.none()


def session_reps_for(user: User) -> QuerySet[User]:
    """The people ``user`` may coach: an admin anyone with a manager, a manager their active team."""
    if user.is_admin:
        return User.objects.filter(is_active=True, manager__isnull=False)
    if user.is_manager:
        return User.objects.filter(is_active=True, pk__in=team_member_ids_subquery(user.pk))
    return User.objects.none()


def with_open_commitments(sessions: QuerySet[CoachingSession]) -> QuerySet[CoachingSession]:
    """Each session with ``commitments_total`` and ``commitments_open`` (subqueries: no extra query)."""
    counts = (
        ActionItem.objects.filter(coaching_session=OuterRef("pk"))
        .order_by()
        .values("coaching_session")
    )
    total = counts.annotate(n=Count("pk")).values("n")
    still_open = counts.filter(status=ActionItemStatus.OPEN).annotate(n=Count("pk")).values("n")
    return sessions.annotate(
        commitments_total=Coalesce(Subquery(total), 0),
        commitments_open=Coalesce(Subquery(still_open), 0),
    )


def session_list(user: User, *, rep_id: int | None = None) -> QuerySet[CoachingSession]:
    """The sessions ``user`` sees (of one rep when given), newest first, with both people, the focus's
    records and commitment counts: one query."""
    sessions = sessions_visible_to(user)
    if rep_id is not None:
        sessions = sessions.filter(rep_id=rep_id)
    return with_open_commitments(
        sessions.select_related("manager", "rep", "stage", "stage__pipeline", "deal")
    ).order_by("-scheduled_on", "-id")


def session_for_page(user: User, session_id: int) -> CoachingSession | None:
    """One session ``user`` may read, with both people and its focus (one query); None otherwise."""
    return (
        sessions_visible_to(user)
        .select_related("manager", "rep", "stage", "stage__pipeline", "deal", "deal__stage")
        .filter(pk=session_id)
        .first()
    )


def session_commitments(session: CoachingSession) -> list[ActionItem]:
    """The session's commitments, open first then by due date, with their owners (one query)."""
    return list(session.commitments.select_related("owner").order_by("status", "due_on", "id"))


def focus_label(session: CoachingSession) -> str:
    """The focus in words: "Discovery (skill)", "Proposal stage", "Deal: Acme rollout"."""
    if session.focus == SessionFocus.SKILL:
        return f"{Skill(session.skill).label} (skill)"
    if session.focus == SessionFocus.STAGE:
        return f"{session.stage.name} stage"
    deal = session.shown_deal  # a deal since given outside the reader's scope goes unnamed
    return f"Deal: {deal.name}" if deal is not None else "A deal you can no longer see"


# The evidence: what the insights said when the session was planned.


def _stage_comparison(
    rep: User, period: Period, today: datetime.date
) -> tuple[list[dict], dict | None]:
    """The insights' stage rows of ``rep`` against their team and the flagged stage, without the
    insights' other figures (the deal sums, activities and quotas a session's evidence does not use).

    The same functions as ``coaching.insights.insights`` make them, so the figures are the page's.
    """
    people = _people(rep)
    ids = [person["pk"] for person in people]
    flow, stays, _ = _stage_flow(ids, period, today)
    stages = _stage_rows(rep.pk, ids, flow, stays)
    focus = weakest_stage(stages)
    if focus is None:
        return stages, None
    name = _name(next(person for person in people if person["pk"] == rep.pk))
    return stages, {"stage": focus["stage"], "evidence": focus_evidence(name, focus)}


def _stage_evidence(rep: User, stage_id: int, today: datetime.date) -> dict:
    period = Period.default(today)
    stages, focus = _stage_comparison(rep, period, today)
    row = next((row for row in stages if row["stage"] == stage_id), None)
    evidence = {"period": {"start": period.start, "end": period.end}, "stage": stage_id}
    if row is None:
        return {**evidence, "rep": None, "rest": None, "team": None, "flagged": False}
    flagged = focus is not None and focus["stage"] == stage_id
    return {
        **evidence,
        "name": row["name"],
        "rep": row["rep"],
        "rest": row["rest"],
        "team": row["team"],
        "test": row["test"],
        "flagged": flagged,
        "flag_evidence": focus["evidence"] if flagged else None,
    }


def _skill_evidence(rep: User, skill: str, today: datetime.date) -> dict:
    since = today - datetime.timedelta(days=SKILL_EVIDENCE_DAYS)
    scores = SkillScore.objects.filter(
        skill=skill,
        ride_along__visited_on__gte=since,
        ride_along__visited_on__lte=today,
        ride_along__rep__in=team_of_rep(rep).values("pk"),
    ).aggregate(
        rep_mean=Avg("score", filter=Q(ride_along__rep_id=rep.pk)),
        rep_count=Count("pk", filter=Q(ride_along__rep_id=rep.pk)),
        team_mean=Avg("score"),
        team_count=Count("pk"),
    )
    return {
        "period": {"start": since, "end": today + DAY},
        "skill": skill,
        "rep": {"mean_score": scores["rep_mean"], "scorecards": scores["rep_count"]},
        "team": {"mean_score": scores["team_mean"], "scorecards": scores["team_count"]},
    }


def _deal_state(deal: Deal) -> dict:
    return {
        "deal": deal.pk,
        "name": deal.name,
        "stage": deal.stage_id,
        "stage_name": deal.stage.name,
        "status": deal.status,
        "amount": deal.amount,
        "currency": deal.currency,
        "expected_close_date": deal.expected_close_date,
    }


def session_evidence(
    *,
    rep: User,
    focus: str,
    skill: str = "",
    stage: Stage | None = None,
    deal: Deal | None = None,
    today: datetime.date,
) -> dict:
    """The insight figures behind a session's focus as of ``today``, as JSON-ready values.

    A stage: the rep's and the rest of the team's conversion and time in the
    stage over the last 90 days, with counts and the weakest-stage test. A
    skill: the rep's and the team's mean ride-along score over 180 days. A deal:
    its stage, amount and close date, and its stage's figures when it is open.
    """
    evidence: dict = {"taken_on": today, "focus": focus}
    if focus == SessionFocus.STAGE and stage is not None:
        evidence |= _stage_evidence(rep, stage.pk, today)
    elif focus == SessionFocus.SKILL and skill:
        evidence |= _skill_evidence(rep, skill, today)
    elif focus == SessionFocus.DEAL and deal is not None:
        evidence["deal"] = _deal_state(deal)
        if deal.status == "open":
            evidence["stage_figures"] = _stage_evidence(rep, deal.stage_id, today)
    return evidence


# Before and after.


def session_windows(session: CoachingSession, today: datetime.date) -> tuple[Period, Period | None]:
    """The before window and the after window (None while the session is still ahead or was cancelled).

    For a session still ahead, "before" ends today: the days up to it have not happened yet.
    """
    day = session.scheduled_on
    end = min(day, today + datetime.timedelta(days=1))
    before = Period(end - datetime.timedelta(days=WINDOW_DAYS), end)
    last = min(session.follow_up_on or today, today)
    if session.status != "held" or last < day:
        return before, None
    return before, Period.from_days(day, last)


def _rep_transitions(rep_id: int, until: datetime.datetime) -> QuerySet[StageTransition]:
    return StageTransition.objects.filter(
        deal__deleted_at__isnull=True, deal__owner_id=rep_id, at__lt=until
    )


def _stage_side(rep_id: int, stage_id: int, period: Period, stays: dict) -> dict:
    start, end = period.bounds
    entered, advanced = next(
        (
            (entered, advanced)
            for stage, entered, advanced in flow_counts(_rep_transitions(rep_id, end), period)
            if stage == stage_id
        ),
        (0, 0),
    )
    return {
        "start": period.start,
        "end": period.end,
        "entered": entered,
        "advanced": advanced,
        "conversion": advanced / entered if entered else None,
        "stays": stays["stays"],
        "avg_days_in_stage": stays["days"] / stays["stays"] if stays["stays"] else None,
        "enough": entered >= MIN_COUNT,
    }


def _stays(rep_id: int, stage_id: int, windows: dict[str, Period]) -> dict[str, dict]:
    """Per window: the number of the rep's stays in the stage that ended in it and their summed days (one query)."""
    stay = DaysBetween(F("at"), F("from_stage_entered_at"))
    aggregates = {}
    for name, period in windows.items():
        start, end = period.bounds
        ended = Q(at__gte=start, at__lt=end)
        aggregates[f"{name}_days"] = Sum(stay, filter=ended)
        aggregates[f"{name}_stays"] = Count("pk", filter=ended)
    row = StageTransition.objects.filter(
        deal__deleted_at__isnull=True, deal__owner_id=rep_id, from_stage_id=stage_id
    ).aggregate(**aggregates)
    return {
        name: {"days": row[f"{name}_days"] or 0.0, "stays": row[f"{name}_stays"]}
        for name in windows
    }


def _stage_before_after(session, stage_id: int, before: Period, after: Period | None) -> dict:
    windows = {"before": before} | ({"after": after} if after else {})
    stays = _stays(session.rep_id, stage_id, windows)
    return {
        "kind": "stage",
        "before": _stage_side(session.rep_id, stage_id, before, stays["before"]),
        "after": _stage_side(session.rep_id, stage_id, after, stays["after"]) if after else None,
    }


def _skill_before_after(session, before: Period, after: Period | None) -> dict:
    aggregates = {}
    for name, period in (("before", before), ("after", after)):
        if period is None:
            continue
        within = Q(ride_along__visited_on__gte=period.start, ride_along__visited_on__lt=period.end)
        aggregates[f"{name}_mean"] = Avg("score", filter=within)
        aggregates[f"{name}_count"] = Count("pk", filter=within)
    row = SkillScore.objects.filter(
        skill=session.skill, ride_along__rep_id=session.rep_id
    ).aggregate(**aggregates)

    def side(name, period):
        if period is None:
            return None
        count = row[f"{name}_count"]
        return {
            "start": period.start,
            "end": period.end,
            "mean_score": row[f"{name}_mean"],
            "scorecards": count,
            "enough": count >= MIN_SCORECARDS,
        }

    figures = {"kind": "skill", "before": side("before", before), "after": side("after", after)}
    if session.skill == Skill.CLOSING:
        _add_win_rates(session.rep_id, figures)
    return figures


def _add_win_rates(rep_id: int, figures: dict) -> None:
    """Closing shows in the win rate: the rep's ``close_ratio`` (METRICS.md) of each window, beside the
    scores (one query)."""
    sides = {name: side for name in ("before", "after") if (side := figures[name]) is not None}
    aggregates = {}
    for name, side in sides.items():
        start, end = Period(side["start"], side["end"]).bounds
        closed = Q(closed_at__gte=start, closed_at__lt=end)
        aggregates[f"{name}_won"] = Count("pk", filter=closed & Q(status=StageKind.WON))
        aggregates[f"{name}_lost"] = Count("pk", filter=closed & Q(status=StageKind.LOST))
    row = Deal.objects.filter(owner_id=rep_id, deleted_at__isnull=True).aggregate(**aggregates)
    for name, side in sides.items():
        won, lost = row[f"{name}_won"], row[f"{name}_lost"]
        side |= {"won": won, "lost": lost, "win_rate": won / (won + lost) if won + lost else None}


def _deal_before_after(session) -> dict:
    then = (session.evidence or {}).get("deal")
    deal = session.deal
    now = None if deal.deleted_at else _deal_state(deal)
    return {"kind": "deal", "before": then, "after": now}


def session_before_after(session: CoachingSession, today: datetime.date) -> dict:
    """The rep's figures on the session's focus before the session and since (see the module's doc).

    ``session`` comes with its deal and the deal's stage loaded for a deal focus.
    """
    before, after = session_windows(session, today)
    if session.focus == SessionFocus.STAGE:
        figures = _stage_before_after(session, session.stage_id, before, after)
    elif session.focus == SessionFocus.SKILL:
        figures = _skill_before_after(session, before, after)
    else:
        figures = _deal_before_after(session)
    sides = [figures["before"], figures["after"]]
    figures["enough"] = all(side is not None and side.get("enough", True) for side in sides)
    figures["min_count"] = MIN_SCORECARDS if session.focus == SessionFocus.SKILL else MIN_COUNT
    return figures
