"""The gap: what a scope must still win in this month, quarter or year, against what it is projected to win.

Every figure comes from the runners the dashboard reads: the target from
``scope_target``, the forecasts (commit, best case, the model and its P10-P90
range) from the forecast snapshots of the horizon nearest to the days left, and
the close ratio from the dashboard's standard funnel (the last 90 days). Won so
far (per week, which draws the chart) and each rep's row come from the deals,
in two grouped queries for the month, quarter and year at once, kept beside the
snapshots by the recompute that writes them (``gap_deals_store``).
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from pipeline.models import Deal, StageKind
from pipeline.money import at_close
from pipeline.periods import DAY, Period, start_of
from pipeline.scopes import Scope
from quotas.selectors import quota_targets
from reports.forecasts import HORIZONS, money, window_sums
from reports.grouped import ScopeMap
from reports.metrics import deal_rows
from reports.runners.forecast import ForecastRunner
from reports.runners.funnel import FunnelRunner
from reports.targets import scope_target
from salesmgr.cache import cache_get, cache_set
from salesmgr.models import Role, User

GAP_PERIODS = {"month": "This month", "quarter": "This quarter", "year": "This year"}
# The projections a gap is measured against, in the order the page lists them.
PROJECTIONS = ("commit", "best_case", "model", "model_p10", "model_p90")


def gap_period(name: str, today: datetime.date) -> Period:
    """The calendar month, quarter or year holding ``today``."""
    if name == "year":
        start = today.replace(month=1, day=1)
        return Period(start, start.replace(year=start.year + 1), "year")
    if name in ("month", "quarter"):
        return Period.named(name, today)
    raise ValueError(f"Unknown gap period {name!r}.")


def horizon_for(days_left: int) -> int:
    """The forecast horizon nearest to the days left in the period (the longer one on a tie)."""
    return min(HORIZONS, key=lambda horizon: (abs(horizon - days_left), -horizon))


def _ratio(numerator, denominator) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(Decimal(numerator) / Decimal(denominator))


def _gaps(target: Decimal | None, won: Decimal, projected: dict) -> dict:
    return {
        name: None if target is None else target - won - projected[name] for name in PROJECTIONS
    }


# Longer than a day: the nightly run rewrites every standard scope's figures before this runs out.
DEALS_TIMEOUT = 36 * 3600


def _gap_queries(rows: QuerySet, today: datetime.date, group: dict) -> tuple[QuerySet, QuerySet]:
    """The two grouped queries behind the gap's deal figures, each also grouped by ``group``: won value per
    local day of the year to date (at each deal's close-date rate), and per owner the won value of each
    period to date and the commit, best case and pipeline of every forecast window (at today's rates)."""
    periods = {name: gap_period(name, today) for name in GAP_PERIODS}
    won = Q(status=StageKind.WON, closed_at__lt=start_of(today + DAY))
    won_this_year = won & Q(closed_at__gte=start_of(periods["year"].start))
    days = (
        rows.filter(won_this_year)
        .annotate(day=TruncDate("closed_at", tzinfo=timezone.get_current_timezone()))
        .values("day", **group)
        .annotate(value=Sum(at_close()))
        .order_by()
    )
    won_sums = {
        f"won_{name}": Sum(at_close(), filter=won & Q(closed_at__gte=start_of(period.start)))
        for name, period in periods.items()
    }
    window = {
        key: aggregate
        for horizon in HORIZONS
        for key, aggregate in window_sums(today, horizon, f"_{horizon}").items()
        if key.rsplit("_", 1)[0] in ("commit", "best_case", "pipeline")
    }
    # Only the rows any of these sums reads: won this year, or open and closing inside the longest window.
    summed = won_this_year | Q(
        status=StageKind.OPEN,
        expected_close_date__gte=today,
        expected_close_date__lt=today + datetime.timedelta(days=max(HORIZONS)),
    )
    sums = rows.filter(summed).values("owner_id", **group).annotate(**won_sums, **window).order_by()
    return days, sums


def gap_deal_figures(scope: Scope, today: datetime.date) -> dict:
    """What the gap reads from deals themselves, for the month, quarter and year around ``today`` at once.

    ``won_by_day``: the scope's won value per local day from the year's start to
    today; ``owners``: per owner, won value in each period to date and the
    commit, best case and pipeline of every forecast window. Two grouped
    queries, whatever the scope's size.
    """
    days, sums = _gap_queries(deal_rows(scope), today, {})
    won_by_day = {row["day"]: row["value"] for row in days}
    owners = {row.pop("owner_id"): row for row in sums}
    return {"won_by_day": won_by_day, "owners": owners}


# A deal's cell, as ``reports.grouped`` groups the snapshots: its owner, its account's territory, its pipeline.
CELL = {
    "cell_owner": F("owner_id"),
    "cell_territory": F("account__territory_id"),
    "cell_pipeline": F("pipeline_id"),
}


def _add(total, value):
    if value is None:
        return total
    return value if total is None else total + value


def gap_deal_figures_grouped(scopes: list[Scope], today: datetime.date) -> dict[str, dict]:
    """``gap_deal_figures`` of many scopes (none with a product) from one pass: the same two queries over
    every deal, grouped by cell, each scope then adding up the cells inside it (four queries in all)."""
    days, sums = _gap_queries(Deal.objects.filter(deleted_at__isnull=True), today, CELL)
    cell_days: dict[tuple, dict] = defaultdict(dict)
    for row in days:
        cell_days[(row["cell_owner"], row["cell_territory"], row["cell_pipeline"])][row["day"]] = (
            row["value"]
        )
    cell_sums = {}
    for row in sums:
        cell = (row.pop("cell_owner"), row.pop("cell_territory"), row.pop("cell_pipeline"))
        row.pop("owner_id")
        cell_sums[cell] = row
    cells = ScopeMap()
    figures = {}
    for scope in scopes:
        inside = cells.test(scope)
        won_by_day: dict = {}
        for cell, by_day in cell_days.items():
            if inside(cell):
                for day, value in by_day.items():
                    won_by_day[day] = _add(won_by_day.get(day), value)
        owners: dict = {}
        for cell, row in cell_sums.items():
            if inside(cell):
                owner = owners.setdefault(cell[0], {})
                for key, value in row.items():
                    owner[key] = _add(owner.get(key), value)
        figures[scope.key] = {"won_by_day": won_by_day, "owners": owners}
    return figures


@dataclass(frozen=True)
class GapDealsRunner:
    """``gap_deal_figures`` as of the forecast snapshot written at ``computed_at``: kept in the cache by the
    recompute that wrote it, so that a read costs no query and its figures are exactly as old as the
    snapshot's. None (no snapshot) reads them live."""

    scope: Scope
    today: datetime.date
    computed_at: datetime.datetime | None = None

    @property
    def cache_key(self) -> str | None:
        if self.computed_at is None:
            return None
        stamp = self.computed_at.astimezone(datetime.UTC).isoformat()
        return f"gap-deals:{self.scope.key}:{self.today}:{stamp}"

    def run(self) -> dict:
        key = self.cache_key
        stored = cache_get(key) if key is not None else None
        if stored is not None:
            return stored
        figures = gap_deal_figures(self.scope, self.today)
        if key is not None:
            cache_set(key, figures, DEALS_TIMEOUT)
        return figures

    def store(self, figures: dict | None = None) -> None:
        """Keep ``figures`` (computed for this scope and day), or compute them now."""
        if figures is None:
            figures = gap_deal_figures(self.scope, self.today)
        cache_set(self.cache_key, figures, DEALS_TIMEOUT)


def gap_deals_store(
    *,
    scopes: list[Scope],
    today: datetime.date,
    computed_at: datetime.datetime,
    found: dict | None = None,
) -> None:
    """Keep every scope's gap deal figures beside the snapshots just written at ``computed_at``: many scopes
    in one grouped pass (four queries), or from ``found`` when it was read already (that pass's
    result for these scopes and perhaps more); a single one or one with a product in two queries
    of its own."""
    cellular = [scope for scope in scopes if scope.product is None]
    if found is not None:
        grouped = found
    else:
        grouped = gap_deal_figures_grouped(cellular, today) if len(cellular) > 1 else {}
    for scope in scopes:
        GapDealsRunner(scope, today, computed_at).store(grouped.get(scope.key))


def _week_of(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def _won_by_week(won_by_day: dict, to_date: Period) -> list[dict]:
    """The won value per week (from Monday) of ``to_date``, zero-filled; a week starting before the
    period counts only its days inside it. Adds up at most a year of daily sums."""
    weeks = {}
    week = _week_of(to_date.start)
    while week < to_date.end:
        weeks[week] = Decimal("0.00")
        week += datetime.timedelta(days=7)
    for day, value in won_by_day.items():
        if to_date.start <= day < to_date.end and value is not None:
            weeks[_week_of(day)] += value
    return [{"week": week, "won_value": money(value)} for week, value in weeks.items()]


@dataclass(frozen=True)
class GapRunner:
    """The gap figures of a scope for the period named ``period_name`` around ``today``, with a row
    per rep of the scope. The projections and the close ratio come from the snapshots, the deal
    figures from beside them (``GapDealsRunner``): a fixed number of queries, whatever the team's
    size, none of them over deals once the snapshots are written."""

    scope: Scope
    period_name: str
    today: datetime.date

    def run(self) -> dict:
        period = gap_period(self.period_name, self.today)
        to_date = Period(period.start, min(period.end, self.today + DAY))
        days_left = (period.end - self.today).days
        horizon = horizon_for(days_left)
        target = scope_target(self.scope, period)
        target_amount = None if target is None else target.amount
        forecast = ForecastRunner(self.scope, self.today, (horizon,)).run()[0]
        deals = GapDealsRunner(self.scope, self.today, forecast["computed_at"]).run()
        won_by_week = _won_by_week(deals["won_by_day"], to_date)
        won = money(sum((point["won_value"] for point in won_by_week), Decimal(0)))
        close_ratio = FunnelRunner(self.scope, Period.default(self.today)).totals()["close_ratio"]
        to_win = None if target_amount is None else max(target_amount - won, Decimal("0.00"))
        weeks_left = Decimal(days_left) / 7
        projected = {name: forecast[name] for name in PROJECTIONS}
        return {
            "scope": self.scope.key,
            "period": self.period_name,
            "start": period.start,
            "end": period.end,
            "last_day": period.last_day,
            "today": self.today,
            "days_left": days_left,
            "target": target_amount,
            "target_basis": None if target is None else target.basis,
            "target_description": None if target is None else target.description,
            "won": won,
            **projected,
            "pipeline": forecast["pipeline"],
            "gap": _gaps(target_amount, won, projected),
            "to_win": to_win,
            "close_ratio": close_ratio,
            "pipeline_needed": (
                None
                if to_win is None or not close_ratio
                else money(to_win / Decimal(str(close_ratio)))
            ),
            "coverage": _ratio(forecast["pipeline"], to_win),
            "run_rate_per_week": None if to_win is None else money(to_win / weeks_left),
            "horizon": horizon,
            "forecast_end": forecast["window_end"],
            "computed_at": forecast["computed_at"],
            "source": forecast["source"],
            "stale": forecast["stale"],
            "won_by_week": won_by_week,
            "reps": self._rep_rows(period, horizon, deals["owners"]),
        }

    def _rep_rows(self, period: Period, horizon: int, owners: dict) -> list[dict]:
        """One row per rep of a team, territory or the organisation (none for one person or a pipeline):
        two queries (the reps, their quotas)."""
        if self.scope.owner is not None:
            return []
        people = self.scope.people_filter()
        if people is None:
            return []
        reps = list(
            User.objects.filter(people, role=Role.REP, is_active=True).values_list(
                "pk", "full_name", "first_name", "last_name", "username"
            )
        )
        if not reps:
            return []
        ids = [pk for pk, *_ in reps]
        window = {"period": (period.start, period.last_day)}
        targets = quota_targets(Q(owner_id__in=ids), window)
        rows = []
        for pk, full_name, first, last, username in reps:
            sums = owners.get(pk, {})
            target = targets.get(pk, {}).get("period", Decimal("0.00"))
            won = money(sums.get(f"won_{self.period_name}"))
            commit = money(sums.get(f"commit_{horizon}"))
            rows.append(
                {
                    "owner_id": pk,
                    "name": full_name or f"{first} {last}".strip() or username,
                    "target": target,
                    "won": won,
                    "commit": commit,
                    "best_case": money(sums.get(f"best_case_{horizon}")),
                    "pipeline": money(sums.get(f"pipeline_{horizon}")),
                    "gap_commit": target - won - commit,
                    "attainment": _ratio(won, target),
                }
            )
        rows.sort(key=lambda row: (-(row["gap_commit"]), row["name"]))
        return rows
