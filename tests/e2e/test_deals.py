"""The deal page in a real browser: logging activity, moving the deal, and what a stranger sees."""

from django.db.models import F

from pipeline.models import Activity, Deal
from tests.factories import DealFactory, LostReasonFactory, PipelineFactory, UserFactory


def test_a_rep_logs_a_note_and_sees_it_in_the_timeline(transactional_db, login):
    manager = UserFactory(username="mona", role="manager")
    rep = UserFactory(username="rita", manager=manager, full_name="Rita Rep")
    deal = DealFactory(owner=rep, pipeline=PipelineFactory(), name="Wayne Enterprises pilot")
    page = login(rep)
    page.goto(f"/deals/{deal.pk}/")

    form = page.locator("#activity-form")
    form.get_by_label("Note").check()
    form.get_by_label("Subject").fill("Budget confirmed")
    form.get_by_label("Details").fill("CFO signed off the budget for Q3.")
    form.get_by_role("button", name="Log activity").click()

    newest = page.locator("#timeline-list .timeline__item").first
    newest.get_by_text("Budget confirmed").wait_for()
    assert "CFO signed off the budget for Q3." in newest.inner_text()
    assert "Rita Rep" in newest.inner_text()
    assert page.locator("#activity-status").inner_text() == "Note “Budget confirmed” logged."
    assert page.locator("#activity-form").get_by_label("Subject").input_value() == ""
    activity = Activity.objects.get(subject="Budget confirmed")
    assert (activity.kind, activity.deal_id, activity.author_id) == ("note", deal.pk, rep.pk)


def test_a_rep_opening_another_teams_deal_sees_the_404_page(transactional_db, login):
    rep = UserFactory(username="rita", manager=UserFactory(username="mona", role="manager"))
    stranger = UserFactory(username="olga", manager=UserFactory(username="otto", role="manager"))
    deal = DealFactory(owner=stranger, pipeline=PipelineFactory(), name="Their confidential deal")
    page = login(rep)

    response = page.goto(f"/deals/{deal.pk}/")

    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert "Their confidential deal" not in page.content()


def test_a_rep_moves_a_deal_from_its_page_and_is_asked_why_it_was_lost(
    transactional_db, login, screenshot
):
    rep = UserFactory(username="rita", manager=UserFactory(username="mona", role="manager"))
    LostReasonFactory(name="Went with a competitor")
    deal = DealFactory(owner=rep, pipeline=PipelineFactory(), name="Stark refit")
    page = login(rep)
    page.goto(f"/deals/{deal.pk}/")
    move = page.get_by_role("form", name="Move to stage")
    reason = move.get_by_label("Lost reason")
    assert (
        move.get_by_label("Stage", exact=True).locator("option:checked").inner_text() == "Discovery"
    )
    assert not reason.is_visible()

    move.get_by_label("Stage", exact=True).select_option(label="Lost")
    assert reason.is_visible()
    screenshot("deal-page-move-1280")
    move.get_by_role("button", name="Move").click()
    assert move.get_by_text("Choose the reason the deal was lost.").is_visible()
    assert page.evaluate("document.activeElement.id") == "deal-move-lost-reason"
    deal.refresh_from_db()
    assert deal.status == "open"

    reason.select_option(label="Went with a competitor")
    move.get_by_role("button", name="Move").click()
    page.get_by_text("Moved “Stark refit” to Lost.").wait_for()
    details = page.locator(".field-list").inner_text()
    assert "Lost" in details and "Went with a competitor" in details
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason.name) == ("lost", "Went with a competitor")

    page.set_viewport_size({"width": 768, "height": 900})
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    screenshot("deal-page-768")


def test_a_stale_move_from_the_deal_page_says_so_and_shows_the_deal_as_it_is(
    transactional_db, login
):
    rep = UserFactory(username="rita", manager=UserFactory(username="mona", role="manager"))
    deal = DealFactory(owner=rep, pipeline=PipelineFactory(), name="Umbrella renewal")
    page = login(rep)
    page.goto(f"/deals/{deal.pk}/")
    # Someone else changes the deal after the page was drawn.
    Deal.objects.filter(pk=deal.pk).update(
        version=F("version") + 1, name="Umbrella renewal (edited)"
    )

    move = page.get_by_role("form", name="Move to stage")
    move.get_by_label("Stage", exact=True).select_option(label="Proposal")
    move.get_by_role("button", name="Move").click()

    page.get_by_text("This deal was changed by someone else — reloaded.").wait_for()
    assert page.get_by_role("heading", level=1).inner_text() == "Umbrella renewal (edited)"
    assert page.locator('form[data-deal-move] input[name="version"]').input_value() == "2"
    deal.refresh_from_db()
    assert deal.stage.name == "Qualification"
