"""Products sold: units and value per product on won deals, against the period before, worked out by hand.

The period is February 2026 (28 days), so the previous period is 4-31 January.
Won deals (lines are quantity x unit price, less a discount in percent):

- D1 rep, USD, won 10 Feb: Widget 3 x 100 -10% = 270.00; Gadget 1 x 500 = 500.00;
  Gizmo 3 x 33.33 -10% = 89.991 -> 89.99.
- D2 rep2, EUR (1.5 USD), won 20 Feb: Widget 2 x 100 = 200 EUR = 300.00.
- D3 rep, USD, won 15 Jan (previous): Widget 1 x 100 = 100.00; Gizmo 4 x 50 = 200.00.
- D4 outsider (another team), USD, won 10 Feb: Gadget 10 x 500 = 5,000.00.
- D5 rep, lost 10 Feb, and D7 rep, open: their lines do not count.
- D6 rep, won 1 Dec 2025: before both periods.
- D8 rep, JPY (no rate), won 25 Feb: Widget 1 x 1,000 JPY: its unit counts, its value is left out.

The manager's team by product: Widget 6 units, 570.00 (previous 100.00, +470.00, +470%);
Gadget 1, 500.00 (previous 0, +500.00); Gizmo 3, 89.99 (previous 200.00, -110.01, -55.005%).
"""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from pipeline.services.rates import exchange_rate_create
from quotas.services import territory_create
from tests.conftest import rollup_check
from tests.factories import AccountFactory, LostReasonFactory, ProductFactory

URL = "/reports/products-sold/"
FEBRUARY = "?period=custom&start=2026-02-01&end=2026-02-28"


def moment(day: str) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.fromisoformat(f"{day}T12:00:00"))


@pytest.fixture
def products(db):
    return {
        name: ProductFactory(name=name, sku=sku, unit_price=Decimal(price))
        for name, sku, price in (
            ("Widget", "W-1", "100"),
            ("Gadget", "G-1", "500"),
            ("Gizmo", "Z-1", "50"),
        )
    }


@pytest.fixture
def sales(admin, manager, rep, rep2, outsider, pipeline, stages, products):
    exchange_rate_create(
        currency="EUR", valid_from=datetime.date(2025, 1, 1), rate=Decimal("1.5"), by=admin
    )
    north = territory_create(name="North", by=admin)
    accounts = {
        rep: AccountFactory(owner=rep, territory=north),
        rep2: AccountFactory(owner=rep2),
        outsider: AccountFactory(owner=outsider),
    }
    widget, gadget, gizmo = (products[name].pk for name in ("Widget", "Gadget", "Gizmo"))
    won, lost, first = stages["Won"], stages["Lost"], stages["Qualification"]
    reason = LostReasonFactory(name="Price")

    def spec(name, owner, stage, currency, closed, lines, created="2025-11-01"):
        amount = sum(
            (
                (Decimal(q) * Decimal(p) * (100 - Decimal(d)) / 100).quantize(Decimal("0.01"))
                for _, q, p, d in lines
            ),
            Decimal("0"),
        )
        moves = [TransitionSpec(to_stage_id=first.pk, at=moment(created), by_id=owner.pk)]
        if closed:
            moves.append(TransitionSpec(to_stage_id=stage.pk, at=moment(closed), by_id=owner.pk))
        return DealSpec(
            name=name,
            account_id=accounts[owner].pk,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=stage.pk,
            amount=amount,
            currency=currency,
            expected_close_date=datetime.date(2026, 3, 1),
            forecast_category="pipeline",
            created_at=moment(created),
            lost_reason_id=reason.pk if stage == lost else None,
            transitions=moves,
            changes=[],
            line_items=[(pk, Decimal(q), Decimal(p), Decimal(d)) for pk, q, p, d in lines],
        )

    specs = [
        spec("D1", rep, won, "USD", "2026-02-10",
             [(widget, "3", "100", "10"), (gadget, "1", "500", "0"), (gizmo, "3", "33.33", "10")]),
        spec("D2", rep2, won, "EUR", "2026-02-20", [(widget, "2", "100", "0")]),
        spec("D3", rep, won, "USD", "2026-01-15", [(widget, "1", "100", "0"), (gizmo, "4", "50", "0")]),
        spec("D4", outsider, won, "USD", "2026-02-10", [(gadget, "10", "500", "0")]),
        spec("D5", rep, lost, "USD", "2026-02-10", [(widget, "5", "100", "0")]),
        spec("D6", rep, won, "USD", "2025-12-01", [(gadget, "1", "500", "0")]),
        spec("D7", rep, first, "USD", None, [(widget, "7", "100", "0")]),
        spec("D8", rep, won, "JPY", "2026-02-25", [(widget, "1", "1000", "0")]),
    ]  # fmt: skip
    return deals_import(specs=specs, by=admin)


def result(client, user, query=""):
    client.force_login(user)
    response = client.get(URL + FEBRUARY + query)
    assert response.status_code == 200
    return response.context["result"]


def figures(rows, *keys):
    return [tuple(row[key] for key in keys) for row in rows]


KEYS = ("product", "sku", "units", "value", "previous", "change")


def test_the_managers_team_by_product_matches_the_hand_worked_figures(client, manager, sales):
    answer = result(client, manager)
    assert figures(answer.rows, *KEYS) == [
        ("Widget", "W-1", Decimal("6"), Decimal("570.00"), Decimal("100.00"), Decimal("470.00")),
        ("Gadget", "G-1", Decimal("1"), Decimal("500.00"), Decimal("0.00"), Decimal("500.00")),
        ("Gizmo", "Z-1", Decimal("3"), Decimal("89.99"), Decimal("200.00"), Decimal("-110.01")),
    ]
    assert [row["change_pct"] for row in answer.rows] == [
        pytest.approx(4.7),
        None,
        pytest.approx(-0.55005),
    ]
    assert answer.totals["value"] == Decimal("1159.99") and answer.totals["previous"] == Decimal(
        "300.00"
    )
    assert answer.totals["change_pct"] == pytest.approx(859.99 / 300)
    assert [m["label"] for m in answer.extra["up"]] == ["Gadget", "Widget"]
    assert [m["text"] for m in answer.extra["up"]] == ["+500", "+470 (+470%)"]
    assert [m["text"] for m in answer.extra["down"]] == ["-110 (-55%)"]
    assert answer.notes == [
        "1 deal in JPY (JPY 1,000.00) has no exchange rate to USD and is left out."
    ]
    assert answer.charts[0].figure["data"][0]["x"] == [570.0, 500.0, 89.99]


def test_by_rep_team_and_territory(client, manager, sales):
    by_rep = result(client, manager, "&by=rep")
    assert figures(by_rep.rows, "group", "product", "value", "previous") == [
        ("Riley Rep", "Gadget", Decimal("500.00"), Decimal("0.00")),
        ("Riley Rep", "Widget", Decimal("270.00"), Decimal("100.00")),
        ("Riley Rep", "Gizmo", Decimal("89.99"), Decimal("200.00")),
        ("Robin Rep", "Widget", Decimal("300.00"), Decimal("0.00")),
    ]
    assert [c.label for c in by_rep.columns][:2] == ["Rep", "Product"]
    by_team = result(client, manager, "&by=team")
    assert {row["group"] for row in by_team.rows} == {"Morgan Manager"}
    assert sum(row["value"] for row in by_team.rows) == Decimal("1159.99")
    by_territory = result(client, manager, "&by=territory")
    assert figures(by_territory.rows, "group", "product", "units", "value") == [
        ("No territory", "Widget", Decimal("2"), Decimal("300.00")),
        ("North", "Gadget", Decimal("1"), Decimal("500.00")),
        ("North", "Widget", Decimal("4"), Decimal("270.00")),
        ("North", "Gizmo", Decimal("3"), Decimal("89.99")),
    ]


def test_a_bad_breakdown_falls_back_to_product_with_a_note(client, manager, sales):
    answer = result(client, manager, "&by=colour")
    assert answer.extra["breakdown"].key == "product"
    assert [row["product"] for row in answer.rows] == ["Widget", "Gadget", "Gizmo"]
    assert answer.notes[0].startswith(
        "No breakdown by 'colour' (by is one of product, rep, team, territory)"
    )


@pytest.mark.parametrize(
    "who, widget_units, gadget_value",
    [
        ("admin", Decimal("6"), Decimal("5500.00")),
        ("manager", Decimal("6"), Decimal("500.00")),
        ("other_manager", None, Decimal("5000.00")),
        ("rep", Decimal("4"), Decimal("500.00")),
        ("rep2", Decimal("2"), None),
        ("outsider", None, Decimal("5000.00")),
    ],
)
def test_each_role_sees_only_its_own_sales(client, request, sales, who, widget_units, gadget_value):
    rows = {row["product"]: row for row in result(client, request.getfixturevalue(who)).rows}
    assert (rows["Widget"]["units"] if "Widget" in rows else None) == widget_units
    assert (rows["Gadget"]["value"] if "Gadget" in rows else None) == gadget_value


# The session, the user, the picker's choices and the report: one grouped query, one for the names
# of the groups but products, one listing deals without a rate (D8 has none); on PostgreSQL, by
# product or rep, one look at whether the products rollup may answer.
QUERIES = {"product": 7, "rep": 8, "territory": 8}
ROLLED = ("product", "rep")


@pytest.mark.parametrize("by", ["product", "rep", "territory"])
def test_the_page_takes_the_same_queries_with_twice_the_deals(
    client, manager, sales, admin, rep, pipeline, stages, products, django_assert_num_queries, by
):
    client.force_login(manager)
    client.get(URL + FEBRUARY + f"&by={by}")

    def count():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL + FEBRUARY + f"&by={by}").status_code == 200
        return len(queries)

    before = count()
    assert before == QUERIES[by] + (rollup_check() if by in ROLLED else 0)
    account = AccountFactory(owner=rep)
    more = [
        DealSpec(
            name=f"More {n}", account_id=account.pk, owner_id=rep.pk, pipeline_id=pipeline.pk,
            stage_id=stages["Won"].pk, amount=Decimal("100.00"), currency="EUR",
            expected_close_date=datetime.date(2026, 3, 1), forecast_category="pipeline",
            created_at=moment("2026-01-02"), lost_reason_id=None,
            transitions=[
                TransitionSpec(to_stage_id=stages["Qualification"].pk, at=moment("2026-01-02")),
                TransitionSpec(to_stage_id=stages["Won"].pk, at=moment(f"2026-02-{n + 1:02d}")),
            ],
            changes=[], line_items=[(products["Gizmo"].pk, Decimal("2"), Decimal("50"), Decimal("0"))],
        )
        for n in range(8)
    ]  # fmt: skip
    deals_import(specs=more, by=admin)
    with django_assert_num_queries(before):
        client.get(URL + FEBRUARY + f"&by={by}")


def test_the_exports_hold_the_table_with_typed_cells(client, manager, sales):
    client.force_login(manager)
    response = client.get("/reports/products-sold/export.csv" + FEBRUARY + "&by=rep")
    text = b"".join(response.streaming_content).decode().lstrip("\ufeff")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == [
        "Rep", "Product", "SKU", "Units", "Value (USD)", "Previous period", "Change", "Change (%)",
    ]  # fmt: skip
    assert lines[1] == ["Riley Rep", "Gadget", "G-1", "1.0", "500.00", "0.00", "500.00", ""]
    assert lines[3] == ["Riley Rep", "Gizmo", "Z-1", "3.0", "89.99", "200.00", "-110.01", "-55.0"]
    assert lines[-1] == ["Total", "", "", "", "1159.99", "300.00", "859.99", "286.7"]
    response = client.get("/reports/products-sold/export.xlsx" + FEBRUARY)
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[1][:6] == ["Widget", "W-1", 6.0, 570.0, 100.0, 470.0]
    assert rows[1][6] == pytest.approx(4.7) and sheet["G2"].number_format == "0.0%"


def test_the_page_shows_the_movers_and_the_breakdown_choice(client, manager, sales):
    client.force_login(manager)
    html = client.get(URL + FEBRUARY).content.decode()
    assert 'data-testid="movers-up"' in html and "Gadget: +500" in html
    assert 'href="?by=territory"' in html


def test_the_won_lines_are_those_of_the_scopes_won_deals_on_random_data(
    admin, manager, rep, rep2, outsider, pipeline, stages, products
):
    """``won_deal_lines`` (the deals filtered through the line's join) holds exactly the lines the
    report read before, those whose deal is among ``closed_deal_rows``' won deals of the window,
    for every kind of scope, on drawn deals: won, lost and open, in and out of the window,
    deleted, in a territory or not."""
    import random

    from pipeline.models import Deal, DealLineItem
    from pipeline.scopes import Scope
    from reports.catalog.products_sold import won_deal_lines
    from reports.metrics import closed_deal_rows
    from tests.factories import DealFactory

    draw = random.Random(20261205)
    north = territory_create(name="North", by=admin)
    owners = [rep, rep2, outsider, manager]
    kinds = [stages["Won"], stages["Lost"], stages["Qualification"]]
    for index in range(60):
        owner = draw.choice(owners)
        account = AccountFactory(owner=owner, territory=north if draw.random() < 0.5 else None)
        deal = DealFactory(owner=owner, pipeline=pipeline, account=account, name=f"R{index}")
        stage = draw.choice(kinds)
        closed = moment("2026-01-01") + datetime.timedelta(days=draw.randrange(0, 90))
        Deal.objects.filter(pk=deal.pk).update(
            stage=stage,
            status=stage.kind,
            closed_at=None if stage.kind == "open" else closed,
            deleted_at=timezone.now() if draw.random() < 0.1 else None,
        )
        for product in draw.sample(list(products.values()), draw.randrange(0, 3)):
            DealLineItem.objects.create(
                deal_id=deal.pk, product=product, quantity=Decimal(draw.randrange(1, 9)),
                unit_price=Decimal("10"), discount_pct=Decimal("0"),
            )  # fmt: skip
    start, end = moment("2026-01-20"), moment("2026-03-01")
    widget = products["Widget"].pk
    scopes = [Scope(), Scope(owner=rep.pk), Scope(team=manager.pk), Scope(territory=north.pk),
              Scope(pipeline=pipeline.pk), Scope(product=widget), Scope(team=manager.pk, product=widget)]  # fmt: skip
    held = []
    for scope in scopes:
        won = closed_deal_rows(scope).filter(status="won", closed_at__gte=start, closed_at__lt=end)
        before = set(
            DealLineItem.objects.filter(deal_id__in=won.values("id")).values_list("pk", flat=True)
        )
        assert set(won_deal_lines(scope, start, end).values_list("pk", flat=True)) == before
        held.append(len(before))
    assert held[0] > held[1] > 0  # the drawn deals reach the window, the rep's a part of them
