"""Rep scorecards: each rep's attainment, win rate, cycle, deal size, activity, pipeline coverage and
forecast accuracy over the period, each with its trend and the team median.

The trend of a figure is its change against the same figure over the period
of equal length just before (``Period.previous``). The team median is the
median of the reps' figures (those that have one), this period and the
previous one. When the scope is one person (a rep's own scorecard, or a
manager picking one rep) the table shows that person only, and the median is
over their team: the active reps below their manager, them included. No other
rep's row or name is shown, only the median figure.

Rows are the active reps of the scope (a team, a territory's reps, the
organisation); a pipeline or product scope keeps the reps in the viewer's
reach and counts only their deals in it. Each family of figures is one
grouped query over every rep at once (``people_figures``): the people, the
deals (won, lost, cycle, value, pipeline), the pipeline of the previous period
from the deals' history, the quotas, the activities and the forecast accuracy.
"""

import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django.utils import timezone

from pipeline.models import Activity, Deal, StageKind
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from quotas.selectors import quota_targets
from reports import rollups
from reports.beside import beside
from reports.catalog.base import Column, Report, ReportResult, register
from reports.catalog.compare_chart import chosen_metric, comparison_chart
from reports.catalog.people_figures import (
    accuracy_by_scope,
    change,
    closed_sums,
    coverage_day,
    coverage_window,
    history_pipeline,
    median,
    money,
    other_conditions,
    pipeline_in_window,
    ratio,
    rolled_closed_sums,
    rolled_won_since,
    won_since,
)
from reports.metrics import sums_by_owner
from salesmgr.models import Role, User

ZERO = Decimal("0.00")

# The figures, in the table's order: key, label, column kind.
METRICS = {
    "attainment": ("Attainment", "percent"),
    "win_rate": ("Win rate", "percent"),
    "cycle": ("Sales cycle (days)", "days"),
    "deal_size": ("Average won deal", "money"),
    "activities": ("Activities", "int"),
    "coverage": ("Pipeline coverage", "number"),
    "accuracy": ("Forecast accuracy", "percent"),
}
QUOTA_METRICS = ("attainment", "coverage")

# The active reps below a person's manager, at any depth (the person's team).
_PEERS_SQL = """
    WITH RECURSIVE below(id) AS (
        SELECT id FROM salesmgr_user
        WHERE manager_id = (SELECT manager_id FROM salesmgr_user WHERE id = %s)
        UNION
        SELECT u.id FROM salesmgr_user u JOIN below b ON u.manager_id = b.id
    )
    SELECT id FROM below
"""


def _name(row: dict) -> str:
    first_last = f"{row['first_name']} {row['last_name']}".strip()
    return row["full_name"] or first_last or row["username"]


def scorecard_people(scope: Scope) -> tuple[list[dict], set[int] | None]:
    """The reps whose figures count (id and name, by name) and the ids shown (None: all); one query."""
    if scope.owner is not None:
        peers = Q(role=Role.REP, is_active=True, pk__in=RawSQL(_PEERS_SQL, (scope.owner,)))
        people, shown = User.objects.filter(Q(pk=scope.owner) | peers), {scope.owner}
    else:
        condition = Scope(team=scope.team, territory=scope.territory).people_filter()
        people, shown = User.objects.filter(condition, role=Role.REP, is_active=True), None
    rows = people.values("pk", "username", "full_name", "first_name", "last_name")
    named = [{"id": row["pk"], "name": _name(row)} for row in rows]
    return sorted(named, key=lambda person: (person["name"].lower(), person["id"])), shown


def _deal_sums(
    ids: list[int], conditions: Scope, period: Period, day: datetime.date, live: bool, rolled: bool
) -> dict:
    """Per rep: the closed sums of the period and the one before, and while live the pipeline of the
    coverage window and the value won since ``day``. Two queries, the open deals and those closed in
    the two periods (or since ``day``) apart, each read from its own covering index; with ``rolled``
    (the rollups are ready, and the scope has no condition on deals but their owner) the closed ones
    from the closed rollup's rows of those days: a manager's half year of 225,000 closed deals is
    about 33,000 rows there (110 -> 10 ms at 1,000,000 deals)."""
    previous = period.previous
    first, _ = previous.bounds
    _, end = period.bounds
    closed = Q(closed_at__gte=first, closed_at__lt=end)
    closed_aggregates = {**closed_sums(period, "_now"), **closed_sums(previous, "_before")}
    parts = []
    if live:
        since = start_of(day)
        # The one lower bound keeps a single range of the index, the rest is checked in it.
        closed = Q(closed_at__gte=min(first, since)) & (closed | Q(closed_at__gte=since))
        closed_aggregates["won_already"] = won_since(since)
        parts.append((Q(status=StageKind.OPEN), {"pipeline": pipeline_in_window(day, period.days)}))
    if rolled:
        days = Q(day__lt=period.end) | Q(day__gte=day) if live else Q(day__lt=period.end)
        closed = rollups.closed_days(min(previous.start, day)).filter(days, owner_id__in=ids)
        closed_aggregates = {
            **rolled_closed_sums(period, "_now"),
            **rolled_closed_sums(previous, "_before"),
        }
        if live:
            closed_aggregates["won_already"] = rolled_won_since(day)
    parts.append((closed, closed_aggregates))
    deals = Deal.objects.filter(conditions.deal_filter(), deleted_at__isnull=True, owner_id__in=ids)
    return sums_by_owner(deals, parts)


def _activities(ids: list[int], period: Period, rolled: bool) -> dict[int, dict]:
    """Each person's activities up to now in the period (``now``) and the one before (``before``).

    With ``rolled`` (PostgreSQL, its rollups ready) the whole days come from the daily rollup and
    today's so far from the activities.
    """
    previous = period.previous
    first, _ = previous.bounds
    start, end = period.bounds
    today = timezone.localdate()
    if not rolled:
        return _activities_between(ids, first, start, min(end, timezone.now()))
    counted = {
        row["author_id"]: {"now": row["now"] or 0, "before": row["before"] or 0}
        for row in rollups.activity_days(previous.start, min(period.end, today))
        .filter(author_id__in=ids)
        .values("author_id")
        .annotate(
            now=Sum("count", filter=Q(day__gte=period.start)),
            before=Sum("count", filter=Q(day__lt=period.start)),
        )
        .order_by()
    }
    if previous.start <= today < period.end:
        so_far = _activities_between(ids, max(first, start_of(today)), start, timezone.now())
        for pk, row in so_far.items():
            own = counted.setdefault(pk, {"now": 0, "before": 0})
            own["now"] += row["now"]
            own["before"] += row["before"]
    return counted


def _activities_between(
    ids: list[int], first: datetime.datetime, start: datetime.datetime, end: datetime.datetime
) -> dict[int, dict]:
    """Each person's activities in ``[start, end)`` (``now``) and in ``[first, start)`` (``before``)."""
    rows = (
        Activity.objects.filter(author_id__in=ids, occurred_at__gte=first, occurred_at__lt=end)
        .values("author_id")
        .annotate(
            now=Count("occurred_at", filter=Q(occurred_at__gte=start)),
            before=Count("occurred_at", filter=Q(occurred_at__lt=start)),
        )
        .order_by()
    )
    return {row["author_id"]: row for row in rows}


def _closed_figures(sums: dict | None, suffix: str) -> dict:
    if sums is None:
        return {"won_value": ZERO, "win_rate": None, "cycle": None, "deal_size": None}
    won, lost = sums[f"won{suffix}"], sums[f"lost{suffix}"]
    value = money(sums[f"won_value{suffix}"] or ZERO)
    converted_won = won - sums[f"won_unconverted{suffix}"]
    cycle = sums[f"cycle_days{suffix}"]
    return {
        "won_value": value,
        "win_rate": ratio(won, won + lost),
        "cycle": cycle / won if won and cycle is not None else None,
        "deal_size": money(value / converted_won) if converted_won else None,
    }


def _coverage(pipeline, target, won_already) -> float | None:
    """Pipeline over the remaining quota; None without a quota, or with nothing of it left to win."""
    if target is None:
        return None
    remaining = target - (won_already or ZERO)
    if remaining <= 0:
        return None
    return ratio(pipeline or ZERO, remaining)


def scorecards(scope: Scope, period: Period, today: datetime.date) -> dict:
    """Every rep's figures this period and the previous one, and the team medians (seven queries:
    the live deal sums in two for the current period; for one that ended before today a single one,
    and its pipeline read from history)."""
    people, shown = scorecard_people(scope)
    ids = [person["id"] for person in people]
    if not ids:
        return {"people": [], "shown": [], "medians": {}, "unconverted": 0, "quotas_apply": True}
    conditions = other_conditions(scope)
    quotas_apply = scope.pipeline is None and scope.product is None
    previous, days = period.previous, period.days
    day = coverage_day(period, today)
    live = day >= today
    before_day = day - datetime.timedelta(days=days)

    # One look at whether the rollups may answer, for the deals and the activities both.
    rolled = rollups.ready()
    # The previous period's pipeline, read from the deals' history, is the longest query (52 ms of
    # 130 for an admin at 1,000,000 deals): on a connection of its own, beside the others.
    with beside(history_pipeline, conditions, ids, before_day, days) as before:
        deals = _deal_sums(ids, conditions, period, day, live, rolled and conditions == Scope())
        pipeline_now = (
            {pk: row["pipeline"] for pk, row in deals.items()}
            if live
            else history_pipeline(conditions, ids, day, days)
        )
        targets = quota_targets(
            Q(owner_id__in=ids),
            {
                "now": (period.start, period.last_day),
                "before": (previous.start, previous.last_day),
                "cover_now": coverage_window(day, days),
                "cover_before": coverage_window(before_day, days),
            },
        )
        activities = _activities(ids, period, rolled)
        accuracy = accuracy_by_scope(
            [Scope(owner=pk).key for pk in ids], {"now": period, "before": previous}
        )
        pipeline_before = before.result()

    for person in people:
        pk = person["id"]
        own = targets.get(pk, {})
        counts = activities.get(pk, {})
        sums = deals.get(pk)
        for when, suffix in (("now", "_now"), ("before", "_before")):
            figures = _closed_figures(sums, suffix)
            target = own.get(when)
            figures["attainment"] = (
                ratio(figures["won_value"], target) if target is not None else None
            )
            figures["activities"] = counts.get(when, 0)
            figures["accuracy"] = accuracy.get(Scope(owner=pk).key, {}).get(when)
            person[when] = figures
        person["now"]["coverage"] = _coverage(
            pipeline_now.get(pk),
            own.get("cover_now"),
            (sums or {}).get("won_already") if live else None,
        )
        person["before"]["coverage"] = _coverage(
            pipeline_before.get(pk), own.get("cover_before"), None
        )
        if not quotas_apply:
            for when in ("now", "before"):
                for metric in QUOTA_METRICS:
                    person[when][metric] = None
    medians = {
        metric: {
            when: median(person[when][metric] for person in people) for when in ("now", "before")
        }
        for metric in METRICS
    }
    return {
        "people": people,
        "shown": [person for person in people if shown is None or person["id"] in shown],
        "medians": medians,
        "unconverted": sum((row["won_unconverted_now"] or 0) for row in deals.values()),
        "quotas_apply": quotas_apply,
    }


def _row(label: str, now: dict, before: dict) -> dict:
    row = {"rep": label}
    for metric in METRICS:
        row[metric] = now.get(metric)
        row[f"{metric}_change"] = change(now.get(metric), before.get(metric))
    return row


COLUMNS = [Column("rep", "Rep")]
for _metric, (_label, _kind) in METRICS.items():
    COLUMNS += [
        Column(_metric, _label, _kind),
        Column(f"{_metric}_change", f"{_label} trend", _kind, change=True),
    ]


@register
class RepScorecards(Report):
    slug = "rep-scorecards"
    title = "Rep scorecards"
    summary = (
        "Each rep's attainment, win rate, sales cycle, deal size, activity, pipeline coverage and "
        "forecast accuracy, with the trend against the previous period and the team median."
    )
    template = "reports/catalog/_metric_choice.html"

    def build(self, user: User, pick: Pick, today: datetime.date) -> ReportResult:
        return self.build_for_page(user, pick, today, QueryDict())

    def build_for_page(
        self, user: User, pick: Pick, today: datetime.date, params: QueryDict
    ) -> ReportResult:
        metric = chosen_metric(params, METRICS, "attainment")
        figures = scorecards(pick.scope, pick.period, today)
        rows = [
            _row(person["name"], person["now"], person["before"]) for person in figures["shown"]
        ]
        medians = figures["medians"]
        totals = None
        if figures["people"]:
            totals = _row(
                "Team median",
                {metric: values["now"] for metric, values in medians.items()},
                {metric: values["before"] for metric, values in medians.items()},
            )
        label, kind = METRICS[metric]
        shown = figures["shown"]
        chart = comparison_chart(
            "chart-rep-scorecards",
            title=f"{label} by rep",
            kind=kind,
            labels=[person["name"] for person in shown],
            values=[person["now"][metric] for person in shown],
            previous=[person["before"][metric] for person in shown],
            median=medians.get(metric, {}).get("now"),
        )
        return ReportResult(
            columns=COLUMNS,
            rows=rows,
            charts=[chart],
            notes=self._notes(pick, figures, len(rows)),
            totals=totals,
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

    def _notes(self, pick: Pick, figures: dict, shown: int) -> list[str]:
        previous = pick.period.previous
        notes = [
            f"Trend: the change against the previous {pick.period.days} days, "
            f"{previous.start:%-d %b %Y} – {previous.last_day:%-d %b %Y}."
        ]
        if pick.scope.owner is not None and figures["people"]:
            others = len(figures["people"]) - 1
            notes.append(
                f"The team median is over this rep's team ({others} other active "
                f"rep{'s' if others != 1 else ''} below the same manager); their own figures are not shown."
            )
        if not figures["quotas_apply"]:
            notes.append(
                "Quotas do not split by pipeline or product: no attainment or coverage here."
            )
        if figures["unconverted"]:
            notes.append(
                f"{figures['unconverted']} won deal(s) have no exchange rate to the reporting currency "
                "and are left out of won value and deal size."
            )
        return notes
