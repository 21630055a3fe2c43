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


def test_the_scopes_of_any_number_of_deals_are_found_in_one_query(
    admin, manager, rep, rep2, outsider, other_manager, pipeline, django_assert_num_queries
):
    from reports.models import MetricSnapshot

    region = Territory.objects.create(name="Region")
    city = Territory.objects.create(name="City", parent=region)
    owners = [rep, rep2, outsider]
    deals = [
        deal_create(
            by=owner,
            name=f"Deal {n}",
            account=AccountFactory(owner=owner, territory=city if n % 2 else None),
            pipeline=pipeline,
            expected_close_date=datetime.date(2031, 1, 1),
        )
        for n, owner in enumerate(owners * 3)
    ]
    combined = f"owner={rep.pk};territory={city.pk}"  # made of touched parts: marked
    apart = f"owner={manager.pk};territory={city.pk}"  # the manager owns none of them: not
    for key in (combined, apart):
        MetricSnapshot.objects.create(
            scope_key=key,
            scope_kind="custom",
            period_start=datetime.date(2030, 1, 1),
            period_end=datetime.date(2030, 1, 31),
            data={},
            computed_at=datetime.datetime(2030, 2, 1, tzinfo=datetime.UTC),
        )

    with django_assert_num_queries(1):
        few = affected_scope_keys([deals[0].pk])
    with django_assert_num_queries(1):
        many = affected_scope_keys([deal.pk for deal in deals])

    assert few == {"org", f"owner={rep.pk}", f"team={manager.pk}", f"pipeline={pipeline.pk}"}
    assert many == {
        "org",
        *(f"owner={owner.pk}" for owner in owners),
        f"team={manager.pk}",
        f"team={other_manager.pk}",
        f"pipeline={pipeline.pk}",
        f"territory={city.pk}",
        f"territory={region.pk}",
        combined,
    }


def test_marks_beyond_one_statement_are_all_written_and_a_mark_again_moves_its_time(
    db, monkeypatch, django_assert_num_queries
):
    from reports.models import DirtyScope
    from reports.services import scopes_mark_dirty

    monkeypatch.setattr("reports.services.MARKS_PER_STATEMENT", 2)
    scopes_mark_dirty(keys={"org"})
    first = DirtyScope.objects.get(scope_key="org").marked_at
    keys = {"org", *(f"owner={n}" for n in range(1, 5))}

    # A savepoint and its release around the three statements (the test holds a transaction).
    with django_assert_num_queries(5):
        scopes_mark_dirty(keys=keys)
    with django_assert_num_queries(1):
        scopes_mark_dirty(keys={"team=1"})

    marks = dict(DirtyScope.objects.values_list("scope_key", "marked_at"))
    assert set(marks) == keys | {"team=1"}
    assert marks["org"] > first
    with django_assert_num_queries(0):
        scopes_mark_dirty(keys=set())
