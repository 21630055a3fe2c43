"""Every read of the one-on-ones that matters: who may see which meeting, and the agenda.

Admins see everything; a manager sees the one-on-ones of everyone below them
at any depth; anyone sees their own as the rep. The private note is read only
through ``private_notes_visible_to``, which gives a rep nothing.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from coaching.models import (
    ActionItem,
    ActionItemStatus,
    MeetingStatus,
    Milestone,
    OneOnOne,
    OneOnOneSeries,
    PrivateNote,
    Reminder,
    ShoutOut,
    TalkingPoint,
)
from pipeline.models import Activity, ActivityKind, Deal, Stage, StageKind, StageTransition
from pipeline.money import converted
from pipeline.periods import DAY, Period
from pipeline.selectors import deal_versions, deals_as_of
from reports.runners import quota_attainment, rotting_stages
from reports.runners.attention import stalled_condition
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery

AGENDA_DEALS = 5
# A hot deal closes within this many days of the meeting.
HOT_WITHIN = datetime.timedelta(days=30)
# "The rep's usual" activity is the weekly average over this many weeks before the last one.
USUAL_WEEKS = 8


def _rep_in_team(user: User, field: str) -> Q:
    return Q(**{f"{field}__in": team_member_ids_subquery(user.pk)})


def series_visible_to(user: User) -> QuerySet[OneOnOneSeries]:
    """Series ``user`` may see: admins all, managers their team's at any depth, anyone their own as the rep."""
    if user.is_admin:
        return OneOnOneSeries.objects.all()
    condition = Q(rep_id=user.pk)
    if user.is_manager:
        condition |= _rep_in_team(user, "rep_id") | Q(manager_id=user.pk)
    return OneOnOneSeries.objects.filter(condition)


def series_managed_by(user: User) -> QuerySet[OneOnOneSeries]:
    """Series ``user`` may run (reschedule, record, take private notes on): admins all, managers their team's."""
    if user.is_admin:
        return OneOnOneSeries.objects.all()
    if user.is_manager:
        return OneOnOneSeries.objects.filter(_rep_in_team(user, "rep_id"))
    return OneOnOneSeries.objects.none()


def meetings_visible_to(user: User) -> QuerySet[OneOnOne]:
    """Meetings of the series ``user`` may see."""
    return OneOnOne.objects.filter(series__in=series_visible_to(user).values("pk"))


def meetings_managed_by(user: User) -> QuerySet[OneOnOne]:
    """Meetings of the series ``user`` may run."""
    return OneOnOne.objects.filter(series__in=series_managed_by(user).values("pk"))


def private_notes_visible_to(user: User) -> QuerySet[PrivateNote]:
    """Private notes on meetings ``user`` runs: never a rep's, never the rep of the meeting's."""
    return PrivateNote.objects.filter(meeting__in=meetings_managed_by(user).values("pk"))


def private_note_text(user: User, meeting: OneOnOne) -> str | None:
    """The private note ``user`` may read on ``meeting``: None when they may not (one query)."""
    if not meetings_managed_by(user).filter(pk=meeting.pk).exists():
        return None
    note = (
        private_notes_visible_to(user)
        .filter(meeting=meeting)
        .values_list("text", flat=True)
        .first()
    )
    return note or ""


def talking_points_visible_to(user: User) -> QuerySet[TalkingPoint]:
    """Talking points of the meetings ``user`` may see."""
    return TalkingPoint.objects.filter(meeting__in=meetings_visible_to(user).values("pk"))


def action_items_visible_to(user: User) -> QuerySet[ActionItem]:
    """Action items ``user`` may see: their own, those of the one-on-ones, team meetings and coaching sessions they see, and a manager's team's."""
    if user.is_admin:
        return ActionItem.objects.all()
    # Both modules read this one.
    from coaching.sessions import sessions_visible_to
    from coaching.team_meetings import team_meetings_visible_to

    condition = (
        Q(meeting__in=meetings_visible_to(user).values("pk"))
        | Q(owner_id=user.pk)
        | Q(team_meeting__in=team_meetings_visible_to(user).values("pk"))
        | Q(coaching_session__in=sessions_visible_to(user).values("pk"))
    )
    if user.is_manager:
        condition |= _rep_in_team(user, "owner_id")
    return ActionItem.objects.filter(condition)


def series_list(user: User, team: int | None = None) -> list[OneOnOneSeries]:
    """The series ``user`` sees (of ``team``, a manager's, when given), each with its next scheduled
    meeting, its last held one and its open items (two queries)."""
    upcoming = Subquery(
        OneOnOne.objects.filter(series=OuterRef("pk"), status=MeetingStatus.SCHEDULED)
        .order_by("scheduled_at")
        .values("pk")[:1]
    )
    last_held = Subquery(
        OneOnOne.objects.filter(series=OuterRef("pk"), status=MeetingStatus.HELD)
        .order_by("-scheduled_at")
        .values("scheduled_at")[:1]
    )
    open_items = Subquery(
        ActionItem.objects.filter(meeting__series=OuterRef("pk"), status=ActionItemStatus.OPEN)
        .order_by()
        .values("meeting__series")
        .annotate(n=Count("pk"))
        .values("n")
    )
    visible = series_visible_to(user)
    if team is not None:
        visible = visible.filter(_rep_in_team(User(pk=team), "rep_id"))
    series = list(
        visible.select_related("manager", "rep")
        .annotate(next_meeting_id=upcoming, last_held_at=last_held, open_items=open_items)
        .order_by("-active", "rep__full_name", "rep__username", "id")
    )
    next_ids = [s.next_meeting_id for s in series if s.next_meeting_id]
    times = dict(OneOnOne.objects.filter(pk__in=next_ids).values_list("pk", "scheduled_at"))
    for item in series:
        item.next_meeting_at = times.get(item.next_meeting_id)
    return series


def series_meetings(series: OneOnOneSeries) -> QuerySet[OneOnOne]:
    """A series' meetings, newest first, each with how many talking points and action items it has."""
    return series.meetings.annotate(
        points=Count("talking_points", distinct=True), items=Count("action_items", distinct=True)
    ).order_by("-scheduled_at", "-id")


def meeting_for_page(user: User, meeting_id: int) -> OneOnOne | None:
    """One meeting ``user`` may see, with its series and both people (one query); None otherwise."""
    return (
        meetings_visible_to(user)
        .select_related("series", "series__manager", "series__rep")
        .filter(pk=meeting_id)
        .first()
    )


def meeting_talking_points(meeting: OneOnOne) -> list[TalkingPoint]:
    """The meeting's talking points, oldest first, with their authors (one query)."""
    return list(meeting.talking_points.select_related("author").order_by("created_at", "id"))


def meeting_action_items(meeting: OneOnOne) -> list[ActionItem]:
    """Items agreed at this meeting and open items carried over from earlier meetings of its series, oldest first.

    An item carries over until done: it shows on every later meeting whose time
    comes before it was completed (one query).
    """
    return list(
        ActionItem.objects.filter(meeting__series_id=meeting.series_id)
        .filter(
            Q(meeting=meeting)
            | Q(meeting__scheduled_at__lt=meeting.scheduled_at)
            & (Q(completed_at__isnull=True) | Q(completed_at__gt=meeting.scheduled_at))
        )
        .select_related("owner", "meeting")
        .order_by("meeting__scheduled_at", "due_on", "id")
    )


def action_items_due(user: User, *, today: datetime.date, within_days: int = 7) -> list[ActionItem]:
    """``user``'s own open items due within ``within_days`` of ``today`` or overdue, soonest first (one query)."""
    return list(
        ActionItem.objects.filter(
            owner_id=user.pk,
            status=ActionItemStatus.OPEN,
            due_on__lte=today + datetime.timedelta(days=within_days),
        )
        .select_related(
            "meeting", "meeting__series", "meeting__series__rep", "meeting__series__manager"
        )
        .order_by("due_on", "id")[:20]
    )


def meetings_tomorrow(user: User, *, today: datetime.date) -> list[Reminder]:
    """``user``'s one-on-ones the day after ``today``, from today's reminders, still scheduled (one query).

    Empty until the daily run (``coaching.reminders``) has written today's rows.
    """
    return list(
        Reminder.objects.filter(
            person_id=user.pk, day=today, meeting__status=MeetingStatus.SCHEDULED
        )
        .select_related("meeting", "meeting__series__manager", "meeting__series__rep")
        .order_by("meeting__scheduled_at", "meeting_id")
    )


def reminders_of(user: User, *, day: datetime.date) -> list[Reminder]:
    """What the daily run reminded ``user`` of on ``day``: items due or overdue and the next day's meetings (one query)."""
    return list(
        Reminder.objects.filter(person_id=user.pk, day=day)
        .select_related(
            "action_item", "meeting", "meeting__series__manager", "meeting__series__rep"
        )
        .order_by("meeting__scheduled_at", "action_item__due_on", "id")
    )


# Celebrations ----------------------------------------------------------------


def milestones_visible_to(user: User) -> QuerySet[Milestone]:
    """Quota milestones ``user`` may see: admins all, managers their team's at any depth, reps their own."""
    if user.is_admin:
        return Milestone.objects.all()
    condition = Q(rep_id=user.pk)
    if user.is_manager:
        condition |= _rep_in_team(user, "rep_id")
    return Milestone.objects.filter(condition)


def shout_outs_visible_to(user: User) -> QuerySet[ShoutOut]:
    """Shout-outs ``user`` may read: admins all; a manager those to their team at any depth;
    anyone those to themselves and to the people who share their manager (their team)."""
    if user.is_admin:
        return ShoutOut.objects.all()
    condition = Q(rep_id=user.pk)
    if user.manager_id is not None:
        condition |= Q(rep__manager_id=user.manager_id)
    if user.is_manager:
        condition |= _rep_in_team(user, "rep_id")
    return ShoutOut.objects.filter(condition)


CELEBRATIONS_SHOWN = 10


def celebrations_for(user: User) -> dict:
    """The latest milestones and shout-outs ``user`` may see, with their people (two queries)."""
    return {
        "milestones": list(
            milestones_visible_to(user)
            .select_related("rep")
            .order_by("-reached_at", "-id")[:CELEBRATIONS_SHOWN]
        ),
        "shout_outs": list(
            shout_outs_visible_to(user)
            .select_related("rep", "author")
            .order_by("-created_at", "-id")[:CELEBRATIONS_SHOWN]
        ),
    }


# The agenda ------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaMoments:
    """The moments an agenda is read at: the meeting (or now, if it is still ahead) and the meeting before it."""

    as_of: datetime.datetime
    since: datetime.datetime


def agenda_window(meeting: OneOnOne, now: datetime.datetime | None = None) -> AgendaMoments:
    """When the agenda stands and since when "since the last meeting" counts (one query).

    The last meeting is the previous held one of the series; before the first,
    one cadence before this meeting.
    """
    now = now or timezone.now()
    as_of = min(meeting.scheduled_at, now)
    previous = (
        OneOnOne.objects.filter(
            series_id=meeting.series_id,
            status=MeetingStatus.HELD,
            scheduled_at__lt=meeting.scheduled_at,
        )
        .order_by("-scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )
    since = previous or meeting.scheduled_at - datetime.timedelta(days=meeting.series.every_days)
    return AgendaMoments(as_of=as_of, since=min(since, as_of))


def _deal_rows(rows) -> list[dict]:
    return [
        {
            "id": row.id,
            "name": row.name,
            "amount": row.amount,
            "currency": row.currency,
            "expected_close_date": row.expected_close_date,
            "stage_id": row.stage_id,
            "stage_entered_at": row.stage_entered_at,
            **(
                {"previous_close_date": row.previous_close}
                if hasattr(row, "previous_close")
                else {}
            ),
        }
        for row in rows
    ]


def meeting_agenda(meeting: OneOnOne, now: datetime.datetime | None = None) -> dict:
    """The agenda of a one-on-one, read from the rep's deals as they stood at the meeting (or now, if it is ahead).

    Deals come from their change history (``deals_as_of``) and stage changes
    from the immutable transitions, so a meeting's agenda reads the same
    whenever it is opened. Twelve queries, whatever the number of deals.
    """
    window = agenda_window(meeting, now)
    as_of, since = window.as_of, window.since
    day = timezone.localdate(as_of)
    rep_id = meeting.series.rep_id
    # The rep's deals as they stood, read once: those open then, and those closed since the last
    # meeting (only they can have changed stage since: a deal's last move closed it).
    current = list(
        deals_as_of(as_of, owner_id=rep_id)
        .filter(Q(status=StageKind.OPEN) | Q(closed_at__gt=since))
        .values_list("history_id", "id", "status")
    )
    open_deals = deal_versions([row[0] for row in current if row[2] == StageKind.OPEN])

    value = converted(on=day)
    hot = list(
        open_deals.filter(expected_close_date__lte=day + HOT_WITHIN)
        .annotate(value=value)
        .order_by(F("value").desc(nulls_last=True), "expected_close_date", "id")[:AGENDA_DEALS]
    )

    stages = rotting_stages()
    stale = open_deals.filter(stalled_condition(stages, day))
    stalled = list(stale.order_by("stage_entered_at", "id")[:AGENDA_DEALS])
    stalled_total = stale.count()

    before = Deal.history.filter(id=OuterRef("id"), history_date__lte=since).order_by(
        "-history_date", "-history_id"
    )
    slipped = list(
        open_deals.annotate(previous_close=Subquery(before.values("expected_close_date")[:1]))
        .filter(expected_close_date__gt=F("previous_close"))
        .order_by("expected_close_date", "id")[:AGENDA_DEALS]
    )

    moves = list(
        StageTransition.objects.filter(
            deal_id__in=[row[1] for row in current],
            at__gt=since,
            at__lte=as_of,
            from_stage__isnull=False,
        )
        .select_related("from_stage", "to_stage", "deal")
        .only("at", "deal__name", "from_stage__name", "to_stage__name", "to_stage__kind")
        .order_by("-at", "-id")[: AGENDA_DEALS * 2]
    )

    week_start = as_of - datetime.timedelta(days=7)
    usual_start = week_start - datetime.timedelta(weeks=USUAL_WEEKS)
    counts = Activity.objects.filter(
        author_id=rep_id, occurred_at__gt=usual_start, occurred_at__lte=as_of
    ).aggregate(
        **{
            f"{kind}_week": Count("pk", filter=Q(kind=kind, occurred_at__gt=week_start))
            for kind in ActivityKind.values
        },
        **{
            f"{kind}_usual": Count("pk", filter=Q(kind=kind, occurred_at__lte=week_start))
            for kind in ActivityKind.values
        },
    )
    activity = [
        {
            "kind": kind,
            "label": label,
            "last_7_days": counts[f"{kind}_week"],
            "usual": round(counts[f"{kind}_usual"] / USUAL_WEEKS, 1),
        }
        for kind, label in ActivityKind.choices
    ]

    stage_names = dict(
        Stage.objects.filter(pk__in={row.stage_id for row in hot + stalled + slipped}).values_list(
            "pk", "name"
        )
    )

    return {
        "as_of": as_of,
        "since": since,
        "hot_deals": _with_stage(hot, stage_names),
        "stalled_deals": _with_stage(stalled, stage_names),
        "stalled_total": stalled_total,
        "slipped_deals": _with_stage(slipped, stage_names),
        "stage_changes": [
            {
                "deal_id": move.deal_id,
                "deal_name": move.deal.name,
                "from_stage": move.from_stage.name,
                "to_stage": move.to_stage.name,
                "to_kind": move.to_stage.kind,
                "at": move.at,
            }
            for move in moves
        ],
        "activity": activity,
        "quota": _quota(rep_id, day),
        "open_action_items": [
            {
                "id": item.id,
                "text": item.text,
                "owner_id": item.owner_id,
                "owner_name": item.owner.display_name,
                "due_on": item.due_on,
                "overdue": item.due_on < day,
                "from_meeting": item.meeting_id,
            }
            for item in ActionItem.objects.filter(
                meeting__series_id=meeting.series_id,
                meeting__scheduled_at__lt=meeting.scheduled_at,
                created_at__lte=as_of,
            )
            .filter(Q(completed_at__isnull=True) | Q(completed_at__gt=as_of))
            .select_related("owner")
            .order_by("due_on", "id")
        ],
    }


def _with_stage(rows, stage_names: dict) -> list[dict]:
    return [dict(row, stage_name=stage_names.get(row["stage_id"], "")) for row in _deal_rows(rows)]


def _quota(rep_id: int, day: datetime.date) -> dict:
    """The rep's target, won so far and gap in the month and the quarter holding ``day`` (one query).

    Won so far counts deals won through ``day``, at their close date's rate, as the quota tiles do.
    """
    month, quarter = Period.named("month", day), Period.named("quarter", day)
    windows = {
        "month": month,
        "month_to_date": Period(month.start, day + DAY),
        "quarter": quarter,
        "quarter_to_date": Period(quarter.start, day + DAY),
    }
    person = quota_attainment(Q(owner_id=rep_id), windows).get(rep_id)
    figures = {}
    for name, period in (("month", month), ("quarter", quarter)):
        if person is None or not person[name]["quotas"]:
            figures[name] = {"start": period.start, "last_day": period.last_day, "target": None}
            continue
        target, won = person[name]["target"], person[f"{name}_to_date"]["won"]
        figures[name] = {
            "start": period.start,
            "last_day": period.last_day,
            "target": target,
            "won": won,
            "attainment": float(won / target) if target else None,
            "gap": max(target - won, type(target)(0)),
        }
    return figures


# The coaching hub -------------------------------------------------------------

HUB_MEETINGS = 5


def hub_summary(user: User, *, now: datetime.datetime) -> dict:
    """The hub's summary for ``user``: the next one-on-ones they take part in or run, and the open
    action items they may see, with how many are overdue (two queries)."""
    upcoming = meetings_visible_to(user).filter(
        status=MeetingStatus.SCHEDULED, scheduled_at__gte=now
    )
    if not user.is_rep:
        upcoming = upcoming.filter(series__in=series_managed_by(user).values("pk"))
    today = timezone.localdate(now)
    items = action_items_visible_to(user).filter(status=ActionItemStatus.OPEN)
    counts = items.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_on__lt=today)))
    return {
        "next_meetings": list(
            upcoming.select_related("series__rep", "series__manager").order_by(
                "scheduled_at", "id"
            )[:HUB_MEETINGS]
        ),
        "open_items": counts["open"],
        "overdue_items": counts["overdue"],
    }
