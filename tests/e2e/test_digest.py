"""The weekly digest in a real browser: a manager sets the day and hour of their digest, sees their
team's schedules, and opens the preview of the next e-mail and its plain-text part."""

import datetime

import pytest
from django.utils import timezone

from coaching.models import DigestPreference
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from tests.factories import AccountFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def team(transactional_db):
    admin = UserFactory(username="ada", role="admin", full_name="Ada Admin")
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    now = timezone.now()
    deals_import(
        specs=[
            DealSpec(
                name="Riley stalled deal",
                account_id=AccountFactory(owner=rep).pk,
                owner_id=rep.pk,
                pipeline_id=pipeline.pk,
                stage_id=stages["Qualification"].pk,
                amount=5000,
                currency="USD",
                expected_close_date=timezone.localdate() + datetime.timedelta(days=20),
                forecast_category="commit",
                created_at=now - datetime.timedelta(days=30),
                lost_reason_id=None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=stages["Qualification"].pk,
                        at=now - datetime.timedelta(days=30),
                        by_id=rep.pk,
                    )
                ],
                changes=[],
            )
        ],
        by=admin,
    )
    return {"manager": manager, "rep": rep}


def test_a_manager_sets_their_digest_hour_and_opens_the_preview(page, login, team):
    login(team["manager"])
    page.goto("/coaching/digest/settings/")
    assert "Riley Rep" in page.get_by_test_id("digest-team").inner_text()
    page.get_by_label("Day", exact=True).select_option(label="Wednesday")
    page.get_by_label("Hour", exact=True).select_option(label="09:00")
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/coaching/digest/settings/")
    assert "saved" in page.locator(".messages").inner_text()
    preference = DigestPreference.objects.get(person=team["manager"])
    assert (preference.weekday, preference.hour, preference.time_zone) == (2, 9, "Europe/Paris")
    assert "Wednesday" in page.get_by_test_id("digest-next").inner_text()
    assert "09:00" in page.get_by_test_id("digest-next").inner_text()

    page.get_by_role("link", name="Preview it").click()
    page.wait_for_url("**/coaching/digest/")
    email = page.frame_locator("[data-testid=digest-frame]")
    assert "Your weekly digest" in email.locator("h1").inner_text()
    assert "Riley stalled deal" in email.locator("[data-digest=stalled]").inner_text()
    assert "Wednesday" in page.get_by_test_id("digest-next").inner_text()

    page.get_by_test_id("digest-text-link").click()
    page.wait_for_url("**/coaching/digest/email.txt")
    assert "STALLED DEALS" in page.locator("body").inner_text()
