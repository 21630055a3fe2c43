"""Snapshot tables: precomputed metrics and forecasts that dashboards read instantly.

Each row is keyed by its natural key (scope, period or as-of date, horizon), so
the tasks that write them upsert and a rerun never duplicates anything.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

MONEY = {"max_digits": 16, "decimal_places": 2}


def rollup_key(to: str) -> models.ForeignKey:
    """A rollup row's reference to a person, product or territory: no constraint and no index of its
    own (the rollup's key leads with it or the day), as the triggers write rows for whatever the
    source rows name, and a row of someone removed simply stops being read."""
    return models.ForeignKey(
        to, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )


class ScopeKind(models.TextChoices):
    ORGANISATION = "org", "Organisation"
    TEAM = "team", "Team"
    OWNER = "owner", "Rep"
    TERRITORY = "territory", "Territory"
    PIPELINE = "pipeline", "Pipeline"
    PRODUCT = "product", "Product"
    CUSTOM = "custom", "Combined"


class MetricSnapshot(models.Model):
    """The funnel metrics of one scope over one period, as computed at ``computed_at``."""

    scope_key = models.CharField(max_length=120)
    scope_kind = models.CharField(max_length=10, choices=ScopeKind.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    data = models.JSONField(encoder=DjangoJSONEncoder)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope_key", "period_start", "period_end"], name="metric_snapshot_key"
            ),
        ]
        indexes = [
            models.Index(fields=["scope_key", "-computed_at"], name="metric_snapshot_fresh_idx")
        ]

    def __str__(self) -> str:
        return f"{self.scope_key} {self.period_start}..{self.period_end}"


class ForecastSnapshot(models.Model):
    """Every forecast method's value for one scope, as-of date and horizon.

    ``actual`` is filled once the window has passed (the value won with
    ``closed_at`` inside it); accuracy is derived from it in SQL.
    """

    scope_key = models.CharField(max_length=120)
    scope_kind = models.CharField(max_length=10, choices=ScopeKind.choices)
    as_of = models.DateField()
    horizon = models.PositiveSmallIntegerField()
    pipeline = models.DecimalField(**MONEY)
    best_case = models.DecimalField(**MONEY)
    commit = models.DecimalField(**MONEY)
    weighted = models.DecimalField(**MONEY)
    model = models.DecimalField(**MONEY)
    model_p10 = models.DecimalField(**MONEY)
    model_p90 = models.DecimalField(**MONEY)
    overdue_value = models.DecimalField(**MONEY)
    won_in_window = models.DecimalField(**MONEY)
    quota = models.DecimalField(**MONEY, null=True)
    window_deals = models.PositiveIntegerField(default=0)
    # Per currency, the deals left out for want of an exchange rate: [{"currency", "deals", "value"}].
    unconverted = models.JSONField(encoder=DjangoJSONEncoder, default=list, blank=True)
    actual = models.DecimalField(**MONEY, null=True)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope_key", "as_of", "horizon"], name="forecast_snapshot_key"
            ),
        ]
        indexes = [
            models.Index(
                fields=["scope_key", "horizon", "as_of"], name="forecast_snapshot_scope_idx"
            ),
            models.Index(fields=["as_of"], name="forecast_snapshot_as_of_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.scope_key} {self.as_of} +{self.horizon}d"


class DirtyScope(models.Model):
    """A scope whose snapshots a deal change has made stale; readers are told so until they are rewritten."""

    scope_key = models.CharField(max_length=120, unique=True)
    marked_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.scope_key


class ActivityDay(models.Model):
    """How many activities of one kind a person logged on one day (in ``TIME_ZONE``).

    Kept by PostgreSQL triggers on the activities (``reports/rollups.py``), so a
    report counts a team's quarter from a few thousand of these rows rather than
    from every activity. Unused, and left empty, on SQLite.
    """

    author = rollup_key(settings.AUTH_USER_MODEL)
    day = models.DateField()
    kind = models.CharField(max_length=16)
    count = models.IntegerField()

    class Meta:
        constraints = [
            # Carrying the count, a team's half year of days is read from the index alone.
            models.UniqueConstraint(
                fields=["author", "day", "kind"], include=["count"], name="activity_day_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_id} {self.day} {self.kind}: {self.count}"


class AdvanceDay(models.Model):
    """How many stage advances the live deals of one owner made on one day (in ``TIME_ZONE``).

    An advance is a transition into the won stage, or into an open stage of
    higher order than the one left. The advance counts for the deal's present
    owner, so it follows the deal when the deal is handed over, and leaves the
    count when the deal is deleted. Kept by PostgreSQL triggers
    (``reports/rollups.py``); unused on SQLite.
    """

    owner = rollup_key(settings.AUTH_USER_MODEL)
    day = models.DateField()
    count = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "day"], name="advance_day_key"),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.day}: {self.count}"


class ClosedDay(models.Model):
    """The live deals one owner won or lost on one day (in ``TIME_ZONE``), per currency: how many,
    their amounts as entered and their summed age at close (``closed_at - created_at``).

    A day and a currency share one exchange rate, so a report converts each row's amount once and
    gets what converting every deal would give. Kept by PostgreSQL triggers on the deals
    (``reports/rollups.py``), like the other rollups: a deal's close, reopening, new owner, amount,
    currency, creation or close time, deletion and restoring move it between rows. Unused, and left
    empty, on SQLite.
    """

    owner = rollup_key(settings.AUTH_USER_MODEL)
    day = models.DateField()
    status = models.CharField(max_length=8)
    currency = models.CharField(max_length=3)
    deals = models.IntegerField()
    amount = models.DecimalField(max_digits=20, decimal_places=2)
    cycle = models.DurationField()

    class Meta:
        constraints = [
            # Carrying the sums, a team's half year is read from the index alone.
            models.UniqueConstraint(
                fields=["owner", "day", "status", "currency"],
                include=["deals", "amount", "cycle"],
                name="closed_day_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.day} {self.status} {self.currency}: {self.deals}"


class ProductDay(models.Model):
    """The lines of the live deals one owner won on one day (in ``TIME_ZONE``), per product and the
    deals' currency: how many lines, their units and their value as entered (each line's total to
    the cent, as ``line_total`` rounds it).

    Like ``ClosedDay``, a row's value converted at its day's rate is the sum of its lines' converted
    values. Kept by PostgreSQL triggers on the lines and on the deals (``reports/rollups.py``): a
    line added, changed or removed, and a deal won, reopened, re-dated, given another currency or
    owner, deleted or restored, move lines between rows. Unused, and left empty, on SQLite.
    """

    product = rollup_key("pipeline.Product")
    owner = rollup_key(settings.AUTH_USER_MODEL)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    lines = models.IntegerField()
    units = models.DecimalField(max_digits=20, decimal_places=2)
    value = models.DecimalField(max_digits=24, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "owner", "day", "currency"], name="product_day_key"
            ),
        ]
        indexes = [
            # A half year of every product for a team, from the index alone.
            models.Index(
                fields=["day"],
                include=["product", "owner", "currency", "lines", "units", "value"],
                name="product_day_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} {self.owner_id} {self.day} {self.currency}: {self.lines}"


class CreatedDay(models.Model):
    """The live deals one owner created on one day (in ``TIME_ZONE``), per currency: how many and
    their amounts as entered (a day and a currency share one rate, as in ``ClosedDay``). Kept by
    PostgreSQL triggers on the deals (``reports/rollups.py``): a deal created, deleted, restored,
    purged, re-priced, re-dated or given another currency or owner moves between rows. Unused, and
    left empty, on SQLite."""

    owner = rollup_key(settings.AUTH_USER_MODEL)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    deals = models.IntegerField()
    amount = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        constraints = [
            # A period of every owner, from the index alone.
            models.UniqueConstraint(
                fields=["day", "owner", "currency"],
                include=["deals", "amount"],
                name="created_day_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.day} {self.currency}: {self.deals}"


class TerritoryAccounts(models.Model):
    """How many live accounts one owner holds in one territory. Kept by PostgreSQL triggers on the
    accounts (``reports/rollups.py``): an account added, removed, deleted, restored, or given
    another owner or territory moves between rows. Unused, and left empty, on SQLite."""

    territory = rollup_key("quotas.Territory")
    owner = rollup_key(settings.AUTH_USER_MODEL)
    accounts = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["territory", "owner"],
                include=["accounts"],
                name="territory_accounts_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.territory_id} {self.owner_id}: {self.accounts}"


class TerritoryOpen(models.Model):
    """The live open deals one owner holds in one territory (their account's, a live account), per
    currency: how many and their amounts as entered.

    An open figure is converted at one day's rate per currency, so converting each row's amount
    once gives what converting every deal would. Kept by PostgreSQL triggers (``reports/rollups.py``)
    on the deals and on the accounts: a deal opened, closed, reopened, re-priced, given another
    currency, owner or account, deleted or restored, and an account moved to another territory,
    deleted or restored, move deals between rows. Unused, and left empty, on SQLite.
    """

    territory = rollup_key("quotas.Territory")
    owner = rollup_key(settings.AUTH_USER_MODEL)
    currency = models.CharField(max_length=3)
    deals = models.IntegerField()
    amount = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["territory", "owner", "currency"],
                include=["deals", "amount"],
                name="territory_open_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.territory_id} {self.owner_id} {self.currency}: {self.deals}"


class TerritoryWonDay(models.Model):
    """The live deals one owner won on one day (in ``TIME_ZONE``) in one territory (their account's,
    a live account), per currency: how many and their amounts as entered.

    As ``ClosedDay``, a row's amount converted at its day's rate is the sum of its deals' converted
    amounts. Kept by the triggers that keep ``TerritoryOpen``. Unused, and left empty, on SQLite.
    """

    territory = rollup_key("quotas.Territory")
    owner = rollup_key(settings.AUTH_USER_MODEL)
    day = models.DateField()
    currency = models.CharField(max_length=3)
    deals = models.IntegerField()
    amount = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        constraints = [
            # A period of every territory, from the index alone.
            models.UniqueConstraint(
                fields=["day", "territory", "owner", "currency"],
                include=["deals", "amount"],
                name="territory_won_day_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.territory_id} {self.owner_id} {self.day} {self.currency}: {self.deals}"


# Compensation keeps its tables in its own package of this app.
from reports.budget.models import BudgetAmount, TeamBudget  # noqa: E402, F401
from reports.compensation.models import (  # noqa: E402, F401
    CommissionPlan,
    CommissionStatement,
    PlanProductBonus,
    PlanTier,
    StatementLine,
)
