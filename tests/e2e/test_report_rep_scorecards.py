"""Rep scorecards in a real browser: a manager opens the report from the Reports menu, picks one rep
and a chart metric, and the table shows that rep with the team median below."""

import pytest

from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def cast(transactional_db):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    riley = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    robin = UserFactory(username="robin", manager=manager, full_name="Robin Rep")
    pipeline = PipelineFactory(name="New business")
    for owner in (riley, robin):
        DealFactory(owner=owner, pipeline=pipeline)
    return {"manager": manager, "riley": riley}


def test_a_manager_opens_the_scorecards_and_picks_one_rep(page, login, cast):
    login(cast["manager"])
    page.get_by_role("link", name="Reports", exact=True).click()
    page.get_by_role("link", name="Rep scorecards").first.click()
    table = page.get_by_test_id("report-table")
    assert "Riley Rep" in table.inner_text() and "Robin Rep" in table.inner_text()

    page.get_by_label("Show").select_option("rep")
    page.locator("#picker-which").select_option(str(cast["riley"].pk))
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**scope=rep**")
    text = page.get_by_test_id("report-table").inner_text()
    assert "Riley Rep" in text and "Robin Rep" not in text and "Team median" in text

    page.get_by_test_id("report-metric").select_option("activities")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url("**metric=activities**")
    assert page.get_by_role("heading", name="Activities by rep").is_visible()
    assert "scope=rep" in page.url
