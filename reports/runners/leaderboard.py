"""Reps ranked by quota attainment this month, or by a period that has data early in a month."""

import datetime
from dataclasses import dataclass

from django.db.models import Q

from pipeline.periods import DAY, Period
from pipeline.scopes import Scope
from reports.runners.attainment import quota_attainment
from salesmgr.models import Role


def _bases(today: datetime.date) -> dict[str, Period]:
    """The periods a ranking may use, in the order tried: this month, this quarter, last month."""
    month = Period.named("month", today)
    return {
        "month": month,
        "quarter": Period.named("quarter", today),
        "last_month": Period.named("month", month.start - DAY),
    }


def _label(basis: str, window: Period) -> str:
    if basis == "quarter":
        return f"Q{(window.start.month - 1) // 3 + 1} {window.start.year}"
    return window.start.strftime("%B %Y")


@dataclass(frozen=True)
class LeaderboardRunner:
    """Reps of a scope ranked by quota attainment in the calendar month of ``today`` (one grouped query).

    Until someone in the scope has won a deal this month, every rep would
    show 0% and the order would be alphabetical: the ranking then uses this
    quarter, or when the quarter has no won deal either (its first days), the
    last complete month. ``basis`` says which ("month", "quarter" or
    "last_month") and ``label`` names its period.

    Pipeline and product scopes have no quotas (they do not split by deal), so no leaderboard.
    The ranking sorts at most one row per rep.
    """

    scope: Scope
    today: datetime.date
    limit: int = 20

    def run(self) -> dict:
        bases = _bases(self.today)
        month = bases["month"]
        owners = self.scope.quota_owner_filter()
        if owners is None:
            return {
                "applies": False,
                "basis": "month",
                "window": month,
                "month": month,
                "label": _label("month", month),
                "rows": [],
                "total": 0,
            }
        people = quota_attainment(owners & Q(owner__role=Role.REP), bases)
        basis = next(
            (name for name in bases if any(p[name]["won"] for p in people.values())), "month"
        )
        in_basis = [p for p in people.values() if p[basis]["quotas"]]
        ranked = sorted(
            in_basis,
            key=lambda p: (
                p[basis]["attainment"] is None,
                -(p[basis]["attainment"] or 0),
                p["name"],
            ),
        )
        rows = [
            {"rank": rank, "owner_id": p["owner_id"], "name": p["name"], **p[basis]}
            for rank, p in enumerate(ranked[: self.limit], start=1)
        ]
        window = bases[basis]
        return {
            "applies": True,
            "basis": basis,
            "window": window,
            "month": month,
            "label": _label(basis, window),
            "rows": rows,
            "total": len(ranked),
        }
