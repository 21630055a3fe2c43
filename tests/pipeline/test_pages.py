"""The pages reps and managers live in: the deals table's order and export, the deal page's move, one filter bar."""

import csv
import datetime
import io
import re
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from pipeline.services import deal_move
from tests.factories import DealFactory, LostReasonFactory


def _signed_in(client, user):
    client.force_login(user)
    return client


def _days(n: int) -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=n)


def _header(body: str, label: str) -> str:
    """The ``<th>`` of one column of the deals table."""
    for cell in re.findall(r"<th scope=\"col\".*?</th>", body, flags=re.S):
        if f">{label}<" in cell:
            return cell
    raise AssertionError(f"no header {label!r}")


def _link(cell: str) -> str:
    return unescape(re.search(r'href="\?([^"]*)"', cell).group(1))


def _names_in_order(body: str, names: list[str]) -> list[str]:
    return sorted(names, key=body.index)


# The deals table: sorting


@pytest.mark.parametrize("key", ["name", "account", "owner", "stage", "amount", "close"])
def test_every_sorted_column_links_to_the_other_direction(client, rep, pipeline, key):
    DealFactory(owner=rep, pipeline=pipeline)
    client = _signed_in(client, rep)
    label = {
        "name": "Deal",
        "account": "Account",
        "owner": "Owner",
        "stage": "Stage",
        "amount": "Amount",
        "close": "Expected close",
    }[key]

    unsorted = _header(client.get(reverse("deal-list")).content.decode(), label)
    assert "aria-sort" not in unsorted
    assert _link(unsorted) == f"sort={key}"
    assert ", sort ascending<" in unsorted

    ascending = _header(client.get(reverse("deal-list"), {"sort": key}).content.decode(), label)
    assert 'aria-sort="ascending"' in ascending
    assert "▲" in ascending
    assert _link(ascending) == f"sort=-{key}"
    assert ", sort descending<" in ascending

    descending = _header(
        client.get(reverse("deal-list"), {"sort": f"-{key}"}).content.decode(), label
    )
    assert 'aria-sort="descending"' in descending
    assert "▼" in descending
    assert _link(descending) == f"sort={key}"
    assert ", sort ascending<" in descending


def test_sort_links_keep_the_filters_and_drop_the_page(client, rep, pipeline):
    DealFactory(owner=rep, pipeline=pipeline)
    body = (
        _signed_in(client, rep)
        .get(reverse("deal-list"), {"sort": "amount", "q": "acme", "page": "2"})
        .content.decode()
    )
    link = _link(_header(body, "Amount"))
    assert "q=acme" in link and "sort=-amount" in link and "page" not in link


def test_default_order_is_open_deals_by_close_date_then_closed_ones_latest_first(
    client, rep, pipeline, stages
):
    later = DealFactory(
        owner=rep, pipeline=pipeline, name="Open later", expected_close_date=_days(40)
    )
    DealFactory(owner=rep, pipeline=pipeline, name="Open soon", expected_close_date=_days(5))
    DealFactory(owner=rep, pipeline=pipeline, name="Open overdue", expected_close_date=_days(-3))
    won_long_ago = DealFactory(
        owner=rep, pipeline=pipeline, name="Won first", expected_close_date=_days(-400)
    )
    deal_move(deal=won_long_ago, to_stage=stages["Won"], by=rep, expected_version=1)
    lost_lately = DealFactory(
        owner=rep, pipeline=pipeline, name="Lost second", expected_close_date=_days(-500)
    )
    deal_move(
        deal=lost_lately,
        to_stage=stages["Lost"],
        by=rep,
        expected_version=1,
        lost_reason=LostReasonFactory(name="Price"),
    )
    assert later.pk

    body = _signed_in(client, rep).get(reverse("deal-list")).content.decode()

    names = ["Open later", "Open soon", "Open overdue", "Won first", "Lost second"]
    assert _names_in_order(body, names) == [
        "Open overdue",
        "Open soon",
        "Open later",
        "Lost second",
        "Won first",
    ]
    assert "Open deals come first, soonest expected close first" in body


# The deals table: the export


def _export(client, **params) -> list[list[str]]:
    response = client.get(reverse("deal-export"), params)
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_link_carries_the_sort_and_the_filters(client, rep, pipeline):
    DealFactory(owner=rep, pipeline=pipeline)
    body = (
        _signed_in(client, rep)
        .get(reverse("deal-list"), {"sort": "-amount", "amount_min": "10", "page": "1"})
        .content.decode()
    )
    href = unescape(re.search(r'href="(/deals/export\.csv[^"]*)"', body).group(1))
    assert "sort=-amount" in href and "amount_min=10" in href and "page" not in href


def test_export_follows_the_tables_sort_and_filters(client, rep, pipeline, stages):
    for name, amount, days in [("Small", "100", 3), ("Big", "900", 30), ("Middle", "500", 10)]:
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            name=name,
            amount=Decimal(amount),
            expected_close_date=_days(days),
        )
    DealFactory(owner=rep, pipeline=pipeline, name="Tiny", amount=Decimal("5"))
    client = _signed_in(client, rep)

    by_amount = _export(client, sort="-amount", amount_min="50")
    assert [row[1] for row in by_amount[1:]] == ["Big", "Middle", "Small"]
    by_name = _export(client, sort="name", amount_min="50")
    assert [row[1] for row in by_name[1:]] == ["Big", "Middle", "Small"]
    by_name_down = _export(client, sort="-name", amount_min="50")
    assert [row[1] for row in by_name_down[1:]] == ["Small", "Middle", "Big"]
    default = _export(client, amount_min="50")
    assert [row[1] for row in default[1:]] == ["Small", "Middle", "Big"]
    searched = _export(client, sort="-amount", q="i")
    assert [row[1] for row in searched[1:]] == ["Big", "Middle", "Tiny"]


# The deal page: "Move to stage"


def _move_form(body: str) -> str:
    return re.search(r"<form class=\"move-form\".*?</form>", body, flags=re.S).group(0)


def test_deal_page_offers_every_other_stage_and_the_lost_reasons(client, rep, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    LostReasonFactory(name="Went with a competitor")
    LostReasonFactory(name="Retired reason", is_active=False)

    form = _move_form(
        _signed_in(client, rep).get(reverse("deal-detail", args=[deal.pk])).content.decode()
    )

    assert f'action="{reverse("deal-move", args=[deal.pk])}"' in form
    assert 'name="version" value="1"' in form
    assert f'name="next" value="{reverse("deal-detail", args=[deal.pk])}"' in form
    offered = re.findall(r'<option value="\d+" data-kind="(\w+)"[^>]*>([^<]+)</option>', form)
    assert [name for _, name in offered] == [name for name in stages if name != "Qualification"]
    assert ("lost", "Lost") in offered
    assert re.search(r'<option value="\d+" data-kind="open" selected>Discovery</option>', form)
    assert "Went with a competitor" in form and "Retired reason" not in form


def _move_from_the_deal_page(client, deal, stage, version, **extra):
    data = {
        "stage": stage.pk,
        "version": version,
        "next": reverse("deal-detail", args=[deal.pk]),
        **extra,
    }
    return client.post(reverse("deal-move", args=[deal.pk]), data, follow=True)


def test_deal_page_moves_the_deal_and_comes_back_to_it(client, rep, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")

    response = _move_from_the_deal_page(_signed_in(client, rep), deal, stages["Discovery"], 1)

    assert response.redirect_chain == [(reverse("deal-detail", args=[deal.pk]), 302)]
    body = response.content.decode()
    assert "Moved “Acme renewal” to Discovery." in body
    assert 'name="version" value="2"' in _move_form(body)
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages["Discovery"].pk, 2)


def test_deal_page_move_to_lost_requires_a_reason(client, rep, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    reason = LostReasonFactory(name="Price")
    client = _signed_in(client, rep)

    asked = _move_from_the_deal_page(client, deal, stages["Lost"], 1, lost_reason="")
    body = asked.content.decode()
    assert asked.status_code == 200
    assert "Why was “Acme renewal” lost?" in body
    assert f'name="next" value="{reverse("deal-detail", args=[deal.pk])}"' in body
    deal.refresh_from_db()
    assert deal.status == "open"

    moved = _move_from_the_deal_page(client, deal, stages["Lost"], 1, lost_reason=reason.pk)
    assert "Moved “Acme renewal” to Lost." in moved.content.decode()
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason_id) == ("lost", reason.pk)


def test_deal_page_move_with_a_stale_version_says_so_and_reloads_the_deal(
    client, rep, pipeline, stages
):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    client = _signed_in(client, rep)
    deal_move(deal=deal, to_stage=stages["Discovery"], by=rep, expected_version=1)

    response = _move_from_the_deal_page(client, deal, stages["Proposal"], 1)

    assert response.redirect_chain == [(reverse("deal-detail", args=[deal.pk]), 302)]
    body = response.content.decode()
    assert "This deal was changed by someone else — reloaded." in body
    assert 'name="version" value="2"' in _move_form(body)
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages["Discovery"].pk, 2)


# The board


def test_board_cards_are_compact_with_the_move_control_behind_a_button(client, rep, pipeline):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    body = _signed_in(client, rep).get(reverse("board")).content.decode()
    card = re.search(rf'<article class="card[^"]*" id="deal-{deal.pk}".*?</article>', body, re.S)
    card = card.group(0)
    for shown in ("Acme renewal", deal.account.name, "USD 1,000", "Riley Rep", "0 days"):
        assert shown in card
    assert re.search(r'<details class="card__move">\s*<summary>Move<', card)
    assert card.index("<summary>") < card.index(f'id="move-{deal.pk}"')


# One filter bar


def _forms(body: str) -> list[str]:
    return re.findall(r"<form\b.*?</form>", body, flags=re.S)


def _filter_bar(body: str) -> str:
    """The page's only GET form (the header's log-out and the cards' moves are POST forms)."""
    bars = [form for form in _forms(body) if 'method="get"' in form.split(">", 1)[0]]
    assert len(bars) == 1
    return bars[0]


@pytest.mark.parametrize("page", ["board", "deal-list"])
def test_board_and_deal_list_have_one_filter_bar_with_one_date_range_and_one_button(
    client, manager, pipeline, page
):
    body = _signed_in(client, manager).get(reverse(page)).content.decode()
    bar = _filter_bar(body)

    assert len(re.findall(r"<button\b", bar)) == 1
    assert re.search(r'<button type="submit"[^>]*>Apply</button>', bar)
    assert len(re.findall(r'type="date"', bar)) == 2
    for name in ("scope", "scope_id", "period", "close_after", "close_before"):
        assert f'name="{name}"' in bar
    assert 'name="start"' not in bar and 'name="end"' not in bar
    assert 'aria-label="Scope and period"' not in body


def test_deal_list_bar_keeps_the_sort_and_shows_each_filter_once(client, manager, pipeline):
    body = (
        _signed_in(client, manager)
        .get(reverse("deal-list"), {"sort": "-amount", "q": "acme", "amount_min": "5"})
        .content.decode()
    )
    bar = _filter_bar(body)
    assert '<input type="hidden" name="sort" value="-amount">' in bar
    assert bar.count('name="q"') == 1 and bar.count('name="amount_min"') == 1
    assert 'name="q" value="acme"' in bar


def test_the_one_bar_drives_the_picker_and_is_remembered(client, manager, rep, rep2, pipeline):
    DealFactory(owner=rep, pipeline=pipeline, name="Riley deal")
    DealFactory(owner=rep2, pipeline=pipeline, name="Robin deal")
    client = _signed_in(client, manager)

    client.get(
        reverse("board"),
        {"pipeline": pipeline.pk, "scope": "rep", "scope_id": rep2.pk, "period": "30d"},
    )

    body = client.get(reverse("deal-list")).content.decode()
    assert "Robin deal" in body and "Riley deal" not in body
    bar = _filter_bar(body)
    assert re.search(r'<option value="30d" selected>Last 30 days</option>', bar)
    assert re.search(rf'<option value="{rep2.pk}" data-kind="rep" selected>', bar)


def test_a_custom_period_from_the_dashboard_is_kept_by_the_bar(client, manager, pipeline):
    client = _signed_in(client, manager)
    client.get(
        reverse("deal-list"), {"period": "custom", "start": "2026-01-01", "end": "2026-03-31"}
    )

    bar = _filter_bar(client.get(reverse("board")).content.decode())

    assert re.search(r'<option value="custom" selected>1 Jan 2026 – 31 Mar 2026</option>', bar)
    assert '<input type="hidden" name="start" value="2026-01-01">' in bar
    assert '<input type="hidden" name="end" value="2026-03-31">' in bar


def test_a_columns_more_link_answers_htmx_with_cards_and_a_browser_with_a_page(
    client, rep, pipeline, stages
):
    for index in range(12):
        DealFactory(
            owner=rep, pipeline=pipeline, name=f"Deal {index:02d}", expected_close_date=_days(index)
        )
    client = _signed_in(client, rep)
    board = client.get(reverse("board")).content.decode()
    more = reverse("board-column", args=[stages["Qualification"].pk])
    link = re.search(
        rf'<a class="button button--secondary load-more"\s+href="({more}[^"]*)"', board
    )
    assert link and "offset=10" in link.group(1)

    fragment = client.get(unescape(link.group(1)), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert fragment.count("data-card ") == 2

    page = client.get(unescape(link.group(1))).content.decode()
    assert "<html" in page and "Qualification: more deals" in page
    assert page.count("data-card ") == 2 and "Deal 11" in page and "Deal 09" not in page
    assert f'href="{reverse("board")}"' in page
