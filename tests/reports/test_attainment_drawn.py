"""Quota attainment sums each person's won deals once, on their first quota row: the won value,
target and quota count in each window match a Python oracle over drawn quotas and deals."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db.models import Q
from django.utils import timezone

from pipeline.models import Deal, StageKind
from pipeline.periods import Period, start_of
from quotas.models import Quota
from quotas.selectors import prorated_target
from reports.runners.attainment import quota_attainment
from tests.factories import DealFactory, UserFactory

pytestmark = pytest.mark.django_db

WINDOWS = {
    "year": Period(datetime.date(2025, 1, 1), datetime.date(2026, 1, 1)),
    "spring": Period(datetime.date(2025, 3, 1), datetime.date(2025, 6, 1)),
    "late": Period(datetime.date(2025, 11, 1), datetime.date(2026, 2, 1)),
}


@pytest.fixture
def drawn(manager, rep, rep2, pipeline, stages):
    """Five people with drawn monthly quotas (some months missing) and drawn won, lost and open
    deals closed around the windows, a few deleted."""
    draw = random.Random(20261206)
    people = [rep, rep2, manager, *(UserFactory(manager=manager) for _ in range(2))]
    won = next(stage for stage in stages.values() if stage.kind == StageKind.WON)
    lost = next(stage for stage in stages.values() if stage.kind == StageKind.LOST)
    for person in people:
        for month in range(1, 15):
            if draw.random() < 0.25:
                continue
            first = datetime.date(2024 + (month + 10) // 12, (month + 10) % 12 + 1, 1)
            following = datetime.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            Quota.objects.create(
                owner=person,
                period_start=first,
                period_end=following - datetime.timedelta(days=1),
                target=Decimal(draw.randrange(1_000, 50_000)),
            )
        for _ in range(draw.randrange(3, 12)):
            deal = DealFactory(
                owner=person, pipeline=pipeline, amount=Decimal(draw.randrange(100, 9_000))
            )
            closed = timezone.make_aware(
                datetime.datetime(2024, 11, 1)
                + datetime.timedelta(hours=draw.randrange(0, 24 * 520))
            )
            stage = draw.choice([won, won, lost])
            change = {"status": stage.kind, "stage": stage, "closed_at": closed}
            if draw.random() < 0.1:
                change["deleted_at"] = timezone.now()
            Deal.objects.filter(pk=deal.pk).update(**change)
    return people


def test_each_persons_figures_match_the_oracle(drawn):
    people = {person.pk for person in drawn}
    found = quota_attainment(Q(owner_id__in=people), WINDOWS)
    quotas = list(Quota.objects.filter(owner_id__in=people))
    deals = list(Deal.objects.filter(owner_id__in=people))
    first = min(w.start for w in WINDOWS.values())
    last = max(w.end for w in WINDOWS.values())
    expected = {}
    for pk in people:
        mine = [
            q
            for q in quotas
            if q.owner_id == pk and q.period_start < last and q.period_end >= first
        ]
        if not mine:
            continue
        expected[pk] = {}
        for name, window in WINDOWS.items():
            inside = [
                q for q in mine if q.period_start < window.end and q.period_end >= window.start
            ]
            target = sum(
                (
                    prorated_target(
                        q.target, q.period_start, q.period_end, (window.start, window.last_day)
                    )
                    for q in inside
                ),
                Decimal(0),
            ).quantize(Decimal("0.01"))
            won = sum(
                (d.amount for d in deals
                 if d.owner_id == pk and d.status == StageKind.WON and d.deleted_at is None
                 and start_of(window.start) <= d.closed_at < start_of(window.end)),
                Decimal(0),
            )  # fmt: skip
            expected[pk][name] = (won, target, len(inside))
    assert set(found) == set(expected)
    for pk, windows in expected.items():
        for name, (won, target, count) in windows.items():
            figures = found[pk][name]
            assert (figures["won"], figures["target"], figures["quotas"]) == (won, target, count)
