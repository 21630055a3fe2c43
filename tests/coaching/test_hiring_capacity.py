"""The capacity plan against an example worked by hand."""

import datetime
from decimal import Decimal

import pytest

from coaching.hiring_capacity import (
    CapacityInputs,
    capacity_plan,
    month_starts,
    parse_ramp,
    ramp_factor,
)

D = Decimal


def _inputs(**changes) -> CapacityInputs:
    values = {
        "months": month_starts(datetime.date(2027, 1, 1)),
        "targets": [D("100000")] * 12,
        "monthly_quota": D("10000"),
        "attainment": D("0.80"),
        "ramp": [25, 50, 75, 100],
        "attrition": D("0.12"),
        "headcount": 10,
        "open_positions": 1,
    }
    return CapacityInputs(**(values | changes))


def test_the_hand_worked_plan():
    plan = capacity_plan(_inputs())
    # A ramped rep wins 10,000 × 0.80 = 8,000 a month, so 100,000 needs 100,000 / 8,000 = 12.5 reps.
    assert {m.need for m in plan.months} == {D("12.50")}
    # 12% of 10 reps leave over the year, 0.1 a month: 9.9 remain at the end of January, 8.8 in December.
    assert [m.retained for m in plan.months][:3] == [D("9.90"), D("9.80"), D("9.70")]
    assert plan.months[11].retained == D("8.80")
    # New reps needed: ceil(12.5 − 9.9) = ceil(2.6) = 3 in January ... ceil(12.5 − 9.5) = 3 in May,
    # ceil(12.5 − 9.4) = ceil(3.1) = 4 from June (ceil(12.5 − 8.8) = ceil(3.7) = 4 in December).
    assert [m.new_reps for m in plan.months] == [3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]
    # Reps needed = retained + new: 9.9 + 3 = 12.9 in January; 9.4 + 4 = 13.4 in June.
    assert plan.months[0].reps_needed == D("12.90")
    assert plan.months[5].reps_needed == D("13.40")
    # The ramp is 4 months, so a rep starts 3 months before the month that needs them at 100%:
    # January's 3 cannot start before January; June's 4th starts in March.
    assert [m.starting for m in plan.months] == [3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert plan.starts == [datetime.date(2027, 1, 1)] * 3 + [datetime.date(2027, 3, 1)]
    # Capacity with the ramp:
    # January 9.9 + 3 × 0.25 = 10.65 reps → covers 10.65 × 8,000 = 85,200, short 14,800;
    # February 9.8 + 3 × 0.50 = 11.30 → 90,400, short 9,600;
    # March 9.7 + 3 × 0.75 + 1 × 0.25 = 12.20 → 97,600, short 2,400;
    # April 9.6 + 3 + 0.50 = 13.10 → 104,800, nothing short.
    assert [m.capacity for m in plan.months[:4]] == [D("10.65"), D("11.30"), D("12.20"), D("13.10")]
    assert [m.covered for m in plan.months[:4]] == [
        D("85200.00"), D("90400.00"), D("97600.00"), D("104800.00")
    ]  # fmt: skip
    assert [m.shortfall for m in plan.months[:4]] == [
        D("14800.00"), D("9600.00"), D("2400.00"), D("0.00")
    ]  # fmt: skip
    # December: 8.8 + 4 = 12.8 reps → 102,400.
    assert plan.months[11].capacity == D("12.80")
    # 4 hires; one position is already open, so the gap is 3 positions, the latest three starts.
    assert plan.hires == 4 and plan.gap == 3
    assert plan.positions_to_open == [datetime.date(2027, 1, 1)] * 2 + [datetime.date(2027, 3, 1)]
    assert plan.total_target == D("1200000")


def test_a_team_big_enough_needs_nobody():
    plan = capacity_plan(_inputs(headcount=20, open_positions=0))
    assert plan.hires == 0 and plan.gap == 0 and plan.positions_to_open == []
    assert all(m.shortfall == 0 for m in plan.months)


def test_monthly_targets_drive_the_need_and_hires_never_go_away():
    targets = [D("80000")] * 6 + [D("120000")] * 6
    plan = capacity_plan(_inputs(targets=targets, attrition=D("0"), open_positions=0))
    # 80,000 / 8,000 = 10 reps: the 10 on the team suffice; 120,000 / 8,000 = 15: 5 new from July,
    # starting in April (three months ahead).
    assert [m.new_reps for m in plan.months] == [0] * 6 + [5] * 6
    assert plan.months[3].starting == 5
    # July: 10 + 5 × 1.0 = 15 → 120,000 covered.
    assert plan.months[6].shortfall == 0


def test_no_quota_means_no_need_rather_than_a_crash():
    plan = capacity_plan(_inputs(monthly_quota=D("0")))
    assert plan.hires == 0


def test_ramp_factor_and_parsing():
    assert ramp_factor([25, 50], 0) == D("0.25")
    assert ramp_factor([25, 50], 5) == 1
    assert parse_ramp("25, 50,75%,100") == [25, 50, 75, 100]
    for bad in ("", "a,b", "0,50", "50,25", "101"):
        with pytest.raises(ValueError):
            parse_ramp(bad)
