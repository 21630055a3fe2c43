"""The digest's biggest wins, ranked from the deals before the join to owners and accounts, are the
ones (in the order) the single joined query gave, on random data with ties and rate-less deals."""

import datetime
import random
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from coaching.digests import DEALS_SHOWN, _wins, digest_scope
from coaching.wins import wins_visible_to
from pipeline.models import Deal, StageKind
from pipeline.services import exchange_rate_create
from tests.factories import AccountFactory, DealFactory


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("who", ["admin", "manager", "rep"])
def test_the_biggest_wins_are_those_the_joined_query_ranked(
    request, admin, manager, rep, rep2, outsider, pipeline, stages, seed, who
):
    rng = random.Random(seed)
    now = timezone.now()
    exchange_rate_create(
        currency="EUR", valid_from=timezone.localdate() - datetime.timedelta(days=30),
        rate=Decimal("1.10"), by=admin,
    )  # fmt: skip
    accounts = [AccountFactory(owner=owner) for owner in (rep, rep2, outsider)]
    for _ in range(25):
        account = rng.choice(accounts)
        deal = DealFactory(
            owner=account.owner, account=account, pipeline=pipeline,
            amount=Decimal(rng.choice([500, 1000, 1000, rng.randrange(1, 5000)])),
        )  # fmt: skip
        Deal.objects.filter(pk=deal.pk).update(
            status=StageKind.WON, stage=stages["Won"],
            currency=rng.choice(["USD", "USD", "EUR", "JPY"]),
            closed_at=now - datetime.timedelta(days=rng.choice([1, 2, 9]), hours=rng.choice([0, 5])),
        )  # fmt: skip
    user = request.getfixturevalue(who)
    since = now - datetime.timedelta(days=7)
    won = wins_visible_to(user, digest_scope(user)).filter(closed_at__gte=since, closed_at__lt=now)
    before = list(won.order_by(F("value").desc(nulls_last=True), "-closed_at", "pk")[:DEALS_SHOWN])
    after = _wins(user, digest_scope(user), since, now)["rows"]
    assert before
    assert [(d.pk, d.value, d.owner.username, d.account.name) for d in after] == [
        (d.pk, d.value, d.owner.username, d.account.name) for d in before
    ]
