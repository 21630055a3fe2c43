"""The ride-along tests' world: accounts, deals and client visits of the standard cast.

Imported by the ride-along test modules; the fixtures build on the cast of
``tests/conftest.py`` (admin; manager with rep and rep2; other_manager with outsider).
"""

import datetime

import pytest
from django.utils import timezone

from coaching.ride_along_checks import ScoreLine
from coaching.services import ride_along_record
from pipeline.services import activity_log
from tests.factories import AccountFactory, DealFactory

VISIT_DAY = datetime.date(2026, 3, 4)


def noon(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


def card(**scores) -> list[ScoreLine]:
    """A scorecard from ``skill=score`` or ``skill=(score, note)``."""
    lines = []
    for skill, value in scores.items():
        score, note = value if isinstance(value, tuple) else (value, "")
        lines.append(ScoreLine(skill=skill, score=score, note=note))
    return lines


@pytest.fixture
def account(rep):
    return AccountFactory(owner=rep, name="Acme Corp")


@pytest.fixture
def deal(rep, account, pipeline):
    return DealFactory(owner=rep, account=account, pipeline=pipeline, name="Acme renewal")


@pytest.fixture
def visit(rep, deal):
    """The rep's client visit at Acme on the visit day."""
    return activity_log(
        by=rep, kind="client_visit", subject="Site visit", deal=deal, occurred_at=noon(VISIT_DAY)
    )


@pytest.fixture
def outsider_account(outsider):
    return AccountFactory(owner=outsider, name="Elsewhere Ltd")


@pytest.fixture
def outsider_deal(outsider, outsider_account, pipeline):
    return DealFactory(owner=outsider, account=outsider_account, pipeline=pipeline)


@pytest.fixture
def ride_along(manager, rep, account, deal, visit):
    """The manager joined the rep's visit at Acme and scored every skill."""
    return ride_along_record(
        by=manager,
        rep=rep,
        visited_on=VISIT_DAY,
        account=account,
        deal=deal,
        activity=visit,
        observations="Strong opening; rushed the close.",
        scores=card(
            opening=(4, "Good rapport"),
            discovery=3,
            presentation=4,
            objections=2,
            closing=(2, "Asked for the order too late"),
        ),
    )


@pytest.fixture
def outsider_ride_along(other_manager, outsider, outsider_account, outsider_deal):
    return ride_along_record(
        by=other_manager,
        rep=outsider,
        visited_on=VISIT_DAY,
        account=outsider_account,
        deal=outsider_deal,
        observations="Elsewhere visit",
        scores=card(opening=5),
    )
