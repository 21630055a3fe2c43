"""A coaching session in a real browser: a manager starts one from the stage the insights flag, fills in
Goal, Reality, Options and Will, adds a commitment; the rep then sees the session and the commitment on
their home page."""

import datetime

import pytest
from django.utils import timezone

from coaching.models import ActionItem, CoachingSession
from tests.coaching.conftest import LOST_IN_DISCOVERY, build, won_at
from tests.factories import PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


def test_a_manager_coaches_the_flagged_stage_and_the_rep_sees_the_commitment(
    transactional_db, login, page, screenshot
):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    weak = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    strong = UserFactory(username="robin", manager=manager, full_name="Robin Rep")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    build(admin, stages, pipeline, [
        (weak, 16, "500", 0, LOST_IN_DISCOVERY, None),
        (weak, 4, "1000", 0, won_at(10), None),
        (strong, 10, "500", 0, LOST_IN_DISCOVERY, None),
        (strong, 30, "2000", 0, won_at(20), None),
    ])  # fmt: skip
    today = timezone.localdate()

    login(manager)
    page.goto(f"/insights/?rep={weak.pk}")
    assert page.get_by_test_id("focus-stage").inner_text() == "Discovery"
    page.get_by_test_id("focus-start-session").click()
    page.wait_for_url("**/coaching/sessions/new/**")
    assert page.get_by_label("Rep", exact=True).input_value() == str(weak.pk)
    assert page.get_by_label("Coach on", exact=True).input_value() == "stage"
    assert page.locator("#id_stage").input_value() == str(stages["Discovery"].pk)
    page.get_by_label("Goal").fill("Move half of the Discovery deals to a proposal")
    page.get_by_label("Reality").fill("4 of 20 advanced; the next step is often vague")
    page.get_by_label("Options").fill("Book the next meeting before leaving; mutual plan")
    page.get_by_label("Will").fill("Dated next step on every Discovery deal")
    page.get_by_label("Follow-up on").fill((today + datetime.timedelta(days=28)).isoformat())
    page.get_by_role("button", name="Plan session").click()
    page.wait_for_url("**/coaching/sessions/*/")
    page.get_by_text("Coaching session with Riley Rep planned.").wait_for()
    assert "advanced 4 of 20" in page.get_by_test_id("evidence").inner_text()
    assert "Discovery" in page.locator("h1").inner_text()

    commitments = page.locator("#session-commitments")
    commitments.get_by_label("Commitment").fill("Set a dated next step on every Discovery deal")
    commitments.get_by_label("Owner").select_option(label="Riley Rep")
    commitments.get_by_label("Due").fill((today + datetime.timedelta(days=3)).isoformat())
    commitments.get_by_role("button", name="Add commitment").click()
    page.get_by_test_id("commitments").get_by_text("Set a dated next step").wait_for()
    page.get_by_role("button", name="Mark held").click()
    page.get_by_text("Recorded as held.").wait_for()
    assert page.get_by_test_id("session-status").inner_text() == "Held"
    screenshot("coaching-session-manager")
    session = CoachingSession.objects.get()
    assert session.will == "Dated next step on every Discovery deal"
    assert ActionItem.objects.get().coaching_session_id == session.pk

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(weak)
    home_items = page.get_by_test_id("home-action-items")
    assert "Set a dated next step on every Discovery deal" in home_items.inner_text()
    home_items.get_by_role("link", name="Set a dated next step on every Discovery deal").click()
    page.wait_for_url(f"**/coaching/sessions/{session.pk}/")
    body = page.locator("main").inner_text()
    assert "Move half of the Discovery deals to a proposal" in body
    assert page.locator("textarea").count() == 0
    page.set_viewport_size({"width": 412, "height": 900})
    screenshot("coaching-session-rep-412")
    page.get_by_test_id("commitments").get_by_role("button", name="Mark done").click()
    page.get_by_test_id("commitments").get_by_text("Done", exact=True).wait_for()
    assert ActionItem.objects.get().status == "done"
