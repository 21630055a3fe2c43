"""Created, won and lost deals per week or month."""

from dataclasses import dataclass

from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.metrics import series


@dataclass(frozen=True)
class SeriesRunner:
    """Created, won and lost deals and value per week or month, zero-filled (always live: two grouped queries)."""

    scope: Scope
    period: Period
    interval: str = "month"

    def run(self) -> list[dict]:
        return series(self.scope, self.period, self.interval)
