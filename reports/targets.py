"""A scope's target for a period: the one place that says what a team, a territory or a person must win.

Quotas are prorated by the days of their periods inside the period asked for
(``quotas.selectors.prorated_target``). A manager's team target is their own
quota or the roll-up of their team's, as they chose (``team_targets``); a
territory's, the organisation's and a team within a territory are the roll-up
of the reps' quotas there. Pipelines and products have no target: quotas do
not split by deal.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from pipeline.periods import Period
from pipeline.scopes import Scope
from quotas.models import TargetBasis
from quotas.selectors import quota_targets, team_targets
from salesmgr.models import Role

BASIS_TEXT = {
    TargetBasis.OWN: "the manager's own quota",
    TargetBasis.ROLLUP: "the roll-up of the team's quotas",
}


@dataclass(frozen=True)
class ScopeTarget:
    amount: Decimal
    basis: str  # a TargetBasis: "own" for a person's own quotas, "rollup" for a sum over people
    description: str


def scope_target(scope: Scope, period: Period) -> ScopeTarget | None:
    """What ``scope`` must win in ``period``; None for a pipeline or product scope (at most two queries)."""
    owners = scope.quota_owner_filter()
    if owners is None:
        return None
    window = {"period": (period.start, period.last_day)}
    if scope == Scope(team=scope.team) and scope.team is not None:
        figure = team_targets(scope.team, window).get(scope.team, {}).get("period")
        if figure is None:
            return ScopeTarget(Decimal("0.00"), TargetBasis.ROLLUP, BASIS_TEXT[TargetBasis.ROLLUP])
        text = BASIS_TEXT[figure.basis]
        if not figure.chosen:
            text += " (no choice made: their own quota where they have one)"
        return ScopeTarget(figure.amount, figure.basis, text)
    if scope.owner is not None:
        amount = quota_targets(owners, window).get(scope.owner, {}).get("period", Decimal("0.00"))
        return ScopeTarget(amount, TargetBasis.OWN, "their own quota")
    reps = quota_targets(owners & Q(owner__role=Role.REP), window)
    amount = sum((by_window["period"] for by_window in reps.values()), Decimal("0.00"))
    return ScopeTarget(amount, TargetBasis.ROLLUP, "the roll-up of the reps' quotas")
