"""A scope shows only the people and quotas in it: its leaderboard and quota combine every condition."""

from decimal import Decimal

import pytest
from django.utils import timezone

from pipeline.periods import Period
from pipeline.scopes import Scope, scope_for
from quotas.models import Quota
from quotas.services import quota_set, territory_create
from reports.forecasts import prorated_quota
from reports.runners import LeaderboardRunner


@pytest.fixture
def month():
    return Period.named("month", timezone.localdate())


@pytest.fixture
def apac(admin, manager, rep, rep2, outsider, month):
    """A territory worked by another manager's rep; everyone, the manager too, has a quota this month."""
    for person, target in ((manager, "9000"), (rep, "1000"), (rep2, "2000"), (outsider, "4000")):
        quota_set(
            owner=person,
            period_start=month.start,
            period_end=month.last_day,
            target=Decimal(target),
        )
    return territory_create(name="APAC", reps=[outsider], by=admin)


def _names(scope: Scope) -> list[str]:
    return [row["name"] for row in LeaderboardRunner(scope, timezone.localdate()).run()["rows"]]


def _quota(scope: Scope, month: Period) -> Decimal | None:
    return prorated_quota(scope, month.start, month.days)


def test_a_territory_outside_the_team_shows_the_manager_no_one_and_no_quota(manager, apac, month):
    scope = scope_for(manager, Scope(territory=apac.pk))
    assert scope == Scope(team=manager.pk, territory=apac.pk)
    assert _names(scope) == []
    assert _quota(scope, month) == Decimal("0.00")


def test_a_territory_shared_with_the_team_shows_only_the_team_reps_in_it(
    manager, rep2, apac, month
):
    apac.reps.add(rep2)
    scope = scope_for(manager, Scope(territory=apac.pk))
    assert _names(scope) == ["Robin Rep"]
    assert _quota(scope, month) == Decimal("2000.00")
    assert _names(Scope(territory=apac.pk)) == ["Olive Outsider", "Robin Rep"]
    assert _quota(Scope(territory=apac.pk), month) == Decimal("6000.00")


def test_the_team_alone_keeps_the_managers_own_quota(manager, apac, month):
    assert _quota(Scope(team=manager.pk), month) == Decimal("9000.00")


def test_an_owner_and_a_territory_count_the_owner_only_if_they_sell_there(rep, rep2, apac, month):
    assert (
        list(Quota.objects.filter(Scope(owner=rep.pk, territory=apac.pk).quota_owner_filter()))
        == []
    )
    apac.reps.add(rep)
    quotas = Quota.objects.filter(Scope(owner=rep.pk, territory=apac.pk).quota_owner_filter())
    assert [q.owner_id for q in quotas] == [rep.pk]


def test_the_dashboard_of_a_foreign_territory_lists_no_foreign_rep(client, manager, apac):
    client.force_login(manager)
    page = client.get(
        "/dashboard/", {"scope": "territory", "scope_id": apac.pk, "period": "90d"}
    ).content.decode()
    section = page[page.index('id="leaderboard-heading"') :]
    section = section[: section.index("</section>")]
    # A territory the manager's team does not cover is not theirs to pick: the page keeps to their own team.
    assert "Olive Outsider" not in section
    assert "Riley Rep" in section


def test_the_organisation_counts_every_rep_and_no_manager(apac, month):
    assert _quota(Scope(), month) == Decimal("7000.00")
    assert _names(Scope()) == ["Olive Outsider", "Riley Rep", "Robin Rep"]
