"""The gap: what a scope must still win in this month, quarter or year, against what it is projected to win.

Every figure comes from the runners the dashboard reads: the target from
``scope_target``, won so far from the weekly series (which also draws the
chart), the forecasts (commit, best case, the model and its P10-P90 range)
from the forecast snapshots of the horizon nearest to the days left, and the
close ratio from the dashboard's standard funnel (the last 90 days).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from pipeline.periods import DAY, Period
from pipeline.scopes import Scope
from quotas.selectors import quota_targets
from reports.forecasts import HORIZONS, money, window_sums
from reports.metrics import deal_rows, deal_sums
from reports.runners.forecast import ForecastRunner
from reports.runners.funnel import FunnelRunner
from reports.runners.series import SeriesRunner
from reports.targets import scope_target
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


@dataclass(frozen=True)
class GapRunner:
    """The gap figures of a scope for the period named ``period_name`` around ``today``, with a row
    per rep of the scope (one grouped query). A fixed number of queries, whatever the team's size."""

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
        points = SeriesRunner(self.scope, to_date, "week").run()
        won = money(sum((point["won_value"] for point in points), Decimal(0)))
        forecast = ForecastRunner(self.scope, self.today, (horizon,)).run()[0]
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
            "won_by_week": [{"week": p["bucket"], "won_value": p["won_value"]} for p in points],
            "reps": self._rep_rows(period, to_date, horizon),
        }

    def _rep_rows(self, period: Period, to_date: Period, horizon: int) -> list[dict]:
        """One row per rep of a team, territory or the organisation (none for one person or a pipeline):
        three queries (the reps, their deals grouped by owner, their quotas)."""
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
        won_sums = {
            key: value
            for key, value in deal_sums(to_date, self.today).items()
            if key == "won_value"
        }
        forecast_sums = {
            key: value
            for key, value in window_sums(self.today, horizon).items()
            if key in ("commit", "best_case", "pipeline")
        }
        grouped = {
            row["owner_id"]: row
            for row in deal_rows(self.scope)
            .filter(owner_id__in=ids)
            .values("owner_id")
            .annotate(**won_sums, **forecast_sums)
            .order_by()
        }
        window = {"period": (period.start, period.last_day)}
        targets = quota_targets(Q(owner_id__in=ids), window)
        rows = []
        for pk, full_name, first, last, username in reps:
            sums = grouped.get(pk, {})
            target = targets.get(pk, {}).get("period", Decimal("0.00"))
            won = money(sums.get("won_value"))
            commit = money(sums.get("commit"))
            rows.append(
                {
                    "owner_id": pk,
                    "name": full_name or f"{first} {last}".strip() or username,
                    "target": target,
                    "won": won,
                    "commit": commit,
                    "best_case": money(sums.get("best_case")),
                    "pipeline": money(sums.get("pipeline")),
                    "gap_commit": target - won - commit,
                    "attainment": _ratio(won, target),
                }
            )
        rows.sort(key=lambda row: (-(row["gap_commit"]), row["name"]))
        return rows
