"""The pipeline's browser pages: who sees what, query counts, moves, the export and the forms."""

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Activity, Deal, StageTransition
from pipeline.picker import picked
from pipeline.services import activity_log, deal_move, deal_update, line_items_set
from pipeline.services.deals import LineItemSpec
from quotas.models import Territory
from tests.conftest import need_postgres
from tests.factories import AccountFactory, DealFactory, LostReasonFactory, ProductFactory

JSON = {"HTTP_ACCEPT": "application/json"}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal", amount=Decimal("5000.00"))


@pytest.fixture
def lost_reason(db):
    return LostReasonFactory(name="Price")


def _signed_in(client, user):
    client.force_login(user)
    return client


def _pages(deal):
    return {
        "board": reverse("board"),
        "deal-list": reverse("deal-list"),
        "deal-new": reverse("deal-new"),
        "deal-detail": reverse("deal-detail", args=[deal.pk]),
        "deal-edit": reverse("deal-edit", args=[deal.pk]),
        "account-list": reverse("account-list"),
        "account-detail": reverse("account-detail", args=[deal.account_id]),
        "deal-export": reverse("deal-export"),
    }


# Who sees what


@pytest.mark.parametrize("who", ["rep", "manager", "admin"])
@pytest.mark.parametrize(
    "page",
    [
        "board",
        "deal-list",
        "deal-new",
        "deal-detail",
        "deal-edit",
        "account-list",
        "account-detail",
        "deal-export",
    ],
)
def test_pages_answer_their_users(client, request, deal, who, page):
    user = request.getfixturevalue(who)
    response = _signed_in(client, user).get(_pages(deal)[page])
    assert response.status_code == 200


@pytest.mark.parametrize("page", ["deal-detail", "deal-edit", "account-detail"])
def test_rep_of_another_team_gets_the_404_page(client, outsider, deal, page):
    response = _signed_in(client, outsider).get(_pages(deal)[page])
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "Acme renewal" not in response.content.decode()


def test_rep_of_the_same_team_cannot_open_a_colleagues_deal(client, rep2, deal):
    assert _signed_in(client, rep2).get(reverse("deal-detail", args=[deal.pk])).status_code == 404


def test_outsider_cannot_move_or_log_on_a_deal_out_of_reach(client, outsider, deal, stages):
    client = _signed_in(client, outsider)
    move = client.post(
        reverse("deal-move", args=[deal.pk]),
        {"stage": stages["Discovery"].pk, "version": 1},
        **JSON,
    )
    note = client.post(
        reverse("deal-activity", args=[deal.pk]), {"kind": "note", "subject": "Sneaky"}
    )
    assert (move.status_code, note.status_code) == (404, 404)
    deal.refresh_from_db()
    assert deal.stage_id == stages["Qualification"].pk
    assert not Activity.objects.filter(subject="Sneaky").exists()


def test_lists_show_only_deals_within_reach(client, rep, outsider, deal, pipeline):
    DealFactory(owner=outsider, pipeline=pipeline, name="Their secret deal")
    for url in (reverse("deal-list"), reverse("board"), reverse("deal-export")):
        body = b"".join(_signed_in(client, rep).get(url)).decode() if url.endswith(".csv") else None
        body = body or _signed_in(client, rep).get(url).content.decode()
        assert "Acme renewal" in body
        assert "Their secret deal" not in body


def test_anonymous_visitors_are_sent_to_log_in(client, deal):
    response = client.get(reverse("board"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# Query counts: the same whatever the number of rows


def _grow(owner, pipeline, stages, *, deals: int, lost_reason) -> None:
    """Deals in every column, with activities, moves, edits and line items, so that a missed join shows."""
    names = ["Discovery", "Proposal", "Negotiation", "Won"]
    for index in range(deals):
        deal = DealFactory(owner=owner, pipeline=pipeline, amount=Decimal(100 + index))
        activity_log(by=owner, kind="call", subject=f"Call {index}", deal=deal)
        target = names[index % len(names)]
        deal = deal_move(
            deal=deal, to_stage=stages[target], by=owner, expected_version=deal.version
        )
        deal = deal_update(
            deal=deal, by=owner, expected_version=deal.version, name=f"Deal {index} renamed"
        )
        if index % 5 == 0:
            deal_move(
                deal=deal,
                to_stage=stages["Lost"],
                by=owner,
                expected_version=deal.version,
                lost_reason=lost_reason,
            )


def _grow_one(deal, stages, lost_reason, *, events: int) -> None:
    """One deal with a long past: moves back and forth, edits, notes and line items."""
    deal.refresh_from_db()
    owner = deal.owner
    product = ProductFactory()
    for index in range(events):
        target = (
            stages["Discovery"] if deal.stage_id != stages["Discovery"].pk else stages["Proposal"]
        )
        deal = deal_move(deal=deal, to_stage=target, by=owner, expected_version=deal.version)
        deal = deal_update(
            deal=deal,
            by=owner,
            expected_version=deal.version,
            expected_close_date=deal.expected_close_date + datetime.timedelta(days=1),
        )
        activity_log(by=owner, kind="note", subject=f"Note {index}", deal=deal)
    line_items_set(
        deal=deal,
        items=[LineItemSpec(product=product, quantity=Decimal(2))] * 3,
        by=owner,
        expected_version=deal.version,
    )


def _queries(client, url) -> int:
    client.get(url)  # the first visit may write the picker's choice to the session
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured.captured_queries)


EXPECTED_QUERIES = {
    # session, user, pipelines, stages, counts and totals of every column in one grouped query,
    # every column's first cards in two (their ids, then those deals), lost reasons
    ("rep", "board"): 8,
    # session, user, the page's ids merged from each owner's index with the count (one
    # statement), those rows with their joins, the stage choices
    ("rep", "deal-list"): 5,
    # session, user, deal, stages, lost reasons (the move form), line items, transitions, history,
    # the names of the accounts, owners and lost reasons it holds (one query), activities,
    # linked contacts, contacts that could be linked, split credit
    ("rep", "deal-detail"): 13,
    # session, user, capped count, rows, open deals of the page's accounts, owner and territory choices
    ("rep", "account-list"): 7,
    # session, user, account, contacts, deals, activities, owner history
    ("rep", "account-detail"): 7,
    # session, user, every row in one query; the audit log's export event (a savepoint, its
    # insert, the release)
    ("rep", "deal-export"): 6,
    # a manager's picker adds its three choice lists: people, territories, pipelines
    # and the team's owner ids, read once for every query of the board
    ("manager", "board"): 12,
    # (and the team, read once for the per-owner merge)
    ("manager", "deal-list"): 9,
    # a manager's rights over a team member's deal or account: one team check; and the people
    # the split credit form offers
    ("manager", "deal-detail"): 15,
    ("manager", "account-list"): 7,
    ("manager", "account-detail"): 8,
    ("manager", "deal-export"): 6,
}


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_pages_take_the_same_queries_with_few_and_many_rows(
    client, request, rep, pipeline, stages, lost_reason, who, django_assert_num_queries
):
    user = request.getfixturevalue(who)
    client = _signed_in(client, user)
    deal = DealFactory(owner=rep, pipeline=pipeline)
    pages = {name: url for name, url in _pages(deal).items() if (who, name) in EXPECTED_QUERIES}

    _grow(rep, pipeline, stages, deals=2, lost_reason=lost_reason)
    _grow_one(deal, stages, lost_reason, events=1)
    few = {name: _queries(client, url) for name, url in pages.items()}

    _grow(rep, pipeline, stages, deals=60, lost_reason=lost_reason)
    _grow_one(deal, stages, lost_reason, events=12)
    many = {name: _queries(client, url) for name, url in pages.items()}

    assert few == many
    for name, url in pages.items():
        with django_assert_num_queries(EXPECTED_QUERIES[(who, name)] + _apart(name)):
            response = client.get(url)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)


@pytest.mark.parametrize("who", ["rep", "manager"])
@pytest.mark.parametrize(
    "sort", ["amount", "close", "-close", "name", "created", "owner", "-account", "stage"]
)
def test_every_sort_of_the_deal_list_takes_the_same_queries_with_few_and_many_rows(
    client, request, rep, pipeline, stages, lost_reason, who, sort
):
    client = _signed_in(client, request.getfixturevalue(who))
    url = f"{reverse('deal-list')}?sort={sort}"
    _grow(rep, pipeline, stages, deals=2, lost_reason=lost_reason)
    few = _queries(client, url)
    _grow(rep, pipeline, stages, deals=60, lost_reason=lost_reason)
    assert _queries(client, url) == few
    # Sorts on the deal's own columns read the page and its count in one statement; those on
    # a related record's name count apart, then sort the ids.
    own = sort.lstrip("-") in ("amount", "close", "name", "created")
    assert few == EXPECTED_QUERIES[(who, "deal-list")] + (_apart("deal-list") if own else 1)


@pytest.mark.parametrize("deals", [3, 60])
def test_the_deal_list_shows_its_rows_without_building_a_deal(
    client, manager, rep, pipeline, stages, deals
):
    """The rows are read as values: each shows its deal, account, owner (named as everywhere),
    stage, pipeline, amount (with its reporting-currency figure or the missing rate) and
    forecast category, and no deal, account or person is built for them."""
    from django.db.models.signals import post_init

    from pipeline.models import Account, ExchangeRate
    from salesmgr.models import User
    from tests.factories import UserFactory

    named = UserFactory(username="named", manager=manager, full_name="")
    User.objects.filter(pk=named.pk).update(first_name="Nora", last_name="Named")
    bare = UserFactory(username="bare", manager=manager, full_name="")
    ExchangeRate.objects.create(
        currency="EUR", valid_from=datetime.date(2000, 1, 1), rate=Decimal("2")
    )
    owners, currencies = [rep, named, bare], ["USD", "EUR", "GBP"]
    for i in range(deals):
        DealFactory(
            owner=owners[i % 3], pipeline=pipeline, name=f"Row {i}", currency=currencies[i % 3]
        )
    built = []

    def count(sender, **kwargs):
        built.append(sender)

    for model in (Deal, Account, User):
        post_init.connect(count, sender=model)
    try:
        response = _signed_in(client, manager).get(reverse("deal-list"))
    finally:
        for model in (Deal, Account, User):
            post_init.disconnect(count, sender=model)
    assert response.status_code == 200
    assert built.count(Deal) == 0 and built.count(Account) == 0
    assert built.count(User) == 4  # the signed-in manager and the picker's three people
    body = response.content.decode()
    rows = re.findall(r"<tr>\s*<td><a href=.*?</tr>", body, re.S)
    assert len(rows) == min(deals, 50)
    for row in rows:
        deal = Deal.objects.select_related("account", "owner", "stage", "pipeline").get(
            name=re.search(r">(Row \d+)<", row).group(1)
        )
        assert f'<a href="/deals/{deal.pk}/">{deal.name}</a>' in row
        assert f'<a href="/accounts/{deal.account_id}/">{deal.account.name}</a>' in row
        assert f"<td>{deal.owner.display_name}</td>" in row
        assert f'>{deal.stage.name}</span><span class="cell-note">{pipeline.name}</span>' in row
        assert f"<td>{deal.get_forecast_category_display()}</td>" in row
        note = {"USD": "", "EUR": "USD 2,000.00", "GBP": "no USD rate"}[deal.currency]
        assert f"{deal.currency} 1,000.00" in row and note in row
    names = {"Riley Rep", "Nora Named", "bare"}
    assert names <= {re.search(r"</td>\s*<td>([^<]*)</td>", row).group(1) for row in rows}


def _apart(page: str) -> int:
    """The deal list's page and count: one statement on PostgreSQL, two queries elsewhere."""
    return int(page == "deal-list" and connection.vendor != "postgresql")


def test_a_large_deal_list_says_its_count_is_an_estimate(client, rep, pipeline, monkeypatch):
    need_postgres()  # the planner's estimate; SQLite counts every row
    monkeypatch.setattr("pipeline.selectors.DEAL_COUNT_EXACT_UP_TO", 3)
    for index in range(6):
        DealFactory(owner=rep, pipeline=pipeline, name=f"Deal {index}")
    body = _signed_in(client, rep).get(reverse("deal-list")).content.decode()
    assert re.search(r"Showing 1–6 of about [0-9,]+", body)
    assert "Page 1 of" not in body


def test_board_counts_and_totals_come_from_one_grouped_query(client, rep, pipeline, stages):
    for amount in ("100.00", "250.00"):
        DealFactory(owner=rep, pipeline=pipeline, amount=Decimal(amount))
    with CaptureQueriesContext(connection) as captured:
        response = _signed_in(client, rep).get(reverse("board"))
    grouped = [
        q["sql"]
        for q in captured.captured_queries
        if "GROUP BY" in q["sql"] and "pipeline_deal" in q["sql"]
    ]
    assert len(grouped) == 1
    body = response.content.decode()
    assert "2 deals" in body
    assert "USD 350" in body


# The board


def test_board_shows_cards_with_their_facts_and_stalled_flag(client, rep, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Old and slow")
    Deal.objects.filter(pk=deal.pk).update(
        stage_entered_at=timezone.now() - datetime.timedelta(days=20)
    )
    body = _signed_in(client, rep).get(reverse("board")).content.decode()
    assert "Old and slow" in body
    assert "20 days" in body
    assert "Stalled: over 14 days in Qualification" in body
    assert 'data-version="1"' in body


def test_board_won_column_shows_only_deals_closed_in_the_period(client, rep, pipeline, stages):
    recent = DealFactory(owner=rep, pipeline=pipeline, name="Won lately")
    deal_move(deal=recent, to_stage=stages["Won"], by=rep, expected_version=recent.version)
    old = DealFactory(owner=rep, pipeline=pipeline, name="Won long ago")
    deal_move(deal=old, to_stage=stages["Won"], by=rep, expected_version=old.version)
    Deal.objects.filter(pk=old.pk).update(closed_at=timezone.now() - datetime.timedelta(days=200))
    body = _signed_in(client, rep).get(reverse("board"), {"period": "90d"}).content.decode()
    assert "Won lately" in body
    assert "Won long ago" not in body


def test_board_columns_load_more_cards_in_pages(client, rep, pipeline, stages):
    for index in range(70):
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            name=f"Deal {index:02d}",
            expected_close_date=timezone.localdate() + datetime.timedelta(days=index),
        )
    client = _signed_in(client, rep)
    body = client.get(reverse("board")).content.decode()
    assert body.count("data-card ") == 10
    assert "Deal 09" in body and "Deal 10" not in body
    assert "Load more" in body and "offset=10" in body
    column = reverse("board-column", args=[stages["Qualification"].pk])
    more = client.get(column, {"offset": 10}, HTTP_HX_REQUEST="true").content.decode()
    assert more.count("data-card ") == 50
    assert "Deal 10" in more and "Deal 59" in more and "Deal 09" not in more
    assert "offset=60" in more
    rest = client.get(column, {"offset": 60}, HTTP_HX_REQUEST="true").content.decode()
    assert rest.count("data-card ") == 10
    assert "Deal 69" in rest and "Load more" not in rest


def test_board_filters_by_close_date(client, rep, pipeline):
    soon = timezone.localdate() + datetime.timedelta(days=5)
    DealFactory(owner=rep, pipeline=pipeline, name="Closing soon", expected_close_date=soon)
    DealFactory(
        owner=rep,
        pipeline=pipeline,
        name="Closing later",
        expected_close_date=soon + datetime.timedelta(days=60),
    )
    body = _signed_in(client, rep).get(
        reverse("board"), {"close_before": (soon + datetime.timedelta(days=1)).isoformat()}
    )
    assert "Closing soon" in body.content.decode()
    assert "Closing later" not in body.content.decode()


# Moving a deal


def test_move_persists_with_a_transition(client, rep, deal, stages):
    response = _signed_in(client, rep).post(
        reverse("deal-move", args=[deal.pk]),
        {"stage": stages["Discovery"].pk, "version": deal.version},
        **JSON,
    )
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["stage"] == stages["Discovery"].pk
    assert 'data-version="2"' in data["card"]
    assert "1 deal" in data["columns"][str(stages["Discovery"].pk)]
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages["Discovery"].pk, 2)
    last = StageTransition.objects.filter(deal=deal).order_by("at", "id").last()
    assert (last.from_stage_id, last.to_stage_id, last.by_id) == (
        stages["Qualification"].pk,
        stages["Discovery"].pk,
        rep.pk,
    )


def test_stale_move_answers_409_with_the_message_and_writes_nothing(client, rep, deal, stages):
    deal_update(deal=deal, by=rep, expected_version=1, name="Renamed meanwhile")
    transitions = StageTransition.objects.filter(deal=deal).count()
    response = _signed_in(client, rep).post(
        reverse("deal-move", args=[deal.pk]),
        {"stage": stages["Discovery"].pk, "version": 1},
        **JSON,
    )
    assert response.status_code == 409
    data = response.json()
    assert data["message"] == "This deal was changed by someone else — reloaded."
    assert "Renamed meanwhile" in data["card"]
    assert 'data-version="2"' in data["card"]
    assert data["stage"] == stages["Qualification"].pk
    deal.refresh_from_db()
    assert (deal.stage_id, deal.version) == (stages["Qualification"].pk, 2)
    assert StageTransition.objects.filter(deal=deal).count() == transitions


def test_moving_to_lost_without_a_reason_asks_for_one(client, rep, deal, stages, lost_reason):
    client = _signed_in(client, rep)
    url = reverse("deal-move", args=[deal.pk])
    asked = client.post(url, {"stage": stages["Lost"].pk, "version": 1}, **JSON)
    assert asked.status_code == 400
    assert asked.json() == {
        "ok": False,
        "needs_lost_reason": True,
        "message": "Say why the deal was lost.",
    }
    deal.refresh_from_db()
    assert deal.stage_id == stages["Qualification"].pk

    answered = client.post(
        url, {"stage": stages["Lost"].pk, "version": 1, "lost_reason": lost_reason.pk}, **JSON
    )
    assert answered.status_code == 200
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason_id) == ("lost", lost_reason.pk)


def test_move_without_script_redirects_back_and_asks_for_a_lost_reason_on_a_page(
    client, rep, deal, stages, lost_reason
):
    client = _signed_in(client, rep)
    url = reverse("deal-move", args=[deal.pk])
    moved = client.post(
        url, {"stage": stages["Discovery"].pk, "version": 1, "next": "/board/?pipeline=1"}
    )
    assert moved.status_code == 302
    assert moved["Location"] == "/board/?pipeline=1"
    asked = client.post(url, {"stage": stages["Lost"].pk, "version": 2, "next": "/board/"})
    assert asked.status_code == 200
    assert "Why was “Acme renewal” lost?" in asked.content.decode()
    offsite = client.post(
        url, {"stage": stages["Proposal"].pk, "version": 2, "next": "https://evil.example/"}
    )
    assert offsite["Location"] == reverse("board")


def test_move_to_a_stage_of_another_pipeline_is_refused(client, rep, deal):
    other = DealFactory(owner=rep)
    foreign_stage = other.pipeline.stages.get(name="Discovery")
    response = _signed_in(client, rep).post(
        reverse("deal-move", args=[deal.pk]), {"stage": foreign_stage.pk, "version": 1}, **JSON
    )
    assert response.status_code == 400
    assert response.json()["message"] == "That stage is not in this deal's pipeline."


# The deal list and its export


def test_deal_list_filters_searches_sorts_and_paginates(client, rep, pipeline, stages):
    for index in range(55):
        DealFactory(owner=rep, pipeline=pipeline, name=f"Bulk {index:02d}", amount=Decimal(index))
    DealFactory(owner=rep, pipeline=pipeline, name="Needle deal", amount=Decimal("999999"))
    client = _signed_in(client, rep)
    first = client.get(reverse("deal-list")).content.decode()
    assert "Showing 1–50 of 56" in first
    second = client.get(reverse("deal-list"), {"page": 2}).content.decode()
    assert "Showing 51–56 of 56" in second
    found = client.get(reverse("deal-list"), {"q": "needle"}).content.decode()
    assert "Needle deal" in found and "Bulk 01" not in found
    rich = client.get(reverse("deal-list"), {"amount_min": "1000"}).content.decode()
    assert "Needle deal" in rich and "Bulk 54" not in rich
    by_amount = client.get(reverse("deal-list"), {"sort": "-amount"}).content.decode()
    assert by_amount.index("Needle deal") < by_amount.index("Bulk 54") < by_amount.index("Bulk 53")
    bad = client.get(reverse("deal-list"), {"close_after": "not-a-date"})
    assert bad.status_code == 200
    assert "Enter a valid date." in bad.content.decode()


def test_csv_export_has_every_column_and_the_filtered_rows(
    client, rep, outsider, pipeline, stages, lost_reason
):
    territory = Territory.objects.create(name="=EMEA")
    account = AccountFactory(owner=rep, name="Acme GmbH", territory=territory)
    kept = DealFactory(
        owner=rep, pipeline=pipeline, account=account, name="Kept deal", amount=Decimal("1234.50")
    )
    DealFactory(owner=rep, pipeline=pipeline, name="Filtered out", amount=Decimal("10"))
    DealFactory(owner=outsider, pipeline=pipeline, name="Not mine", amount=Decimal("5000"))
    response = _signed_in(client, rep).get(reverse("deal-export"), {"amount_min": "1000"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "ID",
        "Deal",
        "Account",
        "Owner username",
        "Owner",
        "Pipeline",
        "Stage",
        "Status",
        "Probability (%)",
        "Amount",
        "Currency",
        "Expected close date",
        "Forecast category",
        "Territory",
        "Lost reason",
        "Created at",
        "Closed at",
        "Updated at",
        "Amount in USD",
    ]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["ID"] == str(kept.pk)
    assert row["Deal"] == "Kept deal"
    assert row["Account"] == "Acme GmbH"
    assert (row["Owner username"], row["Owner"]) == ("rep", "Riley Rep")
    assert (row["Pipeline"], row["Stage"], row["Status"], row["Probability (%)"]) == (
        "New business",
        "Qualification",
        "Open",
        "10",
    )
    assert (row["Amount"], row["Currency"]) == ("1234.50", "USD")
    assert row["Expected close date"] == kept.expected_close_date.isoformat()
    assert row["Forecast category"] == "Pipeline"
    assert row["Territory"] == "'=EMEA"  # a spreadsheet must not run it as a formula
    assert (row["Lost reason"], row["Closed at"]) == ("", "")


def test_csv_export_reads_its_rows_in_one_query(client, rep, pipeline):
    for _ in range(3):
        DealFactory(owner=rep, pipeline=pipeline)
    client = _signed_in(client, rep)
    few = _queries(client, reverse("deal-export"))
    for _ in range(20):
        DealFactory(owner=rep, pipeline=pipeline)
    assert _queries(client, reverse("deal-export")) == few


# Forms


def test_new_deal_form_opens_a_deal(client, rep, pipeline, stages):
    account = AccountFactory(owner=rep)
    response = _signed_in(client, rep).post(
        reverse("deal-new"),
        {
            "name": "Fresh deal",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "stage": stages["Proposal"].pk,
            "amount": "1500",
            "currency": "eur",
            "expected_close_date": "2030-01-31",
            "forecast_category": "commit",
        },
    )
    deal = Deal.objects.get(name="Fresh deal")
    assert response.status_code == 302
    assert response["Location"] == reverse("deal-detail", args=[deal.pk])
    assert (deal.owner_id, deal.stage_id, deal.currency, deal.amount) == (
        rep.pk,
        stages["Proposal"].pk,
        "EUR",
        Decimal("1500"),
    )


def test_new_deal_form_shows_clear_messages_on_the_right_fields(client, rep, outsider, pipeline):
    their_account = AccountFactory(owner=outsider)
    response = _signed_in(client, rep).post(
        reverse("deal-new"),
        {
            "name": "",
            "account": their_account.pk,
            "pipeline": pipeline.pk,
            "amount": "-5",
            "currency": "USD",
            "expected_close_date": "soon",
            "forecast_category": "commit",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["name"] == ["This field is required."]
    assert form.errors["account"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    assert form.errors["amount"] == ["Ensure this value is greater than or equal to 0."]
    assert form.errors["expected_close_date"] == ["Enter a valid date."]
    body = response.content.decode()
    assert 'aria-invalid="true"' in body
    assert 'aria-describedby="id_name_error"' in body


def test_service_validation_errors_land_on_their_fields(client, rep, pipeline):
    account = AccountFactory(owner=rep)
    response = _signed_in(client, rep).post(
        reverse("deal-new"),
        {
            "name": "Bad currency",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "amount": "10",
            "currency": "U$D",
            "expected_close_date": "2030-01-31",
            "forecast_category": "pipeline",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["currency"] == [
        "The currency must be an ISO 4217 code such as USD."
    ]
    assert not Deal.objects.filter(name="Bad currency").exists()


def test_reps_get_no_owner_field_and_managers_can_reassign_on_edit(
    client, rep, rep2, manager, deal
):
    rep_form = _signed_in(client, rep).get(reverse("deal-edit", args=[deal.pk])).context["form"]
    assert "owner" not in rep_form.fields
    response = _signed_in(client, manager).post(
        reverse("deal-edit", args=[deal.pk]),
        {
            "name": "Acme renewal",
            "account": deal.account_id,
            "owner": rep2.pk,
            "amount": "5000.00",
            "currency": "USD",
            "expected_close_date": deal.expected_close_date.isoformat(),
            "forecast_category": "pipeline",
            "version": deal.version,
        },
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.owner_id == rep2.pk


def _edit_data(deal, **changes):
    data = {
        "name": deal.name,
        "account": deal.account_id,
        "amount": str(deal.amount),
        "currency": deal.currency,
        "expected_close_date": deal.expected_close_date.isoformat(),
        "forecast_category": deal.forecast_category,
        "version": deal.version,
    }
    return data | changes


def test_edit_saves_changes(client, rep, deal):
    response = _signed_in(client, rep).post(
        reverse("deal-edit", args=[deal.pk]), _edit_data(deal, amount="7500")
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("7500.00"), 2)


def test_a_manager_s_edit_of_fields_and_owner_is_one_version_and_one_history_row(
    client, manager, rep2, deal
):
    response = _signed_in(client, manager).post(
        reverse("deal-edit", args=[deal.pk]), _edit_data(deal, name="Renamed", owner=rep2.pk)
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.owner, deal.version) == ("Renamed", rep2, 2)
    assert Deal.history.filter(id=deal.pk).count() == 2


def test_stale_edit_shows_the_conflict_and_saves_nothing(client, rep, deal):
    stale = _edit_data(deal, amount="7500")
    deal_update(deal=deal, by=rep, expected_version=1, amount=Decimal("6000.00"))
    response = _signed_in(client, rep).post(reverse("deal-edit", args=[deal.pk]), stale)
    assert response.status_code == 409
    body = response.content.decode()
    assert "This deal was changed by someone else while you were editing it" in body
    assert "6000.00" in body  # the value saved meanwhile
    assert response.context["form"]["version"].value() == "2"
    assert response.context["form"]["amount"].value() == "7500"  # the user's input is kept
    deal.refresh_from_db()
    assert (deal.amount, deal.version) == (Decimal("6000.00"), 2)


def test_edit_of_a_deal_with_line_items_keeps_their_total(client, rep, deal):
    deal = line_items_set(
        deal=deal,
        items=[LineItemSpec(product=ProductFactory(), quantity=Decimal(3))],
        by=rep,
        expected_version=1,
    )
    response = _signed_in(client, rep).post(
        reverse("deal-edit", args=[deal.pk]), _edit_data(deal, amount="1", name="New name")
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.amount) == ("New name", Decimal("300.00"))


# The deal page and activities


def test_deal_page_shows_fields_line_items_timeline_history_and_activities(
    client, rep, deal, stages
):
    deal = line_items_set(
        deal=deal,
        items=[LineItemSpec(product=ProductFactory(name="Widget"), quantity=Decimal(2))],
        by=rep,
        expected_version=1,
    )
    deal = deal_move(deal=deal, to_stage=stages["Discovery"], by=rep, expected_version=deal.version)
    deal_update(deal=deal, by=rep, expected_version=deal.version, name="Acme renewal 2027")
    activity_log(by=rep, kind="meeting", subject="Kick-off", deal=deal)
    body = _signed_in(client, rep).get(reverse("deal-detail", args=[deal.pk])).content.decode()
    assert "Widget" in body
    assert body.index("Qualification") < body.index("here for less than a day")
    assert "<del>Acme renewal</del> → <ins>Acme renewal 2027</ins>" in body
    assert "<del>Qualification</del> → <ins>Discovery</ins>" in body  # names, not ids
    assert "Kick-off" in body


def test_logging_a_note_with_htmx_answers_the_new_entry_and_a_fresh_form(client, rep, deal):
    response = _signed_in(client, rep).post(
        reverse("deal-activity", args=[deal.pk]),
        {"kind": "note", "subject": "Called back", "body": "All good"},
        **HTMX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<li class="timeline__item timeline__item--note"')
    assert 'hx-swap-oob="true"' in body
    assert "Note “Called back” logged." in body
    activity = Activity.objects.get(subject="Called back")
    assert (activity.deal_id, activity.account_id, activity.author_id) == (
        deal.pk,
        deal.account_id,
        rep.pk,
    )


def test_logging_without_a_subject_answers_the_form_with_its_error(client, rep, deal):
    response = _signed_in(client, rep).post(
        reverse("deal-activity", args=[deal.pk]), {"kind": "call", "subject": ""}, **HTMX
    )
    assert response["HX-Retarget"] == "#activity-form"
    assert "This field is required." in response.content.decode()
    assert not Activity.objects.exists()


def test_logging_without_script_redirects_back(client, rep, deal):
    response = _signed_in(client, rep).post(
        reverse("deal-activity", args=[deal.pk]), {"kind": "client_visit", "subject": "On site"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("deal-detail", args=[deal.pk])


def test_account_page_logs_an_activity_on_the_account(client, rep, deal):
    response = _signed_in(client, rep).post(
        reverse("account-activity", args=[deal.account_id]),
        {"kind": "email", "subject": "Sent the offer"},
        **HTMX,
    )
    assert response.status_code == 200
    activity = Activity.objects.get(subject="Sent the offer")
    assert (activity.account_id, activity.deal_id) == (deal.account_id, None)
    body = (
        _signed_in(client, rep)
        .get(reverse("account-detail", args=[deal.account_id]))
        .content.decode()
    )
    assert "Sent the offer" in body and "Acme renewal" in body


def test_account_list_searches_and_filters(client, manager, rep, rep2):
    territory = Territory.objects.create(name="Nordics")
    AccountFactory(owner=rep, name="Fjord Fisheries", territory=territory)
    AccountFactory(owner=rep2, name="Harbour Supplies")
    client = _signed_in(client, manager)
    assert "Fjord Fisheries" in client.get(reverse("account-list"), {"q": "fjord"}).content.decode()
    by_owner = client.get(reverse("account-list"), {"owner": rep2.pk}).content.decode()
    assert "Harbour Supplies" in by_owner and "Fjord Fisheries" not in by_owner
    by_territory = client.get(reverse("account-list"), {"territory": territory.pk}).content.decode()
    assert "Fjord Fisheries" in by_territory and "Harbour Supplies" not in by_territory


# The picker


def _pick(rf, user, session=None, **params):
    request = rf.get("/", params)
    request.user = user
    request.session = session if session is not None else {}
    return picked(request), request.session


def test_picker_defaults_by_role(rf, rep, manager, admin):
    assert _pick(rf, rep)[0].kind == "me"
    assert (_pick(rf, manager)[0].kind, _pick(rf, manager)[0].id) == ("team", manager.pk)
    assert (_pick(rf, admin)[0].kind, _pick(rf, admin)[0].id) == ("team", None)


def test_picker_refuses_picks_outside_reach(rf, rep, rep2, manager, outsider, other_manager):
    assert _pick(rf, rep, scope="team", scope_id=manager.pk)[0].kind == "me"
    assert _pick(rf, rep, scope="rep", scope_id=rep2.pk)[0].id == rep.pk
    assert (_pick(rf, manager, scope="rep", scope_id=outsider.pk)[0].kind) == "team"
    assert (_pick(rf, manager, scope="team", scope_id=other_manager.pk)[0].id) == manager.pk
    assert (_pick(rf, manager, scope="rep", scope_id=rep2.pk)[0].id) == rep2.pk


def test_picker_remembers_the_choice_in_the_session(rf, manager, rep2):
    first, session = _pick(
        rf,
        manager,
        scope="rep",
        scope_id=rep2.pk,
        period="custom",
        start="2026-01-01",
        end="2026-03-31",
    )
    assert (first.period.start, first.period.end, first.period.preset) == (
        datetime.date(2026, 1, 1),
        datetime.date(2026, 4, 1),
        "custom",
    )
    again, _ = _pick(rf, manager, session=session)
    assert again == first
    only_period, _ = _pick(rf, manager, session=session, period="30d")
    assert (only_period.kind, only_period.id, only_period.period.preset) == ("rep", rep2.pk, "30d")


def test_picker_periods(rf, rep):
    today = timezone.localdate()
    ytd, _ = _pick(rf, rep, period="ytd")
    assert (ytd.period.start, ytd.period.end) == (
        today.replace(month=1, day=1),
        today + datetime.timedelta(days=1),
    )
    backwards, _ = _pick(rf, rep, period="custom", start="2026-05-01", end="2026-04-01")
    assert backwards.period.preset == "90d"


def test_scope_filter_selects_the_picked_deals(rf, manager, rep, rep2, pipeline):
    mine = DealFactory(owner=rep, pipeline=pipeline)
    theirs = DealFactory(owner=rep2, pipeline=pipeline)
    one, _ = _pick(rf, manager, scope="rep", scope_id=rep.pk)
    team, _ = _pick(rf, manager)
    assert list(Deal.objects.filter(one.scope.deal_filter())) == [mine]
    assert set(Deal.objects.filter(team.scope.deal_filter())) == {mine, theirs}


def test_pages_remember_the_pick(client, manager, rep, rep2, pipeline):
    DealFactory(owner=rep, pipeline=pipeline, name="Riley deal")
    DealFactory(owner=rep2, pipeline=pipeline, name="Robin deal")
    client = _signed_in(client, manager)
    client.get(reverse("deal-list"), {"scope": "rep", "scope_id": rep2.pk})
    body = client.get(reverse("board")).content.decode()
    assert "Robin deal" in body and "Riley deal" not in body
