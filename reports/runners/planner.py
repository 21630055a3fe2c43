"""The quota planner's grid: people by months or quarters of a year, with totals, from two queries."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q

from pipeline.periods import Period
from pipeline.scopes import Scope
from quotas.models import Quota, QuotaPeriod, TargetBasis
from quotas.selectors import prorated_target, rolled_up_targets
from reports.runners.series import SeriesRunner
from salesmgr.models import Role, User
from salesmgr.selectors import self_and_team_ids_subquery

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
COLUMN_KINDS = {"month": "Months", "quarter": "Quarters"}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    start: datetime.date
    last: datetime.date
    kind: str

    @property
    def previous(self) -> "Column":
        """The column of the same kind just before this one (in the year before for the first)."""
        months = 1 if self.kind == QuotaPeriod.MONTH else 3
        index = self.start.month - 1 - months
        start = datetime.date(self.start.year + index // 12, index % 12 + 1, 1)
        return column_at(start, self.kind)


def column_at(start: datetime.date, kind: str) -> Column:
    months = 1 if kind == QuotaPeriod.MONTH else 3
    index = start.month - 1 + months
    last = datetime.date(start.year + index // 12, index % 12 + 1, 1) - datetime.timedelta(days=1)
    if kind == QuotaPeriod.MONTH:
        label = start.strftime("%b")
    else:
        label = f"Q{(start.month - 1) // 3 + 1}"
    return Column(key=start.isoformat(), label=label, start=start, last=last, kind=kind)


def year_columns(year: int, kind: str) -> list[Column]:
    step = 1 if kind == QuotaPeriod.MONTH else 3
    return [column_at(datetime.date(year, month, 1), kind) for month in range(1, 13, step)]


def planner_people_filter(user: User) -> Q:
    """Whose quotas the planner shows ``user``: admins everyone who sells or leads, managers themselves and
    their team, reps themselves."""
    if user.is_admin:
        return Q(role__in=[Role.REP, Role.MANAGER], is_active=True)
    if user.is_manager:
        return Q(pk__in=self_and_team_ids_subquery(user.pk))
    return Q(pk=user.pk)


def _round_shares(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``total`` split in proportion to ``weights``, to the cent, the rounding left on the last share."""
    whole = sum(weights)
    shares = [(total * weight / whole).quantize(CENT) for weight in weights[:-1]]
    return [*shares, total - sum(shares, ZERO)]


def spread_targets(total: Decimal, weights: list[Decimal] | None) -> list[Decimal]:
    """A yearly target over twelve months: evenly, or in proportion to ``weights`` (last year's won value)."""
    if not weights or not sum(weights):
        weights = [Decimal(1)] * 12
    return _round_shares(total, weights)


def seasonality(owner_id: int, year: int) -> list[Decimal]:
    """The owner's won value in each month of the year before ``year`` (two grouped queries, the series runner's)."""
    last_year = Period(datetime.date(year - 1, 1, 1), datetime.date(year, 1, 1))
    points = SeriesRunner(Scope(owner=owner_id), last_year, "month").run()
    return [Decimal(point["won_value"]) for point in points]


def basis_summary(chosen: str | None, team: list[dict], columns: list[Column]) -> str:
    """Which figure a manager's team target is in this year's columns: the basis they chose, or, with no
    choice made, their own quota where they have one and the roll-up elsewhere, naming the columns."""
    if chosen:
        return TargetBasis(chosen).label
    own = [
        column.label
        for column, figure in zip(columns, team, strict=True)
        if figure["basis"] == TargetBasis.OWN
    ]
    if not own:
        return "No choice made: the roll-up of the team's quotas (no own quota this year)"
    if len(own) == len(columns):
        return "No choice made: their own quota (set in every column)"
    return f"No choice made: their own quota in {', '.join(own)}; the roll-up of the team's quotas elsewhere"


@dataclass(frozen=True)
class QuotaPlanRunner:
    """People (rows) by the months or quarters of ``year`` (columns): each person's quotas in each column,
    whether a cell may be edited in place (no quota crosses it), totals per row and per column (reps only,
    so a manager's own figure is never counted twice), and each manager's team target and how it is set."""

    user: User
    year: int
    kind: str = QuotaPeriod.MONTH

    def run(self) -> dict:
        columns = year_columns(self.year, self.kind)
        first, last = columns[0].start, columns[-1].last
        people = list(
            User.objects.filter(planner_people_filter(self.user))
            .order_by("role", "full_name", "username")
            .values_list(
                "pk",
                "manager_id",
                "role",
                "target_setting__basis",
                "full_name",
                "first_name",
                "last_name",
                "username",
            )
        )
        ids = [person[0] for person in people]
        quotas = list(
            Quota.objects.filter(
                owner_id__in=ids, period_start__lte=last, period_end__gte=first
            ).values_list("owner_id", "period_start", "period_end", "target")
        )
        windows = {column.key: (column.start, column.last) for column in columns}
        own: dict[int, dict[str, Decimal]] = {}
        crossed: set[tuple[int, str]] = set()
        yearly: dict[int, Decimal] = {}
        for owner_id, start, end, target in quotas:
            yearly[owner_id] = yearly.get(owner_id, ZERO) + prorated_target(
                target, start, end, (first, last)
            )
            for column in columns:
                if start <= column.last and end >= column.start:
                    cells = own.setdefault(owner_id, {})
                    share = prorated_target(target, start, end, (column.start, column.last))
                    cells[column.key] = cells.get(column.key, ZERO) + share
                    if (start, end) != (column.start, column.last):
                        crossed.add((owner_id, column.key))
        own = {
            pk: {key: value.quantize(CENT) for key, value in cells.items()}
            for pk, cells in own.items()
        }
        teams = rolled_up_targets([person[:4] for person in people], own, windows)
        rows = []
        column_totals = dict.fromkeys(windows, ZERO)
        for pk, _, role, basis, full_name, first_name, last_name, username in people:
            mine = own.get(pk, {})
            cells = [
                {
                    "column": column,
                    "value": mine.get(column.key),
                    "editable": (pk, column.key) not in crossed,
                }
                for column in columns
            ]
            if role == Role.REP:
                for key, value in mine.items():
                    column_totals[key] += value
            row = {
                "owner_id": pk,
                "username": username,
                "name": full_name or f"{first_name} {last_name}".strip() or username,
                "role": role,
                "cells": cells,
                "total": yearly.get(pk, ZERO).quantize(CENT),
            }
            if role == Role.MANAGER:
                figures = teams.get(pk, {})
                row["team"] = [
                    {
                        "key": column.key,
                        "amount": figures[column.key].amount,
                        "basis": figures[column.key].basis,
                    }
                    for column in columns
                ]
                row["team_total"] = sum((figure["amount"] for figure in row["team"]), ZERO)
                row["basis"] = basis or ""
                row["basis_chosen"] = basis is not None
                row["basis_label"] = basis_summary(basis, row["team"], columns)
            rows.append(row)
        return {
            "year": self.year,
            "kind": self.kind,
            "columns": columns,
            "rows": rows,
            "column_totals": [
                {"key": column.key, "value": column_totals[column.key]} for column in columns
            ],
            "total": sum(column_totals.values(), ZERO),
        }
