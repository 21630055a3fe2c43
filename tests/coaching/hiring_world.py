"""A hiring world shared by the hiring tests.

The manager's team (rep, rep2) has monthly quotas of 10,000 for the past twelve months, so the
team's standard per-rep quota is 10,000. The manager has an open position in the North territory
with three applicants (applied, interview, offer); the interview one carries a note and a
scorecard holding ``WORD``, a word that appears nowhere else. The other manager has a position of
their own with one applicant.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from coaching.hiring_capacity import month_starts
from coaching.services import (
    applicant_add,
    applicant_move,
    interview_note_add,
    position_create,
    scorecard_record,
)
from quotas.services import quota_set, territory_create

WORD = "Quixotrelline"
NOTE = f"Strong closer; asked about {WORD} equity"
SUMMARY = f"Would hire; {WORD} references check out"


def last_day(first: datetime.date) -> datetime.date:
    return month_starts(first, 2)[1] - datetime.timedelta(days=1)


@pytest.fixture
def team_quotas(rep, rep2):
    today = timezone.localdate()
    for first in month_starts(today.replace(day=1).replace(year=today.year - 1), 12):
        for person in (rep, rep2):
            quota_set(
                owner=person,
                period_start=first,
                period_end=last_day(first),
                target=Decimal("10000"),
            )


@pytest.fixture
def north(manager, rep, admin):
    return territory_create(name="North", owner=manager, reps=[rep], by=admin)


@pytest.fixture
def position(manager, north, team_quotas):
    start = timezone.localdate() + datetime.timedelta(days=20)
    return position_create(
        by=manager, title="Account executive", start_wanted=start, territory=north
    )


@pytest.fixture
def applicants(position, manager):
    applied = applicant_add(by=manager, position=position, full_name="Ann Applied")
    interview = applicant_add(
        by=manager, position=position, full_name="Ivan Interview", email="ivan@example.org"
    )
    applicant_move(by=manager, applicant=interview, stage="interview")
    offer = applicant_add(by=manager, position=position, full_name="Olga Offer")
    applicant_move(by=manager, applicant=offer, stage="offer")
    interview.refresh_from_db()
    offer.refresh_from_db()
    interview_note_add(by=manager, applicant=interview, text=NOTE)
    scorecard_record(
        by=manager,
        applicant=interview,
        recommendation="yes",
        ratings={"closing": 5, "discovery": 4},
        summary=SUMMARY,
    )
    return {"applied": applied, "interview": interview, "offer": offer}


@pytest.fixture
def other_position(other_manager):
    position = position_create(
        by=other_manager,
        title="SDR",
        start_wanted=timezone.localdate() + datetime.timedelta(days=30),
        monthly_quota=Decimal("5000"),
    )
    applicant_add(by=other_manager, position=position, full_name="Otto Other")
    return position
