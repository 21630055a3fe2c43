"""The dashboard lists of many scopes from one grouped pass equal each scope's lists read alone."""

import datetime
import random
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipeline.models import Deal, ExchangeRate, Stage, StageKind, StageTransition
from pipeline.periods import Period
from pipeline.scopes import Scope
from quotas.models import Territory
from reports import grouped, services
from reports.forecasts import HORIZONS, Training, forecast
from reports.grouped import figures
from reports.runners.dashboard_lists import DashboardListsRunner, grouped_lists
from reports.runners.gap import GapDealsRunner, gap_deal_figures
from reports.services import standard_scopes
from salesmgr.cache import cache_get
from tests.factories import AccountFactory, DealFactory, PipelineFactory, UserFactory


def _row(deal) -> tuple:
    return (
        deal.pk,
        deal.total,
        deal.converted_amount,
        deal.days_in_stage,
        deal.days_overdue,
        deal.is_stalled,
        deal.is_overdue,
        deal.stage.name,
        deal.account.name,
        deal.owner.username,
    )


def _comparable(lists: dict) -> dict:
    return {
        "series": lists["series"],
        **{
            name: ([_row(deal) for deal in lists[name]["rows"]], lists[name]["total"])
            for name in ("stalled", "overdue")
        },
    }


def _world(seed: int, deals: int) -> list[Scope]:
    """A random organisation: two levels of managers, a territory tree, two pipelines, three
    currencies (one without a rate), ties in amount, deleted deals; what each deal stands at is
    drawn at random rather than built for an answer."""
    rng = random.Random(seed)
    today = timezone.localdate()
    now = timezone.now()
    top = UserFactory(username=f"top{seed}", role="manager")
    middles = [
        UserFactory(username=f"mid{seed}-{n}", role="manager", manager=top) for n in range(2)
    ]
    bosses = [middles[0], middles[0], middles[1], middles[1], *rng.choices([top, *middles], k=3)]
    reps = [UserFactory(username=f"rep{seed}-{n}", manager=boss) for n, boss in enumerate(bosses)]
    root = Territory.objects.create(name=f"Root {seed}")
    territories = [
        None,
        root,
        *[Territory.objects.create(name=f"T{seed}-{n}", parent=root) for n in range(3)],
    ]
    pipelines = [PipelineFactory(), PipelineFactory()]
    for stage in Stage.objects.filter(kind=StageKind.OPEN):
        stage.rot_days = rng.choice([None, 3, 10, 30])
        stage.save(update_fields=["rot_days"])
    ExchangeRate.objects.update_or_create(
        currency="EUR",
        valid_from=today - datetime.timedelta(days=400),
        defaults={"rate": Decimal("1.0832")},
    )
    accounts = {
        (owner.pk, territory): AccountFactory(
            owner=owner, territory=territory, name=f"Acct {seed}-{owner.pk}-{index}"
        )
        for owner in reps
        for index, territory in enumerate(territories)
    }
    for _ in range(deals):
        owner = rng.choice(reps)
        pipeline = rng.choice(pipelines)
        deal = DealFactory(
            owner=owner,
            account=accounts[(owner.pk, rng.choice(territories))],
            pipeline=pipeline,
            amount=Decimal(rng.choice(["500.00", "1000.00", "1000.00", "2048.00", "7250.55"])),
            currency=rng.choice(["USD", "USD", "EUR", "GBP"]),
            expected_close_date=today + datetime.timedelta(days=rng.randint(-60, 60)),
        )
        stage = rng.choice(list(pipeline.stages.all()))
        entered = now - datetime.timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23))
        closed = stage.kind != StageKind.OPEN
        Deal.objects.filter(pk=deal.pk).update(
            stage=stage,
            status=stage.kind,
            stage_entered_at=entered,
            closed_at=entered if closed else None,
            created_at=entered - datetime.timedelta(days=rng.randint(0, 90)),
            deleted_at=now if rng.random() < 0.05 else None,
        )
    _histories(rng, now)
    return [
        *standard_scopes(),
        Scope(team=top.pk, territory=root.pk),
        Scope(owner=reps[0].pk, pipeline=pipelines[1].pk),
        Scope(team=middles[0].pk, pipeline=pipelines[0].pk),
    ]


def _histories(rng: random.Random, now: datetime.datetime) -> None:
    """Replace each deal's transitions with a random walk through its pipeline's stages over the
    last 400 days: moves back and forth, skipped stages, two moves in one instant."""
    StageTransition.objects.all().delete()
    moves = []
    for deal in Deal.objects.select_related("pipeline"):
        stages = list(deal.pipeline.stages.all())
        at = now - datetime.timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
        before, entered = None, None
        for step in range(rng.randint(1, 5)):
            stage = stages[0] if step == 0 else rng.choice(stages)
            moves.append(
                StageTransition(
                    deal=deal,
                    from_stage=before,
                    to_stage=stage,
                    at=at,
                    from_stage_entered_at=entered,
                )
            )
            before, entered = stage, at
            if rng.random() > 0.1:  # now and then the next move comes in the same instant
                at += datetime.timedelta(days=rng.randint(0, 60), minutes=rng.randint(1, 600))
            if at >= now:
                break
    StageTransition.objects.bulk_create(moves)


def test_the_grouped_figures_of_scopes_inside_each_other_equal_each_scope_alone(db, monkeypatch):
    """Trainings built from the trainings of the scopes inside them (teams from reps and
    sub-teams, the organisation from its biggest parts) give each scope's own figures."""
    scopes = _world(31, 120)
    now = timezone.now()
    today = timezone.localdate(now)
    merged = []
    merge = Training.merge
    monkeypatch.setattr(
        Training,
        "merge",
        lambda self, other, **options: merged.append(1) or merge(self, other, **options),
    )

    found = figures(scopes, period=Period.default(today), now=now)

    assert len(merged) >= 3  # teams from their reps, a territory from those inside it

    for scope in scopes:
        alone = [forecast(scope, today, horizon, now=now) for horizon in HORIZONS]
        assert found[scope.key]["forecasts"] == alone, scope.key


@pytest.mark.parametrize(("seed", "deals"), [(7, 60), (2026, 140)])
def test_grouped_lists_equal_each_scope_read_alone(db, seed, deals):
    scopes = _world(seed, deals)
    today = timezone.localdate()
    period = Period.default(today)

    found = grouped_lists(scopes, period, today)

    assert set(found) == {scope.key for scope in scopes}
    shown = 0
    for scope in scopes:
        alone = DashboardListsRunner(scope, period, today).compute()
        assert _comparable(found[scope.key]) == _comparable(alone), scope.key
        shown += len(alone["stalled"]["rows"]) + len(alone["overdue"]["rows"])
    assert shown  # the world has lists to show, not only empty ones


def test_grouped_lists_run_a_fixed_number_of_queries(db):
    today = timezone.localdate()
    period = Period.default(today)
    counts = []
    for seed, deals in ((11, 20), (12, 80)):
        scopes = _world(seed, deals)
        with CaptureQueriesContext(connection) as queries:
            grouped_lists(scopes, period, today)
        counts.append(len(queries))
    assert counts[0] == counts[1] == 8


@pytest.mark.django_db(transaction=True)
def test_the_training_read_beside_the_other_queries_gives_the_same_figures(monkeypatch):
    """Outside a transaction on PostgreSQL the training's query runs on a thread and connection
    of its own, beside the pass's other queries: the figures are those of one connection."""
    scopes = _world(41, 80)
    now = timezone.now()
    period = Period.default(timezone.localdate(now))
    threads = []
    entry_cells = grouped._entry_cells
    monkeypatch.setattr(
        grouped,
        "_entry_cells",
        lambda moment: threads.append(threading.get_ident()) or entry_cells(moment),
    )

    beside = figures(scopes, period=period, now=now)
    with transaction.atomic():
        alone = figures(scopes, period=period, now=now)

    assert beside == alone
    on_postgresql = connection.vendor == "postgresql"
    assert (threads[0] != threading.get_ident()) is on_postgresql
    assert threads[1] == threading.get_ident()


@pytest.mark.django_db(transaction=True)
def test_the_lists_read_beside_the_model_are_those_of_each_scope_read_alone(monkeypatch):
    """Outside a transaction on PostgreSQL a grouped pass reads the dashboard lists and the gap's
    deal figures on a thread of their own while the model is worked out: what it keeps for each
    scope is what the scope's own reads give."""
    scopes = _world(43, 90)
    now = timezone.now()
    today = timezone.localdate(now)
    period = Period.default(today)
    threads = []
    read = services._dashboard_lists_read
    monkeypatch.setattr(
        services,
        "_dashboard_lists_read",
        lambda *args: threads.append(threading.get_ident()) or read(*args),
    )

    services.snapshots_compute(scopes=scopes, now=now)

    for scope in scopes:
        kept = cache_get(DashboardListsRunner(scope, period, today, now).cache_key)
        alone = DashboardListsRunner(scope, period, today).compute()
        assert _comparable(kept) == _comparable(alone), scope.key
        kept = cache_get(GapDealsRunner(scope, today, now).cache_key)
        assert kept == gap_deal_figures(scope, today), scope.key
    on_postgresql = connection.vendor == "postgresql"
    assert threads and (threads[0] != threading.get_ident()) is on_postgresql
