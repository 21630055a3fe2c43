"""The manager dashboard in a real browser: every chart draws, a refresh reloads the figures, stale figures refresh themselves."""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.models import Deal
from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.services import deal_move, deal_update
from quotas.services import quota_set
from reports.models import DirtyScope, ForecastSnapshot
from reports.services import snapshots_compute
from tests.e2e.conftest import draw_charts
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def team(transactional_db):
    """A manager with two reps, a month of quota, won, lost, open, stalled and overdue deals, and
    matured forecasts, so that every section of the dashboard has something to draw."""
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    reps = [
        UserFactory(username=f"rep{n}", manager=manager, full_name=f"Rep Number{n}") for n in (1, 2)
    ]
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    today = timezone.localdate()
    month = Period.named("month", today)
    for n, rep in enumerate(reps):
        quota_set(
            owner=rep,
            period_start=month.start,
            period_end=month.last_day,
            target=Decimal(5000 + 1000 * n),
        )
        won = DealFactory(
            owner=rep, pipeline=pipeline, amount=Decimal(2000 + 500 * n), name=f"Won {n}"
        )
        deal_move(deal=won, to_stage=stages["Won"], by=rep, expected_version=won.version)
        moved = DealFactory(
            owner=rep, pipeline=pipeline, amount=Decimal(3000), name=f"Proposal {n}"
        )
        deal_move(deal=moved, to_stage=stages["Proposal"], by=rep, expected_version=moved.version)
        late = DealFactory(
            owner=rep,
            pipeline=pipeline,
            amount=Decimal(1500),
            name=f"Late {n}",
            expected_close_date=today - datetime.timedelta(days=4),
        )
        type(late).objects.filter(pk=late.pk).update(
            stage_entered_at=timezone.now() - datetime.timedelta(days=40)
        )
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            amount=Decimal(800),
            name=f"Open {n}",
            forecast_category="commit",
            expected_close_date=today + datetime.timedelta(days=10),
        )
    for offset in (60, 75, 90, 105):
        for horizon in (30, 60):
            ForecastSnapshot.objects.create(
                scope_key=f"team={manager.pk}",
                scope_kind="team",
                horizon=horizon,
                as_of=today - datetime.timedelta(days=offset),
                computed_at=timezone.now(),
                actual=Decimal(3000 + 10 * offset),
                pipeline=Decimal(5200),
                best_case=Decimal(4100),
                commit=Decimal(2900),
                weighted=Decimal(2500),
                model=Decimal(3300),
                model_p10=Decimal(2000),
                model_p90=Decimal(4700),
                overdue_value=Decimal(0),
                won_in_window=Decimal(0),
            )
    return manager


def test_a_manager_sees_every_chart_of_the_dashboard_drawn(team, login, screenshot):
    page = login(team)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.wait_for_url("**/dashboard/")
    assert page.locator("h1").inner_text().startswith("Dashboard")

    charts = page.locator(".chart")
    ids = charts.evaluate_all("nodes => nodes.map(n => n.id)")
    assert any(i.startswith("chart-funnel-") for i in ids)
    assert {
        "chart-forecast",
        "chart-won-by-month",
        "chart-accuracy",
        "chart-mape",
        "chart-calibration",
    } <= set(ids)
    draw_charts(page)
    for index in range(charts.count()):
        chart = charts.nth(index)
        assert chart.locator("svg.main-svg").count() >= 1, ids[index]
        assert chart.get_attribute("role") == "img"
        assert len(chart.get_attribute("aria-label")) > 40

    # The changes against the previous period arrive in a second request.
    page.wait_for_selector("#dashboard-kpis:not([aria-busy])")
    assert "comparing" not in page.locator("#dashboard-kpis").inner_text()
    assert "Rep Number2" in page.locator(".leaderboard").inner_text()
    assert (
        page.locator("a[href^='/deals/']").count() >= 2
    )  # stalled and overdue deals link to their pages
    screenshot("dashboard")


def test_the_dashboard_scripts_arrive_gzipped_and_cached_and_axes_read_k_not_m(team, login):
    page = login(team)
    scripts = []
    page.on("response", lambda r: scripts.append(r) if r.url.endswith(".js") else None)
    page.goto("/dashboard/")
    draw_charts(page)
    assert any("/static/vendor/plotly/plotly-finance.min." in r.url for r in scripts)
    for response in scripts:
        headers = response.all_headers()
        assert headers.get("content-encoding") in {"gzip", "br"}, response.url
        max_age = int(re.search(r"max-age=(\d+)", headers["cache-control"]).group(1))
        assert max_age >= 365 * 24 * 3600, response.url
    ticks = page.locator("#chart-won-by-month .ytick text").all_text_contents()
    assert ticks and not any(tick.endswith("m") for tick in ticks)


def test_refresh_polls_until_done_and_redraws_the_figures(team, login, monkeypatch):
    # The page is under test here, not the broker: the refresh task runs in the server's
    # process (tests/reports/test_worker.py covers a real worker over Redis).
    from salesmgr.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    page = login(team)
    page.goto("/dashboard/")
    draw_charts(page, "#chart-forecast")
    assert "computed live" in page.locator(".computed").inner_text()

    page.get_by_role("button", name="Refresh figures").click()
    page.wait_for_selector("[data-refresh-state='SUCCESS']")
    page.wait_for_function(
        "() => document.querySelector('.computed').innerText.includes('snapshots')"
    )
    draw_charts(page)


def test_a_stale_dashboard_answers_at_once_and_refreshes_itself_when_the_recompute_lands(
    team, login, settings, monkeypatch
):
    settings.REPORTS_RECOMPUTE_ON_CHANGE = False
    scope = Scope(team=team.pk)
    snapshots_compute(scopes=[scope])
    opened = Deal.objects.get(name="Open 0")
    deal_update(deal=opened, by=opened.owner, expected_version=opened.version, amount=Decimal(1800))
    assert DirtyScope.objects.filter(scope_key=scope.key).exists()

    # The page may not compute: it answers from the old snapshot and says a newer one is coming.
    def computed_on_the_request_path(*args, **kwargs):
        raise AssertionError("computed on the request path")

    for target in (
        "reports.runners.funnel.funnel",
        "reports.runners.funnel.metric_snapshot_compute",
        "reports.runners.forecast.forecast_snapshots_compute",
    ):
        monkeypatch.setattr(target, computed_on_the_request_path)
    page = login(team)
    page.goto("/dashboard/")
    open_value = page.locator("[data-kpi='open_value'] .kpi__value")
    assert open_value.inner_text() == "10,600"
    assert page.locator("[data-stale='true']").is_visible()
    assert "newer figures are on their way" in page.locator(".computed").inner_text()

    snapshots_compute(scopes=[scope], only_if_dirty=True)
    page.wait_for_function(
        "() => document.querySelector(\"[data-kpi='open_value'] .kpi__value\").innerText === '11,600'",
        timeout=15_000,
    )
    assert page.locator("[data-stale]").count() == 0
    assert "Figures from snapshots computed at" in page.locator(".computed").inner_text()
    draw_charts(page)


def test_the_dashboard_fits_a_tablet(team, login, screenshot):
    page = login(team)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto("/dashboard/")
    draw_charts(page)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    screenshot("dashboard-768")


def test_charts_draw_as_they_near_the_viewport_and_keep_their_place_before(team, login):
    """A short window shows the headline figures at once: Plotly is fetched only when a chart
    comes near, a chart far below is not drawn until scrolled to, and drawing one moves nothing."""
    page = login(team)
    page.set_viewport_size({"width": 1280, "height": 300})
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if "/vendor/plotly/" in r.url else None)
    page.goto("/dashboard/")
    page.wait_for_selector("#dashboard-kpis:not([aria-busy])")
    page.wait_for_load_state("networkidle")
    assert fetched == []
    assert page.locator(".chart svg.main-svg").count() == 0

    won = page.locator("#chart-won-by-month")
    below = page.locator("#chart-mape")
    height = won.bounding_box()["height"]
    top_of_below = below.evaluate("n => n.getBoundingClientRect().top + window.scrollY")
    draw_charts(page, "#chart-won-by-month")
    assert len(fetched) == 1
    assert won.bounding_box()["height"] == height
    assert below.evaluate("n => n.getBoundingClientRect().top + window.scrollY") == top_of_below
    assert below.locator("svg.main-svg").count() == 0
