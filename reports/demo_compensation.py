"""Demo compensation: a plan for every demo rep, a few split deals, and a year of statements.

Called by ``manage.py seed_compensation`` (which ``seed_demo`` runs). Everything goes
through the services, so the demo obeys the same rules as the app.
"""

import datetime
import random
from decimal import Decimal

from django.db import transaction

from pipeline.models import Deal, Product, StageKind
from pipeline.services import SplitSpec, deal_splits_set
from reports.compensation.models import CommissionPlan, CommissionStatement
from reports.compensation.services import (
    BonusSpec,
    TierSpec,
    plan_create,
    statement_approve,
    statements_compute_month,
)
from salesmgr.models import Role, User

MONTHS = 12
SPLIT_DEALS = 12


def _months_before(month: datetime.date, count: int) -> list[datetime.date]:
    found = []
    for _ in range(count):
        month = (month - datetime.timedelta(days=1)).replace(day=1)
        found.append(month)
    return found[::-1]


def compensation_seed(*, today: datetime.date, seed: int = 1, months: int = MONTHS) -> dict:
    """Plans, splits and ``months`` of statements for the demo; does nothing when plans exist already."""
    if CommissionPlan.objects.exists():
        return {"plans": 0, "statements": 0}
    rng = random.Random(seed)
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    reps = list(User.objects.filter(role=Role.REP, is_active=True).order_by("pk"))
    if months < 1:
        raise ValueError("months must be at least 1")
    months = _months_before(today.replace(day=1), months)
    products = list(Product.objects.order_by("pk")[:3])
    with transaction.atomic():
        for i, rep in enumerate(reps):
            base = Decimal(rng.randrange(48, 72) * 1000)
            common = {
                "by": admin,
                "rep": rep,
                "effective_from": months[0],
                "base_salary": base,
                "on_target_earnings": base * 2,
                "clawback_days": 60,
                "new_logo_bonus": Decimal("300") if i % 2 == 0 else Decimal("0"),
                "product_bonuses": [BonusSpec(product, Decimal("150")) for product in products[:1]]
                if i % 3 == 0
                else [],
            }
            if i % 3 == 2:
                plan_create(name="Flat 8%", kind="flat", flat_rate=Decimal("8"), **common)
            else:
                plan_create(
                    name="Tiered with accelerators",
                    kind="tiered",
                    tiers=[
                        TierSpec(Decimal("0"), Decimal("5")),
                        TierSpec(Decimal("100"), Decimal("8")),
                        TierSpec(Decimal("150"), Decimal("12")),
                    ],
                    cap=base / 2,
                    **common,
                )
        _split_some_deals(rng, admin, reps, months[0])
    made = 0
    for month in months:
        statements = statements_compute_month(month=month, as_of=_last_day(month), by=None)
        made += len(statements)
        if month != months[-1]:
            for statement in statements:
                statement_approve(statement=statement, by=admin)
    return {
        "plans": len(reps),
        "statements": made,
        "statements_total": CommissionStatement.objects.count(),
    }


def _last_day(month: datetime.date) -> datetime.date:
    return (month + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)


def _split_some_deals(
    rng: random.Random, admin: User, reps: list[User], since: datetime.date
) -> None:
    """Share the credit of a few won deals between their owner and a teammate, 60/40."""
    by_manager: dict[int, list[User]] = {}
    for rep in reps:
        by_manager.setdefault(rep.manager_id, []).append(rep)
    won = list(
        Deal.objects.filter(
            status=StageKind.WON, deleted_at__isnull=True, closed_at__date__gte=since
        )
        .select_related("owner")
        .order_by("pk")[:400]
    )
    for deal in rng.sample(won, min(SPLIT_DEALS, len(won))):
        teammates = [r for r in by_manager.get(deal.owner.manager_id, []) if r.pk != deal.owner_id]
        if not teammates or deal.owner.role != Role.REP:
            continue
        partner = rng.choice(teammates)
        deal_splits_set(
            deal=deal,
            splits=[SplitSpec(deal.owner, Decimal("60")), SplitSpec(partner, Decimal("40"))],
            by=admin,
        )
