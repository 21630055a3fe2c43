"""The territory tree: each territory the reader sees, with its owner, members, accounts,
open pipeline, quota and attainment over a period.

A territory's figures cover the territories inside it, as a territory scope
does everywhere else (``Scope.deal_filter``, ``scope_target``): its accounts
and deals are those in it or below it, its quota the roll-up of the quotas of
the reps who are members there (each rep once). Deals and accounts are read
through the reader's selectors, so a manager sees their team's part of a
territory and a rep their own, as the gap page scopes a territory for them.

A fixed number of queries whatever the number of territories: the tree, the
visible territories with owners and members, one grouped count of accounts,
two grouped aggregates of deals (the open ones, value converted at today's
rates; the period's won ones, value at each deal's close date), the deals each
left out for want of a rate (only when there are any), the memberships, and the quotas.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, Sum

from pipeline.models import StageKind
from pipeline.money import (
    at_close,
    converted,
    merge_unconverted,
    unconverted,
    unconverted_count,
)
from pipeline.periods import Period
from pipeline.selectors import accounts_visible_to, deals_visible_to
from quotas.models import Territory
from quotas.selectors import quota_targets, territories_visible_to
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
        accounts = dict(
            accounts_visible_to(self.user)
            .filter(territory_id__isnull=False)
            .values_list("territory_id")
            .annotate(Count("pk"))
            .order_by()
        )
        deals, unconverted_items = self._deal_sums()
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

    def _deal_sums(self) -> tuple[dict[int, dict], dict[int, list[dict]]]:
        """Per territory (its own accounts only): open deals and value, won deals and value in the
        period, and the deals each sum left out for want of a rate, per currency.

        Open deals and the period's won deals are read apart, each from the index of its status
        that carries the account, currency and amount, never from the table: one read of both
        (``open OR won``) had to visit the table for 160,000 deals at 1,000,000 (0.5 s).
        """
        start, end = self.period.bounds
        parts = {
            "open": (Q(status=StageKind.OPEN), converted(on=self.today)),
            "won": (Q(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end), at_close()),
        }
        # Only open deals and those won in the period count: the rest are never read.
        deals = deals_visible_to(self.user).filter(
            account__territory_id__isnull=False, account__deleted_at__isnull=True
        )
        sums: dict[int, dict] = defaultdict(
            lambda: {"open_deals": 0, "open_value": None, "won_deals": 0, "won_value": None}
        )
        left_out: dict[int, list[dict]] = defaultdict(list)
        for name, (condition, value) in parts.items():
            rows = deals.filter(condition)
            missing = False
            for row in (
                rows.values("account__territory_id")
                .annotate(n=Count("pk"), value=Sum(value), left_out=unconverted_count(value, Q()))
                .order_by()
            ):
                sums[row["account__territory_id"]].update(
                    {f"{name}_deals": row["n"], f"{name}_value": row["value"]}
                )
                missing = missing or bool(row["left_out"])
            if missing:
                for row in _unconverted(rows.filter(unconverted(value))):
                    left_out[row.pop("account__territory_id")].append(row)
        return dict(sums), {pk: merge_unconverted(items) for pk, items in left_out.items()}


def _unconverted(rows) -> list[dict]:
    """The deals of ``rows`` left out for want of a rate, per territory and currency."""
    return [
        {
            "account__territory_id": row["account__territory_id"],
            "currency": row["currency"],
            "deals": row["deals"],
            "value": (row["value"] or ZERO).quantize(CENT),
        }
        for row in rows.values("account__territory_id", "currency")
        .annotate(deals=Count("pk"), value=Sum("amount"))
        .order_by("account__territory_id", "currency")
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
