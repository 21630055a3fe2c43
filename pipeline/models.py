"""Pipelines, stages, accounts, products, deals and what happens to them.

Tables and their invariants only; every write that matters goes through
``pipeline.services``.
"""

import datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

MONEY = {"max_digits": 14, "decimal_places": 2}
# Soft-deleted deals and accounts stay restorable this long; deals are then purged.
DELETED_KEPT_FOR = datetime.timedelta(days=30)


def default_currency() -> str:
    return settings.DEFAULT_CURRENCY


class Pipeline(models.Model):
    """A sales process: an ordered list of stages."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class StageKind(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Stage(models.Model):
    """One step of a pipeline.

    A pipeline holds at most one won and one lost stage (enforced by the
    database); it takes deals only once it has both.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=80)
    order = models.PositiveSmallIntegerField()
    probability = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Chance, in percent, that a deal in this stage is won.",
    )
    kind = models.CharField(max_length=8, choices=StageKind.choices, default=StageKind.OPEN)
    rot_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="A deal that sits here longer than this many days is stalled.",
    )

    class Meta:
        ordering = ["pipeline_id", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "order"],
                name="stage_order_unique",
                violation_error_message="Another stage of this pipeline has this order.",
            ),
            models.UniqueConstraint(
                fields=["pipeline", "name"],
                name="stage_name_unique",
                violation_error_message="Another stage of this pipeline has this name.",
            ),
            models.UniqueConstraint(
                fields=["pipeline"],
                condition=Q(kind="won"),
                name="stage_one_won_per_pipeline",
                violation_error_message="A pipeline has one won stage; this one already has it.",
            ),
            models.UniqueConstraint(
                fields=["pipeline"],
                condition=Q(kind="lost"),
                name="stage_one_lost_per_pipeline",
                violation_error_message="A pipeline has one lost stage; this one already has it.",
            ),
            models.CheckConstraint(
                condition=Q(probability__lte=100), name="stage_probability_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.kind != StageKind.OPEN


class AccountHistory(HistoricalRecords):
    """The account's change history, indexed for "each account's territory at a moment" lookups."""

    def get_meta_options(self, model):
        meta = super().get_meta_options(model)
        meta["indexes"] = (
            models.Index(
                fields=("id", "history_date", "history_id"),
                include=("territory",),
                name="account_history_as_of_idx",
            ),
        )
        return meta


class Account(models.Model):
    """A customer organisation; changes (an owner change above all) are kept in ``history``."""

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accounts"
    )
    territory = models.ForeignKey(
        "quotas.Territory",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accounts",
    )
    industry = models.CharField(max_length=80, blank=True)
    region = models.CharField(max_length=80, blank=True)
    employee_count = models.PositiveIntegerField(null=True, blank=True)
    country = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code, e.g. DE."
    )
    postcode = models.CharField(max_length=16, blank=True)
    annual_revenue = models.DecimalField(**MONEY, null=True, blank=True)
    territory_pinned = models.BooleanField(
        default=False,
        help_text="Put in its territory by hand: the assignment rules leave it there.",
    )
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # None when absent (see Deal.external_id); unique among the owner's live accounts.
    external_id = models.CharField(  # noqa: DJ001
        max_length=120,
        null=True,
        blank=True,
        db_index=True,
        help_text="Its id in an imported file; unique among its owner's live accounts.",
    )

    history = AccountHistory(cascade_delete_history=False, no_db_index=["territory", "external_id"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "external_id"],
                condition=Q(deleted_at__isnull=True),
                name="account_external_id_per_owner",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "name"]),
            models.Index(fields=["territory", "name"]),
            models.Index(
                fields=["deleted_at"],
                condition=Q(deleted_at__isnull=False),
                name="account_deleted_idx",
            ),
            # The accounts list and API in their default order (name, id): a manager or an
            # admin who sees most accounts finds a page a few dozen rows in, instead of joining
            # and sorting every visible account (180 -> 35-50 ms for a manager at 1M deals).
            models.Index(
                fields=["name", "id"],
                condition=Q(deleted_at__isnull=True),
                name="account_live_name_idx",
            ),
            # Deleted accounts by name (they keep their closed deals): with the index above, the
            # deals list sorted by account walks every name in order (``deal_ids_by_account``).
            models.Index(
                fields=["name", "id"],
                condition=Q(deleted_at__isnull=False),
                name="account_deleted_name_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person at an account; changes are kept in ``history``."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80, blank=True)
    title = models.CharField(max_length=120, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # None when absent (see Deal.external_id); unique among its account's contacts.
    external_id = models.CharField(  # noqa: DJ001
        max_length=120,
        null=True,
        blank=True,
        db_index=True,
        help_text="Its id in an imported file; unique among its account's contacts.",
    )

    history = HistoricalRecords(
        cascade_delete_history=False, no_db_index=["account", "external_id"]
    )

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "external_id"], name="contact_external_id_per_account"
            )
        ]
        indexes = [
            models.Index(
                fields=["account", "last_name", "first_name"], name="contact_account_name_idx"
            ),
            # The contact list's order, walked by those who see many contacts
            # (``contacts_in_name_order``).
            models.Index(fields=["last_name", "first_name", "id"], name="contact_name_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Product(models.Model):
    """Something that is sold."""

    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=64, unique=True)
    unit_price = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="product_price_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class LostReason(models.Model):
    """Why a deal was lost; the list is kept by admins."""

    name = models.CharField(max_length=120, unique=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DealVersionSpan(models.Model):
    """When a recorded deal version stopped being the deal's latest: the next version's ``history_date``.

    Kept by database triggers (migration ``0036``) on every insert, delete or re-dating of history rows,
    however they are written (per-save records, bulk loads, past-dated imports), so "the version at a
    moment" is a condition on the row itself (``pipeline.selectors.version_at``), not a probe per deal.
    NULL for each deal's latest version. Versions on the same ``history_date`` follow ``history_id``:
    the earlier one's span is empty.
    """

    superseded_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class DealHistory(HistoricalRecords):
    """The deal's change history, indexed for "each deal as it stood at a moment" lookups."""

    def get_meta_options(self, model):
        meta = super().get_meta_options(model)
        meta["indexes"] = (
            models.Index(
                fields=("id", "history_date", "history_id"), name="deal_history_as_of_idx"
            ),
            # One person's deals as of a moment (``deals_as_of(owner_id=...)``, the one-on-one agenda):
            # DISTINCT ON read straight from the index in its order, no heap scan and no sort.
            models.Index(
                fields=("owner", "id", "-history_date", "-history_id"),
                name="deal_history_owner_as_of_idx",
            ),
            # The open versions due in a window (a week-ago forecast, the commitments of a month):
            # a report reads only them, each checked against its deal's latest by then.
            models.Index(
                fields=("expected_close_date", "forecast_category"),
                name="deal_history_open_close_idx",
                condition=models.Q(status="open"),
            ),
            # The open versions due in a window that were their deal's version at a moment
            # (``version_at``): the span is checked in the index, and the columns a past window's
            # pipeline sums (per owner, by category, weighted by stage) are in it too, so those
            # reads never visit the table (at 1M deals a scorecard's past pipeline read 90,000
            # table pages for 50,000 versions: 460 ms; from the index alone 100-170 ms).
            # ``status`` is there for the sums' own FILTER, which repeats the window's condition.
            models.Index(
                fields=("expected_close_date", "superseded_at", "history_date"),
                include=(
                    "status",
                    "forecast_category",
                    "history_type",
                    "deleted_at",
                    "id",
                    "owner",
                    "stage",
                    "currency",
                    "amount",
                ),
                name="deal_history_open_span_idx",
                condition=models.Q(status="open"),
            ),
            # The versions committed for a month that were their deal's at the last call (the
            # commitments report's ``version_at``), with the amount then, read from the index alone.
            models.Index(
                fields=("expected_close_date",),
                include=("id", "history_date", "superseded_at", "deleted_at", "currency", "amount"),
                name="deal_history_commit_idx",
                condition=models.Q(status="open", forecast_category="commit"),
            ),
        )
        return meta


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", "Pipeline"
    BEST_CASE = "best_case", "Best case"
    COMMIT = "commit", "Commit"
    OMITTED = "omitted", "Omitted"


class Deal(models.Model):
    """A sales opportunity moving through the stages of one pipeline.

    ``status`` mirrors the kind of ``stage`` so that lists and metrics can use
    partial indexes; ``version`` rises on every change and guards against lost
    updates. Changes of the tracked fields are kept in ``history``.
    """

    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deals")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deals"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    status = models.CharField(
        max_length=8, choices=StageKind.choices, default=StageKind.OPEN, editable=False
    )
    amount = models.DecimalField(**MONEY, default=Decimal("0.00"))
    currency = models.CharField(max_length=3, default=default_currency)
    expected_close_date = models.DateField()
    forecast_category = models.CharField(
        max_length=10, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )
    lost_reason = models.ForeignKey(
        LostReason, null=True, blank=True, on_delete=models.PROTECT, related_name="deals"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    stage_entered_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # None, not "", when absent: the per-owner unique constraint then ignores deals without one.
    external_id = models.CharField(  # noqa: DJ001
        max_length=120,
        null=True,
        blank=True,
        db_index=True,
        help_text="Its id in another system; unique among its owner's live deals.",
    )

    history = DealHistory(
        bases=[DealVersionSpan],
        excluded_fields=["updated_at", "version"],
        cascade_delete_history=False,
        # Bulk loads write several history rows per deal: only the indexes reads use are kept.
        no_db_index=["account", "pipeline", "stage", "lost_reason", "external_id"],
    )

    class Meta:
        ordering = ["expected_close_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="deal_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True)
                | (~Q(status="open") & Q(closed_at__isnull=False)),
                name="deal_closed_at_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(lost_reason__isnull=True) | Q(status="lost"),
                name="deal_lost_reason_only_when_lost",
            ),
            # An external id names a deal among its owner's: unique per owner, so checking it
            # never tells anyone about a deal they cannot see (see README, "External ids").
            models.UniqueConstraint(
                fields=["owner", "external_id"],
                condition=Q(deleted_at__isnull=True),
                name="deal_external_id_per_owner",
            ),
        ]
        indexes = [
            models.Index(
                fields=["owner", "expected_close_date", "id"], name="deal_owner_close_idx"
            ),
            # Each owner's open deals by close date; with their currency and amount beside
            # them, the home page's open totals of a team (70,000 deals at 1,000,000) are
            # read from the index alone (45 ms, not 100-300 ms from the table). Their account,
            # stage and time in stage let the territory tree sum open deals per territory and
            # the digest find stalled deals from it alone as well, not from 23,000 table pages.
            # With their forecast category (and the status the sums' FILTER repeats) a team's
            # forecast windows are summed from it too (66,000 deals: 209 -> 122 ms).
            models.Index(
                fields=["owner", "expected_close_date", "id"],
                condition=Q(status="open", deleted_at__isnull=True),
                include=[
                    "currency",
                    "amount",
                    "account",
                    "stage",
                    "stage_entered_at",
                    "forecast_category",
                    "status",
                ],
                name="deal_open_owner_close_idx",
            ),
            # The list's other sorts, read per owner and merged (``deal_list_page``): each
            # owner's first rows in (sort key, id) order come straight off one of these.
            models.Index(fields=["owner", "amount", "id"], name="deal_owner_amount_idx"),
            models.Index(fields=["owner", "created_at", "id"], name="deal_owner_created_idx"),
            models.Index(fields=["owner", "updated_at", "id"], name="deal_owner_updated_idx"),
            models.Index(fields=["owner", "name", "id"], name="deal_owner_name_idx"),
            models.Index(fields=["owner", "closed_at", "id"], name="deal_owner_closed_at_idx"),
            # The list by creation, oldest first, reads each owner's open deals and those closed
            # in the period apart (``deals_in_period_parts``): the open ones in order off the
            # first, the period's closed ones a range of the second, sorted from the index alone.
            # Through ``deal_owner_created_idx`` both waded through every deal closed before the
            # period (2.2 s for an admin at 1,000,000 deals; 30 ms now).
            models.Index(
                fields=["owner", "created_at", "id"],
                condition=Q(status="open", deleted_at__isnull=True),
                name="deal_open_owner_created_idx",
            ),
            # Each owner's deals by close; with their status, amount and currency beside them a
            # team's deals closed in a period are summed from the index alone (insights, the rep
            # scorecards: ``reports.metrics.sums_by_owner``), the open ones from
            # ``deal_open_owner_close_idx``.
            models.Index(
                fields=["owner", "closed_at"],
                include=["created_at", "id", "status", "currency", "amount"],
                condition=Q(deleted_at__isnull=True),
                name="deal_live_owner_closed_idx",
            ),
            # The id sort's index: with the deletion mark beside each id, the live deals of an
            # owner are read from the index alone, so the planner no longer prefers walking the
            # primary key and filtering on the owner (131 ms for a team's page, 2.4 ms now).
            models.Index(
                fields=["owner", "id"], include=["deleted_at"], name="deal_owner_id_live_idx"
            ),
            # The deal list page's default order (open deals first by close date, then closed
            # ones latest first), per owner: the owner descending as the page reads it.
            models.Index(
                fields=["-owner", "-closed_at", "expected_close_date", "id"],
                name="deal_owner_page_order_idx",
            ),
            # Every live deal in the list's default order: a list whose owners hold a large
            # share of all deals finds its page walking it (``deal_list_page``, the walk). The
            # walk's alone: only a query that also says ``id > 0`` may use it, for another
            # read ordered by close date (a small team's board columns) would walk all of it
            # filtering (a board in 4.7 s, not 51 ms).
            models.Index(
                fields=["expected_close_date", "id"],
                condition=Q(deleted_at__isnull=True, id__gt=0),
                name="deal_live_close_idx",
            ),
            # The same walk by amount: a large share's page by size, largest first or last,
            # is found a few hundred rows in, where the merge sorts every owner's first rows.
            models.Index(
                fields=["amount", "id"],
                condition=Q(deleted_at__isnull=True, id__gt=0),
                name="deal_live_amount_idx",
            ),
            # The same walk in the list's default order (closed deals after the open ones,
            # newest first): the list is its front, so page 20 of a team's is its next
            # thousand rows (``deal_list_page``'s ``front``), not a thousand of every owner's.
            models.Index(
                fields=["-closed_at", "expected_close_date", "id"],
                condition=Q(deleted_at__isnull=True, id__gt=0),
                name="deal_live_page_order_idx",
            ),
            models.Index(fields=["stage", "status"], name="deal_stage_status_idx"),
            models.Index(fields=["stage", "closed_at"], name="deal_stage_closed_idx"),
            models.Index(fields=["status", "closed_at"], name="deal_status_closed_idx"),
            models.Index(fields=["pipeline", "status"], name="deal_pipeline_status_idx"),
            models.Index(fields=["created_at"], name="deal_created_idx"),
            # The live deals created in a period with what their created value needs: team
            # health's new pipeline per owner from the index alone.
            models.Index(
                fields=["created_at"],
                include=["owner", "currency", "amount"],
                condition=Q(deleted_at__isnull=True),
                name="deal_live_created_idx",
            ),
            # Quota attainment sums each person's won value in a few date windows, converted from
            # its currency: read from this index alone. With the id, products sold finds a team's
            # won deals here alone too (70 ms for manager1 at 1M deals, 0.7 s from the table).
            models.Index(
                fields=["owner", "closed_at"],
                include=["amount", "currency", "id"],
                condition=Q(status="won", deleted_at__isnull=True),
                name="deal_won_owner_closed_idx",
            ),
            # Each person's largest won deals per currency, which bound their best deal
            # (``coaching.celebrations``): a few entries per person, not every won deal.
            models.Index(
                fields=["owner", "currency", "amount"],
                include=["closed_at", "id"],
                condition=Q(status="won", deleted_at__isnull=True),
                name="deal_won_owner_amount_idx",
            ),
            # The territory tree sums a period's won deals per account's territory, for a team
            # or everyone (46,000 a quarter at 1,000,000): a range of this index, not 20,000
            # table pages.
            models.Index(
                fields=["closed_at"],
                include=["id", "owner", "account", "currency", "amount"],
                condition=Q(status="won", deleted_at__isnull=True),
                name="deal_won_closed_idx",
            ),
            # The lost-reasons report counts and sums a period's lost deals by reason and month, or
            # by the stage they were lost from (their stage finds their move into it), for the
            # organisation 120k deals a quarter at 1M: read from this index alone.
            models.Index(
                fields=["closed_at"],
                include=["id", "lost_reason", "owner", "currency", "amount", "stage"],
                condition=Q(status="lost", deleted_at__isnull=True),
                name="deal_lost_closed_idx",
            ),
            # The deals committed for a month (the commitments report): read from the index alone.
            models.Index(
                fields=["expected_close_date"],
                include=["id", "owner"],
                condition=Q(status="open", forecast_category="commit", deleted_at__isnull=True),
                name="deal_commit_close_idx",
            ),
            # The board: per owner and stage, its open deals (no close) and those closed in a
            # period, with what its totals and its columns' order read: index-only ranges.
            models.Index(
                fields=["owner", "stage", "closed_at"],
                include=["pipeline", "expected_close_date", "id", "currency", "amount"],
                condition=Q(deleted_at__isnull=True),
                name="deal_board_idx",
            ),
            # The same ranges for a board of everyone's (an admin's), which has no owner to lead
            # with: per stage, its open deals and those closed in the period, read from the
            # index alone for the totals and a closed column's first cards (1.2 s of the heap
            # and of sorting at 1,000,000 deals, 160 ms now).
            models.Index(
                fields=["stage", "closed_at"],
                include=["pipeline", "expected_close_date", "id", "currency", "amount"],
                condition=Q(deleted_at__isnull=True),
                name="deal_board_stage_idx",
            ),
            # An open column's first cards walked in its order (close date, id), filtered by owner
            # in the index: a few entries for a manager, where ``deal_board_idx`` reads and sorts
            # every open deal of the team in that stage. A rep's few deals still read that one.
            models.Index(
                fields=["stage", "expected_close_date", "id"],
                include=["owner", "pipeline"],
                condition=Q(deleted_at__isnull=True, closed_at__isnull=True),
                name="deal_board_open_order_idx",
            ),
            # The deals page sorted by stage, one (pipeline, stage) at a time in id order
            # (``deal_ids_by_stage``): the first 51 of a stage from the index alone, filtered by
            # owner and period in it, where sorting every listed deal took 0.6-0.9 s at 1M deals.
            models.Index(
                fields=["stage", "id"],
                include=["owner", "pipeline", "status", "closed_at"],
                condition=Q(deleted_at__isnull=True),
                name="deal_live_stage_id_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == StageKind.OPEN


class ExchangeRate(models.Model):
    """One unit of ``currency`` is worth ``rate`` units of the reporting currency
    (``settings.REPORTING_CURRENCY``) from ``valid_from`` until the currency's next rate.

    The unique (currency, valid_from) index also answers "the latest rate on or
    before a date", which every converted figure asks per currency.
    """

    currency = models.CharField(max_length=3)
    valid_from = models.DateField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "valid_from"], name="exchange_rate_currency_day"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate.normalize():f} {settings.REPORTING_CURRENCY} from {self.valid_from}"


class DealLineItem(models.Model):
    """A product on a deal; a deal with line items is worth their total."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="line_items")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="line_items")
    quantity = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    unit_price = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    discount_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Discount in percent of the list total.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="line_price_not_negative"),
            models.CheckConstraint(
                condition=Q(discount_pct__gte=0, discount_pct__lte=100), name="line_discount_range"
            ),
        ]
        indexes = [models.Index(fields=["product", "deal"])]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product}"

    @property
    def total(self) -> Decimal:
        return line_total(self.quantity, self.unit_price, self.discount_pct)


def line_total(quantity: Decimal, unit_price: Decimal, discount_pct: Decimal) -> Decimal:
    """The value of one line, rounded to the cent."""
    gross = Decimal(quantity) * Decimal(unit_price)
    return (gross * (Decimal(100) - Decimal(discount_pct)) / Decimal(100)).quantize(Decimal("0.01"))


class StageTransition(models.Model):
    """One stage change of a deal; the first one of a deal (``from_stage`` null) is its creation.

    Rows are immutable once written: the history is the source of truth for
    conversion and time-in-stage figures.
    """

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="transitions_in")
    at = models.DateTimeField(default=timezone.now)
    from_stage_entered_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the deal had entered from_stage: the stay ends at ``at``.",
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deal_id", "at", "id"]
        indexes = [
            models.Index(fields=["deal", "at"], name="transition_deal_at_idx"),
            # Carrying the deal and the stage left, a period's moves into a stage (the lost reasons
            # by stage: the moves into the lost stages) are read from the index alone.
            models.Index(
                fields=["to_stage", "at"],
                include=["deal", "from_stage"],
                name="transition_stage_at_idx",
            ),
            models.Index(fields=["at"], name="transition_at_idx"),
            models.Index(fields=["from_stage", "at"], name="transition_from_stage_at_idx"),
        ]

    def __str__(self) -> str:
        origin = self.from_stage.name if self.from_stage_id else "created"
        return f"{origin} -> {self.to_stage.name} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("Stage transitions are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Stage transitions are immutable.")


class ContactRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", "Decision maker"
    ECONOMIC_BUYER = "economic_buyer", "Economic buyer"
    CHAMPION = "champion", "Champion"
    INFLUENCER = "influencer", "Influencer"
    TECHNICAL = "technical", "Technical evaluator"
    OTHER = "other", "Other"


class DealContact(models.Model):
    """A contact's part in a deal; a contact is linked to a deal at most once."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="deal_links")
    role = models.CharField(max_length=16, choices=ContactRole.choices, default=ContactRole.OTHER)
    linked_at = models.DateTimeField(default=timezone.now)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deal_id", "linked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "contact"],
                name="deal_contact_unique",
                violation_error_message="This contact is already linked to this deal.",
            ),
        ]
        indexes = [models.Index(fields=["contact", "deal"], name="deal_contact_contact_idx")]

    def __str__(self) -> str:
        return f"{self.contact} on {self.deal} ({self.get_role_display()})"


class ActivityKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    EMAIL = "email", "Email"
    MEETING = "meeting", "Meeting"
    CLIENT_VISIT = "client_visit", "Client visit"


class Activity(models.Model):
    """A note, call, email, meeting or client visit, on a deal and/or an account."""

    kind = models.CharField(max_length=16, choices=ActivityKind.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    # Indexed with the id (``activity_author_id_idx``) rather than alone.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="activities",
        db_index=False,
    )
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "activities"
        constraints = [
            models.CheckConstraint(
                condition=Q(deal__isnull=False) | Q(account__isnull=False),
                name="activity_has_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["deal", "occurred_at"], name="activity_deal_idx"),
            models.Index(fields=["account", "occurred_at"], name="activity_account_idx"),
            # Covering: a person's activities in a period, counted by kind, read from the index
            # alone; and the list's part of the reader's own activities, newest first, read in
            # its order. Without the id the planner walked every activity's occurred_at index
            # backwards looking for the reader's (13 s for a manager who wrote none, at 3.5M).
            models.Index(
                fields=["author", "occurred_at", "id"],
                include=["kind"],
                name="activity_author_kind_idx",
            ),
            # The same part by id (``ordering=-id``); an index of the author alone would not
            # give that order.
            models.Index(fields=["author", "id"], name="activity_author_id_idx"),
            # The activity list, newest first (``activity_list_page``): walked in its order, each
            # row's deal at hand to check against the reader's deals by primary key.
            models.Index(
                fields=["occurred_at", "id"], include=["deal"], name="activity_occurred_idx"
            ),
            # ...and the activities with no deal, on an account only.
            models.Index(
                fields=["occurred_at", "id"],
                include=["account"],
                condition=Q(deal__isnull=True),
                name="activity_account_only_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"

    # Read through ``activities_visible_to``, an activity knows whether its reader may see its
    # deal and account; read any other way (a service's own write, a webhook) it shows them.
    @property
    def shown_deal(self) -> "Deal | None":
        """The deal, when whoever reads the activity may see it; else None ("a deal no longer yours")."""
        return self.deal if self.deal_id and getattr(self, "deal_shown", True) else None

    @property
    def shown_account(self) -> "Account | None":
        """The account, when whoever reads the activity may see it; else None."""
        return self.account if self.account_id and getattr(self, "account_shown", True) else None

    @property
    def deal_hidden(self) -> bool:
        """Whether the activity is on a deal its reader may no longer see."""
        return bool(self.deal_id) and not getattr(self, "deal_shown", True)


class TerritoryRule(models.Model):
    """One assignment rule of a territory: its conditions hold together (AND).

    An account matches a territory when any of its rules matches (OR). Where
    rules of several territories match, the lowest ``priority`` wins, then the
    lowest territory id, then the lowest rule id (see ``pipeline.assignment``).
    An empty condition places no limit; a rule has at least one condition.
    """

    territory = models.ForeignKey(
        "quotas.Territory", on_delete=models.CASCADE, related_name="rules"
    )
    priority = models.PositiveIntegerField(
        default=100, help_text="Lower wins where territories compete."
    )
    countries = models.JSONField(default=list, blank=True, help_text="ISO 3166-1 alpha-2 codes.")
    regions = models.JSONField(default=list, blank=True)
    industries = models.JSONField(default=list, blank=True)
    employees_min = models.PositiveIntegerField(null=True, blank=True)
    employees_max = models.PositiveIntegerField(null=True, blank=True)
    revenue_min = models.DecimalField(**MONEY, null=True, blank=True)
    revenue_max = models.DecimalField(**MONEY, null=True, blank=True)
    postcode_prefixes = models.JSONField(default=list, blank=True)
    accounts = models.ManyToManyField(
        Account, blank=True, related_name="+", help_text="Named accounts."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["priority", "territory_id", "id"]
        indexes = [models.Index(fields=["territory", "priority"], name="territory_rule_idx")]

    def __str__(self) -> str:
        return f"Rule {self.pk} of territory {self.territory_id} (priority {self.priority})"


class RealignmentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class TerritoryRealignment(models.Model):
    """A background job that hands accounts and their open deals to the territories the rules give.

    The plan (``RealignmentMove`` rows) is fixed when the job starts; batches
    then apply it in account order, and ``cursor`` (the last account id done)
    lets a restarted job resume where it stopped.
    """

    status = models.CharField(
        max_length=8, choices=RealignmentStatus.choices, default=RealignmentStatus.QUEUED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    total = models.PositiveIntegerField(default=0, help_text="Accounts planned to move.")
    done = models.PositiveIntegerField(
        default=0, help_text="Accounts handled so far (moved or skipped)."
    )
    skipped = models.PositiveIntegerField(
        default=0, help_text="Accounts changed by someone since the plan."
    )
    deals_moved = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progressed_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the job was queued or last moved on (the sweeper's clue).",
    )
    queued_times = models.PositiveIntegerField(
        default=1, help_text="How many times the job was put on the queue."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Realignment {self.pk} ({self.status}, {self.done}/{self.total})"


class RealignmentMove(models.Model):
    """One account's planned move in a realignment: from a territory and owner to others."""

    job = models.ForeignKey(TerritoryRealignment, on_delete=models.CASCADE, related_name="moves")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    from_territory_id = models.BigIntegerField(null=True)
    to_territory_id = models.BigIntegerField(null=True)
    from_owner_id = models.BigIntegerField()
    to_owner_id = models.BigIntegerField()
    rule = models.ForeignKey(TerritoryRule, null=True, on_delete=models.SET_NULL, related_name="+")
    deals = models.PositiveIntegerField(
        default=0, help_text="Open deals planned to change owner with the account."
    )

    class Meta:
        ordering = ["job_id", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "account"], name="realignment_move_unique")
        ]

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.from_owner_id} -> {self.to_owner_id}"


class Handover(models.Model):
    """An account or a deal changing hands or territory: who did it, from whom, to whom, when and why.

    ``deal`` is empty for the account's own record; ``rule`` names the
    assignment rule that moved it, ``by`` the admin who applied the change.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="handovers")
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="handovers"
    )
    from_territory = models.ForeignKey(
        "quotas.Territory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_territory = models.ForeignKey(
        "quotas.Territory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.ForeignKey(
        TerritoryRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    job = models.ForeignKey(
        TerritoryRealignment,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handovers",
    )
    reason = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["account", "at"], name="handover_account_idx"),
            models.Index(fields=["deal", "at"], name="handover_deal_idx"),
            models.Index(fields=["to_territory", "at"], name="handover_to_territory_idx"),
            models.Index(fields=["from_territory", "at"], name="handover_from_territory_idx"),
        ]

    def __str__(self) -> str:
        subject = f"deal {self.deal_id}" if self.deal_id else f"account {self.account_id}"
        return f"{subject}: {self.from_owner_id} -> {self.to_owner_id} ({self.reason})"


class ImportKind(models.TextChoices):
    DEALS = "deals", "Deals"
    ACCOUNTS = "accounts", "Accounts"
    CONTACTS = "contacts", "Contacts"


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"  # waiting for its column mapping
    CHECKING = "checking", "Checking"  # the dry run
    CHECKED = "checked", "Checked"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """A spreadsheet of deals, accounts or contacts: checked by a dry run, then written in batches.

    ``cursor`` is the last spreadsheet row the current phase (dry run or run)
    handled; each batch is written together with its rejected rows and the
    counts in one transaction, so a job run again resumes after the last batch
    that committed.
    """

    kind = models.CharField(max_length=8, choices=ImportKind.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=200)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=dict, blank=True, help_text="Field name -> column header.")
    day_first = models.BooleanField(default=True, help_text="Read 02/03/2026 as 2 March.")
    total = models.PositiveIntegerField(default=0, help_text="Data rows in the file.")
    cursor = models.PositiveIntegerField(
        default=0, help_text="The last spreadsheet row handled by the current phase."
    )
    done = models.PositiveIntegerField(default=0, help_text="Data rows handled so far.")
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} of {self.kind} ({self.status}, {self.cursor}/{self.total})"

    @property
    def is_busy(self) -> bool:
        return self.status in (ImportStatus.CHECKING, ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def is_dry_run(self) -> bool:
        return self.status in (ImportStatus.CHECKING, ImportStatus.CHECKED)


class ImportRejection(models.Model):
    """A row an import's dry run or run refused, with its values as given and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections")
    dry_run = models.BooleanField()
    row = models.PositiveIntegerField(
        help_text="Its row in the spreadsheet; the headers are row 1."
    )
    reasons = models.TextField()
    values = models.JSONField(default=list)

    class Meta:
        ordering = ["job_id", "dry_run", "row"]
        indexes = [models.Index(fields=["job", "dry_run", "row"], name="import_rejection_idx")]

    def __str__(self) -> str:
        return f"row {self.row}: {self.reasons}"


class ImportMapping(models.Model):
    """The column mapping a person last used for an import of a kind, offered again next time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=ImportKind.choices)
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="import_mapping_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} mapping of user {self.user_id}"


# Outbound webhooks keep their tables in their own module of this app.
from pipeline.webhooks.models import (  # noqa: E402, F401
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)


class DealSplit(models.Model):
    """A rep's share of the credit for a deal, in percent; a deal's shares sum to 100.

    A deal without splits credits its owner whole (see ``reports.compensation``).
    """

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="splits")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deal_splits"
    )
    share = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("100"))],
        help_text="Percent of the deal credited to this rep.",
    )

    class Meta:
        ordering = ["deal_id", "-share", "id"]
        constraints = [
            models.UniqueConstraint(fields=["deal", "rep"], name="deal_split_rep_unique"),
            models.CheckConstraint(
                condition=Q(share__gt=0) & Q(share__lte=100), name="deal_split_share_range"
            ),
        ]
        indexes = [models.Index(fields=["rep", "deal"], name="deal_split_rep_idx")]

    def __str__(self) -> str:
        return f"{self.rep} {self.share}% of {self.deal}"
