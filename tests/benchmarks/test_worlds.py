"""The simulated worlds of the backtest: the same spec gives the same deals, and they load with their past."""

import datetime
from dataclasses import replace

import pytest
from django.utils import timezone

from benchmarks.backtest import pooled
from benchmarks.worlds import (
    FRESH_WORLDS,
    HELD_OUT_WORLDS,
    LOST,
    REPS,
    SEALED_WORLDS,
    TENTH_WORLDS,
    UNSEEN_WORLDS,
    WHALE_SIZE,
    WON,
    WORLDS,
    smaller,
    world_deals,
    world_load,
)
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


def test_the_held_out_worlds_are_apart_and_hold_what_they_promise():
    assert not {w.name for w in HELD_OUT_WORLDS} & {w.name for w in WORLDS}
    by_name = {w.name: w for w in HELD_OUT_WORLDS}
    shrinking = world_deals(smaller(by_name["shrinking"], 300, 6.0), END)
    halfway = END - datetime.timedelta(days=150)
    early = sum(d.created_at < halfway for d in shrinking.deals)
    assert early > 1.3 * (len(shrinking.deals) - early)
    whales = world_deals(smaller(by_name["whales"], 300, 6.0), END)
    amounts = sorted(float(d.amounts[0][1]) for d in whales.deals)
    assert amounts[-1] > WHALE_SIZE * amounts[len(amounts) // 2]
    shift = world_deals(smaller(by_name["win-rate-shift"], 400, 6.0), END)
    cut = END - datetime.timedelta(days=400 * (1 - by_name["win-rate-shift"].shift_at))

    def win_rate(deals):
        closed = [d for d in deals if d.transitions[-1][0] >= WON]
        return sum(d.transitions[-1][0] == WON for d in closed) / len(closed)

    assert win_rate([d for d in shift.deals if d.created_at >= cut]) < 0.8 * win_rate(
        [d for d in shift.deals if d.created_at < cut]
    )


def test_the_sealed_worlds_are_apart_and_hold_what_they_promise():
    names = {w.name for w in SEALED_WORLDS}
    assert not names & ({w.name for w in WORLDS} | {w.name for w in HELD_OUT_WORLDS})
    by_name = {w.name: w for w in SEALED_WORLDS}
    segments = world_deals(smaller(by_name["two-segments"], 300, 6.0), END)
    amounts = sorted(float(d.amounts[0][1]) for d in segments.deals)
    assert amounts[int(0.9 * len(amounts))] > 4 * amounts[len(amounts) // 2]
    spec = smaller(by_name["launch-surge"], 300, 4.0)
    surge = world_deals(spec, END)
    plain = world_deals(replace(spec, launch=0.0), END)
    assert len(surge.deals) > len(plain.deals) + 100
    assert [d.name for d in plain.deals] == [d.name for d in surge.deals[: len(plain.deals)]]


def test_the_fresh_worlds_are_apart_and_hold_what_they_promise():
    names = {w.name for w in FRESH_WORLDS}
    others = WORLDS + HELD_OUT_WORLDS + SEALED_WORLDS
    assert not names & {w.name for w in others}
    by_name = {w.name: w for w in FRESH_WORLDS}
    # Most deals that leave Qualify for a later stage skip Discover.
    skipped = world_deals(smaller(by_name["skipped-middle"], 300, 6.0), END)
    onward = [d.transitions[1][0] for d in skipped.deals if len(d.transitions) > 1]
    assert onward.count(2) > 1.2 * onward.count(1)
    # Deals win more in the season's high than in its low.
    seasonal = world_deals(smaller(by_name["seasonal-wins"], 365, 6.0), END)

    def won_share(months):
        closed = [
            d
            for d in seasonal.deals
            if d.transitions[-1][0] in (WON, LOST) and d.transitions[-1][1].month in months
        ]
        return sum(d.transitions[-1][0] == WON for d in closed) / len(closed)

    assert won_share({3, 4, 5}) > 1.3 * won_share({9, 10, 11})
    # Reps bring unequal shares, and the best one none after leaving.
    spec = smaller(by_name["rep-mix"], 300, 6.0)
    mix = world_deals(spec, END)
    late = END - datetime.timedelta(days=spec.days * (1 - spec.rep_leaves_at) - 1)
    assert not [d for d in mix.deals if d.owner == REPS - 1 and d.created_at > late]
    counts = [sum(d.owner == rep for d in mix.deals) for rep in range(REPS)]
    assert max(counts) > 2 * min(counts)


def test_the_unseen_worlds_are_apart_and_hold_what_they_promise():
    names = {w.name for w in UNSEEN_WORLDS}
    others = WORLDS + HELD_OUT_WORLDS + SEALED_WORLDS + FRESH_WORLDS
    assert not names & {w.name for w in others}
    by_name = {w.name: w for w in UNSEEN_WORLDS}

    def win_rate(deals):
        closed = [d for d in deals if d.transitions[-1][0] >= WON]
        return sum(d.transitions[-1][0] == WON for d in closed) / len(closed)

    # Win rates slide: the middle third's deals win less than the first third's.
    drift = world_deals(smaller(by_name["win-rate-drift"], 450, 6.0), END)
    third = datetime.timedelta(days=150)
    first = [d for d in drift.deals if d.created_at < END - 2 * third]
    middle = [d for d in drift.deals if END - 2 * third <= d.created_at < END - third]
    assert win_rate(middle) < 0.85 * win_rate(first)
    # Deals created after the slowdown take longer to leave their first stage.
    spec = smaller(by_name["slowdown"], 400, 6.0)
    slow = world_deals(spec, END)
    cut = END - datetime.timedelta(days=spec.days * (1 - spec.slowdown_at))

    def quick_share(deals):
        """The share of deals that left their first stage within ten days of their creation."""
        quick = [len(d.transitions) > 1 and d.transitions[1][1] - d.created_at < ten for d in deals]
        return sum(quick) / len(quick)

    ten = datetime.timedelta(days=10)
    before = [d for d in slow.deals if d.created_at < cut - ten]
    after = [d for d in slow.deals if cut <= d.created_at < END - 2 * ten]
    assert quick_share(before) > 1.5 * quick_share(after)
    # Large deals grow as a share of what is created.
    mix = world_deals(smaller(by_name["segment-mix"], 400, 8.0), END)
    middle = END - datetime.timedelta(days=200)
    threshold = 4 * sorted(float(d.amounts[0][1]) for d in mix.deals)[len(mix.deals) // 2]

    def large_share(deals):
        return sum(float(d.amounts[0][1]) > threshold for d in deals) / len(deals)

    assert large_share([d for d in mix.deals if d.created_at >= middle]) > 1.3 * large_share(
        [d for d in mix.deals if d.created_at < middle]
    )


def test_the_tenth_worlds_are_apart_and_hold_what_they_promise():
    names = {w.name for w in TENTH_WORLDS}
    others = WORLDS + HELD_OUT_WORLDS + SEALED_WORLDS + FRESH_WORLDS + UNSEEN_WORLDS
    assert not names & {w.name for w in others}
    by_name = {w.name: w for w in TENTH_WORLDS}

    def median_amount(deals):
        return sorted(float(d.amounts[0][1]) for d in deals)[len(deals) // 2]

    # Deals created after the price rise start larger.
    spec = smaller(by_name["price-rise"], 400, 6.0)
    risen = world_deals(spec, END)
    cut = END - datetime.timedelta(days=spec.days * (1 - spec.price_rise_at))
    before = [d for d in risen.deals if d.created_at < cut]
    after = [d for d in risen.deals if d.created_at >= cut]
    assert median_amount(after) > 1.3 * median_amount(before)
    # Scrubs: deals lost on a quarter's first day after sitting long in their stage.
    spec = smaller(by_name["scrub"], 400, 6.0)
    scrubbed = world_deals(spec, END)
    on_quarter_days = [
        d
        for d in scrubbed.deals
        if d.transitions[-1][0] == LOST
        and d.transitions[-1][1].day == 1
        and d.transitions[-1][1].month in (1, 4, 7, 10)
        and d.transitions[-1][1].hour == 9
        and d.transitions[-1][1] - d.transitions[-2][1] >= datetime.timedelta(days=45)
    ]
    assert len(on_quarter_days) > 0.05 * len(scrubbed.deals)
    # Without the scrub the same spec loses no deal that way.
    plain = world_deals(replace(spec, scrub=0.0), END)
    assert not [
        d
        for d in plain.deals
        if d.transitions[-1][0] == LOST
        and d.transitions[-1][1].day == 1
        and d.transitions[-1][1].hour == 9
        and d.transitions[-1][1].minute == 0
    ]
    # Memoryless stays: more very short and very long first stays than the usual shape.
    spec = smaller(by_name["memoryless"], 300, 6.0)

    def short_share(world):
        stays = [
            d.transitions[1][1] - d.transitions[0][1] for d in world.deals if len(d.transitions) > 1
        ]
        return sum(stay < datetime.timedelta(days=2) for stay in stays) / len(stays)

    usual = world_deals(replace(spec, stay_shape=2.0, amount_spread=0.8), END)
    assert short_share(world_deals(spec, END)) > 1.5 * short_share(usual)


def test_draws_pool_their_windows():
    def row(windows, coverage, mape):
        figures = {"weighted_mape": 0.5, "weighted_bias": 0.0, "model_bias": 0.0, "below": 0.0}
        return {
            "world": "w",
            "horizon": 90,
            "windows": windows,
            "coverage": coverage,
            "model_mape": mape,
            **figures,
        }

    (both,) = pooled([row(10, 1.0, 0.1), row(30, 0.6, 0.2)])
    assert both["windows"] == 40
    assert both["coverage"] == pytest.approx(0.7)
    assert both["model_mape"] == pytest.approx(0.175)
    assert both["ratio"] == pytest.approx(0.35)


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
