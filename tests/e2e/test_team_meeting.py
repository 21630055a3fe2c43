"""A team meeting in a real browser: the manager runs this week's meeting, records minutes and an item for a rep; the rep sees them."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from coaching.models import ActionItem, TeamMeeting
from coaching.services import team_meeting_schedule
from tests.factories import DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


def test_a_manager_runs_this_weeks_team_meeting_and_the_rep_sees_it(
    transactional_db, login, page, screenshot
):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    UserFactory(username="robin", manager=manager, full_name="Robin Rep")
    outsider_manager = UserFactory(username="oscar", role="manager", full_name="Oscar Other")
    pipeline = PipelineFactory(name="New business")
    today = timezone.localdate()
    DealFactory(owner=rep, pipeline=pipeline, name="Acme rollout", amount=Decimal("42000"),
                expected_close_date=today + datetime.timedelta(days=10))  # fmt: skip
    when = timezone.make_aware(
        datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(9))
    )
    meeting = team_meeting_schedule(by=manager, scheduled_at=when)

    login(manager)
    page.goto("/coaching/team-meetings/")
    page.get_by_test_id("next-team-meeting").get_by_role("link").click()
    page.wait_for_url(f"**/coaching/team-meetings/{meeting.pk}/")
    agenda = page.get_by_test_id("team-agenda")
    assert "Forecast against quota" in agenda.inner_text()
    assert "No forecast snapshot" in agenda.locator("[data-agenda='forecast']").inner_text()

    items = page.locator("#team-action-items")
    items.get_by_label("Action item").fill("Send the Acme case study to the team")
    items.get_by_label("Owner").select_option(label="Riley Rep")
    items.get_by_label("Due").fill((today + datetime.timedelta(days=7)).isoformat())
    items.get_by_role("button", name="Add action item").click()
    page.get_by_test_id("team-action-items").get_by_text("Send the Acme case study").wait_for()

    page.get_by_role("textbox", name="Minutes").fill(
        "Celebrated the week; Acme rollout is the deal to watch."
    )
    page.get_by_role("button", name="Save minutes").click()
    page.get_by_text("Minutes saved.").wait_for()
    page.get_by_role("button", name="Mark held").click()
    page.get_by_text("Recorded as held.").wait_for()
    assert page.get_by_test_id("team-meeting-status").inner_text() == "Held"
    screenshot("team-meeting-manager")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(rep)
    page.goto("/coaching/team-meetings/")
    page.get_by_role("link", name=when.strftime("%a %-d %b %Y") + ", 09:00").click()
    page.wait_for_url(f"**/coaching/team-meetings/{meeting.pk}/")
    assert "Acme rollout is the deal to watch." in page.get_by_test_id("team-minutes").inner_text()
    assert page.get_by_role("textbox", name="Minutes").count() == 0
    assert page.get_by_role("button", name="Add action item").count() == 0
    page.set_viewport_size({"width": 412, "height": 900})
    page.get_by_test_id("team-action-items").get_by_role("button", name="Mark done").click()
    page.get_by_test_id("team-action-items").get_by_text("Done", exact=True).wait_for()
    assert ActionItem.objects.get().status == "done"
    screenshot("team-meeting-rep-mobile")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(outsider_manager)
    response = page.goto(f"/coaching/team-meetings/{meeting.pk}/")
    assert response.status == 404
    assert TeamMeeting.objects.get().minutes.startswith("Celebrated")
