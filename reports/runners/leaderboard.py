"""Reps ranked by quota attainment this month."""

import datetime
from dataclasses import dataclass

from django.db.models import Q

from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.runners.attainment import quota_attainment
from salesmgr.models import Role


@dataclass(frozen=True)
class LeaderboardRunner:
    """Reps of a scope ranked by quota attainment in the calendar month of ``today`` (one grouped query).

    Pipeline and product scopes have no quotas (they do not split by deal), so no leaderboard.
    The ranking sorts at most one row per rep.
    """

    scope: Scope
    today: datetime.date
    limit: int = 20

    def run(self) -> dict:
        window = Period.named("month", self.today)
        owners = self.scope.quota_owner_filter()
        if owners is None:
            return {"applies": False, "window": window, "rows": [], "total": 0}
        people = quota_attainment(owners & Q(owner__role=Role.REP), {"month": window})
        ranked = sorted(
            people.values(),
            key=lambda p: (
                p["month"]["attainment"] is None,
                -(p["month"]["attainment"] or 0),
                p["name"],
            ),
        )
        rows = [
            {"rank": rank, "owner_id": p["owner_id"], "name": p["name"], **p["month"]}
            for rank, p in enumerate(ranked[: self.limit], start=1)
        ]
        return {"applies": True, "window": window, "rows": rows, "total": len(ranked)}
