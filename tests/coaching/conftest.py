"""A one-on-one world: the standard cast, a weekly series between the manager and ``rep``, and its first two meetings."""

import datetime

import pytest
from django.utils import timezone

from coaching.models import MeetingStatus
from coaching.services import meeting_record, meetings_plan, series_schedule


def at(day: str, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(
        datetime.datetime.combine(datetime.date.fromisoformat(day), datetime.time(hour))
    )


@pytest.fixture
def series(manager, rep):
    """Weekly on Wednesdays at 10:00 from Monday 2 March 2026: meetings on 4 and 11 March, the first held."""
    series = series_schedule(
        by=manager,
        rep=rep,
        cadence="weekly",
        weekday=2,
        time=datetime.time(10),
        starts_on=datetime.date(2026, 3, 2),
    )
    meetings_plan(series=series, until=datetime.date(2026, 3, 11))
    first = series.meetings.order_by("scheduled_at").first()
    meeting_record(meeting=first, by=manager, status=MeetingStatus.HELD)
    return series


@pytest.fixture
def meetings(series):
    """The series' meetings, oldest first."""
    return list(series.meetings.order_by("scheduled_at"))


@pytest.fixture
def outsider_series(other_manager, outsider):
    return series_schedule(
        by=other_manager,
        rep=outsider,
        cadence="fortnightly",
        weekday=4,
        time=datetime.time(15),
        starts_on=datetime.date(2026, 3, 2),
    )
