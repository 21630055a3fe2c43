"""Reads the browser pages need beyond ``pipeline.selectors``.

Each function takes a queryset that already went through a visibility
selector (``deals_visible_to`` and friends), so none of them widens what a
user sees; they only shape it for one page.
"""

import datetime
from collections import defaultdict

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from pipeline.models import Activity, Deal, Pipeline, Stage, StageKind, StageTransition
from pipeline.periods import Period
from pipeline.scopes import Scope

CARD_FIELDS = (
    "id",
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "stage_entered_at",
    "closed_at",
    "status",
    "version",
    "stage_id",
    "pipeline_id",
    "account__id",
    "account__name",
    "owner__id",
    "owner__username",
    "owner__full_name",
    "owner__first_name",
    "owner__last_name",
)


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


def deals_on_board(
    visible: QuerySet[Deal], *, pipeline: Pipeline, scope: Scope, period: Period
) -> QuerySet[Deal]:
    """The deals a board column may show: the scope's, open, or closed within the period.

    Won and lost columns would otherwise grow for ever; they show recent closes only.
    """
    return deals_in_period(visible, scope=scope, period=period).filter(pipeline=pipeline)


def deals_in_period(visible: QuerySet[Deal], *, scope: Scope, period: Period) -> QuerySet[Deal]:
    """The scope's deals for a list: every open one, and those closed within the period."""
    start, end = period.bounds
    return visible.filter(scope.deal_filter()).filter(
        Q(status=StageKind.OPEN) | Q(closed_at__gte=start, closed_at__lt=end)
    )


def column_totals(deals: QuerySet[Deal]) -> dict[int, dict]:
    """Per stage: how many deals and their value per currency, in one grouped query."""
    totals: dict[int, dict] = defaultdict(lambda: {"count": 0, "values": []})
    rows = (
        deals.order_by()
        .values("stage_id", "currency")
        .annotate(count=Count("pk"), value=Sum("amount"))
        .order_by("stage_id", "currency")
    )
    for row in rows:
        column = totals[row["stage_id"]]
        column["count"] += row["count"]
        column["values"].append((row["currency"], row["value"]))
    return totals


def board_cards(
    deals: QuerySet[Deal], *, stage: Stage, offset: int, limit: int
) -> tuple[list[Deal], bool]:
    """One page of a column's cards, soonest close first, and whether more follow."""
    rows = list(
        deals.filter(stage=stage)
        .select_related("account", "owner")
        .only(*CARD_FIELDS)
        .order_by("expected_close_date", "id")[offset : offset + limit + 1]
    )
    cards = rows[:limit]
    today = timezone.localdate()
    for card in cards:
        decorate_card(card, stage, today)
    return cards, len(rows) > limit


def decorate_card(deal: Deal, stage: Stage, today: datetime.date | None = None) -> Deal:
    """Give a deal the figures its card shows: days in stage, and whether it is stalled."""
    today = today or timezone.localdate()
    entered = timezone.localtime(deal.stage_entered_at).date()
    deal.days_in_stage = max((today - entered).days, 0)
    deal.is_stalled = bool(
        stage.kind == StageKind.OPEN
        and stage.rot_days is not None
        and deal.days_in_stage > stage.rot_days
    )
    deal.board_stage = stage
    return deal


def card_deal(visible: QuerySet[Deal], deal_id: int) -> Deal | None:
    """One deal as a board card shows it (with its stage), or None when not visible."""
    return (
        visible.select_related("account", "owner", "stage", "pipeline").filter(pk=deal_id).first()
    )


def export_rows(deals: QuerySet[Deal]):
    """Every column of the CSV export, in the order of ``deals``, from one query streamed in chunks."""
    return deals.values_list(
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
    ).iterator(chunk_size=2000)


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


def lookup_names(model, ids, field: str = "name") -> dict:
    """``{id: label}`` for a set of ids, in one query (for history entries that hold ids)."""
    ids = {int(i) for i in ids if i not in (None, "", "None")}
    if not ids:
        return {}
    if field == "display_name":
        return {obj.pk: obj.display_name for obj in model.objects.filter(pk__in=ids)}
    return dict(model.objects.filter(pk__in=ids).values_list("pk", field))
