"""The board in a real browser: drag, keyboard moves, conflicts and the lost reason."""

from django.db.models import F

from pipeline.models import Deal, StageTransition
from tests.factories import DealFactory, LostReasonFactory, PipelineFactory, UserFactory

CONFLICT = "This deal was changed by someone else — reloaded."


def _cast():
    manager = UserFactory(username="mona", role="manager", full_name="Mona Manager")
    rep = UserFactory(username="rita", manager=manager, full_name="Rita Rep")
    pipeline = PipelineFactory(name="New business")
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    return rep, pipeline, stages


def _card(page, deal):
    return page.locator(f"#deal-{deal.pk}")


def _column(page, stage):
    return page.locator(f'[data-column][data-stage="{stage.pk}"] [data-dropzone]')


def test_a_rep_drags_a_deal_to_the_next_stage(transactional_db, login, screenshot):
    rep, pipeline, stages = _cast()
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Globex expansion")
    DealFactory(owner=rep, pipeline=pipeline, name="Initech pilot")
    page = login(rep)
    page.goto("/board/")
    screenshot("board")

    page.drag_and_drop(
        f"#deal-{deal.pk}", f'[data-column][data-stage="{stages["Discovery"].pk}"] [data-dropzone]'
    )

    status = page.locator("#board-status")
    status.get_by_text("Moved “Globex expansion” to Discovery.").wait_for()
    assert _column(page, stages["Discovery"]).locator(f"#deal-{deal.pk}").count() == 1
    assert _card(page, deal).get_attribute("data-version") == "2"
    deal.refresh_from_db()
    assert deal.stage_id == stages["Discovery"].pk
    moves = StageTransition.objects.filter(
        deal=deal, from_stage=stages["Qualification"], to_stage=stages["Discovery"]
    )
    assert moves.count() == 1
    assert (
        "1 deal"
        in page.locator(
            f'[data-column][data-stage="{stages["Discovery"].pk}"] .column__meta'
        ).inner_text()
    )


def test_a_stale_drag_shows_the_conflict_and_reloads_the_card(transactional_db, login):
    rep, pipeline, stages = _cast()
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Umbrella renewal")
    page = login(rep)
    page.goto("/board/")
    # Someone else changes the deal after the board was drawn.
    Deal.objects.filter(pk=deal.pk).update(
        version=F("version") + 1, name="Umbrella renewal (edited)"
    )

    page.drag_and_drop(
        f"#deal-{deal.pk}", f'[data-column][data-stage="{stages["Discovery"].pk}"] [data-dropzone]'
    )

    page.locator("#board-status").get_by_text(CONFLICT).wait_for()
    card = _card(page, deal)
    assert card.get_attribute("data-version") == "2"
    assert "Umbrella renewal (edited)" in card.inner_text()
    assert _column(page, stages["Qualification"]).locator(f"#deal-{deal.pk}").count() == 1
    deal.refresh_from_db()
    assert deal.stage_id == stages["Qualification"].pk
    assert StageTransition.objects.filter(deal=deal).count() == 1


def test_a_keyboard_user_moves_a_deal_with_the_move_control(transactional_db, login):
    rep, pipeline, stages = _cast()
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Hooli platform")
    page = login(rep)
    page.goto("/board/")

    page.locator(f"#deal-{deal.pk}-name a").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == f"move-{deal.pk}"
    assert page.locator(f"#move-{deal.pk} option:checked").inner_text() == "Discovery"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")

    page.locator("#board-status").get_by_text("Moved “Hooli platform” to Discovery.").wait_for()
    assert page.evaluate("document.activeElement.closest('[data-card]').dataset.stage") == str(
        stages["Discovery"].pk
    )
    deal.refresh_from_db()
    assert deal.stage_id == stages["Discovery"].pk


def test_dropping_on_lost_asks_for_the_reason(transactional_db, login):
    rep, pipeline, stages = _cast()
    reason = LostReasonFactory(name="Went with a competitor")
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Stark refit")
    page = login(rep)
    page.goto("/board/")

    page.drag_and_drop(
        f"#deal-{deal.pk}", f'[data-column][data-stage="{stages["Lost"].pk}"] [data-dropzone]'
    )

    dialog = page.get_by_role("dialog", name="Why was “Stark refit” lost?")
    dialog.wait_for()
    dialog.get_by_role("button", name="Mark as lost").click()
    assert dialog.get_by_text("Choose the reason the deal was lost.").is_visible()
    deal.refresh_from_db()
    assert deal.status == "open"

    dialog.get_by_label("Lost reason").select_option(label="Went with a competitor")
    dialog.get_by_role("button", name="Mark as lost").click()
    page.locator("#board-status").get_by_text("Moved “Stark refit” to Lost.").wait_for()
    assert _column(page, stages["Lost"]).locator(f"#deal-{deal.pk}").count() == 1
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason_id) == ("lost", reason.pk)
