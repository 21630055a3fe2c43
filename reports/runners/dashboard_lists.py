"""The dashboard's deal-derived lists (won value by month, stalled and overdue deals), kept beside the snapshots.

Reading them live costs several scans of the scope's deals per request, which
grows with the deals. The recompute that writes a scope's snapshots also
stores its lists in the cache, keyed by the snapshot's ``computed_at``; a read
of that snapshot finds them there, so a stale scope shows lists exactly as old
as its figures, and the lists change when the figures do.
"""

import datetime
from dataclasses import dataclass

from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.metrics import series
from reports.runners.attention import OverdueDealsRunner, StalledDealsRunner, rotting_stages
from salesmgr.cache import cache_get, cache_set

# Longer than a day: the nightly run rewrites every standard scope's lists before this runs out.
LISTS_TIMEOUT = 36 * 3600


@dataclass(frozen=True)
class DashboardListsRunner:
    """A scope's won-by-month series and its stalled and overdue deals on ``today``, as of a snapshot.

    ``computed_at`` names the snapshot the lists go with; None (the figures
    were computed live) reads them live too. A cached answer costs no query;
    a live one four.
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
    *, scopes: list[Scope], period: Period, today: datetime.date, computed_at: datetime.datetime
) -> None:
    """Keep every scope's dashboard lists beside the snapshots just written at ``computed_at`` (four queries a scope)."""
    for scope in scopes:
        DashboardListsRunner(scope, period, today, computed_at).store()
