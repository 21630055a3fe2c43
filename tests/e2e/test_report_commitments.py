"""The commitments report in a real browser: opened from the Reports menu, narrowed to one rep, and
read against an earlier forecast call."""

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
    today = timezone.localdate()
    reps = []
    for n in (1, 2):
        rep = UserFactory(username=f"rep{n}", manager=manager, full_name=f"Rep Number{n}")
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            name=f"Committed {n}",
            amount=Decimal(1000 * n),
            expected_close_date=today.replace(day=1) + datetime.timedelta(days=20),
            forecast_category="commit",
        )
        reps.append(rep)
    return manager, reps


def test_a_manager_opens_the_report_narrows_it_and_picks_the_call(page, login, team):
    manager, reps = team
    login(manager)
    page.get_by_role("link", name="Reports", exact=True).click()
    page.wait_for_url("**/reports/")
    page.get_by_role("link", name="Current-month commitments").click()
    page.wait_for_url("**/reports/commitments/")  # a count does not wait for the page
    table = page.get_by_test_id("report-table")
    # Created today: each deal was added since the last call a week ago.
    assert table.get_by_role("cell", name="Committed 1").count() == 1
    assert table.get_by_role("cell", name="Added").count() == 2

    page.get_by_label("Show").select_option("rep")
    page.get_by_label("Which").select_option(label="Rep Number2")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**scope_id={reps[1].pk}**")
    table = page.get_by_test_id("report-table")
    assert table.get_by_role("cell", name="Committed 1").count() == 0
    assert table.get_by_role("cell", name="Committed 2").count() == 1

    page.get_by_label("Changes since the forecast call of").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url("**since=**")
    summary = page.get_by_test_id("commitments-summary")
    assert summary.get_by_role("rowheader", name="Rep Number2").count() == 1
    assert page.get_by_test_id("report-table").get_by_role("cell", name="Committed 2").count() == 1
