"""The home page's panels and the manager dashboard: who sees what, exact figures, refresh, fixed query counts."""

import datetime
import re
import time
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Deal
from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.services import activity_log, deal_move, deal_update
from quotas.services import quota_set
from reports import views
from reports.models import ForecastSnapshot, MetricSnapshot
from reports.runners import DashboardListsRunner, LeaderboardRunner
from reports.services import RefreshState, refresh_queue, snapshots_compute
from reports.tasks import snapshot_scope
from salesmgr.celery import app as celery_app
from tests.conftest import rollup_check
from tests.factories import DealFactory, LostReasonFactory, UserFactory

HOME = "/"
PANELS = "/home/panels/"
DASHBOARD = "/dashboard/"
REFRESH = "/dashboard/refresh/"
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def cold_cache():
    """Cached past figures would make query counts depend on the order tests run in."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager(monkeypatch):
    """Run every task in this process, whatever the broker setting (CI has a real one)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_store_eager_result", True)


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def grow(*, manager, pipeline, stages, reps: int, deals: int, first: int = 0):
    """Reps under ``manager`` with a quota this month, and deals over them: won, lost, moved, overdue, active."""
    people = [UserFactory(username=f"grown{first + n}", manager=manager) for n in range(reps)]
    month = Period.named("month", timezone.localdate())
    for person in people:
        quota_set(
            owner=person,
            period_start=month.start,
            period_end=month.last_day,
            target=Decimal("10000"),
        )
    reason = LostReasonFactory(name="Price")
    past = timezone.localdate() - datetime.timedelta(days=3)
    for n in range(deals):
        owner = people[n % len(people)]
        close = past if n % 4 == 2 else timezone.localdate() + datetime.timedelta(days=20)
        deal = DealFactory(
            owner=owner, pipeline=pipeline, amount=Decimal(100 + n), expected_close_date=close
        )
        if n % 3 == 0:
            deal_move(deal=deal, to_stage=stages["Won"], by=owner, expected_version=deal.version)
        elif n % 6 == 1:
            deal_move(
                deal=deal,
                to_stage=stages["Lost"],
                by=owner,
                expected_version=deal.version,
                lost_reason=reason,
            )
        elif n % 6 == 5:
            deal_move(
                deal=deal, to_stage=stages["Proposal"], by=owner, expected_version=deal.version
            )
        if n % 5 == 0:
            activity_log(by=owner, kind="call", subject=f"Call {n}", deal=deal)
    return people


def matured(keys):
    """Matured forecast snapshots for these scopes, so the accuracy charts have something to show."""
    today = timezone.localdate()
    for key in keys:
        for offset in (100, 120, 140):
            for horizon in (30, 60):
                ForecastSnapshot.objects.get_or_create(
                    scope_key=key,
                    as_of=today - datetime.timedelta(days=offset),
                    horizon=horizon,
                    defaults={
                        "scope_kind": "custom",
                        "computed_at": timezone.now(),
                        "actual": Decimal("1000"),
                        **{
                            name: Decimal(value)
                            for name, value in (
                                ("pipeline", "1500"),
                                ("best_case", "1200"),
                                ("commit", "900"),
                                ("weighted", "700"),
                                ("model", "1050"),
                                ("model_p10", "600"),
                                ("model_p90", "1500"),
                                ("overdue_value", "0"),
                                ("won_in_window", "1000"),
                            )
                        },
                    },
                )


# Who sees what.


def test_every_role_gets_its_home_and_panels(signed_in, admin, manager, rep, history):
    for user in (admin, manager, rep):
        client = signed_in(user)
        assert client.get(HOME).status_code == 200
        assert client.get(PANELS, headers=HTMX).status_code == 200
        page = client.get(PANELS)  # without HTMX the panels are a page of their own
        assert page.status_code == 200
        assert "<h1>" in page.content.decode()


def test_managers_and_admins_get_the_dashboard(signed_in, admin, manager, history):
    for user in (admin, manager):
        response = signed_in(user).get(DASHBOARD)
        assert response.status_code == 200
        assert 'aria-label="Scope and period"' in response.content.decode()  # the shared picker


def test_a_rep_has_no_dashboard_at_all(signed_in, rep, manager, history):
    client = signed_in(rep)
    assert client.get(DASHBOARD).status_code == 404
    assert client.get(DASHBOARD, {"scope": "team", "scope_id": manager.pk}).status_code == 404
    assert client.post(REFRESH).status_code == 404
    assert 'href="/dashboard/"' not in client.get(HOME).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    for path in (PANELS, DASHBOARD):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_manager_picking_another_team_gets_their_own(
    signed_in, manager, other_manager, outsider, history, pipeline
):
    DealFactory(owner=outsider, pipeline=pipeline, amount=Decimal("7777.00"))
    client = signed_in(manager)
    for params in (
        {"scope": "team", "scope_id": other_manager.pk},
        {"scope": "rep", "scope_id": outsider.pk},
    ):
        response = client.get(DASHBOARD, params)
        assert response.status_code == 200
        assert response.context["scope"] == Scope(team=manager.pk)
        assert "7,777" not in response.content.decode()


def test_an_admin_sees_the_whole_organisation_by_default(signed_in, admin, history):
    response = signed_in(admin).get(DASHBOARD)
    assert response.context["scope"] == Scope()
    assert response.context["funnel"]["won_deals"] == 2  # A and F, in the last 90 days


def test_a_manager_may_pick_one_rep(signed_in, manager, rep, history):
    response = signed_in(manager).get(DASHBOARD, {"scope": "rep", "scope_id": rep.pk})
    assert response.context["scope"] == Scope(owner=rep.pk)
    assert response.context["funnel"]["won_value"] == Decimal("1000.00")  # A only; F is rep2's


# Exact figures.


def tiles(response) -> dict:
    return {tile["name"]: tile for tile in response.context["kpis"]}


def test_kpi_changes_against_the_previous_period(signed_in, manager, history):
    """Current: 50 to 31 days ago; previous: 70 to 51 days ago, open deals as they stood 50 days ago.

    Previous: B lost; C (2,000 by then), E (300) and F (4,000) open. Current: A (10 days) and F
    (20 days) won, nothing lost; C and E open now.
    """
    today = history.today
    client = signed_in(manager)
    pick = {
        "scope": "team",
        "scope_id": manager.pk,
        "period": "custom",
        "start": (today - datetime.timedelta(days=50)).isoformat(),
        "end": (today - datetime.timedelta(days=31)).isoformat(),
    }
    # The page shows the figures at once and asks for the changes in a second request.
    page = client.get(DASHBOARD, pick)
    assert page.context["compare_pending"] is True
    assert 'fragment=kpis" hx-trigger="load"' in page.content.decode()
    assert tiles(page)["open_deals"]["change"]["direction"] == "pending"

    response = client.get(DASHBOARD, {**pick, "fragment": "kpis"}, headers=HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="dashboard-kpis"')
    previous = response.context["previous"]
    assert (previous["start"], previous["end"]) == (
        today - datetime.timedelta(days=70),
        today - datetime.timedelta(days=50),
    )
    assert (previous["open_deals"], previous["open_value"]) == (3, Decimal("6300.00"))
    assert (previous["won_deals"], previous["lost_deals"], previous["close_ratio"]) == (0, 1, 0.0)

    kpi = tiles(response)
    assert kpi["open_deals"]["value"] == 2
    assert kpi["open_deals"]["change"]["difference"] == -1
    assert kpi["open_deals"]["change"]["text"] == "-1 (-33%)"
    assert kpi["open_deals"]["good"] is False
    assert kpi["open_value"]["value"] == Decimal("2300.00")
    assert kpi["open_value"]["change"]["difference"] == Decimal("-4000.00")
    assert kpi["close_ratio"]["value"] == pytest.approx(1.0)
    assert kpi["close_ratio"]["change"]["text"] == "+100 pts"
    assert kpi["close_ratio"]["good"] is True
    assert kpi["avg_won_deal_size"]["value"] == Decimal("2500.00")
    assert kpi["avg_won_deal_size"]["change"]["direction"] == "none"  # nothing won before
    assert kpi["avg_sales_cycle_days"]["value"] == pytest.approx(15.0)
    assert kpi["sales_velocity"]["value"] == Decimal("333.33")  # 2 open x 2,500 x 1.0 / 15 days
    page = response.content.decode()
    assert "333" in page and "per day" in page
    assert 'hx-trigger="load"' not in page

    # Worked out once, the previous period's figures are at hand for the whole page.
    again = client.get(DASHBOARD, pick)
    assert again.context["compare_pending"] is False
    assert tiles(again)["open_deals"]["change"]["text"] == "-1 (-33%)"


def test_the_previous_period_comes_from_its_snapshot_when_one_was_kept(signed_in, manager, history):
    today = history.today
    end = today - datetime.timedelta(days=89)
    MetricSnapshot.objects.create(
        scope_key=f"team={manager.pk}",
        scope_kind="team",
        period_start=end - datetime.timedelta(days=90),
        period_end=end,
        computed_at=timezone.now() - datetime.timedelta(days=90),
        data={
            "open_deals": 7,
            "open_value": "7000.00",
            "won_deals": 1,
            "won_value": "100.00",
            "lost_deals": 3,
            "avg_open_deal_size": "1000.00",
            "avg_won_deal_size": "100.00",
            "close_ratio": 0.25,
            "avg_sales_cycle_days": 30.0,
            "sales_velocity": "5.83",
            "start": "2000-01-01",
            "end": "2000-04-01",
            "stages": [],
        },
    )
    response = signed_in(manager).get(DASHBOARD)  # the default: the last 90 days
    assert response.context["compare_pending"] is False
    assert response.context["previous"]["source"] == "snapshot"
    kpi = tiles(response)
    assert kpi["open_deals"]["change"]["difference"] == 2 - 7
    assert kpi["close_ratio"]["change"]["text"] == "+42 pts"  # 2 won of 3 closed against 1 of 4
    assert kpi["avg_sales_cycle_days"]["change"]["text"] == "-15.0 days (-50%)"
    assert kpi["avg_sales_cycle_days"]["good"] is True  # shorter is better


def test_the_leaderboard_ranks_reps_by_attainment_this_month(
    signed_in, manager, rep, rep2, pipeline, stages
):
    month = Period.named("month", timezone.localdate())
    quota_set(
        owner=rep, period_start=month.start, period_end=month.last_day, target=Decimal("4000")
    )
    quota_set(
        owner=rep2, period_start=month.start, period_end=month.last_day, target=Decimal("1000")
    )
    for owner, amount in ((rep, "1000"), (rep, "1000"), (rep2, "800")):
        deal = DealFactory(owner=owner, pipeline=pipeline, amount=Decimal(amount))
        deal_move(deal=deal, to_stage=stages["Won"], by=owner, expected_version=deal.version)
    DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("9000"))  # open: does not count

    board = LeaderboardRunner(Scope(team=manager.pk), timezone.localdate()).run()
    assert [(row["rank"], row["name"], row["won"], row["target"]) for row in board["rows"]] == [
        (1, "Robin Rep", Decimal("800.00"), Decimal("1000.00")),
        (2, "Riley Rep", Decimal("2000.00"), Decimal("4000.00")),
    ]
    assert [row["attainment"] for row in board["rows"]] == [pytest.approx(0.8), pytest.approx(0.5)]
    page = signed_in(manager).get(DASHBOARD).content.decode()
    assert re.search(r"Robin Rep.*?80%.*?Riley Rep.*?50%", page, re.S)


def test_the_leaderboard_is_one_query_whatever_the_number_of_reps(
    manager, pipeline, stages, django_assert_num_queries
):
    scope, today = Scope(team=manager.pk), timezone.localdate()
    grow(manager=manager, pipeline=pipeline, stages=stages, reps=2, deals=6)
    with django_assert_num_queries(1):
        small = LeaderboardRunner(scope, today).run()
    grow(manager=manager, pipeline=pipeline, stages=stages, reps=7, deals=40, first=2)
    with django_assert_num_queries(1):
        large = LeaderboardRunner(scope, today).run()
    assert (small["total"], large["total"]) == (2, 9)


def test_stalled_and_overdue_lists_hold_the_ten_biggest_and_link_to_each_deal(
    signed_in, manager, rep, pipeline, stages
):
    today = timezone.localdate()
    old = timezone.now() - datetime.timedelta(days=30)  # Qualification allows 14 days
    for n in range(12):
        deal = DealFactory(
            owner=rep,
            pipeline=pipeline,
            amount=Decimal(1000 + n),
            expected_close_date=today - datetime.timedelta(days=2),
        )
        type(deal).objects.filter(pk=deal.pk).update(stage_entered_at=old)
    fresh = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("99999"))

    response = signed_in(manager).get(DASHBOARD)
    stalled, overdue = response.context["stalled"], response.context["overdue"]
    for found in (stalled, overdue):
        assert found["total"] == 12
        assert [deal.amount for deal in found["rows"]] == [Decimal(1011 - n) for n in range(10)]
    assert stalled["rows"][0].days_in_stage == 30
    page = response.content.decode()
    assert reverse("deal-detail", args=[stalled["rows"][0].pk]) in page
    assert reverse("deal-detail", args=[fresh.pk]) not in page
    assert "The 10 biggest of 12." in page


def test_every_chart_has_a_heading_and_a_text_alternative(signed_in, manager, history):
    matured([f"team={manager.pk}"])
    page = signed_in(manager).get(DASHBOARD).content.decode()
    charts = re.findall(
        r'<div class="chart" id="([\w-]+)" role="img" aria-label="([^"]+)" data-figure="([\w-]+)"'
        r' style="height: \d+px">',
        page,
    )
    assert {chart_id for chart_id, _, _ in charts} >= {
        "chart-forecast",
        "chart-won-by-month",
        "chart-accuracy",
        "chart-mape",
    }
    assert any(chart_id.startswith("chart-funnel-") for chart_id, _, _ in charts)
    for chart_id, label, data_id in charts:
        assert len(label) > 40, chart_id
        assert f'<script id="{data_id}" type="application/json">' in page
    for heading in (
        "Key figures",
        "Funnel",
        "Forecast against quota",
        "Won value by month",
        "Forecast accuracy",
        "Stalled deals",
        "Overdue deals",
    ):
        assert re.search(rf"<h2[^>]*>{heading}", page), heading


def test_the_dashboard_says_when_its_figures_were_computed(signed_in, manager, history, eager):
    client = signed_in(manager)
    assert "Figures computed live" in client.get(DASHBOARD).content.decode()
    snapshot_scope.apply(args=[f"team={manager.pk}"]).get()
    response = client.get(DASHBOARD)
    assert response.context["funnel"]["source"] == "snapshot"
    assert "Figures from snapshots computed at" in response.content.decode()


STATUS = "/dashboard/status/"
REQUEST_PATH_COMPUTES = (
    "reports.runners.funnel.funnel",
    "reports.runners.funnel.metric_snapshot_compute",
    "reports.runners.funnel.deal_totals",
    "reports.runners.forecast.forecast_snapshots_compute",
)


@pytest.fixture
def stale_team(manager, rep, history, settings, django_capture_on_commit_callbacks):
    """The team's snapshots (open value 2,300), then deal E re-valued 300 -> 800: the team is stale."""
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    settings.REPORTS_EMBEDDED_RECOMPUTE = False
    key = f"team={manager.pk}"
    snapshots_compute(scopes=[Scope.from_key(key)])
    e = Deal.objects.get(pk=history.deals["E"])
    with django_capture_on_commit_callbacks(execute=True):
        deal_update(deal=e, by=rep, expected_version=e.version, amount=Decimal("800.00"))
    return MetricSnapshot.objects.get(scope_key=key)


def test_a_stale_dashboard_answers_from_its_old_snapshot_without_computing(
    signed_in, manager, stale_team, monkeypatch
):
    for target in REQUEST_PATH_COMPUTES:
        monkeypatch.setattr(target, _computed_on_the_request_path)
    client = signed_in(manager)
    client.get(DASHBOARD)  # the picker remembers its choice on the first visit
    with CaptureQueriesContext(connection) as stale_queries:
        response = client.get(DASHBOARD)
    html = response.content.decode()
    snapshots_compute(scopes=[Scope(team=manager.pk)], only_if_dirty=True)
    with CaptureQueriesContext(connection) as fresh_queries:
        fresh = client.get(DASHBOARD)
    assert fresh.context["stale"] is False
    assert len(stale_queries) == len(fresh_queries) < DASHBOARD_SNAPSHOT["manager"]

    assert response.context["stale"] is True
    assert response.context["funnel"]["computed_at"] == stale_team.computed_at
    assert tiles(response)["open_value"]["display"] == "2,300"
    computed_at = timezone.localtime(stale_team.computed_at)
    assert f"Figures from snapshots computed at {computed_at:%-d %b %Y, %H:%M}" in html
    assert "newer figures are on their way" in html
    assert f'hx-get="{STATUS}?' in html


def _computed_on_the_request_path(*args, **kwargs):
    raise AssertionError("computed on the request path")


# Queries of a dashboard read whose figures and lists all come from what the recompute wrote: the
# session, the user, the picker's three lists, the funnel and the forecast snapshots and their stale
# marks, the previous period's snapshot, the accuracy rows and summary, the leaderboard's one query.
DASHBOARD_FROM_RECOMPUTE = 13


def _won_this_month(response) -> Decimal:
    month = Period.named("month", timezone.localdate()).start
    return next(
        point["won_value"] for point in response.context["series"] if point["bucket"] == month
    )


def test_the_dashboard_lists_come_with_the_snapshot_not_from_the_deals(
    signed_in,
    manager,
    rep,
    stale_team,
    monkeypatch,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    """Won by month, stalled and overdue deals are stored by the recompute beside the figures:
    a read never scans deals for them, a stale scope shows them as old as its figures, and they
    change when the recompute lands."""
    client = signed_in(manager)
    client.get(DASHBOARD)  # the picker remembers its choice on the first visit
    c = Deal.objects.get(name="C")
    with django_capture_on_commit_callbacks(execute=True):
        deal_move(
            deal=c, to_stage=c.pipeline.stages.get(name="Won"), by=rep, expected_version=c.version
        )

    with monkeypatch.context() as patched:
        patched.setattr(
            "reports.runners.dashboard_lists.DashboardListsRunner.compute",
            _computed_on_the_request_path,
        )
        with django_assert_num_queries(DASHBOARD_FROM_RECOMPUTE):
            stale = client.get(DASHBOARD)
    assert stale.context["stale"] is True
    before = _won_this_month(stale)

    snapshots_compute(scopes=[Scope(team=manager.pk)], only_if_dirty=True)
    with monkeypatch.context() as patched:
        patched.setattr(
            "reports.runners.dashboard_lists.DashboardListsRunner.compute",
            _computed_on_the_request_path,
        )
        with django_assert_num_queries(DASHBOARD_FROM_RECOMPUTE):
            fresh = client.get(DASHBOARD)
    assert fresh.context["stale"] is False
    assert _won_this_month(fresh) == before + Decimal("2000.00")


def test_dashboard_lists_of_live_figures_are_read_live_and_never_kept(manager, history):
    """Without a snapshot there is nothing to pair the lists with: they are read from the deals each time."""
    period, today = Period.default(), timezone.localdate()
    runner = DashboardListsRunner(Scope(team=manager.pk), period, today)
    assert runner.cache_key is None
    assert (
        runner.run()["series"]
        == DashboardListsRunner(Scope(team=manager.pk), period, today).compute()["series"]
    )


def test_the_stale_status_keeps_polling_until_the_recompute_lands_then_reloads_the_figures(
    signed_in, manager, stale_team, django_assert_max_num_queries
):
    client = signed_in(manager)
    # A fixed handful of queries whatever the data: the session, the user, the pick and the stale mark.
    with django_assert_max_num_queries(6):
        pending = client.get(STATUS, headers=HTMX)
    assert 'data-stale="true"' in pending.content.decode()
    assert 'hx-trigger="every 2s"' in pending.content.decode()
    assert "HX-Trigger" not in pending

    snapshots_compute(scopes=[Scope(team=manager.pk)], only_if_dirty=True)
    landed = client.get(STATUS, headers=HTMX)
    assert 'data-stale="false"' in landed.content.decode()
    assert landed["HX-Trigger"] == views.REFRESHED_EVENT
    figures = client.get(DASHBOARD, {"fragment": "figures"}, headers=HTMX)
    assert figures.context["stale"] is False
    assert tiles(figures)["open_value"]["display"] == "2,800"


def test_a_rep_has_no_dashboard_status(signed_in, rep, history):
    assert signed_in(rep).get(STATUS).status_code == 404


# The rep's home.


def test_a_reps_panels_show_their_pipeline_quota_attention_and_activity(
    signed_in, rep, rep2, pipeline, stages
):
    today = timezone.localdate()
    month = Period.named("month", today)
    quota_set(
        owner=rep, period_start=month.start, period_end=month.last_day, target=Decimal("2000")
    )
    won = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("500"), name="Won one")
    deal_move(deal=won, to_stage=stages["Won"], by=rep, expected_version=won.version)
    overdue = DealFactory(
        owner=rep,
        pipeline=pipeline,
        amount=Decimal("300"),
        name="Late one",
        expected_close_date=today - datetime.timedelta(days=1),
    )
    activity_log(by=rep, kind="call", subject="Pricing call", deal=overdue)
    busy = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("700"), name="Busy one")
    activity_log(by=rep, kind="note", subject="Kick-off notes", deal=busy)
    quiet = DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("200"), name="Quiet one")
    type(quiet).objects.filter(pk=quiet.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=20)
    )
    DealFactory(owner=rep2, pipeline=pipeline, amount=Decimal("4444"), name="Not mine")

    response = signed_in(rep).get(PANELS, headers=HTMX)
    context = response.context
    assert [(row["stage__name"], row["deals"], row["value"]) for row in context["stages"]] == [
        ("Qualification", 3, Decimal("1200.00"))
    ]
    assert context["attainment"]["month"]["won"] == Decimal("500.00")
    assert context["attainment"]["month"]["target"] == Decimal("2000.00")
    assert context["attainment"]["month"]["attainment"] == pytest.approx(0.25)
    attention = {deal.name: deal for deal in context["attention"]["rows"]}
    # Quiet one has no activity at all and nothing planned; Busy one was touched just now.
    assert set(attention) == {"Late one", "Quiet one"}
    assert attention["Late one"].is_overdue and not attention["Late one"].is_quiet
    assert attention["Quiet one"].is_quiet
    assert [activity.subject for activity in context["recent"]] == [
        "Kick-off notes",
        "Pricing call",
    ]
    page = response.content.decode()
    assert 'class="chart" id="chart-my-pipeline" role="img"' in page
    assert "4,444" not in page and "Not mine" not in page


def test_the_home_page_loads_the_panels_with_htmx(signed_in, rep):
    page = signed_in(rep).get(HOME).content.decode()
    assert f'hx-get="{PANELS}"' in page
    assert 'hx-trigger="load"' in page


# Refresh.


def test_refresh_queues_the_scope_like_the_api_and_reloads_the_figures(
    signed_in, manager, history, eager
):
    client = signed_in(manager)
    response = client.post(REFRESH, headers=HTMX)
    assert response.status_code == 200
    assert MetricSnapshot.objects.filter(scope_key=f"team={manager.pk}").exists()
    assert ForecastSnapshot.objects.filter(scope_key=f"team={manager.pk}").count() == 3
    # Eager: the recompute is over by the time the answer is rendered, so it says so and asks for the figures.
    assert 'data-refresh-state="SUCCESS"' in response.content.decode()
    assert response["HX-Trigger"] == "figures-refreshed"
    assert client.get(DASHBOARD).context["funnel"]["source"] == "snapshot"


def test_the_status_view_answers_success_for_its_owner_only(
    signed_in, client, manager, admin, history, eager
):
    task_id = refresh_queue(user=manager, scope=Scope(team=manager.pk))
    status_url = reverse("dashboard-refresh-status", args=[task_id])
    response = signed_in(manager).get(status_url, headers=HTMX)
    assert response.status_code == 200
    assert 'data-refresh-state="SUCCESS"' in response.content.decode()
    assert response["HX-Trigger"] == "figures-refreshed"
    assert signed_in(admin).get(status_url).status_code == 404
    assert (
        signed_in(manager)
        .get(reverse("dashboard-refresh-status", args=["no-such-task"]))
        .status_code
        == 404
    )


def test_a_pending_refresh_keeps_polling_every_second(signed_in, manager, history, monkeypatch):
    monkeypatch.setattr(
        views,
        "refresh_state",
        lambda **kw: RefreshState(task_id=kw["task_id"], state="PENDING", ready=False),
    )
    response = signed_in(manager).get(
        reverse("dashboard-refresh-status", args=["abc"]), headers=HTMX
    )
    page = response.content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert 'hx-get="/dashboard/refresh/abc/"' in page
    assert "HX-Trigger" not in response


def test_a_refresh_not_done_within_the_poll_time_out_stops_polling_and_says_so(
    signed_in, manager, history, settings
):
    """A refresh whose worker died stays PENDING: the page gives up polling with a clear message."""
    settings.REFRESH_POLL_TIMEOUT_SECONDS = 120
    task_id = str(uuid.uuid4())  # as refresh_queue makes them
    cache.set(f"reports:refresh-owner:{task_id}", (manager.pk, time.time() - 60), 3600)
    url = reverse("dashboard-refresh-status", args=[task_id])
    polling = signed_in(manager).get(url, headers=HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in polling
    cache.set(f"reports:refresh-owner:{task_id}", (manager.pk, time.time() - 121), 3600)
    late = signed_in(manager).get(url, headers=HTMX).content.decode()
    assert 'data-refresh-state="TIMED_OUT"' in late and "hx-trigger" not in late
    assert "has not finished after 2 minutes" in late
    api = signed_in(manager).get(f"/api/v1/metrics/refresh/{task_id}/")
    assert api.json() == {"task_id": task_id, "state": "PENDING", "ready": False, "timed_out": True}


def test_refresh_without_htmx_redirects_back_to_the_dashboard(signed_in, manager, history, eager):
    response = signed_in(manager).post(f"{REFRESH}?scope=team&scope_id={manager.pk}&period=30d")
    assert response.status_code == 302
    assert response["Location"].startswith(DASHBOARD)
    assert "period=30d" in response["Location"]


def test_the_figures_fragment_reloads_alone(signed_in, manager, history):
    response = signed_in(manager).get(DASHBOARD, {"fragment": "figures"}, headers=HTMX)
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="dashboard-figures"')
    assert "<html" not in page
    assert 'hx-trigger="figures-refreshed from:body"' in page


# Fixed query counts.


def first_request_queries(client, user, path, django_assert_num_queries, expected, **kwargs):
    """Queries of a signed-in user's first request to a page (the picker then saves its choice)."""
    client.logout()
    client.force_login(user)
    cache.clear()
    with django_assert_num_queries(expected):
        response = client.get(path, **kwargs)
    assert response.status_code == 200


# (user, path, extra request arguments, queries) measured on the small data set; the large one must match.
PAGES = [
    ("rep", HOME, {}, 4),
    ("rep", PANELS, {"headers": HTMX}, 7),
    ("manager", HOME, {}, 4),
    ("admin", HOME, {}, 3),
    ("manager", DASHBOARD, {"data": {"fragment": "kpis"}, "headers": HTMX}, 9),
    # On PostgreSQL the live series asks whether the daily rollups may answer it.
    ("manager", DASHBOARD, {"data": {"fragment": "figures"}, "headers": HTMX}, 45 + rollup_check()),
    ("manager", PANELS, {"headers": HTMX}, 6),
    ("admin", PANELS, {"headers": HTMX}, 6),
]
# The dashboard computed live (no snapshot yet) and read from snapshots. Each includes the
# session, the user, the picker's three lists of choices and the picker saving its choice; on
# PostgreSQL the lists' series also asks whether the daily rollups may answer it.
DASHBOARD_LIVE = {"manager": 48 + rollup_check(), "admin": 45 + rollup_check()}
DASHBOARD_SNAPSHOT = {"manager": 21 + rollup_check(), "admin": 21 + rollup_check()}


def test_query_counts_do_not_grow_with_deals_or_reps(
    client, admin, manager, pipeline, stages, django_assert_num_queries, eager
):
    people = {"manager": manager, "admin": admin}
    first = grow(manager=manager, pipeline=pipeline, stages=stages, reps=2, deals=8)
    people["rep"] = first[0]
    matured(["org", f"team={manager.pk}"])

    def forget_stored_reads():
        """A read without a snapshot stores what it computed: forget it, so each page computes as the first would."""
        MetricSnapshot.objects.all().delete()
        ForecastSnapshot.objects.filter(actual__isnull=True).delete()

    def check_all():
        for who, path, kwargs, expected in PAGES:
            forget_stored_reads()
            first_request_queries(
                client, people[who], path, django_assert_num_queries, expected, **kwargs
            )
        for who, expected in DASHBOARD_LIVE.items():
            forget_stored_reads()
            first_request_queries(
                client, people[who], DASHBOARD, django_assert_num_queries, expected
            )

    check_all()
    grow(manager=manager, pipeline=pipeline, stages=stages, reps=6, deals=60, first=2)
    check_all()

    for key in ("org", f"team={manager.pk}"):
        snapshot_scope.apply(args=[key]).get()
    for who, expected in DASHBOARD_SNAPSHOT.items():
        first_request_queries(client, people[who], DASHBOARD, django_assert_num_queries, expected)
