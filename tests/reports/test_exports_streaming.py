"""Exports stream: rows are read only as the response is, so a million rows are never held at once.

A counting generator stands for a report's server-side cursor: it must not be
touched before the first chunk (the header) is read, and reading a chunk
reads at most a chunk's worth of rows. ``benchmarks/exports.py`` measures the
memory and time at 10k to 1M rows.
"""

import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from reports.catalog import REPORTS, Column, Report
from reports.catalog.exports import CSV_ROWS_PER_CHUNK, csv_response, write_xlsx, xlsx_response
from reports.catalog.xlsx import ROWS_PER_CHUNK
from tests.factories import DealFactory

COLUMNS = [
    Column("name", "Name"),
    Column("deals", "Deals", "int"),
    Column("value", "Value", "money"),
    Column("share", "Share", "percent"),
    Column("day", "Day", "date"),
]
ROWS = 5000


class Counted:
    """Rows made on demand that count how many were read."""

    def __init__(self, count: int):
        self.count, self.read = count, 0

    def __iter__(self):
        for n in range(self.count):
            self.read += 1
            yield {
                "name": f"Deal {n}",
                "deals": n,
                "value": Decimal("10.50"),
                "share": 0.25,
                "day": datetime.date(2026, 1, 1),
            }


def test_the_csv_export_reads_no_row_before_its_header_is_sent_and_then_a_chunk_at_a_time():
    rows = Counted(ROWS)
    response = csv_response(COLUMNS, iter(rows), "x")
    assert isinstance(response, StreamingHttpResponse) and rows.read == 0
    chunks = iter(response.streaming_content)
    assert next(chunks).decode().lstrip("\ufeff") == "Name,Deals,Value,Share (%),Day\r\n"
    assert rows.read == 0
    first = next(chunks).decode()
    assert first.startswith("Deal 0,0,10.50,25.0,2026-01-01\r\n")
    assert rows.read <= CSV_ROWS_PER_CHUNK + 1 < ROWS
    assert sum(1 for _ in chunks) >= 1 and rows.read == ROWS


def test_the_xlsx_export_streams_as_it_is_written_and_opens_with_typed_cells():
    rows = Counted(ROWS)
    response = xlsx_response(COLUMNS, iter(rows), "x", "Lost reasons: by stage?")
    assert isinstance(response, StreamingHttpResponse) and rows.read == 0
    chunks = iter(response.streaming_content)
    body = [next(chunks)]
    assert rows.read == 0  # the fixed parts of the file go first
    body.append(next(chunks))
    assert rows.read <= ROWS_PER_CHUNK + 1 < ROWS
    body.extend(chunks)
    book = load_workbook(io.BytesIO(b"".join(body)))
    sheet = book.active
    assert sheet.title == "Lost reasons  by stage"
    assert [cell.value for cell in sheet[1]] == ["Name", "Deals", "Value", "Share", "Day"]
    assert sheet["A1"].font.b and not sheet["A2"].font.b
    assert [cell.value for cell in sheet[2]] == [
        "Deal 0",
        0,
        10.5,
        0.25,
        datetime.datetime(2026, 1, 1),
    ]
    assert sheet["C2"].number_format == "#,##0.00" and sheet["E2"].number_format == "yyyy-mm-dd"
    assert sheet.max_row == ROWS + 1 and sheet[f"B{ROWS + 1}"].value == ROWS - 1


def test_xlsx_text_keeps_markup_and_loses_characters_xml_cannot_hold():
    target = io.BytesIO()
    columns = [Column("name", "Name"), Column("at", "At", "date")]
    moment = datetime.datetime(2026, 3, 4, 18, 0)
    write_xlsx(columns, [{"name": "<b>A & B</b>\x07", "at": moment}], "x", target)
    sheet = load_workbook(io.BytesIO(target.getvalue())).active
    assert sheet["A2"].value == "<b>A & B</b>" and sheet["B2"].value == moment


class ManyRows(Report):
    slug = "test-many-rows"
    title = "Many rows"
    roles = ("admin",)
    source: Counted | None = None

    def export_rows(self, user, pick, today, **options):
        type(self).source = Counted(ROWS)
        return COLUMNS, iter(type(self).source)


@pytest.fixture
def many_rows():
    REPORTS[ManyRows.slug] = ManyRows()
    yield
    REPORTS.pop(ManyRows.slug, None)


@pytest.mark.parametrize("fmt, per_chunk", [("csv", CSV_ROWS_PER_CHUNK), ("xlsx", ROWS_PER_CHUNK)])
def test_the_report_export_view_streams_its_rows_lazily(client, admin, many_rows, fmt, per_chunk):
    client.force_login(admin)
    response = client.get(f"/reports/test-many-rows/export.{fmt}")
    assert response.status_code == 200 and response.streaming
    assert ManyRows.source.read == 0
    chunks = iter(response.streaming_content)
    next(chunks), next(chunks)
    assert 0 < ManyRows.source.read <= per_chunk + 1


def test_the_deal_list_export_queries_its_rows_only_as_it_is_read(client, manager, rep, pipeline):
    for _ in range(3):
        DealFactory(owner=rep, pipeline=pipeline)
    client.force_login(manager)
    response = client.get("/deals/export.csv")
    assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
    with CaptureQueriesContext(connection) as reading:
        body = b"".join(response.streaming_content).decode()
    assert any("pipeline_deal" in query["sql"] for query in reading.captured_queries)
    assert len(body.splitlines()) == 4
