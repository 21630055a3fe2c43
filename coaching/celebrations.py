"""Streaks and personal bests: what a rep has kept up and the best they have done, for celebrating.

Definitions (every figure from won deals, ``status = won``, dated by the local
date of ``closed_at``, never after ``today``; money in the reporting currency
at the close date's rate through ``pipeline.money.at_close``; a deal in a
currency without a rate then counts for a streak but not for a best):

- **Win streak.** Consecutive ISO weeks (Monday to Sunday) in each of which the
  rep won at least one deal. An empty week breaks it. *Current*: the run that
  includes this week or last week (this week is not over, so a run that ended
  last week still stands), else 0. *Longest*: the longest run ever (the latest
  such run when several tie), with the Monday of its first and last week.
- **Quota streak.** Consecutive calendar months in which the rep reached 100%
  of their month's quota, read from the recorded quota milestones (the same
  record the milestone feed shows; ``coaching.services.celebrations``).
  *Current*: the run that includes this month or last month; *longest* as above.
- **Personal best deal.** The rep's largest won deal ever by value (the
  earliest, then the lowest id, when two are equal).
- **Personal best month.** The calendar month in which the rep won the most
  value (the earliest when two are equal).
- A best is **new** when it was set within the last ``NEW_WITHIN_DAYS`` days
  of ``today``: the best deal closed then, or the best month's last win did.

Both are computed in SQL (gaps and islands: a run of consecutive weeks shares
``week number - row number``; the best rows ranked by a window), in a fixed
number of queries whatever the number of people, on PostgreSQL and SQLite. On
PostgreSQL the weeks with a win and the months' values come from the closed
deals' daily rollup (``reports.rollups``), and the best deal is ranked among
the deals that can reach a bound found from each person's largest deals.

Who sees them: celebrations are public within a team. A rep sees their own and
those of the people who share their manager; a manager those of everyone below
them at any depth; an admin everyone's; nobody those of another team
(``celebration_people_visible_to``). A best shows the deal's name only to those
who may see the deal (its owner and the managers above them); teammates see its
value and date. The wins feed (``coaching.wins``) lists deals and so follows
the deals' own visibility: a rep's feed is their own wins.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import connection
from django.db.models import (
    DateField,
    Expression,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from coaching.models import Milestone, MilestonePeriod
from pipeline.models import Deal, ExchangeRate, StageKind
from pipeline.money import at_close, at_day, reporting_currency
from pipeline.periods import start_of
from reports import rollups
from reports.beside import beside
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery

NEW_WITHIN_DAYS = 30
# The home panel lists streaks of at least this many weeks, and this many streaks and bests at most.
PANEL_STREAK_WEEKS = 2
PANEL_SHOWN = 5
EPOCH_MONDAY = datetime.date(2000, 1, 3)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Run:
    """A run of consecutive periods: how many, and the first day of its first and last period."""

    length: int
    first: datetime.date | None = None
    last: datetime.date | None = None


@dataclass(frozen=True)
class Streaks:
    user_id: int
    weeks_current: Run
    weeks_longest: Run
    quota_months_current: Run
    quota_months_longest: Run


@dataclass(frozen=True)
class Best:
    value: Decimal
    day: datetime.date  # the best deal's close date; the best month's first day
    is_new: bool
    deal_id: int | None = None
    deal_name: str | None = None
    last_win: datetime.date | None = None  # the best month's last win


@dataclass(frozen=True)
class PersonalBests:
    user_id: int
    deal: Best | None
    month: Best | None


NO_RUN = Run(0)


def celebration_people_visible_to(user: User) -> QuerySet[User]:
    """The people whose streaks and bests ``user`` may see: admins everyone; a manager everyone below
    them; anyone themselves and those who share their manager."""
    if user.is_admin:
        return User.objects.all()
    condition = Q(pk=user.pk)
    if user.manager_id is not None:
        condition |= Q(manager_id=user.manager_id)
    if user.is_manager:
        condition |= Q(pk__in=team_member_ids_subquery(user.pk))
    return User.objects.filter(condition)


def _serial(column: str, unit: str) -> str:
    """SQL numbering ``column`` (a date starting a week or a month) so that consecutive periods differ by one."""
    if connection.vendor == "postgresql":
        if unit == "week":
            return f"(({column})::date - DATE '{EPOCH_MONDAY.isoformat()}') / 7"
        return f"(EXTRACT(YEAR FROM {column}) * 12 + EXTRACT(MONTH FROM {column}))::integer"
    if unit == "week":
        return f"CAST(ROUND((julianday({column}) - julianday('{EPOCH_MONDAY.isoformat()}')) / 7) AS INTEGER)"
    return f"(CAST(strftime('%%Y', {column}) AS INTEGER) * 12 + CAST(strftime('%%m', {column}) AS INTEGER))"


def _runs(periods: QuerySet, unit: str, current_from: datetime.date) -> dict[int, tuple[Run, Run]]:
    """For a queryset of distinct ``(person, start)`` rows, each person's current and longest run of
    consecutive periods (gaps and islands, one query)."""
    inner, params = periods.query.sql_with_params()
    serial = _serial("start", unit)
    sql = f"""
        WITH periods AS ({inner}),
        numbered AS (
            SELECT person, start, {serial} - ROW_NUMBER() OVER (PARTITION BY person ORDER BY start) AS island
            FROM periods
        ),
        islands AS (
            SELECT person, MIN(start) AS first_start, MAX(start) AS last_start, COUNT(*) AS length
            FROM numbered GROUP BY person, island
        ),
        ranked AS (
            SELECT person, first_start, last_start, length,
                ROW_NUMBER() OVER (PARTITION BY person ORDER BY length DESC, last_start DESC) AS by_length,
                ROW_NUMBER() OVER (PARTITION BY person ORDER BY last_start DESC) AS by_recency
            FROM islands
        )
        SELECT person, first_start, last_start, length, by_length, by_recency
        FROM ranked WHERE by_length = 1 OR by_recency = 1
    """
    found: dict[int, list[Run]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for person, first, last, length, by_length, by_recency in cursor.fetchall():
            first, last = _as_date(first), _as_date(last)
            runs = found.setdefault(person, [NO_RUN, NO_RUN])
            if by_recency == 1 and last >= current_from:
                runs[0] = Run(length, first, last)
            if by_length == 1:
                runs[1] = Run(length, first, last)
    return {person: (runs[0], runs[1]) for person, runs in found.items()}


def _as_date(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    return value


def _won_until(today: datetime.date) -> QuerySet[Deal]:
    """The live deals won by the end of ``today``."""
    return Deal.objects.filter(
        status=StageKind.WON,
        closed_at__lt=start_of(today + datetime.timedelta(days=1)),
        deleted_at__isnull=True,
    )


def _won_by(user_ids, today: datetime.date) -> QuerySet[Deal]:
    return _won_until(today).filter(owner_id__in=user_ids)


def _wins(user_ids, today: datetime.date) -> tuple[QuerySet, Expression, Expression]:
    """The wins of ``user_ids`` by the end of ``today`` as rows, each row's local close day and its
    value in the reporting currency: the closed deals' daily rollup when it may be read (a row per
    owner, day and currency, converted once: 68,000 rows for the 297,000 wins of an admin's people
    at 1,000,000 deals), else the deals themselves."""
    if rollups.ready():
        rows = rollups.closed_days(datetime.date.min).filter(
            owner_id__in=user_ids, status=StageKind.WON, day__lte=today
        )
        return rows, F("day"), at_day()
    local_day = TruncDate("closed_at", tzinfo=timezone.get_current_timezone())
    return _won_by(user_ids, today), local_day, at_close()


def streaks_for(user_ids, today: datetime.date) -> dict[int, Streaks]:
    """The win and quota streaks of ``user_ids`` (a list or a subquery) as of ``today`` (two queries;
    on PostgreSQL one more asks whether the closed deals' rollup may be read).

    Everyone in ``user_ids`` gets an entry; no wins is a run of 0."""
    wins, day, _ = _wins(user_ids, today)
    weeks = (
        wins.annotate(person=F("owner_id"), start=TruncWeek(day, output_field=DateField()))
        .values_list("person", "start")
        .order_by()
        .distinct()
    )
    this_monday = today - datetime.timedelta(days=today.weekday())
    week_runs = _runs(weeks, "week", this_monday - datetime.timedelta(days=7))
    months = (
        Milestone.objects.filter(
            rep_id__in=user_ids,
            period=MilestonePeriod.MONTH,
            level=100,
            period_start__lte=today,
        )
        .annotate(person=F("rep_id"), start=F("period_start"))
        .values_list("person", "start")
        .order_by()
        .distinct()
    )
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    month_runs = _runs(months, "month", last_month)
    ids = user_ids if isinstance(user_ids, (list, tuple, set)) else week_runs | month_runs
    empty = (NO_RUN, NO_RUN)
    return {pk: Streaks(pk, *week_runs.get(pk, empty), *month_runs.get(pk, empty)) for pk in ids}


def personal_bests_for(user_ids, today: datetime.date) -> dict[int, PersonalBests]:
    """The best deal and the best month of ``user_ids`` as of ``today``, each flagged when new (five
    queries: the highest rates, each person's largest deals, the candidates, the best deals, the
    best months; on PostgreSQL one more asks whether the closed deals' rollup may be read)."""
    new_since_day = today - datetime.timedelta(days=NEW_WITHIN_DAYS)
    new_since = start_of(new_since_day)
    deals = (
        _won_until(today)
        .filter(pk__in=_best_deal_candidates(user_ids, today))
        .annotate(value=at_close())
        .filter(value__isnull=False)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("owner_id"),
                order_by=[F("value").desc(), F("closed_at").asc(), F("pk").asc()],
            )
        )
        .filter(rank=1)
        .values_list("owner_id", "pk", "name", "value", "closed_at")
    )
    wins, day, value = _wins(user_ids, today)
    monthly = (
        wins.annotate(month=TruncMonth(day, output_field=DateField()))
        .values("owner_id", "month")
        .annotate(total=Sum(value), last_win=Max(day))
        .filter(total__isnull=False)
        .values_list("owner_id", "month", "total", "last_win")
        .order_by()
    )
    inner, params = monthly.query.sql_with_params()
    sql = f"""
        SELECT owner_id, month, total, last_win FROM (
            SELECT owner_id, month, total, last_win,
                ROW_NUMBER() OVER (PARTITION BY owner_id ORDER BY total DESC, month ASC) AS rank
            FROM ({inner}) monthly
        ) ranked WHERE rank = 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        months = cursor.fetchall()
    best_deals = {
        owner: Best(
            value=_cents(value),
            day=timezone.localdate(closed_at),
            is_new=closed_at >= new_since,
            deal_id=pk,
            deal_name=name,
        )
        for owner, pk, name, value, closed_at in deals
    }
    best_months = {
        owner: Best(
            value=_cents(total),
            day=_as_date(month),
            is_new=_as_date(last_win) >= new_since_day,
            last_win=_as_date(last_win),
        )
        for owner, month, total, last_win in months
    }
    ids = (
        user_ids
        if isinstance(user_ids, (list, tuple, set))
        else best_deals.keys() | best_months.keys()
    )
    return {pk: PersonalBests(pk, best_deals.get(pk), best_months.get(pk)) for pk in ids}


def _best_deal_candidates(user_ids, today: datetime.date) -> list[int]:
    """The won deals that may be someone's best: per person and currency, those whose amount at the
    currency's highest rate reaches the converted value of the person's largest deal in some currency.

    Ranking every won deal by its converted value read and converted all of them (297,000 for an
    admin at 1,000,000 deals, 0.44 s). No deal below the bound can be a best, as a deal's value is
    at most its amount times its currency's highest rate (the reporting currency's is 1); one
    largest deal per person and currency gives the bound, from ``deal_won_owner_amount_idx``, and
    the candidates are each a short range of it (three queries: the highest rates, the largest
    deals, the candidates' ids). A person whose largest deals have no rate keeps every deal in a
    currency with one.
    """
    reporting = reporting_currency()
    top_rates = dict(
        ExchangeRate.objects.exclude(currency=reporting)
        .values("currency")
        .annotate(top=Max("rate"))
        .values_list("currency", "top")
        .order_by()
    )
    top_rates[reporting] = Decimal(1)
    currencies = sorted(top_rates)
    largest = {}
    for number, currency in enumerate(currencies):
        top = (
            _won_until(today).filter(owner_id=OuterRef("pk"), currency=currency).order_by("-amount")
        )
        largest[f"amount_{number}"] = Subquery(top.values("amount")[:1])
        largest[f"value_{number}"] = Subquery(top.annotate(value=at_close()).values("value")[:1])
    people = User.objects.filter(pk__in=user_ids).annotate(**largest).values_list("pk", *largest)
    bounds = []  # (person, currency, the least amount that can reach the person's bound)
    for pk, *figures in people:
        amounts, values = figures[0::2], figures[1::2]
        known = [value for value in values if value is not None]
        for currency, amount in zip(currencies, amounts, strict=True):
            if amount is None:
                continue  # no deal in this currency
            floor = CENT
            if known:
                # A cent below: SQLite computes the values in floating point.
                floor = (Decimal(max(known)) / top_rates[currency]).quantize(CENT, ROUND_FLOOR)
            bounds.append((pk, currency, floor - CENT))
    if not bounds:
        return []
    # A list joined, each bound one range of the index (a nested loop). As an OR of ranges, planning
    # 200 of them took longer than reading them; as an EXISTS, the whole index was hashed.
    rows = ", ".join(["(%s, %s, %s)"] * len(bounds))
    won, won_params = (
        _won_until(today)
        .values("id", "owner_id", "currency", "amount")
        .order_by()  # unordered, it is flattened into the join
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.id FROM (VALUES {rows}) AS bound JOIN ({won}) AS d"
            " ON d.owner_id = bound.column1 AND d.currency = bound.column2"
            " AND d.amount >= bound.column3",
            [*(value for bound in bounds for value in bound), *won_params],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _cents(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def panel_celebrations(user: User, today: datetime.date) -> dict:
    """The home panel's streaks and bests: the people ``user`` may see with a current win streak of
    at least ``PANEL_STREAK_WEEKS`` weeks or a quota streak, and every new personal best (five queries)."""
    people = {
        person.pk: person
        for person in celebration_people_visible_to(user)
        .filter(is_active=True)
        .only("pk", "username", "full_name", "first_name", "last_name", "manager_id")
    }
    ids = list(people)
    # The weeks with a win and the best months each read every win of the people shown (68,000
    # rollup rows for an admin at 1,000,000 deals, 45 ms apiece): the streaks on a connection of
    # their own, beside the bests.
    with beside(streaks_for, ids, today) as streaks_read:
        bests = personal_bests_for(ids, today)
    streaks = streaks_read.result()
    shown_streaks = sorted(
        (
            {"person": people[pk], "streaks": s}
            for pk, s in streaks.items()
            if s.weeks_current.length >= PANEL_STREAK_WEEKS or s.quota_months_current.length >= 2
        ),
        key=lambda row: (-row["streaks"].weeks_current.length, row["person"].display_name),
    )
    new_bests = []
    for pk, best in bests.items():
        for kind, figure in (("deal", best.deal), ("month", best.month)):
            if figure is not None and figure.is_new:
                may_see_deal = pk == user.pk or not user.is_rep
                new_bests.append(
                    {"person": people[pk], "kind": kind, "best": figure, "named": may_see_deal}
                )
    new_bests.sort(key=lambda row: row["best"].last_win or row["best"].day, reverse=True)
    return {
        "streaks": shown_streaks[:PANEL_SHOWN],
        "new_bests": new_bests[:PANEL_SHOWN],
        "currency": reporting_currency(),
    }
