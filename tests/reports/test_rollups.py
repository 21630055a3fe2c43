"""The daily rollups of activities, advances and closed deals (``reports/rollups.py``) against the
rows they count.

Random sequences of the writes the triggers must follow (activities added, re-dated, re-kinded,
handed over and deleted; transitions added, edited and deleted; deals closed, reopened, re-dated,
re-priced, handed over, deleted, restored and purged; stages reordered; tables emptied) are checked after every step against a
count made in Python from the source rows. The reports that read the rollups are checked against
their live reading on drawn data (the reports, the metrics series, streaks and personal
bests). PostgreSQL only: SQLite keeps no rollups and reads live.
"""

import datetime
import io
import random
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coaching.celebrations import personal_bests_for, streaks_for
from coaching.insights import insights
from pipeline.models import (
    Account,
    Activity,
    ActivityKind,
    Deal,
    DealLineItem,
    ExchangeRate,
    Stage,
    StageKind,
    StageTransition,
)
from pipeline.periods import Period, start_of
from pipeline.picker import Pick
from pipeline.scopes import Scope
from quotas.models import Territory
from reports import metrics, rollups
from reports.catalog import funnel_activity, rep_scorecards
from reports.catalog.base import REPORTS
from reports.catalog.people_figures import coverage_day
from reports.catalog.team_health import team_health
from reports.models import (
    ActivityDay,
    AdvanceDay,
    ClosedDay,
    CreatedDay,
    ProductDay,
    TerritoryAccounts,
    TerritoryOpen,
    TerritoryWonDay,
)
from reports.runners.territories import TerritoryTreeRunner
from tests.conftest import need_postgres
from tests.factories import DealFactory, PipelineFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def postgres_only():
    need_postgres()


def _local_day(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()


def expected_activities() -> Counter:
    return Counter(
        (a.author_id, _local_day(a.occurred_at), a.kind)
        for a in Activity.objects.only("author_id", "occurred_at", "kind")
    )


def expected_advances() -> Counter:
    counts = Counter()
    for t in StageTransition.objects.select_related("deal", "to_stage", "from_stage"):
        if t.deal.deleted_at is not None:
            continue
        to, before = t.to_stage, t.from_stage
        if to.kind == StageKind.WON or (
            before is not None and to.kind == StageKind.OPEN and to.order > before.order
        ):
            counts[(t.deal.owner_id, _local_day(t.at))] += 1
    return counts


def expected_closed() -> dict:
    """Per owner, local close day, status and currency: the live closed deals' count, amount and age."""
    rows: dict = {}
    for deal in Deal.objects.filter(
        deleted_at__isnull=True,
        status__in=[StageKind.WON, StageKind.LOST],
        closed_at__isnull=False,
    ):
        key = (deal.owner_id, _local_day(deal.closed_at), deal.status, deal.currency)
        deals, amount, cycle = rows.get(key, (0, Decimal(0), datetime.timedelta(0)))
        rows[key] = (deals + 1, amount + deal.amount, cycle + (deal.closed_at - deal.created_at))
    return rows


def rolled_closed() -> dict:
    rows = {}
    for row in ClosedDay.objects.all():
        if row.deals:
            rows[(row.owner_id, row.day, row.status, row.currency)] = (
                row.deals,
                row.amount,
                row.cycle,
            )
        else:
            # A row all of whose deals left keeps nothing else either.
            assert (row.amount, row.cycle) == (0, datetime.timedelta(0)), row
    return rows


def expected_products() -> dict:
    """Per product, owner, local close day and currency: the won live deals' lines, units, value."""
    rows: dict = {}
    for line in DealLineItem.objects.select_related("deal").filter(
        deal__deleted_at__isnull=True, deal__status=StageKind.WON, deal__closed_at__isnull=False
    ):
        deal = line.deal
        key = (line.product_id, deal.owner_id, _local_day(deal.closed_at), deal.currency)
        lines, units, value = rows.get(key, (0, Decimal(0), Decimal(0)))
        total = (line.quantity * line.unit_price * (100 - line.discount_pct) / 100).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        rows[key] = (lines + 1, units + line.quantity, value + total)
    return rows


def rolled_products() -> dict:
    rows = {}
    for row in ProductDay.objects.all():
        if row.lines:
            key = (row.product_id, row.owner_id, row.day, row.currency)
            rows[key] = (row.lines, row.units, row.value)
        else:
            assert (row.units, row.value) == (0, 0), row
    return rows


def rolled_activities() -> Counter:
    return Counter(
        {
            (row.author_id, row.day, row.kind): row.count
            for row in ActivityDay.objects.all()
            if row.count
        }
    )


def rolled_advances() -> Counter:
    return Counter(
        {(row.owner_id, row.day): row.count for row in AdvanceDay.objects.all() if row.count}
    )


def expected_territories() -> tuple[Counter, dict, dict]:
    """The live accounts per territory and owner; the live open deals of live accounts per territory,
    owner and currency, and the won ones per local close day too: count and amount."""
    accounts = Counter(
        Account.objects.filter(deleted_at__isnull=True, territory__isnull=False).values_list(
            "territory_id", "owner_id"
        )
    )
    opened: dict = {}
    won: dict = {}
    for deal in Deal.objects.select_related("account").filter(
        deleted_at__isnull=True,
        account__deleted_at__isnull=True,
        account__territory__isnull=False,
    ):
        key = (deal.account.territory_id, deal.owner_id, deal.currency)
        if deal.status == StageKind.OPEN:
            rows = opened
        elif deal.status == StageKind.WON and deal.closed_at is not None:
            rows, key = won, (_local_day(deal.closed_at), *key)
        else:
            continue
        deals, amount = rows.get(key, (0, Decimal(0)))
        rows[key] = (deals + 1, amount + deal.amount)
    return accounts, opened, won


def rolled_territories() -> tuple[Counter, dict, dict]:
    accounts = Counter(
        {
            (row.territory_id, row.owner_id): row.accounts
            for row in TerritoryAccounts.objects.all()
            if row.accounts
        }
    )
    opened, won = {}, {}
    for row in TerritoryOpen.objects.all():
        if row.deals:
            opened[(row.territory_id, row.owner_id, row.currency)] = (row.deals, row.amount)
        else:
            assert row.amount == 0, row
    for row in TerritoryWonDay.objects.all():
        if row.deals:
            won[(row.day, row.territory_id, row.owner_id, row.currency)] = (row.deals, row.amount)
        else:
            assert row.amount == 0, row
    return accounts, opened, won


def expected_created() -> dict:
    """Per owner, local day of creation and currency: the live deals' count and amount."""
    rows: dict = {}
    for deal in Deal.objects.filter(deleted_at__isnull=True):
        key = (deal.owner_id, _local_day(deal.created_at), deal.currency)
        deals, amount = rows.get(key, (0, Decimal(0)))
        rows[key] = (deals + 1, amount + deal.amount)
    return rows


def rolled_created() -> dict:
    rows = {}
    for row in CreatedDay.objects.all():
        if row.deals:
            rows[(row.owner_id, row.day, row.currency)] = (row.deals, row.amount)
        else:
            assert row.amount == 0, row
    return rows


def assert_rollups_exact(step: str) -> None:
    assert rolled_activities() == expected_activities(), step
    assert rolled_advances() == expected_advances(), step
    assert rolled_closed() == expected_closed(), step
    assert rolled_products() == expected_products(), step
    assert rolled_territories() == expected_territories(), step
    assert rolled_created() == expected_created(), step


class World:
    """People, two pipelines and some deals, and the random writes the rollups must follow."""

    def __init__(self, rng: random.Random, people: list, pipelines: list):
        self.rng = rng
        self.people = people
        self.stages = [stage for p in pipelines for stage in p.stages.all()]
        self.deals = [
            DealFactory(owner=rng.choice(people), pipeline=rng.choice(pipelines)) for _ in range(8)
        ]
        self.now = timezone.now()
        self.products = [ProductFactory() for _ in range(3)]
        self.territories = [Territory.objects.create(name=f"Drawn {n}") for n in range(3)]
        for deal in self.deals:
            Account.objects.filter(pk=deal.account_id).update(
                territory=rng.choice(self.territories)
            )

    def moment(self) -> datetime.datetime:
        # Around midnight often, where a local day and a UTC day part.
        day = self.rng.randint(-40, 10)
        minutes = self.rng.choice([0, 1, 59, 60 * 23 + 59, self.rng.randint(0, 60 * 24 - 1)])
        return start_of(timezone.localdate() + datetime.timedelta(days=day)) + datetime.timedelta(
            minutes=minutes
        )

    def some(self, model, most: int = 3) -> list[int]:
        ids = list(model.objects.values_list("pk", flat=True))
        return self.rng.sample(ids, min(len(ids), self.rng.randint(1, most)))

    def add_activities(self):
        Activity.objects.bulk_create(
            Activity(
                kind=self.rng.choice(ActivityKind.values),
                subject="Drawn",
                occurred_at=self.moment(),
                author=self.rng.choice(self.people),
                deal=self.rng.choice(self.deals),
            )
            for _ in range(self.rng.randint(1, 6))
        )

    def edit_activities(self):
        changes = self.rng.choice(
            [
                {"occurred_at": self.moment()},
                {"kind": self.rng.choice(ActivityKind.values)},
                {"author": self.rng.choice(self.people)},
                {"subject": "Renamed"},
                {"occurred_at": self.moment(), "author": self.rng.choice(self.people)},
            ]
        )
        Activity.objects.filter(pk__in=self.some(Activity)).update(**changes)

    def delete_activities(self):
        Activity.objects.filter(pk__in=self.some(Activity)).delete()

    def add_transitions(self):
        rows = []
        for _ in range(self.rng.randint(1, 5)):
            deal = self.rng.choice(self.deals)
            stages = [s for s in self.stages if s.pipeline_id == deal.pipeline_id]
            rows.append(
                StageTransition(
                    deal_id=deal.pk,
                    from_stage=self.rng.choice([None, *stages]),
                    to_stage=self.rng.choice(stages),
                    at=self.moment(),
                )
            )
        StageTransition.objects.bulk_create(rows)

    def edit_transitions(self):
        deal = self.rng.choice(self.deals)
        stages = [s for s in self.stages if s.pipeline_id == deal.pipeline_id]
        changes = self.rng.choice(
            [
                {"at": self.moment()},
                {"to_stage": self.rng.choice(stages)},
                {"from_stage": self.rng.choice([None, *stages])},
                {"deal_id": deal.pk, "from_stage": None, "to_stage": stages[-2]},
            ]
        )
        StageTransition.objects.filter(pk__in=self.some(StageTransition)).update(**changes)

    def delete_transitions(self):
        StageTransition.objects.filter(pk__in=self.some(StageTransition)).delete()

    def hand_over(self):
        Deal.objects.filter(pk__in=self.some(Deal, 4)).update(owner=self.rng.choice(self.people))

    def add_lines(self):
        DealLineItem.objects.bulk_create(
            DealLineItem(
                deal=self.rng.choice(self.deals),
                product=self.rng.choice(self.products),
                quantity=Decimal(self.rng.randint(1, 900)) / 100,
                unit_price=Decimal(self.rng.randint(0, 10**6)) / 100,
                discount_pct=Decimal(self.rng.choice([0, 0, 5, 12.5, 33.33, 100])),
            )
            for _ in range(self.rng.randint(1, 4))
        )

    def edit_lines(self):
        changes = self.rng.choice(
            [
                {"quantity": Decimal(self.rng.randint(1, 900)) / 100},
                {"unit_price": Decimal(self.rng.randint(0, 10**6)) / 100},
                {"discount_pct": Decimal("7.5")},
                {"product": self.rng.choice(self.products)},
                {"deal": self.rng.choice(self.deals)},
            ]
        )
        DealLineItem.objects.filter(pk__in=self.some(DealLineItem)).update(**changes)

    def delete_lines(self):
        DealLineItem.objects.filter(pk__in=self.some(DealLineItem)).delete()

    def close(self):
        status = self.rng.choice([StageKind.WON, StageKind.LOST])
        Deal.objects.filter(pk__in=self.some(Deal)).update(status=status, closed_at=self.moment())

    def reopen(self):
        Deal.objects.filter(pk__in=self.some(Deal)).update(status=StageKind.OPEN, closed_at=None)

    def edit_closed(self):
        changes = self.rng.choice(
            [
                {"closed_at": self.moment()},
                {"created_at": self.moment() - datetime.timedelta(days=self.rng.randint(0, 90))},
                {"amount": Decimal(self.rng.randint(0, 10**7)) / 100},
                {"currency": self.rng.choice(["USD", "EUR", "JPY"])},
                {"status": StageKind.LOST, "currency": "EUR"},
                {"name": "Renamed"},
            ]
        )
        deals = Deal.objects.filter(pk__in=self.some(Deal))
        if "closed_at" in changes or "status" in changes:
            # A close time goes with a won or lost deal (a check constraint).
            deals = deals.filter(status__in=[StageKind.WON, StageKind.LOST])
        deals.update(**changes)

    def add_deals(self):
        status = self.rng.choice([StageKind.OPEN, StageKind.WON, StageKind.LOST])
        closed = None if status == StageKind.OPEN else self.moment()
        deal = DealFactory(
            owner=self.rng.choice(self.people), pipeline=self.rng.choice(self.stages).pipeline
        )
        # One statement that inserts closed deals, as an import or a COPY-less bulk load does.
        Deal.objects.filter(pk=deal.pk).delete()
        deal.pk = deal.id = None
        deal.status, deal.closed_at = status, closed
        deal.currency = self.rng.choice(["USD", "EUR"])
        self.deals.append(Deal.objects.bulk_create([deal])[0])

    def soft_delete(self):
        Deal.objects.filter(pk__in=self.some(Deal)).update(deleted_at=timezone.now())

    def restore(self):
        Deal.objects.filter(pk__in=self.some(Deal)).update(deleted_at=None)

    def purge(self):
        if len(self.deals) > 4:
            deal = self.deals.pop(self.rng.randrange(len(self.deals)))
            Deal.objects.filter(pk=deal.pk).delete()

    def move_accounts(self):
        Account.objects.filter(pk__in=self.some(Account)).update(
            territory=self.rng.choice([None, *self.territories])
        )

    def rehome_accounts(self):
        changes = self.rng.choice(
            [
                {"owner": self.rng.choice(self.people)},
                {"owner": self.rng.choice(self.people), "territory": self.territories[0]},
                {"name": "Renamed"},
            ]
        )
        Account.objects.filter(pk__in=self.some(Account)).update(**changes)

    def delete_accounts(self):
        moment = self.rng.choice([timezone.now(), None])
        Account.objects.filter(pk__in=self.some(Account)).update(deleted_at=moment)

    def add_accounts(self):
        # Some with no deal yet, removed again at once when the draw says so (no deal protects them).
        added = Account.objects.bulk_create(
            Account(
                name="Drawn",
                owner=self.rng.choice(self.people),
                territory=self.rng.choice([None, *self.territories]),
            )
            for _ in range(self.rng.randint(1, 3))
        )
        if self.rng.random() < 0.3:
            Account.objects.filter(pk=added[0].pk).delete()

    def move_deals(self):
        account = self.rng.choice(list(Account.objects.all()))
        Deal.objects.filter(pk__in=self.some(Deal)).update(account=account)

    def delete_territory(self):
        # Its accounts are left in no territory (the key's SET_NULL, an update of the accounts).
        if len(self.territories) > 1:
            territory = self.territories.pop(self.rng.randrange(len(self.territories)))
            name = territory.name
            territory.delete()
            self.territories.append(Territory.objects.create(name=f"{name} again"))
            self.move_accounts()

    def reorder_stages(self):
        pipeline_id = self.rng.choice(self.stages).pipeline_id
        opens = list(Stage.objects.filter(pipeline_id=pipeline_id, kind=StageKind.OPEN))
        first, second = self.rng.sample(opens, 2)
        orders = first.order, second.order
        Stage.objects.filter(pk=first.pk).update(order=200)
        Stage.objects.filter(pk=second.pk).update(order=orders[0])
        Stage.objects.filter(pk=first.pk).update(order=orders[1])

    def step(self) -> str:
        action = self.rng.choices(
            [
                self.add_activities,
                self.edit_activities,
                self.delete_activities,
                self.add_transitions,
                self.edit_transitions,
                self.delete_transitions,
                self.hand_over,
                self.soft_delete,
                self.restore,
                self.purge,
                self.reorder_stages,
                self.close,
                self.reopen,
                self.edit_closed,
                self.add_deals,
                self.add_lines,
                self.edit_lines,
                self.delete_lines,
                self.move_accounts,
                self.rehome_accounts,
                self.delete_accounts,
                self.add_accounts,
                self.move_deals,
                self.delete_territory,
            ],
            weights=[5, 3, 2, 5, 3, 2, 3, 2, 2, 1, 1, 4, 1, 3, 1, 4, 3, 1, 3, 2, 2, 1, 2, 1],
        )[0]
        action()
        return action.__name__


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_rollups_follow_every_kind_of_write(seed, rep, rep2, outsider, manager):
    rng = random.Random(seed)
    world = World(rng, [rep, rep2, outsider, manager], [PipelineFactory(), PipelineFactory()])
    assert_rollups_exact("the deals' creation")
    sold, placed = False, set()
    for n in range(90):
        name = world.step()
        assert_rollups_exact(f"step {n}: {name}")
        sold = sold or bool(rolled_products())
        placed |= {part for part, rows in zip("aow", rolled_territories(), strict=True) if rows}
    assert sold, "some step won a deal with lines on it"
    assert placed == {"a", "o", "w"}, "some steps had accounts, open and won deals in territories"


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_days_are_local_days_of_the_zone_the_rollups_are_in(settings, zone, rep, stages):
    deal = DealFactory(owner=rep, pipeline=stages["Won"].pipeline)
    settings.TIME_ZONE = zone
    assert not rollups.ready(), "rollups counted in another zone are not read"
    rollups.rebuild()
    assert rollups.ready()
    late = datetime.datetime(2026, 3, 2, 2, 30, tzinfo=datetime.UTC)
    Activity.objects.create(
        kind=ActivityKind.CALL, subject="Late", occurred_at=late, author=rep, deal=deal
    )
    StageTransition.objects.create(
        deal=deal, from_stage=stages["Discovery"], to_stage=stages["Proposal"], at=late
    )
    Deal.objects.filter(pk=deal.pk).update(status=StageKind.WON, closed_at=late)
    local = late.astimezone(ZoneInfo(zone))
    assert ActivityDay.objects.get(author=rep, kind=ActivityKind.CALL).day == local.date()
    assert ClosedDay.objects.get(owner=rep, status=StageKind.WON).day == local.date()
    assert AdvanceDay.objects.get(owner=rep, day=local.date()).count == 1
    with timezone.override(zone):
        assert_rollups_exact("in " + zone)


def test_emptying_a_source_empties_its_rollup(rep, stages):
    deal = DealFactory(owner=rep, pipeline=stages["Won"].pipeline)
    Activity.objects.create(kind=ActivityKind.CALL, subject="Call", author=rep, deal=deal)
    StageTransition.objects.create(
        deal=deal, from_stage=stages["Discovery"], to_stage=stages["Won"]
    )
    assert ActivityDay.objects.exists() and AdvanceDay.objects.exists()
    with connection.cursor() as cursor:
        # The rows' deferred foreign-key checks first: TRUNCATE refuses a table with pending ones.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE pipeline_activity, pipeline_stagetransition CASCADE")
    assert not ActivityDay.objects.exists() and not AdvanceDay.objects.exists()
    Deal.objects.filter(pk=deal.pk).update(status=StageKind.WON, closed_at=timezone.now())
    assert ClosedDay.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE pipeline_deal CASCADE")
    assert not ClosedDay.objects.exists()


def test_without_the_install_reports_read_live(rep, pipeline):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    with connection.cursor() as cursor:
        cursor.execute(rollups.UNINSTALL_SQL)
    assert rollups.installed_zone() is None and not rollups.installed()
    with pytest.raises(CommandError, match="not installed"):
        call_command("rebuild_rollups")
    assert not rollups.ready()
    Activity.objects.create(kind=ActivityKind.CALL, subject="Unrolled", author=rep, deal=deal)
    assert not ActivityDay.objects.exists()


def _drawn_history(rng: random.Random, people: list, pipelines: list) -> None:
    world = World(rng, people, pipelines)
    for _ in range(80):
        rng.choice([world.add_activities, world.add_transitions, world.add_transitions])()
    for _ in range(12):
        rng.choice([world.add_deals, world.close, world.edit_closed])()
    for _ in range(8):
        world.add_lines()
    for _ in range(10):
        world.step()


def _figures(sums: dict) -> dict:
    """The scorecard sums with each owner's summed days rounded: the rollup adds the ages before it
    turns them into days, the deals' count turns each into days first (they differ past 1e-9)."""
    return {
        owner: {
            name: round(value, 9) if name.startswith("cycle_days") and value is not None else value
            for name, value in row.items()
        }
        for owner, row in sums.items()
        # An owner with only open deals gets a row of zeros from one query and none from the other.
        if any(value for name, value in row.items() if name != "owner_id")
    }


def _rounded(value):
    """``value`` with every float in it rounded to 9 places."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rounded(item) for item in value)
    return value


def _live(function, *args):
    with mock.patch.object(rollups, "ready", return_value=False):
        return function(*args)


@pytest.mark.parametrize("seed", [5, 6])
def test_the_reports_read_the_same_from_the_rollups_as_live(
    seed, admin, rep, rep2, outsider, manager, other_manager
):
    rng = random.Random(seed)
    people = [rep, rep2, outsider]
    _drawn_history(rng, people, [PipelineFactory(), PipelineFactory()])
    today = timezone.localdate()
    # Euros convert at the rate starting on their close day where one does, else the latest before;
    # yen never convert.
    for days_ago, rate in ((60, "1.05"), (20, "1.10"), (5, "1.20"), (0, "1.25")):
        valid_from = today - datetime.timedelta(days=days_ago)
        ExchangeRate.objects.create(currency="EUR", valid_from=valid_from, rate=Decimal(rate))
    for deal, days_ago, status, currency in zip(
        [DealFactory(owner=rng.choice(people)) for _ in range(6)],
        (20, 12, 5, 3, 0, 8),
        (StageKind.WON, StageKind.WON, StageKind.WON, StageKind.LOST, StageKind.WON, StageKind.WON),
        ("EUR", "EUR", "EUR", "EUR", "EUR", "JPY"),
        strict=True,
    ):
        closed_at = start_of(today - datetime.timedelta(days=days_ago)) + datetime.timedelta(
            hours=9
        )
        Deal.objects.filter(pk=deal.pk).update(
            status=status, closed_at=closed_at, currency=currency
        )
    assert ClosedDay.objects.filter(currency="EUR").exclude(deals=0).count() >= 4
    for deal in Deal.objects.filter(currency="EUR", status=StageKind.WON):
        DealLineItem.objects.create(
            deal=deal, product=ProductFactory(), quantity=Decimal("3"), unit_price=Decimal("33.35")
        )
    assert ProductDay.objects.filter(currency="EUR").exclude(lines=0).count() >= 3
    periods = [
        Period.default(today),
        Period(today - datetime.timedelta(days=17), today + datetime.timedelta(days=4)),
        Period(today - datetime.timedelta(days=30), today - datetime.timedelta(days=9)),
    ]
    scopes = [Scope(), Scope(team=manager.pk), Scope(team=other_manager.pk), Scope(owner=rep.pk)]
    won_weeks = set()
    for period in periods:
        for scope in scopes:
            pick = Pick(kind="team", scope=scope, period=period)
            counts = funnel_activity.activity_counts(pick)
            live = _live(funnel_activity.activity_counts, pick)
            assert counts == live, (scope, period)
            won_weeks.update(week for (_, week), cell in counts.items() if cell["wins"])
            if scope.owner is None or scope == Scope(owner=rep.pk):
                for interval in ("week", "month"):
                    points = metrics.series(scope, period, interval)
                    assert points == _live(metrics.series, scope, period, interval), (scope, period)
        ids = [person.pk for person in people]
        assert rep_scorecards._activities(ids, period, True) == {
            pk: {"now": row["now"], "before": row["before"]}
            for pk, row in rep_scorecards._activities(ids, period, False).items()
        }, period
        day = coverage_day(period, today)
        for is_live in {day >= today, False}:
            rolled = rep_scorecards._deal_sums(ids, Scope(), period, day, is_live, True)
            counted = rep_scorecards._deal_sums(ids, Scope(), period, day, is_live, False)
            assert _figures(rolled) == _figures(counted), (period, is_live)
        for scope in scopes:
            for by in ("product", "rep"):
                pick = Pick(kind="team", scope=scope, period=period)
                sold = REPORTS["products-sold"].build(manager, pick, today, by=by)
                live = _live(REPORTS["products-sold"].build, manager, pick, today, by)
                assert (sold.rows, sold.totals) == (live.rows, live.totals), (scope, period, by)
        for user in (admin, manager, other_manager):
            health = team_health(user, Scope(), period, today)
            assert health == _live(team_health, user, Scope(), period, today), (user, period)
        for person in people:
            # The cycle's days are added before (rollup) or after (deals) they are read as days.
            found = _rounded(insights(person, period, today))
            assert found == _rounded(_live(insights, person, period, today)), (person, period)
    assert len(won_weeks) >= 2  # the wins compared are spread over weeks
    ids = [person.pk for person in people]
    for day in (today, today - datetime.timedelta(days=6)):
        assert streaks_for(ids, day) == _live(streaks_for, ids, day)
        assert personal_bests_for(ids, day) == _live(personal_bests_for, ids, day)
    health = team_health(admin, Scope(), periods[0], today)
    assert health["unconverted"] and any(team["new_deals"] for team in health["teams"])


@pytest.mark.parametrize("seed", [7, 8])
def test_the_territory_tree_reads_the_same_from_the_rollups_as_live(
    seed, admin, rep, rep2, outsider, manager, other_manager
):
    rng = random.Random(seed)
    people = [rep, rep2, outsider, manager]
    _drawn_history(rng, people, [PipelineFactory(), PipelineFactory()])
    today = timezone.localdate()
    for days_ago, rate in ((60, "1.05"), (20, "1.10"), (0, "1.25")):
        valid_from = today - datetime.timedelta(days=days_ago)
        ExchangeRate.objects.create(currency="EUR", valid_from=valid_from, rate=Decimal(rate))
    territories = list(Territory.objects.all())
    child = Territory.objects.create(name="Inside", parent=territories[0])
    territories[1].reps.add(rep)
    territories[2].reps.add(outsider)
    accounts = list(Account.objects.order_by("pk"))
    for account in accounts:
        Account.objects.filter(pk=account.pk).update(
            territory=rng.choice([None, child, *territories])
        )
    # Open and won deals in euros (a rate), yen (none) and dollars, in every territory.
    for n in range(12):
        live_accounts = [account for account in accounts if account.deleted_at is None]
        deal = DealFactory(owner=rng.choice(people), account=rng.choice(live_accounts))
        won = n % 3 == 0
        Deal.objects.filter(pk=deal.pk).update(
            currency=rng.choice(["EUR", "JPY", "USD"]),
            amount=Decimal(rng.randint(1, 10**6)) / 100,
            status=StageKind.WON if won else StageKind.OPEN,
            closed_at=start_of(today - datetime.timedelta(days=rng.randint(0, 30)))
            if won
            else None,
        )
    assert TerritoryOpen.objects.filter(currency="JPY").exclude(deals=0).exists()
    periods = [
        Period.default(today),
        Period(today - datetime.timedelta(days=17), today + datetime.timedelta(days=4)),
        Period(today - datetime.timedelta(days=400), today + datetime.timedelta(days=1)),
    ]
    for user in (admin, manager, other_manager, rep, outsider):
        for period in periods:
            tree = TerritoryTreeRunner(user, period, today).run()
            live = _live(TerritoryTreeRunner(user, period, today).run)
            assert tree == live, (user, period)
    tree = TerritoryTreeRunner(admin, periods[-1], today).run()
    assert any(row["unconverted"] for row in tree["rows"]), "some deals lack a rate"
    assert any(row["won_deals"] for row in tree["rows"])


def test_a_scorecard_counts_todays_activities_up_to_now(rep, pipeline):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    now = timezone.now()
    for moment in (now - datetime.timedelta(minutes=1), now + datetime.timedelta(minutes=5)):
        Activity.objects.create(
            kind=ActivityKind.CALL, subject="Today", occurred_at=moment, author=rep, deal=deal
        )
    today = timezone.localdate()
    if timezone.localtime(now - datetime.timedelta(minutes=1)).date() != today:
        pytest.skip("a minute ago was yesterday")
    period = Period(today - datetime.timedelta(days=6), today + datetime.timedelta(days=1))
    assert rollups.ready()
    assert rep_scorecards._activities([rep.pk], period, True)[rep.pk] == {"now": 1, "before": 0}


def test_a_disabled_trigger_stops_the_reading_until_rebuild_rollups_mends_it(rep, pipeline):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE pipeline_activity DISABLE TRIGGER reports_rollup_activities_insert"
        )
    Activity.objects.create(kind=ActivityKind.EMAIL, subject="Missed", author=rep, deal=deal)
    assert not rollups.ready(), "a rollup that may have missed writes is not read"
    out = io.StringIO()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred check
    call_command("rebuild_rollups", stdout=out)
    assert "Rollups counted in" in out.getvalue()
    assert rollups.ready()
    assert_rollups_exact("after rebuild_rollups")


def test_migrate_counts_the_rollups_again_when_the_time_zone_changed(settings, rep, pipeline):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    Activity.objects.create(
        kind=ActivityKind.CALL,
        subject="Near midnight",
        author=rep,
        deal=deal,
        occurred_at=datetime.datetime(2026, 5, 4, 23, 30, tzinfo=datetime.UTC),
    )
    settings.TIME_ZONE = "Asia/Tokyo"
    rollups.rebuild_if_zone_changed()
    assert rollups.installed_zone() == "Asia/Tokyo"
    assert ActivityDay.objects.get(author=rep, kind=ActivityKind.CALL).day == datetime.date(
        2026, 5, 5
    )
    with timezone.override("Asia/Tokyo"):
        assert_rollups_exact("in Tokyo")


def test_every_statement_of_a_statement_trigger_is_planned_at_each_firing():
    """A statement trigger's SQL is run by EXECUTE, planned for the rows of that firing, not with
    a plan kept from the session's first firing (``rollups._planned_afresh``). Only the row trigger
    of a purged deal, whose one row never changes size, a stage's rare reorder and the emptying
    functions keep statements of their own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'reports\\_rollup\\_%%'"
        )
        sources = dict(cursor.fetchall())
    kept = {"reports_rollup_deal_deleted", "reports_rollup_stages", rollups.ZONE_FUNCTION}
    checked = [name for name in sources if name not in kept and "_empty_" not in name]
    assert len(checked) == 9, sorted(sources)
    for name in checked:
        outside = re.sub(r"\$sql\$.*?\$sql\$|'[^']*'", "", sources[name], flags=re.S)
        assert "EXECUTE" in outside and "$sql$" in sources[name], name
        assert not re.search(r"\b(INSERT|SELECT|DELETE|UPDATE)\b", outside), (name, outside)


def test_a_people_series_and_the_win_streaks_read_no_deal(rep, manager, pipeline):
    """The organisation's, a team's and a rep's series and the win streaks sum the daily rollups;
    a territory's series, which the rollups do not key, reads the deals."""
    DealFactory(owner=rep, pipeline=pipeline)
    today = timezone.localdate()
    period = Period.default(today)
    for scope in (Scope(), Scope(team=manager.pk), Scope(owner=rep.pk)):
        with CaptureQueriesContext(connection) as queries:
            metrics.series(scope, period, "week")
        assert not [query for query in queries if "pipeline_deal" in query["sql"]], scope
    with CaptureQueriesContext(connection) as queries:
        streaks_for([rep.pk], today)
    assert not [query for query in queries if "pipeline_deal" in query["sql"]]
    territory = Territory.objects.create(name="North")
    with CaptureQueriesContext(connection) as queries:
        metrics.series(Scope(territory=territory.pk), period, "week")
    assert [query for query in queries if "pipeline_deal" in query["sql"]]
