"""Which territory the assignment rules give an account, and which rep then receives it.

One meaning, two forms: ``territory_for`` decides for one account in Python
(the account services use it on every create and edit), and
``winning_territory`` and ``winning_rule`` build the same decision as one SQL
``CASE`` for every account at once (previews and realignments). Both walk the
rules in the same order, ``RULE_ORDER``: the lowest priority first, then the
lowest territory id, then the lowest rule id, so a tie always ends the same way.

Text conditions (regions, industries, postcode prefixes) ignore case; an
account without a value never meets a condition on it. An account no rule
matches keeps its territory: the rules claim accounts, they never release them.
"""

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import BooleanField, Case, Count, F, IntegerField, Q, Sum, Value, When
from django.utils import timezone

from pipeline.checks.territories import RULE_FIELDS
from pipeline.models import Account, Deal, StageKind, TerritoryRule
from pipeline.money import converted, merge_unconverted, unconverted
from quotas.models import HandoverRule, Territory


@dataclass(frozen=True)
class RuleSpec:
    """A rule's conditions as plain values: a saved rule, or one proposed in a preview (``rule_id`` None)."""

    territory_id: int
    priority: int
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    employees_min: int | None = None
    employees_max: int | None = None
    revenue_min: Decimal | None = None
    revenue_max: Decimal | None = None
    postcode_prefixes: tuple[str, ...] = ()
    account_ids: frozenset[int] = field(default_factory=frozenset)
    rule_id: int | None = None

    def values(self) -> dict:
        """The priority and conditions as a rule stores them (lists where this holds tuples)."""
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in ((name, getattr(self, name)) for name in RULE_FIELDS)
        }

    @classmethod
    def of(cls, rule: TerritoryRule, account_ids: Iterable[int]) -> "RuleSpec":
        return cls(
            territory_id=rule.territory_id,
            priority=rule.priority,
            countries=tuple(rule.countries),
            regions=tuple(rule.regions),
            industries=tuple(rule.industries),
            employees_min=rule.employees_min,
            employees_max=rule.employees_max,
            revenue_min=rule.revenue_min,
            revenue_max=rule.revenue_max,
            postcode_prefixes=tuple(rule.postcode_prefixes),
            account_ids=frozenset(account_ids),
            rule_id=rule.pk,
        )


def rule_order(rule: RuleSpec) -> tuple:
    """The order rules are tried in: priority, territory, then saved rules by id before proposed ones."""
    return (rule.priority, rule.territory_id, rule.rule_id is None, rule.rule_id or 0)


def rules_saved() -> list[RuleSpec]:
    """Every saved rule, in the order they are tried (two queries)."""
    named: dict[int, list[int]] = {}
    through = TerritoryRule.accounts.through.objects.values_list("territoryrule_id", "account_id")
    for rule_id, account_id in through:
        named.setdefault(rule_id, []).append(account_id)
    rules = [RuleSpec.of(rule, named.get(rule.pk, ())) for rule in TerritoryRule.objects.all()]
    return sorted(rules, key=rule_order)


@dataclass(frozen=True)
class AccountFacts:
    """What the rules read of an account."""

    pk: int | None
    country: str = ""
    region: str = ""
    industry: str = ""
    employee_count: int | None = None
    annual_revenue: Decimal | None = None
    postcode: str = ""

    @classmethod
    def of(cls, account: Account) -> "AccountFacts":
        return cls(
            pk=account.pk,
            country=account.country,
            region=account.region,
            industry=account.industry,
            employee_count=account.employee_count,
            annual_revenue=account.annual_revenue,
            postcode=account.postcode,
        )


def _in_folded(value: str, choices: Sequence[str]) -> bool:
    return bool(value) and value.casefold() in {choice.casefold() for choice in choices}


def rule_matches(rule: RuleSpec, account: AccountFacts) -> bool:
    """Whether every condition of ``rule`` holds for ``account``."""
    if rule.countries and account.country.upper() not in {code.upper() for code in rule.countries}:
        return False
    if rule.regions and not _in_folded(account.region, rule.regions):
        return False
    if rule.industries and not _in_folded(account.industry, rule.industries):
        return False
    for low, high, value in (
        (rule.employees_min, rule.employees_max, account.employee_count),
        (rule.revenue_min, rule.revenue_max, account.annual_revenue),
    ):
        if (low is not None or high is not None) and value is None:
            return False
        if low is not None and value < low:
            return False
        if high is not None and value > high:
            return False
    if rule.postcode_prefixes:
        postcode = account.postcode.casefold()
        if not any(postcode.startswith(prefix.casefold()) for prefix in rule.postcode_prefixes):
            return False
    return not (rule.account_ids and account.pk not in rule.account_ids)


def territory_for(rules: Sequence[RuleSpec], account: AccountFacts) -> RuleSpec | None:
    """The rule that places ``account`` (the first in ``rule_order`` that matches); None when none does."""
    for rule in sorted(rules, key=rule_order):
        if rule_matches(rule, account):
            return rule
    return None


def _any_of(lookup: str, values: Iterable[str]) -> Q:
    condition = Q()
    for value in values:
        condition |= Q(**{lookup: value})
    return condition


def rule_condition(rule: RuleSpec, prefix: str = "") -> Q:
    """``rule_matches`` as an SQL condition on accounts (``prefix`` reaches them from another model)."""
    condition = Q()
    if rule.countries:
        condition &= Q(
            **{f"{prefix}country__in": sorted({code.upper() for code in rule.countries})}
        )
    if rule.regions:
        condition &= _any_of(f"{prefix}region__iexact", rule.regions) & ~Q(
            **{f"{prefix}region": ""}
        )
    if rule.industries:
        condition &= _any_of(f"{prefix}industry__iexact", rule.industries) & ~Q(
            **{f"{prefix}industry": ""}
        )
    for name, low, high in (
        ("employee_count", rule.employees_min, rule.employees_max),
        ("annual_revenue", rule.revenue_min, rule.revenue_max),
    ):
        if low is not None:
            condition &= Q(**{f"{prefix}{name}__gte": low})
        if high is not None:
            condition &= Q(**{f"{prefix}{name}__lte": high})
    if rule.postcode_prefixes:
        condition &= _any_of(f"{prefix}postcode__istartswith", rule.postcode_prefixes)
    if rule.account_ids:
        condition &= Q(**{f"{prefix}pk__in": sorted(rule.account_ids)})
    return condition


def winning_territory(rules: Sequence[RuleSpec]) -> Case:
    """Each account's territory under ``rules``: the first matching rule's, else the one it has."""
    whens = [
        When(rule_condition(rule), then=Value(rule.territory_id))
        for rule in sorted(rules, key=rule_order)
    ]
    return Case(*whens, default=F("territory_id"), output_field=IntegerField())


def winning_rule(rules: Sequence[RuleSpec]) -> Case:
    """The position in ``rule_order`` of the rule that places each account; None when none does."""
    ordered = sorted(rules, key=rule_order)
    whens = [When(rule_condition(rule), then=Value(index)) for index, rule in enumerate(ordered)]
    return Case(*whens, default=Value(None), output_field=IntegerField())


@dataclass
class Staffing:
    """A territory's members and how it picks the one who receives an account; changes as picks are made."""

    territory_id: int
    member_ids: list[int]
    handover_rule: str = HandoverRule.ROUND_ROBIN
    named_rep_id: int | None = None
    round_robin_next: int = 0

    def keeps(self, owner_id: int) -> bool:
        """Whether an account owned by ``owner_id`` may stay with its owner here (no members: anyone)."""
        return not self.member_ids or owner_id in self.member_ids

    def pick(self, open_deals: dict[int, int]) -> int | None:
        """The member who receives the next account; ``open_deals`` counts each person's open deals.

        Round robin walks the members by id; fewest open deals takes the
        member with the fewest, the lowest id on a tie; a named rep takes all.
        """
        members = sorted(self.member_ids)
        if not members:
            return None
        if self.handover_rule == HandoverRule.NAMED_REP and self.named_rep_id in members:
            return self.named_rep_id
        if self.handover_rule == HandoverRule.FEWEST_OPEN_DEALS:
            return min(members, key=lambda member: (open_deals.get(member, 0), member))
        chosen = members[self.round_robin_next % len(members)]
        self.round_robin_next = (self.round_robin_next + 1) % len(members)
        return chosen


@dataclass(frozen=True)
class TerritoryChange:
    """A proposed change to one territory: its whole rule set, its members, or both (None: unchanged)."""

    territory_id: int
    rules: tuple[RuleSpec, ...] | None = None
    member_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PlannedMove:
    """One account that a realignment moves, and what of its open deals moves with it."""

    account_id: int
    from_territory_id: int | None
    to_territory_id: int | None
    from_owner_id: int
    to_owner_id: int
    rule: RuleSpec | None
    deals: int
    value: Decimal
    # The deals among ``deals`` without a rate: (currency, how many, value as entered) each.
    unconverted: tuple[tuple[str, int, Decimal], ...] = ()


@dataclass
class RealignmentPlan:
    """Every move a realignment makes, in account order, and where each round robin ends."""

    moves: list[PlannedMove]
    round_robin_next: dict[int, int]

    def groups(self) -> list[dict]:
        """The moves summed per (from territory, from owner, to territory, to owner), in that order.

        ``value`` is in the reporting currency, to the cent; ``unconverted``
        lists per currency the deals left out of it for want of a rate.
        """
        totals: dict[tuple, dict] = {}
        missing: dict[tuple, list[dict]] = {}
        for move in self.moves:
            key = (
                move.from_territory_id,
                move.from_owner_id,
                move.to_territory_id,
                move.to_owner_id,
            )
            group = totals.setdefault(key, {"accounts": 0, "deals": 0, "value": Decimal("0")})
            group["accounts"] += 1
            group["deals"] += move.deals
            group["value"] += move.value
            missing.setdefault(key, []).extend(
                {"currency": currency, "deals": count, "value": amount}
                for currency, count, amount in move.unconverted
            )
        return [
            {
                "from_territory": k[0],
                "from_owner": k[1],
                "to_territory": k[2],
                "to_owner": k[3],
                **totals[k],
                "value": cents(totals[k]["value"]),
                "unconverted": merge_unconverted(missing[k]),
            }
            for k in sorted(totals, key=lambda k: tuple((v is None, v or 0) for v in k))
        ]


def staffing_saved(changes: Sequence[TerritoryChange] = ()) -> dict[int, Staffing]:
    """Every territory's staffing, with the proposed members of ``changes`` in place (two queries)."""
    members: dict[int, list[int]] = {}
    for territory_id, user_id in Territory.reps.through.objects.values_list(
        "territory_id", "user_id"
    ):
        members.setdefault(territory_id, []).append(user_id)
    for change in changes:
        if change.member_ids is not None:
            members[change.territory_id] = list(change.member_ids)
    return {
        pk: Staffing(
            territory_id=pk,
            member_ids=members.get(pk, []),
            handover_rule=handover_rule,
            named_rep_id=named_rep_id,
            round_robin_next=round_robin_next,
        )
        for pk, handover_rule, named_rep_id, round_robin_next in Territory.objects.values_list(
            "pk", "handover_rule", "named_rep_id", "round_robin_next"
        )
    }


def rules_with(changes: Sequence[TerritoryChange]) -> list[RuleSpec]:
    """The saved rules, each changed territory's replaced by its proposed ones."""
    replaced = {change.territory_id for change in changes if change.rules is not None}
    rules = [rule for rule in rules_saved() if rule.territory_id not in replaced]
    for change in changes:
        rules += list(change.rules or ())
    return sorted(rules, key=rule_order)


_OPEN = Q(status=StageKind.OPEN, deleted_at__isnull=True)


def realignment_plan(
    *, changes: Sequence[TerritoryChange] = (), today: datetime.date | None = None
) -> RealignmentPlan:
    """What a realignment under the saved rules and staffing, with ``changes``, would move; writes nothing.

    An account moves when the rules give it another territory, or when its
    owner is not a member of its (new) territory that has members; it then
    goes to the member its territory's handover rule picks, and its open
    deals not already theirs go with it. Pinned and deleted accounts stay.
    Accounts are taken in id order, so round robins and open-deal counts
    advance the same way in a preview and in the apply that follows. Values
    are in the reporting currency at ``today``'s rates (default: the local
    date); a deal in a currency without a rate is counted, and listed per
    currency in ``unconverted``, but left out of the value.
    """
    rules = rules_with(changes)
    staffing = staffing_saved(changes)
    ordered = sorted(rules, key=rule_order)
    owner_elsewhere = [
        When(Q(target=pk) & ~Q(owner_id__in=staff.member_ids), then=Value(True))
        for pk, staff in staffing.items()
        if staff.member_ids
    ]
    accounts = (
        Account.objects.filter(deleted_at__isnull=True, territory_pinned=False)
        .annotate(
            target=winning_territory(ordered),
            rule_at=winning_rule(ordered),
        )
        .annotate(
            owner_elsewhere=Case(
                *owner_elsewhere, default=Value(False), output_field=BooleanField()
            )
        )
        .filter(
            Q(owner_elsewhere=True)
            | (Q(target__isnull=False) & (Q(territory__isnull=True) | ~Q(territory_id=F("target"))))
        )
    )
    rows = list(
        accounts.order_by("pk").values_list("pk", "territory_id", "owner_id", "target", "rule_at")
    )
    value = converted(on=today or timezone.localdate())
    open_deals_moving = Deal.objects.filter(_OPEN, account__in=accounts.values("pk"))
    deal_owners: dict[int, list[tuple[int, int, Decimal]]] = {}
    for account_id, owner_id, count, amount in (
        open_deals_moving.values_list("account_id", "owner_id")
        .annotate(count=Count("pk"), value=Sum(value))
        .order_by()
    ):
        deal_owners.setdefault(account_id, []).append((owner_id, count, amount or Decimal("0")))
    no_rate: dict[tuple[int, int], list[tuple[str, int, Decimal]]] = {}
    for account_id, owner_id, currency, count, amount in (
        open_deals_moving.filter(unconverted(value))
        .values_list("account_id", "owner_id", "currency")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    ):
        no_rate.setdefault((account_id, owner_id), []).append((currency, count, amount))
    members = {member for staff in staffing.values() for member in staff.member_ids}
    open_deals = dict(
        Deal.objects.filter(_OPEN, owner_id__in=members)
        .values_list("owner_id")
        .annotate(Count("pk"))
        .order_by()
    )
    moves = []
    for account_id, territory_id, owner_id, target, rule_at in rows:
        staff = staffing.get(target) if target is not None else None
        to_owner = owner_id
        if staff is not None and not staff.keeps(owner_id):
            to_owner = staff.pick(open_deals) or owner_id
        deals, moved_value, missing = 0, Decimal("0.00"), []
        if to_owner != owner_id:
            for deal_owner, count, amount in deal_owners.get(account_id, ()):
                if deal_owner != to_owner:
                    deals += count
                    moved_value += amount
                    missing += no_rate.get((account_id, deal_owner), ())
                    open_deals[deal_owner] = open_deals.get(deal_owner, 0) - count
                    open_deals[to_owner] = open_deals.get(to_owner, 0) + count
        moves.append(
            PlannedMove(
                account_id=account_id,
                from_territory_id=territory_id,
                to_territory_id=target,
                from_owner_id=owner_id,
                to_owner_id=to_owner,
                rule=ordered[rule_at] if rule_at is not None else None,
                deals=deals,
                value=moved_value,
                unconverted=tuple(missing),
            )
        )
    return RealignmentPlan(
        moves=moves, round_robin_next={pk: staff.round_robin_next for pk, staff in staffing.items()}
    )


def cents(value: Decimal) -> Decimal:
    """A converted sum to the cent."""
    return Decimal(value).quantize(Decimal("0.01"))
