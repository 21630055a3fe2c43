"""Insights: one rep against their team, metric by metric, and the stage to coach next.

The team of a rep is every active rep below the rep's manager, at any depth
(every active rep when the rep has no manager), the rep included. Each figure
is computed per rep in SQL, grouped by owner, with the definitions of
``reports.metrics`` (METRICS.md): conversion and time per open stage, sales
cycle, average won deal, close ratio (the win rate). Two more, which
METRICS.md does not name, are defined here:

- activity volume and mix: the activities a rep authored with ``occurred_at``
  in the period, in all and per kind (the mix is each kind's share);
- pipeline coverage: the forecast ``pipeline`` of the next 90 days (open deals
  expected to close in ``[today, today + 90)``, omitted excluded) over the
  rep's quota prorated to those 90 days; null without a quota there.

The team side of a figure is the median and the quartiles (Q1, Q3: the
interquartile range) of the per-rep figures, over the reps that have one (a
ratio with no denominator has none). Those order statistics are taken over a
handful of rows the database already aggregated, one per rep, never over deals.

The weakest stage is the open stage where the rep's conversion falls furthest
below the rest of the team's (the team without the rep, its deals pooled),
judged by a one-sided two-proportion z-test. A stage is tested only with at
least ``MIN_ENTERED`` deals entering it on each side and at least
``MIN_EXPECTED`` expected advances and non-advances on each side under the
pooled rate: below that the normal approximation behind the test is poor and
a gap is as likely noise as a habit. The significance level is ``ALPHA``
divided by the number of stages tested (Bonferroni), since testing every stage
gives chance several tries. Of the stages below that level the one with the
lowest z is flagged; none when no stage qualifies.

Conversion and time in stage, the costly part, come from the reps' funnel
snapshots over the standard period (the last 90 days) when every rep of the
team has one that no deal change has made stale; otherwise they are computed
live. A fixed number of queries whatever the team's size: six from the
snapshots, eight when they are missing or stale, seven over another period.
"""

import datetime
import math
import statistics
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from pipeline.models import Activity, ActivityKind, Deal, StageKind, StageTransition
from pipeline.money import reporting_currency
from pipeline.periods import Period
from pipeline.scopes import Scope
from quotas.selectors import quota_targets
from reports import rollups
from reports.catalog.people_figures import rolled_closed_sums
from reports.forecasts import window_sums
from reports.metrics import (
    OPEN_DEAL_SUMS,
    deal_sums,
    figures_from_sums,
    flow_counts,
    open_stages,
    sums_by_owner,
)
from reports.selectors import metric_snapshots_fresh
from reports.sql import DaysBetween
from salesmgr.models import Role, User
from salesmgr.selectors import team_member_ids_subquery, team_of

COVERAGE_DAYS = 90
MIN_ENTERED = 10
MIN_EXPECTED = 5
ALPHA = 0.05

# The scalar figures, in the order the page lists them: name, label, kind, higher is better.
SCALARS = (
    ("close_ratio", "Win rate", "ratio", True),
    ("avg_won_deal_size", "Average won deal", "money", True),
    ("avg_sales_cycle_days", "Sales cycle", "days", False),
    ("pipeline_coverage", "Pipeline coverage (next 90 days)", "times", True),
    ("activities", "Activities", "count", True),
)
ACTIVITY_KINDS = [kind for kind, _ in ActivityKind.choices]


def insight_reps_visible_to(user: User) -> QuerySet[User]:
    """The reps whose insights ``user`` may read: an admin every rep, a manager the reps of their
    team at any depth, a rep themselves."""
    reps = User.objects.filter(role=Role.REP)
    if user.is_admin:
        return reps
    if user.is_manager:
        return reps.filter(pk__in=team_member_ids_subquery(user.pk))
    return reps.filter(pk=user.pk)


def team_of_rep(rep: User) -> QuerySet[User]:
    """The rep and their team: the active reps below the rep's manager at any depth (all active reps
    when the rep has no manager)."""
    peers = Q(role=Role.REP, is_active=True)
    if rep.manager_id is not None:
        peers &= Q(pk__in=team_member_ids_subquery(rep.manager_id))
    return User.objects.filter(peers | Q(pk=rep.pk))


@dataclass(frozen=True)
class Spread:
    """The median and quartiles of the team's per-rep figures, over the ``reps`` that have one."""

    median: float | None
    q1: float | None
    q3: float | None
    reps: int

    def as_dict(self) -> dict:
        return {"median": self.median, "q1": self.q1, "q3": self.q3, "reps": self.reps}


def spread(values) -> Spread:
    """Median and quartiles (the inclusive method: quartiles lie within the values) of the known values."""
    known = sorted(float(value) for value in values if value is not None)
    if not known:
        return Spread(None, None, None, 0)
    if len(known) == 1:
        return Spread(known[0], known[0], known[0], 1)
    q1, median, q3 = statistics.quantiles(known, n=4, method="inclusive")
    return Spread(median, q1, q3, len(known))


def _ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(Decimal(numerator) / Decimal(denominator))


def _name(row: dict) -> str:
    first_last = f"{row['first_name']} {row['last_name']}".strip()
    return row["full_name"] or first_last or row["username"]


# The test behind the weakest-stage flag.


def lower_tail(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return 0.5 * math.erfc(-z / math.sqrt(2))


def stage_test(rep_entered: int, rep_advanced: int, rest_entered: int, rest_advanced: int) -> dict:
    """Whether the rep's conversion is below the rest of the team's: the one-sided two-proportion
    z-test with the pooled rate, or why the counts are too few for it (``reason``)."""
    result = {
        "tested": False,
        "reason": None,
        "z": None,
        "p_value": None,
        "alpha": None,
        "below_team": False,
    }
    if rep_entered < MIN_ENTERED or rest_entered < MIN_ENTERED:
        result["reason"] = f"fewer than {MIN_ENTERED} deals entered the stage on one side"
        return result
    pooled = (rep_advanced + rest_advanced) / (rep_entered + rest_entered)
    smaller = min(rep_entered, rest_entered)
    if smaller * pooled < MIN_EXPECTED or smaller * (1 - pooled) < MIN_EXPECTED:
        result["reason"] = (
            f"fewer than {MIN_EXPECTED} advances or non-advances expected on one side"
        )
        return result
    error = math.sqrt(pooled * (1 - pooled) * (1 / rep_entered + 1 / rest_entered))
    z = (rep_advanced / rep_entered - rest_advanced / rest_entered) / error
    return {**result, "tested": True, "z": z, "p_value": lower_tail(z)}


def weakest_stage(stages: list[dict]) -> dict | None:
    """The stage to coach next among ``stages`` (each with its ``test``), or None.

    Sets each tested stage's ``alpha`` (Bonferroni over the tested stages) and
    ``below_team``; the flag is the lowest z among those below the team.
    """
    tested = [stage for stage in stages if stage["test"]["tested"]]
    if not tested:
        return None
    alpha = ALPHA / len(tested)
    for stage in tested:
        stage["test"]["alpha"] = alpha
        stage["test"]["below_team"] = stage["test"]["p_value"] < alpha
    below = [stage for stage in tested if stage["test"]["below_team"]]
    if not below:
        return None
    return min(below, key=lambda stage: stage["test"]["z"])


def focus_evidence(rep_name: str, stage: dict) -> str:
    """The flag's evidence in one sentence: counts on both sides, the test and its threshold."""
    rep, rest, test = stage["rep"], stage["rest"], stage["test"]
    p_value = "p < 0.0001" if test["p_value"] < 0.0001 else f"p = {test['p_value']:.4f}"
    return (
        f"{rep_name} advanced {rep['advanced']} of the {rep['entered']} deals that entered {stage['name']} "
        f"({rep['conversion']:.0%}); the rest of the team advanced {rest['advanced']} of {rest['entered']} "
        f"({rest['conversion']:.0%}). One-sided z = {test['z']:.2f}, {p_value}, "
        f"below the {test['alpha']:.4f} threshold ({ALPHA} over {round(ALPHA / test['alpha'])} stages tested)."
    )


# The queries.


# ``deal_sums``'s names of the closed deals' sums, and ``rolled_closed_sums``'s of the same figures.
ROLLED_CLOSED_SUMS = {
    "won_deals": "won",
    "won_value": "won_value",
    "lost_deals": "lost",
    "cycle_days": "cycle_days",
    "won_unconverted": "won_unconverted",
}


def _deal_rows(
    ids: list[int], period: Period, today: datetime.date, rolled: bool
) -> dict[int, dict]:
    pipeline = window_sums(today, COVERAGE_DAYS)
    start, end = period.bounds
    sums = {
        **deal_sums(period, today),
        "pipeline": pipeline["pipeline"],
        "pipeline_unconverted": pipeline["unconverted"],
    }
    opened = {*OPEN_DEAL_SUMS, "pipeline", "pipeline_unconverted"}
    closed = (
        Q(closed_at__gte=start, closed_at__lt=end),
        {name: sum_ for name, sum_ in sums.items() if name not in opened},
    )
    if rolled:
        # The same sums from the closed rollup's rows of the period.
        rows = rollups.closed_days(period.start, period.end).filter(owner_id__in=ids)
        from_rows = rolled_closed_sums(period, "")
        closed = (rows, {name: from_rows[ROLLED_CLOSED_SUMS[name]] for name in closed[1]})
    # Only open deals and those closed in the period count in any sum: reading no others saves most
    # rows. Each of the two is read from its own covering index; they never overlap, as only a closed
    # deal has a ``closed_at`` (``deal_closed_at_matches_status``).
    return sums_by_owner(
        Deal.objects.filter(deleted_at__isnull=True, owner_id__in=ids),
        [(Q(status=StageKind.OPEN), {name: sums[name] for name in opened}), closed],
    )


def _transitions(ids: list[int]) -> QuerySet:
    return StageTransition.objects.filter(deal__deleted_at__isnull=True, deal__owner_id__in=ids)


def _flow(ids: list[int], period: Period) -> dict[tuple[int, int], tuple[int, int]]:
    rows = flow_counts(_transitions(ids), period, {"insight_owner": F("deal__owner_id")})
    return {(owner, stage): (entered, advanced) for owner, stage, entered, advanced in rows}


def _stays(ids: list[int], period: Period) -> dict[tuple[int, int], tuple[float, int]]:
    """Per rep and stage: the mean days of the stays that ended in the period, and how many there were.

    A transition that does not say when its deal entered the stage left (an imported one) has no
    stay to count, as the funnel's time in stage leaves it out too."""
    start, end = period.bounds
    stay = DaysBetween(F("at"), F("from_stage_entered_at"))
    rows = (
        _transitions(ids)
        .filter(
            at__gte=start, at__lt=end, from_stage__isnull=False, from_stage_entered_at__isnull=False
        )
        .values("from_stage_id", owner=F("deal__owner_id"))
        .annotate(days=Sum(stay), stays=Count("id"))
        .order_by()
    )
    return {
        (row["owner"], row["from_stage_id"]): (row["days"] / row["stays"], row["stays"])
        for row in rows
    }


def _stage_flow(ids: list[int], period: Period, today: datetime.date) -> tuple[dict, dict, str]:
    """Per rep and stage: (entered, advanced) and (mean days, stays), and where they came from.

    Over the standard period they come from the reps' funnel snapshots when
    every rep has a fresh one (the number of stays is not stored: None); else
    from two queries over the transitions, the costly part of the insights.
    """
    snapshots = None
    if period == Period.default(today):
        snapshots = metric_snapshots_fresh([Scope(owner=pk) for pk in ids], period)
    if snapshots is None:
        return _flow(ids, period), _stays(ids, period), "live"
    flow, stays = {}, {}
    for pk in ids:
        for stage in snapshots[Scope(owner=pk).key]["stages"]:
            flow[(pk, stage["stage"])] = (stage["entered"], stage["advanced"])
            if stage["avg_days_in_stage"] is not None:
                stays[(pk, stage["stage"])] = (stage["avg_days_in_stage"], None)
    return flow, stays, "snapshot"


def _activities(ids: list[int], period: Period, rolled: bool) -> dict[int, dict[str, int]]:
    if rolled:
        rows = (
            rollups.activity_days(period.start, period.end)
            .filter(author_id__in=ids)
            .values("author_id", "kind")
            .annotate(count=Sum("count"))
            .order_by()
        )
    else:
        start, end = period.bounds
        rows = (
            Activity.objects.filter(author_id__in=ids, occurred_at__gte=start, occurred_at__lt=end)
            .values("author_id", "kind")
            .annotate(count=Count("id"))
            .order_by()
        )
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["author_id"], {})[row["kind"]] = row["count"]
    return counts


def _people(rep: User) -> list[dict]:
    # The manager's name rides along on each row, so the team's label costs no query of its own.
    return list(
        team_of_rep(rep)
        .values("pk", "username", "full_name", "first_name", "last_name")
        .annotate(
            manager_name=RawSQL(
                "SELECT COALESCE(NULLIF(full_name, ''), username) FROM salesmgr_user WHERE id = %s",
                (rep.manager_id,),
            )
        )
        .order_by("pk")
    )


# Putting the figures together.


def _rep_figures(sums: dict | None, activities: dict[str, int], quota: Decimal | None) -> dict:
    empty = {"open_deals": 0, "open_value": None, "won_deals": 0, "won_value": None, "lost_deals": 0,
             "cycle_days": None, "open_unconverted": 0, "won_unconverted": 0}  # fmt: skip
    sums = sums or {**empty, "pipeline": None, "pipeline_unconverted": 0}
    figures = figures_from_sums(sums)
    total = sum(activities.values())
    pipeline = (sums["pipeline"] or Decimal(0)).quantize(Decimal("0.01"))
    return {
        "won_deals": figures["won_deals"],
        "lost_deals": figures["lost_deals"],
        "won_value": figures["won_value"],
        "close_ratio": figures["close_ratio"],
        "avg_won_deal_size": figures["avg_won_deal_size"],
        "avg_sales_cycle_days": figures["avg_sales_cycle_days"],
        "pipeline": pipeline,
        "quota": quota,
        "pipeline_coverage": _ratio(pipeline, quota),
        "activities": total,
        "activity_counts": {kind: activities.get(kind, 0) for kind in ACTIVITY_KINDS},
        "activity_mix": {kind: _ratio(activities.get(kind, 0), total) for kind in ACTIVITY_KINDS},
        "unconverted_deals": (sums.get("won_unconverted") or 0)
        + (sums.get("pipeline_unconverted") or 0),
    }


def _stage_rows(
    rep_id: int,
    ids: list[int],
    flow: dict,
    stays: dict,
    stages=None,
    *,
    team_totals: dict | None = None,
) -> list[dict]:
    """Per open stage with entries or stays in the team: the rep's flow against the rest of ``ids``,
    the team's spread and the test.

    ``team_totals`` (a dict kept by the caller for one team, ``ids``) holds each stage's team totals
    once worked out, and the spreads are left out: judging every rep of a team against it
    (``coaching_flags``) then costs each rep their own figures only, not a pass over the team.
    """
    rows = []
    for stage in open_stages() if stages is None else stages:
        totals = None if team_totals is None else team_totals.get(stage.pk)
        if totals is None:
            per_rep = {owner: flow.get((owner, stage.pk), (0, 0)) for owner in ids}
            stay_of = {owner: stays.get((owner, stage.pk)) for owner in ids}
            totals = (
                sum(entered for entered, _ in per_rep.values()),
                sum(advanced for _, advanced in per_rep.values()),
                any(stay_of.values()),
            )
            if team_totals is not None:
                team_totals[stage.pk] = totals
        team_entered, team_advanced, any_stay = totals
        if not team_entered and not any_stay:
            continue
        entered, advanced = flow.get((rep_id, stage.pk), (0, 0))
        rest_entered = team_entered - entered
        rest_advanced = team_advanced - advanced
        stay = stays.get((rep_id, stage.pk))
        row = {
            "stage": stage.pk,
            "name": stage.name,
            "pipeline": stage.pipeline_id,
            "pipeline_name": stage.pipeline.name,
            "order": stage.order,
            "rep": {
                "entered": entered,
                "advanced": advanced,
                "conversion": _ratio(advanced, entered),
                "stays": (stay or (None, 0))[1],
                "avg_days_in_stage": None if stay is None else stay[0],
            },
            "rest": {
                "entered": rest_entered,
                "advanced": rest_advanced,
                "conversion": _ratio(rest_advanced, rest_entered),
            },
            "test": stage_test(entered, advanced, rest_entered, rest_advanced),
        }
        if team_totals is None:
            per_rep = {owner: flow.get((owner, stage.pk), (0, 0)) for owner in ids}
            days = {owner: (stays.get((owner, stage.pk)) or (None,))[0] for owner in ids}
            row["team"] = {
                "conversion": spread(_ratio(a, e) for e, a in per_rep.values()).as_dict(),
                "avg_days_in_stage": spread(days.values()).as_dict(),
            }
        rows.append(row)
    return rows


def insights(rep: User, period: Period, today: datetime.date) -> dict:
    """Every insight of ``rep`` against their team over ``period`` (coverage looks ahead from ``today``)."""
    people = _people(rep)
    ids = [person["pk"] for person in people]
    rolled = rollups.ready()
    deals = _deal_rows(ids, period, today, rolled)
    flow, stays, source = _stage_flow(ids, period, today)
    activities = _activities(ids, period, rolled)
    last_day = today + datetime.timedelta(days=COVERAGE_DAYS - 1)
    quotas = quota_targets(Q(owner_id__in=ids), {"coverage": (today, last_day)})
    per_rep = {
        pk: _rep_figures(deals.get(pk), activities.get(pk, {}), quotas.get(pk, {}).get("coverage"))
        for pk in ids
    }
    mine = per_rep[rep.pk]
    stages = _stage_rows(rep.pk, ids, flow, stays)
    focus = weakest_stage(stages)
    rep_name = _name(next(person for person in people if person["pk"] == rep.pk))
    metrics = [
        {
            "name": name,
            "label": label,
            "kind": kind,
            "higher_is_better": higher,
            "rep": mine[name],
            "team": spread(figures[name] for figures in per_rep.values()).as_dict(),
        }
        for name, label, kind, higher in SCALARS
    ]
    return {
        "rep": {"id": rep.pk, "name": rep_name},
        "team": {
            "manager": rep.manager_id,
            "name": f"Team of {people[0]['manager_name']}" if rep.manager_id else "Every rep",
            "reps": len(ids),
        },
        "start": period.start,
        "end": period.end,
        "today": today,
        "currency": reporting_currency(),
        "metrics": metrics,
        "counts": {
            "won_deals": mine["won_deals"],
            "lost_deals": mine["lost_deals"],
            "won_value": mine["won_value"],
            "pipeline": mine["pipeline"],
            "quota": mine["quota"],
            "unconverted_deals": mine["unconverted_deals"],
        },
        "stages": stages,
        "stages_source": source,
        "activity_mix": [
            {
                "kind": kind,
                "label": ActivityKind(kind).label,
                "count": mine["activity_counts"][kind],
                "rep": mine["activity_mix"][kind],
                "team": spread(
                    figures["activity_mix"][kind] for figures in per_rep.values()
                ).as_dict(),
            }
            for kind in ACTIVITY_KINDS
        ],
        "focus": None
        if focus is None
        else {
            "stage": focus["stage"],
            "name": focus["name"],
            "pipeline_name": focus["pipeline_name"],
            "evidence": focus_evidence(rep_name, focus),
        },
        "thresholds": {"min_entered": MIN_ENTERED, "min_expected": MIN_EXPECTED, "alpha": ALPHA},
    }


def coaching_flags(user: User, period: Period, today: datetime.date) -> list[dict]:
    """The reps in ``user``'s reach (an admin: every active rep; a manager: the active reps of their team
    at any depth) whose weakest stage the insights flag, each judged against their own team exactly as
    the insights page judges them; the lowest z first. Four queries (five when the funnel snapshots are
    missing or stale), whatever the team's size.
    """
    if user.is_rep:
        return []
    people = User.objects.all() if user.is_admin else team_of(user)
    rows = list(people.values("pk", "role", "is_active", "manager_id", "username", "full_name",
                              "first_name", "last_name"))  # fmt: skip
    children: dict[int | None, list[int]] = {}
    for row in rows:
        children.setdefault(row["manager_id"], []).append(row["pk"])
    by_pk = {row["pk"]: row for row in rows}
    active_reps = {row["pk"] for row in rows if row["role"] == Role.REP and row["is_active"]}

    def below(manager_id: int) -> set[int]:
        found, stack = set(), list(children.get(manager_id, []))
        while stack:
            pk = stack.pop()
            if pk not in found:
                found.add(pk)
                stack.extend(children.get(pk, []))
        return found

    ids = sorted(active_reps)
    if not ids:
        return []
    flow, stays, _source = _stage_flow(ids, period, today)
    stages = open_stages()
    flagged = []
    # Reps with one manager share a team: its totals per stage are worked out once.
    team_totals: dict[frozenset, dict] = {}
    for pk in ids:
        manager_id = by_pk[pk]["manager_id"]
        peers = active_reps if manager_id is None else active_reps & below(manager_id)
        team = frozenset(peers | {pk})
        focus = weakest_stage(
            _stage_rows(
                pk, sorted(team), flow, stays, stages, team_totals=team_totals.setdefault(team, {})
            )
        )
        if focus is not None:
            name = _name(by_pk[pk])
            flagged.append({"rep_id": pk, "rep_name": name, "stage": focus["name"],
                            "pipeline_name": focus["pipeline_name"], "z": focus["test"]["z"],
                            "evidence": focus_evidence(name, focus)})  # fmt: skip
    return sorted(flagged, key=lambda row: (row["z"], row["rep_name"]))
