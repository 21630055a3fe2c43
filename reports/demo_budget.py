"""Demo budgets: last year's and this year's for every manager's team, with programmes and the
spend of every month that is over (headcount from the demo's commission statements)."""

import datetime
import random
from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import ExtractMonth

from reports.budget.models import TeamBudget
from reports.budget.services import budget_amount_set, budget_create
from reports.compensation.models import CommissionStatement
from reports.compensation.selectors import current_statements
from salesmgr.models import Role, User
from salesmgr.selectors import team_member_ids_subquery

PROGRAMMES = {
    "training": {3: 2000, 9: 2000},
    "travel": dict.fromkeys(range(1, 13), 1500),
    "events": {5: 8000, 10: 8000},
}


def budget_seed(*, today: datetime.date, seed: int = 1) -> int:
    """Budgets for last year and this one; nothing when budgets exist already. Returns how many were made."""
    if TeamBudget.objects.exists():
        return 0
    rng = random.Random(seed)
    admin = User.objects.filter(role=Role.ADMIN).order_by("pk").first()
    made = 0
    for manager in User.objects.filter(role=Role.MANAGER, is_active=True).order_by("pk"):
        for year in (today.year - 1, today.year):
            budget = budget_create(manager=manager, year=year, by=admin)
            made += 1
            for category, months in PROGRAMMES.items():
                for month, amount in months.items():
                    budget_amount_set(
                        budget=budget,
                        kind="planned",
                        category=category,
                        month=month,
                        amount=Decimal(amount),
                        by=admin,
                    )
            over = 12 if year < today.year else today.month - 1
            paid = dict(
                current_statements(
                    CommissionStatement.objects.filter(
                        rep_id__in=team_member_ids_subquery(manager.pk), month__year=year
                    )
                )
                .annotate(m=ExtractMonth("month"))
                .values("m")
                .annotate(paid=Sum(F("base_pay") + F("total")))
                .values_list("m", "paid")
            )
            for month in range(1, over + 1):
                if paid.get(month):
                    budget_amount_set(
                        budget=budget,
                        kind="actual",
                        category="headcount",
                        month=month,
                        amount=paid[month],
                        by=admin,
                    )
                for category, months in PROGRAMMES.items():
                    if month in months:
                        spent = Decimal(months[month]) * Decimal(rng.randrange(70, 131)) / 100
                        budget_amount_set(
                            budget=budget,
                            kind="actual",
                            category=category,
                            month=month,
                            amount=spent,
                            by=admin,
                        )
    return made
