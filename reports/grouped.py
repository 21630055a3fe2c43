"""Funnels and forecasts of many scopes at once, from a few grouped passes over the data.

The nightly snapshots cover every rep, team, territory and pipeline. Computed one
scope at a time, each of them reads the same deals and transitions again (the
organisation, the teams, the territories and the pipelines each cover every
deal once more). Here every query groups its sums by *cell*: a deal's owner, its
account's territory and its pipeline. A deal lies in exactly one cell, so a
scope's counts and sums (distinct deals included) are the sums over the cells
inside it, and ratios, means and the model follow from those sums exactly as
``metrics.funnel`` and ``forecasts.forecast`` derive them for one scope.

The figures are those of the live state (no ``as_of``). Five queries:

1. deals grouped by cell and stage: the funnel totals, what is open in each
   stage, and each horizon's forecast sums, value won and new business;
2. the period's stage transitions, each with what its deal did afterwards (a
   window over the deal's later transitions): entered and advanced per stage;
3. the period's stays: days spent in each stage that was left;
4. the year's transitions into open stages with the deal's next move and first
   close after each (the same kind of window): the model's training;
5. open deals grouped by cell, stage and days in stage: what the model weighs;
6. deals outside the reporting currency grouped by cell and currency: those
   left out of the funnel and of each horizon's forecast for want of a rate.

``forecasts_as_of`` gives the forecasts of many scopes as of one date, past or
present, in four: the deals as they stood that morning (their history rows) by
cell and stage for the forecast sums and new business, the value won in each
window since (as known now, each deal in the territory it was won in), the
year's entries into open stages before that morning, each counted in the cell
its deal was in then, and the open deals by cell, stage and days in stage. A
past date reads each account's territory of that morning from its history,
as ``Scope.deal_filter(territory_at=...)`` does for one scope. ``forecasts_backfill`` runs it once per date.

A product is no cell dimension, so a scope with a product is computed alone.
"""

import datetime
import gc
import logging
import threading
import time
import uuid
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from pipeline.models import Deal, Stage, StageKind, StageTransition
from pipeline.money import at_close, merge_unconverted, reporting_currency, unconverted
from pipeline.periods import Period, start_of
from pipeline.scopes import Scope
from pipeline.selectors import account_territory_at
from quotas.models import Territory
from reports.beside import beside
from reports.forecasts import (
    HORIZONS,
    MONEY_SUMS,
    Training,
    elapsed_days,
    entry_counts,
    entry_key,
    forecast_result,
    model_estimate,
    moment_of,
    money,
    new_business_from,
    new_business_sums,
    open_group_sums,
    open_stage_table,
    prorated_quota,
    transition_band,
    window_sums,
    window_unconverted,
)
from reports.forked import ChildFailed, Forked, processes
from reports.metrics import (
    add_sums,
    deal_rows,
    deal_sums,
    figures_from_sums,
    flow_counts,
    funnel_unconverted_filter,
    open_stages,
    stage_rows,
)
from reports.sql import DaysBetween
from salesmgr.cache import cache_get, cache_set
from salesmgr.models import User

Cell = tuple[int, int | None, int]  # owner id, territory id (None: no territory), pipeline id

logger = logging.getLogger(__name__)

# A pass whose groups' cells hold at least this many entries in all hands a share of its groups
# to a second process (``_shares``); below it the fork costs more than it saves.
SHARED_FROM_ENTRIES = 100_000


def _cell(prefix: str = "") -> dict:
    return {
        "cell_owner": F(f"{prefix}owner_id"),
        "cell_territory": F(f"{prefix}account__territory_id"),
        "cell_pipeline": F(f"{prefix}pipeline_id"),
    }


def _cell_at(when) -> dict:
    """``_cell`` of deal rows with the account's territory at ``when``: a moment, or a reference to one
    of the row's own (``OuterRef("closed_at")``), as ``Scope.deal_filter(territory_at=...)`` reads it."""
    territory = account_territory_at(
        when, account=OuterRef("account_id"), live=F("account__territory_id")
    )
    return {**_cell(), "cell_territory": territory}


def _cell_of(row: dict) -> Cell:
    return row["cell_owner"], row["cell_territory"], row["cell_pipeline"]


# For other grouped passes: the columns that name a deal row's cell, and a grouped row's cell.
cell_columns = _cell
cell_of = _cell_of


def _add(total, value):
    if value is None:
        return total
    return value if total is None else total + value


class ScopeMap:
    """Which cells lie in a scope: the reporting line and the territory tree, read once.

    A team and a territory are walked as the recursive SQL of ``Scope.deal_filter``
    walks them: at any depth, each node once, so corrupt data with a cycle ends
    the walk just as UNION ends the SQL's.
    """

    def __init__(self):
        self._reports = defaultdict(list)
        for pk, manager_id in User.objects.values_list("pk", "manager_id"):
            if manager_id is not None:
                self._reports[manager_id].append(pk)
        self._children = defaultdict(list)
        for pk, parent_id in Territory.objects.values_list("pk", "parent_id"):
            if parent_id is not None:
                self._children[parent_id].append(pk)

    @staticmethod
    def _walk(tree: dict, start: Iterable[int]) -> set[int]:
        """``start`` and every node below it; a node already found is not walked again."""
        found = set(start)
        waiting = list(found)
        while waiting:
            for child in tree[waiting.pop()]:
                if child not in found:
                    found.add(child)
                    waiting.append(child)
        return found

    def team(self, manager_id: int) -> set[int]:
        """Everyone below the manager, at any depth (as ``team_member_ids_subquery``)."""
        return self._walk(self._reports, self._reports[manager_id])

    def territories(self, territory_id: int) -> set[int]:
        """The territory and every one inside it (as ``territory_subtree_ids_subquery``)."""
        return self._walk(self._children, [territory_id])

    def test(self, scope: Scope) -> Callable[[Cell], bool]:
        """Whether a cell lies in ``scope`` (which has no product)."""
        owners = None if scope.owner is None else {scope.owner}
        if scope.team is not None:
            team = self.team(scope.team)
            owners = team if owners is None else owners & team
        territories = None if scope.territory is None else self.territories(scope.territory)
        pipeline = scope.pipeline

        def contains(cell: Cell) -> bool:
            owner, territory, pipeline_id = cell
            return (
                (owners is None or owner in owners)
                and (territories is None or territory in territories)
                and (pipeline is None or pipeline_id == pipeline)
            )

        return contains


@dataclass
class CellSums:
    """Everything one cell contributes, keyed so that cells add up."""

    deals: dict = field(default_factory=dict)  # stage id -> the deal pass's sums
    flow: dict = field(default_factory=dict)  # stage id -> [entered, advanced]
    stays: dict = field(default_factory=dict)  # stage id -> [days, stays]
    entries: "Entries" = field(
        default_factory=lambda: Entries()
    )  # (stage id, outcome, size band, exit destination, *weights), as ``entry_counts`` gives them
    open_groups: list = field(default_factory=list)  # (stage id, elapsed, value, value squared)
    won: dict = field(default_factory=dict)  # horizon -> value won in the window, as known now
    unconverted: list = field(
        default_factory=list
    )  # per currency: deals and value left out, funnel and horizons


def _cells(
    period: Period, today: datetime.date, now: datetime.datetime, entries: bool = True
) -> dict[Cell, CellSums]:
    """What each cell holds for the live figures; without ``entries``, all but the model's training."""
    cells: dict[Cell, CellSums] = defaultdict(CellSums)
    if not entries:
        _cells_but_entries(cells, period, today, now)
        return cells
    with beside(_entry_cells, now) as read:
        _cells_but_entries(cells, period, today, now)
    _entries_into(cells, read.result())
    return cells


def _entries_into(cells: dict[Cell, CellSums], entry_cells: dict[Cell, CellSums]) -> None:
    for cell, sums in entry_cells.items():
        cells[cell].entries = sums.entries


def _entry_cells(now: datetime.datetime) -> dict[Cell, CellSums]:
    """The cells' entries (the model's training, the longest query of the pass)."""
    cells: dict[Cell, CellSums] = defaultdict(CellSums)
    # In a transaction: a server-side cursor then hands rows over as PostgreSQL makes them,
    # where outside one (autocommit) it is a holdable cursor, whose whole result is computed
    # and stored before the first row is read.
    with transaction.atomic():
        _add_entries(cells, _entry_pass(now))
    return cells


def _cells_but_entries(
    cells: dict[Cell, CellSums], period: Period, today: datetime.date, now: datetime.datetime
) -> None:
    for row in _deal_pass(period, today, now):
        sums = cells[_cell_of(row)]
        sums.deals[row["stage_id"]] = row
        for horizon in HORIZONS:
            sums.won[horizon] = _add(sums.won.get(horizon), row[f"won_{horizon}"])
    for cell, stage_id, entered, advanced in _flow_pass(period):
        cells[cell].flow[stage_id] = (entered, advanced)
    for row in _stays_pass(period):
        cells[_cell_of(row)].stays[row["from_stage_id"]] = (row["days"], row["stays"])
    for row in _open_pass(now):
        cells[_cell_of(row)].open_groups.append(
            (row["stage_id"], row["elapsed"], row["value"], row["value_sq"])
        )
    for row in _unconverted_pass(period, today, now):
        cells[_cell_of(row)].unconverted.append(row)


def _won_window(today: datetime.date, horizon: int, now: datetime.datetime) -> Q:
    end = min(start_of(today + datetime.timedelta(days=horizon)), now)
    return Q(status=StageKind.WON, closed_at__gte=start_of(today), closed_at__lt=end)


def _deal_pass(period: Period, today: datetime.date, now: datetime.datetime):
    aggregates = deal_sums(period, today)
    for horizon in HORIZONS:
        aggregates |= window_sums(today, horizon, suffix=f"_{horizon}")
        aggregates[f"won_{horizon}"] = Sum(at_close(), filter=_won_window(today, horizon, now))
        aggregates |= new_business_sums(now, horizon, suffix=f"_new_{horizon}")
    return (
        Deal.objects.filter(deleted_at__isnull=True)
        .values("stage_id", **_cell())
        .annotate(**aggregates)
        .order_by()
    )


def _flow_pass(period: Period):
    """Per cell and open stage: the deals that entered it in the period, and of those the ones that went on."""
    rows = flow_counts(
        StageTransition.objects.filter(deal__deleted_at__isnull=True), period, _cell("deal__")
    )
    return [((owner, territory, pipeline), *rest) for owner, territory, pipeline, *rest in rows]


def _stays_pass(period: Period):
    start, end = period.bounds
    stay = DaysBetween(F("at"), F("from_stage_entered_at"))
    return (
        StageTransition.objects.filter(
            at__gte=start, at__lt=end, from_stage__isnull=False, deal__deleted_at__isnull=True
        )
        .values("from_stage_id", **_cell("deal__"))
        .annotate(days=Sum(stay), stays=Count(stay))
        .order_by()
    )


def _entry_pass(moment: datetime.datetime):
    """Per cell and open stage: the entries of the last year by what had become of them at ``moment``."""
    return _entries(
        StageTransition.objects.filter(deal__deleted_at__isnull=True),
        moment,
        _cell("deal__") | transition_band(moment, True),
    )


def _open_pass(moment: datetime.datetime):
    return (
        Deal.objects.filter(deleted_at__isnull=True, status=StageKind.OPEN)
        .annotate(elapsed=elapsed_days(moment))
        .values("stage_id", "elapsed", **_cell())
        .annotate(**open_group_sums(timezone.localdate(moment)))
        .order_by()
    )


def _unconverted_pass(period: Period, today: datetime.date, now: datetime.datetime):
    """Per cell and currency: the deals the funnel and each horizon's forecast leave out for want of a rate."""
    wanting = {"funnel": funnel_unconverted_filter(period, today)}
    for horizon in HORIZONS:
        won_without_rate = _won_window(today, horizon, now) & unconverted(at_close())
        wanting[str(horizon)] = window_unconverted(today, horizon) | won_without_rate
    aggregates = {}
    for name, condition in wanting.items():
        aggregates[f"deals_{name}"] = Count("id", filter=condition)
        aggregates[f"value_{name}"] = Sum("amount", filter=condition)
    return (
        Deal.objects.filter(deleted_at__isnull=True)
        .exclude(currency=reporting_currency())
        .values("currency", **_cell())
        .annotate(**aggregates)
        .order_by()
    )


def _unconverted(parts: list[CellSums], name: str) -> list[dict]:
    """The cells' deals left out of figure ``name`` (``funnel`` or a horizon), added up per currency."""
    return merge_unconverted(
        [
            {
                "currency": row["currency"],
                "deals": row[f"deals_{name}"],
                "value": money(row[f"value_{name}"]),
            }
            for part in parts
            for row in part.unconverted
            if row[f"deals_{name}"]
        ]
    )


def figures(
    scopes: list[Scope],
    *,
    period: Period,
    now: datetime.datetime,
    reuse_learned: bool = False,
    meanwhile: Callable[[], None] | None = None,
) -> dict[str, dict]:
    """For each scope (none with a product): ``{"funnel": ..., "forecasts": [30, 60, 90 days]}``,
    as ``metrics.funnel(scope, period)`` and ``forecasts.forecast(scope, today, H, now=now)`` give them.

    With ``reuse_learned`` (a change's recompute) the model's trainings are kept in this process
    and reused by the next such pass for ``REPORTS_LEARNED_MAX_AGE`` seconds (``Learned``): every
    other figure, and the open deals the model weighs, are read afresh.

    ``meanwhile`` (queries of the caller's own) runs beside the model's part of the pass, once
    the cells are read (``beside``: on a thread with a connection of its own, where it may):
    the model is Python on one core, and the database has nothing else to do then. Its error,
    if any, is raised here once the figures are done."""
    if any(scope.product is not None for scope in scopes):
        raise ValueError("A scope with a product is not made of cells; compute it on its own.")
    today = timezone.localdate(now)
    probabilities, paths = open_stage_table()
    learned = Learned.fresh(now, paths) if reuse_learned else None
    results = {}
    with _collections_spaced():
        cells = _cells(period, today, now, entries=learned is None)
        scope_map = ScopeMap()
        stages = open_stages()
        if learned is not None and not learned.covers(_alike(scopes, cells, scope_map)):
            # A scope made of other cells than last time (a new owner, a moved team): learn afresh.
            _entries_into(cells, _entry_cells(now))
            learned = None
        if reuse_learned and learned is None:
            learned = Learned.start(now, paths, cells)
        each_scope = _by_group(
            scopes, cells, scope_map, learned, model_inputs=(now, probabilities, paths)
        )
        with beside(meanwhile or _nothing) as other_work:
            for scope, parts, training, models in each_scope:
                results[scope.key] = {
                    "funnel": _funnel(scope, period, parts, stages),
                    "forecasts": [
                        _forecast(
                            scope,
                            today,
                            horizon,
                            now,
                            True,
                            parts,
                            probabilities,
                            training,
                            paths,
                            models,
                        )
                        for horizon in HORIZONS
                    ],
                }
        other_work.result()
    return {scope.key: results[scope.key] for scope in scopes}


def _nothing() -> None:
    """No work beside the model (``figures``' ``meanwhile``)."""


def forecasts_as_of(
    scopes: list[Scope], *, as_of: datetime.date, now: datetime.datetime
) -> dict[str, list[dict]]:
    """For each scope (none with a product): the 30, 60 and 90-day forecasts as of ``as_of``, as
    ``forecasts.forecast(scope, as_of, H, now=now)`` gives them.

    A past date reads every deal and transition as it stood that morning (the
    deals' history rows, each in the cell it was in then); the value won in
    each window is what is known ``now``. Four grouped queries, then the
    quotas scope by scope as ``forecast`` reads them.
    """
    if any(scope.product is not None for scope in scopes):
        raise ValueError("A scope with a product is not made of cells; compute it on its own.")
    moment, live = moment_of(as_of, now)
    results = {}
    with _collections_spaced():
        cells = _cells_as_of(as_of, moment, live, now)
        scope_map = ScopeMap()
        probabilities, paths = open_stage_table()
        for scope, parts, training, models in _by_group(
            scopes, cells, scope_map, model_inputs=(moment, probabilities, paths)
        ):
            results[scope.key] = [
                _forecast(
                    scope,
                    as_of,
                    horizon,
                    moment,
                    live,
                    parts,
                    probabilities,
                    training,
                    paths,
                    models,
                )
                for horizon in HORIZONS
            ]
    return {scope.key: results[scope.key] for scope in scopes}


def _cells_as_of(
    as_of: datetime.date, moment: datetime.datetime, live: bool, now: datetime.datetime
) -> dict[Cell, CellSums]:
    """What each cell holds for the forecasts as of ``as_of``: the deal rows as they stood at ``moment``
    (live rows when ``live``), the year's entries before it, and what has been won since, as known ``now``."""
    rows = deal_rows(Scope(), None if live else moment)
    # Past the as-of date an account lies in its territory of the moment, a won deal in the one it was won in.
    deal_cell, won_cell = (
        (_cell(), _cell()) if live else (_cell_at(moment), _cell_at(OuterRef("closed_at")))
    )
    cells: dict[Cell, CellSums] = defaultdict(CellSums)
    aggregates: dict = {}
    for horizon in HORIZONS:
        aggregates |= window_sums(as_of, horizon, suffix=f"_{horizon}")
        aggregates |= new_business_sums(moment, horizon, suffix=f"_new_{horizon}")
    for row in rows.values("stage_id", **deal_cell).annotate(**aggregates).order_by():
        cells[_cell_of(row)].deals[row["stage_id"]] = row
    won = {
        f"won_{horizon}": Sum(at_close(), filter=_won_window(as_of, horizon, now))
        for horizon in HORIZONS
    }
    since = Q(status=StageKind.WON, closed_at__gte=start_of(as_of))
    for row in (
        Deal.objects.filter(since, deleted_at__isnull=True)
        .values(**won_cell)
        .annotate(**won)
        .order_by()
    ):
        cells[_cell_of(row)].won = {horizon: row[f"won_{horizon}"] for horizon in HORIZONS}
    transitions = StageTransition.objects.filter(deal_id__in=rows.values("id"))
    _add_entries(
        cells,
        _entries(
            transitions,
            moment,
            (_cell("deal__") if live else _cell_then(moment)) | transition_band(moment, live),
        ),
    )
    open_deals = (
        rows.filter(status=StageKind.OPEN)
        .annotate(elapsed=elapsed_days(moment))
        .values("stage_id", "elapsed", **deal_cell)
        .annotate(**open_group_sums(timezone.localdate(moment)))
        .order_by()
    )
    for row in open_deals:
        cells[_cell_of(row)].open_groups.append(
            (row["stage_id"], row["elapsed"], row["value"], row["value_sq"])
        )
    for row in _unconverted_as_of(rows, since, as_of, now, deal_cell, won_cell):
        cells[_cell_of(row)].unconverted.append(row)
    return cells


def _unconverted_as_of(
    rows, since: Q, as_of: datetime.date, now: datetime.datetime, cell: dict, won_cell: dict
) -> list[dict]:
    """Per cell and currency: the deals each horizon's forecast as of ``as_of`` leaves out for want of a
    rate: in the window as they stood then (``rows``, in ``cell``), or won in it since (live rows, in
    ``won_cell``)."""
    counted, won = {}, {}
    for horizon in HORIZONS:
        counted[str(horizon)] = window_unconverted(as_of, horizon)
        won[str(horizon)] = _won_window(as_of, horizon, now) & unconverted(at_close())
    found = []
    for deals, wanting, grouping in (
        (rows, counted, cell),
        (Deal.objects.filter(since, deleted_at__isnull=True), won, won_cell),
    ):
        aggregates = {}
        for name, condition in wanting.items():
            aggregates[f"deals_{name}"] = Count("id", filter=condition)
            aggregates[f"value_{name}"] = Sum("amount", filter=condition)
        found += list(
            deals.exclude(currency=reporting_currency())
            .values("currency", **grouping)
            .annotate(**aggregates)
            .order_by()
        )
    return found


def _cell_then(moment: datetime.datetime) -> dict:
    """The cell a transition's deal was in at ``moment``: read from its latest history row by then."""
    then = Deal.history.filter(id=OuterRef("deal_id"), history_date__lte=moment).order_by(
        "-history_date", "-history_id"
    )
    territory = account_territory_at(
        moment, account=OuterRef("account_id"), live=F("account__territory_id")
    )
    return {
        "cell_owner": Subquery(then.values("owner_id")[:1]),
        "cell_territory": Subquery(then.values(territory_then=territory)[:1]),
        "cell_pipeline": Subquery(then.values("pipeline_id")[:1]),
    }


def _entries(transitions, moment: datetime.datetime, group: dict) -> Iterator[tuple]:
    """``entry_counts`` of these transitions per cell and size band (``group``: the cell's columns,
    then ``band``): ``(cell, band, stage id, stay, close, won, observed, exit destination, *weights)``,
    as they are read (a million deals' year of entries is a million rows)."""
    for owner, territory, pipeline, *rest in entry_counts(transitions, moment, group, stream=True):
        yield ((owner, territory, pipeline), *rest)


class Entries:
    """A cell's entries, as ``Training.add_entries`` reads them, kept small: a year of entries at a
    million deals is a million rows, held until every scope's training is built. Each entry is
    its key (``entry_key``), one tuple for every cell that has it, and five whole weights, all of
    the cell's in one array of 64-bit integers."""

    __slots__ = ("keys", "weights")

    def __init__(self):
        self.keys: list[tuple] = []
        self.weights = array("q")

    def append(self, key: tuple, weights) -> None:
        self.keys.append(key)
        self.weights.extend(weights)

    def add_to(self, training: Training) -> None:
        training.add_entries(self.keys, self.weights)


def _add_entries(cells: dict[Cell, CellSums], entries: Iterable[tuple]) -> None:
    """Keep each of ``_entries`` in its cell (``Entries``). A key is kept once however many
    cells share it, and so are the parts keys share (``_Parts``): at a million deals a year's
    1.3 million rows hold about 260,000 keys, but only about 31,000 outcomes and 1,400 moves."""
    keys: dict[tuple, tuple] = {}
    parts = _Parts()
    for cell, band, stage_id, stay, close, won, observed, exit_to, *weights in entries:
        key = (stage_id, stay, close, won, observed, band, exit_to)
        shared = keys.get(key)
        if shared is None:
            shared = keys[key] = parts.key(
                entry_key(stage_id, (stay, close, won, observed), band, exit_to)
            )
        cells[cell].entries.append(shared, map(int, weights))


class _Parts(dict):
    """One object for each value the entries' keys hold (``entry_key``'s outcome, scale and move):
    fewer objects to hold, and fewer pages a second process writes to (``Forked``) when its
    training counts references to them."""

    def key(self, key: tuple) -> tuple:
        stage_id, outcome, scale, move = key
        return (stage_id, self.one(outcome), self.one(scale), self.one(move))

    def one(self, value):
        return self.setdefault(value, value)


# During a grouped pass the cyclic garbage collector's youngest generation is collected after
# this many new objects rather than 700 (``_collections_spaced``).
SPACED_COLLECTIONS = 50_000


@contextmanager
def _collections_spaced() -> Iterator[None]:
    """Collect cyclic garbage less often within the block: packing the entries and building the
    trainings make millions of small tuples, lists and dicts that live until their scope is done,
    and each collection of the oldest generation walks every object the pass holds (a fifth of
    the Python time at a million deals). Cycles are still collected (the model's memoised
    helpers leave some), at a longer interval, and the thresholds are put back after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], SPACED_COLLECTIONS), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _alike(
    scopes: list[Scope], cells: dict[Cell, CellSums], scope_map: ScopeMap
) -> dict[tuple[Cell, ...], list[Scope]]:
    """The scopes by the cells they are made of (in ``cells``' order)."""
    alike: dict[tuple, list[Scope]] = defaultdict(list)
    for scope in scopes:
        inside = scope_map.test(scope)
        alike[tuple(cell for cell in cells if inside(cell))].append(scope)
    return alike


def _by_group(
    scopes: list[Scope],
    cells: dict[Cell, CellSums],
    scope_map: ScopeMap,
    learned: "Learned | None" = None,
    model_inputs: tuple | None = None,
) -> Iterator[tuple[Scope, list[CellSums], Training | None, dict]]:
    """Each scope with its cells' sums, its training and what scopes made of the same cells share
    (``_forecast``'s ``models``): a rep alone in a territory, a team and the territory it sells
    in share one training and model. The trainings come from ``_trainings``, each used before
    the next is built; with ``learned``, from it when it holds every group, else built whole
    and kept in it.

    Without ``learned`` and given ``model_inputs`` (``_model``'s moment, probabilities and
    paths), a big pass hands a share of its groups to a second process (``_models_elsewhere``),
    which builds their trainings and models while this one builds the rest: the model is Python
    on one core. The process starts here, before the caller starts anything else (no other
    thread of ours runs while it is forked); its groups come last, with no training and every
    horizon's model in ``models``."""
    alike = _alike(scopes, cells, scope_map)
    groups, there = list(alike), []
    elsewhere = None
    if learned is None and model_inputs is not None:
        groups, there = _shares(groups, cells)
        if there:
            elsewhere = _models_elsewhere(cells, there, *model_inputs)
            if elsewhere is None:
                groups, there = list(alike), []
    if learned is None:
        trainings = _trainings(cells, groups)
    elif learned.covers(alike):
        trainings = learned.of(alike)
    else:
        trainings = learned.keep(_trainings(cells, groups, keep=True))
    return _each_scope(alike, cells, trainings, elsewhere, there, model_inputs)


def _each_scope(
    alike: dict[tuple[Cell, ...], list[Scope]],
    cells: dict[Cell, CellSums],
    trainings: Iterator[tuple[tuple[Cell, ...], Training]],
    elsewhere: Forked | None,
    there: list[tuple[Cell, ...]],
    model_inputs: tuple | None,
) -> Iterator[tuple[Scope, list[CellSums], Training | None, dict]]:
    """``_by_group``'s scopes: those of this process's trainings, then those of the second
    process's groups (worked out here after all if it failed)."""
    try:
        for inner, training in trainings:
            parts = [cells[cell] for cell in inner]
            models: dict = {}
            for scope in alike[inner]:
                yield scope, parts, training, models
        if elsewhere is None:
            return
        waited = time.perf_counter()
        try:
            done = elsewhere.result()
        except ChildFailed as failure:
            logger.warning(
                "The model's second process failed; its share is worked out here: %s", failure
            )
            done = _models_of(cells, there, *model_inputs)
        logger.info(
            "The model's second process: %d of %d groups, waited for %.1f s, %s",
            len(there),
            len(alike),
            time.perf_counter() - waited,
            ", ".join(f"{name} {value:.1f}" for name, value in elsewhere.usage.items()),
        )
        for inner, models in done:
            parts = [cells[cell] for cell in inner]
            for scope in alike[inner]:
                yield scope, parts, None, models
    finally:
        if elsewhere is not None:
            elsewhere.close()


def _shares(
    groups: list[tuple[Cell, ...]], cells: dict[Cell, CellSums]
) -> tuple[list[tuple[Cell, ...]], list[tuple[Cell, ...]]]:
    """``groups`` split between this process and a second one (``processes``): each subtree of the
    groups' tree (``_tree``) under a group inside no other, and each such group alone, goes
    whole to one side, so each side builds its trainings from its own children as
    ``_trainings`` does (a group whose children went to the other side adds their entries
    itself). The biggest first, each to the lighter side, a group weighing its cells' entries.
    Everything here when a second process is of no use: one core, ``REPORTS_MODEL_PROCESSES``
    1, or fewer than ``SHARED_FROM_ENTRIES`` entries."""
    weight = {group: sum(len(cells[cell].entries.keys) for cell in group) for group in groups}
    if processes() < 2 or sum(weight.values()) < SHARED_FROM_ENTRIES:
        return groups, []
    parent, children = _tree(groups)

    def subtree(top: tuple) -> list[tuple]:
        found, stack = [], [top]
        while stack:
            group = stack.pop()
            found.append(group)
            stack.extend(children.get(group, ()))
        return found

    units = []
    for root in (group for group in groups if group not in parent):
        units.append([root])
        units.extend(subtree(child) for child in children.get(root, ()))
    units.sort(key=lambda unit: sum(weight[group] for group in unit), reverse=True)
    sides: tuple[list, list] = ([], [])
    loads = [0, 0]
    for unit in units:
        side = 0 if loads[0] <= loads[1] else 1
        sides[side].extend(unit)
        loads[side] += sum(weight[group] for group in unit)
    here, there = set(sides[0]), set(sides[1])
    # In ``groups``' own order on each side.
    return [group for group in groups if group in here], [
        group for group in groups if group in there
    ]


def _models_of(
    cells: dict[Cell, CellSums],
    groups: list[tuple[Cell, ...]],
    moment: datetime.datetime,
    probabilities: dict,
    paths: dict,
) -> list[tuple[tuple[Cell, ...], dict]]:
    """Every horizon's model (``_model``) of each group, from the groups' own trainings: what a
    second process works out for ``_by_group``."""
    done = []
    for group, training in _trainings(cells, groups):
        parts = [cells[cell] for cell in group]
        models: dict = {}
        for horizon in HORIZONS:
            _model(parts, moment, horizon, probabilities, training, paths, models)
        models.pop("open", None)
        done.append((group, models))
    return done


def _models_elsewhere(
    cells: dict[Cell, CellSums], groups: list[tuple[Cell, ...]], *model_inputs
) -> Forked | None:
    """``_models_of`` started in a second process (None: it could not be forked)."""
    try:
        return Forked(_models_of, cells, groups, *model_inputs)
    except OSError as error:
        logger.warning("No second process for the model (%s): one does all the work.", error)
        return None


def _tree(groups: list[tuple[Cell, ...]]) -> tuple[dict[tuple, tuple], dict[tuple, list[tuple]]]:
    """The groups as a tree: each group inside a bigger one with the smallest such (its parent),
    and each parent with its children."""
    members = {group: frozenset(group) for group in groups}
    by_size = sorted(groups, key=len)
    parent: dict[tuple, tuple] = {}
    for index, group in enumerate(by_size):
        for bigger in by_size[index + 1 :]:
            if members[group] < members[bigger]:
                parent[group] = bigger
                break
    children: dict[tuple, list[tuple]] = defaultdict(list)
    for group, above in parent.items():
        children[above].append(group)
    return parent, children


def _trainings(
    cells: dict[Cell, CellSums], groups: list[tuple[Cell, ...]], keep: bool = False
) -> Iterator[tuple[tuple[Cell, ...], Training]]:
    """The training of each group of cells (``_training`` of its cells), every group once.

    A group inside bigger ones is built first and handed on to the smallest of them
    (its parent), which adds up the trainings of some of its children (the biggest first,
    as many as do not overlap) and then the entries of its cells no child covers: a team
    from its reps and sub-teams, the organisation from its biggest teams, each key once
    rather than every entry again at every level. A child's training is added to its
    parent's as soon as it has been yielded (the first child's becomes the parent's), and let
    go: a parent holds one training however many children it takes, not one per child until
    it is built. Each is yielded before its parent takes it over: use it before the next.
    With ``keep`` a parent adds up copies of its children's counts instead, so every training
    yielded stays whole (for ``Learned``).
    """
    members = {group: frozenset(group) for group in groups}
    by_size = sorted(groups, key=len)
    parent, children = _tree(groups)
    taker: dict[tuple, tuple] = {}
    covered_by: dict[tuple, set] = {}
    for group, below in children.items():
        covered = covered_by[group] = set()
        for child in sorted(below, key=len, reverse=True):
            if covered.isdisjoint(members[child]):
                taker[child] = group
                covered |= members[child]
    # Each parent's training as its children are added to it.
    growing: dict[tuple, Training] = {}

    def build(group: tuple) -> Training:
        training = growing.pop(group, None)
        if training is None:
            training = Training()
        covered = covered_by.get(group, set())
        for cell in group:
            if cell not in covered:
                cells[cell].entries.add_to(training)
        return training

    # Children before parents, without recursion (a reporting line may be deep).
    stack = [(group, False) for group in reversed(by_size) if group not in parent]
    while stack:
        group, expanded = stack.pop()
        if not expanded:
            stack.append((group, True))
            stack.extend((child, False) for child in children.get(group, ()))
            continue
        training = build(group)
        yield group, training
        above = taker.get(group)
        if above is None:
            continue
        into = growing.get(above)
        if into is None and not keep:
            growing[above] = training
            continue
        if into is None:
            into = growing[above] = Training()
        into.merge(training, keep=keep)


class Learned:
    """The model's trainings a change's recompute learned, by group of cells, kept in this process
    for the next such pass (``figures(reuse_learned=True)``).

    A burst of deal moves barely changes a year of stage entries, yet relearning them is most of a
    recompute (the longest query of the pass, the trainings built from it, the chances worked out
    from them). The next pass reuses them while they are younger than ``REPORTS_LEARNED_MAX_AGE``
    seconds, learned the same day, for the same pipelines' stages, and no exchange rate changed
    since (``learned_forget``); the deals a model weighs, and every other figure, are read afresh
    each pass. The chances worked out on a training are kept on it too. One at a time: a pass
    that must learn replaces it.
    """

    _kept: "Learned | None" = None
    _lock = threading.Lock()
    GENERATION = "reports:learned-generation"

    def __init__(self, now: datetime.datetime, paths: dict, generation) -> None:
        self.at = now
        self.day = timezone.localdate(now)
        self.paths = paths
        self.generation = generation
        self.trainings: dict[frozenset[Cell], Training] = {}
        self.cells: frozenset[Cell] = frozenset()

    @classmethod
    def fresh(cls, now: datetime.datetime, paths: dict) -> "Learned | None":
        """The trainings kept, if they may serve a pass at ``now`` over these stages."""
        kept = cls._kept
        max_age = settings.REPORTS_LEARNED_MAX_AGE
        if (
            kept is None
            or not max_age
            or kept.day != timezone.localdate(now)
            or not datetime.timedelta(0) <= now - kept.at <= datetime.timedelta(seconds=max_age)
            or kept.paths != paths
            or kept.generation != cache_get(cls.GENERATION)
        ):
            return None
        return kept

    @classmethod
    def start(cls, now: datetime.datetime, paths: dict, cells: Iterable[Cell]) -> "Learned | None":
        """An empty store for the trainings a pass at ``now`` over these ``cells`` learns, kept
        for the next pass (None when none is kept)."""
        learned = cls(now, paths, cache_get(cls.GENERATION))
        learned.cells = frozenset(cells)
        if not settings.REPORTS_LEARNED_MAX_AGE:
            learned = None
        with cls._lock:
            cls._kept = learned
        return learned

    def _known(self, group: tuple[Cell, ...]) -> frozenset[Cell]:
        """The group's cells that were there when it learned: a cell that appeared since (a deal
        in a new owner, territory and pipeline) had no entries then, as learning at that moment
        would have found."""
        return frozenset(group) & self.cells

    def covers(self, groups: Iterable[tuple[Cell, ...]]) -> bool:
        """Whether every group was learned, bar cells new since: a group of other known cells (a
        moved team, a reassigned territory) was not."""
        return all(not known or known in self.trainings for known in map(self._known, groups))

    def of(self, groups: Iterable[tuple[Cell, ...]]) -> Iterator[tuple[tuple[Cell, ...], Training]]:
        """The training kept for each group (``covers`` them all); one of new cells only, none."""
        for group in groups:
            known = self._known(group)
            yield group, self.trainings[known] if known else Training()

    def keep(
        self, trainings: Iterator[tuple[tuple[Cell, ...], Training]]
    ) -> Iterator[tuple[tuple[Cell, ...], Training]]:
        """``trainings`` (``_trainings(keep=True)``), each kept as it passes. The passes' cells come
        in no set order: a group is known by its set of cells."""
        for group, training in trainings:
            self.trainings[frozenset(group)] = training
            yield group, training


def learned_forget() -> None:
    """Stop every process reusing the trainings it keeps (the exchange rates changed: the deals'
    sizes in the reporting currency, which the training weighs, did too)."""
    Learned._kept = None
    cache_set(Learned.GENERATION, uuid.uuid4().hex, None)


def _funnel(scope: Scope, period: Period, parts: list[CellSums], stages: list[Stage]) -> dict:
    rows = [row for part in parts for row in part.deals.values()]
    open_now: dict = {}
    flow: dict = {}
    stays: dict = {}
    for part in parts:
        for stage_id, row in part.deals.items():
            if row["open_deals"]:
                deals, value = open_now.get(stage_id, (0, None))
                open_now[stage_id] = (deals + row["open_deals"], _add(value, row["open_value"]))
        for stage_id, (entered, advanced) in part.flow.items():
            before = flow.get(stage_id, (0, 0))
            flow[stage_id] = (before[0] + entered, before[1] + advanced)
        for stage_id, (days, count) in part.stays.items():
            before = stays.get(stage_id, (None, 0))
            stays[stage_id] = (_add(before[0], days), before[1] + count)
    in_scope = [
        stage for stage in stages if scope.pipeline is None or stage.pipeline_id == scope.pipeline
    ]
    return {
        "scope": scope.key,
        "start": period.start,
        "end": period.end,
        "as_of": None,
        **figures_from_sums(add_sums(rows)),
        "unconverted": _unconverted(parts, "funnel"),
        "stages": stage_rows(
            in_scope,
            flow=flow,
            stays={stage_id: days / count for stage_id, (days, count) in stays.items() if count},
            open_now=open_now,
        ),
    }


def _open_groups(parts: list[CellSums]) -> dict:
    """The cells' open deals by (stage id, days in stage): their value and value squared, added up."""
    open_groups: dict = {}
    for part in parts:
        for stage_id, elapsed, value, value_sq in part.open_groups:
            before = open_groups.get((stage_id, elapsed), (None, None))
            open_groups[(stage_id, elapsed)] = (_add(before[0], value), _add(before[1], value_sq))
    return open_groups


def _forecast(
    scope: Scope,
    as_of: datetime.date,
    horizon: int,
    moment: datetime.datetime,
    live: bool,
    parts: list[CellSums],
    probabilities: dict,
    training: Training | None,
    paths: dict,
    models: dict | None = None,
) -> dict:
    """One forecast of ``scope`` from its cells' sums, as ``forecasts.forecast`` derives it from its own.

    ``models`` (horizon -> model, and ``"open"`` -> ``_open_groups``) keeps what scopes made of the
    same cells share, worked out once for them all and every horizon.
    """
    suffix = f"_{horizon}"
    sums = dict.fromkeys(MONEY_SUMS)
    sums["window_deals"] = 0
    won = None
    for part in parts:
        for row in part.deals.values():
            for key in MONEY_SUMS:
                sums[key] = _add(sums[key], row[key + suffix])
            sums["window_deals"] += row["window_deals" + suffix]
        won = _add(won, part.won.get(horizon))
    model = _model(parts, moment, horizon, probabilities, training, paths, models)
    return forecast_result(
        scope=scope,
        as_of=as_of,
        horizon=horizon,
        live=live,
        sums=sums,
        won=money(won),
        quota=prorated_quota(scope, as_of, horizon),
        model=model,
        unconverted=_unconverted(parts, str(horizon)),
    )


def _model(
    parts: list[CellSums],
    moment: datetime.datetime,
    horizon: int,
    probabilities: dict,
    training: Training | None,
    paths: dict,
    models: dict | None = None,
) -> dict:
    """The model's figures for ``horizon`` of the cells ``parts`` (``model_estimate``), from
    ``models`` when it has them (scopes made of the same cells share them; every horizon's, with
    no ``training``, when a second process worked them out), else worked out and kept there."""
    model = None if models is None else models.get(horizon)
    if model is not None:
        return model
    suffix = f"_{horizon}"
    new = dict.fromkeys(new_business_sums(moment, horizon))
    for part in parts:
        for row in part.deals.values():
            for key in new:
                value = row[f"{key}_new{suffix}"]
                if key != "first":
                    new[key] = _add(new[key], value)
                elif value is not None and (new["first"] is None or value < new["first"]):
                    new["first"] = value
    open_groups = models.get("open") if models is not None else None
    if open_groups is None:
        open_groups = _open_groups(parts)
        if models is not None:
            models["open"] = open_groups
    model = model_estimate(
        stats=training,
        open_groups=open_groups,
        probabilities=probabilities,
        horizon=horizon,
        new_business=new_business_from(moment, horizon, **new),
        paths=paths,
    )
    if models is not None:
        models[horizon] = model
    return model
