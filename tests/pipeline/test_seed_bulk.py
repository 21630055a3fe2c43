"""The bulk path of seed_demo (PostgreSQL): rows told straight as COPY text must keep every rule.

The import services check each deal before writing it; the bulk path does
not, so these tests hold what it writes to the same rules: the checks of
``pipeline.checks.deals``, the past the import planner would have built
(transitions chained, one historical version per change, the last one the
deal as it is), and the shape of the organisation the performance goals assume.
"""

import datetime
import io
from collections import Counter, defaultdict
from decimal import Decimal
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.expressions import RawSQL

from pipeline import demo
from pipeline.checks.deals import (
    deal_field_errors,
    line_item_errors,
    line_items_amount_errors,
    lost_reason_errors,
    stage_errors,
)
from pipeline.management.commands import seed_demo
from pipeline.models import (
    Account,
    Activity,
    Deal,
    DealLineItem,
    Stage,
    StageTransition,
    line_total,
)
from pipeline.services.demo_bulk import DEAL_TABLES
from reports import rollups
from reports.models import ActivityDay
from salesmgr.models import User
from tests.reports.test_rollups import assert_rollups_exact

TODAY = "2026-01-15"
MIDNIGHT = datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC)
DEALS = 2000

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="The bulk path loads with COPY (PostgreSQL)."
)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo", "--deals", str(DEALS), "--today", TODAY, "--no-progress", "--no-forecasts",
        *args, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def schema(models) -> set[tuple]:
    """The tables' indexes and constraints, by name and definition."""
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables]
        )
        found = set(cursor.fetchall())
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE conrelid = ANY(%s::regclass[])",
            [tables],
        )
        return found | set(cursor.fetchall())


@postgres_only
def test_bulk_deals_keep_every_rule_of_the_checks(db):
    before = schema([*DEAL_TABLES, Account])

    output = seed("--bulk")

    assert "deals, with their indexes" in output
    # The indexes and foreign keys dropped for the load are all back, validated.
    assert schema([*DEAL_TABLES, Account]) == before
    assert Deal.objects.count() == DEALS
    stages = {s.pk: s for s in Stage.objects.all()}
    items = defaultdict(list)
    for item in DealLineItem.objects.select_related("product"):
        items[item.deal_id].append(item)
    moves = defaultdict(list)
    for move in StageTransition.objects.order_by("deal_id", "at", "pk"):
        moves[move.deal_id].append(move)
    versions = defaultdict(list)
    for version in Deal.history.order_by("id", "history_date", "history_id"):
        versions[version.id].append(version)
    reps = dict(User.objects.filter(role="rep", manager__isnull=False).values_list("pk", "role"))
    account_owner = dict(Account.objects.values_list("pk", "owner_id"))

    for deal in Deal.objects.all():
        stage = stages[deal.stage_id]
        assert not deal_field_errors(
            name=deal.name,
            amount=deal.amount,
            currency=deal.currency,
            expected_close_date=deal.expected_close_date,
            forecast_category=deal.forecast_category,
        )
        assert not stage_errors(
            stage_name=stage.name, stage_pipeline_id=stage.pipeline_id, pipeline_id=deal.pipeline_id
        )
        assert not lost_reason_errors(stage_kind=stage.kind, lost_reason_id=deal.lost_reason_id)
        assert deal.status == stage.kind
        assert deal.owner_id in reps and account_owner[deal.account_id] == deal.owner_id
        lines = items[deal.pk]
        for line in lines:
            assert not line_item_errors(
                product_active=line.product.is_active,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_pct=line.discount_pct,
            )
        total = sum(
            (line_total(i.quantity, i.unit_price, i.discount_pct) for i in lines), Decimal(0)
        )
        assert not line_items_amount_errors(
            has_line_items=bool(lines), amount=deal.amount, total=total
        )

        # The stage-by-stage past: chained, in time order, ending where the deal is.
        past = moves[deal.pk]
        assert past[0].from_stage_id is None and past[0].from_stage_entered_at is None
        assert past[0].at == deal.created_at
        for earlier, later in pairwise(past):
            assert later.from_stage_id == earlier.to_stage_id != later.to_stage_id
            assert later.from_stage_entered_at == earlier.at <= later.at
        assert all(stages[m.to_stage_id].pipeline_id == deal.pipeline_id for m in past)
        assert all(stages[m.to_stage_id].kind == "open" for m in past[:-1])
        assert past[-1].to_stage_id == deal.stage_id
        assert deal.stage_entered_at == past[-1].at
        assert deal.closed_at == (past[-1].at if deal.status != "open" else None)
        assert all(m.by_id == deal.owner_id for m in past)
        assert past[-1].at < MIDNIGHT

        # One version per change, the first the creation, the last the deal as it is.
        history = versions[deal.pk]
        assert deal.version == len(history)
        assert [v.history_type for v in history] == ["+"] + ["~"] * (len(history) - 1)
        assert history[0].history_date == deal.created_at
        assert deal.updated_at == history[-1].history_date < MIDNIGHT
        assert all(a.history_date < b.history_date for a, b in pairwise(history))
        # Each version's span ends where the next begins (``version_at``); the latest's is open.
        assert [v.superseded_at for v in history] == [v.history_date for v in history[1:]] + [None]
        last = history[-1]
        for name in ("stage_id", "status", "amount", "expected_close_date", "forecast_category",
                     "closed_at", "lost_reason_id", "stage_entered_at", "name", "owner_id"):  # fmt: skip
            assert getattr(last, name) == getattr(deal, name), name
        for version in history:
            in_effect = [m for m in past if m.at <= version.history_date][-1]
            assert version.stage_id == in_effect.to_stage_id
            assert version.stage_entered_at == in_effect.at
            assert version.status == stages[version.stage_id].kind
            assert (version.closed_at is None) == (version.status == "open")
            assert (version.lost_reason_id is not None) == (version.status == "lost")
            assert version.history_user_id == deal.owner_id
            # Each version differs from the one before in something tracked.
        tracked = [
            (v.stage_id, v.amount, v.expected_close_date, v.forecast_category) for v in history
        ]
        assert all(a != b for a, b in pairwise(tracked))

    # Activities: on the deal's account, by its owner, within the deal's life.
    lives = {
        pk: (created, closed or MIDNIGHT, account, owner)
        for pk, created, closed, account, owner in Deal.objects.values_list(
            "pk", "created_at", "closed_at", "account_id", "owner_id"
        )
    }
    # (The coaching history adds a few of its own, for ride-alongs: not the deals'.)
    ride_alongs = RawSQL(
        "SELECT activity_id FROM coaching_ridealong WHERE activity_id IS NOT NULL", []
    )
    activities = list(
        Activity.objects.exclude(pk__in=ride_alongs).values_list(
            "deal_id", "occurred_at", "account_id", "author_id", "kind"
        )
    )
    assert len(activities) >= DEALS
    for deal_id, occurred_at, account_id, author_id, _ in activities:
        created, ended, account, owner = lives[deal_id]
        assert created <= occurred_at < max(ended, created + datetime.timedelta(minutes=1))
        assert (account_id, author_id) == (account, owner)
    assert set(kind for *_, kind in activities) == set(demo.ActivityKind.values)


@postgres_only
def test_bulk_deals_are_as_varied_as_the_simulators(db):
    seed("--bulk")
    bulk = Counter(Deal.objects.values_list("status", flat=True))
    bulk_forecasts = Counter(Deal.objects.values_list("forecast_category", flat=True))
    bulk_pipelines = Counter(Deal.objects.values_list("pipeline__name", flat=True))
    bulk_reps = Deal.objects.values("owner_id").distinct().count()
    bulk_lines = DealLineItem.objects.values("deal_id").distinct().count()

    seed("--reset", "--no-bulk")
    simulated = Counter(Deal.objects.values_list("status", flat=True))
    simulated_forecasts = Counter(Deal.objects.values_list("forecast_category", flat=True))
    simulated_lines = DealLineItem.objects.values("deal_id").distinct().count()

    for status in ("open", "won", "lost"):
        assert abs(bulk[status] - simulated[status]) < 0.05 * DEALS, status
    for category in ("pipeline", "best_case", "commit", "omitted"):
        assert abs(bulk_forecasts[category] - simulated_forecasts[category]) < 0.05 * DEALS
    assert 0.15 * DEALS < bulk_pipelines["Renewals"] < 0.25 * DEALS
    assert bulk_reps == 15
    assert abs(bulk_lines - simulated_lines) < 0.05 * DEALS
    # Closed deals mostly close on their expected date, as the simulator's do.
    closed = Deal.objects.exclude(status="open")
    on_time = sum(d.expected_close_date == d.closed_at.date() for d in closed)
    assert on_time > 0.7 * closed.count()


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_several_processes_give_the_same_deals_as_one(monkeypatch):
    monkeypatch.setattr(seed_demo, "BULK_CHUNK", 500)  # four chunks for two processes
    seed("--bulk", "--workers", "1")
    alone = sorted(
        Deal.objects.values_list(
            "name", "owner__username", "stage__name", "amount", "created_at", "closed_at",
            "expected_close_date", "version",
        )
    )  # fmt: skip
    counts = (StageTransition.objects.count(), Deal.history.count(), Activity.objects.count())

    seed("--bulk", "--workers", "2", "--reset")

    assert (
        sorted(
            Deal.objects.values_list(
                "name", "owner__username", "stage__name", "amount", "created_at", "closed_at",
                "expected_close_date", "version",
            )
        )
        == alone
    )  # fmt: skip
    assert (
        StageTransition.objects.count(),
        Deal.history.count(),
        Activity.objects.count(),
    ) == counts


def test_the_bulk_path_needs_postgresql_and_one_choice(db):
    with pytest.raises(Exception, match="not both"):
        seed("--bulk", "--no-bulk")
    if connection.vendor != "postgresql":
        with pytest.raises(Exception, match="PostgreSQL"):
            seed("--bulk")


def test_a_million_deal_demo_has_teams_of_ten_and_a_manager_over_two_thirds():
    org = demo.organisation(1_000_000)
    teams = Counter(manager for _, manager in org.reps)
    assert len(org.managers) == 20 and set(teams.values()) == {demo.TEAM_SIZE}
    boss = {username: up for username, _, up in org.managers}

    def under_manager1(manager: str) -> bool:
        while manager is not None:
            if manager == "manager1":
                return True
            manager = boss[manager]
        return False

    share = sum(under_manager1(manager) for _, manager in org.reps) / len(org.reps)
    assert 0.6 < share < 0.7
    assert set(org.regions) == set(boss)
    # The fifteen named reps keep their managers; the small demo is unchanged.
    assert org.reps[:15] == list(zip(demo.REP_NAMES, demo.REP_MANAGERS, strict=True))
    small = demo.organisation(100_000)
    assert small.managers == demo.MANAGERS and len(small.reps) == 15
    assert len({name for name, _ in org.reps}) == len(org.reps)


@postgres_only
def test_a_bulk_load_leaves_the_rollups_counted_and_their_triggers_on(db):
    seed("--bulk")
    assert rollups.ready(), "every rollup trigger is back on, in this time zone"
    assert ActivityDay.objects.exists()
    assert_rollups_exact("after a bulk seed")
