"""Every read of the team meetings that matters: who may see or run which meeting, and its agenda.

Admins see and run every team meeting. A manager runs their own team's and
sees those of every manager below them; everyone in a manager's team (at any
depth) sees that manager's meetings, their minutes and items. A manager of a
sibling team, and a rep of another team, see nothing.
"""

import datetime
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from coaching.celebrations import personal_bests_for, streaks_for
from coaching.models import (
    ActionItem,
    ActionItemStatus,
    Milestone,
    ShoutOut,
    TeamMeeting,
    TeamMeetingStatus,
)
from coaching.selectors import AgendaMoments
from pipeline.models import Deal, Stage, StageKind, StageTransition
from pipeline.money import at_close, converted, reporting_currency
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from pipeline.selectors import deal_versions, deals_as_of
from reports.forecasts import money
from reports.models import ForecastSnapshot
from reports.runners import rotting_stages
from reports.runners.attention import stalled_condition
from reports.runners.gap import horizon_for
from reports.targets import scope_target
from salesmgr.models import User
from salesmgr.selectors import ancestor_ids_subquery, team_member_ids_subquery, team_with_self

# How many deals each list of the agenda shows (the counts cover them all).
AGENDA_DEALS = 5
WINS_SHOWN = 10
# Before a team's first held meeting, "since last time" is this long before the meeting.
WEEK = datetime.timedelta(days=7)
# A day without a forecast snapshot (a weekend without the nightly run) reads the latest this recent.
SNAPSHOT_SLACK = datetime.timedelta(days=3)
FORECAST_METHODS = ("commit", "best_case", "model")


def team_meetings_visible_to(user: User) -> QuerySet[TeamMeeting]:
    """Team meetings ``user`` may see: admins all; a manager their own and those of managers below them;
    anyone those of the managers above them (the teams they are part of)."""
    if user.is_admin:
        return TeamMeeting.objects.all()
    condition = Q(manager_id__in=ancestor_ids_subquery(user.pk))
    if user.is_manager:
        condition |= Q(manager_id=user.pk) | Q(manager_id__in=team_member_ids_subquery(user.pk))
    return TeamMeeting.objects.filter(condition)


def team_meetings_managed_by(user: User) -> QuerySet[TeamMeeting]:
    """Team meetings ``user`` runs (records, writes minutes and items in): admins all, a manager their own team's."""
    if user.is_admin:
        return TeamMeeting.objects.all()
    if user.is_manager:
        return TeamMeeting.objects.filter(manager_id=user.pk)
    return TeamMeeting.objects.none()


def team_meeting_for_page(user: User, meeting_id: int) -> TeamMeeting | None:
    """One team meeting ``user`` may see, with its manager; None otherwise."""
    return team_meetings_visible_to(user).select_related("manager").filter(pk=meeting_id).first()


def team_meeting_list(user: User) -> QuerySet[TeamMeeting]:
    """The team meetings ``user`` sees, newest first, each with its items and how many are open (one query)."""
    return (
        team_meetings_visible_to(user)
        .select_related("manager")
        .annotate(
            items=Count("action_items"),
            open_items=Count("action_items", filter=Q(action_items__status=ActionItemStatus.OPEN)),
        )
        .order_by("-scheduled_at", "-id")
    )


def team_members(manager_id: int) -> QuerySet[User]:
    """The people a team meeting's items may be given to: the manager and everyone below them."""
    return User.objects.filter(
        Q(pk=manager_id) | Q(pk__in=team_member_ids_subquery(manager_id)), is_active=True
    ).order_by("full_name", "username", "pk")


def team_meeting_action_items(meeting: TeamMeeting) -> list[ActionItem]:
    """Items agreed at this meeting and those still open from the team's earlier meetings, oldest first.

    An item carries over until done: it shows on every later meeting of the
    same team whose time comes before it was completed (one query).
    """
    return list(
        ActionItem.objects.filter(team_meeting__manager_id=meeting.manager_id)
        .filter(
            Q(team_meeting=meeting)
            | Q(team_meeting__scheduled_at__lt=meeting.scheduled_at)
            & (Q(completed_at__isnull=True) | Q(completed_at__gt=meeting.scheduled_at))
        )
        .select_related("owner", "team_meeting")
        .order_by("team_meeting__scheduled_at", "due_on", "id")
    )


# The agenda ------------------------------------------------------------------


def team_agenda_window(meeting: TeamMeeting, now: datetime.datetime | None = None) -> AgendaMoments:
    """When the agenda stands (the meeting, or now if it is ahead) and since when "this week" counts:
    the team's previous held meeting, or a week before this one (one query)."""
    now = now or timezone.now()
    as_of = min(meeting.scheduled_at, now)
    previous = (
        TeamMeeting.objects.filter(
            manager_id=meeting.manager_id,
            status=TeamMeetingStatus.HELD,
            scheduled_at__lt=meeting.scheduled_at,
        )
        .order_by("-scheduled_at")
        .values_list("scheduled_at", flat=True)
        .first()
    )
    since = previous or meeting.scheduled_at - WEEK
    return AgendaMoments(as_of=as_of, since=min(since, as_of))


def team_meeting_agenda(meeting: TeamMeeting, now: datetime.datetime | None = None) -> dict:
    """The agenda of a team meeting, read from the team's deals as they stood at the meeting (or now, if it is ahead).

    Deals come from their change history (``deals_as_of``) and stage moves from
    the immutable transitions, so a past meeting's agenda reads as it did then.
    Values are in the reporting currency. A fixed number of queries, whatever
    the number of deals.
    """
    window = team_agenda_window(meeting, now)
    as_of, since = window.as_of, window.since
    day = timezone.localdate(as_of)
    manager_id = meeting.manager_id
    # The team's deals as they stood: open then, or closed since the last meeting (only those
    # can have won or moved stage since: a deal's last move closed it).
    current = list(
        deals_as_of(as_of, owner_in=team_member_ids_subquery(manager_id))
        .filter(Q(status=StageKind.OPEN) | Q(closed_at__gt=since))
        .values_list("history_id", "id", "status")
    )
    versions = deal_versions([row[0] for row in current])
    deal_ids = [row[1] for row in current]

    won = versions.filter(status=StageKind.WON, closed_at__gt=since, closed_at__lte=as_of).annotate(
        value=at_close()
    )
    wins = list(won.order_by(F("value").desc(nulls_last=True), "-closed_at", "id")[:WINS_SHOWN])
    won_totals = won.aggregate(count=Count("id"), total=Sum("value"))

    value = converted(on=day)
    in_window = Q(at__gt=since, at__lte=as_of, from_stage__isnull=False)
    moves_in_window = StageTransition.objects.filter(in_window, deal_id__in=deal_ids)
    moves_by_stage = list(
        moves_in_window.order_by()
        .values(
            "to_stage_id",
            "to_stage__name",
            "to_stage__kind",
            "to_stage__order",
            "to_stage__pipeline_id",
            "to_stage__pipeline__name",
        )
        .annotate(moves=Count("pk"), deals=Count("deal_id", distinct=True))
        .order_by("to_stage__pipeline__name", "to_stage__pipeline_id", "to_stage__order")
    )
    last_move = StageTransition.objects.filter(in_window, deal_id=OuterRef("id")).order_by(
        "-at", "-id"
    )
    moved = list(
        versions.filter(id__in=moves_in_window.values("deal_id"))
        .annotate(
            value=value,
            moved_to=Subquery(last_move.values("to_stage__name")[:1]),
            moved_from=Subquery(last_move.values("from_stage__name")[:1]),
            moved_at=Subquery(last_move.values("at")[:1]),
        )
        .order_by(F("value").desc(nulls_last=True), "id")[:AGENDA_DEALS]
    )

    open_deals = versions.filter(status=StageKind.OPEN)
    stale = open_deals.filter(stalled_condition(rotting_stages(), day))
    stalled = list(
        stale.annotate(value=value).order_by(
            F("value").desc(nulls_last=True), "stage_entered_at", "id"
        )[:AGENDA_DEALS]
    )
    stalled_totals = stale.aggregate(count=Count("id"), total=Sum(value))

    shown = wins + moved + stalled
    names = {
        person.pk: person.display_name
        for person in User.objects.filter(pk__in={row.owner_id for row in shown}).only(
            "pk", "username", "full_name", "first_name", "last_name"
        )
    }
    stage_names = dict(
        Stage.objects.filter(pk__in={row.stage_id for row in stalled}).values_list("pk", "name")
    )

    return {
        "as_of": as_of,
        "since": since,
        "currency": reporting_currency(),
        "wins": [
            {
                **_deal(row, names),
                "value": _money_or_none(row.value),
                "closed_at": row.closed_at,
            }
            for row in wins
        ],
        "wins_total": {
            "count": won_totals["count"],
            "value": money(won_totals["total"]),
        },
        "forecast": _forecast(manager_id, as_of),
        "moves_by_stage": [
            {
                "stage_id": row["to_stage_id"],
                "stage_name": row["to_stage__name"],
                "pipeline_name": row["to_stage__pipeline__name"],
                "kind": row["to_stage__kind"],
                "moves": row["moves"],
                "deals": row["deals"],
            }
            for row in moves_by_stage
        ],
        "moved_deals": [
            {
                **_deal(row, names),
                "value": _money_or_none(row.value),
                "from_stage": row.moved_from,
                "to_stage": row.moved_to,
                "moved_at": row.moved_at,
            }
            for row in moved
        ],
        "stalled_deals": [
            {
                **_deal(row, names),
                "value": _money_or_none(row.value),
                "stage_name": stage_names.get(row.stage_id, ""),
                "stage_entered_at": row.stage_entered_at,
            }
            for row in stalled
        ],
        "stalled_total": {
            "count": stalled_totals["count"],
            "value": money(stalled_totals["total"]),
        },
        "open_action_items": [
            {
                "id": item.id,
                "text": item.text,
                "owner_id": item.owner_id,
                "owner_name": item.owner.display_name,
                "due_on": item.due_on,
                "overdue": item.due_on < day,
                "from_meeting": item.team_meeting_id,
            }
            for item in ActionItem.objects.filter(
                team_meeting__manager_id=manager_id,
                team_meeting__scheduled_at__lt=meeting.scheduled_at,
                created_at__lte=as_of,
            )
            .filter(Q(completed_at__isnull=True) | Q(completed_at__gt=as_of))
            .select_related("owner")
            .order_by("due_on", "id")
        ],
        "celebrations": team_celebrations(manager_id, since=since, until=as_of),
    }


# The agenda's lists of single deals; a reader sees only the deals they may read.
AGENDA_DEAL_LISTS = ("wins", "moved_deals", "stalled_deals")


def team_meeting_agenda_for(
    user: User, meeting: TeamMeeting, now: datetime.datetime | None = None
) -> dict:
    """The agenda as ``user`` may read it: everything for an admin or a manager over the team; for a
    rep of the team, the team's counts and totals, the celebrations, but of single deals only their own
    (a rep reads only their own deals), with ``deals_hidden`` saying how many were left out (one query
    more than the agenda)."""
    agenda = team_meeting_agenda(meeting, now)
    if user.is_admin:
        agenda["deals_hidden"] = 0
        return agenda
    readable = set(team_with_self(user).values_list("pk", flat=True))
    hidden = 0
    for key in AGENDA_DEAL_LISTS:
        kept = [deal for deal in agenda[key] if deal["owner_id"] in readable]
        hidden += len(agenda[key]) - len(kept)
        agenda[key] = kept
    for best in agenda["celebrations"]["personal_bests"]:
        if best["rep_id"] not in readable:
            best["deal_id"] = best["deal_name"] = None
    agenda["deals_hidden"] = hidden
    return agenda


def team_celebrations(
    manager_id: int, *, since: datetime.datetime, until: datetime.datetime
) -> dict[str, list[dict]]:
    """What the team celebrates at a meeting, besides its wins: quota milestones reached and
    shout-outs given between ``since`` and ``until``, the streaks running on the meeting's day
    (two weeks or more with a win, two months or more at quota) and the personal bests set
    since ``since`` (seven queries).

    Every kind of celebration of the team's week is gathered here, so the
    agenda, the API and the page show a new kind once it is added to this dict.
    """
    team = Q(rep_id__in=team_member_ids_subquery(manager_id))
    people = User.objects.filter(pk__in=team_member_ids_subquery(manager_id))
    names = {person.pk: person.display_name for person in people}
    day = timezone.localdate(until - datetime.timedelta(microseconds=1))
    return {
        "streaks": _streaks(streaks_for(list(names), day), names),
        "personal_bests": _new_bests(
            personal_bests_for(list(names), day), names, since=timezone.localdate(since)
        ),
        "milestones": [
            {
                "id": milestone.id,
                "rep_id": milestone.rep_id,
                "rep_name": milestone.rep.display_name,
                "period": milestone.period,
                "period_start": milestone.period_start,
                "level": milestone.level,
                "reached_at": milestone.reached_at,
            }
            for milestone in Milestone.objects.filter(
                team, reached_at__gt=since, reached_at__lte=until
            )
            .select_related("rep")
            .order_by("-reached_at", "-id")
        ],
        "shout_outs": [
            {
                "id": shout.id,
                "rep_id": shout.rep_id,
                "rep_name": shout.rep.display_name,
                "author_name": shout.author.display_name if shout.author else "",
                "message": shout.message,
                "created_at": shout.created_at,
            }
            for shout in ShoutOut.objects.filter(team, created_at__gt=since, created_at__lte=until)
            .select_related("rep", "author")
            .order_by("-created_at", "-id")
        ],
    }


def _deal(row, names: dict) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "owner_id": row.owner_id,
        "owner_name": names.get(row.owner_id, ""),
        "amount": row.amount,
        "currency": row.currency,
    }


def _money_or_none(value) -> Decimal | None:
    return None if value is None else money(value)


def _forecast(manager_id: int, as_of: datetime.datetime) -> dict:
    return scope_forecast(Scope(team=manager_id), as_of)


def scope_forecast(scope: Scope, as_of: datetime.datetime) -> dict:
    """A scope's month and quarter: target, won so far, and projected (won so far plus the forecast
    of the horizon nearest the days left, as the gap page reads it) as of ``as_of`` and a week
    before, from the scope's forecast snapshots (six queries at most).

    A side without a snapshot on its day (or up to ``SNAPSHOT_SLACK`` before) says so and has
    no projection; won so far still counts from the deals.
    """
    moments = {"now": as_of, "last_week": as_of - WEEK}
    days = {side: timezone.localdate(moment) for side, moment in moments.items()}
    periods = {
        "month": Period.named("month", days["now"]),
        "quarter": Period.named("quarter", days["now"]),
    }
    horizons = {
        (name, side): horizon_for((period.end - days[side]).days)
        for name, period in periods.items()
        for side in moments
    }
    wanted = Q()
    for day in days.values():
        wanted |= Q(as_of__gt=day - SNAPSHOT_SLACK, as_of__lte=day)
    snapshots: dict[tuple[str, int], ForecastSnapshot] = {}
    for snapshot in ForecastSnapshot.objects.filter(
        wanted, scope_key=scope.key, horizon__in=set(horizons.values())
    ).order_by("as_of"):
        for side, day in days.items():
            if day - SNAPSHOT_SLACK < snapshot.as_of <= day:
                snapshots[(side, snapshot.horizon)] = snapshot  # the latest wins

    won_so_far = Deal.objects.filter(
        scope.deal_filter(),
        status=StageKind.WON,
        deleted_at__isnull=True,
        closed_at__gte=min(start_of(p.start) for p in periods.values()),
        closed_at__lt=as_of,
    ).aggregate(
        **{
            f"{name}_{side}": Sum(
                at_close(), filter=Q(closed_at__gte=start_of(period.start), closed_at__lt=moment)
            )
            for name, period in periods.items()
            for side, moment in moments.items()
        }
    )

    figures = {}
    for name, period in periods.items():
        target = scope_target(scope, period)
        sides = {}
        for side in moments:
            horizon = horizons[(name, side)]
            snapshot = snapshots.get((side, horizon))
            won = money(won_so_far[f"{name}_{side}"])
            sides[side] = {
                "day": days[side],
                "horizon": horizon,
                "snapshot_as_of": snapshot.as_of if snapshot else None,
                "won": won,
                "projected": (
                    {method: money(won + getattr(snapshot, method)) for method in FORECAST_METHODS}
                    if snapshot
                    else None
                ),
            }
        now, before = sides["now"], sides["last_week"]
        amount = None if target is None else target.amount
        figures[name] = {
            "start": period.start,
            "last_day": period.last_day,
            "target": amount,
            "target_description": None if target is None else target.description,
            **now,
            "gap": (
                None
                if amount is None or now["projected"] is None
                else money(amount - now["projected"]["commit"])
            ),
            "last_week": before,
            "change": (
                {
                    method: money(now["projected"][method] - before["projected"][method])
                    for method in FORECAST_METHODS
                }
                if now["projected"] and before["projected"]
                else None
            ),
            "missing": _missing_snapshots(now, before),
        }
    return figures


def _missing_snapshots(now: dict, before: dict) -> str:
    """A sentence saying which forecast snapshot is missing ("" when both are there)."""
    missing = [f"{side['day']:%-d %b %Y}" for side in (now, before) if side["projected"] is None]
    if not missing:
        return ""
    return (
        "No forecast snapshot of the team for "
        + " nor ".join(missing)
        + ": the nightly forecast did not run then."
    )


# A run is celebrated at a team meeting from its second period on.
STREAK_FROM = 2


def _streaks(streaks: dict, names: dict) -> list[dict]:
    rows = [
        {
            "rep_id": person,
            "rep_name": names[person],
            "weeks": found.weeks_current.length,
            "quota_months": found.quota_months_current.length,
        }
        for person, found in streaks.items()
        if max(found.weeks_current.length, found.quota_months_current.length) >= STREAK_FROM
    ]
    return sorted(rows, key=lambda row: (-row["quota_months"], -row["weeks"], row["rep_name"]))


def _new_bests(bests: dict, names: dict, *, since: datetime.date) -> list[dict]:
    """Bests set on or after ``since``: the best deal by its close date, the best month by its last win."""
    rows = []
    for person, found in bests.items():
        if found.deal and found.deal.day >= since:
            rows.append(
                {
                    "rep_id": person,
                    "rep_name": names[person],
                    "kind": "deal",
                    "value": found.deal.value,
                    "day": found.deal.day,
                    "deal_id": found.deal.deal_id,
                    "deal_name": found.deal.deal_name,
                }
            )
        if found.month and found.month.last_win and found.month.last_win >= since:
            rows.append(
                {
                    "rep_id": person,
                    "rep_name": names[person],
                    "kind": "month",
                    "value": found.month.value,
                    "day": found.month.day,
                    "deal_id": None,
                    "deal_name": None,
                }
            )
    return sorted(rows, key=lambda row: (-row["value"], row["rep_name"], row["kind"]))
