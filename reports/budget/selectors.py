"""Reads of team budgets, scoped, and the budget's figures by month (a fixed number of queries)."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db.models import DecimalField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import ExtractMonth

from pipeline.models import Deal, StageKind
from pipeline.money import at_close, converted
from quotas.selectors import quota_targets
from reports.budget.models import AmountKind, BudgetAmount, TeamBudget
from reports.compensation.calc import cents
from reports.compensation.models import CommissionPlan
from salesmgr.models import Role, User
from salesmgr.selectors import self_and_team_ids_subquery, team_member_ids_subquery

CONVERTED = DecimalField(max_digits=40, decimal_places=12)


def budgets_visible_to(user: User) -> QuerySet[TeamBudget]:
    """Budgets ``user`` may read: admins all; a manager their team's and their sub-teams'; reps none."""
    if user.is_admin:
        return TeamBudget.objects.all()
    if user.is_manager:
        return TeamBudget.objects.filter(manager_id__in=self_and_team_ids_subquery(user.pk))
    return TeamBudget.objects.none()


def budget_amounts(budget: TeamBudget) -> QuerySet[BudgetAmount]:
    return BudgetAmount.objects.filter(budget=budget)


def _month_bounds(year: int, month: int) -> tuple[datetime.date, datetime.date]:
    first = datetime.date(year, month, 1)
    return first, (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)


def team_projected_attainment(manager_id: int, year: int, today: datetime.date) -> Decimal | None:
    """The team's expected share of its yearly quota: won so far plus the weighted open pipeline
    expected to close by the year's end, over the reps' quotas for the year (None without quotas). Two queries."""
    first, last = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    team = Q(owner_id__in=team_member_ids_subquery(manager_id))
    weighted = ExpressionWrapper(
        converted(on=today) * F("stage__probability") / Decimal(100), output_field=CONVERTED
    )
    totals = Deal.objects.filter(team, deleted_at__isnull=True).aggregate(
        won=Sum(at_close(), filter=Q(status=StageKind.WON, closed_at__year=year)),
        weighted=Sum(
            weighted,
            filter=Q(
                status=StageKind.OPEN,
                expected_close_date__gte=max(today, first),
                expected_close_date__lte=last,
            ),
        ),
    )
    reps = User.objects.filter(pk__in=team_member_ids_subquery(manager_id), role=Role.REP).values(
        "pk"
    )
    targets = quota_targets(Q(owner_id__in=reps), {"year": (first, last)})
    quota = sum((by_window.get("year", 0) for by_window in targets.values()), Decimal(0))
    if not quota:
        return None
    expected = (totals["won"] or 0) + (totals["weighted"] or 0)
    return (Decimal(expected) / quota).quantize(Decimal("0.0001"))


def budget_figures(budget: TeamBudget, today: datetime.date) -> dict:
    """Per month of the budget's year: headcount (base and expected commission from the plans and the
    forecast), planned programmes, the budget, actual spend, the variance, won value and the cost of
    sales; and the year's totals. Five queries whatever the team's size."""
    year = budget.year
    attainment = team_projected_attainment(budget.manager_id, year, today)
    expected = attainment if attainment is not None else Decimal(1)
    plans = list(
        CommissionPlan.objects.filter(
            rep_id__in=team_member_ids_subquery(budget.manager_id),
            effective_from__lte=datetime.date(year, 12, 31),
        )
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=datetime.date(year, 1, 1)))
        .values("effective_from", "effective_to", "base_salary", "on_target_earnings")
    )
    entered: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    by_category: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for kind, category, month, total in (
        BudgetAmount.objects.filter(budget=budget)
        .values("kind", "category", "month")
        .annotate(total=Sum("amount"))
        .values_list("kind", "category", "month", "total")
    ):
        entered[(kind, month)] += total
        by_category[(kind, category)] += total
    won = dict(
        Deal.objects.filter(
            owner_id__in=team_member_ids_subquery(budget.manager_id),
            status=StageKind.WON,
            deleted_at__isnull=True,
            closed_at__year=year,
        )
        .annotate(month=ExtractMonth("closed_at"))
        .values("month")
        .annotate(value=Sum(at_close()))
        .values_list("month", "value")
    )
    rows = []
    for month in range(1, 13):
        first, last = _month_bounds(year, month)
        base = variable = Decimal(0)
        for plan in plans:
            if plan["effective_from"] <= last and (
                plan["effective_to"] is None or plan["effective_to"] >= first
            ):
                base += plan["base_salary"] / 12
                variable += max(plan["on_target_earnings"] - plan["base_salary"], Decimal(0)) / 12
        commission = variable * expected
        programmes = entered.get((AmountKind.PLANNED, month), Decimal(0))
        budgeted = cents(base + commission + programmes)
        actual = entered.get((AmountKind.ACTUAL, month))
        won_value = won.get(month)
        rows.append(
            {
                "month": first,
                "base": cents(base),
                "commission": cents(commission),
                "programmes": cents(programmes),
                "budget": budgeted,
                "actual": cents(actual) if actual is not None else None,
                "variance": cents(budgeted - actual) if actual is not None else None,
                "won_value": cents(won_value) if won_value is not None else Decimal("0.00"),
                "cost_of_sales": (actual / won_value).quantize(Decimal("0.0001"))
                if actual is not None and won_value
                else None,
            }
        )
    actual_total = sum((r["actual"] for r in rows if r["actual"] is not None), Decimal(0))
    won_total = sum((r["won_value"] for r in rows), Decimal(0))
    budget_total = sum((r["budget"] for r in rows), Decimal(0))
    budget_to_date = sum((r["budget"] for r in rows if r["actual"] is not None), Decimal(0))
    return {
        "year": year,
        "projected_attainment": attainment,
        "months": rows,
        "categories": [
            {
                "category": category,
                "planned": cents(by_category.get((AmountKind.PLANNED, category), Decimal(0))),
                "actual": cents(by_category.get((AmountKind.ACTUAL, category), Decimal(0))),
            }
            for category in ("headcount", "training", "travel", "events", "other")
        ],
        "totals": {
            "budget": cents(budget_total),
            "budget_to_date": cents(budget_to_date),
            "actual": cents(actual_total),
            "variance_to_date": cents(budget_to_date - actual_total),
            "won_value": cents(won_total),
            "cost_of_sales": (actual_total / won_total).quantize(Decimal("0.0001"))
            if won_total
            else None,
        },
    }
