"""The quota planner and the gap page in a real browser: a cell edit saves in place and the totals follow."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from quotas.models import Quota
from quotas.services import quota_set
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def cast(transactional_db):
    boss = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    reps = [
        UserFactory(username=f"rep{n}", manager=manager, full_name=f"Rep Number{n}") for n in (1, 2)
    ]
    year = timezone.localdate().year
    quota_set(
        owner=reps[1],
        period_start=datetime.date(year, 1, 1),
        period_end=datetime.date(year, 1, 31),
        target=Decimal("500"),
    )
    pipeline = PipelineFactory(name="New business")
    DealFactory(owner=reps[0], pipeline=pipeline, amount=Decimal("2500.00"))
    return {"admin": boss, "manager": manager, "reps": reps, "year": year}


def test_an_admin_fills_the_planner_and_the_totals_follow(page, login, cast):
    rep = cast["reps"][0]
    login(cast["admin"])
    page.goto(f"/quotas/planner/?year={cast['year']}")
    cell = page.get_by_label(f"Rep Number1, Jan {cast['year']}")
    cell.fill("1200")
    cell.press("Tab")
    january = page.locator(f"#column-total-{cast['year']}-01-01")
    january.filter(has_text="1,700.00").wait_for()
    page.locator(f"#row-total-{rep.pk}").filter(has_text="1,200.00").wait_for()
    page.locator("#grand-total").filter(has_text="1,700.00").wait_for()
    assert Quota.objects.get(owner=rep).target == Decimal("1200.00")

    refused = page.get_by_label(f"Rep Number1, Feb {cast['year']}")
    refused.fill("-3")
    refused.press("Tab")
    page.get_by_role("alert").filter(has_text="A quota target cannot be negative.").wait_for()
    assert Quota.objects.filter(owner=rep).count() == 1


def test_a_manager_opens_the_gap_page_and_a_reps_own(page, login, cast):
    login(cast["manager"])
    page.get_by_role("link", name="Gap", exact=True).click()
    page.wait_for_url("**/gap/**")
    page.get_by_role("heading", name="Gap to target").wait_for()
    page.locator("#chart-gap").scroll_into_view_if_needed()  # charts draw as they come into view
    page.locator("#chart-gap .main-svg").first.wait_for()
    page.get_by_role("link", name="Rep Number1").click()
    page.wait_for_url(f"**scope_id={cast['reps'][0].pk}**")
    page.locator('[data-figure="won"]').wait_for()
    assert page.get_by_test_id("gap-reps").count() == 0


def test_the_planner_says_each_managers_basis_and_follows_an_edit(page, login, cast):
    manager = cast["manager"]
    login(cast["admin"])
    page.goto(f"/quotas/planner/?year={cast['year']}")
    basis = page.get_by_test_id(f"basis-{manager.pk}")
    assert "the roll-up of the team's quotas (no own quota this year)" in basis.inner_text()
    select = page.get_by_label("Team target basis of Morgan Manager")
    assert select.evaluate("element => element.selectedOptions[0].textContent") == "No choice made"

    cell = page.get_by_label(f"Morgan Manager, Mar {cast['year']}")
    cell.fill("900")
    cell.press("Tab")
    basis.filter(has_text="their own quota in Mar").wait_for()
    march = page.locator(f"#team-{manager.pk}-{cast['year']}-03-01")
    march.filter(has_text="900.00").wait_for()
    assert march.get_attribute("data-basis") == "own"


def test_at_768_pixels_the_grid_scrolls_in_its_box_with_the_names_in_view(page, login, cast):
    page.set_viewport_size({"width": 768, "height": 900})
    login(cast["admin"])
    page.goto(f"/quotas/planner/?year={cast['year']}")
    grid = page.locator(".planner")
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    assert grid.evaluate("box => box.scrollWidth > box.clientWidth")
    name = page.locator(".planner__grid tbody th").first
    before = name.bounding_box()["x"]
    grid.evaluate("box => { box.scrollLeft = 600; }")
    assert grid.evaluate("box => box.scrollLeft") > 0
    assert name.bounding_box()["x"] == before
