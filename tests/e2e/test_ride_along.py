"""A ride-along in a real browser: the manager records one with a scorecard, then the rep reads it and their skills history."""

import datetime

import pytest
from django.utils import timezone

from coaching.models import RideAlong
from pipeline.services import activity_log
from tests.e2e.conftest import draw_charts, htmx_swap
from tests.factories import AccountFactory, DealFactory, PipelineFactory, UserFactory

pytestmark = pytest.mark.e2e
SCORES = {
    "Opening": "4",
    "Discovery": "3",
    "Presentation": "5",
    "Handling objections": "2",
    "Closing": "3",
}


def test_a_manager_records_a_ride_along_and_the_rep_sees_it_and_their_skills(
    transactional_db, login, page, screenshot
):
    manager = UserFactory(username="morgan", role="manager", full_name="Morgan Manager")
    rep = UserFactory(username="riley", manager=manager, full_name="Riley Rep")
    account = AccountFactory(owner=rep, name="Acme Corp")
    deal = DealFactory(owner=rep, account=account, pipeline=PipelineFactory(), name="Acme renewal")
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    visit = activity_log(
        by=rep,
        kind="client_visit",
        subject="On-site workshop",
        deal=deal,
        occurred_at=timezone.make_aware(datetime.datetime.combine(yesterday, datetime.time(10))),
    )

    login(manager)
    page.goto("/coaching/ride-alongs/")
    page.get_by_role("link", name="Log a ride-along").click()
    page.wait_for_url("**/coaching/ride-alongs/new/")
    # Each choice reloads the fields below it: the next choice waits for that swap to settle, or
    # a late answer replaces the fields with the next choice undone.
    with htmx_swap(page):
        page.get_by_label("Rep", exact=True).select_option(label="Riley Rep")
    with htmx_swap(page):
        page.get_by_label("Account").select_option(label="Acme Corp")
    with htmx_swap(page):
        page.get_by_label("Deal").select_option(label="Acme renewal")
    page.get_by_label("Client visit").select_option(str(visit.pk))
    page.get_by_label("Day").fill(yesterday.isoformat())
    page.get_by_label("Observations").fill("Great rapport; let the price objection slide.")
    for skill, score in SCORES.items():
        page.get_by_role("radiogroup", name=skill).get_by_label(score, exact=True).check()
    page.get_by_label("Note on handling objections").fill("Explore the objection before answering")
    screenshot("ride-along-form")
    page.get_by_role("button", name="Record the ride-along").click()
    page.wait_for_url("**/coaching/ride-alongs/*/")
    page.get_by_text("Ride-along with Riley Rep recorded.").wait_for()
    ride = RideAlong.objects.get()
    assert ride.activity_id == visit.pk and ride.deal_id == deal.pk
    assert dict(ride.scores.values_list("skill", "score")) == {
        "opening": 4,
        "discovery": 3,
        "presentation": 5,
        "objections": 2,
        "closing": 3,
    }

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login/**")
    login(rep)
    page.goto("/coaching/ride-alongs/")
    page.get_by_role("link", name=yesterday.strftime("%-d %b %Y")).click()
    page.wait_for_url(f"**/coaching/ride-alongs/{ride.pk}/")
    scorecard = page.get_by_test_id("scorecard").inner_text()
    assert "Explore the objection before answering" in scorecard
    assert "Great rapport" in page.get_by_test_id("observations").inner_text()
    assert page.get_by_role("button", name="Delete this ride-along").count() == 0
    screenshot("ride-along-rep")

    page.locator("main").get_by_role("link", name="Riley Rep").click()
    page.wait_for_url(f"**/coaching/skills/{rep.pk}/")
    row = page.get_by_test_id("skills-table").locator("[data-skill='presentation']")
    assert row.locator("td").first.inner_text() == "5"
    draw_charts(page)
    screenshot("skills-history")
