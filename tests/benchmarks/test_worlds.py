"""The simulated worlds of the backtest: the same spec gives the same deals, and they load with their past."""

import datetime

import pytest
from django.utils import timezone

from benchmarks.worlds import LOST, WON, WORLDS, smaller, world_deals, world_load
from pipeline.models import Deal, StageTransition
from pipeline.periods import start_of
from pipeline.selectors import deal_as_of

END = start_of(datetime.date(2026, 6, 1))


def test_a_world_is_a_function_of_its_spec_and_end():
    spec = smaller(WORLDS[0], days=120, deals_per_day=2.0)
    first, again = world_deals(spec, END), world_deals(spec, END)
    assert [(d.created_at, d.transitions, d.amounts, d.close_dates) for d in first.deals] == [
        (d.created_at, d.transitions, d.amounts, d.close_dates) for d in again.deals
    ]
    other = world_deals(smaller(WORLDS[1], days=120, deals_per_day=2.0), END)
    assert [d.created_at for d in other.deals] != [d.created_at for d in first.deals]


def test_worlds_hold_what_they_promise():
    skips = world_deals(
        smaller(next(w for w in WORLDS if w.name == "skips-reopens"), 300, 4.0), END
    )
    paths = [[stage for stage, _ in d.transitions] for d in skips.deals]
    assert any(
        any(b - a == 2 for a, b in zip(path, path[1:], strict=False) if b < WON) for path in paths
    )
    assert any(LOST in path[:-1] for path in paths)
    slipping = world_deals(smaller(next(w for w in WORLDS if w.name == "stalling"), 300, 4.0), END)
    assert sum(len(d.close_dates) > 1 for d in slipping.deals) > len(slipping.deals) / 4
    high = next(w for w in WORLDS if w.name == "probabilities-high")
    low = next(w for w in WORLDS if w.name == "probabilities-low")
    assert all(
        h > lo
        for h, lo in zip(
            world_deals(smaller(high, 10, 1.0), END).probabilities,
            world_deals(smaller(low, 10, 1.0), END).probabilities,
            strict=True,
        )
    )


@pytest.mark.django_db
def test_a_world_loads_with_its_history():
    end = start_of(timezone.localdate())
    world = world_deals(smaller(WORLDS[6], days=150, deals_per_day=2.0), end)
    world_load(world)
    assert Deal.objects.count() == len(world.deals)
    assert StageTransition.objects.count() == sum(len(d.transitions) for d in world.deals)
    slipped = next(d for d in world.deals if len(d.close_dates) > 1)
    deal = Deal.objects.get(name=slipped.name)
    assert deal.expected_close_date == slipped.close_dates[-1][1]
    before_slip = slipped.close_dates[1][0] - datetime.timedelta(minutes=1)
    assert deal_as_of(deal.pk, before_slip).expected_close_date == slipped.close_dates[0][1]
