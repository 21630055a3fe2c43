"""Territories and quotas."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class HandoverRule(models.TextChoices):
    """Which of a territory's reps receives an account the territory gains."""

    ROUND_ROBIN = "round_robin", "Round robin"
    FEWEST_OPEN_DEALS = "fewest_open_deals", "Fewest open deals"
    NAMED_REP = "named_rep", "Named rep"


class Territory(models.Model):
    """A named area of the market; territories nest through ``parent``.

    Its ``owner`` is the manager answerable for it; its ``reps`` are its
    members, who receive the accounts its assignment rules bring in, chosen by
    ``handover_rule``. ``round_robin_next`` is where the round robin resumes.
    """

    name = models.CharField(max_length=120, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    region = models.CharField(max_length=80, blank=True)
    reps = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="territories",
        help_text="Reps assigned here.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_territories",
        help_text="The manager answerable for this territory.",
    )
    handover_rule = models.CharField(
        max_length=20, choices=HandoverRule.choices, default=HandoverRule.ROUND_ROBIN
    )
    named_rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Receives every account the territory gains, when the handover rule is 'named rep'.",
    )
    round_robin_next = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "territories"
        constraints = [
            models.CheckConstraint(condition=~Q(parent=F("pk")), name="territory_not_own_parent"),
        ]

    def __str__(self) -> str:
        return self.name


class QuotaPeriod(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"
    CUSTOM = "custom", "Custom"


class Quota(models.Model):
    """A target amount for one person over ``[period_start, period_end]`` (both inclusive).

    A person's quotas never overlap in time (``quota_set`` enforces it).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotas"
    )
    period = models.CharField(max_length=10, choices=QuotaPeriod.choices, default=QuotaPeriod.MONTH)
    period_start = models.DateField()
    period_end = models.DateField()
    target = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["owner_id", "period_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="quota_period_ordered"
            ),
            models.CheckConstraint(condition=Q(target__gte=0), name="quota_target_not_negative"),
            models.UniqueConstraint(
                fields=["owner", "period_start"], name="quota_owner_start_unique"
            ),
        ]
        indexes = [models.Index(fields=["period_start", "period_end"])]

    def __str__(self) -> str:
        return (
            f"{self.owner} {self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}: {self.target}"
        )


class TargetBasis(models.TextChoices):
    ROLLUP = "rollup", "Roll-up of the team's quotas"
    OWN = "own", "Own quota"


class ManagerTarget(models.Model):
    """How a manager's target is set: the roll-up of their team's quotas, or their own quota.

    A manager without a row follows METRICS.md: their own quota where they have
    one for the period, else the roll-up.
    """

    manager = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="target_setting",
    )
    basis = models.CharField(max_length=10, choices=TargetBasis.choices, default=TargetBasis.ROLLUP)

    def __str__(self) -> str:
        return f"{self.manager}: {self.get_basis_display()}"
