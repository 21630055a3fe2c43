"""The forecast report in a real browser: opened from the Reports menu, narrowed to one rep."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def team(transactional_db):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    pipeline = PipelineFactory(name="New business")
    soon = timezone.localdate() + datetime.timedelta(days=10)
    reps = []
    for n in (1, 2):
        rep = UserFactory(username=f"rep{n}", manager=manager, full_name=f"Rep Number{n}")
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            name=f"Deal {n}",
            amount=Decimal(1000 * n),
            expected_close_date=soon,
            forecast_category="commit",
        )
        reps.append(rep)
    return manager, reps


def test_a_manager_opens_the_report_and_narrows_it_to_one_rep(page, login, team):
    manager, reps = team
    login(manager)
    page.get_by_role("link", name="Reports", exact=True).click()
    page.wait_for_url("**/reports/")
    page.get_by_role("link", name="Forecast", exact=True).click()
    page.wait_for_url("**/reports/forecast/")  # a count does not wait for the page
    table = page.get_by_test_id("report-table")
    assert table.get_by_role("rowheader", name="Rep Number1").count() == 1
    assert table.locator("tfoot td").first.inner_text() == "3,000"

    page.get_by_label("Show").select_option("rep")
    page.get_by_label("Which").select_option(label="Rep Number2")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**scope_id={reps[1].pk}**")
    table = page.get_by_test_id("report-table")
    assert table.get_by_role("rowheader", name="Rep Number1").count() == 0
    row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Rep Number2"))
    assert row.locator("td").first.inner_text() == "2,000"
