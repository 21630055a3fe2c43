"""The territory tree: each territory the reader sees, with its owner, members, accounts,
open pipeline, quota and attainment over a period.

A territory's figures cover the territories inside it, as a territory scope
does everywhere else (``Scope.deal_filter``, ``scope_target``): its accounts
and deals are those in it or below it, its quota the roll-up of the quotas of
the reps who are members there (each rep once). Deals and accounts are read
through the reader's selectors, so a manager sees their team's part of a
territory and a rep their own, as the gap page scopes a territory for them.

A fixed number of queries whatever the number of territories: the tree, the
visible territories with owners and members, whether the rollups answer (on
PostgreSQL), one grouped count of accounts, two grouped aggregates of deals
(the open ones, value converted at today's rates; the period's won ones, value
at each deal's close date), the deals each left out for want of a rate (only
when there are any), the memberships, and the quotas. On PostgreSQL the counts
and sums are read from the territory rollups (``reports/rollups.py``: a few
hundred rows per owner and territory, and per day for the won deals), where
each read 142,857 accounts at 1,000,000 deals; SQLite reads the accounts and
deals, with the same figures.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Prefetch, Q, Sum

from pipeline.models import StageKind
from pipeline.money import at_close, at_day, converted, merge_unconverted, unconverted
from pipeline.periods import Period
from pipeline.selectors import (
    account_reach,
    accounts_visible_to,
    deal_reach,
    deals_visible_to,
)
from quotas.models import Territory
from quotas.selectors import quota_targets, territories_visible_to
from reports import rollups
from reports.models import TerritoryAccounts, TerritoryOpen, TerritoryWonDay
from salesmgr.models import Role, User
from salesmgr.selectors import self_and_team_ids_subquery

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def _quota_reach(user: User) -> Q:
    """Whose quotas count for ``user``'s view of a territory: everyone's for an admin, the team's
    for a manager, their own for a rep."""
    if user.is_admin:
        return Q()
    if user.is_manager:
        return Q(owner_id__in=self_and_team_ids_subquery(user.pk))
    return Q(owner_id=user.pk)


def subtrees(parents: dict[int, int | None]) -> dict[int, set[int]]:
    """Each territory's id with the ids of every territory inside it, from ``{id: parent id}``.

    A corrupt loop ends the walk rather than running forever.
    """
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent_id in parents.items():
        children[parent_id].append(pk)
    result = {}
    for pk in parents:
        seen, level = {pk}, [pk]
        while level:
            level = [child for node in level for child in children[node] if child not in seen]
            seen.update(level)
        result[pk] = seen
    return result


@dataclass(frozen=True)
class TerritoryTreeRunner:
    user: User
    period: Period
    today: datetime.date

    def run(self) -> dict:
        """``rows`` in tree order (each with ``depth``), the period, and whether any deal lacked a rate."""
        parents = dict(Territory.objects.values_list("pk", "parent_id"))
        inside = subtrees(parents)
        visible = list(
            territories_visible_to(self.user)
            .select_related("owner")
            .prefetch_related(
                Prefetch("reps", queryset=User.objects.order_by("full_name", "username"))
            )
            .order_by("name", "pk")
        )
        rolled = rollups.ready()
        accounts = self._account_counts(rolled)
        deals, unconverted_items = self._deal_sums(rolled)
        members: dict[int, set[int]] = defaultdict(set)
        for territory_id, user_id in Territory.reps.through.objects.filter(
            user__role=Role.REP
        ).values_list("territory_id", "user_id"):
            members[territory_id].add(user_id)
        window = {"period": (self.period.start, self.period.last_day)}
        targets = quota_targets(Q(owner__role=Role.REP) & _quota_reach(self.user), window)

        rows = []
        for territory in visible:
            below = inside.get(territory.pk, {territory.pk})
            sums = [deals[pk] for pk in below if pk in deals]
            reps = set().union(*(members.get(pk, set()) for pk in below))
            with_quota = [
                targets[rep]["period"] for rep in reps if "period" in targets.get(rep, {})
            ]
            quota = sum(with_quota, ZERO) if with_quota else None
            won = sum((s["won_value"] or ZERO for s in sums), ZERO).quantize(CENT)
            rows.append(
                {
                    "territory": territory,
                    "owner": territory.owner,
                    "members": list(territory.reps.all()),
                    "accounts": sum(accounts.get(pk, 0) for pk in below),
                    "open_deals": sum(s["open_deals"] for s in sums),
                    "open_value": sum((s["open_value"] or ZERO for s in sums), ZERO).quantize(CENT),
                    "won_deals": sum(s["won_deals"] for s in sums),
                    "won_value": won,
                    "quota": quota,
                    "attainment": float(won / quota) if quota else None,
                    "unconverted": merge_unconverted(
                        *(unconverted_items.get(pk, []) for pk in below)
                    ),
                }
            )
        return {"rows": tree_order(rows), "period": self.period}

    def _account_counts(self, rolled: bool) -> dict[int, int]:
        """How many accounts the reader sees in each territory (its own accounts only): from the
        rollup when ``rolled`` (every account of 142,857 at 1,000,000 deals was read: 40 ms)."""
        if rolled:
            rows = TerritoryAccounts.objects.filter(account_reach(self.user)).exclude(accounts=0)
            counted = Sum("accounts")
        else:
            rows = accounts_visible_to(self.user).filter(territory_id__isnull=False)
            counted = Count("pk")
        return dict(rows.values_list("territory").annotate(counted).order_by())

    def _deal_sums(self, rolled: bool) -> tuple[dict[int, dict], dict[int, list[dict]]]:
        """Per territory (its own accounts only): open deals and value, won deals and value in the
        period, and the deals each sum left out for want of a rate, per currency.

        From the territory rollups when ``rolled``, else from the deals.
        """
        if rolled:
            start, end = self.period.start, self.period.end
            reach = deal_reach(self.user)
            parts = {
                "open": (TerritoryOpen.objects.filter(reach), converted(on=self.today)),
                "won": (
                    TerritoryWonDay.objects.filter(reach, day__gte=start, day__lt=end),
                    at_day(),
                ),
            }
            # A row whose deals all left it stays, at zero.
            parts = {name: (rows.exclude(deals=0), value) for name, (rows, value) in parts.items()}
            counted = Sum("deals")
        else:
            parts, counted = self._deal_parts(), Count("pk")
        sums: dict[int, dict] = defaultdict(
            lambda: {"open_deals": 0, "open_value": None, "won_deals": 0, "won_value": None}
        )
        left_out: dict[int, list[dict]] = defaultdict(list)
        for name, (rows, value) in parts.items():
            missing = False
            for row in (
                rows.values("territory")
                .annotate(
                    n=counted,
                    value=Sum(value),
                    left_out=Count("pk", filter=unconverted(value)),
                )
                .order_by()
            ):
                sums[row["territory"]].update(
                    {f"{name}_deals": row["n"], f"{name}_value": row["value"]}
                )
                missing = missing or bool(row["left_out"])
            if missing:
                for row in _unconverted(rows.filter(unconverted(value)), counted):
                    left_out[row.pop("territory")].append(row)
        return dict(sums), {pk: merge_unconverted(items) for pk, items in left_out.items()}

    def _deal_parts(self) -> dict[str, tuple]:
        """The open deals and the period's won ones, each with its value, ``territory`` their
        account's, read from the deals.

        Each is read from the index of its status that carries the account, currency and amount,
        never from the table: one read of both (``open OR won``) had to visit the table for 160,000
        deals at 1,000,000 (0.5 s).
        """
        start, end = self.period.bounds
        deals = (
            deals_visible_to(self.user)
            .filter(account__territory_id__isnull=False, account__deleted_at__isnull=True)
            .annotate(territory=F("account__territory_id"))
        )
        return {
            "open": (deals.filter(status=StageKind.OPEN), converted(on=self.today)),
            "won": (
                deals.filter(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end),
                at_close(),
            ),
        }


def _unconverted(rows, counted) -> list[dict]:
    """The deals of ``rows`` left out for want of a rate, per territory and currency (``counted``
    counts the deals of a row: one a deal, ``deals`` a rollup's row)."""
    return [
        {
            "territory": row["territory"],
            "currency": row["currency"],
            "deals": row["n"],
            "value": (row["value"] or ZERO).quantize(CENT),
        }
        for row in rows.values("territory", "currency")
        .annotate(n=counted, value=Sum("amount"))
        .order_by("territory", "currency")
    ]


def tree_order(rows: list[dict]) -> list[dict]:
    """``rows`` as a tree walk: each territory after its parent, siblings by name, with ``depth``.

    A territory whose parent the reader does not see starts a tree of its own.
    """
    by_id = {row["territory"].pk: row for row in rows}
    children: dict[int | None, list[dict]] = defaultdict(list)
    for row in rows:
        parent_id = row["territory"].parent_id
        children[parent_id if parent_id in by_id else None].append(row)
    ordered: list[dict] = []
    seen: set[int] = set()
    stack = [(row, 0) for row in reversed(children[None])]
    while stack:
        row, depth = stack.pop()
        if row["territory"].pk in seen:
            continue
        seen.add(row["territory"].pk)
        ordered.append({**row, "depth": depth})
        stack.extend((child, depth + 1) for child in reversed(children[row["territory"].pk]))
    return ordered


__all__ = ["TerritoryTreeRunner", "subtrees", "tree_order"]
