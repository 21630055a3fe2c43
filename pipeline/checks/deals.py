"""The rules a deal keeps: its fields, its lost reason, its account, owner, stage and line items.

Every function takes plain values, so the importer can check a whole batch
from what it has already loaded, and returns ``{field: [message, ...]}``,
empty when the values pass.
"""

import datetime
from decimal import Decimal
from typing import Any

from pipeline.models import Deal, ForecastCategory, StageKind, line_total
from salesmgr.currencies import is_currency

Errors = dict[str, list[str]]

NAME_MAX_LENGTH = Deal._meta.get_field("name").max_length
MAX_AMOUNT = Decimal("1e12")  # 14 digits, 2 of them after the point
MAX_TOTAL_TEXT = f"{MAX_AMOUNT:,.0f}"

LINE_ITEM_FIELDS = ("product", "quantity", "unit_price", "discount_pct")


def merge_errors(*found: Errors) -> Errors:
    """One errors dict from several, keeping each field's messages in order."""
    merged: Errors = {}
    for errors in found:
        for field, messages in errors.items():
            merged.setdefault(field, []).extend(messages)
    return merged


def _number(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return None


def amount_errors(amount: Any) -> list[str]:
    """The problems of a sum of money: a Decimal of at most two places, from 0 to under 10^12."""
    amount = _number(amount)
    if amount is None or not amount.is_finite() or amount.as_tuple().exponent < -2:
        return ["The amount must be a sum of money with at most two decimals."]
    if amount < 0:
        return ["The amount cannot be negative."]
    if amount >= MAX_AMOUNT:
        return ["The amount is too large."]
    return []


def close_date_errors(expected_close_date: Any) -> list[str]:
    is_date = isinstance(expected_close_date, datetime.date) and not isinstance(
        expected_close_date, datetime.datetime
    )
    return [] if is_date else ["The expected close date must be a date (YYYY-MM-DD)."]


def forecast_category_errors(forecast_category: Any) -> list[str]:
    if forecast_category in ForecastCategory.values:
        return []
    return [f"Unknown forecast category {forecast_category!r}."]


def deal_field_errors(
    *, name: Any, amount: Any, currency: Any, expected_close_date: Any, forecast_category: Any
) -> Errors:
    """A deal's own fields: a name, a sum of money, an ISO currency, a close date, a forecast category.

    The currency is checked as given: callers upper-case what users type.
    """
    errors: Errors = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = ["A deal needs a name."]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [f"The name is too long (at most {NAME_MAX_LENGTH} characters)."]
    if problems := amount_errors(amount):
        errors["amount"] = problems
    if not is_currency(currency):
        errors["currency"] = ["The currency must be an ISO 4217 code such as USD."]
    if problems := close_date_errors(expected_close_date):
        errors["expected_close_date"] = problems
    if problems := forecast_category_errors(forecast_category):
        errors["forecast_category"] = problems
    return errors


def lost_reason_errors(
    *, stage_kind: str, lost_reason_id: int | None, lost_reason_active: bool | None = True
) -> Errors:
    """A deal in a lost stage says why, with a reason still offered; no other deal has one.

    ``lost_reason_active`` is None when no lost reason has that id.
    """
    if stage_kind == StageKind.LOST and lost_reason_id is None:
        return {"lost_reason": ["Say why the deal was lost."]}
    if stage_kind != StageKind.LOST and lost_reason_id is not None:
        return {"lost_reason": ["Only a lost deal has a lost reason."]}
    if lost_reason_id is not None and lost_reason_active is None:
        return {"lost_reason": [f"No lost reason {lost_reason_id!r}."]}
    if lost_reason_id is not None and not lost_reason_active:
        return {"lost_reason": ["That lost reason is no longer offered."]}
    return {}


def account_errors(*, account_deleted: bool) -> Errors:
    """A deal belongs to an account that is not deleted."""
    return {"account": ["The account is deleted."]} if account_deleted else {}


def owner_errors(*, owner_active: bool) -> Errors:
    """A deal is owned by someone who can still sign in."""
    return {} if owner_active else {"owner": ["The owner is deactivated."]}


EXTERNAL_ID_TAKEN = "Another of this owner's deals already has this external id."


def external_id_errors(*, taken: bool) -> Errors:
    """An external id is unique among its owner's live deals.

    Callers ask only about owners they may act for, whose deals they can see,
    so the answer never reveals a deal outside the caller's scope.
    """
    return {"external_id": [EXTERNAL_ID_TAKEN]} if taken else {}


def deal_deleted_errors(*, deleted: bool) -> Errors:
    """A deleted deal is restored before anything else about it changes."""
    return {"deal": ["A deleted deal cannot be changed; restore it first."]} if deleted else {}


def stage_errors(*, stage_name: str, stage_pipeline_id: int, pipeline_id: int) -> Errors:
    """A deal's stage is one of its pipeline's stages."""
    if stage_pipeline_id == pipeline_id:
        return {}
    return {"stage": [f"Stage {stage_name!r} is not in this deal's pipeline."]}


def pipeline_errors(*, pipeline_name: str, is_active: bool, stage_kinds: set[str]) -> Errors:
    """A pipeline takes deals when it is active and has an open, a won and a lost stage."""
    missing = [
        kind for kind in (StageKind.OPEN, StageKind.WON, StageKind.LOST) if kind not in stage_kinds
    ]
    if missing:
        needed = " and a ".join(str(kind) for kind in missing)
        return {
            "pipeline": [
                f"Pipeline {pipeline_name!r} takes no deals until it has a {needed} stage."
            ]
        }
    if not is_active:
        return {"pipeline": [f"Pipeline {pipeline_name!r} is archived."]}
    return {}


def line_item_errors(
    *, product_active: bool, quantity: Any, unit_price: Any, discount_pct: Any
) -> Errors:
    """One line item: a product still sold, a positive quantity, a price from 0, a discount from 0 to 100 %."""
    quantity, unit_price, discount_pct = (
        _number(quantity),
        _number(unit_price),
        _number(discount_pct),
    )
    errors: Errors = {}
    if not product_active:
        errors["product"] = ["That product is no longer sold."]
    if quantity is None or not quantity > 0:
        errors["quantity"] = ["The quantity must be positive."]
    if unit_price is None or not unit_price >= 0:
        errors["unit_price"] = ["The unit price cannot be negative."]
    if discount_pct is None or not Decimal(0) <= discount_pct <= Decimal(100):
        errors["discount_pct"] = ["The discount is a percentage from 0 to 100."]
    if not errors and line_total(quantity, unit_price, discount_pct) >= MAX_AMOUNT:
        errors["quantity"] = [
            f"{quantity} x {unit_price} is {MAX_TOTAL_TEXT} or more, above what a deal can be worth."
        ]
    return errors


def line_items_total_errors(total: Decimal) -> Errors:
    """The line items of one deal add up to less than the largest amount."""
    if total >= MAX_AMOUNT:
        return {
            "line_items": [
                f"The line items add up to {MAX_TOTAL_TEXT} or more, above what a deal can be worth."
            ]
        }
    return {}


def line_items_amount_errors(*, has_line_items: bool, amount: Decimal, total: Decimal) -> Errors:
    """A deal with line items is worth their total."""
    if has_line_items and amount != total:
        return {
            "amount": [
                f"The amount of a deal with line items is the total of its line items, {total}."
            ]
        }
    return {}
