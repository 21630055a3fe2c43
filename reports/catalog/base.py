"""What every report under the Reports menu shares: its columns, its answer and its registration.

A report is a class with a ``slug``, a ``title`` and a ``build`` method that
turns the user's pick (scope and period, already checked against what they may
see) into a ``ReportResult``: typed columns, rows, charts and notes. The page
draws the result; the CSV and XLSX exports write the same columns and rows, so
an export holds exactly what the page shows. A report whose rows can run to
millions overrides ``export_rows`` to yield them from a server-side cursor
instead of building a list.
"""

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from html import escape

from django.http import Http404, QueryDict
from django.utils.safestring import mark_safe

from pipeline.picker import Pick
from pipeline.views.common import Page
from reports.charts import Chart
from salesmgr.models import User

# What a column holds: how the page shows it and how CSV and XLSX write it.
KINDS = ("text", "int", "number", "money", "percent", "date", "days")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"
    # A change against another figure (a trend): shown with its sign and an arrow, a share in points.
    change: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Unknown column kind {self.kind!r}.")

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "date")

    def display(self, value) -> str:
        """The value as the page's table shows it."""
        if value is None or value == "":
            return "–" if self.numeric else ""
        if self.change:
            return self._display_change(value)
        if self.kind == "money":
            return f"{Decimal(value):,.0f}"
        if self.kind == "percent":
            return f"{float(value):.0%}"
        if self.kind == "int":
            return f"{int(value):,}"
        if self.kind in ("number", "days"):
            return f"{float(value):,.1f}"
        if self.kind == "date":
            return value.strftime("%-d %b %Y") if hasattr(value, "strftime") else str(value)
        return str(value)

    def _display_change(self, value) -> str:
        number = float(value)
        arrow = "▲" if number > 0 else "▼" if number < 0 else "→"
        if self.kind == "percent":
            return f"{arrow} {number * 100:+.1f} pts"
        if self.kind == "money":
            return f"{arrow} {Decimal(value):+,.0f}"
        if self.kind == "int":
            return f"{arrow} {int(value):+,}"
        return f"{arrow} {number:+,.1f}"


# A table longer than this is shown a page at a time (``paged``); the exports hold every row.
TABLE_ROWS_PER_PAGE = 100


def parse_page(raw: str | None) -> tuple[int, str | None]:
    """The table's page number from the query string, or the first with a note saying why."""
    if raw is None or raw == "":
        return 1, None
    if raw.isdigit() and 0 < int(raw) < 10**9:
        return int(raw), None
    return 1, f"page: {raw[:20]!r} is not a page number (1, 2, ...); showing the first page."


@dataclass
class ReportResult:
    """What a report shows: its table (columns and rows of dicts keyed by column), charts and notes."""

    columns: list[Column]
    rows: list[dict]
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # A last row summing the table, keyed like the rows (shown bold, exported as the last line).
    totals: dict | None = None
    # Extra context a report's own template part may use (see ``Report.template``).
    extra: dict = field(default_factory=dict)
    # The table's page when the table is shown a page at a time (the lists' ``Page``, whose rows
    # are those shown); the exports hold every row.
    page: Page | None = None

    def _row_html(self, row: dict, first_default: str = "") -> str:
        # The standard library's escape, as Django's does it, without the lazy-string check per cell.
        # A numeric cell needs none: ``display`` writes it from a number (digits, signs, arrows).
        first, *others = self.columns
        cells = [
            f'<th scope="row">{escape(first.display(row.get(first.key))) or first_default}</th>'
        ]
        for column in others:
            shown = column.display(row.get(column.key))
            if column.numeric:
                cells.append(f'<td class="num">{shown}</td>')
            else:
                cells.append(f"<td>{escape(shown)}</td>")
        return f"<tr>{''.join(cells)}</tr>"

    def body_html(self) -> str:
        """The table's rows as HTML, every value escaped.

        Built here rather than by a template loop: a report of a few hundred
        rows has thousands of cells, and the template engine spends about a
        tenth of a millisecond on each, which was half a page's time.
        """
        return mark_safe("\n".join(self._row_html(row) for row in self.rows))  # noqa: S308

    def totals_html(self) -> str:
        if self.totals is None:
            return ""
        return mark_safe(self._row_html(self.totals, first_default="Total"))  # noqa: S308


def paged(result: ReportResult, raw_page: str | None) -> ReportResult:
    """``result`` with its table cut to page ``raw_page`` when it is longer than
    ``TABLE_ROWS_PER_PAGE`` (a page past the end: the last one). The charts, the totals and the
    exports still cover every row; a report that pages its table in SQL sets ``page`` itself."""
    count, size = len(result.rows), TABLE_ROWS_PER_PAGE
    if result.page is not None or count <= size:
        return result
    number, problem = parse_page(raw_page)
    page = table_page(result.rows, count, number, size)
    notes = [*result.notes, *([problem] if problem else [])]
    notes.append(f"The table shows {size} rows a page; the exports hold all {count:,}.")
    return replace(result, rows=page.rows, notes=notes, page=page)


def table_page(rows: list, count: int, number: int, size: int) -> Page:
    """Page ``number`` (the last one past the end) of a table of ``count`` rows; ``rows`` are the
    whole table's, or the page's own when it was read alone (``len(rows) <= size``)."""
    last = max(1, -(-count // size))
    number = min(number, last)
    if len(rows) > size:
        rows = rows[(number - 1) * size : number * size]
    return Page(
        rows=rows,
        number=number,
        per_page=size,
        count=count,
        count_capped=False,
        has_next=number < last,
    )


class Report:
    """One report. Subclasses set the class attributes and implement ``build``."""

    slug: str = ""
    title: str = ""
    summary: str = ""  # one sentence for the reports index and the page's lead
    # Who may open it; reps see their own figures only (the picker offers them no other scope).
    roles: tuple[str, ...] = ("admin", "manager", "rep")
    # A template drawn above the table instead of the generic charts, when a chart is not enough.
    template: str | None = None

    def allowed(self, user: User) -> bool:
        return user.role in self.roles

    def options(self, query: QueryDict) -> dict:
        """The report's own choices read from the query string, beyond the picker's (none by default).

        They reach ``build`` and ``export_rows`` as keyword arguments; a bad
        value is the report's to replace by its default and say so in a note.
        """
        return {}

    def build(self, user: User, pick: Pick, today: datetime.date, **options) -> ReportResult:
        raise NotImplementedError

    def build_for_page(
        self, user: User, pick: Pick, today: datetime.date, params: QueryDict
    ) -> ReportResult:
        """The page's result. A report with options of its own in the query string (a chart's metric)
        reads them here and raises ``ValidationError`` naming the parameter for a bad one (a 400)."""
        return self.build(user, pick, today, **self.options(params))

    def export_rows(
        self, user: User, pick: Pick, today: datetime.date, **options
    ) -> tuple[list[Column], Iterable[dict]]:
        """The columns and rows the exports write: by default the page's table and its totals line."""
        result = self.build(user, pick, today, **options)
        rows: Iterator[dict] | list[dict] = result.rows
        if result.totals is not None:
            rows = [*result.rows, result.totals]
        return result.columns, rows

    def filename(self, pick: Pick, today: datetime.date) -> str:
        return f"{self.slug}-{today.isoformat()}"


REPORTS: dict[str, Report] = {}


def register(report_class: type[Report]) -> type[Report]:
    """Class decorator: list the report under the Reports menu, in the order registered."""
    report = report_class()
    if not report.slug or report.slug in REPORTS:
        raise ValueError(f"A report needs a unique slug: {report.slug!r}.")
    REPORTS[report.slug] = report
    return report_class


def report_for(user: User, slug: str) -> Report:
    """The report ``slug`` if ``user`` may open it; 404 otherwise (a hidden report is not advertised)."""
    report = REPORTS.get(slug)
    if report is None or not report.allowed(user):
        raise Http404("No such report.")
    return report


def reports_for(user: User) -> list[Report]:
    return [report for report in REPORTS.values() if report.allowed(user)]
