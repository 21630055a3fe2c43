"""How past forecasts of a scope compared with what was won."""

import datetime
from dataclasses import dataclass

from pipeline.scopes import Scope
from reports.forecasts import METHODS
from reports.selectors import accuracy_summary, matured_forecasts


@dataclass(frozen=True)
class AccuracyRunner:
    """Matured forecasts of a scope against what was won: per snapshot (oldest first, at most
    ``limit``) and summarised per horizon and method (two queries)."""

    scope: Scope
    horizon: int | None = None
    start: datetime.date | None = None
    end: datetime.date | None = None
    limit: int = 1000

    def run(self) -> dict:
        snapshots = matured_forecasts(
            self.scope, horizon=self.horizon, start=self.start, end=self.end
        )
        rows = []
        for snapshot in snapshots[: self.limit]:
            methods = {}
            for method in METHODS:
                value = getattr(snapshot, method)
                error = value - snapshot.actual
                methods[method] = {
                    "forecast": value,
                    "error": error,
                    "abs_pct_error": float(abs(error) / snapshot.actual)
                    if snapshot.actual
                    else None,
                }
            rows.append(
                {
                    "as_of": snapshot.as_of,
                    "horizon": snapshot.horizon,
                    "actual": snapshot.actual,
                    "methods": methods,
                }
            )
        return {"scope": self.scope.key, "summary": accuracy_summary(snapshots), "snapshots": rows}
