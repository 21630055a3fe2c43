"""The deal page in a real browser: logging activity, and what a stranger sees."""

from pipeline.models import Activity
from tests.factories import DealFactory, PipelineFactory, UserFactory


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
