"""Rules for exchange rates: what a rate must be, and what a CSV of rates must hold.

Each check returns ``{field: message}``, empty when the write is allowed.
"""

import csv
import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from pipeline.models import ExchangeRate
from salesmgr.currencies import is_currency

RATE_CURRENCY = "The currency must be an ISO 4217 code such as EUR."
RATE_POSITIVE = "The rate must be a positive number."
RATE_TOO_PRECISE = "The rate has at most 10 decimal places and 10 digits before the point."
RATE_DATE = "The date must be a date such as 2026-01-31."
RATE_TAKEN = "This currency already has a rate from this date."
CSV_HEADER = "The first line must name the columns currency,date,rate."
CSV_EMPTY = "The file holds no rates."
CSV_REPEATED = "This currency and date appear on an earlier row."
CSV_NOT_TEXT = "The file must be UTF-8 text in CSV form."
RATE_FIELDS = ("currency", "valid_from", "rate")


def reporting_currency_has_no_rate() -> str:
    """The one wording for a rate given for the reporting currency, which is 1 by definition."""
    return f"{settings.REPORTING_CURRENCY} is the reporting currency: its rate is always 1."


def exchange_rate_errors(
    *, currency: Any, valid_from: Any, rate: Any, exchange_rate: ExchangeRate | None = None
) -> dict[str, str]:
    """What refuses a rate of ``currency`` from ``valid_from`` (``exchange_rate``: the row being changed):
    ``exchange_rate_field_errors``, then another rate of the currency from the same date."""
    errors = exchange_rate_field_errors(currency=currency, valid_from=valid_from, rate=rate)
    if not errors:
        clash = ExchangeRate.objects.filter(currency=currency, valid_from=valid_from)
        if exchange_rate is not None and exchange_rate.pk is not None:
            clash = clash.exclude(pk=exchange_rate.pk)
        if clash.exists():
            errors["valid_from"] = RATE_TAKEN
    return errors


def exchange_rate_field_errors(*, currency: Any, valid_from: Any, rate: Any) -> dict[str, str]:
    """What is wrong with a rate's own values, without reading the database.

    The currency is checked as given: callers upper-case what users type.
    """
    errors = {}
    if not is_currency(currency):
        errors["currency"] = RATE_CURRENCY
    elif currency == settings.REPORTING_CURRENCY:
        errors["currency"] = reporting_currency_has_no_rate()
    if not isinstance(valid_from, datetime.date) or isinstance(valid_from, datetime.datetime):
        errors["valid_from"] = RATE_DATE
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
        errors["rate"] = RATE_POSITIVE
    else:
        exponent = rate.normalize().as_tuple().exponent
        if (isinstance(exponent, int) and exponent < -10) or rate >= 10**10:
            errors["rate"] = RATE_TOO_PRECISE
    return errors


def parse_rate_csv(text: str) -> tuple[list[dict], list[dict]]:
    """The rates of a CSV ``currency,date,rate`` (a header line first), and the errors of its rows.

    Returns ``(rates, errors)``: each rate ``{"row", "currency", "valid_from", "rate"}``, each
    error ``{"row", "field", "message"}``; rows are numbered as a spreadsheet shows them (the
    header is row 1). A rate for a currency and date already stored replaces it, so this checks
    only the rows themselves and their repeats within the file.
    """
    lines = list(csv.reader(text.splitlines()))
    header = [cell.strip().lower() for cell in lines[0]] if lines else []
    if header != ["currency", "date", "rate"]:
        return [], [{"row": 1, "field": "file", "message": CSV_HEADER}]
    rates, errors, seen = [], [], {}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != 3:
            errors.append(
                {
                    "row": number,
                    "field": "row",
                    "message": "A row has three cells: currency,date,rate.",
                }
            )
            continue
        currency, day, rate = (cell.strip() for cell in cells)
        parsed = {"currency": currency.upper(), "valid_from": _date(day), "rate": _decimal(rate)}
        row_errors = exchange_rate_field_errors(**parsed)
        key = (parsed["currency"], parsed["valid_from"])
        if not row_errors and key in seen:
            row_errors["valid_from"] = f"{CSV_REPEATED} (row {seen[key]})"
        seen.setdefault(key, number)
        for field, message in row_errors.items():
            errors.append(
                {
                    "row": number,
                    "field": "date" if field == "valid_from" else field,
                    "message": message,
                }
            )
        if not row_errors:
            rates.append({"row": number, **parsed})
    if not rates and not errors:
        errors.append({"row": 2, "field": "file", "message": CSV_EMPTY})
    return rates, errors


def _date(text: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


def exchange_rate_delete_errors(*, exchange_rate: ExchangeRate) -> dict[str, str]:
    """Nothing refuses removing a rate: its currency then converts at the rate before it, or not at all."""
    return {}
