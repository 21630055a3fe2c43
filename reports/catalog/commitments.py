"""Current-month commitments: the deals each rep has committed for this month and what became of them
since the last forecast call.

A deal is committed for the month when it is open, in the forecast category
``commit`` and expected to close in the calendar month holding today. The last
forecast call is a date (``since``, default seven days ago): the deals are read
as they stood at the start of that day, from their history rows (the latest
version of each by then, as ``deals_as_of`` reads them). Each deal committed
then or now is one row, under its present owner, with what changed:

- ``added``: committed now, not then;
- ``closed won`` / ``closed lost``: committed then, closed since;
- ``slipped``: committed then, still open and now expected after the month;
- ``removed``: committed then, no longer (another category, deleted, or moved earlier);
- ``amount changed`` / ``unchanged``: committed then and now.

Amounts are in the reporting currency: today's amount at today's rate (a
closed deal's at its close date), the amount then at the rate of that day.
The rows come from one query with the change worked out in SQL; the totals per
rep from one grouped query over the same rows.
"""

import datetime
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.http import QueryDict

from pipeline.models import Deal, ForecastCategory, StageKind
from pipeline.money import converted, in_reporting_currency
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from reports.catalog.base import Column, Report, ReportResult, register
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
MONEY_FIELD = DecimalField(max_digits=40, decimal_places=12)


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


def commitment_rows(pick: Pick, today: datetime.date, since: datetime.date) -> QuerySet:
    """The scope's deals committed for this month at the start of ``since`` or now, each with its change."""
    month = month_of(today)
    moment = start_of(since)
    then = Deal.history.filter(id=OuterRef("pk"), history_date__lte=moment).order_by(
        "-history_date", "-history_id"
    )

    def was(field: str, output=None):
        return Subquery(then.values(field)[:1], output_field=output)

    committed_now = _committed(month) & Q(deleted_at__isnull=True)
    in_scope = pick.scope.deal_filter()
    # The deals committed now (an index) and those committed in some version up to the call (the
    # latest version by then is checked below): only they are looked up in the history, one by one.
    # Unordered, each is read from a partial index of the committed deals (or versions) alone.
    candidates = (
        Deal.objects.filter(committed_now, in_scope)
        .order_by()
        .values("id")
        .union(
            Deal.history.filter(_committed(month), in_scope, history_date__lte=moment)
            .order_by()
            .values("id")
        )
    )
    # The version at the call in one probe: committed then with the same amount as now ("same"),
    # committed then with another ("changed"), or not ("no"; also a deal without a version by then).
    # Each reference to an annotation repeats its subquery, so the figures read this one.
    then_state = Subquery(
        then.annotate(
            state=Case(
                When(
                    Q(
                        _committed(month),
                        deleted_at__isnull=True,
                        amount=OuterRef(OuterRef("amount")),
                    ),
                    then=Value(SAME),
                ),
                When(Q(_committed(month), deleted_at__isnull=True), then=Value(CHANGED)),
                default=Value(NOT_COMMITTED),
                output_field=CharField(),
            )
        ).values("state")[:1],
        output_field=CharField(),
    )
    rows = (
        Deal.objects.filter(in_scope, pk__in=candidates)
        .alias(then_state=then_state)
        .annotate(
            then_close=was("expected_close_date", DateField()),
            then_amount=was("amount", DecimalField(max_digits=14, decimal_places=2)),
        )
        .annotate(
            committed_then=Case(
                When(Q(then_state__in=[SAME, CHANGED]), then=Value(True)),
                default=Value(False),
            ),
            committed_now=Case(When(committed_now, then=Value(True)), default=Value(False)),
        )
        .filter(Q(committed_then=True) | Q(committed_now=True))
        .annotate(
            change=Case(
                When(committed_then=False, then=Value("added")),
                When(
                    committed_now=True,
                    then=Case(
                        When(then_state=SAME, then=Value("unchanged")),
                        default=Value("amount_changed"),
                    ),
                ),
                When(deleted_at__isnull=False, then=Value("removed")),
                When(status=StageKind.WON, then=Value("won")),
                When(status=StageKind.LOST, then=Value("lost")),
                When(expected_close_date__gte=month.end, then=Value("slipped")),
                default=Value("removed"),
                output_field=CharField(),
            ),
            amount_now=in_reporting_currency(today),
            amount_was=Case(
                When(committed_then=True, then=converted(on=since, amount=F("then_amount"))),
                default=None,
                output_field=MONEY_FIELD,
            ),
            rep=owner_name(),
        )
    )
    return rows.order_by("rep", "owner_id", "expected_close_date", "id")


def _row(deal: dict) -> dict:
    """One deal as the table shows it; the difference only where it was committed then and is now."""
    both = deal["committed_then"] and deal["committed_now"]
    return {
        "rep": deal["rep"],
        "deal": deal["name"],
        "account": deal["account__name"],
        "change": CHANGES[deal["change"]],
        "stage": deal["stage__name"],
        "close_then": deal["then_close"] if deal["committed_then"] else None,
        "close_now": deal["expected_close_date"],
        "amount_then": _cents(deal["amount_was"]),
        "amount_now": _cents(deal["amount_now"]),
        "difference": _cents(deal["amount_now"] - deal["amount_was"])
        if both and deal["amount_now"] is not None and deal["amount_was"] is not None
        else None,
    }


def _cents(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.01"))


ROW_FIELDS = (
    "rep",
    "name",
    "account__name",
    "change",
    "stage__name",
    "then_close",
    "expected_close_date",
    "amount_was",
    "amount_now",
    "committed_then",
    "committed_now",
)


MONEY_TOTALS = ("committed_then", "committed_now", "won_value")


def _rep_sums() -> dict:
    """The per-rep figures as aggregates over a rep's rows, keyed by summary column."""

    def changed(name: str) -> Count:
        return Count("id", filter=Q(change=name))

    return {
        "committed_then": Sum("amount_was"),
        "committed_now": Sum("amount_now", filter=Q(committed_now=True)),
        "added": changed("added"),
        "removed": changed("removed"),
        "slipped": changed("slipped"),
        "amount_changed": changed("amount_changed"),
        "won": changed("won"),
        "won_value": Sum("amount_now", filter=Q(change="won")),
        "lost": changed("lost"),
    }


def _rep_total(row: dict, prefix: str = "") -> dict:
    total = {"rep": row["rep"]}
    for key in _rep_sums():
        value = row[prefix + key]
        total[key] = _cents(value) if key in MONEY_TOTALS else value
    return total


def rep_totals(rows: QuerySet) -> list[dict]:
    """Per rep: the value committed then and now, the count of each change and the value won (one query)."""
    grouped = (
        rows.order_by()
        .values("owner_id", "rep")
        .annotate(**_rep_sums())
        .order_by("rep", "owner_id")
    )
    return [_rep_total(row) for row in grouped]


def _rep_window_sums() -> dict:
    """``_rep_sums`` as window functions over each rep's rows, prefixed ``total_``."""

    def over(expression) -> Window:
        return Window(Sum(expression), partition_by=[F("owner_id")])

    def changed(name: str) -> Window:
        return over(Case(When(change=name, then=Value(1)), default=Value(0)))

    def money_if(condition: Q) -> Window:
        return over(Case(When(condition, then=F("amount_now")), output_field=MONEY_FIELD))

    return {
        "total_committed_then": over(F("amount_was")),
        "total_committed_now": money_if(Q(committed_now=True)),
        "total_added": changed("added"),
        "total_removed": changed("removed"),
        "total_slipped": changed("slipped"),
        "total_amount_changed": changed("amount_changed"),
        "total_won": changed("won"),
        "total_won_value": money_if(Q(change="won")),
        "total_lost": changed("lost"),
    }


def rows_with_rep_totals(rows: QuerySet) -> tuple[list[dict], list[dict]]:
    """The rows as the table shows them and the totals per rep, from one query: each row carries its
    rep's totals, summed over the rep's rows by window functions."""
    by_rep = _rep_window_sums()
    table, per_rep = [], {}
    for deal in rows.annotate(**by_rep).values(*ROW_FIELDS, "owner_id", *by_rep):
        table.append(_row(deal))
        if deal["owner_id"] not in per_rep:
            per_rep[deal["owner_id"]] = _rep_total(deal, "total_")
    return table, list(per_rep.values())


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
        return {"since": query.get("since")}

    def build(
        self, user: User, pick: Pick, today: datetime.date, since: str | None = None, **options
    ) -> ReportResult:
        day, problem = parse_since(since, today)
        rows = commitment_rows(pick, today, day)
        table, per_rep = rows_with_rep_totals(rows)
        total = _grand_total(per_rep)
        month = month_of(today)
        notes = [problem] if problem else []
        notes.append(
            f"Committed: open, in the commit category and expected to close in {month.start:%B %Y}. "
            f"Changes since the start of {day:%-d %b %Y}, each deal under its present owner; "
            "the period picker does not apply."
        )
        return ReportResult(
            columns=COLUMNS,
            rows=table,
            notes=notes,
            totals=_table_totals(total),
            extra={
                "since": day,
                "month": month,
                "summary_columns": SUMMARY_COLUMNS,
                "summary": [
                    [(column, column.display(row.get(column.key))) for column in SUMMARY_COLUMNS]
                    for row in [*per_rep, total]
                ],
            },
        )

    def export_rows(self, user: User, pick: Pick, today: datetime.date, since=None, **options):
        day, _ = parse_since(since, today)
        rows = commitment_rows(pick, today, day)

        def streamed():
            for deal in rows.values(*ROW_FIELDS).iterator(chunk_size=2000):
                yield _row(deal)
            yield _table_totals(_grand_total(rep_totals(rows)))

        return COLUMNS, streamed()

    def filename(self, pick: Pick, today: datetime.date) -> str:
        return f"{self.slug}-{today:%Y-%m}"
