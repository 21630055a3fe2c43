"""Periods: which days a figure or a list covers, as ``[start, end)`` in calendar dates.

People read a date range with its last day included; queries want the day
after it. A ``Period`` keeps ``end`` as the day after (``last_day`` is the one
shown), so ``[start, end)`` holds in every query and the two never mix.
"""

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

DAY = datetime.timedelta(days=1)
PRESETS = {
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "qtd": "Quarter to date",
    "ytd": "Year to date",
    "month": "This month",
    "quarter": "This quarter",
}
CUSTOM = "custom"
DEFAULT_PRESET = "90d"


def start_of(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of ``day`` in the configured time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _quarter_start(day: datetime.date) -> datetime.date:
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def _months_later(first: datetime.date, months: int) -> datetime.date:
    """The first of the month ``months`` after ``first`` (itself a first of a month)."""
    index = first.month - 1 + months
    return first.replace(year=first.year + index // 12, month=index % 12 + 1)


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in dates: ``end`` is the day after the last one.

    ``preset`` says how it was chosen (a key of ``PRESETS``, or "custom");
    two periods over the same days are equal whatever their name.
    """

    start: datetime.date
    end: datetime.date
    preset: str = field(default=CUSTOM, compare=False)

    def __post_init__(self):
        if self.end <= self.start:
            raise ValueError("A period must end after it starts.")

    @classmethod
    def named(cls, preset: str, today: datetime.date) -> "Period":
        """The preset period around ``today``: the last 30 or 90 days, the quarter or year to
        date (each up to and including today), or the calendar month or quarter holding it."""
        end = today + DAY
        if preset == "30d":
            start = end - datetime.timedelta(days=30)
        elif preset == "90d":
            start = end - datetime.timedelta(days=90)
        elif preset == "qtd":
            start = _quarter_start(today)
        elif preset == "ytd":
            start = today.replace(month=1, day=1)
        elif preset == "month":
            start = today.replace(day=1)
            end = _months_later(start, 1)
        elif preset == "quarter":
            start = _quarter_start(today)
            end = _months_later(start, 3)
        else:
            raise ValueError(f"Unknown period {preset!r}.")
        return cls(start, end, preset)

    @classmethod
    def default(cls, today: datetime.date | None = None) -> "Period":
        """The last 90 days up to today: what the snapshots keep and the API answers unless asked."""
        return cls.named(DEFAULT_PRESET, today or timezone.localdate())

    @classmethod
    def from_days(cls, first: datetime.date, last: datetime.date) -> "Period":
        """The days from ``first`` to ``last``, both included, as people write a date range."""
        return cls(first, last + DAY)

    @property
    def last_day(self) -> datetime.date:
        """The period's last day, as shown to people."""
        return self.end - DAY

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """``[start, end)`` as instants: midnight at each end in the configured time zone."""
        return start_of(self.start), start_of(self.end)

    @property
    def previous(self) -> "Period":
        """The period of equal length that ends where this one starts."""
        return Period(self.start - datetime.timedelta(days=self.days), self.start)
