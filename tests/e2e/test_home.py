"""A rep's home in a real browser: the pipeline chart and the deals that need attention."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.e2e.conftest import draw_charts
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


def test_a_rep_sees_their_pipeline_chart_and_attention_list(transactional_db, login, screenshot):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    pipeline = PipelineFactory(name="New business")
    today = timezone.localdate()
    DealFactory(owner=rep, pipeline=pipeline, name="Fresh deal", amount=Decimal("1200"))
    DealFactory(
        owner=rep,
        pipeline=pipeline,
        name="Late deal",
        amount=Decimal("900"),
        expected_close_date=today - datetime.timedelta(days=3),
    )

    page = login(rep)
    assert "Riley Rep" in page.locator("h1").inner_text()
    chart = page.locator("#chart-my-pipeline")
    draw_charts(page, "#chart-my-pipeline")
    assert chart.get_attribute("role") == "img"
    assert "Qualification" in chart.get_attribute("aria-label")

    attention = page.locator("section[aria-labelledby='attention-heading']")
    assert "Late deal" in attention.inner_text()
    assert "Overdue since" in attention.inner_text()
    assert "Fresh deal" not in attention.inner_text()
    attention.get_by_role("link", name="Late deal").click()
    page.wait_for_url("**/deals/*/")
    page.go_back()
    draw_charts(page, "#chart-my-pipeline")
    screenshot("home-rep")
