"""Building a small, fully known commission history: deals won, lost or reopened at set times."""

import datetime
from decimal import Decimal

from django.utils import timezone

from pipeline.models import Deal
from pipeline.services import LineItemSpec, deal_move
from quotas.services import quota_set
from tests.factories import AccountFactory, DealFactory


def moment(day: datetime.date, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


def month_quota(person, month: datetime.date, target: str) -> None:
    last = (month + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    quota_set(owner=person, period_start=month, period_end=last, target=Decimal(target))


def open_deal(
    owner, pipeline, amount: str, *, account=None, product=None, created: datetime.date, name=None
):
    """A deal opened on ``created`` (its past set by hand so moves can be dated after it)."""
    extra = {"account": account} if account is not None else {}
    if name is not None:
        extra["name"] = name
    if product is not None:
        extra["line_items"] = [
            LineItemSpec(product=product, quantity=Decimal(1), unit_price=Decimal(amount))
        ]
    deal = DealFactory(owner=owner, pipeline=pipeline, amount=Decimal(amount), **extra)
    Deal.objects.filter(pk=deal.pk).update(
        created_at=moment(created, 8), stage_entered_at=moment(created, 8)
    )
    deal.transitions.update(at=moment(created, 8))
    return Deal.objects.get(pk=deal.pk)


def move(deal, stage, day: datetime.date, hour: int = 10, lost_reason=None):
    deal = Deal.objects.get(pk=deal.pk)
    return deal_move(
        deal=deal,
        to_stage=stage,
        by=deal.owner,
        expected_version=deal.version,
        lost_reason=lost_reason,
        at=moment(day, hour),
    )


def won(owner, pipeline, stages, amount: str, day: datetime.date, **kwargs):
    deal = open_deal(owner, pipeline, amount, created=day - datetime.timedelta(days=20), **kwargs)
    return move(deal, stages["Won"], day)


def account_of(owner):
    return AccountFactory(owner=owner)
