"""A deal won again after a reversal is paid once, and a clawback never takes back more than the deal paid.

The rule (README, "Compensation and commission statements"): the latest win counts. A deal won
again is credited in full on the statement of the month it is won again, and what the rep's
earlier statements paid for it and have not taken back comes off on a "replaced credit" line.
A clawback takes back what the deal paid in the month it was won, as the cap let it through,
and never more than the earlier statements paid for the deal in all.

Flat 10% unless said otherwise, clawback within 30 days, quota 100,000 a month (no tier matters);
every month's statement is computed as of its last day and approved, as payroll would.
"""

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from pipeline.models import Deal
from pipeline.services import SplitSpec, deal_splits_set
from reports.compensation.models import CommissionStatement, StatementLine
from reports.compensation.services import (
    plan_create,
    statement_approve,
    statement_compute,
    statement_preview,
)
from tests.factories import LostReasonFactory
from tests.reports.comp_helpers import month_quota, move, won

D = Decimal


def first(month: int) -> datetime.date:
    return datetime.date(2026, month, 1)


def day(month: int, n: int) -> datetime.date:
    return datetime.date(2026, month, n)


def last(month: int) -> datetime.date:
    return (first(month) + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)


@pytest.fixture
def plan(admin, rep):
    for month in range(1, 13):
        month_quota(rep, first(month), "100000")
    return plan_create(
        by=admin,
        rep=rep,
        name="Flat 10%",
        effective_from=first(1),
        flat_rate=D("10"),
        clawback_days=30,
    )


def pay(admin, rep, month: int) -> CommissionStatement:
    statement = statement_compute(rep=rep, month=first(month), as_of=last(month), by=admin)
    return statement_approve(statement=statement, by=admin)


def lines_of(statement) -> list[tuple[str, str, Decimal]]:
    return [
        (line.kind, line.deal_name, line.amount) for line in statement.lines.order_by("position")
    ]


def paid_for(rep, deal) -> Decimal:
    """What the rep's approved statements paid for ``deal`` in all (every line naming it)."""
    return StatementLine.objects.filter(
        statement__rep=rep, statement__status="approved", deal_ref=deal.pk
    ).aggregate(total=Sum("amount"))["total"] or D("0")


def test_a_deal_won_again_after_the_clawback_days_replaces_its_earlier_credit(
    admin, rep, pipeline, stages, plan
):
    deal = won(rep, pipeline, stages, "5000", day(1, 10), name="Globex")
    january = pay(admin, rep, 1)
    assert january.total == D("500.00")  # 5,000 x 10%
    move(deal, stages["Proposal"], day(3, 20))  # 69 days after the win: past the 30, kept
    assert pay(admin, rep, 3).total == D("0.00")
    move(deal, stages["Won"], day(4, 15), hour=11)  # won again, for more
    Deal.objects.filter(pk=deal.pk).update(amount=D("6000"))
    april = pay(admin, rep, 4)
    # April: 6,000 x 10% = 600.00 for the new win; the 500.00 January paid comes off: 100.00
    assert lines_of(april) == [
        ("credit", "Globex", D("600.00")),
        ("replaced", "Globex", D("-500.00")),
    ]
    assert (april.commission, april.clawbacks, april.total) == (
        D("600.00"),
        D("-500.00"),
        D("100.00"),
    )
    assert april.credited_value == D("6000.00")  # the win counts toward April's attainment
    # Paid once, at the latest win: 500 + 100
    assert paid_for(rep, deal) == D("600.00")


def test_a_deal_won_again_at_a_lower_value_gives_back_the_difference(
    admin, rep, pipeline, stages, plan
):
    deal = won(rep, pipeline, stages, "8000", day(1, 12), name="Initech")
    won(rep, pipeline, stages, "1000", day(5, 3), name="Other")
    pay(admin, rep, 1)
    move(deal, stages["Negotiation"], day(3, 1))  # 48 days: kept
    Deal.objects.filter(pk=deal.pk).update(amount=D("3000"))
    move(deal, stages["Won"], day(5, 20))
    may = pay(admin, rep, 5)
    # May: Other 100.00, Initech 300.00 for the new win, less the 800.00 January paid: -400.00
    assert lines_of(may) == [
        ("credit", "Other", D("100.00")),
        ("credit", "Initech", D("300.00")),
        ("replaced", "Initech", D("-800.00")),
    ]
    assert may.total == D("-400.00")
    assert paid_for(rep, deal) == D("300.00")


def test_a_deal_clawed_back_and_won_again_is_paid_for_the_new_win_only(
    admin, rep, pipeline, stages, plan
):
    deal = won(rep, pipeline, stages, "4000", day(2, 20), name="Hooli")
    pay(admin, rep, 2)  # 400.00
    move(deal, stages["Lost"], day(3, 5), lost_reason=LostReasonFactory())  # 13 days: clawed back
    march = pay(admin, rep, 3)
    assert lines_of(march) == [("clawback", "Hooli", D("-400.00"))]
    move(deal, stages["Won"], day(4, 2))
    april = pay(admin, rep, 4)
    # Already taken back in March: nothing more comes off
    assert lines_of(april) == [("credit", "Hooli", D("400.00"))]
    assert paid_for(rep, deal) == D("400.00")


def test_reversed_and_won_again_in_the_same_later_month(admin, rep, pipeline, stages, plan):
    deal = won(rep, pipeline, stages, "2000", day(6, 25), name="Umbrella")
    pay(admin, rep, 6)  # 200.00
    move(deal, stages["Proposal"], day(7, 3))  # 8 days: a clawback in July
    move(deal, stages["Won"], day(7, 20))
    july = pay(admin, rep, 7)
    # The clawback takes back June's 200.00; the new win pays 200.00; nothing is taken twice
    assert sorted(lines_of(july)) == [
        ("clawback", "Umbrella", D("-200.00")),
        ("credit", "Umbrella", D("200.00")),
    ]
    assert july.total == D("0.00")
    assert paid_for(rep, deal) == D("200.00")


def test_a_deal_won_again_then_lost_within_the_days_comes_back_to_nothing(
    admin, rep, pipeline, stages, plan
):
    deal = won(rep, pipeline, stages, "5000", day(1, 10), name="Globex")
    pay(admin, rep, 1)  # 500.00
    move(deal, stages["Proposal"], day(4, 1))  # kept
    move(deal, stages["Won"], day(6, 10))
    june = pay(admin, rep, 6)
    assert june.total == D("0.00")  # 500.00 credit, -500.00 replaced
    move(deal, stages["Lost"], day(7, 1), lost_reason=LostReasonFactory())  # 21 days: clawed back
    july = pay(admin, rep, 7)
    assert lines_of(july) == [("clawback", "Globex", D("-500.00"))]
    assert paid_for(rep, deal) == D("0.00")


def test_a_clawback_takes_back_only_what_the_cap_let_through(admin, rep, pipeline, stages):
    for month in (3, 4):
        month_quota(rep, first(month), "100000")
    plan_create(
        by=admin,
        rep=rep,
        name="Capped",
        effective_from=first(1),
        flat_rate=D("10"),
        cap=D("500"),
        clawback_days=30,
    )
    won(rep, pipeline, stages, "6000", day(3, 5), name="Kept")
    lost = won(rep, pipeline, stages, "4000", day(3, 20), name="Lost later")
    march = pay(admin, rep, 3)
    # 600.00 + 400.00 = 1,000.00 over the 500.00 cap: -500.00; each deal was paid half its line
    assert (march.commission, march.cap_adjustment, march.total) == (
        D("1000.00"),
        D("-500.00"),
        D("500.00"),
    )
    move(lost, stages["Lost"], day(4, 2), lost_reason=LostReasonFactory())
    april = pay(admin, rep, 4)
    # 400.00 x 500 / 1,000 = 200.00 was paid for it: that is what comes back, not 400.00
    assert lines_of(april) == [("clawback", "Lost later", D("-200.00"))]
    assert march.total + april.total == D("300.00")  # Kept's share of the cap


def test_a_split_deal_won_again_replaces_each_reps_own_earlier_credit(
    admin, manager, rep, rep2, pipeline, stages, plan
):
    for month in range(1, 13):
        month_quota(rep2, first(month), "100000")
    plan_create(
        by=admin,
        rep=rep2,
        name="Flat 5%",
        effective_from=first(1),
        flat_rate=D("5"),
        clawback_days=30,
    )
    deal = won(rep, pipeline, stages, "10000", day(1, 15), name="Shared")
    deal_splits_set(
        deal=deal,
        splits=[SplitSpec(rep=rep, share=D("60")), SplitSpec(rep=rep2, share=D("40"))],
        by=admin,
    )
    pay(admin, rep, 1)  # 6,000 x 10% = 600.00
    pay(admin, rep2, 1)  # 4,000 x 5% = 200.00
    move(deal, stages["Proposal"], day(3, 1))
    deal_splits_set(deal=deal, splits=[], by=admin)  # the owner takes all the credit on the re-win
    move(deal, stages["Won"], day(5, 1))
    may = pay(admin, rep, 5)
    assert lines_of(may) == [
        ("credit", "Shared", D("1000.00")),
        ("replaced", "Shared", D("-600.00")),
    ]
    may2 = pay(admin, rep2, 5)
    # rep2 is no longer credited: the re-win replaces the credit, and rep2 keeps the 200.00 paid
    # past the clawback days (nothing of theirs is credited again, so nothing is replaced).
    assert lines_of(may2) == []
    assert paid_for(rep, deal) == D("1000.00")


def test_the_what_if_of_a_reopened_deal_shows_the_replaced_credit(
    admin, rep, pipeline, stages, plan
):
    deal = won(rep, pipeline, stages, "5000", day(1, 10), name="Globex")
    pay(admin, rep, 1)
    move(deal, stages["Proposal"], day(3, 1))
    _, figures = statement_preview(
        rep=rep, month=first(4), as_of=day(4, 10), what_if_ids=(deal.pk,)
    )
    assert [(line.kind, line.amount) for line in figures.lines] == [
        ("credit", D("500.00")),
        ("replaced", D("-500.00")),
    ]
    assert figures.total == D("0.00")


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # (month, day, stage): the deal (3,000) is won on 10 January first; each month is paid.
        ([(2, 1, "Proposal")], D("0.00")),  # reversed within 30 days: clawed back
        ([(3, 1, "Proposal")], D("300.00")),  # past the days: kept
        ([(3, 1, "Proposal"), (3, 20, "Won")], D("300.00")),
        ([(2, 1, "Proposal"), (2, 15, "Won")], D("300.00")),
        ([(2, 1, "Proposal"), (2, 15, "Won"), (3, 1, "Proposal")], D("0.00")),
        ([(3, 1, "Proposal"), (3, 20, "Won"), (4, 1, "Proposal"), (6, 1, "Won")], D("300.00")),
        ([(3, 1, "Proposal"), (3, 20, "Won"), (5, 1, "Proposal"), (7, 1, "Won")], D("300.00")),
        # won again and reopened in one month: never credited again, January's pay kept
        ([(3, 1, "Proposal"), (5, 1, "Won"), (5, 20, "Proposal")], D("300.00")),
    ],
)
def test_however_often_a_deal_is_reversed_and_won_it_is_paid_at_most_once(
    admin, rep, pipeline, stages, plan, events, expected
):
    deal = won(rep, pipeline, stages, "3000", day(1, 10), name="Yo-yo")
    pay(admin, rep, 1)
    for month in range(2, 9):
        for event_month, event_day, stage in events:
            if event_month == month:
                move(deal, stages[stage], day(event_month, event_day))
        pay(admin, rep, month)
    # Each month's approved statement is the paid one; no clawback ever goes past what was paid.
    assert paid_for(rep, deal) == expected
    for line in StatementLine.objects.filter(
        statement__rep=rep, deal_ref=deal.pk, kind__in=("clawback", "replaced")
    ):
        assert line.amount <= 0
