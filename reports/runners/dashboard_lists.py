"""The dashboard's deal-derived lists (won value by month, stalled and overdue deals), kept beside the snapshots.

Reading them live costs several scans of the scope's deals per request, which
grows with the deals. The recompute that writes a scope's snapshots also
stores its lists in the cache, keyed by the snapshot's ``computed_at``; a read
of that snapshot finds them there, so a stale scope shows lists exactly as old
as its figures, and the lists change when the figures do.
"""

import copy
import datetime
from collections import defaultdict
from dataclasses import dataclass

from pipeline.models import Deal
from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.grouped import ScopeMap, cell_columns, cell_of
from reports.metrics import series, series_closed, series_created, series_points, series_sums
from reports.runners.attention import (
    OverdueDealsRunner,
    StalledDealsRunner,
    biggest_key,
    deal_rows_shown,
    rotting_stages,
    top_deals_per_group,
)
from salesmgr.cache import cache_get, cache_set

# Longer than a day: the nightly run rewrites every standard scope's lists before this runs out.
LISTS_TIMEOUT = 36 * 3600


@dataclass(frozen=True)
class DashboardListsRunner:
    """A scope's won-by-month series and its stalled and overdue deals on ``today``, as of a snapshot.

    ``computed_at`` names the snapshot the lists go with; None (the figures
    were computed live) reads them live too. A cached answer costs no query;
    a live one four (on PostgreSQL one more for a scope of people, whose series
    asks whether the daily rollups may answer it).
    """

    scope: Scope
    period: Period
    today: datetime.date
    computed_at: datetime.datetime | None = None

    @property
    def cache_key(self) -> str | None:
        if self.computed_at is None:
            return None
        stamp = self.computed_at.astimezone(datetime.UTC).isoformat()
        return f"dashboard-lists:{self.scope.key}:{self.period.start}:{self.period.end}:{self.today}:{stamp}"

    def compute(self) -> dict:
        return {
            "series": series(self.scope, self.period, "month"),
            "stalled": StalledDealsRunner(self.scope, self.today).run(rotting_stages()),
            "overdue": OverdueDealsRunner(self.scope, self.today).run(),
        }

    def run(self) -> dict:
        key = self.cache_key
        stored = cache_get(key) if key is not None else None
        if stored is not None:
            return stored
        lists = self.compute()
        if key is not None:
            cache_set(key, lists, LISTS_TIMEOUT)
        return lists

    def store(self) -> None:
        """Compute the lists and keep them for the snapshot ``computed_at`` names (the recompute calls this)."""
        cache_set(self.cache_key, self.compute(), LISTS_TIMEOUT)


def dashboard_lists_store(
    *,
    scopes: list[Scope],
    period: Period,
    today: datetime.date,
    computed_at: datetime.datetime,
    found: dict | None = None,
) -> None:
    """Keep every scope's dashboard lists beside the snapshots just written at ``computed_at``.

    The scopes without a product come from one grouped pass (``grouped_lists``: five queries
    for any number of them), or from ``found`` when it was read already (its result for these
    scopes and perhaps more); a scope with a product is computed on its own (four queries).
    """
    cellular = [scope for scope in scopes if scope.product is None]
    if found is None:
        found = grouped_lists(cellular, period, today) if cellular else {}
    for scope in scopes:
        runner = DashboardListsRunner(scope, period, today, computed_at)
        if scope.product is None:
            cache_set(runner.cache_key, found[scope.key], LISTS_TIMEOUT)
        else:
            runner.store()


def grouped_lists(scopes: list[Scope], period: Period, today: datetime.date) -> dict[str, dict]:
    """``DashboardListsRunner.compute`` of each scope (none with a product), from grouped queries.

    Every query groups by cell (``reports.grouped``: a deal's owner, its account's territory and
    its pipeline): the series' sums by cell and month, and the ten biggest stalled and overdue
    deals of each cell with the cell's count. A scope's sums are those of its cells, its ten
    biggest are among its cells' ten biggest, and its count is theirs added up; the rows shown are
    then read once for every scope.
    """
    cells = cell_columns()
    live = Deal.objects.filter(deleted_at__isnull=True)
    stages = rotting_stages()
    limit = StalledDealsRunner.limit
    queries = {
        "closed": series_closed(live, period, "month")
        .values("bucket", "status", **cells)
        .annotate(**series_sums())
        .order_by(),
        "created": series_created(live, period, "month")
        .values("bucket", **cells)
        .annotate(**series_sums(created=True))
        .order_by(),
        "stalled": top_deals_per_group(
            StalledDealsRunner(Scope(), today).deals(live, stages), limit, today, cells
        ),
        "overdue": top_deals_per_group(
            OverdueDealsRunner(Scope(), today).deals(live), limit, today, cells
        ),
    }
    by_cell: dict = defaultdict(lambda: defaultdict(list))
    for name, rows in queries.items():
        for row in rows:
            by_cell[cell_of(row)][name].append(row)
    scope_map = ScopeMap()
    chosen: dict[str, tuple] = {}
    for scope in scopes:
        inside = scope_map.test(scope)
        parts = [part for cell, part in by_cell.items() if inside(cell)]
        picks = {}
        for name in ("stalled", "overdue"):
            rows = [row for part in parts for row in part[name]]
            # Each of a cell's rows carries the cell's count.
            total = sum(part[name][0]["n"] for part in parts if part[name])
            picks[name] = (sorted(rows, key=biggest_key)[:limit], total)
        chosen[scope.key] = (parts, picks)
    shown = deal_rows_shown(
        {row["pk"] for _, picks in chosen.values() for rows, _ in picks.values() for row in rows},
        today,
    )
    found = {}
    for scope in scopes:
        parts, picks = chosen.pop(scope.key)
        lists = {
            "series": series_points(
                period,
                "month",
                [row for part in parts for row in part["closed"]],
                [row for part in parts for row in part["created"]],
            )
        }
        for name, (rows, total) in picks.items():
            lists[name] = {
                "rows": [_shown(shown[row["pk"]], total) for row in rows],
                "total": total,
            }
        found[scope.key] = lists
    return found


def _shown(deal, total: int):
    """A row as ``_top_deals`` gives it: the deal with its list's ``total`` (a copy per list)."""
    row = copy.copy(deal)
    row.total = total
    return row
