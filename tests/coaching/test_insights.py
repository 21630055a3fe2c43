"""Insights against hand-worked figures (the history of ``conftest.py``)."""

import datetime
import random
from decimal import Decimal

import pytest

from coaching.insights import MIN_ENTERED, insights, spread, stage_test, weakest_stage
from pipeline.models import StageTransition
from pipeline.periods import Period, start_of
from tests.coaching.conftest import LOST_IN_DISCOVERY, build, won_at
from tests.conftest import rollup_check


def by_name(rows):
    return {row["name"]: row for row in rows}


@pytest.fixture
def figures(team_history, rep):
    return insights(rep, Period.default(team_history.today), team_history.today)


def test_the_team_is_the_reps_below_the_manager_and_never_the_outsider(figures):
    assert figures["team"]["reps"] == 3
    assert figures["team"]["name"] == "Team of Morgan Manager"
    assert figures["rep"]["name"] == "Riley Rep"


def test_scalar_figures_of_the_rep_and_the_team_median_and_quartiles(figures):
    metrics = by_name(figures["metrics"])
    win = metrics["close_ratio"]
    # rep 4 won of 24 closed; rep2 24 of 44; rep3 2 of 2.
    assert win["rep"] == pytest.approx(4 / 24)
    assert win["team"]["median"] == pytest.approx(24 / 44)
    assert win["team"]["q1"] == pytest.approx((4 / 24 + 24 / 44) / 2)
    assert win["team"]["q3"] == pytest.approx((24 / 44 + 1) / 2)
    assert win["team"]["reps"] == 3
    size = metrics["avg_won_deal_size"]
    assert size["rep"] == Decimal("1000.00")
    assert (size["team"]["median"], size["team"]["q1"], size["team"]["q3"]) == (2000, 1500, 3000)
    cycle = metrics["avg_sales_cycle_days"]
    assert cycle["rep"] == pytest.approx(10)
    assert (cycle["team"]["median"], cycle["team"]["q1"], cycle["team"]["q3"]) == pytest.approx(
        (20, 15, 25)
    )
    # 3,000 open and due within 90 days, over 12,000 * 90 / 180 of quota; only the rep has a quota.
    coverage = metrics["pipeline_coverage"]
    assert coverage["rep"] == pytest.approx(0.5)
    assert coverage["team"] == {"median": 0.5, "q1": 0.5, "q3": 0.5, "reps": 1}
    assert figures["counts"]["pipeline"] == Decimal("3000.00")
    assert figures["counts"]["quota"] == Decimal("6000.00")
    # Activities 4, 8 and 0: the outsider's 9 calls are not the team's.
    activities = metrics["activities"]
    assert activities["rep"] == 4
    assert (activities["team"]["median"], activities["team"]["q1"], activities["team"]["q3"]) == (
        4,
        2,
        6,
    )


def test_activity_mix_is_each_kinds_share(figures):
    mix = {row["kind"]: row for row in figures["activity_mix"]}
    assert mix["call"]["count"] == 3
    assert mix["call"]["rep"] == 0.75
    assert mix["email"]["rep"] == 0.25
    # rep3 has no activities, so no mix: the team's is over rep (0.75) and rep2 (0.75).
    assert mix["call"]["team"] == {"median": 0.75, "q1": 0.75, "q3": 0.75, "reps": 2}
    assert mix["meeting"]["team"]["median"] == pytest.approx(0.125)


def test_stage_conversion_and_time_in_stage_against_the_team(figures):
    stages = by_name(figures["stages"])
    assert set(stages) == {"Qualification", "Discovery", "Proposal"}
    discovery = stages["Discovery"]
    assert discovery["rep"] == {
        "entered": 20,
        "advanced": 4,
        "conversion": 0.2,
        "stays": 20,
        # 16 stays of 3 days (lost at +5) and 4 of 2 days (Proposal at +4).
        "avg_days_in_stage": pytest.approx((16 * 3 + 4 * 2) / 20),
    }
    assert discovery["rest"] == {
        "entered": 42,
        "advanced": 26,
        "conversion": pytest.approx(26 / 42),
    }
    # Conversions 0.2, 24/40 and 1.
    assert discovery["team"]["conversion"]["median"] == pytest.approx(0.6)
    qualification = stages["Qualification"]
    assert qualification["rep"]["entered"] == 25
    assert qualification["rep"]["advanced"] == 20


def test_the_weakest_stage_is_flagged_with_hand_worked_evidence(figures):
    stages = by_name(figures["stages"])
    test = stages["Discovery"]["test"]
    # pooled = 30/62; se = sqrt(30/62 * 32/62 * (1/20 + 1/42)) = 0.135769;
    # z = (4/20 - 26/42) / se = -3.0865; p = Phi(-3.0865) = 0.00101.
    assert test["tested"] is True
    assert test["z"] == pytest.approx(-3.0865, abs=1e-4)
    assert test["p_value"] == pytest.approx(0.00101, abs=1e-5)
    assert test["alpha"] == 0.05  # Discovery is the only stage tested
    assert test["below_team"] is True
    # Qualification: 25 * (1 - 62/71) = 3.2 expected non-advances, too few for the test.
    assert stages["Qualification"]["test"]["tested"] is False
    assert "expected" in stages["Qualification"]["test"]["reason"]
    # Proposal: 4 entries for the rep.
    assert (
        stages["Proposal"]["test"]["reason"]
        == f"fewer than {MIN_ENTERED} deals entered the stage on one side"
    )
    focus = figures["focus"]
    assert focus["name"] == "Discovery"
    assert "advanced 4 of the 20 deals that entered Discovery (20%)" in focus["evidence"]
    assert "advanced 26 of 42 (62%)" in focus["evidence"]
    assert "z = -3.09" in focus["evidence"]


def test_no_flag_on_thin_data(admin, manager, rep, rep2, pipeline, stages):
    history = build(
        admin,
        stages,
        pipeline,
        [
            (rep, 6, "500", 0, LOST_IN_DISCOVERY, None),
            (rep2, 9, "500", 0, won_at(10), None),
        ],
    )
    figures = insights(rep, Period.default(history.today), history.today)
    discovery = by_name(figures["stages"])["Discovery"]
    # 0 of 6 against 9 of 9: a stark gap, but six entries prove nothing.
    assert discovery["rep"]["conversion"] == 0
    assert discovery["test"]["tested"] is False
    assert figures["focus"] is None


def test_no_flag_when_the_gap_is_within_chance(admin, manager, rep, rep2, pipeline, stages):
    history = build(
        admin,
        stages,
        pipeline,
        [
            (rep, 12, "500", 0, LOST_IN_DISCOVERY, None),
            (rep, 8, "500", 0, won_at(10), None),
            (rep2, 10, "500", 0, LOST_IN_DISCOVERY, None),
            (rep2, 10, "500", 0, won_at(10), None),
        ],
    )
    figures = insights(rep, Period.default(history.today), history.today)
    discovery = by_name(figures["stages"])["Discovery"]
    # 8/20 against 10/20: pooled 0.45, se = sqrt(0.45 * 0.55 * 0.1) = 0.157321, z = -0.6357.
    assert discovery["test"]["z"] == pytest.approx(-0.6357, abs=1e-4)
    assert discovery["test"]["below_team"] is False
    assert figures["focus"] is None


def test_bonferroni_divides_alpha_over_the_stages_tested():
    def stage(name, test):
        return {"name": name, "test": test}

    # 6/20 against 22/40: pooled 28/60, se = sqrt(28/60 * 32/60 * (1/20 + 1/40)) = 0.136626,
    # z = -0.25 / se = -1.8298, p = 0.0336: below 0.05 alone, not below 0.025 with two stages tested.
    stages = [stage("A", stage_test(20, 6, 40, 22)), stage("B", stage_test(20, 10, 40, 20))]
    assert stages[0]["test"]["z"] == pytest.approx(-1.8298, abs=1e-4)
    assert stages[0]["test"]["p_value"] == pytest.approx(0.0336, abs=1e-4)
    assert weakest_stage(stages) is None
    assert stages[0]["test"]["alpha"] == 0.025


def test_spread_of_no_values_and_one_value():
    assert spread([None, None]).as_dict() == {"median": None, "q1": None, "q3": None, "reps": 0}
    assert spread([3, None]).as_dict() == {"median": 3, "q1": 3, "q3": 3, "reps": 1}
    assert spread([1, 2, 3, 4]).as_dict() == {"median": 2.5, "q1": 1.75, "q3": 3.25, "reps": 4}


def test_a_team_of_any_size_costs_the_same_queries(
    team_history, rep, manager, django_assert_num_queries
):
    from tests.factories import UserFactory

    standard, other = Period.default(team_history.today), Period.named("30d", team_history.today)
    with django_assert_num_queries(9 + rollup_check()):
        insights(rep, standard, team_history.today)
    with django_assert_num_queries(8 + rollup_check()):
        insights(rep, other, team_history.today)
    for n in range(5):
        UserFactory(username=f"extra{n}", manager=manager)
    with django_assert_num_queries(9 + rollup_check()):
        figures = insights(rep, standard, team_history.today)
    with django_assert_num_queries(8 + rollup_check()):
        insights(rep, other, team_history.today)
    assert figures["team"]["reps"] == 8
    assert figures["stages_source"] == "live"


def test_periods_are_half_open(team_history, rep):
    before = Period(team_history.today - datetime.timedelta(days=200), team_history.t0.date())
    figures = insights(rep, before, team_history.today)
    assert figures["stages"] == []
    assert by_name(figures["metrics"])["close_ratio"]["rep"] is None


def _owner_snapshots(*people):
    from pipeline.scopes import Scope
    from reports.models import DirtyScope
    from reports.services import snapshots_compute

    snapshots_compute(scopes=[Scope(owner=person.pk) for person in people])
    DirtyScope.objects.all().delete()


def _without_stays(figures):
    for stage in figures["stages"]:
        stage["rep"].pop("stays")
    figures.pop("stages_source")
    return figures


def test_fresh_snapshots_give_the_live_figures_in_fewer_queries(
    team_history, rep, rep2, rep3, django_assert_num_queries
):
    period = Period.default(team_history.today)
    live = insights(rep, period, team_history.today)
    _owner_snapshots(rep, rep2, rep3)
    with django_assert_num_queries(7 + rollup_check()):
        stored = insights(rep, period, team_history.today)
    assert stored["stages_source"] == "snapshot"
    assert by_name(stored["stages"])["Discovery"]["rep"]["stays"] is None
    assert _without_stays(stored) == _without_stays(live)


def test_a_stale_or_missing_snapshot_falls_back_to_live(
    team_history, rep, rep2, rep3, django_capture_on_commit_callbacks
):
    from pipeline.models import Deal
    from pipeline.services import deal_move

    period = Period.default(team_history.today)
    _owner_snapshots(rep, rep2)
    assert insights(rep, period, team_history.today)["stages_source"] == "live"  # rep3 has none
    _owner_snapshots(rep, rep2, rep3)
    assert insights(rep, period, team_history.today)["stages_source"] == "snapshot"
    deal = Deal.objects.get(owner=rep, status="open")
    with django_capture_on_commit_callbacks(execute=True):
        deal_move(
            deal=deal,
            to_stage=team_history.stages["Discovery"],
            by=rep,
            expected_version=deal.version,
        )
    figures = insights(rep, period, team_history.today)
    assert figures["stages_source"] == "live"
    assert by_name(figures["stages"])["Discovery"]["rep"]["entered"] == 21


def test_team_totals_kept_once_judge_each_rep_as_alone():
    """``coaching_flags`` keeps a team's stage totals across its reps: every rep's rows are those of
    a pass over the team (without the spreads), whoever is judged first."""
    from types import SimpleNamespace

    from coaching.insights import _stage_rows

    rng = random.Random(9)
    pipeline = SimpleNamespace(name="Sales")
    stages = [
        SimpleNamespace(pk=pk, name=f"S{pk}", pipeline_id=1, pipeline=pipeline, order=pk)
        for pk in range(1, 6)
    ]
    ids = list(range(100, 112))
    flow, stays = {}, {}
    for owner in ids:
        for stage in stages:
            if rng.random() < 0.7:
                entered = rng.randrange(0, 40)
                flow[(owner, stage.pk)] = (entered, rng.randrange(0, entered + 1))
            if rng.random() < 0.5:
                stays[(owner, stage.pk)] = (rng.random() * 30, rng.randrange(1, 9))
    kept: dict = {}
    for rep_id in rng.sample(ids, len(ids)):
        alone = _stage_rows(rep_id, ids, flow, stays, stages)
        for row in alone:
            assert row.pop("team")
        assert _stage_rows(rep_id, ids, flow, stays, stages, team_totals=kept) == alone
    assert set(kept) == {stage.pk for stage in stages}


def test_a_stay_without_its_start_is_left_out_not_a_crash(team_history, rep, stages):
    """An imported transition may not say when the deal entered the stage it left: the stay is not
    counted (the funnel's time in stage leaves it out too), and a stage with only such stays has no
    mean rather than failing the page."""
    before = by_name(
        insights(rep, Period.default(team_history.today), team_history.today)["stages"]
    )
    deal = StageTransition.objects.filter(deal__owner=rep).first().deal
    at = start_of(team_history.today) - datetime.timedelta(hours=1)
    StageTransition.objects.create(
        deal=deal, from_stage=stages["Discovery"], to_stage=stages["Proposal"], at=at
    )
    StageTransition.objects.filter(deal__owner=rep, from_stage=stages["Qualification"]).update(
        from_stage_entered_at=None
    )
    figures = insights(rep, Period.default(team_history.today), team_history.today)
    after = by_name(figures["stages"])
    assert after["Discovery"]["rep"]["stays"] == before["Discovery"]["rep"]["stays"]
    assert after["Discovery"]["rep"]["avg_days_in_stage"] == pytest.approx(
        before["Discovery"]["rep"]["avg_days_in_stage"]
    )
    assert after["Qualification"]["rep"]["avg_days_in_stage"] is None
