"""Fixtures of the coaching tests.

A one-on-one world: a weekly series between the manager and ``rep``, and its first two meetings
(``series``, ``meetings``, ``outsider_series``).

A team's history built by hand for the insights, every time and count known.

Times are days after T0, midnight 60 days ago; the period is the default 90 days.
The team of ``manager``: rep, rep2 and rep3 (outsider is in another team).

rep (Riley):
- 4 deals created in Qualification at T0, lost at +1;
- 16 created at T0, Discovery at +2, lost at +5;
- 4 created at T0, Discovery +2, Proposal +4, won at +10; 1,000 each;
- 1 open deal created at +50 in Qualification, 3,000, closing in 30 days;
- a quota of 12,000 over the 180 days from today (6,000 falls in the next 90 days);
- activities: 3 calls and 1 email.

rep2 (Robin):
- 4 lost from Qualification at +1; 16 Discovery +2 then lost +5;
- 24 created at T0, Discovery +2, Proposal +4, won at +20; 2,000 each;
- activities: 6 calls and 2 meetings.

rep3 (Remy): 2 deals created at T0, Discovery +2, Proposal +4, won at +30; 4,000 each. No activities.

outsider: 30 deals lost in Discovery (they must not count for the team).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone

from coaching.models import MeetingStatus
from coaching.services import meeting_record, meetings_plan, series_schedule
from pipeline.periods import start_of
from pipeline.services.imports import (
    ActivitySpec,
    DealSpec,
    TransitionSpec,
    activities_import,
    deals_import,
)
from quotas.services import quota_set
from tests.coaching.hiring_world import (  # noqa: F401 - the hiring tests' fixtures
    applicants,
    north,
    other_position,
    position,
    team_quotas,
)
from tests.factories import AccountFactory, LostReasonFactory, UserFactory


@dataclass
class TeamHistory:
    today: datetime.date
    t0: datetime.datetime
    stages: dict


@pytest.fixture
def rep3(manager):
    return UserFactory(username="rep3", manager=manager, full_name="Remy Rep")


def build(admin, stages, pipeline, plan: list[tuple]) -> TeamHistory:
    """Deals from ``plan``: (owner, how many, amount, created day, [(stage name, day)], open closing in N days or None)."""
    today = timezone.localdate()
    t0 = start_of(today - datetime.timedelta(days=60))
    reason = LostReasonFactory(name="Price")
    accounts = {}
    specs = []
    for owner, count, amount, created, moves, close_in in plan:
        account = accounts.get(owner.pk) or accounts.setdefault(
            owner.pk, AccountFactory(owner=owner)
        )
        last = stages[moves[-1][0]]
        for n in range(count):
            specs.append(
                DealSpec(
                    name=f"{owner.username} {len(specs)} {n}",
                    account_id=account.pk,
                    owner_id=owner.pk,
                    pipeline_id=pipeline.pk,
                    stage_id=last.pk,
                    amount=Decimal(amount),
                    currency="USD",
                    expected_close_date=today + datetime.timedelta(days=close_in or 30),
                    forecast_category="pipeline",
                    created_at=t0 + datetime.timedelta(days=created),
                    lost_reason_id=reason.pk if last.kind == "lost" else None,
                    transitions=[
                        TransitionSpec(
                            to_stage_id=stages[name].pk,
                            at=t0 + datetime.timedelta(days=day),
                            by_id=owner.pk,
                        )
                        for name, day in moves
                    ],
                    changes=[],
                )
            )
    deals_import(specs=specs, by=admin)
    return TeamHistory(today=today, t0=t0, stages=stages)


LOST_EARLY = [("Qualification", 0), ("Lost", 1)]
LOST_IN_DISCOVERY = [("Qualification", 0), ("Discovery", 2), ("Lost", 5)]


def won_at(day: int) -> list:
    return [("Qualification", 0), ("Discovery", 2), ("Proposal", 4), ("Won", day)]


@pytest.fixture
def team_history(admin, manager, rep, rep2, rep3, outsider, pipeline, stages):
    history = build(
        admin,
        stages,
        pipeline,
        [
            (rep, 4, "500", 0, LOST_EARLY, None),
            (rep, 16, "500", 0, LOST_IN_DISCOVERY, None),
            (rep, 4, "1000", 0, won_at(10), None),
            (rep, 1, "3000", 50, [("Qualification", 50)], 30),
            (rep2, 4, "500", 0, LOST_EARLY, None),
            (rep2, 16, "500", 0, LOST_IN_DISCOVERY, None),
            (rep2, 24, "2000", 0, won_at(20), None),
            (rep3, 2, "4000", 0, won_at(30), None),
            (outsider, 30, "500", 0, LOST_IN_DISCOVERY, None),
        ],
    )
    quota_set(
        owner=rep,
        period_start=history.today,
        period_end=history.today + datetime.timedelta(days=179),
        target=Decimal("12000"),
    )
    moment = history.t0 + datetime.timedelta(days=40)
    kinds = [
        (rep, "call", 3),
        (rep, "email", 1),
        (rep2, "call", 6),
        (rep2, "meeting", 2),
        (outsider, "call", 9),
    ]
    accounts = {author.pk: AccountFactory(owner=author).pk for author in (rep, rep2, outsider)}
    activities_import(
        specs=[
            ActivitySpec(
                kind=kind,
                subject=f"{kind} {n}",
                occurred_at=moment,
                author_id=author.pk,
                account_id=accounts[author.pk],
            )
            for author, kind, count in kinds
            for n in range(count)
        ]
    )
    return history


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
