"""The gap page and its figures, against values worked out by hand on a small, varied history.

rep's month: a quota of 10,000 for the calendar month. Won this month: 3,000
(closed at midnight today); won just before the month began: 5,000 (not this
month's). Lost: 1,000 today and 800 fifty days ago. Open, closing within the
next 30 days: 2,000 commit, 1,500 best case, 4,000 pipeline and 700 omitted.
rep2: a quota of 4,000, won 1,000 today, 500 open in commit.

Close ratio over the last 90 days (the dashboard's funnel): rep won 2 and lost 2: 50%.
"""

import datetime
import math
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Deal
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from pipeline.services import deal_move
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from quotas.services import quota_set, territory_create
from reports.runners import ForecastRunner, GapRunner
from reports.runners.gap import (
    GAP_PERIODS,
    gap_deal_figures,
    gap_deal_figures_grouped,
    gap_period,
    horizon_for,
)
from reports.services import snapshots_compute
from tests.factories import (
    AccountFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    UserFactory,
)


@pytest.fixture
def month():
    return Period.named("month", timezone.localdate())


def _history(admin, owners, pipeline, stages, rows, territory=None):
    """Import deals: (owner, stage name, amount, category, closed at or None, closes in days).

    Each owner's deals lie in one account of theirs, pinned to ``territory`` if given."""
    today = timezone.localdate()
    reason = LostReasonFactory(name="Budget")
    accounts = {owner.pk: AccountFactory(owner=owner, territory=territory) for owner in owners}
    specs = []
    for n, (owner, stage, amount, category, closed, close_in) in enumerate(rows):
        created = start_of(today - datetime.timedelta(days=70))
        moves = [TransitionSpec(to_stage_id=stages["Qualification"].pk, at=created, by_id=owner.pk)]
        if closed is not None:
            moves.append(TransitionSpec(to_stage_id=stages[stage].pk, at=closed, by_id=owner.pk))
        specs.append(
            DealSpec(
                name=f"Deal {n}",
                account_id=accounts[owner.pk].pk,
                owner_id=owner.pk,
                pipeline_id=pipeline.pk,
                stage_id=stages[stage].pk,
                amount=Decimal(amount),
                currency="USD",
                expected_close_date=today + datetime.timedelta(days=close_in),
                forecast_category=category,
                created_at=created,
                lost_reason_id=reason.pk if stage == "Lost" else None,
                transitions=moves,
                changes=[],
            )
        )
    deals_import(specs=specs, by=admin)


@pytest.fixture
def team_history(admin, manager, rep, rep2, pipeline, stages, month):
    today = timezone.localdate()
    midnight = start_of(today)
    before_month = start_of(month.start) - datetime.timedelta(hours=1)
    fifty_days_ago = start_of(today - datetime.timedelta(days=50))
    _history(
        admin,
        [rep, rep2],
        pipeline,
        stages,
        [
            (rep, "Won", "3000", "commit", midnight, 0),
            (rep, "Won", "5000", "commit", before_month, 0),
            (rep, "Lost", "1000", "pipeline", midnight, 0),
            (rep, "Lost", "800", "pipeline", fifty_days_ago, 0),
            (rep, "Qualification", "2000", "commit", None, 5),
            (rep, "Qualification", "1500", "best_case", None, 10),
            (rep, "Qualification", "4000", "pipeline", None, 15),
            (rep, "Qualification", "700", "omitted", None, 3),
            (rep2, "Won", "1000", "commit", midnight, 0),
            (rep2, "Qualification", "500", "commit", None, 7),
        ],
    )
    quota_set(
        owner=rep, period_start=month.start, period_end=month.last_day, target=Decimal("10000")
    )
    quota_set(
        owner=rep2, period_start=month.start, period_end=month.last_day, target=Decimal("4000")
    )


def test_the_period_and_horizon_follow_the_calendar():
    day = datetime.date(2026, 5, 20)
    assert gap_period("quarter", day) == Period(
        datetime.date(2026, 4, 1), datetime.date(2026, 7, 1)
    )
    assert gap_period("year", day) == Period(datetime.date(2026, 1, 1), datetime.date(2027, 1, 1))
    assert [horizon_for(days) for days in (1, 31, 45, 46, 75, 76, 200)] == [
        30,
        30,
        60,
        60,
        90,
        90,
        90,
    ]


def test_a_reps_gap_for_the_month_against_figures_worked_out_by_hand(rep, team_history, month):
    today = timezone.localdate()
    gap = GapRunner(Scope(owner=rep.pk), "month", today).run()
    days_left = (month.end - today).days
    assert gap["horizon"] == 30
    assert gap["target"] == Decimal("10000.00")
    assert gap["won"] == Decimal("3000.00")
    assert gap["commit"] == Decimal("2000.00")
    assert gap["best_case"] == Decimal("3500.00")
    assert gap["pipeline"] == Decimal("7500.00")
    assert gap["gap"]["commit"] == Decimal("5000.00")
    assert gap["gap"]["best_case"] == Decimal("3500.00")
    assert gap["to_win"] == Decimal("7000.00")
    assert gap["close_ratio"] == pytest.approx(0.5)
    assert gap["pipeline_needed"] == Decimal("14000.00")
    assert gap["coverage"] == pytest.approx(7500 / 7000)
    assert gap["run_rate_per_week"] == (Decimal(7000) * 7 / days_left).quantize(Decimal("0.01"))
    forecast = ForecastRunner(Scope(owner=rep.pk), today, (30,)).run()[0]
    for name in ("model", "model_p10", "model_p90"):
        assert gap[name] == forecast[name]
        assert gap["gap"][name] == Decimal("7000.00") - forecast[name]
    assert gap["model_p10"] <= gap["model"] <= gap["model_p90"]
    assert gap["reps"] == []


def test_a_team_gap_rolls_up_and_lists_each_rep(manager, rep, rep2, team_history):
    gap = GapRunner(Scope(team=manager.pk), "month", timezone.localdate()).run()
    assert gap["target"] == Decimal("14000.00")
    assert gap["target_basis"] == "rollup"
    assert gap["won"] == Decimal("4000.00")
    assert gap["commit"] == Decimal("2500.00")
    assert gap["gap"]["commit"] == Decimal("7500.00")
    # 3 won (5,000 before the month among them) against 2 lost in the last 90 days.
    assert gap["close_ratio"] == pytest.approx(3 / 5)
    rows = {row["name"]: row for row in gap["reps"]}
    assert rows["Riley Rep"]["target"] == Decimal("10000.00")
    assert rows["Riley Rep"]["won"] == Decimal("3000.00")
    assert rows["Riley Rep"]["commit"] == Decimal("2000.00")
    assert rows["Riley Rep"]["best_case"] == Decimal("3500.00")
    assert rows["Riley Rep"]["gap_commit"] == Decimal("5000.00")
    assert rows["Robin Rep"]["gap_commit"] == Decimal("2500.00")
    assert [row["name"] for row in gap["reps"]] == ["Riley Rep", "Robin Rep"]


def test_no_target_applies_to_a_pipeline(pipeline, team_history):
    gap = GapRunner(Scope(pipeline=pipeline.pk), "quarter", timezone.localdate()).run()
    assert gap["target"] is None and gap["gap"]["commit"] is None and gap["pipeline_needed"] is None


@pytest.fixture
def page_for(client):
    """A browser client signed in as the given user."""

    def make(user):
        client.force_login(user)
        return client

    return make


def _queries(scope):
    GapRunner(scope, "month", timezone.localdate()).run()  # the first read stores the snapshots
    with CaptureQueriesContext(connection) as captured:
        GapRunner(scope, "month", timezone.localdate()).run()
    return len(captured)


def test_the_gap_costs_the_same_queries_whatever_the_team_size(
    admin, manager, pipeline, stages, team_history
):
    small = _queries(Scope(team=manager.pk))
    people = [UserFactory(username=f"more{n}", manager=manager) for n in range(5)]
    _history(
        admin,
        people,
        pipeline,
        stages,
        [(p, "Qualification", "100", "commit", None, 4) for p in people],
    )
    assert _queries(Scope(team=manager.pk)) == small


def test_a_manager_sees_the_team_with_links_to_each_reps_page(
    page_for, manager, rep, rep2, outsider, team_history
):
    response = page_for(manager).get(reverse("gap"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Riley Rep" in body and "Robin Rep" in body and "Olive Outsider" not in body
    assert f"scope=rep&amp;span=month&amp;scope_id={rep.pk}" in body
    assert "the roll-up of the team" in body
    rep_page = page_for(manager).get(
        reverse("gap"), {"scope": "rep", "scope_id": rep.pk, "span": "month"}
    )
    assert rep_page.context["gap"]["scope"] == f"owner={rep.pk}"


def test_a_rep_sees_only_their_own_gap(page_for, rep, rep2, team_history):
    response = page_for(rep).get(
        reverse("gap"), {"scope": "rep", "scope_id": rep2.pk, "span": "quarter"}
    )
    assert response.status_code == 200
    assert response.context["gap"]["scope"] == f"owner={rep.pk}"
    assert response.context["gap"]["reps"] == []
    assert "Gap to target" in response.content.decode()


def test_a_rep_of_another_team_cannot_reach_this_team(page_for, manager, outsider, team_history):
    response = page_for(outsider).get(reverse("gap"), {"scope": "team", "scope_id": manager.pk})
    assert response.context["gap"]["scope"] == f"owner={outsider.pk}"
    assert response.context["gap"]["won"] == Decimal("0.00")


def test_the_gap_page_is_in_the_navigation(page_for, rep):
    assert f'href="{reverse("gap")}"' in page_for(rep).get(reverse("home")).content.decode()


def test_the_api_answers_the_same_gap_figures(client_for, manager, rep, team_history):
    body = client_for(manager).get("/api/v1/gap/", {"owner": rep.pk, "period": "month"}).json()
    assert body["scope"] == f"owner={rep.pk}"
    assert (body["target"], body["won"], body["commit"]) == ("10000.00", "3000.00", "2000.00")
    assert body["gap"]["commit"] == "5000.00"
    assert body["pipeline_needed"] == "14000.00"
    team = client_for(manager).get("/api/v1/gap/").json()
    assert team["target_basis"] == "rollup"
    assert [row["name"] for row in team["reps"]] == ["Riley Rep", "Robin Rep"]


def test_the_api_keeps_another_teams_gap_from_a_rep(client_for, manager, outsider, team_history):
    assert client_for(outsider).get("/api/v1/gap/", {"team": manager.pk}).status_code == 404


@pytest.mark.parametrize("span", ["quarter", "year"])
def test_a_reps_quarter_and_year_count_what_falls_inside_them(rep, team_history, month, span):
    today = timezone.localdate()
    period = gap_period(span, today)
    gap = GapRunner(Scope(owner=rep.pk), span, today).run()
    # Only this month's quota of 10,000 lies in the quarter and the year. The 5,000 won an hour
    # before this month began counts when the quarter (or year) began earlier than the month.
    won = Decimal("3000.00") + (Decimal("5000.00") if period.start < month.start else 0)
    to_win = Decimal("10000.00") - won
    days_left = (period.end - today).days
    assert gap["days_left"] == days_left
    assert gap["horizon"] == horizon_for(days_left)
    assert gap["target"] == Decimal("10000.00")
    assert gap["won"] == won
    # Every open deal closes within 15 days, so any horizon holds all of them.
    assert (gap["commit"], gap["best_case"], gap["pipeline"]) == (
        Decimal("2000.00"),
        Decimal("3500.00"),
        Decimal("7500.00"),
    )
    assert gap["gap"]["commit"] == to_win - Decimal("2000.00")
    assert gap["gap"]["best_case"] == to_win - Decimal("3500.00")
    assert gap["to_win"] == to_win
    assert gap["pipeline_needed"] == (to_win * 2).quantize(Decimal("0.01"))
    assert gap["coverage"] == pytest.approx(float(Decimal(7500) / to_win))
    assert gap["run_rate_per_week"] == (to_win * 7 / days_left).quantize(Decimal("0.01"))
    assert sum(point["won_value"] for point in gap["won_by_week"]) == won


@pytest.fixture
def north(admin, rep, rep2, outsider, pipeline, stages, team_history, month):
    """A territory whose members are rep (of the team) and outsider (of the sibling team).

    rep's deals lie outside it; a second account of rep's and outsider's account lie in it:
    rep won 1,200 today and has 900 open in commit there; outsider won 2,000 today, lost 400
    today and has 1,000 open in best case. outsider's quota: 6,000 for the month."""
    north = territory_create(name="North", reps=[rep, outsider], by=admin)
    midnight = start_of(timezone.localdate())
    _history(
        admin,
        [rep, outsider],
        pipeline,
        stages,
        [
            (rep, "Won", "1200", "commit", midnight, 0),
            (rep, "Qualification", "900", "commit", None, 6),
            (outsider, "Won", "2000", "commit", midnight, 0),
            (outsider, "Lost", "400", "pipeline", midnight, 0),
            (outsider, "Qualification", "1000", "best_case", None, 8),
        ],
        territory=north,
    )
    quota_set(
        owner=outsider, period_start=month.start, period_end=month.last_day, target=Decimal("6000")
    )
    return north


def test_a_territory_gap_rolls_up_its_members_and_counts_only_its_deals(
    rep, outsider, north, month
):
    today = timezone.localdate()
    gap = GapRunner(Scope(territory=north.pk), "month", today).run()
    days_left = (month.end - today).days
    # The members' quotas: rep 10,000 and outsider 6,000. rep2 is no member.
    assert gap["target"] == Decimal("16000.00")
    assert gap["target_basis"] == "rollup"
    assert gap["won"] == Decimal("3200.00")
    assert gap["commit"] == Decimal("900.00")
    assert gap["best_case"] == Decimal("1900.00")
    assert gap["pipeline"] == Decimal("1900.00")
    assert gap["gap"]["commit"] == Decimal("11900.00")
    assert gap["gap"]["best_case"] == Decimal("10900.00")
    assert gap["to_win"] == Decimal("12800.00")
    # In the territory: 2 won, 1 lost in the last 90 days.
    assert gap["close_ratio"] == pytest.approx(2 / 3)
    assert gap["pipeline_needed"] == Decimal("19200.00")
    assert gap["coverage"] == pytest.approx(1900 / 12800)
    assert gap["run_rate_per_week"] == (Decimal(12800) * 7 / days_left).quantize(Decimal("0.01"))
    rows = {row["name"]: row for row in gap["reps"]}
    assert set(rows) == {"Riley Rep", "Olive Outsider"}
    assert (rows["Riley Rep"]["won"], rows["Riley Rep"]["commit"]) == (
        Decimal("1200.00"),
        Decimal("900.00"),
    )
    assert rows["Riley Rep"]["gap_commit"] == Decimal("7900.00")
    assert rows["Olive Outsider"]["target"] == Decimal("6000.00")
    assert rows["Olive Outsider"]["best_case"] == Decimal("1000.00")
    assert rows["Olive Outsider"]["gap_commit"] == Decimal("4000.00")
    assert rows["Olive Outsider"]["attainment"] == pytest.approx(2000 / 6000)


def test_a_manager_on_a_territory_sees_only_their_teams_part_of_it(client_for, manager, rep, north):
    body = client_for(manager).get("/api/v1/gap/", {"territory": north.pk}).json()
    assert [row["name"] for row in body["reps"]] == ["Riley Rep"]
    assert (body["target"], body["won"], body["commit"]) == ("10000.00", "1200.00", "900.00")


def test_a_sibling_teams_manager_gets_their_own_team_on_the_page(
    page_for, manager, rep, other_manager, outsider, team_history
):
    for asked in ({"scope": "team", "scope_id": manager.pk}, {"scope": "rep", "scope_id": rep.pk}):
        response = page_for(other_manager).get(reverse("gap"), asked)
        assert response.status_code == 200
        assert response.context["gap"]["scope"] == f"team={other_manager.pk}"
        body = response.content.decode()
        assert "Olive Outsider" in body and "Riley Rep" not in body and "Robin Rep" not in body
        assert response.context["gap"]["won"] == Decimal("0.00")


@pytest.mark.parametrize(
    "who, query, status",
    [
        ("admin", {"team": "manager"}, 200),
        ("admin", {"owner": "rep"}, 200),
        ("manager", {"team": "manager"}, 200),
        ("manager", {"owner": "rep2"}, 200),
        ("rep", {}, 200),
        ("rep", {"owner": "rep2"}, 404),
        ("rep", {"team": "manager"}, 404),
        ("outsider", {"owner": "rep"}, 404),
        ("outsider", {"team": "manager"}, 404),
        ("other_manager", {"team": "manager"}, 404),
        ("other_manager", {"owner": "rep"}, 404),
    ],
)
def test_every_role_reads_only_the_gap_it_may(
    request, client_for, team_history, who, query, status
):
    params = {key: request.getfixturevalue(name).pk for key, name in query.items()}
    response = client_for(request.getfixturevalue(who)).get("/api/v1/gap/", params)
    assert response.status_code == status
    if status == 200 and who == "rep":
        assert response.json()["scope"] == f"owner={request.getfixturevalue('rep').pk}"
        assert response.json()["reps"] == []


def test_the_gap_api_names_a_bad_period(client_for, rep, team_history):
    response = client_for(rep).get("/api/v1/gap/", {"period": "decade"})
    assert response.status_code == 400
    assert "period" in response.json()


def _deal_queries(captured) -> list[str]:
    return [query["sql"] for query in captured if '"pipeline_deal"' in query["sql"]]


def test_the_gap_reads_no_deal_once_the_snapshots_are_written(
    manager, rep, team_history, django_capture_on_commit_callbacks
):
    """The recompute keeps the gap's deal figures beside the snapshots it writes: a read runs no
    query over deals, a stale scope shows them as old as its forecast, and they change when the
    recompute lands."""
    scope, today = Scope(team=manager.pk), timezone.localdate()
    snapshots_compute(scopes=[scope])
    for span in GAP_PERIODS:
        with CaptureQueriesContext(connection) as captured:
            fresh = GapRunner(scope, span, today).run()
        assert _deal_queries(captured) == [], span
        assert fresh["source"] == "snapshot" and fresh["won"] >= Decimal("4000.00")
    before = GapRunner(scope, "month", today).run()

    deal = Deal.objects.get(owner=rep, amount=Decimal("2000"))
    with django_capture_on_commit_callbacks(execute=True):
        deal_move(
            deal=deal,
            to_stage=deal.pipeline.stages.get(name="Won"),
            by=rep,
            expected_version=deal.version,
        )
    with CaptureQueriesContext(connection) as captured:
        stale = GapRunner(scope, "month", today).run()
    assert _deal_queries(captured) == []
    assert stale["stale"] is True
    assert (stale["won"], stale["reps"]) == (before["won"], before["reps"])

    snapshots_compute(scopes=[scope], only_if_dirty=True)
    landed = GapRunner(scope, "month", today).run()
    assert landed["stale"] is False
    assert landed["won"] == before["won"] + Decimal("2000.00")
    rows = {row["name"]: row for row in landed["reps"]}
    assert rows["Riley Rep"]["won"] == Decimal("5000.00")
    assert rows["Riley Rep"]["commit"] == Decimal("0.00")


def test_the_kept_figures_equal_the_live_ones_for_every_period(manager, rep, north):
    today = timezone.localdate()
    for scope in (Scope(team=manager.pk), Scope(territory=north.pk), Scope(owner=rep.pk), Scope()):
        live = {span: GapRunner(scope, span, today).run() for span in GAP_PERIODS}
        snapshots_compute(scopes=[scope])
        for span in GAP_PERIODS:
            kept = GapRunner(scope, span, today).run()
            assert kept["source"] == "snapshot"
            for name in ("won", "won_by_week", "reps", "commit", "best_case", "target", "gap"):
                assert kept[name] == live[span][name], (scope.key, span, name)


def test_the_model_range_and_its_gaps_worked_out_by_hand(rep, pipeline, stages, month):
    """One open deal of 600 in Proposal (60%) and no history: with no past wins the model spreads the
    stage's chance over 90 days, so 30 days hold p = 0.6 * 30 / 90 = 0.2 of it, and its variance is the
    win's own, p (1 - p) 600^2, with the chance's uncertainty resting on the prior's 10 entries alone,
    times (1 + 1/11). The range is the expected value -/+ 1.2816 sigma."""
    deal = DealFactory(
        owner=rep,
        pipeline=pipeline,
        amount=Decimal("600.00"),
        forecast_category="commit",
        expected_close_date=timezone.localdate() + datetime.timedelta(days=3),
    )
    deal_move(deal=deal, to_stage=stages["Proposal"], by=rep, expected_version=deal.version)
    quota_set(
        owner=rep, period_start=month.start, period_end=month.last_day, target=Decimal("1000")
    )
    gap = GapRunner(Scope(owner=rep.pk), "month", timezone.localdate()).run()
    p = 0.6 * 30 / 90
    sigma = math.sqrt(p * (1 - p) * 600**2 * (1 + 1 / 11))
    cents = Decimal("0.01")
    model = Decimal(str(p * 600)).quantize(cents)
    low = Decimal(str(max(0.0, p * 600 - 1.2816 * sigma))).quantize(cents)
    high = Decimal(str(p * 600 + 1.2816 * sigma)).quantize(cents)
    assert gap["horizon"] == 30
    assert (gap["target"], gap["won"]) == (Decimal("1000.00"), Decimal("0.00"))
    assert (gap["commit"], gap["best_case"], gap["pipeline"]) == (Decimal("600.00"),) * 3
    assert gap["model"] == model == Decimal("120.00")
    assert gap["model_p10"] == low
    assert gap["model_p90"] == high
    assert gap["gap"] == {
        "commit": Decimal("400.00"),
        "best_case": Decimal("400.00"),
        "model": Decimal("880.00"),
        "model_p10": Decimal("1000.00") - low,
        "model_p90": Decimal("1000.00") - high,
    }
    # Nothing closed in the last 90 days: no close ratio, so no pipeline needed can be said.
    assert gap["close_ratio"] is None and gap["pipeline_needed"] is None
    assert gap["coverage"] == pytest.approx(0.6)


def test_one_grouped_pass_gives_every_scope_what_its_own_queries_give(
    admin, manager, rep, rep2, outsider, other_manager, pipeline, north, django_assert_num_queries
):
    second = PipelineFactory(name="Renewals")
    _history(
        admin,
        [rep2, other_manager],
        second,
        {stage.name: stage for stage in second.stages.all()},
        [
            (rep2, "Won", "700", "commit", start_of(timezone.localdate()), 0),
            (other_manager, "Qualification", "300", "best_case", None, 40),
        ],
    )
    scopes = [
        Scope(),
        Scope(team=manager.pk),
        Scope(team=other_manager.pk),
        Scope(owner=rep.pk),
        Scope(owner=outsider.pk),
        Scope(territory=north.pk),
        Scope(team=manager.pk, territory=north.pk),
        Scope(pipeline=pipeline.pk),
        Scope(pipeline=second.pk),
    ]
    today = timezone.localdate()
    with django_assert_num_queries(4):
        grouped = gap_deal_figures_grouped(scopes, today)
    for scope in scopes:
        alone = gap_deal_figures(scope, today)
        assert grouped[scope.key] == alone, scope.key
    assert grouped[Scope(team=other_manager.pk).key]["owners"][outsider.pk]["won_month"] == Decimal(
        "2000.00"
    )
