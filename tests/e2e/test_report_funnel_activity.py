"""The funnel activity report in a real browser: opened from the Reports menu, narrowed to one rep."""

import pytest

from pipeline.services import deal_move
from pipeline.services.activities import activity_log
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def team(transactional_db):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    pipeline = PipelineFactory(name="New business")
    won = pipeline.stages.get(name="Won")
    reps = []
    for n in (1, 2):
        rep = UserFactory(username=f"rep{n}", manager=manager, full_name=f"Rep Number{n}")
        deal = DealFactory(owner=rep, pipeline=pipeline, name=f"Deal {n}")
        for kind in ("call", "email", "meeting")[: n + 1]:
            activity_log(by=rep, kind=kind, subject=f"{kind} {n}", deal=deal)
        deal_move(deal=deal, to_stage=won, by=rep, expected_version=deal.version)
        reps.append(rep)
    return manager, reps


def test_a_manager_opens_the_report_and_narrows_it_to_one_rep(page, login, team):
    manager, reps = team
    login(manager)
    page.get_by_role("link", name="Reports", exact=True).click()
    page.wait_for_url("**/reports/")
    page.get_by_role("link", name="Funnel activity").click()
    page.wait_for_url("**/reports/funnel-activity/")  # a count does not wait for the page
    table = page.get_by_test_id("report-table")
    assert table.get_by_role("rowheader", name="Rep Number1").count() == 1
    assert table.get_by_role("rowheader", name="Rep Number2").count() == 1
    assert page.locator("#funnel-activity-chart").count() == 1

    page.get_by_label("Show").select_option("rep")
    page.get_by_label("Which").select_option(label="Rep Number2")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**scope_id={reps[1].pk}**")
    table = page.get_by_test_id("report-table")
    assert table.get_by_role("rowheader", name="Rep Number1").count() == 0
    row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Rep Number2"))
    # Rep 2: a call, an e-mail and a meeting, one win: 3 activities per win.
    assert row.locator("td").last.inner_text() == "3.0"
