"""The board in a real browser: drag, keyboard moves, conflicts and the lost reason."""

import datetime
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from pipeline.models import Deal, StageTransition
from pipeline.services import deal_move, stage_create
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
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    page.keyboard.press("Enter")
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


def _seven_stage_board(manager):
    """A manager's team with a 7-stage pipeline, a long first column and long names."""
    reps = [
        UserFactory(username=f"rep{n}", manager=manager, full_name=f"Representative Number {n}")
        for n in range(2)
    ]
    pipeline = PipelineFactory(name="Enterprise", stages=False)
    for order, (name, probability, kind) in enumerate(
        [
            ("Qualification", 10, "open"),
            ("Discovery", 20, "open"),
            ("Solution design", 40, "open"),
            ("Proposal", 60, "open"),
            ("Negotiation", 80, "open"),
            ("Won", 100, "won"),
            ("Lost", 0, "lost"),
        ],
        start=1,
    ):
        stage_create(
            pipeline=pipeline,
            name=name,
            order=order,
            probability=probability,
            kind=kind,
            rot_days=14 if kind == "open" else None,
        )
    stages = {stage.name: stage for stage in pipeline.stages.all()}
    reason = LostReasonFactory(name="Price")
    for index in range(40):
        DealFactory(
            owner=reps[index % 2],
            pipeline=pipeline,
            name=f"Northwind Traders worldwide platform renewal {index}",
            amount=Decimal("1234567") + index,
        )
    for name in ("Discovery", "Solution design", "Proposal", "Negotiation", "Won", "Lost"):
        for index in range(3):
            deal = DealFactory(
                owner=reps[index % 2], pipeline=pipeline, name=f"{name} deal {index}"
            )
            extra = {"lost_reason": reason} if name == "Lost" else {}
            deal_move(deal=deal, to_stage=stages[name], by=manager, expected_version=1, **extra)
    Deal.objects.filter(name__startswith="Northwind").update(
        stage_entered_at=timezone.now() - datetime.timedelta(days=30)
    )
    return pipeline, stages


def _edges(page) -> dict:
    return page.evaluate(
        """() => ({
            width: window.innerWidth,
            height: window.innerHeight,
            pageWidth: document.scrollingElement.scrollWidth,
            pageHeight: document.scrollingElement.scrollHeight,
            board: (() => { const b = document.querySelector('[data-board]');
                            return {scroll: b.scrollWidth, client: b.clientWidth}; })(),
            rights: [...document.querySelectorAll('[data-column]')]
                .map(c => c.getBoundingClientRect().right),
            cardHeights: [...document.querySelectorAll('[data-card]')]
                .map(c => c.getBoundingClientRect().height),
            cardWidths: [...document.querySelectorAll('[data-card]')]
                .map(c => c.getBoundingClientRect().width),
        })"""
    )


def test_a_managers_seven_stage_board_fits_the_screen(transactional_db, login, screenshot):
    manager = UserFactory(username="mona", role="manager", full_name="Mona Manager")
    _, stages = _seven_stage_board(manager)
    page = login(manager)
    page.goto("/board/")

    at_1280 = _edges(page)
    assert len(at_1280["rights"]) == 7
    assert max(at_1280["rights"]) <= at_1280["width"]
    assert at_1280["pageWidth"] <= at_1280["width"]
    assert at_1280["board"]["scroll"] <= at_1280["board"]["client"]
    assert max(at_1280["cardHeights"]) <= 125
    assert min(at_1280["cardWidths"]) >= 140
    # Long columns page (10 cards, then "Load more" brings up to 50 more) and scroll on their own.
    assert len(at_1280["cardHeights"]) == 10 + 6 * 3
    assert at_1280["pageHeight"] <= 2 * at_1280["height"]
    more = page.get_by_role("link", name="Load more deals in Qualification")
    assert page.locator(".card__flag").first.is_visible()
    screenshot("board-1280")
    more.click()
    first_column = page.locator(
        f'[data-column][data-stage="{stages["Qualification"].pk}"] [data-card]'
    )
    first_column.nth(39).wait_for()
    assert first_column.count() == 40
    assert more.count() == 0
    assert page.evaluate("document.scrollingElement.scrollHeight") <= 2 * at_1280["height"]

    page.set_viewport_size({"width": 768, "height": 1024})
    at_768 = _edges(page)
    assert at_768["pageWidth"] <= at_768["width"]
    assert at_768["board"]["scroll"] > at_768["board"]["client"]
    screenshot("board-768")
