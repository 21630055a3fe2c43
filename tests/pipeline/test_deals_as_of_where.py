"""``deals_as_of(where=...)``: the deals whose latest version by the moment meets the condition, the same
as filtering every deal's latest version, though only the versions meeting it are read."""

import pytest
from django.db.models import Q
from django.utils import timezone

from pipeline.selectors import deals_as_of
from pipeline.services import deal_reassign
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def names(rows) -> set[str]:
    return {row.name for row in rows}


def test_a_condition_on_the_latest_version_by_then(manager, rep, rep2, pipeline):
    given_away = DealFactory(owner=rep, pipeline=pipeline, name="Given away")
    received = DealFactory(owner=rep2, pipeline=pipeline, name="Received")
    DealFactory(owner=rep, pipeline=pipeline, name="Kept")
    before = timezone.now()
    deal_reassign(deal=given_away, new_owner=rep2, by=manager, expected_version=None)
    deal_reassign(deal=received, new_owner=rep, by=manager, expected_version=None)
    after = timezone.now()

    # "Given away" had a version owned by rep before ``after``, but not its latest by then.
    assert names(deals_as_of(after, where=Q(owner_id=rep.pk))) == {"Received", "Kept"}
    assert names(deals_as_of(before, where=Q(owner_id=rep.pk))) == {"Given away", "Kept"}
    for moment in (before, after):
        for person in (rep, rep2):
            assert names(deals_as_of(moment, where=Q(owner_id=person.pk))) == names(
                deals_as_of(moment).filter(owner_id=person.pk)
            )
