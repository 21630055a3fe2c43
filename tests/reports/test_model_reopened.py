"""The model's term for lost deals that come back and are won, pinned on hand-built histories.

A deal lost at the forecast's moment is in no open stage and is not new business, yet some lost
deals are reopened and won. The term is the value of the year's wins whose deal had been lost,
each weighted by the window starts at which it lay lost and was then won inside the window, over
the span's days (``reopened_overlap``), read from the history as it stood at the moment.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.models import Deal
from pipeline.periods import start_of
from pipeline.scopes import Scope
from pipeline.services import deal_move
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from reports.forecasts import (
    NewBusiness,
    Training,
    forecast,
    model_estimate,
    new_business_from,
    new_business_sums,
)
from reports.grouped import forecasts_as_of
from reports.metrics import deal_rows
from tests.factories import AccountFactory, LostReasonFactory


def _import(admin, rep, pipeline, paths, *, t0):
    """One deal of ``rep`` per ``(amount, [(stage, days after t0)])``."""
    account = AccountFactory(owner=rep)
    reason = LostReasonFactory(name="Gone quiet")
    specs = []
    for amount, path in paths:
        moves = [(stage, t0 + datetime.timedelta(days=days)) for stage, days in path]
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
                expected_close_date=(t0 + datetime.timedelta(days=40)).date(),
                forecast_category="pipeline",
                created_at=moves[0][1],
                lost_reason_id=reason.pk if last.kind == "lost" else None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=stage.pk,
                        at=at,
                        lost_reason_id=reason.pk if stage.kind == "lost" else None,
                    )
                    for stage, at in moves
                ],
                changes=[],
            )
        )
    deals_import(specs=specs, by=admin)


def _sums(scope: Scope, moment: datetime.datetime, horizon: int) -> dict:
    return deal_rows(scope, moment).aggregate(**new_business_sums(moment, horizon))


def test_a_lost_deal_reopened_and_won_gives_a_positive_reopened_term(admin, rep, pipeline, stages):
    """Lost 100 days before the moment, reopened 80 days before, won 70 days before: a 30-day window
    starting 100 to 80 days before the moment saw it lost and then won inside it when it started
    at least 100 days before the win (from the loss on), so 20 window starts of the 335 count."""
    moment = start_of(timezone.localdate())
    t0 = moment - datetime.timedelta(days=200)
    q, n, won, lost = (
        stages["Qualification"],
        stages["Negotiation"],
        stages["Won"],
        stages["Lost"],
    )
    _import(
        admin,
        rep,
        pipeline,
        [
            ("3000", [(q, 0), (lost, 100), (n, 120), (won, 130)]),
            # Won without ever being lost, and lost for good: neither is a reopened win.
            ("5000", [(q, 0), (won, 60)]),
            ("7000", [(q, 0), (lost, 30)]),
        ],
        t0=t0,
    )
    sums = _sums(Scope(owner=rep.pk), moment, 30)
    # Window starts t from the loss (day 100) and from the win less 30 days (day 100), up to the
    # reopening (day 120): 20 days, at 3,000.
    assert sums["reopened"] == pytest.approx(3000 * 20, rel=1e-6)
    assert sums["reopened_sq"] == pytest.approx(3000 * 3000 * 20, rel=1e-6)
    new = new_business_from(moment, 30, **sums)
    # Per day of the span that could have finished, from the first deal created in it.
    length = (moment - datetime.timedelta(days=30) - t0).total_seconds() / 86400
    assert new.reopened[0] == pytest.approx(3000 * 20 / length, rel=1e-6)
    # At 90 days a window counts only if it has passed by the moment (it starts by day 110): from
    # the loss on (day 100; not before, when the deal was not lost yet) to day 110.
    assert _sums(Scope(owner=rep.pk), moment, 90)["reopened"] == pytest.approx(3000 * 10, rel=1e-6)
    # The forecast's expected value carries it.
    with_term = model_estimate(
        stats=_empty_training(),
        open_groups={},
        probabilities={},
        horizon=30,
        new_business=new,
        paths={},
    )
    assert float(with_term["expected"]) == pytest.approx(new.reopened[0], abs=0.01)
    assert with_term["p90"] > with_term["expected"]


def test_a_short_window_counts_only_the_starts_within_its_reach_of_the_win(
    admin, rep, pipeline, stages
):
    """Lost on day 10, reopened on day 100, won on day 110: a 30-day window sees the deal lost and
    then won only when it starts from day 80 (the win less 30 days) to day 100."""
    moment = start_of(timezone.localdate())
    t0 = moment - datetime.timedelta(days=200)
    q, d, won, lost = stages["Qualification"], stages["Discovery"], stages["Won"], stages["Lost"]
    _import(admin, rep, pipeline, [("1000", [(q, 0), (lost, 10), (d, 100), (won, 110)])], t0=t0)
    assert _sums(Scope(owner=rep.pk), moment, 30)["reopened"] == pytest.approx(20000, rel=1e-6)
    assert _sums(Scope(owner=rep.pk), moment, 60)["reopened"] == pytest.approx(50000, rel=1e-6)


def test_nothing_after_the_moment_changes_the_reopened_term(admin, rep, pipeline, stages):
    moment = start_of(timezone.localdate()) - datetime.timedelta(days=20)
    t0 = moment - datetime.timedelta(days=200)
    q, d, won, lost = stages["Qualification"], stages["Discovery"], stages["Won"], stages["Lost"]
    _import(
        admin,
        rep,
        pipeline,
        [
            ("3000", [(q, 0), (lost, 100), (d, 120), (won, 130)]),
            ("4000", [(q, 0), (lost, 150)]),
        ],
        t0=t0,
    )
    as_of = timezone.localdate(moment)
    scope = Scope(owner=rep.pk)
    before = {horizon: forecast(scope, as_of, horizon) for horizon in (30, 60)}
    sums_before = _sums(scope, moment, 30)
    assert sums_before["reopened"] > 0
    # After the moment the lost deal comes back and is won: it adds to the actual, not to the
    # forecast made before.
    deal = Deal.objects.get(name="deal 1")
    deal = deal_move(deal=deal, to_stage=d, by=admin, expected_version=deal.version)
    deal_move(deal=deal, to_stage=won, by=admin, expected_version=deal.version)
    assert _sums(scope, moment, 30) == sums_before
    for horizon, figures in before.items():
        after = forecast(scope, as_of, horizon)
        keys = ("model", "model_p10", "model_p90")
        assert {key: after[key] for key in keys} == {key: figures[key] for key in keys}


def test_the_grouped_pass_gives_the_reopened_term_as_the_scope_does(admin, rep, pipeline, stages):
    moment_day = timezone.localdate() - datetime.timedelta(days=7)
    t0 = start_of(moment_day) - datetime.timedelta(days=200)
    q, d, won, lost = stages["Qualification"], stages["Discovery"], stages["Won"], stages["Lost"]
    _import(
        admin,
        rep,
        pipeline,
        [
            ("3000", [(q, 0), (lost, 100), (d, 120), (won, 130)]),
            ("2000", [(q, 10), (d, 20), (won, 70)]),
            ("1000", [(q, 30), (lost, 60)]),
        ],
        t0=t0,
    )
    now = timezone.now()
    scope = Scope(owner=rep.pk)
    grouped = forecasts_as_of([scope], as_of=moment_day, now=now)[scope.key]
    for figures in grouped:
        alone = forecast(scope, moment_day, figures["horizon"], now=now)
        assert figures["model"] == alone["model"]
        assert figures["model_p90"] == alone["model_p90"]


def test_without_reopened_wins_the_term_is_nothing():
    new = NewBusiness(100.0, 25.0)
    figures = model_estimate(
        stats=_empty_training(),
        open_groups={},
        probabilities={},
        horizon=30,
        new_business=new,
        paths={},
    )
    assert float(figures["expected"]) == pytest.approx(100.0)


def _empty_training() -> Training:
    return Training()
