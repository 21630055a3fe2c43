import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from quotas.models import Quota, Territory
from quotas.services import quota_set, territory_set_parent
from tests.conftest import need_postgres

JAN = (datetime.date(2026, 1, 1), datetime.date(2026, 1, 31))


def test_overlapping_quota_is_rejected(rep):
    quota_set(owner=rep, period_start=JAN[0], period_end=JAN[1], target=Decimal("50000"))
    with pytest.raises(ValidationError, match="overlaps"):
        quota_set(
            owner=rep,
            period_start=datetime.date(2026, 1, 15),
            period_end=datetime.date(2026, 2, 14),
            target=Decimal("10000"),
        )
    assert Quota.objects.filter(owner=rep).count() == 1


def test_adjacent_periods_and_other_people_do_not_clash(rep, rep2):
    quota_set(owner=rep, period_start=JAN[0], period_end=JAN[1], target=Decimal("50000"))
    quota_set(
        owner=rep,
        period_start=datetime.date(2026, 2, 1),
        period_end=datetime.date(2026, 2, 28),
        target=Decimal("1"),
    )
    quota_set(owner=rep2, period_start=JAN[0], period_end=JAN[1], target=Decimal("40000"))
    assert Quota.objects.count() == 3


def test_changing_a_quota_does_not_clash_with_itself(rep):
    quota = quota_set(owner=rep, period_start=JAN[0], period_end=JAN[1], target=Decimal("50000"))
    quota_set(
        owner=rep, period_start=JAN[0], period_end=JAN[1], target=Decimal("60000"), quota=quota
    )
    quota.refresh_from_db()
    assert quota.target == Decimal("60000")


def test_backwards_period_and_negative_target_are_rejected(rep):
    with pytest.raises(ValidationError, match="ends before it starts"):
        quota_set(owner=rep, period_start=JAN[1], period_end=JAN[0], target=Decimal("1"))
    with pytest.raises(ValidationError, match="negative"):
        quota_set(owner=rep, period_start=JAN[0], period_end=JAN[1], target=Decimal("-1"))


def test_territory_cannot_sit_inside_itself(db):
    world = Territory.objects.create(name="World")
    europe = Territory.objects.create(name="Europe", parent=world)
    france = Territory.objects.create(name="France", parent=europe)
    with pytest.raises(ValidationError, match="inside itself"):
        territory_set_parent(territory=world, parent=france)
    world.refresh_from_db()
    assert world.parent is None


def test_postgresql_itself_refuses_overlapping_periods(rep):
    need_postgres()
    Quota.objects.create(owner=rep, period_start=JAN[0], period_end=JAN[1], target=Decimal("1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Quota.objects.create(
            owner=rep,
            period_start=datetime.date(2026, 1, 31),
            period_end=datetime.date(2026, 2, 27),
            target=1,
        )
