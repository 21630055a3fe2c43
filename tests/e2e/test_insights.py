"""The insights page in a real browser: a manager picks a rep and sees the focus and every chart drawn;
a rep sees their own, without a rep to pick."""

import pytest

from tests.coaching.conftest import LOST_IN_DISCOVERY, build, won_at
from tests.e2e.conftest import draw_charts
from tests.factories import PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def team(transactional_db):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    weak = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    strong = UserFactory(username="robin", manager=manager, full_name="Robin Rep")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    build(
        admin,
        stages,
        pipeline,
        [
            (weak, 16, "500", 0, LOST_IN_DISCOVERY, None),
            (weak, 4, "1000", 0, won_at(10), None),
            (strong, 10, "500", 0, LOST_IN_DISCOVERY, None),
            (strong, 30, "2000", 0, won_at(20), None),
        ],
    )
    return {"manager": manager, "weak": weak, "strong": strong}


def test_a_manager_picks_a_rep_and_sees_the_focus_and_every_chart(page, login, team):
    login(team["manager"])
    page.goto("/insights/")
    page.get_by_label("Rep", exact=True).select_option(label="Riley Rep")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**rep={team['weak'].pk}**")
    assert page.get_by_test_id("focus-stage").inner_text() == "Discovery"
    assert (
        "advanced 4 of the 20 deals that entered Discovery"
        in page.get_by_test_id("focus-evidence").inner_text()
    )
    assert page.locator(".chart").count() == 8
    draw_charts(page)
    assert page.locator("[data-win]").count() == 10


def test_a_rep_sees_their_own_insights_without_a_rep_picker(page, login, team):
    login(team["strong"])
    page.goto("/insights/")
    assert "Robin Rep against Team of Morgan Manager" in page.locator("h1").inner_text()
    assert page.get_by_label("Rep", exact=True).count() == 0
    assert page.get_by_test_id("focus-none").is_visible()
    assert page.locator("[data-win]").count() == 10
