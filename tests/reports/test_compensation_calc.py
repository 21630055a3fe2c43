"""Commission statements against statements worked out by hand (the arithmetic is in the comments).

March 2026, quota 10,000 for the month unless said otherwise; statements as of 31 March.
"""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pipeline.models import Deal
from pipeline.services import SplitSpec, deal_reassign, deal_splits_set, deal_update
from reports.compensation.models import StatementStatus
from reports.compensation.services import (
    BonusSpec,
    TierSpec,
    plan_create,
    statement_approve,
    statement_compute,
    statement_preview,
)
from tests.factories import LostReasonFactory, ProductFactory
from tests.reports.comp_helpers import account_of, month_quota, move, open_deal, won

MARCH = datetime.date(2026, 3, 1)
APRIL = datetime.date(2026, 4, 1)
END_OF_MARCH = datetime.date(2026, 3, 31)
END_OF_APRIL = datetime.date(2026, 4, 30)
D = Decimal


def day(n: int, month: int = 3) -> datetime.date:
    return datetime.date(2026, month, n)


def lines_of(statement):
    return [
        (line.kind, line.deal_name, line.amount) for line in statement.lines.order_by("position")
    ]


@pytest.fixture
def quota(rep):
    month_quota(rep, MARCH, "10000")
    month_quota(rep, APRIL, "10000")


def flat_plan(admin, rep, rate="10", **kwargs):
    return plan_create(
        by=admin,
        rep=rep,
        name="Flat",
        effective_from=datetime.date(2026, 1, 1),
        base_salary=D("60000"),
        on_target_earnings=D("120000"),
        flat_rate=D(rate),
        **kwargs,
    )


def test_flat_rate(admin, rep, pipeline, stages, quota):
    flat_plan(admin, rep)
    won(rep, pipeline, stages, "4000", day(5), name="A")
    won(rep, pipeline, stages, "3000", day(20), name="B")
    won(rep, pipeline, stages, "9999", day(2, month=4), name="April")  # next month: not here
    statement = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # A: 4,000 x 10% = 400.00; B: 3,000 x 10% = 300.00; total 700.00; attainment 7,000 / 10,000 = 0.7
    assert lines_of(statement) == [("credit", "A", D("400.00")), ("credit", "B", D("300.00"))]
    assert (statement.credited_value, statement.attainment, statement.total) == (
        D("7000.00"),
        D("0.7000"),
        D("700.00"),
    )
    assert statement.base_pay == D("5000.00")  # 60,000 / 12
    assert statement.quota == D("10000.00")


def test_marginal_tiers_with_accelerators_and_a_cap(admin, rep, pipeline, stages, quota):
    plan_create(
        by=admin,
        rep=rep,
        name="Tiered",
        effective_from=datetime.date(2026, 1, 1),
        kind="tiered",
        tiers=[TierSpec(D("0"), D("5")), TierSpec(D("100"), D("10")), TierSpec(D("150"), D("15"))],
        cap=D("1000"),
    )
    won(rep, pipeline, stages, "6000", day(3), name="A")
    won(rep, pipeline, stages, "7000", day(10), name="B")
    won(rep, pipeline, stages, "4000", day(15), name="C")
    statement = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # Bands: 0-10,000 at 5%, 10,000-15,000 at 10%, above 15,000 at 15%.
    # A: 0 -> 6,000, all at 5%: 300.00
    # B: 6,000 -> 13,000: 4,000 x 5% = 200 + 3,000 x 10% = 300: 500.00 (crosses 100%: accelerator)
    # C: 13,000 -> 17,000: 2,000 x 10% = 200 + 2,000 x 15% = 300: 500.00
    # Commission 1,300.00 over the 1,000.00 cap: a cap line of -300.00; total 1,000.00
    assert lines_of(statement) == [
        ("credit", "A", D("300.00")),
        ("credit", "B", D("500.00")),
        ("credit", "C", D("500.00")),
        ("cap", "", D("-300.00")),
    ]
    notes = [line.note for line in statement.lines.order_by("position")]
    assert notes[0] == "at 5%" and "accelerator" not in notes[0]
    assert notes[1] == "at 5% then 10% (accelerator above 100%)"
    assert notes[2] == "at 10% then 15% (accelerator above 100%)"
    assert (statement.commission, statement.cap_adjustment, statement.total) == (
        D("1300.00"),
        D("-300.00"),
        D("1000.00"),
    )
    assert statement.attainment == D("1.7000")  # 17,000 / 10,000


def test_a_tiered_plan_without_a_quota_pays_its_first_tier(admin, rep, pipeline, stages):
    plan_create(
        by=admin,
        rep=rep,
        name="Tiered",
        effective_from=datetime.date(2026, 1, 1),
        kind="tiered",
        tiers=[TierSpec(D("0"), D("4")), TierSpec(D("100"), D("8"))],
    )
    won(rep, pipeline, stages, "5000", day(3), name="A")
    statement = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # No quota: 5,000 x 4% = 200.00, attainment unknown
    assert (statement.total, statement.attainment, statement.quota) == (D("200.00"), None, None)


def test_the_closer_keeps_the_credit_after_the_deal_changes_hands(
    admin, manager, rep, rep2, pipeline, stages, quota
):
    """Credit follows the owner at close (from the deal's history), not the owner today,
    and a rep's statement never picks up a teammate's wins of the month."""
    flat_plan(admin, rep, rate="10")
    flat_plan(admin, rep2, rate="10")
    handed_on = won(rep, pipeline, stages, "5000", day(10), name="Handed on")
    won(rep2, pipeline, stages, "2000", day(11), name="Theirs")
    deal = Deal.objects.get(pk=handed_on.pk)
    deal_reassign(deal=deal, new_owner=rep2, by=admin, expected_version=deal.version)
    mine = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    theirs = statement_compute(rep=rep2, month=MARCH, as_of=END_OF_MARCH, by=admin)
    assert lines_of(mine) == [("credit", "Handed on", D("500.00"))]
    assert lines_of(theirs) == [("credit", "Theirs", D("200.00"))]


def test_split_credit_goes_to_each_rep_by_share(admin, manager, rep, rep2, pipeline, stages, quota):
    flat_plan(admin, rep, rate="10")
    flat_plan(admin, rep2, rate="5")
    deal = open_deal(rep, pipeline, "10000", created=day(1))
    deal_splits_set(
        deal=deal, splits=[SplitSpec(rep, D("60")), SplitSpec(rep2, D("40"))], by=manager
    )
    move(deal, stages["Won"], day(12))
    mine = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    theirs = statement_compute(rep=rep2, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # rep: 10,000 x 60% = 6,000 credited x 10% = 600.00; rep2: 4,000 credited x 5% = 200.00
    assert (mine.credited_value, mine.total) == (D("6000.00"), D("600.00"))
    assert (theirs.credited_value, theirs.total) == (D("4000.00"), D("200.00"))
    line = mine.lines.get()
    assert (line.deal_id, line.value, line.share, line.credited) == (
        deal.pk,
        D("10000.00"),
        D("60.00"),
        D("6000.00"),
    )


def test_product_and_new_logo_bonuses_follow_the_share(
    admin, manager, rep, rep2, pipeline, stages, quota
):
    product = ProductFactory(name="Platinum")
    flat_plan(admin, rep, new_logo_bonus=D("500"), product_bonuses=[BonusSpec(product, D("250"))])
    account = account_of(rep)
    first = open_deal(rep, pipeline, "2000", account=account, product=product, created=day(1))
    deal_splits_set(
        deal=first, splits=[SplitSpec(rep, D("50")), SplitSpec(rep2, D("50"))], by=manager
    )
    move(first, stages["Won"], day(8))
    second = open_deal(rep, pipeline, "1000", account=account, created=day(2))
    move(second, stages["Won"], day(9))
    statement = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # first: 2,000 x 50% = 1,000 x 10% = 100.00; Platinum bonus 250 x 50% = 125.00;
    #        the account's first win: new logo 500 x 50% = 250.00
    # second: 1,000 x 10% = 100.00; not the account's first win, no product: no bonus
    # total 100 + 125 + 250 + 100 = 575.00
    assert lines_of(statement) == [
        ("credit", first.name, D("100.00")),
        ("product_bonus", first.name, D("125.00")),
        ("new_logo", first.name, D("250.00")),
        ("credit", second.name, D("100.00")),
    ]
    assert (statement.commission, statement.bonuses, statement.total) == (
        D("200.00"),
        D("375.00"),
        D("575.00"),
    )


def test_clawback_of_a_deal_lost_within_the_plans_days(admin, rep, pipeline, stages, quota):
    flat_plan(admin, rep, clawback_days=30)
    lost_soon = won(rep, pipeline, stages, "5000", day(25), name="Lost soon")
    reopened_late = won(rep, pipeline, stages, "2000", day(1), name="Reopened late")
    march = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # March: 5,000 x 10% = 500.00 and 2,000 x 10% = 200.00
    assert march.total == D("700.00")
    move(
        lost_soon, stages["Lost"], day(10, month=4), lost_reason=LostReasonFactory()
    )  # 16 days after the win
    move(reopened_late, stages["Proposal"], day(15, month=4))  # 45 days: past the 30, kept
    won(rep, pipeline, stages, "1000", day(20, month=4), name="April win")
    april = statement_compute(rep=rep, month=APRIL, as_of=END_OF_APRIL, by=admin)
    # April: 1,000 x 10% = 100.00; "Lost soon" takes back the 500.00 it paid in March: total -400.00
    assert lines_of(april) == [
        ("credit", "April win", D("100.00")),
        ("clawback", "Lost soon", D("-500.00")),
    ]
    assert april.lines.get(kind="clawback").deal_id == lost_soon.pk
    assert (april.clawbacks, april.total) == (D("-500.00"), D("-400.00"))
    # March as stored does not change: the lost deal is still on it.
    march.refresh_from_db()
    assert march.total == D("700.00")


def test_a_deal_won_and_reopened_in_the_same_month_is_neither_paid_nor_clawed_back(
    admin, rep, pipeline, stages, quota
):
    flat_plan(admin, rep)
    deal = won(rep, pipeline, stages, "3000", day(5), name="Back and forth")
    move(deal, stages["Negotiation"], day(7))
    statement = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    assert lines_of(statement) == []


def test_a_statement_is_stored_and_a_recompute_makes_a_new_version_with_its_changes(
    admin, rep, pipeline, stages, quota
):
    flat_plan(admin, rep)
    a = won(rep, pipeline, stages, "4000", day(5), name="A")
    b = won(rep, pipeline, stages, "1000", day(6), name="B")
    first = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    deal_update(deal=Deal.objects.get(pk=a.pk), by=admin, expected_version=None, amount=D("5000"))
    first.refresh_from_db()
    assert first.total == D("500.00")  # stored: the later edit does not reach it
    move(b, stages["Proposal"], day(1, month=4))
    second = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    # A now 5,000 x 10% = 500.00 (was 400.00); B reopened: its 100.00 line is gone.
    assert second.version == 2 and second.total == D("500.00")
    assert second.changes["changed"] == [
        {"kind": "credit", "deal": a.pk, "deal_name": "A", "before": "400.00", "after": "500.00"}
    ]
    assert second.changes["removed"] == [
        {"kind": "credit", "deal": b.pk, "deal_name": "B", "amount": "100.00"}
    ]
    assert (
        second.changes["total_before"],
        second.changes["total_after"],
        second.changes["total_change"],
    ) == ("500.00", "500.00", "0.00")
    first.refresh_from_db()
    assert first.status == StatementStatus.SUPERSEDED
    with pytest.raises(ValidationError):
        statement_approve(statement=first, by=admin)
    statement_approve(statement=second, by=admin)
    third = statement_compute(rep=rep, month=MARCH, as_of=END_OF_MARCH, by=admin)
    second.refresh_from_db()
    assert (second.status, third.version, third.status) == (
        StatementStatus.APPROVED,
        3,
        StatementStatus.DRAFT,
    )
    assert third.changes == {
        "added": [],
        "removed": [],
        "changed": [],
        "total_before": "500.00",
        "total_after": "500.00",
        "total_change": "0.00",
    }


def test_what_if_counts_open_deals_as_won_and_stores_nothing(admin, rep, pipeline, stages, quota):
    flat_plan(admin, rep)
    won(rep, pipeline, stages, "4000", day(5), name="A")
    hope = open_deal(rep, pipeline, "2500", created=day(2))
    plan, figures = statement_preview(
        rep=rep, month=MARCH, as_of=END_OF_MARCH, what_if_ids=(hope.pk,)
    )
    # 4,000 x 10% = 400.00 + 2,500 x 10% = 250.00
    assert [(line.deal_name, line.amount) for line in figures.lines] == [
        ("A", D("400.00")),
        (hope.name, D("250.00")),
    ]
    assert figures.total == D("650.00")
    assert not rep.commission_statements.exists()


def test_one_plan_per_rep_per_period(admin, rep):
    flat_plan(admin, rep)  # from 1 Jan 2026, open-ended
    with pytest.raises(ValidationError) as refused:
        plan_create(by=admin, rep=rep, name="Second", effective_from=datetime.date(2026, 6, 1))
    assert "one plan per rep per period" in str(refused.value.message_dict["effective_from"])
    earlier = plan_create(
        by=admin,
        rep=rep,
        name="2025",
        effective_from=datetime.date(2025, 1, 1),
        effective_to=datetime.date(2025, 12, 31),
    )
    assert earlier.pk
