"""What an import is given: row specs, loose values read into Python ones, and the errors of its rows."""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.checks.deals import Errors

# The deal fields whose past values an import may give.
CHANGEABLE_FIELDS = ("amount", "expected_close_date", "forecast_category")


class RowErrors(ValidationError):
    """Rows refused by an import, nothing written.

    ``errors`` lists ``{"row": i, "field": f, "message": m}`` in row order, the
    shape the bulk API answers with.
    """

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__([f"Row {e['row']}, {e['field']}: {e['message']}" for e in errors])


@dataclass
class TransitionSpec:
    to_stage_id: int
    at: datetime.datetime
    by_id: int | None = None
    # Why the deal was lost, for a move into the lost stage that is not the
    # last one (the last one takes the deal's own lost_reason_id).
    lost_reason_id: int | None = None


@dataclass
class ChangeSpec:
    field: str  # one of CHANGEABLE_FIELDS
    value: Any
    at: datetime.datetime
    by_id: int | None = None  # who made the change, when known


@dataclass
class DealSpec:
    name: str
    account_id: int
    owner_id: int
    pipeline_id: int
    stage_id: int
    amount: Decimal
    currency: str
    expected_close_date: datetime.date
    forecast_category: str
    created_at: datetime.datetime
    lost_reason_id: int | None
    transitions: list[TransitionSpec]
    changes: list[ChangeSpec]
    external_id: str | None = None
    # (product_id, quantity, unit_price, discount_pct); the amount must be their total.
    line_items: list[tuple[int, Decimal, Decimal, Decimal]] = field(default_factory=list)


@dataclass
class ContactSpec:
    first_name: str
    last_name: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""


@dataclass
class AccountSpec:
    name: str
    owner_id: int
    territory_id: int | None = None
    industry: str = ""
    region: str = ""
    employee_count: int | None = None
    website: str = ""
    created_at: datetime.datetime | None = None  # now when None
    contacts: list[ContactSpec] = field(default_factory=list)
    external_id: str | None = None
    country: str = ""
    postcode: str = ""
    annual_revenue: Decimal | None = None
    place: bool = False  # put it where the territory rules say, as account_create does


@dataclass
class ActivitySpec:
    kind: str
    subject: str
    occurred_at: datetime.datetime
    author_id: int
    deal_id: int | None = None
    account_id: int | None = None  # the deal's account when None and a deal is given
    body: str = ""


class ErrorCollector:
    """The errors found in a batch's rows, raised together as ``RowErrors``."""

    def __init__(self):
        self.items: list[dict] = []

    def add(self, row: int, field_name: str, message: str) -> None:
        self.items.append({"row": row, "field": field_name, "message": message})

    def extend(self, row: int, found: Errors, prefix: str = "") -> None:
        for field_name, messages in found.items():
            for message in messages:
                self.add(row, f"{prefix}{field_name}", message)

    def raise_if_any(self) -> None:
        if self.items:
            raise RowErrors(self.items)


def is_aware(value: Any) -> bool:
    return isinstance(value, datetime.datetime) and timezone.is_aware(value)


def as_decimal(value: Any) -> Decimal | None:
    """A money amount as a Decimal of at most two places, or None if it is not one."""
    if isinstance(value, float):
        return None  # binary fractions are not money
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number.as_tuple().exponent < -2:
        return None
    return number.quantize(Decimal("0.01"))
