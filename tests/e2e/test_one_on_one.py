"""A one-on-one in a real browser: the manager runs it from the agenda to action items, then the rep sees it."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from coaching.models import ActionItem, OneOnOne
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e
PRIVATE = "Seems stretched; check workload"


def test_a_manager_runs_a_one_on_one_and_the_rep_sees_it_without_the_private_note(
    transactional_db, login, page, screenshot
):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    pipeline = PipelineFactory(name="New business")
    today = timezone.localdate()
    DealFactory(owner=rep, pipeline=pipeline, name="Acme rollout", amount=Decimal("42000"),
                expected_close_date=today + datetime.timedelta(days=10))  # fmt: skip
    tomorrow = today + datetime.timedelta(days=1)

    login(manager)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("button", name="Coaching").click()
    nav.get_by_role("link", name="One-on-ones").click()
    page.wait_for_url("**/one-on-ones/")
    page.get_by_label("Rep", exact=True).select_option(label="Riley Rep")
    page.get_by_label("Cadence").select_option("weekly")
    page.get_by_label("Day", exact=True).select_option(str(tomorrow.weekday()))
    page.get_by_label("Time", exact=True).fill("10:00")
    page.get_by_label("First on or after").fill(today.isoformat())
    page.get_by_role("button", name="Schedule").click()
    page.wait_for_url("**/one-on-ones/series/*/")
    page.get_by_role("link", name=tomorrow.strftime("%a %-d %b %Y") + ", 10:00").click()
    page.wait_for_url("**/one-on-ones/*/")

    agenda = page.get_by_test_id("agenda")
    assert "Acme rollout" in agenda.locator("[data-agenda='hot']").inner_text()

    points = page.locator("#talking-points")
    points.get_by_label("Talking point").fill("Next steps on Acme")
    points.get_by_role("button", name="Add talking point").click()
    page.get_by_test_id("talking-points").get_by_text("Next steps on Acme").wait_for()

    items = page.locator("#action-items")
    items.get_by_label("Action item").fill("Send the Acme proposal")
    items.get_by_label("Owner").select_option(label="Riley Rep")
    items.get_by_label("Due").fill(today.isoformat())
    items.get_by_role("button", name="Add action item").click()
    page.get_by_test_id("action-items").get_by_text("Send the Acme proposal").wait_for()

    page.get_by_label("Shared notes").fill("Agreed to multi-thread Acme.")
    page.get_by_label("Private notes").fill(PRIVATE)
    page.get_by_role("button", name="Save notes").click()
    page.get_by_text("Notes saved.").wait_for()
    page.get_by_role("button", name="Mark held").click()
    page.get_by_text("Recorded as held.").wait_for()
    assert page.get_by_test_id("meeting-status").inner_text() == "Held"
    screenshot("one-on-one-manager")
    meeting = OneOnOne.objects.get(status="held")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(rep)
    home_items = page.get_by_test_id("home-action-items")
    assert "Send the Acme proposal" in home_items.inner_text()
    page.goto(f"/one-on-ones/{meeting.pk}/")
    body = page.locator("main").inner_text()
    assert "Agreed to multi-thread Acme." in body
    assert "Next steps on Acme" in body
    assert PRIVATE not in page.content()
    assert page.get_by_label("Private notes").count() == 0
    page.get_by_test_id("action-items").get_by_role("button", name="Mark done").click()
    page.get_by_test_id("action-items").get_by_text("Done", exact=True).wait_for()
    assert ActionItem.objects.get().status == "done"
    screenshot("one-on-one-rep")
