"""The model's multi-state chances (``Training.chained``), pinned on hand-built histories.

A deal's chance of a win within the window is chained through the stages its stage's exits go
to: the share leaving each day for each destination times that destination's own chance of a
win within what is left of the window. Each stage's exits are read from its own entries, so what
a later stage's entries show reaches an early deal's chance at once.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import start_of
from pipeline.scopes import Scope
from reports import forecasts, grouped
from reports.forecasts import (
    LOST_EXIT,
    WON_EXIT,
    NewBusiness,
    Training,
    closing_stats,
    model_estimate,
    open_stage_table,
)
from tests.reports.test_model_shifts import _import

A, B = 1, 2
PATHS = {A: (A, B), B: (B,)}


@pytest.fixture(autouse=True)
def chained(monkeypatch):
    """The chained chances are off by default (they did not beat the stage's own entries on the
    backtest's worlds): these tests switch them on."""
    monkeypatch.setattr(forecasts, "CHAINED", True)


def _chain(b_wins: int, b_losses: int) -> Training:
    """Stage A: 40 entries, all gone on to B after 5 days and none closed yet (entered 8 days ago).
    Stage B: ``b_wins`` entries won and ``b_losses`` lost, each 10 days after entering B."""
    training = Training()
    training.add(A, (5, None, 0, 8), 40, exit_to=B)
    training.add(B, (None, None, 0, 3), 40)  # A's 40, still open in B, watched 3 days
    training.add(B, (10, 10, 1, None), b_wins, exit_to=WON_EXIT)
    training.add(B, (10, 10, 0, None), b_losses, exit_to=LOST_EXIT)
    return training


def _chance(training: Training, horizon: int = 90) -> float:
    figures = model_estimate(
        stats=training,
        open_groups={(A, 0): (Decimal("1000"), Decimal("1000000"))},
        probabilities={A: 20, B: 40},
        horizon=horizon,
        new_business=NewBusiness(0.0, 0.0),
        paths=PATHS,
    )
    return float(figures["expected"]) / 1000


def test_a_stay_and_the_next_stage_add_up_in_time():
    """Every entry of A leaves for B after 20 days, every entry of B is won 15 days after entering
    it: a fresh deal in A is won after 35 or 36 days, never within 30, always within 60."""
    training = Training()
    training.add(A, (20, 35, 1, None), 10, exit_to=B)
    training.add(B, (15, 15, 1, None), 10, exit_to=WON_EXIT)
    chances = training.chained(A, 0, PATHS)
    assert chances[30] == 0.0
    assert chances[60] == chances[90] == 1.0
    # Ten days into A, a deal is 25 or 26 days from its win: within 30 days now.
    assert training.chained(A, 10, PATHS)[30] == pytest.approx(1.0)
    assert training.chained(A, 0, PATHS)[30] == 0.0
    # The curve of a fresh entry of B: nothing before its 15th day, everything after.
    curve = training.curve(B, PATHS)
    assert curve[15] == 0.0 and curve[16] == 1.0


def test_a_later_stage_that_wins_less_lowers_an_early_deal_chance_at_once():
    """A's entries have all gone on to B and none has closed: followed to their close they say
    nothing yet. B's own entries say how often a deal in B is won, and an A deal's chance follows."""
    likely, unlikely = _chain(32, 8), _chain(8, 32)
    assert likely.chained(A, 0, PATHS)[90] == pytest.approx(0.8)
    assert unlikely.chained(A, 0, PATHS)[90] == pytest.approx(0.2)
    assert _chance(unlikely) < _chance(likely) / 2
    # The chance read off A's entries alone cannot tell the two apart.
    forecasts.CHAINED = False
    assert _chance(unlikely) == _chance(likely)


def test_exits_counted_without_a_destination_fall_back_on_the_stage_alone():
    """An entry added by hand that moved on without a destination: the chain cannot be followed,
    the stage's entries followed to their close answer alone."""
    training = Training()
    training.add(A, (5, 30, 1, None), 10)
    assert training.chained(A, 0, PATHS) is None
    followed, share = training.chance(A, 0, 90, {0})
    assert share == 1.0
    assert _chance(training) == pytest.approx(
        (followed * share + 10 * 0.2 * 1.0) / (followed + 10), abs=0.001
    )


def test_exits_are_read_as_they_stood_at_the_moment(admin, rep, pipeline, stages):
    """Deals that entered Qualification 40 days before the moment, moved to Discovery 10 days later
    and were won 30 days after that (after the moment): at the moment, their Qualification entries
    had gone on to Discovery and their Discovery entries were still open, watched 30 days."""
    q, d, won = stages["Qualification"], stages["Discovery"], stages["Won"]
    moment = start_of(timezone.localdate() - datetime.timedelta(days=20))
    t0 = moment - datetime.timedelta(days=40)
    _import(admin, rep, pipeline, [(5, [(q, 0), (d, 10), (won, 40)])], t0)
    stats = closing_stats(Scope(owner=rep.pk), moment)
    assert {key for key in stats.moves[q.pk]} == {(10, d.pk, None)}
    # Still in Discovery, watched 30 days (29 whole days for those that entered it later that day).
    assert {key for key in stats.moves[d.pk]} <= {(None, None, 29), (None, None, 30)}
    # Today the same entries have closed: Discovery's went to a win.
    now = timezone.now()
    today = closing_stats(Scope(owner=rep.pk), now, True)
    assert {key for key in today.moves[d.pk]} == {(30, WON_EXIT, None)}
    # The grouped nightly pass counts the same exits.
    cells = grouped._cells_as_of(timezone.localdate(moment), moment, False, now)
    ((_, together),) = grouped._trainings(cells, [tuple(cells)])
    assert dict(together.moves[q.pk]) == dict(stats.moves[q.pk])
    assert dict(together.moves[d.pk]) == dict(stats.moves[d.pk])
    # The chain is followed through the pipeline's stages as configured.
    _, paths = open_stage_table()
    assert stats.chained(q.pk, 0, paths) is not None
