"""Forecast: the next 30, 60 and 90 days per rep and for the team, by category and model, against quota,
with the change since last week.

The categories (METRICS.md's forecasts as of today): commit, best case (commit
and best case) and pipeline (every category but omitted) sum the open deals
expected to close in ``[today, today + H)``, in the reporting currency at
today's rates. Per rep they come from one grouped query over the live deals
(by owner) and, for the change, one over the deals as they stood at the start
of the day a week ago (their history rows), whose forecast covered
``[today - 7, today - 7 + H)``. The team row adds up the reps' rows: a deal has
one owner.

The model is not grouped per owner by any query: it learns from each scope's
own history, which is what the nightly snapshots hold. The model is read from
them only: the scope's latest snapshot for the team row, and a rep's own
(``Scope(owner=...)``) when the pick is a team, a rep or the organisation;
computing it live for every rep would take seconds. Its change compares the
latest snapshot with the latest of the week before a week ago. Without a
snapshot the model is left blank and a note says so.

Quota is each rep's quotas prorated into the window (one query for all reps
and horizons); the team's follows ``scope_target`` (a manager's own quota or
the roll-up), as the dashboard's forecast reads it, for the three windows at once.
"""

import datetime
from collections import defaultdict
from decimal import Context, Decimal

import plotly.graph_objects as go
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Case, Count, Q, QuerySet, Sum, When

from pipeline.models import ForecastCategory, StageKind
from pipeline.money import converted
from pipeline.periods import start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from pipeline.selectors import deals_as_of_parts
from quotas.selectors import quota_targets, team_targets
from reports.beside import beside
from reports.catalog.base import Column, Report, ReportResult, register
from reports.catalog.funnel_activity import people_names
from reports.charts import ACTUAL, INK, METHOD_COLOURS, Chart, _chart, _float, _money_axis
from reports.forecasts import HORIZONS, money
from reports.metrics import deal_rows
from reports.models import ForecastSnapshot
from salesmgr.models import Role, User

WEEK = datetime.timedelta(days=7)
CATEGORIES = {"commit": "Commit", "best_case": "Best case", "pipeline": "Pipeline"}
COMMITTED = (ForecastCategory.COMMIT, ForecastCategory.BEST_CASE)
METHODS = {**CATEGORIES, "model": "Model"}


def _columns() -> list[Column]:
    columns = [Column("rep", "Rep")]
    for horizon in HORIZONS:
        for method, label in METHODS.items():
            columns.append(Column(f"{method}_{horizon}", f"{label} {horizon}d", "money"))
            columns.append(
                Column(f"{method}_{horizon}_change", f"{label} {horizon}d, change", "money")
            )
        columns.append(Column(f"quota_{horizon}", f"Quota {horizon}d", "money"))
    return columns


COLUMNS = _columns()


def _sums_by_owner(parts: list[QuerySet], as_of: datetime.date) -> dict[int, dict]:
    """Per owner and horizon, the commit, best-case and pipeline sums and the deals without a rate.

    ``parts`` are querysets of open deals (or deal versions) due in the longest window, no row in two.
    They are grouped in SQL by owner, currency, category and the first window they fall in, each
    group's amount converted once (a currency has one rate on ``as_of``, so the converted sum of a
    group equals the sum of its converted amounts, exactly); the few thousand groups (of every part,
    one query) are then added up per owner into the nested windows, in SQL as well: a row per owner
    reaches Python, where the groups themselves (6,000 for the organisation at 1M, now and a week
    ago) cost 25 ms to read and add up. Summing the nine filtered sums of every deal row instead
    spent 80 of 100 ms on a manager's 66,000 deals at 1M.
    """
    first_window = Case(
        *(
            When(expected_close_date__lt=as_of + datetime.timedelta(days=horizon), then=horizon)
            for horizon in HORIZONS[:-1]
        ),
        default=HORIZONS[-1],
    )
    first, *others = (
        rows.values("owner_id", "currency", "forecast_category", window=first_window)
        .annotate(deals=Count("id"), value=converted(on=as_of, amount=Sum("amount")))
        .order_by()
        for rows in parts
    )
    groups = first.union(*others, all=True) if others else first
    try:
        groups_sql, params = groups.query.sql_with_params()
    except EmptyResultSet:
        return {}
    sums, sum_params = [], []
    counted = '"window" <= %s AND forecast_category <> %s'
    for horizon in HORIZONS:
        sum_params += [horizon, ForecastCategory.OMITTED] * 2
        sums += [
            f"COALESCE(SUM(value) FILTER (WHERE {counted}), 0)",
            f"COALESCE(SUM(deals) FILTER (WHERE {counted} AND value IS NULL), 0)",
        ]
        for categories in (COMMITTED, (ForecastCategory.COMMIT,)):
            places = ", ".join(["%s"] * len(categories))
            sums.append(
                f'COALESCE(SUM(value) FILTER (WHERE "window" <= %s AND forecast_category IN ({places})), 0)'
            )
            sum_params += [horizon, *categories]
    names = [
        name
        for horizon in HORIZONS
        for name in (
            f"pipeline_{horizon}",
            f"unconverted_{horizon}",
            f"best_case_{horizon}",
            f"commit_{horizon}",
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT owner_id, {', '.join(sums)} FROM ({groups_sql}) AS grouped GROUP BY owner_id",
            (*sum_params, *params),
        )
        return {
            owner: dict(zip(names, map(_exact, figures), strict=True))
            for owner, *figures in cursor.fetchall()
        }


# SQLite's sums of money are floats; Django reads a decimal sum off SQLite at 15 significant
# digits (its backend's converter), and so does this report, to give the dashboards' figures.
_SQLITE_DIGITS = Context(prec=15)


def _exact(figure):
    """A sum as PostgreSQL gives it (a whole number or a decimal), or as the ORM reads SQLite's."""
    return _SQLITE_DIGITS.create_decimal_from_float(figure) if isinstance(figure, float) else figure


def _in_windows(as_of: datetime.date) -> Q:
    """The open deals expected to close in the longest window from ``as_of``: all the sums look at."""
    return Q(
        status=StageKind.OPEN,
        expected_close_date__gte=as_of,
        expected_close_date__lt=as_of + datetime.timedelta(days=max(HORIZONS)),
    )


def category_sums(pick: Pick, today: datetime.date) -> tuple[dict[int, dict], dict[int, dict]]:
    """Per owner, each horizon's category sums as of today and as of a week ago (two grouped queries,
    the one beside the other where they may: ``reports.beside``).

    A week ago reads only the history versions then open and due in its windows and in scope, each
    kept when it was its deal's latest by then (the latest version of each is the one that counts):
    a deal whose latest version was not such a version does not count. They are read in two parts,
    the versions still current and those superseded since (``versions_at``), each asked per close
    day: a range per day of the open versions' span index, where the window's range read every
    version ever due in it (a manager's 280,000 entries for 94,000 versions at 1M).
    """
    week_ago = today - WEEK
    moment = start_of(week_ago)
    days = [week_ago + datetime.timedelta(days=n) for n in range(max(HORIZONS))]
    in_scope = pick.scope.deal_filter(territory_at=moment) & Q(expected_close_date__in=days)
    then_parts = deals_as_of_parts(moment, where=_in_windows(week_ago) & in_scope)
    # Each is a long query (72 ms for an admin at 1,000,000 deals): a week ago's is read on a
    # connection of its own, beside today's.
    with beside(_sums_by_owner, then_parts, week_ago) as then:
        now = _sums_by_owner([deal_rows(pick.scope).filter(_in_windows(today))], today)
        return now, then.result()


def model_snapshots(keys: list[str], today: datetime.date) -> dict[str, dict[str, dict[int, dict]]]:
    """Per scope key: the model (and its P10 and P90) by horizon of its latest snapshot up to today
    (``now``) and of its latest up to a week ago (``then``), each within a week (one query)."""
    rows = ForecastSnapshot.objects.filter(
        scope_key__in=keys, as_of__lte=today, as_of__gt=today - 2 * WEEK
    ).values("scope_key", "as_of", "horizon", "model", "model_p10", "model_p90")
    by_day: dict[str, dict[datetime.date, dict[int, dict]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        by_day[row["scope_key"]][row["as_of"]][row["horizon"]] = row
    found: dict[str, dict[str, dict[int, dict]]] = {}
    for key, days in by_day.items():
        complete = sorted(day for day, models in days.items() if len(models) == len(HORIZONS))
        now = [day for day in complete if day > today - WEEK]
        then = [day for day in complete if day <= today - WEEK]
        found[key] = {
            "now": days[now[-1]] if now else {},
            "then": days[then[-1]] if then else {},
        }
    return found


def scope_quotas(scope: Scope, windows: dict[str, tuple]) -> dict[str, Decimal | None]:
    """The scope's target in each window, by the rule of ``reports.targets.scope_target`` (at most two
    queries for every window together): a team's own quota or roll-up, a person's own quotas, else the
    roll-up of the reps' quotas; none for a pipeline or a product."""
    owners = scope.quota_owner_filter()
    if owners is None:
        return dict.fromkeys(windows)
    zero = Decimal("0.00")
    if scope == Scope(team=scope.team) and scope.team is not None:
        mine = team_targets(scope.team, windows).get(scope.team, {})
        return {name: mine[name].amount if name in mine else zero for name in windows}
    if scope.owner is not None:
        mine = quota_targets(owners, windows).get(scope.owner, {})
        return {name: mine.get(name, zero) for name in windows}
    reps = quota_targets(owners & Q(owner__role=Role.REP), windows).values()
    return {name: sum((rep.get(name, zero) for rep in reps), zero) for name in windows}


def _model(snapshots: dict, when: str, horizon: int, key: str = "model") -> Decimal | None:
    snapshot = snapshots.get(when, {}).get(horizon)
    return None if snapshot is None else snapshot[key]


def _change(now, then):
    if now is None or then is None:
        return None
    return money(now) - money(then)


def _row(name: str, now: dict, then: dict, quotas: dict, models: dict) -> dict:
    row: dict = {"rep": name}
    for horizon in HORIZONS:
        for method in CATEGORIES:
            value = money(now.get(f"{method}_{horizon}"))
            row[f"{method}_{horizon}"] = value
            row[f"{method}_{horizon}_change"] = value - money(then.get(f"{method}_{horizon}"))
        model_now = _model(models, "now", horizon)
        row[f"model_{horizon}"] = model_now
        row[f"model_{horizon}_change"] = _change(model_now, _model(models, "then", horizon))
        row[f"quota_{horizon}"] = quotas.get(str(horizon), Decimal("0.00"))
    return row


def team_chart(totals: dict, team: dict) -> Chart:
    """The team's commit, best case, pipeline and model (with its P10-P90 range) per horizon, and the quota."""
    x = [f"{horizon} days" for horizon in HORIZONS]
    traces = [
        go.Bar(
            x=x,
            y=[_float(totals[f"{method}_{horizon}"]) for horizon in HORIZONS],
            name=label,
            marker={"color": METHOD_COLOURS[method]},
            hovertemplate=f"{label}, %{{x}}: %{{y:,.0f}}<extra></extra>",
        )
        for method, label in CATEGORIES.items()
    ]
    values = [_float(totals[f"{m}_{h}"]) for m in CATEGORIES for h in HORIZONS]
    if team.get("now"):
        model = [_float(_model(team, "now", h)) for h in HORIZONS]
        p10 = [_float(_model(team, "now", h, "model_p10")) for h in HORIZONS]
        p90 = [_float(_model(team, "now", h, "model_p90")) for h in HORIZONS]
        traces.append(
            go.Bar(
                x=x,
                y=model,
                name="Model (P10-P90)",
                marker={"color": METHOD_COLOURS["model"]},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [high - mid for high, mid in zip(p90, model, strict=True)],
                    "arrayminus": [mid - low for low, mid in zip(p10, model, strict=True)],
                    "color": INK,
                    "thickness": 1.5,
                    "width": 6,
                },
                hovertemplate="Model, %{x}: %{y:,.0f}<extra></extra>",
            )
        )
        values += p90
    quotas = [_float(totals[f"quota_{h}"]) for h in HORIZONS]
    if any(quota is not None for quota in quotas):
        traces.append(
            go.Scatter(
                x=x,
                y=quotas,
                mode="markers",
                name="Quota",
                marker={"symbol": "line-ew", "size": 64, "line": {"width": 3, "color": ACTUAL}},
                hovertemplate="Quota, %{x}: %{y:,.0f}<extra></extra>",
            )
        )
        values += quotas
    summary = "Team forecast: " + "; ".join(
        f"next {h} days commit {totals[f'commit_{h}']:,.0f}, best case {totals[f'best_case_{h}']:,.0f}, "
        f"pipeline {totals[f'pipeline_{h}']:,.0f}"
        + ("" if totals[f"quota_{h}"] is None else f", quota {totals[f'quota_{h}']:,.0f}")
        for h in HORIZONS
    )
    layout = {"barmode": "group", "bargap": 0.25, "yaxis": _money_axis(values)}
    return _chart(
        "forecast-report-chart", "Team forecast against quota", summary + ".", traces, layout, 360
    )


def _unconverted(*groups: dict[int, dict]) -> int:
    return max(
        (
            sum(row[f"unconverted_{horizon}"] for row in group.values())
            for group in groups
            for horizon in HORIZONS
        ),
        default=0,
    )


@register
class Forecast(Report):
    slug = "forecast"
    title = "Forecast"
    summary = (
        "The next 30, 60 and 90 days per rep and for the team, by category (commit, best case, "
        "pipeline) and model, against quota, with the change since last week."
    )

    def build(self, user: User, pick: Pick, today: datetime.date, **options) -> ReportResult:
        now, then = category_sums(pick, today)
        people = pick.scope.people_filter()
        ids = set(now) | set(then)
        if people is not None:
            ids |= set(User.objects.filter(people, is_active=True).values_list("pk", flat=True))
        names = people_names(ids)
        windows = {str(h): (today, today + datetime.timedelta(days=h - 1)) for h in HORIZONS}
        quotas = quota_targets(Q(owner_id__in=list(ids)), windows) if ids else {}
        # A rep's own snapshot is the rep's whole book: it answers only a pick of people.
        per_rep_model = all(
            getattr(pick.scope, name) is None for name in ("territory", "pipeline", "product")
        )
        rep_keys = {pk: Scope(owner=pk).key for pk in ids} if per_rep_model else {}
        snapshots = model_snapshots([pick.scope.key, *rep_keys.values()], today)
        rows = [
            _row(
                names.get(pk, str(pk)),
                now.get(pk, {}),
                then.get(pk, {}),
                quotas.get(pk, {}),
                snapshots.get(rep_keys.get(pk), {}),
            )
            for pk in ids
        ]
        rows.sort(key=lambda row: row["rep"].lower())
        team = snapshots.get(pick.scope.key, {})
        totals = self._totals(rows, team, scope_quotas(pick.scope, windows))
        notes = self._notes(rows, per_rep_model, team, _unconverted(now, then))
        return ReportResult(
            columns=COLUMNS,
            rows=rows,
            charts=[team_chart(totals, team)],
            notes=notes,
            totals=totals,
        )

    @staticmethod
    def _totals(rows: list[dict], team: dict, quotas: dict) -> dict:
        totals: dict = {"rep": "Team"}
        for horizon in HORIZONS:
            for method in CATEGORIES:
                for key in (f"{method}_{horizon}", f"{method}_{horizon}_change"):
                    totals[key] = sum((row[key] for row in rows), Decimal("0.00"))
            totals[f"model_{horizon}"] = _model(team, "now", horizon)
            totals[f"model_{horizon}_change"] = _change(
                totals[f"model_{horizon}"], _model(team, "then", horizon)
            )
            totals[f"quota_{horizon}"] = quotas[str(horizon)]
        return totals

    @staticmethod
    def _notes(
        rows: list[dict], per_rep_model: bool, team: list[dict], unconverted: int
    ) -> list[str]:
        notes = [
            "Change: today's forecast against the one made a week ago (for the window starting then)."
        ]
        if not per_rep_model:
            notes.append(
                "The model is shown for the whole scope only: a rep's model forecast learns from the "
                "rep's whole book, which a territory or pipeline pick does not cover."
            )
        elif any(row[f"model_{HORIZONS[0]}"] is None for row in rows):
            notes.append(
                "The model is shown per rep where the nightly forecast snapshot of the rep exists "
                "(computing it for each rep on the page would take seconds)."
            )
        if not team.get("now"):
            notes.append(
                "The model forecast appears once this scope's forecast snapshot is computed "
                "(nightly, or when the dashboard is opened)."
            )
        else:
            as_of = next(iter(team["now"].values()))["as_of"]
            notes.append(f"The model is that of the forecast snapshot as of {as_of:%-d %b %Y}.")
        if unconverted:
            notes.append(
                "Some deals have no exchange rate to the reporting currency and are left out."
            )
        return notes
