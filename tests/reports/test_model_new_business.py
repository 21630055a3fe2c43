"""New business worked out from the chances of fresh entries, pinned on hand-built histories.

The new business of a window is the deals created per day, times the wins a day's arrivals
bring inside the window (the first stage's cumulative incidence at age 0, summed over the
window's days: the same recency-weighted, censored estimate an open deal's chance is), times
the value a win brought. A drop in the win rate of fresh entries shows in it as soon as it
shows in those entries, not only once the deals created and won in the year say so.
"""

import datetime
import math
from decimal import Decimal

import pytest

from reports.forecasts import (
    PRIOR_WEIGHT,
    WEIGHT_SCALE,
    Arrivals,
    NewBusiness,
    Training,
    model_estimate,
    new_business_from,
    rate_variance,
)

MOMENT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _first_stage(entries: list[tuple[int, int, int, float]]) -> Training:
    """Stage 1's training from ``(count, days to close, won, weight)``: each entry left the stage
    after half its days (forward when it was won) and closed after ``days``."""
    training = Training()
    for count, days, won, weight in entries:
        stay = days // 2 if won else days
        w = round(weight * WEIGHT_SCALE)
        training.add(1, (stay, days, won, None), count * w, count * w * w)
    return training


def _estimate(training: Training, arrivals: Arrivals, horizon: int = 30) -> dict:
    return model_estimate(
        stats=training,
        open_groups={},
        probabilities={1: 50},
        horizon=horizon,
        new_business=NewBusiness(0.0, 0.0, None, arrivals),
        paths={1: (1,)},
    )


def test_new_business_is_arrivals_times_the_wins_a_fresh_entry_brings_times_the_value_of_a_win():
    # Ten entries won ten days in, ten lost five days in: a fresh entry is won within u days with
    # chance 1/2 for u > 10, so a window of 30 days sums 20 such days: 10 wins per daily arrival.
    training = _first_stage([(10, 10, 1, 1.0), (10, 5, 0, 1.0)])
    arrivals = Arrivals(rate=2.0, rate_variance=0.0, amount=1000.0, amount_sq=1.5e6)
    figures = _estimate(training, arrivals)
    # Shrunk toward the prior with the weight of ten entries against the twenty followed: the
    # configured 50% spread over u = 1 ... 30 by the timing of the stage's own wins (all ten days
    # in, so inside for the 20 days u = 11 ... 30): 0.5 x 20.
    area = (20 * 10 + PRIOR_WEIGHT * 0.5 * 20) / (20 + PRIOR_WEIGHT)
    mean = 2.0 * area * 1000
    p = area / 30
    variance = 2.0 * area * 1.5e6 + (2.0 * 30 * 1000) ** 2 * rate_variance(p, 20)
    assert float(figures["new_business"]) == pytest.approx(mean, abs=0.01)
    assert float(figures["expected"]) == pytest.approx(mean, abs=0.01)
    assert float(figures["p90"]) == pytest.approx(mean + 1.2816 * math.sqrt(variance), abs=0.01)


def test_after_a_drop_in_the_win_rate_of_fresh_entries_new_business_follows_the_recent_ones():
    """Half a year ago fresh entries won half the time; lately they are lost. Recent entries weigh
    more (``0.5 ** (age / 90)``), so the new business falls below what equal weights say."""
    arrivals = Arrivals(rate=3.0, rate_variance=0.0, amount=1000.0, amount_sq=1e6)
    old_won, old_lost = (40, 12, 1, 0.25), (40, 6, 0, 0.25)
    recent_lost = (40, 6, 0, 0.9)
    weighted = _estimate(_first_stage([old_won, old_lost, recent_lost]), arrivals)
    equal = _estimate(_first_stage([(40, 12, 1, 1.0), (40, 6, 0, 1.0), (40, 6, 0, 1.0)]), arrivals)
    calm = _estimate(_first_stage([old_won, old_lost]), arrivals)
    assert float(weighted["new_business"]) < 0.7 * float(equal["new_business"])
    assert float(equal["new_business"]) < float(calm["new_business"])


def test_arrivals_carry_the_year_of_wins_and_the_change_in_how_many_deals_are_created():
    calm = {
        "weighted": 2750000.0,
        "weighted_sq": 275000000.0,
        "first": MOMENT - datetime.timedelta(days=365),
    }
    # Wins weighted by the window starts they fall in: 2,750,000 of value-days over 2,500 days.
    wins = {"slack": 2500.0}
    plain = new_business_from(MOMENT, 90, **calm, **wins, arrived=90, arrived_before=275)
    grown = new_business_from(MOMENT, 90, **calm, **wins, arrived=360, arrived_before=275)
    assert plain.arrivals.amount == pytest.approx(1100.0)
    assert plain.arrivals.amount_sq == pytest.approx(110000.0)
    # The 90 days just past saw as many deals a day as the span: no change, one a day.
    assert plain.arrivals.rate == pytest.approx(1.0)
    assert grown.arrivals.rate > 2 * plain.arrivals.rate
    assert grown.arrivals.rate_variance > 0
    # Without any win that could fall in a window there is nothing to value a win by: the year's
    # average stands.
    assert new_business_from(MOMENT, 90, **calm, arrived=90, arrived_before=275).arrivals is None


def test_waves_measured_in_past_windows_widen_the_new_business_worked_out_from_arrivals():
    first = MOMENT - datetime.timedelta(days=365)
    calm = {"weighted": 2750000.0, "weighted_sq": 275000000.0, "first": first}
    wins = {"slack": 2500.0}
    waves = {"window_0": 0.0, "window_1": 40000.0, "window_2": 0.0, "window_3": 0.0}
    steady = {"window_0": 10000.0, "window_1": 10000.0, "window_2": 10000.0, "window_3": 10000.0}
    training = _first_stage([(30, 20, 1, 1.0), (30, 8, 0, 1.0)])

    def estimate(windows):
        new = new_business_from(
            MOMENT, 90, **calm, **wins, **windows, arrived=90, arrived_before=275
        )
        return model_estimate(
            stats=training,
            open_groups={},
            probabilities={1: 50},
            horizon=90,
            new_business=new,
            paths={1: (1,)},
        )

    wavy, even = estimate(waves), estimate(steady)
    assert wavy["new_business"] == even["new_business"]
    assert wavy["p90"] - wavy["expected"] > Decimal("1.5") * (even["p90"] - even["expected"])
