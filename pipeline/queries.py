"""Reads the browser pages need beyond ``pipeline.selectors``.

Each function takes a queryset that already went through a visibility
selector (``deals_visible_to`` and friends), so none of them widens what a
user sees; they only shape it for one page.
"""

import dataclasses
import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import CharField, Count, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from pipeline.models import (
    Account,
    Activity,
    Deal,
    LostReason,
    Pipeline,
    Stage,
    StageKind,
    StageTransition,
)
from pipeline.money import in_reporting_currency
from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.selectors import deal_owner_ids_in_reach
from salesmgr.models import User


def board_stages(pipeline: Pipeline) -> list[Stage]:
    """A pipeline's stages in board order: open ones by their order, then won, then lost."""
    rank = {StageKind.OPEN: 0, StageKind.WON: 1, StageKind.LOST: 2}
    stages = sorted(pipeline.stages.all(), key=lambda stage: (rank[stage.kind], stage.order))
    # The "Move to" control offers the next stage first: the usual move.
    for stage, following in zip(stages, stages[1:] + [None], strict=True):
        stage.next_stage_id = (
            following.pk if following is not None and stage.kind == StageKind.OPEN else None
        )
    return stages


def move_options_html(stages: list[Stage], current: Stage) -> str:
    """The "Move to" options of every card in one column: built once per column, not per card."""
    return format_html_join(
        "",
        '<option value="{}" data-kind="{}"{}>{}</option>',
        (
            (
                stage.pk,
                stage.kind,
                mark_safe(" selected") if stage.pk == current.next_stage_id else "",
                stage.name,
            )
            for stage in stages
            if stage.pk != current.pk
        ),
    )


def _period_conditions(period: Period) -> tuple[Q, Q]:
    """What a list in a period holds, in two conditions that do not overlap: open, closed in it."""
    start, end = period.bounds
    return Q(status=StageKind.OPEN), Q(closed_at__gte=start, closed_at__lt=end)


def deals_in_period(visible: QuerySet[Deal], *, scope: Scope, period: Period) -> QuerySet[Deal]:
    """The scope's deals for a list: every open one, and those closed within the period."""
    is_open, closed_in_period = _period_conditions(period)
    return visible.filter(scope.deal_filter()).filter(is_open | closed_in_period)


def deals_in_period_parts(
    visible: QuerySet[Deal], *, scope: Scope, period: Period, status: str = ""
) -> list[QuerySet[Deal]]:
    """What ``deals_in_period`` holds, in parts that do not overlap: the open deals, and those
    closed within the period, each a range of an index of its own (an open deal's, a closing
    time's) for ``deal_list_page`` to read apart. A ``status`` keeps only the part it can be in.
    """
    in_scope = visible.filter(scope.deal_filter())
    is_open, closed_in_period = _period_conditions(period)
    conditions = []
    if status in ("", StageKind.OPEN):
        conditions.append(is_open)
    if status != StageKind.OPEN:
        conditions.append(closed_in_period)
    return [in_scope.filter(condition) for condition in conditions]


def deals_ahead_in_period(period: Period) -> QuerySet[Deal]:
    """Every live deal, whoever owns it, that a list of ``period`` in its default order (open
    deals first, then the closed ones newest first) can reach before its last row: the open
    ones and those closed since the period began. Of these the list's share is taken when
    ``deal_list_page`` weighs walking that order (its ``front``)."""
    start, _ = period.bounds
    return Deal.objects.filter(deleted_at__isnull=True).filter(
        Q(status=StageKind.OPEN) | Q(closed_at__gte=start)
    )


def board_deals(user: User, *, pipeline: Pipeline, scope: Scope) -> QuerySet[Deal]:
    """The deals ``user`` may see in ``pipeline`` within ``scope``, before the period's condition
    (``column_totals`` and ``board_cards`` add it column by column).

    The same deals as ``deals_visible_to(user)`` filtered by the scope: the owners both allow
    are read once into a list (``deal_owner_ids_in_reach``), so the team is filtered once, by
    ids the planner can count, and every read below is served by ``deal_board_idx``.
    """
    owners = deal_owner_ids_in_reach(user, owner=scope.owner, team=scope.team)
    if owners == []:
        return Deal.objects.none()
    deals = Deal.objects.filter(deleted_at__isnull=True, pipeline=pipeline)
    if owners is not None:
        deals = deals.filter(owner_id__in=owners)
    rest = dataclasses.replace(scope, owner=None, team=None)
    if not rest.is_organisation:
        deals = deals.filter(rest.deal_filter())
    return deals


def _on_board(stage: Stage, period: Period) -> Q:
    """Which of a column's deals show: all of an open stage's, a won or lost stage's closed in the period.

    The old condition ``status = open OR closed_at in the period``, column by column: a stage's
    kind is fixed once a deal is in it and a deal's status is its stage's kind, and an open deal
    is exactly one without ``closed_at`` (the constraint ``deal_closed_at_matches_status``),
    so each column reads one range of ``deal_board_idx``.
    """
    if stage.kind == StageKind.OPEN:
        return Q(closed_at__isnull=True)
    start, end = period.bounds
    return Q(closed_at__gte=start, closed_at__lt=end)


def _run(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def column_totals(deals: QuerySet[Deal], *, stages: list[Stage], period: Period) -> dict[int, dict]:
    """Per stage: how many deals show and their value per currency, in one grouped query.

    The open deals of the board's stages and those closed in the period, two index-only
    ranges of ``deal_board_idx`` appended (``UNION ALL``: an open deal has no close), grouped
    once. The same figures as grouping ``status = open OR closed in the period`` (tested), which
    scanned every deal of the team.
    """
    totals: dict[int, dict] = defaultdict(lambda: {"count": 0, "values": []})
    if not stages:
        return totals
    start, end = period.bounds
    stage_ids = [stage.pk for stage in stages]
    columns = ("stage_id", "currency", "amount")
    still_open = deals.filter(stage_id__in=stage_ids, closed_at__isnull=True)
    closed = deals.filter(stage_id__in=stage_ids, closed_at__gte=start, closed_at__lt=end)
    both = (
        still_open.order_by()
        .values_list(*columns)
        .union(closed.order_by().values_list(*columns), all=True)
    )
    try:
        sql, params = both.query.sql_with_params()
    except EmptyResultSet:
        return totals
    rows = _run(
        "SELECT stage_id, currency, COUNT(*), SUM(amount) "
        f"FROM ({sql}) AS board GROUP BY 1, 2 ORDER BY 1, 2",
        params,
    )
    for stage_id, currency, count, value in rows:
        column = totals[stage_id]
        column["count"] += count
        column["values"].append((currency, value))
    return totals


@dataclass
class Card:
    """What a card shows, every value a ready string: the template only places them."""

    id: str
    name: str
    version: str
    stage_id: str
    account: str
    owner: str
    amount: str
    close_iso: str
    close: str
    days: str
    stalled: str  # the stalled flag's text, "" when not stalled
    url: str
    move_url: str


CARD_COLUMNS = (
    "id",
    "name",
    "version",
    "stage_id",
    "amount",
    "currency",
    "expected_close_date",
    "stage_entered_at",
    "account_name",
    "owner__username",
    "owner__full_name",
    "owner__first_name",
    "owner__last_name",
)
_PLACEHOLDER = 999999999


def _owner_name(row: dict) -> str:
    full = f"{row['owner__first_name']} {row['owner__last_name']}".strip()
    return row["owner__full_name"] or full or row["owner__username"]


def _money(value: Decimal) -> str:
    """``floatformat:"0g"`` of the reporting pages (en): whole units, half up, thousands grouped."""
    return f"{value.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


class _CardMaker:
    """Cards from rows; dates and links are formatted once per distinct value, not per card."""

    def __init__(self, stages: dict[int, Stage], today: datetime.date | None = None) -> None:
        self.stages = stages
        self.today = today or timezone.localdate()
        self.dates: dict[datetime.date, str] = {}
        detail = reverse("deal-detail", args=[_PLACEHOLDER])
        move = reverse("deal-move", args=[_PLACEHOLDER])
        self.detail = detail.replace(str(_PLACEHOLDER), "{}")
        self.move = move.replace(str(_PLACEHOLDER), "{}")

    def _date(self, day: datetime.date) -> str:
        text = self.dates.get(day)
        if text is None:
            text = self.dates[day] = date_format(day, "j M Y")
        return text

    def card(self, row: dict) -> Card:
        stage = self.stages[row["stage_id"]]
        entered = timezone.localtime(row["stage_entered_at"]).date()
        days = max((self.today - entered).days, 0)
        days_text = f"{days} {'day' if days == 1 else 'days'}"
        stalled = bool(
            stage.kind == StageKind.OPEN and stage.rot_days is not None and days > stage.rot_days
        )
        close = row["expected_close_date"]
        return Card(
            id=str(row["id"]),
            name=row["name"],
            version=str(row["version"]),
            stage_id=str(row["stage_id"]),
            account=row["account_name"],
            owner=_owner_name(row),
            amount=f"{row['currency']} {_money(row['amount'])}",
            close_iso=close.isoformat(),
            close=self._date(close),
            days=days_text,
            stalled=f"Stalled: over {stage.rot_days} days in {stage.name}" if stalled else "",
            url=self.detail.format(row["id"]),
            move_url=self.move.format(row["id"]),
        )


def board_cards(
    deals: QuerySet[Deal],
    *,
    stages: list[Stage],
    period: Period,
    offset: int,
    limit: int,
) -> dict[int, tuple[list[Card], bool]]:
    """One page of each column's cards, soonest close first, and whether more follow: two queries
    for the whole board, whatever the number of columns.

    The first takes each column's page of ids (``limit + 1``: one more says more follow) from
    ``deal_board_idx`` alone, the columns appended; the second reads those deals with their
    account and owner.
    """
    pages: dict[int, tuple[list[Card], bool]] = {stage.pk: ([], False) for stage in stages}
    if not stages:
        return pages
    parts = [
        deals.filter(_on_board(stage, period), stage_id=stage.pk)
        .order_by("expected_close_date", "id")
        .values_list("id", "stage_id")[offset : offset + limit + 1]
        for stage in stages
    ]
    # Each column's page as a table of its own, appended: SQLite allows no LIMIT in a branch of
    # a compound statement itself (Django's ``union`` of sliced querysets), only in a subquery.
    statements, params = [], []
    for number, part in enumerate(parts):
        try:
            sql, part_params = part.query.sql_with_params()
        except EmptyResultSet:
            continue
        statements.append(f"SELECT * FROM ({sql}) AS column_{number}")
        params.extend(part_params)
    if not statements:
        return pages
    picked = _run(" UNION ALL ".join(statements), params)
    ids_by_stage: dict[int, list[int]] = defaultdict(list)
    for deal_id, stage_id in picked:
        ids_by_stage[stage_id].append(deal_id)
    wanted = [deal_id for ids in ids_by_stage.values() for deal_id in ids[:limit]]
    # The account's name looked up deal by deal: a hash join would read every account for ~175 cards.
    account_name = Account.objects.filter(pk=OuterRef("account_id")).order_by().values("name")
    rows = {
        row["id"]: row
        for row in Deal.objects.filter(pk__in=wanted)
        .annotate(account_name=Subquery(account_name))
        .order_by()
        .values(*CARD_COLUMNS)
    }
    maker = _CardMaker({stage.pk: stage for stage in stages})
    for stage in stages:
        ids = ids_by_stage.get(stage.pk, [])
        # The order is the column's (close date, id), as the first query found it.
        cards = [maker.card(rows[deal_id]) for deal_id in ids[:limit] if deal_id in rows]
        pages[stage.pk] = (cards, len(ids) > limit)
    return pages


def board_card(deal: Deal, stages: list[Stage]) -> Card:
    """The card of one deal read with ``card_deal`` (after a move)."""
    owner = deal.owner
    row = {
        "id": deal.pk,
        "name": deal.name,
        "version": deal.version,
        "stage_id": deal.stage_id,
        "amount": deal.amount,
        "currency": deal.currency,
        "expected_close_date": deal.expected_close_date,
        "stage_entered_at": deal.stage_entered_at,
        "account_name": deal.account.name,
        "owner__username": owner.username,
        "owner__full_name": owner.full_name,
        "owner__first_name": owner.first_name,
        "owner__last_name": owner.last_name,
    }
    return _CardMaker({stage.pk: stage for stage in stages}).card(row)


def card_deal(visible: QuerySet[Deal], deal_id: int) -> Deal | None:
    """One deal as a board card shows it (with its stage), or None when not visible."""
    return (
        visible.select_related("account", "owner", "stage", "pipeline").filter(pk=deal_id).first()
    )


def export_rows(deals: QuerySet[Deal]):
    """Every column of the CSV export, in the order of ``deals``, from one query streamed in chunks;
    the last is the amount in the reporting currency (``in_reporting_currency``), empty without a rate."""
    return (
        deals.annotate(amount_in_reporting_currency=in_reporting_currency())
        .values_list(
            "id",
            "name",
            "account__name",
            "owner__username",
            "owner__full_name",
            "pipeline__name",
            "stage__name",
            "status",
            "stage__probability",
            "amount",
            "currency",
            "expected_close_date",
            "forecast_category",
            "account__territory__name",
            "lost_reason__name",
            "created_at",
            "closed_at",
            "updated_at",
            "amount_in_reporting_currency",
        )
        .iterator(chunk_size=2000)
    )


def stage_stays(transitions: list[StageTransition], now: datetime.datetime) -> list[dict]:
    """The stage timeline: each stage entered, when, by whom, and how long the deal stayed."""
    stays = []
    for index, transition in enumerate(transitions):
        left = transitions[index + 1].at if index + 1 < len(transitions) else None
        stays.append(
            {
                "transition": transition,
                "stage": transition.to_stage,
                "entered": transition.at,
                "left": left,
                "duration": (left or now) - transition.at,
                "current": left is None,
            }
        )
    return stays


def open_deals_by_account(visible: QuerySet[Deal], account_ids: list[int]) -> dict[int, dict]:
    """For a page of accounts: how many open deals each has, and their value per currency."""
    summary: dict[int, dict] = defaultdict(lambda: {"count": 0, "values": []})
    rows = (
        visible.filter(account_id__in=account_ids, status=StageKind.OPEN)
        .order_by()
        .values("account_id", "currency")
        .annotate(count=Count("pk"), value=Sum("amount"))
        .order_by("account_id", "currency")
    )
    for row in rows:
        summary[row["account_id"]]["count"] += row["count"]
        summary[row["account_id"]]["values"].append((row["currency"], row["value"]))
    return summary


def timeline(activities: QuerySet[Activity], limit: int = 50) -> list[Activity]:
    """The newest activities with their authors (and deals), newest first."""
    return list(activities.select_related("author", "deal").order_by("-occurred_at", "-id")[:limit])


def _ids(values) -> set[int]:
    return {int(value) for value in values if value not in (None, "", "None")}


def history_names(*, accounts: set, owners: set, lost_reasons: set) -> dict[str, dict[int, str]]:
    """The names a deal's history shows for the ids it holds, ``{"account": {id: name}, "owner":
    ..., "lost_reason": ...}``, in one query whatever the changes (none when there are no ids)."""
    blank = Value("", output_field=CharField())
    wanted = {
        "account": (Account, _ids(accounts), ("name", blank, blank, blank)),
        "owner": (User, _ids(owners), ("full_name", "first_name", "last_name", "username")),
        "lost_reason": (LostReason, _ids(lost_reasons), ("name", blank, blank, blank)),
    }
    parts = [
        model.objects.filter(pk__in=ids)
        .order_by()
        .values_list(Value(field, output_field=CharField()), "pk", *columns)
        for field, (model, ids, columns) in wanted.items()
        if ids
    ]
    names: dict[str, dict[int, str]] = {field: {} for field in wanted}
    if not parts:
        return names
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    for field, pk, name, first_name, last_name, username in rows:
        if field == "owner":
            name = User(
                full_name=name, first_name=first_name, last_name=last_name, username=username
            ).display_name
        names[field][pk] = name
    return names
