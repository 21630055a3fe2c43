"""Open deals that need attention: stalled in their stage, overdue, or quiet."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from pipeline.models import Activity, Deal, Stage, StageKind
from pipeline.money import converted
from pipeline.periods import start_of
from pipeline.scopes import Scope
from reports.metrics import deal_rows

DEAL_ROW_FIELDS = (
    "id",
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "created_at",
    "stage_entered_at",
    "stage__id",
    "stage__name",
    "stage__rot_days",
    "account__id",
    "account__name",
    "owner__id",
    "owner__username",
    "owner__full_name",
    "owner__first_name",
    "owner__last_name",
)


def rotting_stages() -> list[Stage]:
    """Open stages that have a limit on days in stage (one query; stages are reference data)."""
    return list(
        Stage.objects.filter(kind=StageKind.OPEN, rot_days__isnull=False).only("pk", "rot_days")
    )


def stalled_condition(stages: list[Stage], today: datetime.date) -> Q:
    """Open deals with more whole days in their stage than the stage's ``rot_days``, as the board counts them.

    One indexable condition per stage, so the database never computes a date per row.
    """
    condition = Q(pk__in=[])
    for stage in stages:
        condition |= Q(
            stage_id=stage.pk,
            stage_entered_at__lt=start_of(today - datetime.timedelta(days=stage.rot_days)),
        )
    return condition


def _deal_row(deal: Deal, today: datetime.date) -> Deal:
    entered = timezone.localtime(deal.stage_entered_at).date()
    deal.days_in_stage = max((today - entered).days, 0)
    deal.days_overdue = max((today - deal.expected_close_date).days, 0)
    deal.is_stalled = deal.stage.rot_days is not None and deal.days_in_stage > deal.stage.rot_days
    deal.is_overdue = deal.expected_close_date < today
    return deal


# Biggest in the reporting currency at today's rates (``converted_amount``); a deal without a rate comes last.
BIGGEST_FIRST = (F("converted_amount").desc(nulls_last=True), F("id").asc())


def _top_deals(deals, limit: int, today: datetime.date, **annotations) -> dict:
    """The ``limit`` biggest deals and how many there are in all, in one query.

    The count and the ranking read deal rows only; accounts, owners and stages
    (and any ``annotations``) are joined for the ``limit`` rows shown.
    """
    biggest = (
        deals.annotate(converted_amount=converted(on=today))
        .order_by(*BIGGEST_FIRST)
        .values("pk")[:limit]
    )
    total = deals.order_by().values(one=Value(1)).annotate(n=Count("pk")).values("n")
    rows = list(
        Deal.objects.filter(pk__in=Subquery(biggest))
        .select_related("stage", "account", "owner")
        .only(*DEAL_ROW_FIELDS)
        .annotate(
            total=Subquery(total, output_field=IntegerField()),
            converted_amount=converted(on=today),
            **annotations,
        )
        .order_by(*BIGGEST_FIRST)
    )
    return {
        "rows": [_deal_row(deal, today) for deal in rows],
        "total": rows[0].total if rows else 0,
    }


def top_deals_per_group(deals, limit: int, today: datetime.date, group: dict) -> list[dict]:
    """For each group of ``deals`` (``group``: alias -> expression), its ``limit`` biggest as
    ``_top_deals`` ranks them, each with its ``converted_amount`` and the group's count ``n``: one
    query. The biggest of a union of groups are among the biggest of each."""
    partition = [F(alias) for alias in group]
    return list(
        deals.annotate(converted_amount=converted(on=today), **group)
        .annotate(
            place=Window(RowNumber(), partition_by=partition, order_by=list(BIGGEST_FIRST)),
            n=Window(Count("pk"), partition_by=partition),
        )
        .filter(place__lte=limit)
        .values("pk", "converted_amount", "n", *group)
        .order_by()
    )


def deal_rows_shown(ids, today: datetime.date) -> dict[int, Deal]:
    """The deals ``_top_deals`` shows, by id, as it reads them: one query for any number."""
    rows = (
        Deal.objects.filter(pk__in=ids)
        .select_related("stage", "account", "owner")
        .only(*DEAL_ROW_FIELDS)
        .annotate(converted_amount=converted(on=today))
    )
    return {deal.pk: _deal_row(deal, today) for deal in rows}


def biggest_key(row: dict) -> tuple:
    """``BIGGEST_FIRST`` as a sort key of ``top_deals_per_group``'s rows."""
    amount = row["converted_amount"]
    return (amount is None, 0 if amount is None else -amount, row["pk"])


@dataclass(frozen=True)
class StalledDealsRunner:
    """Open deals of a scope stuck in their stage past its ``rot_days``: the biggest first (two queries)."""

    scope: Scope
    today: datetime.date
    limit: int = 10

    def run(self, stages: list[Stage] | None = None) -> dict:
        return _top_deals(self.deals(deal_rows(self.scope), stages), self.limit, self.today)

    def deals(self, rows, stages: list[Stage] | None = None):
        """Those of ``rows`` (the scope's deals) that are stalled."""
        stages = rotting_stages() if stages is None else stages
        return rows.filter(status=StageKind.OPEN).filter(stalled_condition(stages, self.today))


@dataclass(frozen=True)
class OverdueDealsRunner:
    """Open deals of a scope whose expected close date has passed: the biggest first (one query)."""

    scope: Scope
    today: datetime.date
    limit: int = 10

    def run(self) -> dict:
        return _top_deals(self.deals(deal_rows(self.scope)), self.limit, self.today)

    def deals(self, rows):
        """Those of ``rows`` (the scope's deals) that are overdue."""
        return rows.filter(status=StageKind.OPEN, expected_close_date__lt=self.today)


QUIET_DAYS = 14


@dataclass(frozen=True)
class AttentionRunner:
    """A person's open deals that need attention: stalled, overdue, or quiet (no activity in the
    last ``QUIET_DAYS`` days and none planned); the biggest first (two queries)."""

    scope: Scope
    now: datetime.datetime
    limit: int = 10

    def run(self) -> dict:
        today = timezone.localdate(self.now)
        stalled = stalled_condition(rotting_stages(), today)
        activities = Activity.objects.filter(deal_id=OuterRef("pk"))
        quiet_since = self.now - datetime.timedelta(days=QUIET_DAYS)
        # Anything from QUIET_DAYS ago on, planned ones included, keeps a deal from being quiet;
        # a deal younger than that has not had the time to be.
        touched = activities.filter(occurred_at__gte=quiet_since)
        quiet = Q(created_at__lt=quiet_since) & ~Exists(touched)
        deals = (
            deal_rows(self.scope)
            .filter(status=StageKind.OPEN)
            .filter(stalled | Q(expected_close_date__lt=today) | quiet)
        )
        found = _top_deals(
            deals,
            self.limit,
            today,
            last_activity_at=Subquery(
                activities.filter(occurred_at__lte=self.now)
                .order_by("-occurred_at")
                .values("occurred_at")[:1]
            ),
            next_activity_at=Subquery(
                activities.filter(occurred_at__gt=self.now)
                .order_by("occurred_at")
                .values("occurred_at")[:1]
            ),
        )
        for deal in found["rows"]:
            deal.is_quiet = (
                deal.created_at < quiet_since
                and deal.next_activity_at is None
                and (deal.last_activity_at is None or deal.last_activity_at < quiet_since)
            )
        return found
