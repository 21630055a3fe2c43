"""The territory tree's deal sums, read as two index-friendly queries (open deals; the period's won
deals), equal the single ``open OR won`` query they replace, on random data: statuses, close
times in and out of the period, currencies with and without a rate, deleted deals and accounts,
for every role."""

import datetime
import random
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pipeline.models import Deal, StageKind
from pipeline.money import at_close, converted, unconverted
from pipeline.selectors import deals_visible_to
from pipeline.services import exchange_rate_create
from quotas.services import territory_create
from reports import rollups
from reports.runners.gap import gap_period
from reports.runners.territories import CENT, ZERO, TerritoryTreeRunner
from tests.factories import AccountFactory, DealFactory

D = Decimal


def _old_deal_sums(runner: TerritoryTreeRunner) -> tuple[dict, dict]:
    """The reading before: one grouped query over ``open OR won in the period``."""
    start, end = runner.period.bounds
    open_ = Q(status=StageKind.OPEN)
    won = Q(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end)
    open_value, won_value = converted(on=runner.today), at_close()
    rows = deals_visible_to(runner.user).filter(
        open_ | won, account__territory_id__isnull=False, account__deleted_at__isnull=True
    )
    sums = {
        row.pop("account__territory_id"): row
        for row in rows.values("account__territory_id")
        .annotate(
            open_deals=Count("pk", filter=open_),
            open_value=Sum(open_value, filter=open_),
            won_deals=Count("pk", filter=won),
            won_value=Sum(won_value, filter=won),
        )
        .order_by()
    }
    missing = (open_ & unconverted(open_value)) | (won & unconverted(won_value))
    left_out: dict[int, list[dict]] = {}
    for row in (
        rows.filter(missing)
        .values("account__territory_id", "currency")
        .annotate(deals=Count("pk"), value=Sum("amount"))
        .order_by("account__territory_id", "currency")
    ):
        left_out.setdefault(row["account__territory_id"], []).append(
            {
                "currency": row["currency"],
                "deals": row["deals"],
                "value": (row["value"] or ZERO).quantize(CENT),
            }
        )
    return sums, left_out


@pytest.fixture
def random_world(admin, manager, rep, rep2, outsider, pipeline, stages):
    rng = random.Random(14)
    today = timezone.localdate()
    exchange_rate_create(
        currency="EUR", valid_from=today - datetime.timedelta(days=200), rate=D("1.10"), by=admin
    )
    exchange_rate_create(
        currency="EUR", valid_from=today - datetime.timedelta(days=20), rate=D("1.20"), by=admin
    )
    # GBP has a rate only from 10 days ago: deals won before then are left out; JPY never has one.
    exchange_rate_create(
        currency="GBP", valid_from=today - datetime.timedelta(days=10), rate=D("1.30"), by=admin
    )
    top = territory_create(name="Top", owner=manager, reps=[rep], by=admin)
    territories = [
        top,
        territory_create(name="Left", parent=top, reps=[rep2], by=admin),
        territory_create(name="Right", parent=top, by=admin),
        territory_create(name="Far", reps=[outsider], by=admin),
    ]
    owners = [rep, rep2, outsider, manager]
    accounts = [
        AccountFactory(owner=rng.choice(owners), territory=rng.choice(territories + [None]))
        for _ in range(12)
    ]
    now = timezone.now()
    for i in range(70):
        owner = rng.choice(owners)
        deal = DealFactory(
            owner=owner,
            account=rng.choice(accounts),
            pipeline=pipeline,
            amount=D(rng.randrange(100, 100000)) / 100,
        )
        status = rng.choice([StageKind.OPEN, StageKind.WON, StageKind.WON, StageKind.LOST])
        changes = {"currency": rng.choice(["USD", "USD", "EUR", "GBP", "JPY"])}
        if status != StageKind.OPEN:
            changes.update(
                status=status,
                stage=stages["Won" if status == StageKind.WON else "Lost"],
                closed_at=now - datetime.timedelta(days=rng.randrange(0, 200), hours=rng.random()),
            )
        if i % 13 == 0:
            changes["deleted_at"] = now
        Deal.objects.filter(pk=deal.pk).update(**changes)
    accounts[0].deleted_at = now
    accounts[0].save(update_fields=["deleted_at"])
    return today


@pytest.mark.parametrize("who", ["admin", "manager", "rep", "outsider"])
@pytest.mark.parametrize("period", ["month", "quarter", "year"])
def test_the_split_sums_equal_the_single_query_they_replace(request, random_world, who, period):
    today = random_world
    runner = TerritoryTreeRunner(
        user=request.getfixturevalue(who), period=gap_period(period, today), today=today
    )
    old_sums, old_left_out = _old_deal_sums(runner)
    assert old_sums  # the world gives every role something to sum
    if who == "admin":
        assert old_left_out  # and some deals without a rate to leave out
    # Read from the deals, and (on PostgreSQL) from the territory rollups.
    for rolled in {False, rollups.ready()}:
        sums, left_out = runner._deal_sums(rolled)
        assert {pk: {k: row[k] for k in old_sums[pk]} for pk, row in sums.items()} == old_sums
        assert left_out == old_left_out


def _index_columns(name: str) -> set[str]:
    [index] = [index for index in Deal._meta.indexes if index.name == name]
    return {Deal._meta.get_field(field).column for field in (*index.fields, *index.include)}


@pytest.mark.parametrize("who", ["admin", "manager", "rep"])
def test_each_sum_reads_only_what_its_index_carries(request, random_world, who):
    """The open sums can come from ``deal_open_owner_close_idx`` alone and the won ones from
    ``deal_won_closed_idx`` (at 1,000,000 deals: not 23,000 table pages): every deal column each
    reads is in its index, beyond the index's own condition (the status and not deleted)."""
    today = random_world
    runner = TerritoryTreeRunner(
        user=request.getfixturevalue(who), period=gap_period("quarter", today), today=today
    )
    with CaptureQueriesContext(connection) as queries:
        runner._deal_sums(False)
    sums = [q["sql"] for q in queries if 'AS "left_out"' in q["sql"]]
    opened, won = sums
    condition = {"status", "deleted_at"}
    for sql, name in ((opened, "deal_open_owner_close_idx"), (won, "deal_won_closed_idx")):
        read = set(re.findall(r'"pipeline_deal"\."(\w+)"', sql)) - condition
        assert read <= _index_columns(name), read - _index_columns(name)
    assert "'won'" in won and "'open'" in opened
