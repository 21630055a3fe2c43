"""A rep opens their commission statement from the nav, then asks what closing an open deal would pay."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from reports.compensation.services import plan_create, statement_compute
from tests.factories import DealFactory, PipelineFactory, UserFactory
from tests.reports.comp_helpers import month_quota, won


def test_a_rep_opens_their_statement_and_its_what_if(transactional_db, page, login):
    admin = UserFactory(username="ada", role="admin")
    manager = UserFactory(username="morgan", role="manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    plan_create(
        by=admin, rep=rep, name="Flat 10%", effective_from=last_month, flat_rate=Decimal("10")
    )
    month_quota(rep, last_month, "10000")
    won(
        rep,
        pipeline,
        stages,
        "4000",
        last_month + datetime.timedelta(days=4),
        name="Globex renewal",
    )
    statement_compute(rep=rep, month=last_month, by=admin)
    DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("2500"), name="Initech expansion")

    login(rep)
    page.get_by_role("link", name="Commissions").click()
    page.wait_for_url("**/compensation/")
    page.get_by_role("link", name=last_month.strftime("%B %Y")).click()
    page.wait_for_url("**/compensation/statements/*/")
    lines = page.locator("[data-statement-lines] tbody tr")
    assert "Globex renewal" in lines.first.inner_text()
    assert "400.00" in lines.first.inner_text()  # 4,000 x 10%
    assert "400.00" in page.locator('[data-figure="total"]').first.inner_text()

    page.get_by_role("link", name="What if…").click()
    page.wait_for_url("**/compensation/what-if/")
    page.get_by_label("Initech expansion", exact=False).check()
    page.get_by_role("button", name="Show the statement").click()
    page.wait_for_url("**/compensation/what-if/?deal=*")
    result = page.locator("[data-what-if-result]")
    assert "Initech expansion" in result.inner_text()
    assert (
        "250.00" in result.locator('[data-figure="total"]').inner_text()
    )  # 2,500 x 10% this month


def _overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes share any area."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize("width", [1280, 768])
def test_the_statement_head_keeps_its_buttons_clear_of_the_version_line(
    transactional_db, page, login, screenshot, width
):
    """The page head (title, What if…, Approve, Recompute) never covers the version line."""
    admin = UserFactory(username="ada", role="admin")
    manager = UserFactory(username="morgan", role="manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Reppington-Smythe")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    this_month = timezone.localdate().replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    plan_create(
        by=admin, rep=rep, name="Flat 10%", effective_from=last_month, flat_rate=Decimal("10")
    )
    month_quota(rep, last_month, "10000")
    won(rep, pipeline, stages, "4000", last_month + datetime.timedelta(days=4), name="Globex")
    statement = statement_compute(rep=rep, month=last_month, by=admin)

    page.set_viewport_size({"width": width, "height": 900})
    login(admin)
    page.goto(f"/compensation/statements/{statement.pk}/")
    version_line = page.locator("p.lead", has_text="Version 1")
    heading = page.get_by_role("heading", level=1)
    actions = [
        page.get_by_role("link", name="What if…"),
        page.get_by_role("button", name="Approve"),
        page.get_by_role("button", name="Recompute"),
    ]
    line_box, heading_box = version_line.bounding_box(), heading.bounding_box()
    for action in actions:
        box = action.bounding_box()
        assert not _overlap(box, line_box), (width, action, box, line_box)
        assert not _overlap(box, heading_box), (width, action, box, heading_box)
        assert box["x"] + box["width"] <= width  # inside the screen
    # The buttons sit above the version line, which reads on in full below them.
    assert max(a.bounding_box()["y"] + a.bounding_box()["height"] for a in actions) <= line_box["y"]
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    # The lines read as a table: padded cells, amounts aligned right, the table framed.
    cell = page.locator("[data-statement-lines] td.num").last
    assert cell.evaluate("td => getComputedStyle(td).textAlign") == "right"
    assert cell.evaluate("td => parseFloat(getComputedStyle(td).paddingLeft)") >= 6
    frame = page.locator(".table-wrap").first
    assert frame.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    screenshot(f"statement-{width}")
