"""The prior of a fresh entry's chance is spread over time by the timing of the stage's own wins.

A deal entering the first stage wins weeks later than one entering the last: spread by the
timing of every stage's wins pooled, the prior gave a fresh first-stage deal a chance of a win
within 30 days that the first stage's own entries never showed.
"""

from decimal import Decimal

import pytest

from reports.forecasts import PRIOR_WEIGHT, Training, model_estimate

PROBABILITIES = {1: 10, 2: 80}
PATHS = {1: (1, 2), 2: (2,)}


def _training() -> Training:
    training = Training()
    # Two entries of stage 1 moved on after 30 days and were won 60 days after entering it.
    training.add(1, (30, 60, 1, None), 2)
    # Four entries of stage 2 were won 5 days in.
    training.add(2, (5, 5, 1, None), 4)
    return training


def _chance(training: Training, stage: int, horizon: int) -> float:
    figures = model_estimate(
        stats=training,
        open_groups={(stage, 0): (Decimal("1000"), Decimal("1000000"))},
        probabilities=PROBABILITIES,
        horizon=horizon,
        new_business=(0.0, 0.0),
        paths=PATHS,
    )
    return float(figures["expected"]) / 1000


def test_a_fresh_first_stage_deal_takes_the_timing_of_its_stage_s_wins():
    training = _training()
    assert training.stage_win_timing(1, 30) == (0.0, 0.0)
    # Both wins 60 days in: within 90 days all of them, for the 30 days u = 61 ... 90.
    assert training.stage_win_timing(1, 90) == (1.0, 30.0)
    assert training.stage_win_timing(3, 90) is None
    # Within 30 days: none of stage 1's two entries won and its own wins came later, so the prior
    # adds nothing (pooled, two thirds of all wins came within 30 days and it added 10% x 2/3).
    assert _chance(training, 1, 30) == pytest.approx(0.0, abs=1e-5)
    # Within 90 days: both won; the prior is the configured 10% with all of the stage's wins inside.
    assert _chance(training, 1, 90) == pytest.approx(
        (2 * 1.0 + PRIOR_WEIGHT * 0.10) / (2 + PRIOR_WEIGHT), abs=1e-5
    )
    # Stage 2's wins all came within 30 days: its prior is the configured 80% whole.
    assert _chance(training, 2, 30) == pytest.approx(
        (4 * 1.0 + PRIOR_WEIGHT * 0.80) / (4 + PRIOR_WEIGHT), abs=1e-5
    )
