"""``deals_as_of`` for one owner: the deals they held at that moment, whoever holds them before or after."""

import pytest
from django.utils import timezone

from pipeline.selectors import deal_versions, deals_as_of
from pipeline.services import deal_reassign
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db


def names(rows) -> set[str]:
    return {row.name for row in rows}


def test_an_owners_deals_as_of_a_moment_follow_reassignments(manager, rep, rep2, pipeline):
    given_away = DealFactory(owner=rep, pipeline=pipeline, name="Given away")
    received = DealFactory(owner=rep2, pipeline=pipeline, name="Received")
    DealFactory(owner=rep, pipeline=pipeline, name="Kept")
    before = timezone.now()
    deal_reassign(deal=given_away, new_owner=rep2, by=manager, expected_version=None)
    deal_reassign(deal=received, new_owner=rep, by=manager, expected_version=None)
    after = timezone.now()

    assert names(deals_as_of(before, owner_id=rep.pk)) == {"Given away", "Kept"}
    assert names(deals_as_of(after, owner_id=rep.pk)) == {"Received", "Kept"}
    assert names(deals_as_of(after, owner_id=rep2.pk)) == {"Given away"}
    for moment in (before, after):
        for person in (rep, rep2):
            assert names(deals_as_of(moment, owner_id=person.pk)) == names(
                deals_as_of(moment).filter(owner_id=person.pk)
            )


def test_deal_versions_reads_the_rows_picked(rep, pipeline):
    DealFactory(owner=rep, pipeline=pipeline, name="One")
    picked = list(deals_as_of(timezone.now(), owner_id=rep.pk).values_list("history_id", flat=True))
    assert names(deal_versions(picked)) == {"One"}
