"""CSV and XLSX files of a report's table: the columns and rows the page shows, streamed.

CSV is written row by row into the response, a few hundred rows a chunk, so
a million rows never sit in memory. XLSX is written the same way, as the zip
goes out (``reports.catalog.xlsx``): rows are read only as the response is. Cells keep their type in XLSX: money and
counts are numbers, dates are dates, shares are fractions formatted as
percentages, so a spreadsheet can sum and sort them.
"""

import csv
import datetime
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from django.http import StreamingHttpResponse

from reports.catalog.base import Column
from reports.catalog.xlsx import xlsx_chunks

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NUMBER_FORMATS = {
    "int": "#,##0",
    "number": "#,##0.0",
    "days": "#,##0.0",
    "money": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
}
# Text a spreadsheet would run as a formula is written with a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows joined into one chunk of the CSV response (a write each for the server, not one per row).
CSV_ROWS_PER_CHUNK = 500


def csv_header(column: Column) -> str:
    if column.kind == "percent":
        return f"{column.label} ({'pts' if column.change else '%'})"
    return column.label


def csv_cell(column: Column, value) -> str:
    if value is None:
        return ""
    if column.kind == "percent":
        return f"{float(value) * 100:.1f}"
    if column.kind == "money":
        return f"{Decimal(value):.2f}"
    if column.kind in ("number", "days"):
        return f"{float(value):.1f}"
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file whose write hands the line back, so csv.writer output can be yielded."""

    def write(self, value):
        return value


def csv_response(
    columns: list[Column], rows: Iterable[dict], filename: str
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        # A byte-order mark, so spreadsheets read the file as UTF-8, and the header, before any row is read.
        yield "\ufeff" + writer.writerow([csv_header(column) for column in columns])
        batch: list[str] = []
        for row in rows:
            batch.append(
                writer.writerow([csv_cell(column, row.get(column.key)) for column in columns])
            )
            if len(batch) == CSV_ROWS_PER_CHUNK:
                yield "".join(batch)
                batch.clear()
        if batch:
            yield "".join(batch)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def xlsx_value(column: Column, value):
    if value is None or value == "":
        return None
    if column.kind in ("money", "number", "days", "percent"):
        return float(value)
    if column.kind == "int":
        return int(value)
    if column.kind == "date":
        if isinstance(value, datetime.datetime):
            return value.replace(tzinfo=None)
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def cell_format(column: Column) -> str | None:
    """The cell format of a column; a change shows its sign."""
    shown = NUMBER_FORMATS.get(column.kind)
    if not column.change or shown is None:
        return shown
    return f"+{shown};-{shown};{shown}"


def _xlsx_rows(columns: list[Column], rows: Iterable[dict]) -> Iterator[list]:
    for row in rows:
        yield [xlsx_value(column, row.get(column.key)) for column in columns]


def xlsx_file(columns: list[Column], rows: Iterable[dict], title: str) -> Iterator[bytes]:
    """The table as XLSX bytes, in chunks, reading ``rows`` only as the chunks are read."""
    return xlsx_chunks(
        [column.label for column in columns],
        [cell_format(column) for column in columns],
        _xlsx_rows(columns, rows),
        title or "Report",
    )


def write_xlsx(columns: list[Column], rows: Iterable[dict], title: str, target) -> None:
    """Write the table into ``target`` (a path or a binary file) as one sheet, row by row."""
    if isinstance(target, str | Path):
        with open(target, "wb") as file:
            write_xlsx(columns, rows, title, file)
        return
    for chunk in xlsx_file(columns, rows, title):
        target.write(chunk)

    if isinstance(target, str | Path):
        with open(target, "wb") as file:
            write_xlsx(columns, rows, title, file)
        return
    for chunk in xlsx_file(columns, rows, title):
        target.write(chunk)


def xlsx_response(
    columns: list[Column], rows: Iterable[dict], filename: str, title: str
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(xlsx_file(columns, rows, title), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response
