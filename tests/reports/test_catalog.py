"""The Reports menu's shared parts: the index, a report page with the picker, and CSV and XLSX exports.

A report defined here (a count of the scope's deals per owner) stands in for
the real ones, so these tests pin what every report gets from the framework:
scoping by role, exports holding exactly the page's table with typed cells,
and clear answers to a bad format or an unknown report.
"""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from openpyxl import load_workbook

from pipeline.models import Deal
from reports.catalog import REPORTS, Column, Report, ReportResult
from reports.catalog.exports import csv_response, write_xlsx
from tests.factories import DealFactory


class DealsPerOwner(Report):
    slug = "test-deals-per-owner"
    title = "Deals per owner"
    summary = "Open deals per owner."
    roles = ("admin", "manager", "rep")
    columns = [
        Column("owner", "Owner"),
        Column("deals", "Deals", "int"),
        Column("value", "Value", "money"),
        Column("share", "Share", "percent"),
        Column("first", "First created", "date"),
    ]

    def build(self, user, pick, today):
        deals = Deal.objects.filter(pick.scope.deal_filter(), deleted_at=None)
        grouped = (
            deals.values("owner__username")
            .annotate(deals=Count("id"), value=Sum("amount"))
            .order_by("owner__username")
        )
        total = sum(row["deals"] for row in grouped) or 1
        rows = [
            {
                "owner": row["owner__username"],
                "deals": row["deals"],
                "value": row["value"],
                "share": row["deals"] / total,
                "first": datetime.date(2026, 1, 2),
            }
            for row in grouped
        ]
        return ReportResult(
            columns=self.columns, rows=rows, totals={"owner": "Total", "deals": total}
        )


class ManagersOnly(DealsPerOwner):
    slug = "test-managers-only"
    title = "For managers"
    roles = ("admin", "manager")


@pytest.fixture(autouse=True)
def test_reports():
    for report_class in (DealsPerOwner, ManagersOnly):
        REPORTS[report_class.slug] = report_class()
    yield
    for report_class in (DealsPerOwner, ManagersOnly):
        REPORTS.pop(report_class.slug, None)


@pytest.fixture
def deals(rep, rep2, outsider, pipeline, stages):
    for owner, amount in ((rep, "100.00"), (rep, "250.50"), (rep2, "40.00"), (outsider, "999.00")):
        DealFactory(
            owner=owner, pipeline=pipeline, stage=stages["Discovery"], amount=Decimal(amount)
        )


def table_owners(response) -> set[str]:
    return {row["owner"] for row in response.context["result"].rows}


def test_the_index_lists_the_reports_a_role_may_open(client, rep, manager, deals):
    client.force_login(rep)
    shown = [report.slug for report in client.get("/reports/").context["reports"]]
    assert "test-deals-per-owner" in shown and "test-managers-only" not in shown
    client.force_login(manager)
    shown = [report.slug for report in client.get("/reports/").context["reports"]]
    assert "test-managers-only" in shown


@pytest.mark.parametrize(
    "who, owners",
    [
        ("admin", {"rep", "rep2", "outsider"}),
        ("manager", {"rep", "rep2"}),
        ("other_manager", {"outsider"}),
        ("rep", {"rep"}),
        ("rep2", {"rep2"}),
        ("outsider", {"outsider"}),
    ],
)
def test_a_report_shows_only_what_the_role_may_see(client, request, deals, who, owners):
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = client.get("/reports/test-deals-per-owner/")
    assert response.status_code == 200
    assert {owner for owner in table_owners(response)} == {
        request.getfixturevalue(name).username for name in owners
    }


def test_a_hand_made_scope_outside_reach_falls_back_to_the_users_own(
    client, rep, manager, deals, other_manager
):
    client.force_login(rep)
    response = client.get(f"/reports/test-deals-per-owner/?scope=team&scope_id={manager.pk}")
    assert table_owners(response) == {"rep"}
    client.force_login(manager)
    response = client.get(f"/reports/test-deals-per-owner/?scope=team&scope_id={other_manager.pk}")
    assert table_owners(response) == {"rep", "rep2"}


def test_a_report_a_role_may_not_open_is_not_found_nor_exported(client, rep, deals):
    client.force_login(rep)
    assert client.get("/reports/test-managers-only/").status_code == 404
    assert client.get("/reports/test-managers-only/export.csv").status_code == 404
    assert client.get("/reports/no-such-report/").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    for url in (
        "/reports/",
        "/reports/test-deals-per-owner/",
        "/reports/test-deals-per-owner/export.csv",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_an_unknown_export_format_is_not_found(client, manager, deals):
    client.force_login(manager)
    assert client.get("/reports/test-deals-per-owner/export.pdf").status_code == 404


def test_the_csv_export_holds_the_pages_table_and_its_totals(client, manager, deals):
    client.force_login(manager)
    response = client.get("/reports/test-deals-per-owner/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="test-deals-per-owner-')
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["Owner", "Deals", "Value", "Share (%)", "First created"],
        ["rep", "2", "350.50", "66.7", "2026-01-02"],
        ["rep2", "1", "40.00", "33.3", "2026-01-02"],
        ["Total", "3", "", "", ""],
    ]


def test_the_xlsx_export_has_real_numbers_and_dates(client, manager, deals):
    client.force_login(manager)
    response = client.get("/reports/test-deals-per-owner/export.xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == ["Owner", "Deals", "Value", "Share", "First created"]
    assert rows[1][:4] == ["rep", 2, 350.5, pytest.approx(2 / 3)]
    assert rows[1][4] == datetime.datetime(2026, 1, 2)
    assert sheet["D2"].number_format == "0.0%" and sheet["C2"].number_format == "#,##0.00"
    assert rows[-1][:2] == ["Total", 3]


def test_text_that_a_spreadsheet_would_run_is_quoted(tmp_path):
    columns = [Column("name", "Name")]
    rows = [{"name": '=HYPERLINK("http://x")'}, {"name": "+1"}, {"name": "plain"}]
    response = csv_response(columns, rows, "x")
    text = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK" in text and "'+1" in text
    write_xlsx(columns, rows, "x", tmp_path / "x.xlsx")
    values = [row[0].value for row in load_workbook(tmp_path / "x.xlsx").active.iter_rows()]
    assert values[1:] == ['\'=HYPERLINK("http://x")', "'+1", "plain"]


def test_the_page_draws_the_table_with_the_picker_and_export_links(client, manager, deals):
    client.force_login(manager)
    response = client.get("/reports/test-deals-per-owner/?period=90d")
    html = response.content.decode()
    assert 'data-testid="report-table"' in html and "350" in html
    assert 'href="/reports/test-deals-per-owner/export.csv?period=90d"' in html
    assert 'aria-label="Scope and period"' in html


def test_a_long_table_is_shown_a_page_at_a_time(client, admin, deals, monkeypatch):
    """Past ``TABLE_ROWS_PER_PAGE`` rows the page shows one page of the table with the pagination
    links and a note; the totals and the exports still cover every row; a page past the end
    shows the last one, a bad number the first with a note."""
    client.force_login(admin)
    url = "/reports/test-deals-per-owner/"
    whole = client.get(url).context["result"]
    assert whole.page is None and len(whole.rows) == 3
    monkeypatch.setattr("reports.catalog.base.TABLE_ROWS_PER_PAGE", 2)
    first, second = (client.get(url, {"page": n}) for n in (1, 2))
    assert first.context["result"].rows + second.context["result"].rows == whole.rows
    assert second.context["result"].totals == whole.totals
    page = first.context["result"].page
    assert (page.count, page.number, page.last_number, len(page.rows)) == (3, 1, 2, 2)
    assert len(second.context["result"].page.rows) == 1
    html = first.content.decode()
    assert "Showing 1–2 of 3" in html and 'rel="next"' in html
    assert "The table shows 2 rows a page; the exports hold all 3." in html
    assert client.get(url, {"page": 9}).context["result"].rows == whole.rows[2:]
    bad = client.get(url, {"page": "-1"}).context["result"]
    assert bad.page.number == 1 and bad.notes[0].startswith("page:")
    text = b"".join(client.get(url + "export.csv", {"page": 2}).streaming_content).decode()
    assert len(list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))) == 1 + 3 + 1
