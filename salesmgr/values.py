"""Reading loosely typed input (query strings, CSV cells, JSON values) into Python values.

Each reader answers None for anything that is not a value of its kind, so the
caller decides whether that is an error or a default.
"""

import datetime
from typing import Any


def parse_int(value: Any, *, positive: bool = False) -> int | None:
    """An integer (a bool is not one); with ``positive``, only one above zero."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if isinstance(value, float) and number != value:
        return None
    if positive and number <= 0:
        return None
    return number


# The calendar a sales figure can span: wide enough for any real history or plan, narrow enough
# that a period, the period before it and a series of weeks over it stay inside Python's dates.
EARLIEST_DAY = datetime.date(1900, 1, 1)
LATEST_DAY = datetime.date(2999, 12, 31)
DAY_RANGE_TEXT = f"Dates run from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}."


def day_in_range(day: datetime.date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY


def parse_date(value: Any) -> datetime.date | None:
    """A calendar date from a ``date`` or an ISO ``YYYY-MM-DD`` string; a datetime is not a date."""
    if isinstance(value, datetime.datetime):
        return None
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
