"""The model's two corrections for a world that changes, pinned on hand-built histories.

- A stage whose recent exits went on less (or more) often than the long run says, beyond
  sampling noise, scales the chances of the deals that still have to leave it (``exit_shift``).
- Fewer or more deals created in the window just past than the span's rate, beyond a Poisson
  count's noise, scale the new business (``arrival_change``).

Each is shrunk by its noise, and what is left of its uncertainty widens the P10-P90 band.
"""

import datetime
import math
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import start_of
from pipeline.scopes import Scope
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from reports import grouped
from reports.forecasts import (
    WEIGHT_SCALE,
    NewBusiness,
    Training,
    closing_stats,
    exit_shift,
    forecast,
    model_estimate,
    new_business_from,
    open_stage_table,
    rate_variance,
    shrunk_change,
)
from tests.factories import AccountFactory, LostReasonFactory

FRESH = WEIGHT_SCALE  # the weight of an entry, or an exit, of today


def _stage_training(long_run: list[tuple], recent: list[tuple]) -> Training:
    """Stage 1's training: ``(count, stay, went on)`` entries of the long run, which left it long
    ago (no recent weight), and recent ones, each with the weight of a fresh exit."""
    training = Training()
    for count, stay, went_on in long_run:
        outcome = (stay, stay + 30, 1, None) if went_on else (stay, stay, 0, None)
        training.add(1, outcome, count * FRESH, count * FRESH * FRESH, 0, 0)
    for count, stay, went_on in recent:
        outcome = (stay, stay + 30, 1, None) if went_on else (stay, stay, 0, None)
        # Fresh: the whole of the exit's weight is recent (the overlap), none of it the long run's.
        training.add(
            1,
            outcome,
            count * FRESH,
            count * FRESH * FRESH,
            count * FRESH,
            count * FRESH * FRESH,
            count * FRESH,
        )
    return training


def test_recent_exits_that_go_on_less_than_the_long_run_lower_the_shift():
    """200 long-run exits after 10 days, 60% went on; the last 100 exits, after 10 days too, 20%."""
    training = _stage_training(
        [(120, 10, True), (80, 10, False)], [(20, 10, True), (80, 10, False)]
    )
    shift, variance = exit_shift(training.outcomes[1])
    # The bin of 10 days (8-15) holds every exit. The long run leaves the recent exits out: 120 of
    # 200 went on, so the 100 recent ones were expected to go on 60 times and went on 20 times.
    share = 0.6
    expected = 100 * share
    change = math.log((20 + 0.5) / (expected + 0.5))
    # The noise: the recent exits' own, and the long-run share's, rated by all 300 entries'
    # squared weights over the long run's 200 squared, times the recent weight squared.
    noise = (100 * share * (1 - share) + 100**2 * share * (1 - share) * 300 / 200**2) / expected**2
    keep = 1 - noise / change**2
    assert shift == pytest.approx(keep * change)
    assert variance == pytest.approx(keep * noise)
    assert shift < math.log(0.4)


def test_a_recent_batch_of_slow_exits_that_die_is_no_shift():
    """Deals that sit long mostly die: recent exits that all sat 60 days and died are what the
    long run expects of exits after 60 days, not a sign that the stage got worse."""
    training = _stage_training(
        [(100, 5, True), (100, 60, False)],
        [(30, 60, False)],
    )
    assert exit_shift(training.outcomes[1]) == (0.0, 0.0)


def test_a_difference_within_the_noise_changes_nothing():
    """Ten recent exits, five went on, against the long run's 60%: within a binomial's noise,
    so no change."""
    training = _stage_training([(120, 10, True), (80, 10, False)], [(5, 10, True), (5, 10, False)])
    assert exit_shift(training.outcomes[1]) == (0.0, 0.0)
    # Without recent weights at all (a training counted by hand), no shift either.
    hand = Training()
    hand.add(1, (10, 40, 1, None), 12)
    hand.add(1, (10, 10, 0, None), 8)
    assert exit_shift(hand.outcomes[1]) == (0.0, 0.0)


def test_the_shift_of_every_stage_on_the_path_scales_the_chance_and_widens_the_band():
    """A deal in stage 1 still has to leave stages 1 and 2; a deal in stage 2 only stage 2.
    (The entries that went on were won 30 days later.)"""
    falling = _stage_training([(120, 10, True), (80, 10, False)], [(20, 10, True), (80, 10, False)])
    steady = _stage_training([(120, 10, True), (80, 10, False)], [])
    training = Training()
    for stage, source in ((1, falling), (2, steady)):
        for outcome, counts in source.outcomes[1].items():
            training.add(stage, outcome, *counts)
    shift, variance = exit_shift(falling.outcomes[1])
    paths = {1: (1, 2), 2: (2,)}
    probabilities = {1: 20, 2: 40}
    deal = (Decimal("10000"), Decimal("100000000"))

    def estimate(groups, with_paths):
        return model_estimate(
            stats=training,
            open_groups=groups,
            probabilities=probabilities,
            horizon=90,
            new_business=NewBusiness(0.0, 0.0),
            paths=with_paths,
        )

    plain = float(estimate({(1, 0): deal}, {1: (), 2: ()})["expected"])
    shifted = estimate({(1, 0): deal}, paths)
    assert float(shifted["expected"]) == pytest.approx(plain * math.exp(shift), abs=0.01)
    # Stage 2's exits are steady: its deals keep their chance.
    assert (
        estimate({(2, 0): deal}, paths)["expected"] == estimate({(2, 0): deal}, {2: ()})["expected"]
    )
    # The band adds the shift's remaining variance and its doubt, the shift squared
    # (``SHIFT_DOUBT``), shared by the stage's deals, to the Bernoulli spread and the Beta
    # uncertainty of the learned chance.
    p = float(shifted["expected"]) / 10000
    followed, _ = training.chance(1, 0, 90, {0})
    sigma = math.sqrt(
        p * (1 - p) * 1e8
        + rate_variance(p, followed) * 1e8
        + (p * 10000) ** 2 * (variance + shift * shift)
    )
    assert variance > 0
    assert float(shifted["p90"]) == pytest.approx(p * 10000 + 1.2816 * sigma, abs=0.02)


MOMENT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
CALM = {
    "weighted": 2750000.0,
    "weighted_sq": 275000000.0,
    "first": MOMENT - datetime.timedelta(days=365),
}


def test_more_deals_created_lately_bring_more_new_business():
    """The span (275 days) saw 550 deals created, two a day; the last 90 days saw 360, four a day."""
    plain = new_business_from(MOMENT, 90, **CALM)
    grown = new_business_from(MOMENT, 90, **CALM, arrived=360, arrived_before=550)
    change = math.log(360.5 / 90) - math.log(550.5 / 275)
    noise = 1 / 360.5 + 1 / 550.5
    keep = 1 - noise / change**2
    scale = math.exp(keep * change)
    assert grown.mean == pytest.approx(plain.mean * scale)
    assert grown.variance == pytest.approx(plain.variance * scale + grown.mean**2 * keep * noise)
    assert grown.mean > 1.9 * plain.mean
    # As many as the span's rate, within a Poisson count's noise: nothing changes.
    assert new_business_from(MOMENT, 90, **CALM, arrived=185, arrived_before=550) == plain
    assert shrunk_change(0.05, 0.01) == (0.0, 0.0)


def test_a_business_that_shrinks_expects_less_new_business_and_a_wider_spread_for_it():
    """Waves measured in past windows scale with the business: their variance by the square."""
    windows = {"window_0": 0.0, "window_1": 40000.0, "window_2": 0.0, "window_3": 0.0}
    plain = new_business_from(MOMENT, 90, **CALM, **windows)
    shrunk = new_business_from(MOMENT, 90, **CALM, **windows, arrived=45, arrived_before=550)
    change, noise = shrunk_change(math.log(45.5 / 90) - math.log(550.5 / 275), 1 / 45.5 + 1 / 550.5)
    scale = math.exp(change)
    assert shrunk.freedom == plain.freedom == 3
    assert shrunk.mean == pytest.approx(plain.mean * scale)
    assert shrunk.variance == pytest.approx(plain.variance * scale**2 + shrunk.mean**2 * noise)
    assert shrunk.mean < plain.mean / 3


def _import(admin, rep, pipeline, paths, t0):
    account = AccountFactory(owner=rep)
    reason = LostReasonFactory(name="Went quiet")
    specs = []
    for count, path in paths:
        for i in range(count):
            moves = [(stage, t0 + datetime.timedelta(days=days, hours=i)) for stage, days in path]
            last = moves[-1][0]
            specs.append(
                DealSpec(
                    name=f"deal {len(specs)}",
                    account_id=account.pk,
                    owner_id=rep.pk,
                    pipeline_id=pipeline.pk,
                    stage_id=last.pk,
                    amount=Decimal("1000"),
                    currency="USD",
                    expected_close_date=(t0 + datetime.timedelta(days=200)).date(),
                    forecast_category="pipeline",
                    created_at=moves[0][1],
                    lost_reason_id=reason.pk if last.kind == "lost" else None,
                    transitions=[
                        TransitionSpec(to_stage_id=stage.pk, at=at) for stage, at in moves
                    ],
                    changes=[],
                )
            )
    deals_import(specs=specs, by=admin)


def test_a_drop_in_qualification_shows_in_the_forecast_at_once(admin, rep, pipeline, stages):
    """Half a year ago 40 deals left Qualification after 5 days for Discovery and were won; in
    the last month 40 more left it after 5 days, lost. A fresh deal in Qualification: the
    year's entries still say a win is likely, the recent exits say it is not, far beyond noise."""
    now = timezone.now()
    t0 = start_of(timezone.localdate() - datetime.timedelta(days=200))
    recent = start_of(timezone.localdate() - datetime.timedelta(days=30))
    q, d, won, lost = stages["Qualification"], stages["Discovery"], stages["Won"], stages["Lost"]
    _import(admin, rep, pipeline, [(40, [(q, 0), (d, 5), (won, 40)])], t0)
    _import(admin, rep, pipeline, [(40, [(q, 0), (lost, 5)])], recent)
    stats = closing_stats(Scope(owner=rep.pk), now, True)
    shift, variance = stats.shift(q.pk)
    assert shift < math.log(0.3)
    assert 0 < variance < 0.2
    # The grouped nightly pass counts the same training.
    cells = grouped._cells_as_of(timezone.localdate(now), now, True, now)
    ((_, together),) = grouped._trainings(cells, [tuple(cells)])
    assert together.shift(q.pk) == (shift, variance)
    # A deal of 1,000 fresh in Qualification: its chance, learned from the year's entries and
    # shrunk toward the prior, is scaled down by the path's shifts (Discovery's exits, all long
    # ago and all gone on, show none).
    probabilities, paths = open_stage_table()
    assert sum(stats.shift(step)[0] for step in paths[q.pk]) == shift

    def chance(with_paths):
        figures = model_estimate(
            stats=stats,
            open_groups={(q.pk, 0): (Decimal("1000"), Decimal("1000000"))},
            probabilities=probabilities,
            horizon=90,
            new_business=NewBusiness(0.0, 0.0),
            paths=with_paths,
        )
        return float(figures["expected"]) / 1000

    assert chance(paths) == pytest.approx(chance({q.pk: ()}) * math.exp(shift), abs=0.0001)
    assert chance(paths) < 0.05
    # The forecast as of today reads the same paths: its new business (deals created in Qualification
    # and won within the window) falls with the same shift.
    figures = forecast(Scope(owner=rep.pk), timezone.localdate(), 90, now=now)
    assert figures["model"] < Decimal("18182") * Decimal("0.3")
