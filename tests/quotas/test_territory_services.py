"""Territories and quotas are written only through their services, whose rules are check functions."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from quotas.checks import TERRITORY_HAS_CHILDREN, territory_delete_errors
from quotas.models import Quota, Territory
from quotas.services import (
    quota_delete,
    quota_set,
    territory_create,
    territory_delete,
    territory_update,
)


def test_a_territory_is_created_moved_renamed_and_staffed(admin, rep, rep2):
    emea = territory_create(name="EMEA", by=admin)
    nordics = territory_create(name="Nordics", region="North", parent=emea, reps=[rep], by=admin)
    assert list(nordics.reps.all()) == [rep]
    territory_update(territory=nordics, by=admin, name="Nordic countries", parent=None, reps=[rep2])
    nordics.refresh_from_db()
    assert (nordics.name, nordics.parent, list(nordics.reps.all())) == (
        "Nordic countries",
        None,
        [rep2],
    )


def test_a_territory_move_that_would_loop_changes_nothing(admin):
    emea = territory_create(name="EMEA", by=admin)
    nordics = territory_create(name="Nordics", parent=emea, by=admin)
    with pytest.raises(ValidationError):
        territory_update(territory=emea, by=admin, name="Europe", parent=nordics)
    emea.refresh_from_db()
    assert (emea.name, emea.parent) == ("EMEA", None)


def test_a_territory_with_territories_inside_is_not_deleted(admin):
    emea = territory_create(name="EMEA", by=admin)
    nordics = territory_create(name="Nordics", parent=emea, by=admin)
    assert territory_delete_errors(territory=emea) == {"detail": TERRITORY_HAS_CHILDREN}
    with pytest.raises(ValidationError):
        territory_delete(territory=emea, by=admin)
    territory_delete(territory=nordics, by=admin)
    territory_delete(territory=emea, by=admin)
    assert not Territory.objects.exists()


def test_a_quota_is_deleted_through_its_service(admin, rep):
    quota = quota_set(
        owner=rep,
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 1, 31),
        target=Decimal("100"),
    )
    quota_delete(quota=quota, by=admin)
    assert not Quota.objects.exists()
