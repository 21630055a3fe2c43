"""The grouped pass and the live queries agree on who is in a team or a territory, however deep."""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.utils import timezone

from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.services import deal_move
from quotas.models import Territory
from quotas.selectors import territory_subtree_ids_subquery
from reports.forecasts import HORIZONS, entry_key, forecast
from reports.grouped import CellSums, ScopeMap, _add_entries, _trainings
from reports.grouped import figures as grouped_figures
from reports.metrics import funnel
from salesmgr.models import User
from salesmgr.selectors import team_member_ids_subquery
from tests.factories import AccountFactory, DealFactory, UserFactory
from tests.reports.test_snapshots import assert_same_funnel

LINE_LENGTH = 100  # managers, each below the one before
CHAIN_LENGTH = 50  # territories, each inside the one before


def test_a_100_level_team_and_a_50_level_territory_chain_agree_with_the_live_figures(
    db, pipeline, stages
):
    managers = []
    for level in range(LINE_LENGTH):
        managers.append(
            UserFactory(
                username=f"m{level}", role="manager", manager=managers[-1] if managers else None
            )
        )
    bottom = UserFactory(username="bottom", manager=managers[-1])
    chain = [Territory.objects.create(name="T0")]
    for level in range(1, CHAIN_LENGTH):
        chain.append(Territory.objects.create(name=f"T{level}", parent=chain[-1]))
    close = timezone.localdate() + datetime.timedelta(days=10)

    def deal(owner, territory, amount):
        account = AccountFactory(owner=owner, territory=territory)
        return DealFactory(
            owner=owner,
            account=account,
            pipeline=pipeline,
            amount=Decimal(amount),
            expected_close_date=close,
        )

    deal(bottom, chain[-1], "1000.00")
    deal(managers[70], chain[40], "250.00")
    won = deal(bottom, chain[45], "400.00")
    deal_move(deal=won, to_stage=stages["Won"], by=bottom, expected_version=won.version)

    top, root = managers[0], chain[0]
    scopes = [
        Scope(team=top.pk),
        Scope(team=managers[30].pk),
        Scope(territory=root.pk),
        Scope(territory=chain[10].pk),
        Scope(team=top.pk, territory=root.pk),
    ]
    now = timezone.now()
    period = Period.default()
    results = grouped_figures(scopes, period=period, now=now)
    for scope in scopes:
        assert_same_funnel(results[scope.key]["funnel"], funnel(scope, period))
        alone = [forecast(scope, timezone.localdate(now), horizon, now=now) for horizon in HORIZONS]
        assert results[scope.key]["forecasts"] == alone, scope.key
    # The deepest deals count: 101 levels below the top manager, 49 below the root territory.
    for scope in scopes:
        figures = results[scope.key]["funnel"]
        assert (figures["open_deals"], figures["open_value"]) == (2, Decimal("1250.00")), scope.key
        assert (figures["won_deals"], figures["won_value"]) == (1, Decimal("400.00")), scope.key


def test_a_cycle_in_corrupt_data_ends_both_walks_with_the_same_members(db):
    first = UserFactory(username="first", role="manager")
    second = UserFactory(username="second", role="manager", manager=first)
    third = UserFactory(username="third", manager=second)
    User.objects.filter(pk=first.pk).update(manager=second)  # past every service's check
    outer = Territory.objects.create(name="Outer")
    inner = Territory.objects.create(name="Inner", parent=outer)
    Territory.objects.filter(pk=outer.pk).update(parent=inner)

    scope_map = ScopeMap()
    live_team = set(
        User.objects.filter(pk__in=team_member_ids_subquery(first.pk)).values_list("pk", flat=True)
    )
    assert scope_map.team(first.pk) == live_team == {first.pk, second.pk, third.pk}
    live_territories = set(
        Territory.objects.filter(pk__in=territory_subtree_ids_subquery(outer.pk)).values_list(
            "pk", flat=True
        )
    )
    assert scope_map.territories(outer.pk) == live_territories == {outer.pk, inner.pk}


def test_entries_share_one_object_for_each_outcome_scale_and_move_across_keys_and_cells():
    # Rows as ``_entries`` gives them: (cell, band, stage, stay, close, won, observed, exit, *weights).
    rows = [
        ((1, None, 1), 3, 7, 400, 400, 1, None, None, 5, 25, 2, 4, 1),
        ((1, None, 1), 4, 7, 400, 400, 1, None, None, 6, 36, 3, 9, 2),  # another band
        ((2, None, 1), 3, 7, 400, 400, 1, None, None, 7, 49, 4, 16, 3),  # another cell
        ((2, None, 1), 4, 8, 400, 400, 1, None, None, 8, 64, 5, 25, 4),  # another stage
        ((2, None, 1), None, 7, 300, None, 0, None, 9, 9, 81, 6, 36, 5),  # no band, a move on
    ]
    cells = defaultdict(CellSums)
    _add_entries(cells, iter(rows))

    keys = cells[(1, None, 1)].entries.keys + cells[(2, None, 1)].entries.keys
    assert [key[0] for key in keys] == [7, 7, 7, 8, 7]
    # The same key in two cells is one tuple; keys that differ share their equal parts.
    assert keys[0] is keys[2]
    assert keys[0][1] is keys[1][1] is keys[3][1] == (400, 400, 1, None)
    assert keys[1][2] is keys[3][2] == 2**4
    assert keys[0][3] is keys[1][3] is keys[3][3]
    assert keys[4] == entry_key(7, (300, None, 0, None), None, 9)
    weights = list(cells[(2, None, 1)].entries.weights)
    # Five whole weights an entry, in the order the rows came.
    assert [weights[at : at + 5] for at in range(0, len(weights), 5)] == [
        [7, 49, 4, 16, 3],
        [8, 64, 5, 25, 4],
        [9, 81, 6, 36, 5],
    ]


def test_each_child_training_is_added_to_its_parent_once_used_and_the_parent_adds_up_all():
    # Three reps' cells and their team's: each rep's entries under one key, the team's the sum.
    cells = defaultdict(CellSums)
    _add_entries(
        cells,
        iter(
            [
                ((rep, None, 1), 3, 7, 20, 20, 1, None, None, rep, rep, rep, rep, rep)
                for rep in (1, 2, 3)
            ]
        ),
    )
    reps = [((rep, None, 1),) for rep in (1, 2, 3)]
    team = tuple(cell for (cell,) in reps)
    walk = _trainings(cells, [*reps, team])

    seen = []
    for group, training in walk:
        seen.append((group, training))
        counts = [
            sum(counts[0] for counts in by_outcome.values())
            for by_outcome in training.outcomes.values()
        ]
        if group == team:
            assert counts == [1 + 2 + 3]
            break
        # A rep's own training is whole when yielded.
        assert counts == [group[0][0]]
        if len(seen) == 3:
            # The second rep's was added to the team's before the third was built: the team
            # holds one training (the first rep's, growing), not one per rep until it is built.
            assert seen[0][1] is not seen[1][1]
            assert not seen[1][1].outcomes
    assert sorted(group for group, _ in seen[:3]) == reps
    assert seen[3][0] == team
    assert seen[-1][1] is seen[0][1]
