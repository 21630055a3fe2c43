"""A change seen at a pipeline's first stage is carried to the later stages of new business's path
(``CARRIED_SHIFT = "new_business"``, the default; "all": of every deal's), pinned on hand-built
trainings (``model_estimate``'s ``path_shift``).

The recent exits of a later stage are of deals older than those to come; those of the first stage
are of the newest deals. A stage ahead counts at least the first stage's shift, in its direction;
a deal's own stage keeps its own, and a change only in a later stage is not carried back.
"""

import math
from decimal import Decimal

import pytest

from reports import forecasts
from reports.forecasts import Arrivals, NewBusiness, Training, exit_shift, model_estimate
from tests.reports.test_model_shifts import _stage_training

DEAL = (Decimal("10000"), Decimal("100000000"))
PATHS = {1: (1, 2, 3), 2: (2, 3), 3: (3,)}
PROBABILITIES = {1: 20, 2: 40, 3: 60}
FALLING = ([(120, 10, True), (80, 10, False)], [(20, 10, True), (80, 10, False)])
RISING = ([(80, 10, True), (120, 10, False)], [(80, 10, True), (20, 10, False)])
STEADY = ([(120, 10, True), (80, 10, False)], [])


def _training(*stages) -> Training:
    training = Training()
    for stage, (long_run, recent) in enumerate(stages, start=1):
        for outcome, counts in _stage_training(long_run, recent).outcomes[1].items():
            training.add(stage, outcome, *counts)
    return training


def _expected(training, stage, carried, monkeypatch) -> float:
    """The expected value of one open deal in ``stage``, carrying the shift to every deal's stages
    ahead (``carried``) or to none."""
    monkeypatch.setattr(forecasts, "CARRIED_SHIFT", "all" if carried else None)
    return float(
        model_estimate(
            stats=training,
            open_groups={(stage, 0): DEAL},
            probabilities=PROBABILITIES,
            horizon=90,
            new_business=NewBusiness(0.0, 0.0),
            paths=PATHS,
        )["expected"]
    )


def test_a_drop_at_the_first_stage_lowers_the_stages_ahead_too(monkeypatch):
    training = _training(FALLING, STEADY, STEADY)
    shift, _ = exit_shift(training.outcomes[1])
    assert shift < 0
    plain = _expected(training, 1, False, monkeypatch)
    # A deal in the first stage: its own stage's shift, and the same for each of the two ahead.
    assert _expected(training, 1, True, monkeypatch) == pytest.approx(
        plain * math.exp(2 * shift), abs=0.01
    )
    # A deal in the second stage has passed the first: the third stage ahead counts the shift.
    assert _expected(training, 2, True, monkeypatch) == pytest.approx(
        _expected(training, 2, False, monkeypatch) * math.exp(shift), abs=0.01
    )
    # A deal in the last stage has no stage ahead: its chance is its stage's alone.
    assert _expected(training, 3, True, monkeypatch) == _expected(training, 3, False, monkeypatch)


def test_a_change_only_in_a_later_stage_is_not_carried(monkeypatch):
    """Every deal leaving stage 2 fares worse, old and new alike: the first stage's exits are steady."""
    training = _training(STEADY, FALLING, STEADY)
    for stage in (1, 2, 3):
        assert _expected(training, stage, True, monkeypatch) == _expected(
            training, stage, False, monkeypatch
        )


def test_a_stage_ahead_that_already_changed_as_much_or_the_other_way_keeps_its_own(monkeypatch):
    # Stage 3 fell as much as stage 1: nothing more is carried to it; stage 2 gets stage 1's.
    training = _training(FALLING, STEADY, FALLING)
    shift, _ = exit_shift(training.outcomes[1])
    plain = _expected(training, 1, False, monkeypatch)
    assert _expected(training, 1, True, monkeypatch) == pytest.approx(
        plain * math.exp(shift), abs=0.01
    )
    # The first stage rose while stage 3 fell: stage 3 keeps its fall, stage 2 gets the rise.
    training = _training(RISING, STEADY, FALLING)
    rise, _ = exit_shift(training.outcomes[1])
    assert rise > 0
    plain = _expected(training, 1, False, monkeypatch)
    assert _expected(training, 1, True, monkeypatch) == pytest.approx(
        plain * math.exp(rise), abs=0.01
    )


def _new_business(training, carried, monkeypatch) -> dict:
    monkeypatch.setattr(forecasts, "CARRIED_SHIFT", carried)
    arrivals = Arrivals(rate=2.0, rate_variance=0.0, amount=1000.0, amount_sq=1.5e6)
    return model_estimate(
        stats=training,
        open_groups={},
        probabilities=PROBABILITIES,
        horizon=90,
        new_business=NewBusiness(0.0, 0.0, None, arrivals),
        paths=PATHS,
    )


def test_by_default_the_first_stage_drop_reaches_new_business_through_every_later_stage(
    monkeypatch,
):
    """New deals enter stage 1 and still have to leave stages 1, 2 and 3: stages 2 and 3 count
    stage 1's fall on top of its own."""
    training = _training(FALLING, STEADY, STEADY)
    shift, variance = exit_shift(training.outcomes[1])
    plain = _new_business(training, None, monkeypatch)
    carried = _new_business(training, "new_business", monkeypatch)
    assert float(carried["new_business"]) == pytest.approx(
        float(plain["new_business"]) * math.exp(2 * shift), abs=0.01
    )
    # Open deals keep their stages' own shifts by default.
    assert _expected(training, 1, False, monkeypatch) == float(
        model_estimate(
            stats=training,
            open_groups={(1, 0): DEAL},
            probabilities=PROBABILITIES,
            horizon=90,
            new_business=NewBusiness(0.0, 0.0),
            paths=PATHS,
        )["expected"]
    )
    # One error counted three times: its variance nine times over, not three; the band is wider
    # than the plain one's relative to the mean.
    assert variance > 0
    plain_width = float(plain["p90"]) - float(plain["p10"])
    carried_width = float(carried["p90"]) - float(carried["p10"])
    assert carried_width / float(carried["expected"]) > plain_width / float(plain["expected"])


def test_steady_first_stage_exits_leave_new_business_as_it_was(monkeypatch):
    training = _training(STEADY, FALLING, STEADY)
    assert _new_business(training, "new_business", monkeypatch) == _new_business(
        training, None, monkeypatch
    )
