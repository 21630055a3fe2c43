"""Reading a spreadsheet (CSV or XLSX) row by row, guessing its columns, and reading its cells.

Rows are streamed: a CSV is read line by line and an XLSX in openpyxl's
read-only mode, so a file of a million rows never sits in memory.
"""

import csv
import datetime
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.utils import timezone

from pipeline.models import ImportKind


class UnreadableFile(ValueError):
    """The file is not a CSV or XLSX spreadsheet with a row of column names."""


@dataclass(frozen=True)
class Column:
    """A field an import writes, the words other CRMs use for it in their headers, and whether it must be given."""

    name: str
    label: str
    synonyms: tuple[str, ...]
    required: bool = False
    help: str = ""


COLUMNS: dict[str, tuple[Column, ...]] = {
    ImportKind.DEALS: (
        Column("external_id", "External id", ("external id", "id", "record id", "deal id", "opportunity id", "crm id"), help="Upsert key: the same id updates the deal imported before."),
        Column("name", "Deal name", ("deal name", "opportunity name", "name", "deal", "opportunity", "title"), required=True),
        Column("account", "Account", ("account", "account name", "company", "company name", "organization", "organisation", "customer", "account external id"), required=True, help="The account's name or external id."),
        Column("owner", "Owner", ("owner", "deal owner", "opportunity owner", "owner email", "owner username", "assigned to", "sales rep", "salesperson", "user"), help="Username or e-mail; you when empty."),
        Column("pipeline", "Pipeline", ("pipeline", "sales pipeline", "process"), help="The pipeline's name; needed when there are several."),
        Column("stage", "Stage", ("stage", "deal stage", "pipeline stage", "sales stage", "opportunity stage"), required=True, help="The stage's name."),
        Column("amount", "Amount", ("amount", "deal amount", "value", "deal value", "opportunity amount", "price", "total"), help="The products' total when empty."),
        Column("currency", "Currency", ("currency", "currency code", "deal currency", "opportunity currency", "iso code")),
        Column("expected_close_date", "Expected close date", ("expected close date", "close date", "closing date", "expected close", "close", "expected closing date"), required=True),
        Column("forecast_category", "Forecast category", ("forecast category", "forecast", "category")),
        Column("lost_reason", "Lost reason", ("lost reason", "loss reason", "reason lost", "closed lost reason")),
        Column("created_at", "Created", ("created", "created at", "created date", "create date", "created on", "date created"), help="Admins only, for a date in the past."),
        Column("products", "Products", ("products", "product", "line items", "skus", "sku"), help="SKUs or names separated by ';', each with an optional '*quantity'."),
    ),
    ImportKind.ACCOUNTS: (
        Column("external_id", "External id", ("external id", "id", "record id", "account id", "company id", "crm id")),
        Column("name", "Account name", ("account name", "name", "company", "company name", "organization", "organisation", "account"), required=True),
        Column("owner", "Owner", ("owner", "account owner", "company owner", "owner email", "assigned to", "user"), help="Username or e-mail; you when empty."),
        Column("industry", "Industry", ("industry", "sector", "vertical")),
        Column("region", "Region", ("region", "state", "province", "area")),
        Column("country", "Country", ("country", "country code", "billing country")),
        Column("postcode", "Postcode", ("postcode", "postal code", "zip", "zip code", "billing postal code")),
        Column("employee_count", "Employees", ("employees", "employee count", "number of employees", "headcount", "size")),
        Column("annual_revenue", "Annual revenue", ("annual revenue", "revenue", "turnover")),
        Column("website", "Website", ("website", "web site", "url", "domain", "company domain name")),
        Column("created_at", "Created", ("created", "created at", "created date", "create date", "created on"), help="Admins only, for a date in the past."),
    ),
    ImportKind.CONTACTS: (
        Column("external_id", "External id", ("external id", "id", "record id", "contact id", "crm id")),
        Column("account", "Account", ("account", "account name", "company", "company name", "organization", "organisation", "account external id"), required=True, help="The account's name or external id."),
        Column("first_name", "First name", ("first name", "firstname", "given name", "first"), required=True),
        Column("last_name", "Last name", ("last name", "lastname", "surname", "family name", "last")),
        Column("title", "Title", ("title", "job title", "position", "role")),
        Column("email", "E-mail", ("email", "e mail", "email address", "work email")),
        Column("phone", "Phone", ("phone", "phone number", "telephone", "mobile", "work phone")),
    ),
}  # fmt: skip


def _normalised(header: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", str(header).lower()).split())


def mapping_guess(kind: str, headers: list[str], remembered: dict | None = None) -> dict[str, str]:
    """Field name -> header: the remembered choice where its header is still there, else the best synonym."""
    remembered = remembered or {}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for column in COLUMNS[kind]:
        header = remembered.get(column.name)
        if header in headers and header not in used:
            mapping[column.name] = header
            used.add(header)
    by_words = {_normalised(h): h for h in reversed(headers)}
    for column in COLUMNS[kind]:
        if column.name in mapping or column.name in remembered:
            continue  # a field the person left unmapped stays so
        for synonym in (_normalised(column.name), *column.synonyms):
            header = by_words.get(synonym)
            if header is not None and header not in used:
                mapping[column.name] = header
                used.add(header)
                break
    return mapping


def mapping_errors(kind: str, mapping: dict, headers: list[str]) -> dict[str, list[str]]:
    """What is wrong with a mapping: a required field without a column, a column that is not in the file."""
    errors: dict[str, list[str]] = {}
    names = {column.name for column in COLUMNS[kind]}
    for name, header in mapping.items():
        if name not in names:
            errors.setdefault(name, []).append(f"No field {name!r} in an import of {kind}.")
        elif header and header not in headers:
            errors.setdefault(name, []).append(f"The file has no column {header!r}.")
    for column in COLUMNS[kind]:
        if column.required and not mapping.get(column.name):
            errors.setdefault(column.name, []).append(
                f"Choose the column that holds the {column.label.lower()}."
            )
    return errors


def is_xlsx(name: str) -> bool:
    return name.lower().endswith(".xlsx")


def _text(cell: Any) -> Any:
    """A cell as it was typed: strings stripped, numbers and dates left as they are, empty as ''."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell.strip()
    return cell


def read_rows(handle: IO[bytes], name: str) -> Iterator[tuple[int, list]]:
    """The file's rows that are not blank, the header row first, each as (its row number, its cells).

    Raises ``UnreadableFile``.
    """
    if is_xlsx(name):
        yield from _xlsx_rows(handle)
        return
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        sample = text.read(64 * 1024)
        text.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        for number, row in enumerate(csv.reader(text, dialect), start=1):
            if any(cell.strip() for cell in row):
                yield number, [cell.strip() for cell in row]
    except UnicodeDecodeError as exc:
        raise UnreadableFile("The file is neither UTF-8 text (CSV) nor an .xlsx workbook.") from exc
    except csv.Error as exc:
        raise UnreadableFile(f"The CSV cannot be read: {exc}.") from exc
    finally:
        text.detach()


def _xlsx_rows(handle: IO[bytes]) -> Iterator[tuple[int, list]]:
    from openpyxl import load_workbook  # only XLSX imports pay for loading it

    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise UnreadableFile("The file is not an .xlsx workbook.") from exc
    try:
        for number, row in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            cells = [_text(cell) for cell in row]
            while cells and cells[-1] == "":
                cells.pop()
            if cells:
                yield number, cells
    finally:
        workbook.close()


def headers_of(handle: IO[bytes], name: str) -> tuple[list[str], int]:
    """The column names and the number of data rows; raises ``UnreadableFile``."""
    rows = read_rows(handle, name)
    _, header = next(rows, (0, None))
    if not header:
        raise UnreadableFile("The file is empty: its first row must name the columns.")
    headers = [str(cell).strip() for cell in header]
    if any(not h for h in headers) or len(set(headers)) != len(headers):
        raise UnreadableFile("Every column needs a name of its own in the first row.")
    return headers, sum(1 for _ in rows)


# Reading cells. Each reader answers (value, error message or None).


def read_text(cell: Any) -> str:
    if type(cell) is str:
        return cell  # the readers strip it already
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(_text(cell))


def read_decimal(cell: Any, label: str) -> tuple[Decimal | None, str | None]:
    """A money amount; ``1,250.50``, ``$ 1250.5`` and spreadsheet numbers are read."""
    if cell == "" or cell is None:
        return None, None
    if isinstance(cell, int | float):
        cell = round(cell, 2)
    text = re.sub(r"[\s,$€£¥]", "", str(cell))
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, f"Cannot read the {label} {cell!r} as a number."
    if not number.is_finite() or number.as_tuple().exponent < -2:
        return None, f"The {label} {cell!r} has more than two decimal places."
    return number.quantize(Decimal("0.01")), None


def read_int(cell: Any, label: str) -> tuple[int | None, str | None]:
    if cell == "" or cell is None:
        return None, None
    try:
        number = Decimal(re.sub(r"[\s,]", "", str(cell)))
    except InvalidOperation:
        number = None
    if number is None or number != number.to_integral_value() or number < 0:
        return None, f"Cannot read the {label} {cell!r} as a whole number."
    return int(number), None


_DATE_FORMATS_DAY_FIRST = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
_DATE_FORMATS_MONTH_FIRST = ("%m/%d/%Y", "%d.%m.%Y", "%m-%d-%Y", "%m/%d/%y", "%d.%m.%y")
_TIME_SUFFIXES = ("", " %H:%M", " %H:%M:%S")


def read_date(cell: Any, label: str, *, day_first: bool) -> tuple[datetime.date | None, str | None]:
    """A calendar date: ISO ``2026-03-31`` (with a time or not), ``31/03/2026`` or ``03/31/2026``
    by ``day_first``, ``31.03.2026``, or a spreadsheet date."""
    if cell == "" or cell is None:
        return None, None
    if isinstance(cell, datetime.datetime):
        return cell.date(), None
    if isinstance(cell, datetime.date):
        return cell, None
    text = str(cell).strip()
    try:
        return datetime.date.fromisoformat(text[:10]), None
    except ValueError:
        pass
    formats = _DATE_FORMATS_DAY_FIRST if day_first else _DATE_FORMATS_MONTH_FIRST
    for base in formats:
        for suffix in _TIME_SUFFIXES:
            try:
                return datetime.datetime.strptime(text, base + suffix).date(), None
            except ValueError:
                continue
    return None, f"Cannot read the {label} {cell!r} as a date (use YYYY-MM-DD)."


def read_datetime(
    cell: Any, label: str, *, day_first: bool
) -> tuple[datetime.datetime | None, str | None]:
    """A moment: ISO with or without a time zone (the site's when none), or a date (its midnight)."""
    if cell == "" or cell is None:
        return None, None
    if isinstance(cell, datetime.datetime):
        moment = cell
    else:
        moment = None
        if isinstance(cell, str) and len(cell.strip()) > 10:
            try:
                moment = datetime.datetime.fromisoformat(cell.strip())
            except ValueError:
                moment = None
        if moment is None:
            day, error = read_date(cell, label, day_first=day_first)
            if error:
                return None, error
            moment = datetime.datetime.combine(day, datetime.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, None
