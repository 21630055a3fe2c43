"""Current-month commitments: the deals each rep has committed for this month and what became of them
since the last forecast call.

A deal is committed for the month when it is open, in the forecast category
``commit`` and expected to close in the calendar month holding today. The last
forecast call is a date (``since``, default seven days ago): the deals are read
as they stood at the start of that day, from their history rows (the version
of each at that moment, ``version_at``). Each deal committed
then or now is one row, under its present owner, with what changed:

- ``added``: committed now, not then;
- ``closed won`` / ``closed lost``: committed then, closed since;
- ``slipped``: committed then, still open and now expected after the month;
- ``removed``: committed then, no longer (another category, deleted, or moved earlier);
- ``amount changed`` / ``unchanged``: committed then and now.

Amounts are in the reporting currency: today's amount at today's rate (a
closed deal's at its close date), the amount then at the rate of that day in
the currency it was in then. One query gives a page of the table (a hundred
deals), every rep's totals and the row count, the change and the sums worked
out in SQL; the exports stream every row.
"""

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import BooleanField, Case, CharField, F, Q, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.http import QueryDict

from pipeline.models import Account, Deal, ForecastCategory, Stage, StageKind
from pipeline.money import converted, in_reporting_currency
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.selectors import version_at
from reports.catalog.base import (
    TABLE_ROWS_PER_PAGE,
    Column,
    Report,
    ReportResult,
    parse_page,
    register,
    table_page,
)
from salesmgr.models import User
from salesmgr.values import parse_date

DEFAULT_DAYS_BACK = 7
CHANGES = {
    "added": "Added",
    "removed": "Removed",
    "slipped": "Slipped",
    "amount_changed": "Amount changed",
    "won": "Closed won",
    "lost": "Closed lost",
    "unchanged": "Unchanged",
}
COLUMNS = [
    Column("rep", "Rep"),
    Column("deal", "Deal"),
    Column("account", "Account"),
    Column("change", "Change"),
    Column("stage", "Stage now"),
    Column("close_then", "Expected close then", "date"),
    Column("close_now", "Expected close now", "date"),
    Column("amount_then", "Amount then", "money"),
    Column("amount_now", "Amount now", "money"),
    Column("difference", "Difference", "money"),
]
SUMMARY_COLUMNS = [
    Column("rep", "Rep"),
    Column("committed_then", "Committed then", "money"),
    Column("committed_now", "Committed now", "money"),
    Column("added", "Added", "int"),
    Column("removed", "Removed", "int"),
    Column("slipped", "Slipped", "int"),
    Column("amount_changed", "Amount changed", "int"),
    Column("won", "Closed won", "int"),
    Column("won_value", "Won value", "money"),
    Column("lost", "Closed lost", "int"),
]


def parse_since(raw: str | None, today: datetime.date) -> tuple[datetime.date, str | None]:
    """The last forecast call's date from the query string, or the default with a note saying why."""
    default = today - datetime.timedelta(days=DEFAULT_DAYS_BACK)
    if raw is None or raw == "":
        return default, None
    since = parse_date(raw)
    if since is None or since > today:
        return default, (
            f"since: {raw[:20]!r} is not a date up to today (YYYY-MM-DD); "
            f"showing the changes since {default:%-d %b %Y}."
        )
    return since, None


# The state of a deal's version at the call (``commitment_rows``).
SAME, CHANGED, NOT_COMMITTED = "same", "changed", "no"


def month_of(today: datetime.date) -> Period:
    return Period.named("month", today)


def _committed(month: Period, prefix: str = "") -> Q:
    return Q(
        **{
            f"{prefix}status": StageKind.OPEN,
            f"{prefix}forecast_category": ForecastCategory.COMMIT,
            f"{prefix}expected_close_date__gte": month.start,
            f"{prefix}expected_close_date__lt": month.end,
        }
    )


def owner_name(prefix: str = "owner__") -> Coalesce:
    """``User.display_name`` in SQL: the full name, else first and last name, else the username."""
    return Coalesce(
        NullIf(F(f"{prefix}full_name"), Value("")),
        NullIf(
            Trim(Concat(F(f"{prefix}first_name"), Value(" "), F(f"{prefix}last_name"))), Value("")
        ),
        F(f"{prefix}username"),
        output_field=CharField(),
    )


def _parts(pick: Pick, today: datetime.date, since: datetime.date) -> tuple[str, tuple]:
    """``WITH`` the scope's deals committed for this month at the start of ``since`` or now, each
    with its change (``commitment_rows``), as SQL and its parameters.

    The versions committed at the call (``commitments_then``) are those whose span holds the
    moment (``version_at``), read from the index of committed versions by close date with their
    figures beside them: no probe per deal for its latest version by then, and a deal given to
    the scope since the call is found too. The deals in the scope committed now or then
    (``commitments_now``) are joined to them. Each part is computed once (``MATERIALIZED``): the
    change and the sums refer to its columns, where a subquery referred to in one query ran
    again for every reference, a dozen times a row.
    """
    month = month_of(today)
    moment = start_of(since)
    committed_now = _committed(month) & Q(deleted_at__isnull=True)
    # deal_history_commit_idx: every column read is in the index.
    then = (
        Deal.history.filter(version_at(moment), _committed(month), deleted_at__isnull=True)
        .order_by()
        .annotate(
            t_deal=F("id"),
            t_close=F("expected_close_date"),
            t_amount=F("amount"),
            t_value=converted(on=since),
        )
        .values(*THEN_COLUMNS)
    )
    # Unordered, the deals committed now are read from a partial index of them alone.
    committed_sql, committed_params = (
        Deal.objects.filter(committed_now).order_by().values("id").query.sql_with_params()
    )
    candidates = f"{committed_sql} UNION SELECT t_deal FROM commitments_then"
    if connection.vendor == "postgresql":
        # As an array the ids are read one by one by the key: the planner, sure of the set's
        # size, would otherwise hash it and scan every deal (231 ms against 30 at 1M deals).
        among = RawSQL(
            f"{connection.ops.quote_name(Deal._meta.db_table)}.id = ANY(ARRAY({candidates}))",
            committed_params,
            output_field=BooleanField(),
        )
    else:
        among = Q(pk__in=RawSQL(candidates, committed_params))
    now = (
        Deal.objects.filter(pick.scope.deal_filter(), among)
        .order_by()
        .annotate(
            c_id=F("id"),
            c_owner=F("owner_id"),
            c_rep=owner_name(),
            c_close=F("expected_close_date"),
            c_amount=F("amount"),
            c_status=F("status"),
            c_deleted=Case(When(deleted_at__isnull=False, then=Value(True)), default=Value(False)),
            c_committed=Case(When(committed_now, then=Value(True)), default=Value(False)),
            c_amount_now=in_reporting_currency(today),
        )
        .values(*NOW_COLUMNS)
    )
    then_sql, then_params = then.query.sql_with_params()
    now_sql, now_params = now.query.sql_with_params()
    # A deal committed then is "unchanged" or "amount changed" if it still is; otherwise what
    # became of it. One not committed then was added.
    sql = f"""
        WITH commitments_then ({", ".join(THEN_COLUMNS)}) AS MATERIALIZED ({then_sql}),
        commitments_now ({", ".join(NOW_COLUMNS)}) AS MATERIALIZED ({now_sql}),
        commitment_rows AS (
            SELECT n.*, t.t_close,
                t.t_value AS amount_was,
                CASE WHEN t.t_deal IS NULL THEN 0 ELSE 1 END AS committed_then,
                CASE
                    WHEN t.t_deal IS NULL THEN 'added'
                    WHEN n.c_committed THEN
                        CASE WHEN t.t_amount = n.c_amount THEN 'unchanged'
                        ELSE 'amount_changed' END
                    WHEN n.c_deleted THEN 'removed'
                    WHEN n.c_status = %s THEN 'won'
                    WHEN n.c_status = %s THEN 'lost'
                    WHEN n.c_close >= %s THEN 'slipped'
                    ELSE 'removed'
                END AS change
            FROM commitments_now AS n
            LEFT JOIN commitments_then AS t ON t.t_deal = n.c_id
        )
    """
    return sql, (*then_params, *now_params, StageKind.WON, StageKind.LOST, month.end)


NOW_COLUMNS = (
    "c_id",
    "c_owner",
    "c_rep",
    "c_close",
    "c_amount",
    "c_status",
    "c_deleted",
    "c_committed",
    "c_amount_now",
)
THEN_COLUMNS = ("t_deal", "t_close", "t_amount", "t_value")
# The table's order: by rep (the owner breaking ties between namesakes), close date now, deal.
ROW_ORDER = "c_rep, c_owner, c_close, c_id"
# Per rep, over the rep's rows: the figures of the summary (``SUMMARY_COLUMNS``).
REP_SUMS = {
    "committed_then": "SUM(amount_was)",
    "committed_now": "SUM(CASE WHEN c_committed THEN c_amount_now END)",
    **{
        change: f"SUM(CASE WHEN change = '{change}' THEN 1 ELSE 0 END)"
        for change in ("added", "removed", "slipped", "amount_changed", "won", "lost")
    },
    "won_value": "SUM(CASE WHEN change = 'won' THEN c_amount_now END)",
}
ROW_FIELDS = (
    "c_id",
    "c_owner",
    "c_rep",
    "change",
    "t_close",
    "c_close",
    "amount_was",
    "c_amount_now",
    "committed_then",
    "c_committed",
)
MONEY_TOTALS = ("committed_then", "committed_now", "won_value")
ROWS_PER_PAGE = TABLE_ROWS_PER_PAGE


def _ranked_sql(parts: str) -> str:
    """Every row with its place in the table, its place among its rep's rows, its rep's sums (window
    functions over the rep's rows) and how many rows there are. A rep's rows are partitioned by
    name and id (the id alone decides) so that every window reads the rows in the table's order,
    sorted once.

    The deal's, account's and stage's names are looked up after the rows are ranked, so a caller's
    condition on the places (a page) keeps them to the rows it shows: ranking every row with its
    names sorted wide rows and looked up every account (the admin's 8,800 rows at 1,000,000 deals).
    """
    sums = ", ".join(
        f"{expression} OVER (PARTITION BY c_rep, c_owner) AS total_{key}"
        for key, expression in REP_SUMS.items()
    )
    deals, accounts, stages = (
        connection.ops.quote_name(model._meta.db_table) for model in (Deal, Account, Stage)
    )
    return f"""
        {parts}
        SELECT ranked.*, d.name AS c_name, a.name AS c_account, s.name AS c_stage FROM (
            SELECT {", ".join(ROW_FIELDS)}, {sums},
                ROW_NUMBER() OVER (ORDER BY {ROW_ORDER}) AS place,
                ROW_NUMBER() OVER (PARTITION BY c_rep, c_owner ORDER BY {ROW_ORDER}) AS place_in_rep,
                COUNT(*) OVER () AS row_count
            FROM commitment_rows
        ) AS ranked
        JOIN {deals} AS d ON d.id = ranked.c_id
        JOIN {accounts} AS a ON a.id = d.account_id
        JOIN {stages} AS s ON s.id = d.stage_id
    """


def _record(values: tuple, names: list[str]) -> dict:
    """A fetched row by column name, with the types SQLite hands back as text or floats made dates
    and decimals (PostgreSQL's already are)."""
    record = dict(zip(names, values, strict=True))
    for key in ("t_close", "c_close"):
        if isinstance(record[key], str):
            record[key] = datetime.date.fromisoformat(record[key][:10])
    for key, value in record.items():
        if isinstance(value, float):
            record[key] = Decimal(repr(value))
    return record


def _row(deal: dict) -> dict:
    """One deal as the table shows it; the difference only where it was committed then and is now."""
    was, now = bool(deal["committed_then"]), bool(deal["c_committed"])
    amount_was, amount_now = deal["amount_was"], deal["c_amount_now"]
    return {
        "rep": deal["c_rep"],
        "deal": deal["c_name"],
        "account": deal["c_account"],
        "change": CHANGES[deal["change"]],
        "stage": deal["c_stage"],
        "close_then": deal["t_close"] if was else None,
        "close_now": deal["c_close"],
        "amount_then": _cents(amount_was),
        "amount_now": _cents(amount_now),
        "difference": _cents(amount_now - amount_was)
        if was and now and amount_now is not None and amount_was is not None
        else None,
    }


def _cents(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


def _rep_total(row: dict) -> dict:
    total = {"rep": row["c_rep"]}
    for key in REP_SUMS:
        value = row[f"total_{key}"]
        total[key] = _cents(value) if key in MONEY_TOTALS else int(value or 0)
    return total


@dataclass(frozen=True)
class CommitmentPage:
    """One page of the table, the totals of every rep (not only those on the page) and the row
    count, from one query."""

    rows: list[dict]
    per_rep: list[dict]
    count: int
    number: int
    size: int


def commitments_page(
    pick: Pick, today: datetime.date, since: datetime.date, number: int, size: int = ROWS_PER_PAGE
) -> CommitmentPage:
    """Page ``number`` of the table (the last one if there are fewer), with every rep's totals:
    the page's rows and each rep's first row (which carries the rep's sums) in one query."""
    parts, params = _parts(pick, today, since)
    sql = f"""
        {_ranked_sql(parts)}
        WHERE place_in_rep = 1 OR (place > %s AND place <= %s)
        ORDER BY place
    """
    first = (number - 1) * size
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, first, first + size))
        names = [column[0] for column in cursor.description]
        fetched = [_record(values, names) for values in cursor.fetchall()]
    count = fetched[0]["row_count"] if fetched else 0
    last = max(1, -(-count // size))
    if number > last:  # past the end: the last page (a second query, for a stale link only)
        return commitments_page(pick, today, since, last, size)
    rows = [_row(deal) for deal in fetched if first < deal["place"] <= first + size]
    per_rep = [_rep_total(deal) for deal in fetched if deal["place_in_rep"] == 1]
    return CommitmentPage(rows=rows, per_rep=per_rep, count=count, number=number, size=size)


def commitment_records(pick: Pick, today: datetime.date, since: datetime.date) -> Iterator[dict]:
    """Every row of the table in order, each with its rep's sums, read in chunks from a server-side
    cursor where the database has one (the exports)."""
    parts, params = _parts(pick, today, since)
    with connection.chunked_cursor() as cursor:
        cursor.execute(f"{_ranked_sql(parts)} ORDER BY place", params)
        # A server-side cursor describes its columns once the first rows are fetched.
        while chunk := cursor.fetchmany(2000):
            names = [column[0] for column in cursor.description]
            for values in chunk:
                yield _record(values, names)


def _grand_total(per_rep: list[dict]) -> dict:
    total = {"rep": "Total"}
    for column in SUMMARY_COLUMNS[1:]:
        values = [row[column.key] for row in per_rep if row[column.key] is not None]
        total[column.key] = sum(values) if values else (0 if column.kind == "int" else None)
    return total


def _table_totals(summary_total: dict) -> dict:
    then = summary_total["committed_then"]
    now = summary_total["committed_now"]
    return {
        "rep": "Total committed then and now",
        "amount_then": then,
        "amount_now": now,
        "difference": _cents((now or 0) - (then or 0)),
    }


@register
class Commitments(Report):
    slug = "commitments"
    title = "Current-month commitments"
    summary = (
        "The deals each rep has committed for this month, what changed since the last forecast call "
        "(added, removed, slipped, amount changed) and what has closed."
    )
    template = "reports/catalog/_commitments.html"

    def options(self, query: QueryDict) -> dict:
        return {"since": query.get("since"), "page": query.get("page")}

    def build(
        self,
        user: User,
        pick: Pick,
        today: datetime.date,
        since: str | None = None,
        page: str | None = None,
        **options,
    ) -> ReportResult:
        day, problem = parse_since(since, today)
        number, page_problem = parse_page(page)
        shown = commitments_page(pick, today, day, number, ROWS_PER_PAGE)
        total = _grand_total(shown.per_rep)
        month = month_of(today)
        notes = [note for note in (problem, page_problem) if note]
        notes.append(
            f"Committed: open, in the commit category and expected to close in {month.start:%B %Y}. "
            f"Changes since the start of {day:%-d %b %Y}, each deal under its present owner; "
            "the period picker does not apply."
        )
        if shown.count > shown.size:
            notes.append(
                f"The table shows {shown.size} deals a page; the exports hold all {shown.count:,}."
            )
        return ReportResult(
            columns=COLUMNS,
            rows=shown.rows,
            notes=notes,
            totals=_table_totals(total),
            page=table_page(shown.rows, shown.count, shown.number, shown.size)
            if shown.count > shown.size
            else None,
            extra={
                "since": day,
                "month": month,
                "summary_columns": SUMMARY_COLUMNS,
                "summary": [
                    [(column, column.display(row.get(column.key))) for column in SUMMARY_COLUMNS]
                    for row in [*shown.per_rep, total]
                ],
            },
        )

    def export_rows(self, user: User, pick: Pick, today: datetime.date, since=None, **options):
        day, _ = parse_since(since, today)

        def streamed():
            per_rep = []
            for deal in commitment_records(pick, today, day):
                yield _row(deal)
                if deal["place_in_rep"] == 1:
                    per_rep.append(_rep_total(deal))
            yield _table_totals(_grand_total(per_rep))

        return COLUMNS, streamed()

    def filename(self, pick: Pick, today: datetime.date) -> str:
        return f"{self.slug}-{today:%Y-%m}"
