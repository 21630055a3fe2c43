"""Team health, for senior management: per team, attainment, pipeline coverage, forecast accuracy,
the share of stalled deals and the new pipeline created.

A team is a manager and everyone below them at any depth; teams nest, so a
deal of a sub-manager's rep counts in their team and in every team above.
The rows are every manager's team for an admin (or, for an admin who picks a
team, that team and the teams below it), and for a manager their own team and
the teams of the managers below them: never a sibling's. A territory,
pipeline or product in the pick narrows the deals counted; a pick of one
person shows the viewer's teams.

Deal figures are one query grouped by team in SQL: a recursive walk of the
reporting line pairs each team with its members and the deals join it.

- attainment: value won (close-date rates) with ``closed_at`` in the period
  over the team's target (the manager's own quota or the roll-up of their
  reports', as quotas set it) prorated to the period;
- pipeline coverage: as ``people_figures`` defines it, over the team target;
- forecast accuracy: ``people_figures``'s, of the team's scope's snapshots;
- stalled share: open deals stalled past their stage's ``rot_days`` today (the
  dashboard's stalled deals) over all open deals of the team;
- new pipeline: the value of the deals created in the period, at the rate of
  each one's creation date, and how many there were.
"""

import datetime
from decimal import Decimal

from django.db import connections
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.http import QueryDict

from pipeline.models import Deal, ForecastCategory, StageKind
from pipeline.money import CONVERTED, at_close, at_day, converted
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from quotas.selectors import quota_targets, rolled_up_targets
from reports import rollups
from reports.catalog.base import Column, Report, ReportResult, register
from reports.catalog.compare_chart import chosen_metric, comparison_chart
from reports.catalog.people_figures import (
    accuracy_by_scope,
    coverage_day,
    coverage_window,
    money,
    open_then,
    other_conditions,
    ratio,
)
from reports.metrics import created_day
from reports.runners.attention import rotting_stages, stalled_condition
from salesmgr.models import Role, User
from salesmgr.selectors import self_and_team_ids_subquery

ZERO = Decimal("0.00")

METRICS = {
    "attainment": ("Attainment", "percent"),
    "coverage": ("Pipeline coverage", "number"),
    "accuracy": ("Forecast accuracy", "percent"),
    "stalled_share": ("Stalled share", "percent"),
    "new_pipeline": ("New pipeline", "money"),
}

COLUMNS = [
    Column("team", "Team"),
    Column("won", "Won", "money"),
    Column("target", "Target", "money"),
    Column("attainment", "Attainment", "percent"),
    Column("pipeline", "Pipeline next period", "money"),
    Column("coverage", "Pipeline coverage", "number"),
    Column("accuracy", "Forecast accuracy", "percent"),
    Column("open_deals", "Open deals", "int"),
    Column("stalled", "Stalled deals", "int"),
    Column("stalled_share", "Stalled share", "percent"),
    Column("new_deals", "New deals", "int"),
    Column("new_pipeline", "New pipeline", "money"),
]

# Every team (a manager and everyone below them) with its members, walked by the database.
_LINE_SQL = """
    WITH RECURSIVE line(team_id, member_id) AS (
        SELECT id, id FROM salesmgr_user WHERE id IN ({teams})
        UNION
        SELECT line.team_id, u.id FROM salesmgr_user u JOIN line ON u.manager_id = line.member_id
    )
"""


def by_team(team_ids: list[int], deals: QuerySet, sums: dict[str, str]) -> dict[int, dict]:
    """``sums`` (name: a SUM or COUNT over the columns of ``deals``) per team, grouped in SQL: each
    deal row (with an ``owner_id``) counts in every team its owner belongs to; one query.

    The deals are summed per owner first and the owners' partial sums then per team: each deal is
    aggregated once however deep the reporting line, and only a few hundred owner rows meet the
    line (joining the deals to it first made a row per deal and team, twice the deals for a two-level
    line, and a hash join that spilled to disk at 1M deals). Partial sums and counts add up, so the
    figures are the same.
    """
    inner, params = deals.query.sql_with_params()
    names = list(sums)
    per_owner = ", ".join(f"{sums[name]} AS {name}" for name in names)
    per_team = ", ".join(f"SUM(owners.{name}) AS {name}" for name in names)
    sql = (
        _LINE_SQL.format(teams=", ".join(["%s"] * len(team_ids)))
        + f", owners AS (SELECT deal_rows.owner_id, {per_owner} FROM ({inner}) deal_rows "
        "GROUP BY deal_rows.owner_id) "
        f"SELECT line.team_id, {per_team} FROM owners "
        "JOIN line ON owners.owner_id = line.member_id GROUP BY line.team_id"
    )
    # On the database the ORM would read deals from (the replica for a routed report).
    with connections[deals.db].cursor() as cursor:
        cursor.execute(sql, (*team_ids, *params))
        return {row[0]: dict(zip(names, row[1:], strict=True)) for row in cursor.fetchall()}


def _when(condition: Q, then, output_field=CONVERTED) -> Case:
    return Case(When(condition, then=then), default=None, output_field=output_field)


def _flag(condition: Q) -> Case:
    return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())


def _in_window(day: datetime.date, days: int) -> Q:
    return Q(
        status=StageKind.OPEN,
        expected_close_date__gte=day,
        expected_close_date__lt=day + datetime.timedelta(days=days),
    ) & ~Q(forecast_category=ForecastCategory.OMITTED)


def _live_sums(
    team_ids, conditions: Scope, period: Period, today: datetime.date, day, live, rolled=False
) -> dict:
    """Per team: the open deals (how many, how many stalled, the coverage window's pipeline while
    live), the value won in the period (and since ``day`` while live) and the deals created in it;
    the won and created ones from the rollups when ``rolled`` (``_rolled_parts``).

    Three queries, one per kind of deal, each read from one covering index and named only by the
    columns in it (the won ones from ``deal_won_closed_idx``, whose condition is the status; the
    created ones from ``deal_live_created_idx``): one query over "open, won or created in the period"
    read every table page of the deals instead (at 1,000,000 deals 23,000 pages for 258,000 deals).
    """
    start, end = period.bounds
    deals = Deal.objects.filter(deleted_at__isnull=True).filter(conditions.deal_filter())
    in_period = Q(closed_at__gte=start, closed_at__lt=end)
    opened = {"stalled_flag": _flag(stalled_condition(rotting_stages(), today))}
    open_sums = {"open_deals": "COUNT(*)", "stalled": "SUM(stalled_flag)"}
    won = {"won_value": _when(in_period, at_close()), "won_flag": _flag(in_period)}
    won_sums = {
        "won": "SUM(won_value)",
        "won_deals": "SUM(won_flag)",
        "won_converted": "COUNT(won_value)",
    }
    won_rows = in_period
    if live:
        opened["window_value"] = _when(_in_window(day, period.days), converted(on=day))
        open_sums["pipeline"] = "SUM(window_value)"
        since = Q(closed_at__gte=start_of(day))
        won["won_already"] = _when(since, at_close())
        won_sums["won_already"] = "SUM(won_already)"
        # One lower bound keeps a single range of the index; the rest is checked in it.
        won_rows = Q(closed_at__gte=min(start, start_of(day))) & (in_period | since)
    created = {"created_value": converted(on=created_day())}
    created_sums = {
        "new_deals": "COUNT(*)",
        "new_pipeline": "SUM(created_value)",
        "new_converted": "COUNT(created_value)",
    }
    parts = [
        deals.filter(rows).values("owner_id", **columns).order_by()
        for rows, columns in (
            (Q(status=StageKind.OPEN), opened),
            (Q(status=StageKind.WON) & won_rows, won),
            (Q(created_at__gte=start, created_at__lt=end), created),
        )
    ]
    aggregates = [open_sums, won_sums, created_sums]
    if rolled:
        parts[1:], aggregates[1:] = _rolled_parts(period, day, live)
    sums: dict[int, dict] = {}
    for part, part_sums in zip(parts, aggregates, strict=True):
        for team_id, row in by_team(team_ids, part, part_sums).items():
            sums.setdefault(team_id, {}).update(row)
    return sums


def _rolled_parts(period: Period, day: datetime.date, live: bool) -> tuple[list, list]:
    """``_live_sums``'s won and created deals from the closed and created rollups (a row per owner,
    day and currency, its amount converted at its day's rate), with the same sums: a row counts its
    ``deals``. At 1,000,000 deals an admin's 90 days read 12,371 and 12,799 rows for 61,772 won and
    206,852 created deals."""
    in_period = Q(day__gte=period.start, day__lt=period.end)
    won = {
        "won_value": _when(in_period, at_day()),
        "won_flag": _when(in_period, F("deals"), IntegerField()),
    }
    won_sums = {
        "won": "SUM(won_value)",
        "won_deals": "SUM(won_flag)",
        "won_converted": _counted("won_value"),
    }
    if live:
        won["won_already"] = _when(Q(day__gte=day), at_day())
        won_sums["won_already"] = "SUM(won_already)"
        closed = rollups.closed_days(min(period.start, day)).filter(in_period | Q(day__gte=day))
    else:
        closed = rollups.closed_days(period.start, period.end)
    won_rows = closed.filter(status=StageKind.WON).values("owner_id", "deals", **won)
    created = rollups.created_days(period.start, period.end).values(
        "owner_id", "deals", created_value=at_day()
    )
    created_sums = {
        "new_deals": "SUM(deals)",
        "new_pipeline": "SUM(created_value)",
        "new_converted": _counted("created_value"),
    }
    return [won_rows.order_by(), created.order_by()], [won_sums, created_sums]


def _counted(value: str) -> str:
    """How many deals of a rollup's rows have ``value`` (NULL where the row's currency had no rate)."""
    return f"SUM(CASE WHEN {value} IS NULL THEN 0 ELSE deals END)"


def _history_pipeline(
    team_ids, conditions: Scope, day: datetime.date, days: int
) -> dict[int, dict]:
    moment = start_of(day)
    # Only the versions in the window are read: a team without any has no pipeline either way (the
    # live sums leave it NULL for a past day). The two parts of the versions then, one after the
    # other (no version is in both).
    first, second = (
        part.filter(conditions.deal_filter(territory_at=moment))
        .values("owner_id", window_value=_when(_in_window(day, days), converted(on=day)))
        .order_by()
        for part in open_then(moment, day, days)
    )
    return by_team(team_ids, first.union(second, all=True), {"pipeline": "SUM(window_value)"})


def _root(user: User, scope: Scope) -> int | None:
    """The manager whose team and sub-teams the rows are; None for every team (an admin's organisation)."""
    if scope.team is not None:
        return scope.team
    return None if user.is_admin else user.pk


def team_health(user: User, scope: Scope, period: Period, today: datetime.date) -> dict:
    """One row of figures per team in reach (seven queries, and one on PostgreSQL to see whether the
    rollups answer; one more for a period that ended before today)."""
    root = _root(user, scope)
    people = (
        User.objects.all()
        if root is None
        else User.objects.filter(pk__in=self_and_team_ids_subquery(root))
    )
    people = list(
        people.values_list(
            "pk",
            "manager_id",
            "role",
            "target_setting__basis",
            "username",
            "full_name",
            "first_name",
            "last_name",
        )
    )
    teams = sorted(
        (
            {"id": pk, "name": full or f"{first} {last}".strip() or username}
            for pk, _, role, _, username, full, first, last in people
            if role == Role.MANAGER
        ),
        key=lambda team: (team["name"].lower(), team["id"]),
    )
    if not teams:
        return {"teams": [], "unconverted": 0}
    team_ids = [team["id"] for team in teams]
    conditions = other_conditions(scope)
    day = coverage_day(period, today)
    live = day >= today
    windows = {"now": (period.start, period.last_day), "cover": coverage_window(day, period.days)}
    own = quota_targets(Q(owner_id__in=[person[0] for person in people]), windows)
    targets = rolled_up_targets([person[:4] for person in people], own, windows)
    rolled = conditions == Scope() and rollups.ready()
    sums = _live_sums(team_ids, conditions, period, today, day, live, rolled)
    if not live:
        for team_id, row in _history_pipeline(team_ids, conditions, day, period.days).items():
            sums.setdefault(team_id, {})["pipeline"] = row["pipeline"]
    accuracy = accuracy_by_scope([Scope(team=pk).key for pk in team_ids], {"now": period})
    quotas_apply = scope.pipeline is None and scope.product is None
    unconverted, rows = 0, []
    for team in teams:
        row = sums.get(team["id"], {})
        target = targets[team["id"]]["now"].amount if quotas_apply else None
        cover = targets[team["id"]]["cover"].amount if quotas_apply else None
        won = money(row.get("won") or ZERO)
        pipeline = money(row.get("pipeline") or ZERO)
        remaining = None if cover is None else cover - (row.get("won_already") or ZERO)
        open_deals = row.get("open_deals") or 0
        rows.append(
            {
                **team,
                "team": f"Team of {team['name']}",
                "won": won,
                "target": money(target) if target else None,
                "attainment": ratio(won, target),
                "pipeline": pipeline,
                "coverage": ratio(pipeline, remaining) if remaining and remaining > 0 else None,
                "accuracy": accuracy.get(Scope(team=team["id"]).key, {}).get("now"),
                "open_deals": open_deals,
                "stalled": row.get("stalled") or 0,
                "stalled_share": ratio(row.get("stalled") or 0, open_deals),
                "new_deals": row.get("new_deals") or 0,
                "new_pipeline": money(row.get("new_pipeline") or ZERO),
            }
        )
        unconverted = max(
            unconverted,
            (row.get("won_deals") or 0)
            - (row.get("won_converted") or 0)
            + (row.get("new_deals") or 0)
            - (row.get("new_converted") or 0),
        )
    return {"teams": rows, "unconverted": unconverted, "quotas_apply": quotas_apply}


@register
class TeamHealth(Report):
    slug = "team-health"
    title = "Team health"
    summary = (
        "Per team: attainment, pipeline coverage, forecast accuracy, the share of stalled deals "
        "and the new pipeline created."
    )
    roles = ("admin", "manager")
    template = "reports/catalog/_metric_choice.html"

    def build(self, user: User, pick: Pick, today: datetime.date) -> ReportResult:
        return self.build_for_page(user, pick, today, QueryDict())

    def build_for_page(
        self, user: User, pick: Pick, today: datetime.date, params: QueryDict
    ) -> ReportResult:
        metric = chosen_metric(params, METRICS, "attainment")
        figures = team_health(user, pick.scope, pick.period, today)
        teams = figures["teams"]
        label, kind = METRICS[metric]
        chart = comparison_chart(
            "chart-team-health",
            title=f"{label} by team",
            kind=kind,
            labels=[team["team"] for team in teams],
            values=[team[metric] for team in teams],
        )
        notes = [
            "A team is a manager and everyone below them; a sub-team's deals count in every team above it. "
            "Stalled deals are those past their stage's day limit today."
        ]
        if pick.scope.owner is not None:
            notes.append("Team health compares teams: a pick of one person shows your teams.")
        if not figures.get("quotas_apply", True):
            notes.append(
                "Quotas do not split by pipeline or product: no attainment or coverage here."
            )
        if figures["unconverted"]:
            notes.append(
                "Some deals have no exchange rate to the reporting currency and are left out of the sums."
            )
        return ReportResult(
            columns=COLUMNS,
            rows=[{column.key: team.get(column.key) for column in COLUMNS} for team in teams],
            charts=[chart],
            notes=notes,
            extra={
                "metric_choice": {
                    "chosen": metric,
                    "choices": [(key, name) for key, (name, _) in METRICS.items()],
                    "hidden": [
                        (name, value)
                        for name, values in params.lists()
                        if name != "metric"
                        for value in values
                    ],
                }
            },
        )
