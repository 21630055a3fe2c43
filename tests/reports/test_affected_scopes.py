"""Which scopes a change to deals marks stale: every version's owner, team, pipeline and territory."""

import datetime

from pipeline.services import deal_create, deal_reassign
from quotas.models import Territory
from reports.services import affected_scope_keys
from tests.factories import AccountFactory


def test_a_reassigned_deal_marks_both_owners_and_its_territory_with_the_ones_above(
    admin, manager, rep, outsider, other_manager, pipeline
):
    region = Territory.objects.create(name="Region")
    city = Territory.objects.create(name="City", parent=region)
    Territory.objects.create(name="Elsewhere")
    deal = deal_create(
        by=rep,
        name="Moving owner",
        account=AccountFactory(owner=rep, territory=city),
        pipeline=pipeline,
        expected_close_date=datetime.date(2031, 1, 1),
    )
    deal_reassign(deal=deal, new_owner=outsider, by=admin, expected_version=None)

    keys = affected_scope_keys([deal.pk])

    assert keys == {
        "org",
        f"owner={rep.pk}",
        f"owner={outsider.pk}",
        f"team={manager.pk}",
        f"team={other_manager.pk}",
        f"pipeline={pipeline.pk}",
        f"territory={city.pk}",
        f"territory={region.pk}",
    }


def test_a_deal_outside_any_territory_marks_no_territory_but_the_ones_named(rep, manager, pipeline):
    left = Territory.objects.create(name="Left behind")
    deal = deal_create(
        by=rep,
        name="Nowhere",
        account=AccountFactory(owner=rep),
        pipeline=pipeline,
        expected_close_date=datetime.date(2031, 1, 1),
    )

    assert affected_scope_keys([deal.pk]) == {
        "org",
        f"owner={rep.pk}",
        f"team={manager.pk}",
        f"pipeline={pipeline.pk}",
    }
    assert f"territory={left.pk}" in affected_scope_keys([deal.pk], [left.pk])
