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
own history. The team's comes from the forecast runner the dashboard reads
(its snapshot, or a live computation that stores one); a rep's from the rep's
own nightly snapshot (``Scope(owner=...)``) when the pick is a team or the
organisation, and is left blank otherwise. Its change compares the latest
snapshot with the latest of the week before a week ago.

Quota is each rep's quotas prorated into the window (one query for all reps
and horizons); the team's is the runner's (``scope_target``: a manager's own
quota or the roll-up).
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import Q

from pipeline.periods import start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from quotas.selectors import quota_targets
from reports.catalog.base import Column, Report, ReportResult, register
from reports.catalog.funnel_activity import people_names
from reports.charts import forecast_chart
from reports.forecasts import HORIZONS, SUMMED_METHODS, money, window_sums
from reports.metrics import deal_rows
from reports.models import ForecastSnapshot
from reports.runners.forecast import ForecastRunner
from salesmgr.models import User

WEEK = datetime.timedelta(days=7)
CATEGORIES = {"commit": "Commit", "best_case": "Best case", "pipeline": "Pipeline"}
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


def _sums_by_owner(rows, as_of: datetime.date) -> dict[int, dict]:
    aggregates = {}
    for horizon in HORIZONS:
        aggregates |= window_sums(as_of, horizon, suffix=f"_{horizon}")
    grouped = rows.values("owner_id").annotate(**aggregates).order_by()
    return {row["owner_id"]: row for row in grouped}


def category_sums(pick: Pick, today: datetime.date) -> tuple[dict[int, dict], dict[int, dict]]:
    """Per owner, each horizon's category sums as of today and as of a week ago (two grouped queries)."""
    week_ago = today - WEEK
    return (
        _sums_by_owner(deal_rows(pick.scope), today),
        _sums_by_owner(deal_rows(pick.scope, start_of(week_ago)), week_ago),
    )


def model_snapshots(
    keys: list[str], today: datetime.date
) -> dict[str, dict[str, dict[int, Decimal]]]:
    """Per scope key: the model by horizon of its latest snapshot up to today (``now``) and of its latest
    up to a week ago (``then``), each within a week (one query)."""
    rows = ForecastSnapshot.objects.filter(
        scope_key__in=keys, as_of__lte=today, as_of__gt=today - 2 * WEEK
    ).values_list("scope_key", "as_of", "horizon", "model")
    by_day: dict[str, dict[datetime.date, dict[int, Decimal]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for key, as_of, horizon, model in rows:
        by_day[key][as_of][horizon] = model
    found: dict[str, dict[str, dict[int, Decimal]]] = {}
    for key, days in by_day.items():
        complete = sorted(day for day, models in days.items() if len(models) == len(HORIZONS))
        now = [day for day in complete if day > today - WEEK]
        then = [day for day in complete if day <= today - WEEK]
        found[key] = {
            "now": days[now[-1]] if now else {},
            "then": days[then[-1]] if then else {},
        }
    return found


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
        model_now = models.get("now", {}).get(horizon)
        row[f"model_{horizon}"] = model_now
        row[f"model_{horizon}_change"] = _change(model_now, models.get("then", {}).get(horizon))
        row[f"quota_{horizon}"] = quotas.get(str(horizon), Decimal("0.00"))
    return row


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
        team = ForecastRunner(pick.scope, today).run()
        totals = self._totals(rows, team, snapshots.get(pick.scope.key, {}))
        for forecast in team:
            for method in SUMMED_METHODS:
                if method in CATEGORIES:
                    forecast[method] = totals[f"{method}_{forecast['horizon']}"]
        notes = self._notes(rows, per_rep_model, team, _unconverted(now, then))
        return ReportResult(
            columns=COLUMNS,
            rows=rows,
            charts=[forecast_chart("forecast-report-chart", team)],
            notes=notes,
            totals=totals,
        )

    @staticmethod
    def _totals(rows: list[dict], team: list[dict], snapshots: dict) -> dict:
        totals: dict = {"rep": "Team"}
        for forecast in team:
            horizon = forecast["horizon"]
            for method in CATEGORIES:
                for key in (f"{method}_{horizon}", f"{method}_{horizon}_change"):
                    totals[key] = sum((row[key] for row in rows), Decimal("0.00"))
            totals[f"model_{horizon}"] = forecast["model"]
            totals[f"model_{horizon}_change"] = _change(
                forecast["model"], snapshots.get("then", {}).get(horizon)
            )
            totals[f"quota_{horizon}"] = forecast["quota"]
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
                "(computing it for each rep on the page would be too slow); the team's is always shown."
            )
        if team and team[0].get("stale"):
            notes.append(
                "Deals changed since the team's model was computed; it is being recomputed."
            )
        if unconverted:
            notes.append(
                "Some deals have no exchange rate to the reporting currency and are left out."
            )
        return notes
