"""Funnel activity: the activities each rep logged, week by week, beside the outcomes that followed.

Activities count by their author and the local week (Monday) of ``occurred_at``.
A scope of people (a rep, a team, a territory's reps, the organisation) counts
its people's activities; a pipeline scope counts the activities logged on its
deals. The outcomes count by the deal's owner: a stage advance is a stage
transition in the week into an open stage of higher order than the one left, or
into the won stage (creation and a move to lost are no advance); a win is a deal
won with ``closed_at`` in the week. Activities per win divides the activities
by the wins (none when nothing was won). Three grouped queries, whatever the size; on
PostgreSQL the activities, advances and wins of a scope of people come from daily rollups
(``reports/rollups.py``).
"""

import datetime
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace

import plotly.graph_objects as go
from django.db import connection
from django.db.models import BooleanField, Count, DateField, F, Func, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Cast, TruncWeek
from django.utils import timezone

from pipeline.models import Activity, ActivityKind, Deal, StageKind, StageTransition
from pipeline.periods import Period
from pipeline.picker import Pick
from pipeline.scopes import Scope
from reports import rollups
from reports.catalog.base import Column, Report, ReportResult, register
from reports.charts import WON, Chart, _chart
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery

# The activity kinds as columns, in pipeline.models order, with the key each row uses.
KIND_COLUMNS = {
    ActivityKind.CALL: "calls",
    ActivityKind.EMAIL: "emails",
    ActivityKind.MEETING: "meetings",
    ActivityKind.CLIENT_VISIT: "visits",
    ActivityKind.NOTE: "notes",
}
KIND_LABELS = {
    "calls": "Calls",
    "emails": "E-mails",
    "meetings": "Meetings",
    "visits": "Client visits",
    "notes": "Notes",
}
KIND_COLOURS = {
    "calls": "#0072B2",
    "emails": "#56B4E9",
    "meetings": "#009E73",
    "visits": "#E69F00",
    "notes": "#999999",
}
COLUMNS = [
    Column("rep", "Rep"),
    Column("week", "Week of", "date"),
    *(Column(key, KIND_LABELS[key], "int") for key in KIND_COLUMNS.values()),
    Column("activities", "Activities", "int"),
    Column("advances", "Stage advances", "int"),
    Column("wins", "Wins", "int"),
    Column("per_win", "Activities per win", "number"),
]


def _week(field: str) -> TruncWeek:
    return TruncWeek(field, tzinfo=timezone.get_current_timezone())


def _rolled_week() -> Cast:
    """The Monday of a rollup row's day, as a date in SQL: PostgreSQL truncates to a timestamp, which
    Django would turn into a date row by row in Python (a third of the page's time for the
    organisation's 2,600 rep-weeks at 1,000,000 deals)."""
    return Cast(TruncWeek("day"), DateField())


def _day(value) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


class _InArray(Func):
    """``column = ANY(ARRAY(<ids>))``: the people (a team) are read once, before the rows, so the
    planner filters each row against a known list rather than hash-joining the rows to the people
    after the other joins (``IN (subquery)``); twice as fast on the period's transitions."""

    arg_joiner = " = ANY(ARRAY"
    template = "(%(expressions)s))"
    output_field = BooleanField()


def _team_array(scope: Scope) -> bool:
    return scope.team is not None and connection.vendor == "postgresql"


def _in_team(column: str, team: int) -> Q:
    return Q(_InArray(F(column), team_member_ids_subquery(team)))


def _deal_filter(scope: Scope, prefix: str = "") -> Q:
    """``scope.deal_filter(prefix)``, the same deals, with a team's people as an array."""
    if not _team_array(scope):
        return scope.deal_filter(prefix)
    return replace(scope, team=None).deal_filter(prefix) & _in_team(f"{prefix}owner_id", scope.team)


def _people_filter(scope: Scope, prefix: str) -> Q | None:
    """``scope.people_filter(prefix)``, the same people, with a team's people (or the organisation's
    reps) as an array.

    The organisation's reps as an array let PostgreSQL read a quarter's activities from the
    ``(author, occurred_at)`` index alone, rep by rep, rather than every activity of the period
    from the table and a hash join to the users (0.6 s against 1.6 s at 1M deals).
    """
    people = scope.people_filter(prefix)
    if people is not None and scope.is_organisation and connection.vendor == "postgresql":
        reps = User.objects.filter(scope.people_filter()).order_by().values("pk")
        return Q(_InArray(F(f"{prefix}id"), Subquery(reps)))
    if people is None or not _team_array(scope):
        return people
    others = replace(scope, team=None)
    rest = Q() if others.is_organisation else others.people_filter(prefix)
    return rest & _in_team(f"{prefix}id", scope.team)


def _activity_filter(pick: Pick) -> Q:
    people = _people_filter(pick.scope, "author__")
    if people is None:
        return _deal_filter(pick.scope, "deal__") & Q(deal__deleted_at__isnull=True)
    return people


def _advance() -> Q:
    """A transition that moved its deal on: into the won stage, or to a later open stage."""
    return Q(to_stage__kind=StageKind.WON) | Q(
        from_stage__isnull=False,
        to_stage__kind=StageKind.OPEN,
        to_stage__order__gt=F("from_stage__order"),
    )


def _activity_rows(pick: Pick, rolled: bool) -> Iterator[tuple[int, datetime.date, dict]]:
    """Activities per (author, week), as ``(author, Monday, {column key: count})``: from the daily
    rollup for a scope of people on PostgreSQL (a row per author and week, the kinds as columns),
    else from the activities themselves."""
    people = _people_filter(pick.scope, "author__")
    if rolled and people is not None:
        rows = (
            rollups.activity_days(pick.period.start, pick.period.end)
            .filter(people, kind__in=list(KIND_COLUMNS))
            .values("author_id", week=_rolled_week())
            .annotate(
                **{key: Sum("count", filter=Q(kind=kind)) for kind, key in KIND_COLUMNS.items()}
            )
            .order_by()
        )
        for row in rows:
            counts = {key: row[key] or 0 for key in KIND_COLUMNS.values()}
            yield row["author_id"], _day(row["week"]), counts
        return
    start, end = pick.period.bounds
    rows = (
        Activity.objects.filter(_activity_filter(pick), occurred_at__gte=start, occurred_at__lt=end)
        .values("author_id", "kind", week=_week("occurred_at"))
        # COUNT(*) reads no column, so the (author, occurred_at) index including kind answers alone.
        .annotate(count=Count("*"))
        .order_by()
    )
    for row in rows:
        key = KIND_COLUMNS.get(row["kind"])
        if key is not None:
            yield row["author_id"], _day(row["week"]), {key: row["count"]}


def _advance_rows(pick: Pick, rolled: bool) -> QuerySet:
    """Stage advances per (owner, week): from the daily rollup for a rep, a team or the
    organisation on PostgreSQL, else from the transitions (a territory, pipeline or product
    is a condition on each deal that the rollup does not keep)."""
    scope = pick.scope
    if rolled and rollups.keyed_for(scope):
        return (
            rollups.advance_days(pick.period.start, pick.period.end)
            .filter(_deal_filter(scope))
            .values("owner_id", week=_rolled_week())
            .annotate(count=Sum("count"))
            .order_by()
        )
    start, end = pick.period.bounds
    return (
        StageTransition.objects.filter(
            _deal_filter(scope, "deal__"),
            _advance(),
            deal__deleted_at__isnull=True,
            at__gte=start,
            at__lt=end,
        )
        .values(owner_id=F("deal__owner_id"), week=_week("at"))
        .annotate(count=Count("id"))
        .order_by()
    )


def _win_rows(pick: Pick, rolled: bool) -> QuerySet:
    """Deals won per (owner, week): from the closed rollup under the same condition as the advances
    (its rows are per owner and local close day, so a week sums its days: the organisation's 90
    days of 63,742 wins at 1,000,000 deals are 12,571 rows there, a manager's 41,510 are 8,178),
    else from the deals."""
    scope = pick.scope
    if rolled and rollups.keyed_for(scope):
        return (
            rollups.closed_days(pick.period.start, pick.period.end)
            .filter(_deal_filter(scope), status=StageKind.WON)
            .values("owner_id", week=_rolled_week())
            .annotate(count=Sum("deals"))
            .order_by()
        )
    start, end = pick.period.bounds
    return (
        Deal.objects.filter(
            _deal_filter(scope),
            deleted_at__isnull=True,
            status=StageKind.WON,
            closed_at__gte=start,
            closed_at__lt=end,
        )
        .values("owner_id", week=_week("closed_at"))
        .annotate(count=Count("id"))
        .order_by()
    )


def activity_counts(pick: Pick) -> dict:
    """Per (person, week): the activities of each kind, the stage advances and the wins (three grouped
    queries, and one to see whether the rollups can answer)."""
    cells: dict[tuple[int, datetime.date], dict] = defaultdict(
        lambda: dict.fromkeys([*KIND_COLUMNS.values(), "advances", "wins"], 0)
    )
    rolled = rollups.ready()
    for author, week, counts in _activity_rows(pick, rolled):
        cell = cells[(author, week)]
        for key, count in counts.items():
            cell[key] += count
    for row in _advance_rows(pick, rolled):
        cells[(row["owner_id"], _day(row["week"]))]["advances"] += row["count"]
    for row in _win_rows(pick, rolled):
        cells[(row["owner_id"], _day(row["week"]))]["wins"] += row["count"]
    return cells


def people_names(ids) -> dict[int, str]:
    """The names people are shown by, by id (one query)."""
    people = User.objects.filter(pk__in=ids).only(
        "pk", "username", "full_name", "first_name", "last_name"
    )
    return {person.pk: person.display_name for person in people}


def _with_ratios(row: dict) -> dict:
    row["activities"] = sum(row[key] for key in KIND_COLUMNS.values())
    row["per_win"] = row["activities"] / row["wins"] if row["wins"] else None
    return row


def weeks_of(period: Period) -> list[datetime.date]:
    """The Mondays of the weeks the period touches, in order."""
    first = period.start - datetime.timedelta(days=period.start.weekday())
    return [
        first + datetime.timedelta(weeks=n) for n in range((period.last_day - first).days // 7 + 1)
    ]


def activity_chart(weeks: list[datetime.date], by_week: dict[datetime.date, dict]) -> Chart:
    """Activities of each kind per week (stacked bars) with the wins of the week as a line on its own axis."""
    x = [week.isoformat() for week in weeks]
    empty = dict.fromkeys([*KIND_COLUMNS.values(), "wins"], 0)
    traces = [
        go.Bar(
            x=x,
            y=[by_week.get(week, empty)[key] for week in weeks],
            name=KIND_LABELS[key],
            marker={"color": KIND_COLOURS[key]},
            hovertemplate=f"Week of %{{x|%-d %b}}: %{{y:,}} {KIND_LABELS[key].lower()}<extra></extra>",
        )
        for key in KIND_COLUMNS.values()
    ]
    wins = [by_week.get(week, empty)["wins"] for week in weeks]
    traces.append(
        go.Scatter(
            x=x,
            y=wins,
            name="Wins",
            yaxis="y2",
            mode="lines+markers",
            line={"color": WON, "width": 3, "dash": "dot"},
            marker={"symbol": "diamond", "size": 9, "color": "#000000"},
            hovertemplate="Week of %{x|%-d %b}: %{y:,} wins<extra></extra>",
        )
    )
    layout = {
        "barmode": "stack",
        "xaxis": {"type": "date", "tickformat": "%-d %b", "tickangle": 0},
        "yaxis": {"title": {"text": "Activities"}, "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": "Wins"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
        "margin": {"l": 64, "r": 64, "t": 16, "b": 48},
    }
    total = sum(
        sum(by_week.get(week, empty)[key] for key in KIND_COLUMNS.values()) for week in weeks
    )
    won = sum(wins)
    summary = (
        f"Activities per week by kind from the week of {weeks[0]:%-d %B %Y}: {total:,} activities "
        f"and {won:,} wins in all"
        + (f", {total / won:,.1f} activities per win." if won else "; nothing was won.")
    )
    return _chart(
        "funnel-activity-chart", "Activities by kind per week, with wins", summary, traces, layout
    )


@register
class FunnelActivity(Report):
    slug = "funnel-activity"
    title = "Funnel activity"
    summary = (
        "Activities by kind per rep and week against the stage advances and wins that followed: "
        "the activity it takes to win a deal in this team."
    )

    def build(self, user: User, pick: Pick, today: datetime.date) -> ReportResult:
        cells = activity_counts(pick)
        full = people_names({owner for owner, _ in cells})
        rows = [
            _with_ratios({"rep": full.get(owner, str(owner)), "week": week, **counts})
            for (owner, week), counts in cells.items()
        ]
        rows.sort(key=lambda row: (row["rep"].lower(), row["week"]))
        totals = _with_ratios(
            {
                "rep": "Total",
                **{
                    key: sum(row[key] for row in rows)
                    for key in [*KIND_COLUMNS.values(), "advances", "wins"]
                },
            }
        )
        by_week: dict[datetime.date, dict] = defaultdict(
            lambda: dict.fromkeys([*KIND_COLUMNS.values(), "wins"], 0)
        )
        for row in rows:
            for key in [*KIND_COLUMNS.values(), "wins"]:
                by_week[row["week"]][key] += row[key]
        notes = []
        if totals["wins"]:
            notes.append(
                f"It took {totals['per_win']:,.1f} activities per win in this scope and period "
                f"({totals['activities']:,} activities, {totals['wins']:,} wins)."
            )
        return ReportResult(
            columns=COLUMNS,
            rows=rows,
            charts=[activity_chart(weeks_of(pick.period), by_week)],
            notes=notes,
            totals=totals,
        )
