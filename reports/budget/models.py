"""A team's yearly budget and the amounts entered against it, month by month."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

MONEY = {"max_digits": 16, "decimal_places": 2}


class TeamBudget(models.Model):
    """One team's budget for one year: the team is ``manager`` and everyone below them."""

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_budgets"
    )
    year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1900), MaxValueValidator(9000)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-year", "manager_id"]
        constraints = [
            models.UniqueConstraint(fields=["manager", "year"], name="team_budget_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.manager} {self.year}"


class AmountKind(models.TextChoices):
    PLANNED = "planned", "Planned programme"
    ACTUAL = "actual", "Actual spend"


class SpendCategory(models.TextChoices):
    HEADCOUNT = "headcount", "Headcount (salaries and commission)"
    TRAINING = "training", "Training"
    TRAVEL = "travel", "Travel for client visits"
    EVENTS = "events", "Events"
    OTHER = "other", "Other"


class BudgetAmount(models.Model):
    """A planned programme amount or an actual spend, for one category and month of the budget's year.

    Headcount is planned from the commission plans, never entered as a programme.
    """

    budget = models.ForeignKey(TeamBudget, on_delete=models.CASCADE, related_name="amounts")
    kind = models.CharField(max_length=8, choices=AmountKind.choices)
    category = models.CharField(max_length=10, choices=SpendCategory.choices)
    month = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["budget_id", "month", "kind", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "kind", "category", "month"], name="budget_amount_unique"
            ),
            models.CheckConstraint(
                condition=Q(month__gte=1) & Q(month__lte=12) & Q(amount__gte=0),
                name="budget_amount_valid",
            ),
            models.CheckConstraint(
                condition=~Q(kind="planned", category="headcount"),
                name="budget_headcount_not_planned_by_hand",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.month:02d} {self.kind} {self.category}: {self.amount}"
