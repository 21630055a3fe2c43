"""Team health in a real browser: an admin opens it from the Reports menu, sees every team, then picks
one manager's team and sees it with the team below it only."""

import pytest

from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def cast(transactional_db):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    morgan = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    sam = UserFactory(username="sam", role="manager", manager=morgan, full_name="Sam Sub")
    oscar = UserFactory(username="oscar", role="manager", full_name="Oscar Other")
    pipeline = PipelineFactory(name="New business")
    for manager, name in ((morgan, "riley"), (sam, "sid"), (oscar, "olive")):
        DealFactory(owner=UserFactory(username=name, manager=manager), pipeline=pipeline)
    return {"admin": admin, "morgan": morgan}


def test_an_admin_compares_every_team_then_one_managers(page, login, cast):
    login(cast["admin"])
    page.get_by_role("link", name="Reports", exact=True).click()
    page.get_by_role("link", name="Team health").first.click()
    text = page.get_by_test_id("report-table").inner_text()
    for team in ("Team of Morgan Manager", "Team of Sam Sub", "Team of Oscar Other"):
        assert team in text

    page.get_by_label("Show").select_option("team")
    page.locator("#picker-which").select_option(str(cast["morgan"].pk))
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**scope_id={cast['morgan'].pk}**")
    text = page.get_by_test_id("report-table").inner_text()
    assert "Team of Morgan Manager" in text and "Team of Sam Sub" in text
    assert "Team of Oscar Other" not in text
