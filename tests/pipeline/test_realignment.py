"""A realignment on varied, randomly drawn worlds: the preview is what the apply does, in any batch sizes,
interrupted or not, run twice or swept up again; values convert to the reporting currency; the past stays."""

import datetime
import random
import threading
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone

from pipeline.assignment import RuleSpec, TerritoryChange, realignment_plan
from pipeline.models import (
    Account,
    Deal,
    ExchangeRate,
    Handover,
    RealignmentStatus,
    StageKind,
    TerritoryRealignment,
)
from pipeline.scopes import Scope
from pipeline.selectors import realignment_handover_groups
from pipeline.services import account_create, deal_move
from pipeline.services.territories import (
    NOT_QUEUED,
    REQUEUE_LIMIT,
    BatchPace,
    _apply_batch,
    realignment_run,
    realignment_start,
    realignments_requeue_stalled,
    territory_rule_create,
)
from pipeline.tasks import requeue_stalled_realignments
from quotas.models import HandoverRule
from quotas.services import territory_create
from reports.forecasts import forecast
from salesmgr.celery import app as celery_app
from tests.conftest import need_postgres
from tests.factories import DealFactory, UserFactory

COUNTRIES = ["DE", "FR", "SE", "US"]
INDUSTRIES = ["Retail", "Software", "Health", ""]
CURRENCIES = ["USD", "USD", "EUR", "JPY"]  # JPY has no rate: listed, never summed


@pytest.fixture(autouse=True)
def in_dollars(db, settings):
    settings.REPORTING_CURRENCY = "USD"
    ExchangeRate.objects.create(currency="EUR", valid_from="2000-01-01", rate=Decimal("1.10"))


def _small_pace(rows=6) -> BatchPace:
    """Batches of a few rows that stay small, so a world of dozens of accounts takes many."""
    return BatchPace(rows=rows, seconds=60.0, lock_timeout_ms=200, max_rows=rows)


def _draw_world(seed, admin, manager, pipeline, stages, accounts=40, history=False):
    """Reps, territories with members and handover rules, accounts with varied facts, and their deals:
    open and won, in three currencies, some deleted, most loaded in bulk (created 100 days ago;
    without history as an import leaves them, unless ``history``), the rest through the service."""
    rng = random.Random(seed)
    reps = [UserFactory(username=f"w{seed}rep{i}", manager=manager) for i in range(6)]
    territories = []
    for index in range(4):
        members = rng.sample(reps, rng.randint(0, 3))
        rule = rng.choice(list(HandoverRule.values)) if members else HandoverRule.ROUND_ROBIN
        territories.append(
            territory_create(
                name=f"T{seed}-{index}",
                reps=members,
                handover_rule=rule,
                named_rep=rng.choice(members) if rule == HandoverRule.NAMED_REP else None,
                by=admin,
            )
        )
    made = []
    for index in range(accounts):
        owner = rng.choice(reps)
        pinned = rng.random() < 0.1
        made.append(
            account_create(
                by=admin,
                owner=owner,
                name=f"Account {seed}-{index}",
                country=rng.choice(COUNTRIES),
                industry=rng.choice(INDUSTRIES),
                employee_count=rng.choice([None, rng.randint(1, 900)]),
                postcode=rng.choice(["", "10115", "75001", "11122", "90210"]),
                territory=rng.choice(territories) if pinned else None,
                territory_pinned=pinned,
            )
        )
    long_ago = timezone.now() - datetime.timedelta(days=100)
    rows = []
    for account in made:
        for _ in range(rng.randint(0, 4)):
            won = rng.random() < 0.2
            rows.append(
                Deal(
                    name=f"Deal {len(rows)}",
                    account=account,
                    owner=rng.choice([account.owner, *reps[:2]]),
                    pipeline=pipeline,
                    stage=stages["Won"] if won else stages["Proposal"],
                    status=StageKind.WON if won else StageKind.OPEN,
                    closed_at=long_ago if won else None,
                    amount=Decimal(rng.randint(100, 99_999)) / 100,
                    currency=rng.choice(CURRENCIES),
                    expected_close_date=timezone.localdate() + datetime.timedelta(days=20),
                    created_at=long_ago,
                    deleted_at=timezone.now() if rng.random() < 0.05 else None,
                )
            )
    Deal.objects.bulk_create(rows)
    if history:
        Deal.history.bulk_history_create(rows, default_date=long_ago)
    for account in rng.sample(made, 5):
        DealFactory(
            owner=account.owner,
            account=account,
            pipeline=pipeline,
            amount=Decimal("321.09"),
            currency=rng.choice(CURRENCIES),
        )
    for territory in territories:
        for _ in range(rng.randint(1, 2)):
            conditions = rng.choice(
                [
                    {"countries": rng.sample(COUNTRIES, 2)},
                    {"countries": [rng.choice(COUNTRIES)], "employees_min": 100},
                    {"industries": [rng.choice(INDUSTRIES[:3]).upper()]},
                    {"postcode_prefixes": [rng.choice(["10", "75", "1"])]},
                    {"employees_max": 300},
                ]
            )
            territory_rule_create(
                territory=territory,
                by=admin,
                priority=rng.randint(1, 3),
                accounts=rng.sample(made, 2) if rng.random() < 0.3 else (),
                **conditions,
            )
    Account.objects.filter(pk__in=[a.pk for a in rng.sample(made, 3)]).update(
        deleted_at=timezone.now()
    )
    return {"rng": rng, "reps": reps, "territories": territories}


def _state():
    """Every account's territory and owner, every deal's owner and version, the handovers and history rows."""
    return (
        sorted(Account.objects.values_list("pk", "territory_id", "owner_id")),
        sorted(Deal.objects.values_list("pk", "owner_id", "version")),
        Handover.objects.count(),
        Deal.history.count(),
        Account.history.count(),
    )


def _check_applied(plan, accounts_before, deals_before):
    """Every planned account has its planned territory and owner, its open deals are its new owner's,
    and nothing else changed: other accounts, closed or deleted deals."""
    moves = {move.account_id: move for move in plan.moves}
    accounts_after = {
        pk: (t, o) for pk, t, o in Account.objects.values_list("pk", "territory_id", "owner_id")
    }
    for pk, before in accounts_before.items():
        move = moves.get(pk)
        expected = (move.to_territory_id, move.to_owner_id) if move else before
        assert accounts_after[pk] == expected, pk
    for pk, account_id, owner_id, status, deleted_at in Deal.objects.values_list(
        "pk", "account_id", "owner_id", "status", "deleted_at"
    ):
        move = moves.get(account_id)
        handed = move and move.to_owner_id != move.from_owner_id
        if handed and status == StageKind.OPEN and deleted_at is None:
            assert owner_id == move.to_owner_id, pk
        else:
            assert owner_id == deals_before[pk], pk


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_preview_equals_what_apply_then_does_on_drawn_worlds(
    seed, admin, manager, pipeline, stages
):
    _draw_world(seed, admin, manager, pipeline, stages)
    accounts_before = {
        pk: (t, o) for pk, t, o in Account.objects.values_list("pk", "territory_id", "owner_id")
    }
    deals_before = dict(Deal.objects.values_list("pk", "owner_id"))
    plan = realignment_plan()
    preview = plan.groups()
    assert plan.moves, "a drawn world with nothing to move tests nothing"
    assert any(group["unconverted"] for group in preview) or seed != 1
    pace = _small_pace()
    job = realignment_run(job_id=realignment_start(by=admin).pk, batch_size=4, pace=pace)
    assert job.status == RealignmentStatus.DONE
    assert len(pace.transactions) > 3
    assert realignment_handover_groups(job=job) == preview
    assert (job.total, job.done, job.skipped) == (len(plan.moves), len(plan.moves), 0)
    assert job.deals_moved == sum(move.deals for move in plan.moves)
    _check_applied(plan, accounts_before, deals_before)


@pytest.mark.parametrize("seed", [5, 6])
def test_apply_twice_changes_nothing_the_second_time_on_drawn_worlds(
    seed, admin, manager, pipeline, stages
):
    _draw_world(seed, admin, manager, pipeline, stages)
    first = realignment_run(job_id=realignment_start(by=admin).pk, pace=_small_pace())
    assert first.total > 0
    state = _state()
    again = realignment_run(job_id=first.pk, pace=_small_pace())
    assert (again.status, again.done) == (RealignmentStatus.DONE, first.total)
    second = realignment_run(job_id=realignment_start(by=admin).pk)
    assert (second.total, second.done, second.deals_moved) == (0, 0, 0)
    assert _state() == state


def _stop_after(batches):
    """An ``_apply_batch`` that applies ``batches`` batches, then fails as a killed worker would."""
    done = []

    def apply(job_id, size, **pace):
        if len(done) == batches:
            raise RuntimeError("worker lost")
        done.append(job_id)
        return _apply_batch(job_id, size, **pace)

    return apply


@pytest.mark.parametrize("seed", [7, 8])
def test_a_job_stopped_midway_finishes_as_an_uninterrupted_one(
    seed, admin, manager, pipeline, stages, monkeypatch
):
    _draw_world(seed, admin, manager, pipeline, stages)
    accounts_before = {
        pk: (t, o) for pk, t, o in Account.objects.values_list("pk", "territory_id", "owner_id")
    }
    deals_before = dict(Deal.objects.values_list("pk", "owner_id"))
    plan = realignment_plan()
    preview = plan.groups()
    job = realignment_start(by=admin)
    with monkeypatch.context() as patch:
        patch.setattr("pipeline.services.territories._apply_batch", _stop_after(3))
        with pytest.raises(RuntimeError):
            realignment_run(job_id=job.pk, pace=_small_pace())
    job.refresh_from_db()
    assert job.status == RealignmentStatus.RUNNING and 0 < job.done < job.total
    done = realignment_run(job_id=job.pk, pace=_small_pace(rows=20))
    assert (done.status, done.done, done.skipped) == (RealignmentStatus.DONE, len(plan.moves), 0)
    assert realignment_handover_groups(job=done) == preview
    assert Handover.objects.filter(job=done, deal=None).count() == len(plan.moves)
    _check_applied(plan, accounts_before, deals_before)


def test_a_past_forecast_and_won_figure_stay_as_they_were(admin, manager, pipeline, stages):
    """Deals created 100 days ago and handed over today: figures as of 30 days ago keep their owners then."""
    world = _draw_world(9, admin, manager, pipeline, stages, accounts=30, history=True)
    as_of = timezone.localdate() - datetime.timedelta(days=30)
    now = timezone.now()

    def figures():
        return {
            rep.pk: {
                key: value
                for key, value in forecast(Scope(owner=rep.pk), as_of, 60, now=now).items()
            }
            for rep in world["reps"]
        }

    before = figures()
    assert any(f["pipeline"] for f in before.values()), before
    job = realignment_run(job_id=realignment_start(by=admin).pk, pace=_small_pace())
    assert job.deals_moved > 0
    assert figures() == before


def test_values_convert_to_the_reporting_currency_and_a_deal_without_a_rate_is_listed(
    admin, manager, rep, rep2, pipeline, stages
):
    """Worked by hand: 100.00 USD + 200.00 EUR at 1.10 (220.00) = 320.00 USD; 5,000 JPY has no rate."""
    account = account_create(by=admin, owner=rep, name="Acme", country="DE")
    for amount, currency in (("100.00", "USD"), ("200.00", "EUR"), ("5000.00", "JPY")):
        DealFactory(
            owner=rep, account=account, pipeline=pipeline, amount=Decimal(amount), currency=currency
        )
    won = DealFactory(
        owner=rep, account=account, pipeline=pipeline, amount=Decimal("999.00"), currency="EUR"
    )
    deal_move(deal=won, to_stage=stages["Won"], by=rep, expected_version=won.version)
    dach = territory_create(name="DACH", reps=[rep2], by=admin)
    changes = [
        TerritoryChange(
            territory_id=dach.pk,
            rules=(RuleSpec(territory_id=dach.pk, priority=1, countries=("DE",)),),
        )
    ]
    expected = [
        {
            "from_territory": None,
            "from_owner": rep.pk,
            "to_territory": dach.pk,
            "to_owner": rep2.pk,
            "accounts": 1,
            "deals": 3,
            "value": Decimal("320.00"),
            "unconverted": [{"currency": "JPY", "deals": 1, "value": Decimal("5000.00")}],
        }
    ]
    assert realignment_plan(changes=changes).groups() == expected
    job = realignment_run(job_id=realignment_start(by=admin, changes=changes).pk)
    assert realignment_handover_groups(job=job) == expected


def _stalled(job, minutes=11):
    TerritoryRealignment.objects.filter(pk=job.pk).update(
        progressed_at=timezone.now() - datetime.timedelta(minutes=minutes)
    )


def _run(job_id):
    realignment_run(job_id=job_id, pace=_small_pace())
    return f"task-{job_id}"


def test_a_job_left_queued_by_a_dead_broker_is_queued_again_by_the_sweeper(
    admin, manager, pipeline, stages, django_capture_on_commit_callbacks
):
    _draw_world(10, admin, manager, pipeline, stages, accounts=20)
    preview = realignment_plan().groups()
    with django_capture_on_commit_callbacks(execute=True):
        job = realignment_start(by=admin, run=lambda job_id: None)
    job.refresh_from_db()
    assert (job.status, job.error) == (RealignmentStatus.QUEUED, NOT_QUEUED)
    assert realignments_requeue_stalled(run=_run) == []  # not stalled yet
    _stalled(job)
    assert realignments_requeue_stalled(run=_run) == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.error, job.queued_times) == (RealignmentStatus.DONE, "", 2)
    assert realignment_handover_groups(job=job) == preview
    assert realignments_requeue_stalled(run=_run) == []


def test_a_job_whose_worker_died_is_resumed_by_the_sweeper_and_a_second_run_changes_nothing(
    admin, manager, pipeline, stages, monkeypatch
):
    _draw_world(11, admin, manager, pipeline, stages, accounts=30)
    preview = realignment_plan().groups()
    job = realignment_start(by=admin)
    with monkeypatch.context() as patch:
        patch.setattr("pipeline.services.territories._apply_batch", _stop_after(2))
        with pytest.raises(RuntimeError):
            realignment_run(job_id=job.pk, pace=_small_pace())
    _stalled(job)
    queued = []
    # Two sweeps at the same moment: only the first claims the job.
    now = timezone.now()
    assert realignments_requeue_stalled(run=lambda pk: queued.append(pk) or "id", now=now) == [
        job.pk
    ]
    assert realignments_requeue_stalled(run=lambda pk: queued.append(pk) or "id", now=now) == []
    assert queued == [job.pk]
    realignment_run(job_id=job.pk, pace=_small_pace())
    state = _state()
    # The lost task turns up after all, and the sweeper queues the finished job again: nothing changes.
    realignment_run(job_id=job.pk, pace=_small_pace())
    _stalled(job)
    assert realignments_requeue_stalled(run=_run) == []
    assert _state() == state
    job.refresh_from_db()
    assert job.status == RealignmentStatus.DONE
    assert realignment_handover_groups(job=job) == preview


def test_a_job_queued_again_too_often_is_marked_failed(admin):
    job = realignment_start(by=admin)
    TerritoryRealignment.objects.filter(pk=job.pk).update(queued_times=REQUEUE_LIMIT + 1)
    _stalled(job)
    assert realignments_requeue_stalled(run=_run) == []
    job.refresh_from_db()
    assert job.status == RealignmentStatus.FAILED
    assert "queued 5 times" in job.error


def test_beat_runs_the_sweeper_every_minute(admin, monkeypatch):
    entry = django_settings.CELERY_BEAT_SCHEDULE["requeue-stalled-realignments"]
    assert entry["task"] == requeue_stalled_realignments.name
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == 60
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    job = realignment_start(by=admin)
    _stalled(job)
    assert requeue_stalled_realignments() == [job.pk]
    job.refresh_from_db()
    assert job.status == RealignmentStatus.DONE


@pytest.mark.django_db(transaction=True)
def test_a_batch_gives_way_to_a_reps_lock_and_finishes_after(admin, manager, pipeline, stages):
    """A rep holds a deal's row lock for longer than the apply's lock timeout: the batch rolls back,
    is retried smaller, and the job finishes once the rep commits; the rep never waits on the apply.
    Row locks and a lock timeout are PostgreSQL's: SQLite's one writer holds the whole database."""
    need_postgres()
    world = _draw_world(12, admin, manager, pipeline, stages, accounts=20)
    plan = realignment_plan()
    moving = [m.account_id for m in plan.moves if m.deals]
    deal = Deal.objects.filter(
        account_id=moving[0], status=StageKind.OPEN, deleted_at__isnull=True
    ).first()
    locked, release = threading.Event(), threading.Event()

    def rep_edit():
        connection = connections.create_connection("default")
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "UPDATE pipeline_deal SET version = version + 1 WHERE id = %s", [deal.pk]
            )
            locked.set()
            release.wait(30)
            cursor.execute("COMMIT")
        connection.close()

    class ReleasingPace(BatchPace):
        # The rep commits once the apply has met the lock, however long planning took.
        def give_way(self) -> None:
            super().give_way()
            release.set()

    editor = threading.Thread(target=rep_edit)
    editor.start()
    locked.wait(10)
    pace = ReleasingPace(rows=1000, seconds=60.0, lock_timeout_ms=50)
    job = realignment_run(job_id=realignment_start(by=admin).pk, pace=pace)
    release.set()
    editor.join()
    assert job.status == RealignmentStatus.DONE
    assert pace.lock_timeouts >= 1
    deal.refresh_from_db()
    assert deal.owner_id == next(m.to_owner_id for m in plan.moves if m.account_id == moving[0])
    assert world["reps"]
