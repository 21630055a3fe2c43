"""Commission plans and the statements computed from them.

A statement is stored with its lines, so it reads the same however the deals
change later; a recompute writes a new version beside it and records what changed.
"""

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

MONEY = {"max_digits": 16, "decimal_places": 2}
PERCENT = {"max_digits": 7, "decimal_places": 3}


class CommissionKind(models.TextChoices):
    FLAT = "flat", "Flat rate"
    TIERED = "tiered", "Tiered by attainment"


class CommissionPlan(models.Model):
    """How one rep is paid from ``effective_from`` to ``effective_to`` (open-ended when empty).

    A rep's plans never overlap (``plan_errors``). Money is in the reporting currency;
    salary and on-target earnings are yearly, the cap is per month.
    """

    # A person with deals cannot be deleted (their deals protect them), so this cascades only
    # for someone removed before they sold anything, and for the demo data's reset.
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="commission_plans"
    )
    name = models.CharField(max_length=120)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    base_salary = models.DecimalField(**MONEY, default=Decimal("0.00"), help_text="Yearly.")
    on_target_earnings = models.DecimalField(
        **MONEY,
        default=Decimal("0.00"),
        help_text="Yearly: base and variable pay at 100% of quota.",
    )
    kind = models.CharField(
        max_length=8, choices=CommissionKind.choices, default=CommissionKind.FLAT
    )
    flat_rate = models.DecimalField(
        **PERCENT, default=Decimal("0"), help_text="Percent of won value, for a flat plan."
    )
    cap = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Most commission and bonuses paid in a month."
    )
    new_logo_bonus = models.DecimalField(
        **MONEY,
        default=Decimal("0.00"),
        help_text="Paid per won deal that is an account's first win.",
    )
    clawback_days = models.PositiveSmallIntegerField(
        default=90, help_text="A won deal reopened or lost within this many days is clawed back."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rep_id", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="commission_plan_dates_ordered",
            ),
            models.CheckConstraint(
                condition=Q(base_salary__gte=0)
                & Q(on_target_earnings__gte=0)
                & Q(flat_rate__gte=0)
                & Q(new_logo_bonus__gte=0),
                name="commission_plan_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["rep", "effective_from"], name="commission_plan_rep_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.rep})"


class PlanTier(models.Model):
    """From ``from_attainment`` percent of quota up to the next tier, won value earns ``rate`` percent.

    Tiers above 100% are accelerators. Rates apply marginally: each band at its own rate.
    """

    plan = models.ForeignKey(CommissionPlan, on_delete=models.CASCADE, related_name="tiers")
    from_attainment = models.DecimalField(**PERCENT, validators=[MinValueValidator(Decimal("0"))])
    rate = models.DecimalField(
        **PERCENT, validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]
    )

    class Meta:
        ordering = ["plan_id", "from_attainment"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "from_attainment"], name="plan_tier_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.from_attainment}%+: {self.rate}%"


class PlanProductBonus(models.Model):
    """A bonus per won deal that includes ``product`` (times the rep's share of the deal)."""

    plan = models.ForeignKey(
        CommissionPlan, on_delete=models.CASCADE, related_name="product_bonuses"
    )
    product = models.ForeignKey("pipeline.Product", on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])

    class Meta:
        ordering = ["plan_id", "product_id"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "product"], name="plan_product_bonus_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.product}: {self.amount}"


class StatementStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    SUPERSEDED = "superseded", "Superseded"


# A statement's figures in the order they are read: the API and the Django admin show these.
STATEMENT_FIGURES = (
    "plan",
    "plan_name",
    "currency",
    "quota",
    "credited_value",
    "attainment",
    "base_pay",
    "commission",
    "bonuses",
    "cap_adjustment",
    "clawbacks",
    "total",
    "changes",
)


class CommissionStatement(models.Model):
    """One rep's commission for one month as computed ``as_of`` a date, with its lines stored.

    Versions of a month count up; the highest is current. An approved version is
    locked: a recompute writes the next version and ``changes`` says what moved.
    """

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="commission_statements"
    )
    month = models.DateField(help_text="The month's first day.")
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=StatementStatus.choices, default=StatementStatus.DRAFT
    )
    as_of = models.DateField()
    plan = models.ForeignKey(
        CommissionPlan, null=True, blank=True, on_delete=models.SET_NULL, related_name="statements"
    )
    plan_name = models.CharField(max_length=120, blank=True)
    currency = models.CharField(max_length=3)
    quota = models.DecimalField(**MONEY, null=True, blank=True)
    credited_value = models.DecimalField(**MONEY, default=Decimal("0.00"))
    attainment = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)
    base_pay = models.DecimalField(
        **MONEY, default=Decimal("0.00"), help_text="A month of base salary."
    )
    commission = models.DecimalField(**MONEY, default=Decimal("0.00"))
    bonuses = models.DecimalField(**MONEY, default=Decimal("0.00"))
    cap_adjustment = models.DecimalField(**MONEY, default=Decimal("0.00"))
    clawbacks = models.DecimalField(**MONEY, default=Decimal("0.00"))
    total = models.DecimalField(
        **MONEY, default=Decimal("0.00"), help_text="Variable pay: the lines' sum."
    )
    changes = models.JSONField(
        null=True,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What changed against the previous version.",
    )
    computed_at = models.DateTimeField(default=timezone.now)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-month", "rep_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["rep", "month", "version"], name="commission_statement_version_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["month", "rep", "-version"], name="commission_statement_month_idx")
        ]

    def __str__(self) -> str:
        return f"{self.rep} {self.month:%Y-%m} v{self.version}"

    @property
    def locked(self) -> bool:
        return self.status != StatementStatus.DRAFT


class LineKind(models.TextChoices):
    CREDIT = "credit", "Commission"
    PRODUCT_BONUS = "product_bonus", "Product bonus"
    NEW_LOGO = "new_logo", "New-logo bonus"
    CAP = "cap", "Cap"
    CLAWBACK = "clawback", "Clawback"
    REPLACED = "replaced", "Replaced credit"


class StatementLine(models.Model):
    """One amount on a statement and the deal it comes from (none only for the cap).

    ``deal_name`` and ``deal_ref`` keep the line readable after the deal is purged.
    """

    statement = models.ForeignKey(
        CommissionStatement, on_delete=models.CASCADE, related_name="lines"
    )
    kind = models.CharField(max_length=16, choices=LineKind.choices)
    deal = models.ForeignKey(
        "pipeline.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deal_ref = models.BigIntegerField(null=True, blank=True)
    deal_name = models.CharField(max_length=200, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    value = models.DecimalField(**MONEY, null=True, blank=True, help_text="The deal's won value.")
    share = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("100"))
    credited = models.DecimalField(**MONEY, null=True, blank=True, help_text="value x share.")
    amount = models.DecimalField(**MONEY, help_text="What the line pays (negative: takes back).")
    note = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["statement_id", "position"]
        indexes = [models.Index(fields=["deal_ref"], name="statement_line_deal_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.deal_name}: {self.amount}"
