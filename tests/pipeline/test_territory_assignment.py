"""Assignment rules place accounts; a realignment previews, then hands accounts and open deals over."""

import itertools
import random
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.assignment import (
    AccountFacts,
    RuleSpec,
    TerritoryChange,
    realignment_plan,
    rules_saved,
    territory_for,
    winning_territory,
)
from pipeline.checks.territories import NO_CONDITION, RANGE_BACKWARDS, RuleValues, rule_errors
from pipeline.models import Account, Deal, Handover, RealignmentStatus, TerritoryRealignment
from pipeline.selectors import deals_as_of, realignment_handover_groups
from pipeline.services import account_create, account_update, deal_move
from pipeline.services.territories import (
    _apply_batch,
    realignment_run,
    realignment_start,
    territory_rule_create,
)
from quotas.models import HandoverRule
from quotas.services import territory_create
from tests.factories import DealFactory, UserFactory


@pytest.fixture
def north(admin, manager, rep):
    return territory_create(name="North", owner=manager, reps=[rep], by=admin)


@pytest.fixture
def south(admin, manager, rep2):
    return territory_create(name="South", owner=manager, reps=[rep2], by=admin)


def _account(owner, **values):
    return account_create(by=owner, owner=owner, name=values.pop("name", "Acme"), **values)


def test_an_account_lands_in_the_territory_of_its_first_matching_rule(admin, rep, north, south):
    territory_rule_create(territory=north, by=admin, priority=20, countries=["DE"])
    territory_rule_create(
        territory=south, by=admin, priority=10, countries=["DE"], employees_min=100
    )
    small = _account(rep, country="DE", employee_count=50)
    large = _account(rep, country="DE", employee_count=500)
    elsewhere = _account(rep, country="FR", employee_count=500, territory=north)
    assert (small.territory, large.territory, elsewhere.territory) == (north, south, north)


def test_a_tie_in_priority_goes_to_the_lower_territory_id(admin, rep, north, south):
    territory_rule_create(territory=south, by=admin, priority=5, industries=["Retail"])
    territory_rule_create(territory=north, by=admin, priority=5, industries=["retail"])
    assert _account(rep, industry="RETAIL").territory == min(north, south, key=lambda t: t.pk)


def test_a_pinned_account_keeps_its_territory_through_edits(admin, rep, north, south):
    territory_rule_create(territory=south, by=admin, priority=1, countries=["SE"])
    pinned = _account(rep, country="SE", territory=north, territory_pinned=True)
    assert pinned.territory == north
    account_update(account=pinned, by=rep, postcode="111 22")
    assert pinned.territory == north
    account_update(account=pinned, by=rep, territory_pinned=False)
    assert pinned.territory == south


def test_an_edited_account_follows_the_rules(admin, rep, north, south):
    territory_rule_create(territory=north, by=admin, priority=1, postcode_prefixes=["10", "11"])
    territory_rule_create(territory=south, by=admin, priority=2, revenue_min=Decimal("1000000"))
    account = _account(rep, postcode="2000")
    assert account.territory is None
    account_update(account=account, by=rep, annual_revenue=Decimal("5000000"))
    assert account.territory == south
    account_update(account=account, by=rep, postcode="110 99")
    assert account.territory == north


def test_sql_matching_agrees_with_the_pure_function_on_varied_accounts(admin, rep, north, south):
    east = territory_create(name="East", by=admin)
    territory_rule_create(
        territory=north, by=admin, priority=3, countries=["DE", "AT"], employees_max=200
    )
    territory_rule_create(
        territory=north, by=admin, priority=9, regions=["Bavaria"], postcode_prefixes=["8"]
    )
    territory_rule_create(territory=south, by=admin, priority=3, industries=["Retail", "Food"],
                          revenue_min=Decimal("100"), revenue_max=Decimal("5000"))  # fmt: skip
    territory_rule_create(territory=east, by=admin, priority=1, employees_min=1000)
    rng = random.Random(7)
    for index in range(60):
        _account(
            rep,
            name=f"A{index}",
            country=rng.choice(["", "DE", "AT", "FR"]),
            region=rng.choice(["", "bavaria", "Saxony"]),
            industry=rng.choice(["", "retail", "Food", "Steel"]),
            employee_count=rng.choice([None, 10, 200, 201, 1000, 5000]),
            annual_revenue=rng.choice(
                [None, Decimal("99.99"), Decimal("100"), Decimal("5000"), Decimal("5000.01")]
            ),
            postcode=rng.choice(["", "80331", "8", "18000"]),
        )
    rules = rules_saved()
    named = territory_create(name="Named", by=admin)
    chosen = Account.objects.order_by("pk")[3]
    rules.append(RuleSpec(territory_id=named.pk, priority=0, account_ids=frozenset({chosen.pk})))
    in_sql = dict(
        Account.objects.annotate(target=winning_territory(rules)).values_list("pk", "target")
    )
    for account in Account.objects.all():
        rule = territory_for(rules, AccountFacts.of(account))
        assert in_sql[account.pk] == (rule.territory_id if rule else account.territory_id), (
            account.pk
        )
    assert in_sql[chosen.pk] == named.pk


def test_rule_checks_name_each_bad_field(db):
    errors = rule_errors(
        RuleValues(
            countries=["DE", "XX", "de"],
            employees_min=10,
            employees_max=5,
            revenue_min=Decimal("-1"),
            postcode_prefixes=["-1"],
            account_ids=[987654],
            priority=-1,
        )  # fmt: skip
    )
    assert set(errors) == {
        "countries",
        "employees_min",
        "revenue_min",
        "postcode_prefixes",
        "accounts",
        "priority",
    }
    assert errors["employees_min"] == [RANGE_BACKWARDS]
    assert rule_errors(RuleValues()) == {"non_field_errors": [NO_CONDITION]}


def test_a_bad_rule_writes_nothing(admin, north):
    with pytest.raises(ValidationError):
        territory_rule_create(territory=north, by=admin, countries=["ZZ"])
    assert not north.rules.exists()


def test_members_are_reps_and_the_owner_a_manager(admin, manager, rep):
    with pytest.raises(ValidationError) as raised:
        territory_create(name="West", owner=rep, reps=[manager], by=admin)
    assert set(raised.value.message_dict) == {"owner", "reps"}


def _handover_groups(job):
    """What a realignment did, summed from its handover rows as a preview sums its plan."""
    return realignment_handover_groups(job=job)


@pytest.fixture
def world(admin, manager, rep, rep2, outsider, pipeline, stages):
    """Three reps' accounts in Germany and France with open and closed deals, no rules yet."""
    rep3 = UserFactory(username="rep3", manager=manager)
    accounts = []
    for index, (owner, country) in enumerate(
        itertools.product([rep, rep2, outsider], ["DE", "FR", "SE"])
    ):
        account = _account(
            owner, name=f"Acct {index}", country=country, employee_count=10 * (index + 1)
        )
        accounts.append(account)
        for amount in (Decimal("100.00") * (index + 1), Decimal("55.50")):
            DealFactory(owner=owner, account=account, pipeline=pipeline, amount=amount)
    won = Deal.objects.filter(account=accounts[0]).first()
    deal_move(deal=won, to_stage=stages["Won"], by=rep, expected_version=won.version)
    return {"accounts": accounts, "rep3": rep3, "won": won}


def test_preview_equals_what_apply_then_does(admin, manager, rep, rep2, world):
    rep3 = world["rep3"]
    dach = territory_create(name="DACH", owner=manager, reps=[rep, rep3], by=admin)
    nordics = territory_create(
        name="Nordics", reps=[rep2, rep3], handover_rule=HandoverRule.FEWEST_OPEN_DEALS, by=admin
    )
    changes = [
        TerritoryChange(
            territory_id=dach.pk,
            rules=(RuleSpec(territory_id=dach.pk, priority=1, countries=("DE",)),),
        ),
        TerritoryChange(
            territory_id=nordics.pk,
            rules=(
                RuleSpec(territory_id=nordics.pk, priority=1, countries=("SE",), employees_max=80),
            ),
        ),
    ]
    before = {a.pk: (a.territory_id, a.owner_id) for a in Account.objects.all()}
    deals_before = dict(Deal.objects.values_list("pk", "owner_id"))
    preview = realignment_plan(changes=changes).groups()
    assert {a.pk: (a.territory_id, a.owner_id) for a in Account.objects.all()} == before
    assert dict(Deal.objects.values_list("pk", "owner_id")) == deals_before
    assert not dach.rules.exists()
    job = realignment_start(by=admin, changes=changes)
    job = realignment_run(job_id=job.pk, batch_size=2)
    assert job.status == RealignmentStatus.DONE
    assert preview == _handover_groups(job)
    assert sum(group["accounts"] for group in preview) == job.total == job.done
    # The DE accounts of rep2 and the outsider went round robin to rep and rep3; rep's own stayed.
    de = Account.objects.filter(country="DE").order_by("pk")
    assert {a.territory_id for a in de} == {dach.pk}
    assert [a.owner_id for a in de] == [rep.pk, rep.pk, rep3.pk]
    # A closed deal keeps its owner; open deals follow their account.
    world["won"].refresh_from_db()
    assert world["won"].owner == rep
    for account in Account.objects.filter(territory__isnull=False):
        assert set(account.deals.filter(status="open").values_list("owner_id", flat=True)) == {
            account.owner_id
        }


def test_apply_twice_changes_nothing_the_second_time(admin, manager, rep, rep2, world):
    dach = territory_create(name="DACH", reps=[rep2], by=admin)
    territory_rule_create(territory=dach, by=admin, priority=1, countries=["DE", "FR"])
    first = realignment_run(job_id=realignment_start(by=admin).pk)
    assert first.total == 6
    state = (list(Account.objects.values_list("pk", "territory_id", "owner_id")),
             list(Deal.objects.values_list("pk", "owner_id", "version")), Handover.objects.count())  # fmt: skip
    assert realignment_run(job_id=first.pk).done == 6
    second = realignment_run(job_id=realignment_start(by=admin).pk)
    assert (second.total, second.done) == (0, 0)
    after = (list(Account.objects.values_list("pk", "territory_id", "owner_id")),
             list(Deal.objects.values_list("pk", "owner_id", "version")), Handover.objects.count())  # fmt: skip
    assert after == state


def test_a_stopped_job_resumes_from_its_cursor(admin, rep2, world):
    dach = territory_create(name="DACH", reps=[rep2], by=admin)
    territory_rule_create(territory=dach, by=admin, priority=1, countries=["DE", "FR", "SE"])
    job = realignment_start(by=admin)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipeline.services.territories._apply_batch", _stop)
        with pytest.raises(RuntimeError):
            realignment_run(job_id=job.pk, batch_size=2)
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == (RealignmentStatus.RUNNING, 2, 9)
    first = list(Handover.objects.filter(job=job, deal=None).values_list("account_id", flat=True))
    done = realignment_run(job_id=job.pk, batch_size=2)
    assert (done.status, done.done, done.skipped) == (RealignmentStatus.DONE, 9, 0)
    handed = sorted(
        Handover.objects.filter(job=job, deal=None).values_list("account_id", flat=True)
    )
    assert handed == sorted({*first, *handed}) and len(handed) == 9
    assert set(Account.objects.values_list("territory_id", "owner_id")) == {(dach.pk, rep2.pk)}


def _stop(job_id, size, **pace):
    """Apply one batch, then fail as a killed worker would."""
    _apply_batch(job_id, size, **pace)
    raise RuntimeError("worker lost")


def test_an_account_changed_since_the_plan_is_skipped(admin, manager, rep, rep2, world):
    dach = territory_create(name="DACH", reps=[rep2], by=admin)
    territory_rule_create(territory=dach, by=admin, priority=1, countries=["DE"])
    job = realignment_start(by=admin)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipeline.services.territories._apply_batch", _stop)
        with pytest.raises(RuntimeError):
            realignment_run(job_id=job.pk, batch_size=1)
    later = Account.objects.filter(country="DE", owner=world["accounts"][-3].owner).get()
    account_update(account=later, by=admin, owner=manager)
    done = realignment_run(job_id=job.pk)
    assert (done.total, done.done, done.skipped) == (3, 3, 1)
    later.refresh_from_db()
    assert later.owner == manager


def test_a_realignment_leaves_past_figures_as_they_were(admin, rep, rep2, world):
    moment = timezone.now()
    past = sorted(deals_as_of(moment).values_list("id", "owner_id", "amount"))
    rep_open_then = sum(a for _, owner, a in past if owner == rep.pk)
    dach = territory_create(name="DACH", reps=[rep2], by=admin)
    territory_rule_create(territory=dach, by=admin, priority=1, countries=["DE", "FR", "SE"])
    realignment_run(job_id=realignment_start(by=admin).pk)
    assert Deal.objects.filter(owner=rep, status="open").count() == 0
    assert sorted(deals_as_of(moment).values_list("id", "owner_id", "amount")) == past
    assert (
        sum(
            a
            for _, owner, a in deals_as_of(moment).values_list("id", "owner_id", "amount")
            if owner == rep.pk
        )
        == rep_open_then
    )
    assert deals_as_of(timezone.now()).filter(owner=rep, status="open").count() == 0


def test_moving_a_rep_hands_their_accounts_to_the_members_left(admin, rep, rep2, world):
    team = territory_create(
        name="Team",
        reps=[rep, rep2],
        handover_rule=HandoverRule.NAMED_REP,
        named_rep=rep2,
        by=admin,
    )
    territory_rule_create(territory=team, by=admin, priority=1, countries=["DE", "FR", "SE"])
    realignment_run(job_id=realignment_start(by=admin).pk)
    assert Account.objects.filter(owner=rep).count() == 3
    changes = [TerritoryChange(territory_id=team.pk, member_ids=(rep2.pk,))]
    groups = realignment_plan(changes=changes).groups()
    assert [(g["from_owner"], g["to_owner"], g["accounts"]) for g in groups] == [
        (rep.pk, rep2.pk, 3)
    ]
    job = realignment_run(job_id=realignment_start(by=admin, changes=changes).pk)
    assert _handover_groups(job) == groups
    assert not Account.objects.filter(owner=rep).exists()
    assert Deal.objects.filter(owner=rep, status="won").count() == 1
    handover = Handover.objects.filter(job=job, deal__isnull=False).first()
    assert (handover.by, handover.from_owner, handover.to_owner) == (admin, rep, rep2)


def test_a_bad_proposal_writes_nothing(admin, manager, north):
    changes = [TerritoryChange(territory_id=north.pk, rules=(RuleSpec(territory_id=north.pk, priority=1),),
                               member_ids=(manager.pk,))]  # fmt: skip
    with pytest.raises(ValidationError) as raised:
        realignment_start(by=admin, changes=changes)
    assert set(raised.value.message_dict) == {
        "territories.0.rules.0.non_field_errors",
        "territories.0.reps",
    }
    assert not TerritoryRealignment.objects.exists()
    assert list(north.reps.all()) != [manager]


def test_the_round_robin_continues_where_the_last_job_left_it(admin, rep, rep2, outsider, world):
    pool = territory_create(name="Pool", reps=[rep, rep2], by=admin)
    territory_rule_create(territory=pool, by=admin, priority=1, countries=["FR"])
    realignment_run(job_id=realignment_start(by=admin).pk)
    pool.refresh_from_db()
    # FR accounts of rep (kept), rep2 (kept) and outsider (moved to the first member): the round robin moved once.
    assert pool.round_robin_next == 1
    assert Account.objects.get(country="FR", name=world["accounts"][7].name).owner == rep
