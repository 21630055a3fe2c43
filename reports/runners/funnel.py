"""The funnel figures of a scope over a period, and of the period of equal length before it."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from reports.metrics import deal_totals, funnel
from reports.models import MetricSnapshot
from reports.selectors import metric_snapshot_for, metric_snapshot_latest, scope_stale
from reports.services import metric_snapshot_compute
from reports.tasks import recompute_ring, scopes_recompute_soon
from salesmgr.cache import cache_get, cache_set
from salesmgr.values import parse_date

FUNNEL_MONEY = (
    "open_value",
    "avg_open_deal_size",
    "won_value",
    "avg_won_deal_size",
    "sales_velocity",
)


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _typed_funnel(data: dict) -> dict:
    """A stored funnel (JSON: money and dates as text) with the types a live one has."""
    typed = {**data, "start": parse_date(data["start"]), "end": parse_date(data["end"])}
    for name in FUNNEL_MONEY:
        typed[name] = _decimal(data.get(name))
    typed["stages"] = [
        {**stage, "open_value_now": _decimal(stage["open_value_now"])} for stage in data["stages"]
    ]
    return typed


@dataclass(frozen=True)
class FunnelRunner:
    """Every funnel metric of a scope over a period, from its latest snapshot whenever one is at hand.

    For the standard period (the last 90 days) a snapshot is served even when
    deals changed since (``stale``: the recompute they queued will rewrite
    it), and before today's exists yesterday's is (and a recompute is queued).
    A snapshot of another period is served only while nothing changed, since
    no recompute rewrites it. Without a snapshot the funnel is computed live,
    and stored when it is of the standard period. A stored answer costs two
    queries.
    """

    scope: Scope
    period: Period

    def _stored(self) -> dict | None:
        standard = self.period == Period.default()
        if standard:
            snapshot = metric_snapshot_latest(self.scope, self.period)
        else:
            snapshot = metric_snapshot_for(self.scope, self.period.start, self.period.end)
        if snapshot is None:
            return None
        stale = scope_stale(self.scope)
        if stale and not standard:
            return None
        if snapshot.period_end != self.period.end and not stale:
            scopes_recompute_soon(keys={self.scope.key})
            stale = True
        elif stale:
            recompute_ring()
        return {
            **_typed_funnel(snapshot.data),
            "computed_at": snapshot.computed_at,
            "source": "snapshot",
            "stale": stale,
        }

    def run(self) -> dict:
        stored = self._stored()
        if stored is not None:
            return stored
        if self.period == Period.default():
            snapshot = metric_snapshot_compute(scope=self.scope, period=self.period)
            return {
                **snapshot.data,
                "computed_at": snapshot.computed_at,
                "source": "live",
                "stale": False,
            }
        return {
            **funnel(self.scope, self.period),
            "computed_at": timezone.now(),
            "source": "live",
            "stale": False,
        }

    def totals(self) -> dict:
        """The deal-level figures alone: from a snapshot as ``run`` would serve it, else one live query (no stage figures)."""
        stored = self._stored()
        if stored is not None:
            return stored
        return {
            **deal_totals(self.scope, self.period),
            "start": self.period.start,
            "end": self.period.end,
            "computed_at": timezone.now(),
            "source": "live",
            "stale": False,
        }


TOTALS = (
    "open_deals",
    "open_value",
    "avg_open_deal_size",
    "won_deals",
    "won_value",
    "avg_won_deal_size",
    "lost_deals",
    "close_ratio",
    "avg_sales_cycle_days",
    "sales_velocity",
)


@dataclass(frozen=True)
class PreviousTotalsRunner:
    """The deal-level funnel figures of the period of equal length just before ``period``.

    Open deals and open value are those of the pipeline as it stood when that
    period ended. They come from the period's own snapshot when one was kept
    (the nightly run writes it on the period's last day), else from the change
    history, which is heavy: a past moment's figures do not move, so the
    answer is cached, and ``stored()`` says whether one is at hand cheaply.
    """

    scope: Scope
    period: Period
    timeout: int = 6 * 3600

    @property
    def previous(self) -> Period:
        return self.period.previous

    @property
    def cache_key(self) -> str:
        return f"previous-totals:{self.scope.key}:{self.previous.start}:{self.previous.end}"

    def stored(self) -> dict | None:
        """The figures from the cache or the period's snapshot (at most one query), or None."""
        cached = cache_get(self.cache_key)
        if cached is not None:
            return cached
        previous = self.previous
        snapshot = (
            MetricSnapshot.objects.filter(
                scope_key=self.scope.key, period_start=previous.start, period_end=previous.end
            )
            .only("data", "computed_at")
            .first()
        )
        if snapshot is None:
            return None
        data = _typed_funnel(snapshot.data)
        result = {
            **{name: data.get(name) for name in TOTALS},
            "start": previous.start,
            "end": previous.end,
            "computed_at": snapshot.computed_at,
            "source": "snapshot",
        }
        cache_set(self.cache_key, result, self.timeout)
        return result

    def run(self) -> dict:
        stored = self.stored()
        if stored is not None:
            return stored
        previous = self.previous
        moment = start_of(previous.end)
        now = timezone.now()
        totals = deal_totals(self.scope, previous, as_of=moment if moment < now else None)
        result = {
            **{name: totals[name] for name in TOTALS},
            "start": previous.start,
            "end": previous.end,
            "computed_at": now,
            "source": "live",
        }
        cache_set(self.cache_key, result, self.timeout)
        return result
