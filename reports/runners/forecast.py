"""The forecasts of a scope as of a date, one per horizon."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from pipeline.scopes import Scope
from reports.forecasts import FORECAST_FIELDS, HORIZONS, METHODS
from reports.models import ForecastSnapshot
from reports.selectors import forecast_snapshots_for, forecast_snapshots_latest, scope_stale
from reports.services import forecast_snapshots_compute
from reports.tasks import recompute_ring, scopes_recompute_soon


def _figures(
    scope: Scope, snapshot: ForecastSnapshot, *, source: str, stale: bool, live: bool = False
) -> dict:
    stored = {name: getattr(snapshot, name) for name in FORECAST_FIELDS}
    quota = stored["quota"]
    stored["gap"] = {
        method: None if quota is None else quota - stored["won_in_window"] - stored[method]
        for method in METHODS
    }
    return {
        "scope": scope.key,
        "as_of": snapshot.as_of,
        "horizon": snapshot.horizon,
        "window_end": snapshot.as_of + datetime.timedelta(days=snapshot.horizon),
        "live": live,
        "computed_at": snapshot.computed_at,
        "source": source,
        "stale": stale,
        **stored,
    }


@dataclass(frozen=True)
class ForecastRunner:
    """The forecasts of a scope as of a date, one per horizon, from their latest snapshots whenever at hand.

    Today's snapshots are served even when deals changed since (``stale``: the
    recompute they queued will rewrite them), and before today's exist the
    latest of the past week are (and a recompute is queued). A past date's
    say what the forecast said then, which no later change moves. Without a
    snapshot every horizon is computed live in one pass over the history and
    stored. A stored answer costs two queries.
    """

    scope: Scope
    as_of: datetime.date
    horizons: tuple[int, ...] = HORIZONS

    def run(self) -> list[dict]:
        today = self.as_of >= timezone.localdate()
        if today:
            snapshots = forecast_snapshots_latest(self.scope, self.as_of, self.horizons)
        else:
            snapshots = forecast_snapshots_for(self.scope, self.as_of, self.horizons)
        if len(snapshots) == len(set(self.horizons)):
            stale = today and scope_stale(self.scope)
            if today and not stale and snapshots[self.horizons[0]].as_of != self.as_of:
                scopes_recompute_soon(keys={self.scope.key})
                stale = True
            elif stale:
                recompute_ring()
            return [
                _figures(self.scope, snapshots[h], source="snapshot", stale=stale)
                for h in self.horizons
            ]
        computed = {
            snapshot.horizon: snapshot
            for snapshot in forecast_snapshots_compute(scope=self.scope, as_of=self.as_of)
        }
        return [
            _figures(self.scope, computed[h], source="live", stale=False, live=today)
            for h in self.horizons
        ]
