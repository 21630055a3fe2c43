"""The model tells deals of different sizes apart, and an old deal from younger ones, pinned on
hand-built histories.

- Size: an open deal's chance is its stage's (at its days there) moved by how the *value* of the
  entries still in the stage then did against their number: each entry also weighs its deal's size
  (``2 ** band``, a band spanning a factor of two), and the share of value won, shrunk toward the
  share of entries with the weight of ``PRIOR_WEIGHT`` effective entries, is the chance applied to
  the open value. Where large deals win less than small ones the open value, mostly large deals,
  gets the large deals' rate; a few large entries (whales) are few effective entries and shrink to
  the count's share; one size for all changes nothing.
- Age: the chance at ``a`` days is shrunk toward the chance at ``a // 2`` days, down to a fresh
  entry's, shrunk toward the configured probability.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import start_of
from pipeline.scopes import Scope
from pipeline.services import deal_update
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from reports import grouped
from reports.forecasts import (
    PRIOR_WEIGHT,
    Training,
    closing_stats,
    forecast,
    model_estimate,
    model_forecast,
)
from reports.metrics import deal_rows
from tests.factories import AccountFactory, LostReasonFactory

STAGE = 1
PROBABILITIES = {STAGE: 10}


def _training(groups: list[tuple[int, int | None, bool]]) -> Training:
    """Stage 1's entries, each of weight 1: ``(count, size band, won)``, closed 10 days in."""
    training = Training()
    for count, band, won in groups:
        training.add(STAGE, (10, 10, int(won), None), count, band=band)
    return training


def _chance(training: Training, age: int = 0, horizon: int = 30) -> float:
    """The chance applied to an open value of 1,000 in stage 1 at ``age`` days."""
    figures = model_estimate(
        stats=training,
        open_groups={(STAGE, age): (Decimal("1000"), Decimal("1000000"))},
        probabilities=PROBABILITIES,
        horizon=horizon,
        new_business=(0.0, 0.0),
    )
    return float(figures["expected"]) / 1000


def _pooled(wins: int, entries: int) -> float:
    """The stage's chance by count: its share shrunk toward the configured 10% (wins within 30 days)."""
    return (wins + PRIOR_WEIGHT * 0.1) / (entries + PRIOR_WEIGHT)


def _by_value(groups: list[tuple[int, int, bool]]) -> tuple[float, float]:
    """The share of value won and the effective number of entries, each weighing ``2 ** band``."""
    total = sum(count * 2**band for count, band, _ in groups)
    won = sum(count * 2**band for count, band, w in groups if w)
    squares = sum(count * 4**band for count, band, _ in groups)
    return won / total, total * total / squares


def test_two_segments_with_different_win_rates_give_the_open_value_the_large_deals_rate():
    # Small deals (band 9, about 1,000) win 40 times in 50; large ones (band 13, 16 times as
    # large) 5 in 50: most of the value is in large deals, which mostly lose.
    groups = [(40, 9, True), (10, 9, False), (5, 13, True), (45, 13, False)]
    share, effective = _by_value(groups)
    pooled = _pooled(45, 100)
    chance = _chance(_training(groups))
    assert chance == pytest.approx(
        pooled + effective / (effective + PRIOR_WEIGHT) * (share - 0.45), abs=0.001
    )
    assert chance < pooled / 2
    # Entries with no size known (no rate) count by number only.
    unsized = _training([(45, None, True), (55, None, False)])
    assert _chance(unsized) == pytest.approx(pooled, abs=0.001)


def test_a_few_large_entries_shrink_to_the_share_by_count():
    # 99 entries of band 9 won half the time; one of band 16 (128 times as large) won.
    groups = [(50, 9, True), (49, 9, False), (1, 16, True)]
    share, effective = _by_value(groups)
    assert effective < 4
    pooled = _pooled(51, 100)
    chance = _chance(_training(groups))
    assert chance == pytest.approx(
        pooled + effective / (effective + PRIOR_WEIGHT) * (share - 0.51), abs=0.001
    )
    assert chance - pooled < 0.1


def test_one_size_for_all_leaves_the_chance_as_the_count_has_it():
    everyone = _training([(30, 12, True), (70, 12, False)])
    assert _chance(everyone) == pytest.approx(_pooled(30, 100), abs=0.001)


def test_a_deal_older_than_any_entry_followed_takes_the_chance_of_younger_ages():
    """20 entries won 5 days in, 10 sat 100 days and were lost. A deal 200 days in has no entry
    to compare with: its chance is that at 100 days, shrunk toward that at 50, ..., down to a
    fresh entry's, shrunk toward the configured 10%; not the configured 10% itself."""
    training = Training()
    training.add(STAGE, (5, 5, 1, None), 20)
    training.add(STAGE, (100, 100, 0, None), 10)

    def shrunk(followed, share, below):
        return (followed * share + PRIOR_WEIGHT * below) / (followed + PRIOR_WEIGHT)

    p = shrunk(30, 20 / 30, 0.1)  # age 0: every entry, 20 of 30 won within 30 days
    p = shrunk(30, 20 / 30, p)  # age 1
    p = shrunk(30, 20 / 30, p)  # age 3: the wins of day 5 still inside [3, 33)
    for _ in (6, 12, 25, 50, 100):
        p = shrunk(10, 0.0, p)  # only the ten slow ones are still in the stage, none won
    # Age 200: nobody followed that long, so the chance at 100 days as it is.
    assert _chance(training, 200) == pytest.approx(p, abs=0.0001)
    assert p < 0.03


def test_a_stalled_deal_keeps_the_value_correction_of_younger_ages():
    """Small deals (band 9) win 40 times in 50, large ones (band 13) 5 in 50, all 5 days in. A deal
    200 days in has no entry, sized or not, to compare with: it takes the chance by count of younger
    ages and, since the tenth round, also their correction by value (the value's share against the
    count's, shrunk toward that at half the age like the chance itself), not the share by count
    alone, which a stage's largest and slowest deals, the last to leave it, would not get."""
    groups = [(40, 9, True), (10, 9, False), (5, 13, True), (45, 13, False)]
    training = Training()
    for count, band, won in groups:
        training.add(STAGE, (5, 5, int(won), None), count, band=band)
    share, effective = _by_value(groups)

    def shrunk(followed, value, below):
        return (followed * value + PRIOR_WEIGHT * below) / (followed + PRIOR_WEIGHT)

    p = gap = None
    for below_p, below_gap in ((0.1, 0.0), (None, None), (None, None)):  # ages 0, 1 and 3
        p = shrunk(100, 0.45, below_p if p is None else p)
        gap = shrunk(effective, share - 0.45, below_gap if gap is None else gap)
    # From 6 days on no entry is followed: each age takes that at half of it, down to 3 days.
    assert _chance(training, 200) == pytest.approx(p + gap, abs=0.0001)
    unsized = Training()
    for count, _, won in groups:
        unsized.add(STAGE, (5, 5, int(won), None), count)
    assert _chance(unsized, 200) == pytest.approx(p, abs=0.0001)
    assert p + gap < p / 2


def _import(admin, rep, pipeline, paths, *, t0):
    """Deals of ``rep``: ``(count, amount, [(stage, days after t0 + i)])``, the i-th of each group."""
    account = AccountFactory(owner=rep)
    reason = LostReasonFactory(name="Gone quiet")
    specs = []
    for count, amount, path in paths:
        for i in range(count):
            moves = [(stage, t0 + datetime.timedelta(days=i + days)) for stage, days in path]
            last = moves[-1][0]
            specs.append(
                DealSpec(
                    name=f"deal {len(specs)}",
                    account_id=account.pk,
                    owner_id=rep.pk,
                    pipeline_id=pipeline.pk,
                    stage_id=last.pk,
                    amount=Decimal(amount),
                    currency="USD",
                    expected_close_date=(t0 + datetime.timedelta(days=i + 200)).date(),
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


@pytest.fixture
def segments(admin, rep, pipeline, stages):
    """Small deals (1,000) that won within 10 days and large ones (16,000) that were lost, then, 11
    days ago, one open deal of each size fresh in Qualification."""
    t0 = start_of(timezone.localdate() - datetime.timedelta(days=200))
    q, won, lost = stages["Qualification"], stages["Won"], stages["Lost"]
    _import(
        admin,
        rep,
        pipeline,
        [
            (20, "1000", [(q, 0), (won, 10)]),
            (20, "16000", [(q, 0), (lost, 10)]),
            (1, "1000", [(q, 189)]),
            (1, "16000", [(q, 189)]),
        ],
        t0=t0,
    )
    return t0


def test_the_size_bands_are_read_from_the_history_in_sql(segments, rep, stages):
    now = timezone.now()
    stats = closing_stats(Scope(owner=rep.pk), now, True)
    q = stages["Qualification"].pk
    # 1,000 is in band 9 (512 to 1,023), 16,000 in band 13 (8,192 to 16,383): an entry of a won
    # (small) deal weighs 2 ** 9 times its weight in the value's chances, a lost (large) one
    # 2 ** 13 times, and its square that factor squared.
    closed = {
        outcome: counts for outcome, counts in stats.outcomes[q].items() if outcome[0] is not None
    }
    assert {outcome[2] for outcome in closed} == {True, False}
    for outcome, (weight, squares, *_) in closed.items():
        scale = 2**9 if outcome[2] else 2**13
        assert stats.sized[q][outcome] == [weight * scale, squares * scale * scale]
    # The grouped pass counts them alike.
    cells = grouped._cells_as_of(timezone.localdate(now), now, True, now)
    ((_, together),) = grouped._trainings(cells, [tuple(cells)])
    assert dict(together.sized[q]) == dict(stats.sized[q])


def test_a_past_forecast_reads_each_deal_in_its_size_band_of_the_moment(
    segments, rep, admin, stages
):
    """The small deals won, the large ones were lost: the open value, mostly the large deal, gets
    the value's share won, far below the share of entries won. Revaluing the small deals
    afterwards changes neither their band then nor the past forecast."""
    scope = Scope(owner=rep.pk)
    as_of = timezone.localdate() - datetime.timedelta(days=10)
    moment = start_of(as_of)
    stats = closing_stats(scope, moment)
    model = model_forecast(scope, moment, 30, rows=deal_rows(scope, moment), training=stats)
    q = stages["Qualification"].pk
    probabilities = {q: stages["Qualification"].probability}

    count_only = Training()
    for stage_id, outcomes in stats.outcomes.items():
        for outcome, weights in outcomes.items():
            count_only.add(stage_id, outcome, *weights)

    def chance(training):
        figures = model_estimate(
            stats=training,
            open_groups={(q, 1): (Decimal("1000000"), Decimal("1000000000000"))},
            probabilities=probabilities,
            horizon=30,
            new_business=(0.0, 0.0),
        )
        # Worked out on a million, so that rounding to the cent does not blur the chance.
        return float(figures["expected"]) / 1_000_000

    open_part = float(model["expected"] - model["new_business"])
    assert open_part == pytest.approx(17000 * chance(stats), abs=0.02)
    # By count half the entries won; by value a sixteenth of the value did.
    assert open_part < 0.5 * 17000 * chance(count_only)
    assert forecast(scope, as_of, 30)["model"] == model["expected"]
    for deal in rep.deals.filter(amount=Decimal("1000")):
        deal_update(deal=deal, by=admin, expected_version=None, amount=Decimal("16000"))
    assert forecast(scope, as_of, 30)["model"] == model["expected"]
