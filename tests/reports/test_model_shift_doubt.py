"""The doubt of a shift (``SHIFT_DOUBT``, eighth round), pinned on hand-built trainings: a path's
summed exit shift ``s`` adds ``s^2`` to its variance on the log scale, so the band widens where a
change is applied, by as much as the change, and the centre stays where it was.

How much of a change seen in three weeks of exits the window's exits will carry is not known from
them: the chances the shift scales were learned from entries older than the long run it is measured
against, and a change may fade.
"""

import math
from decimal import Decimal

import pytest

from reports import forecasts
from reports.forecasts import Arrivals, NewBusiness, exit_shift, model_estimate, rate_variance
from tests.reports.test_model_carried_shift import FALLING, PATHS, PROBABILITIES, STEADY, _training

DEAL = (Decimal("10000"), Decimal("100000000"))


def _estimate(training, groups, new_business, doubt, monkeypatch) -> dict:
    monkeypatch.setattr(forecasts, "SHIFT_DOUBT", doubt)
    return model_estimate(
        stats=training,
        open_groups=groups,
        probabilities=PROBABILITIES,
        horizon=90,
        new_business=new_business,
        paths=PATHS,
    )


def test_a_steady_history_keeps_its_band(monkeypatch):
    """No stage's recent exits differ from its long run: no shift, nothing to doubt."""
    training = _training(STEADY, STEADY, STEADY)
    for stage in (1, 2, 3):
        assert exit_shift(training.outcomes[stage]) == (0.0, 0.0)
        groups = {(stage, 0): DEAL}
        assert _estimate(training, groups, NewBusiness(0.0, 0.0), True, monkeypatch) == (
            _estimate(training, groups, NewBusiness(0.0, 0.0), False, monkeypatch)
        )


def test_an_applied_shift_widens_the_band_by_its_own_size(monkeypatch):
    """Stage 2's recent exits went on far less often: a deal in stage 1 or 2 still has to leave it."""
    training = _training(STEADY, FALLING, STEADY)
    shift, variance = exit_shift(training.outcomes[2])
    assert shift < math.log(0.5)
    for stage in (1, 2):
        groups = {(stage, 0): DEAL}
        doubted = _estimate(training, groups, NewBusiness(0.0, 0.0), True, monkeypatch)
        plain = _estimate(training, groups, NewBusiness(0.0, 0.0), False, monkeypatch)
        assert doubted["expected"] == plain["expected"]
        p = float(doubted["expected"]) / 10000
        followed, _ = training.chance(stage, 0, 90, {0})
        own = p * (1 - p) * 1e8 + rate_variance(p, followed) * 1e8
        sigma = math.sqrt(own + (p * 10000) ** 2 * (variance + shift * shift))
        assert float(doubted["p90"]) == pytest.approx(p * 10000 + 1.2816 * sigma, abs=0.02)
        assert float(doubted["p10"]) == pytest.approx(
            max(0.0, p * 10000 - 1.2816 * sigma), abs=0.02
        )
        before = math.sqrt(own + (p * 10000) ** 2 * variance)
        assert float(plain["p90"]) == pytest.approx(p * 10000 + 1.2816 * before, abs=0.02)
    # A deal in the last stage has passed stage 2: its band is as it was.
    groups = {(3, 0): DEAL}
    assert _estimate(training, groups, NewBusiness(0.0, 0.0), True, monkeypatch) == (
        _estimate(training, groups, NewBusiness(0.0, 0.0), False, monkeypatch)
    )


def test_new_business_doubts_the_whole_path_it_carries_the_first_stage_shift_along(monkeypatch):
    """A drop at the entrance is carried to both stages ahead of new business (``CARRIED_SHIFT``):
    three copies of one shift, whose doubt is the square of their sum, on top of the copies' shared
    sampling variance. No open deal; the new business comes from the mean alone."""
    training = _training(FALLING, STEADY, STEADY)
    shift, variance = exit_shift(training.outcomes[1])
    monkeypatch.setattr(forecasts, "CARRIED_SHIFT", "new_business")
    new_business = NewBusiness(50000.0, 1e8)
    doubted = _estimate(training, {}, new_business, True, monkeypatch)
    plain = _estimate(training, {}, new_business, False, monkeypatch)
    assert doubted["expected"] == plain["expected"]
    mean = 50000.0 * math.exp(3 * shift)
    assert float(doubted["expected"]) == pytest.approx(mean, abs=0.01)
    new_var = 1e8 * math.exp(3 * shift) ** 2
    sigma = math.sqrt(new_var + mean**2 * (9 * variance + (3 * shift) ** 2))
    assert float(doubted["p90"]) == pytest.approx(mean + 1.2816 * sigma, abs=0.02)
    before = math.sqrt(new_var + mean**2 * 9 * variance)
    assert float(plain["p90"]) == pytest.approx(mean + 1.2816 * before, abs=0.02)
    assert float(doubted["p90"]) - float(doubted["p10"]) > float(plain["p90"]) - float(plain["p10"])


def test_arrivals_do_not_change_what_the_shift_doubts(monkeypatch):
    """New business worked out from arrivals takes the same doubt: only its centre's scale differs."""
    training = _training(FALLING, STEADY, STEADY)
    arrivals = Arrivals(rate=2.0, rate_variance=0.0, amount=10000.0, amount_sq=2e8)
    new_business = NewBusiness(50000.0, 1e8, None, arrivals)
    doubted = _estimate(training, {}, new_business, True, monkeypatch)
    plain = _estimate(training, {}, new_business, False, monkeypatch)
    assert doubted["expected"] == plain["expected"]
    assert float(doubted["p90"]) > float(plain["p90"])
