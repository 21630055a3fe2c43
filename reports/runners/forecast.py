"""The forecasts of a scope as of a date, one per horizon."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from pipeline.scopes import Scope
from reports.forecasts import (
    FORECAST_FIELDS,
    HORIZONS,
    METHODS,
    closing_stats,
    forecast,
    moment_of,
)
from reports.selectors import forecast_snapshot_for


@dataclass(frozen=True)
class ForecastRunner:
    """The forecasts of a scope as of a date, one per horizon: each from its snapshot when fresh, else live.

    Live horizons share one pass over the history.
    """

    scope: Scope
    as_of: datetime.date
    horizons: tuple[int, ...] = HORIZONS

    def run(self) -> list[dict]:
        now = timezone.now()
        training = None
        figures = []
        for horizon in self.horizons:
            snapshot = forecast_snapshot_for(self.scope, self.as_of, horizon)
            if snapshot is None:
                if training is None:
                    training = closing_stats(self.scope, *moment_of(self.as_of, now))
                live = forecast(self.scope, self.as_of, horizon, now=now, training=training)
                figures.append({**live, "computed_at": now, "source": "live"})
                continue
            stored = {name: getattr(snapshot, name) for name in FORECAST_FIELDS}
            quota = stored["quota"]
            stored["gap"] = {
                method: None if quota is None else quota - stored["won_in_window"] - stored[method]
                for method in METHODS
            }
            figures.append(
                {
                    "scope": self.scope.key,
                    "as_of": self.as_of,
                    "horizon": horizon,
                    "window_end": self.as_of + datetime.timedelta(days=horizon),
                    "live": False,
                    "computed_at": snapshot.computed_at,
                    "source": "snapshot",
                    **stored,
                }
            )
        return figures
