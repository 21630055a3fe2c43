"""The capacity plan: how many reps a year's target needs, month by month, and when to hire them.

A pure function of its inputs (no database); ``coaching.hiring.capacity_inputs`` gathers the
defaults from quotas and the team's history. The arithmetic, per month ``m`` (0 = the first):

- a fully ramped rep wins ``monthly_quota × attainment`` a month, so the month needs
  ``need[m] = target[m] / (monthly_quota × attainment)`` rep-equivalents;
- the reps on the team today leave at the annual ``attrition`` rate spread evenly over the year:
  ``retained[m] = headcount × (1 − attrition × (m + 1) / 12)`` are expected at the month's end;
- the new reps needed by month ``m`` are ``ceil(need[m] − retained[m])`` (never fewer than an
  earlier month's: a plan does not let go of the reps it hired), so ``reps_needed[m]`` is
  ``retained[m]`` plus those;
- each new rep is hired early enough to be fully ramped in the month that needs them: with a ramp
  of ``L`` months they start ``L − 1`` months before (at the latest the plan's first month);
- ``capacity[m]`` counts each retained rep as one and each new rep at their ramp percentage in
  that month; ``covered[m] = capacity[m] × monthly_quota × attainment``, and what the ramp leaves
  short is ``shortfall[m] = max(0, target[m] − covered[m])``.

New reps are not assumed to leave within the plan's year.
"""

import datetime
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

TWO = Decimal("0.01")
ONE = Decimal("0.1")


@dataclass(frozen=True)
class CapacityInputs:
    months: list[datetime.date]  # the first day of each month of the plan
    targets: list[Decimal]  # the team's target in each month
    monthly_quota: Decimal  # a fully ramped rep's monthly quota
    attainment: Decimal  # the share of quota a rep wins on average (0.8 = 80%)
    ramp: list[int]  # a new rep's productivity in their first months, in percent
    attrition: Decimal  # the share of the team leaving in a year (0.12 = 12%)
    headcount: int  # active reps on the team today
    open_positions: int = 0  # positions of the team already open


@dataclass(frozen=True)
class CapacityMonth:
    month: datetime.date
    target: Decimal
    need: Decimal  # rep-equivalents the target needs
    retained: Decimal  # today's reps expected to remain
    new_reps: int  # new reps needed by this month (cumulative)
    reps_needed: Decimal  # retained + new reps
    starting: int  # new reps who start this month
    capacity: Decimal  # rep-equivalents with the ramp
    covered: Decimal  # the value the capacity wins
    shortfall: Decimal  # what the ramp leaves short of the target


@dataclass(frozen=True)
class CapacityPlan:
    inputs: CapacityInputs
    months: list[CapacityMonth]
    hires: int  # new reps the plan needs in all
    gap: int  # hires less the positions already open: positions to open
    starts: list[datetime.date] = field(default_factory=list)  # one start month per hire

    @property
    def total_target(self) -> Decimal:
        return sum(self.inputs.targets, Decimal(0))

    @property
    def peak_reps_needed(self) -> Decimal:
        return max((m.reps_needed for m in self.months), default=Decimal(0))

    @property
    def positions_to_open(self) -> list[datetime.date]:
        """The start months of the hires not yet covered by an open position (the latest ones)."""
        return self.starts[len(self.starts) - self.gap :] if self.gap > 0 else []


def ramp_factor(ramp: list[int], months_in: int) -> Decimal:
    """A new rep's productivity ``months_in`` months after starting (0: their first month)."""
    if months_in < 0:
        return Decimal(0)
    if months_in < len(ramp):
        return Decimal(ramp[months_in]) / 100
    return Decimal(1)


def capacity_plan(inputs: CapacityInputs) -> CapacityPlan:
    """The plan of ``inputs``, month by month (see the module's docstring for the arithmetic)."""
    per_rep = inputs.monthly_quota * inputs.attainment
    count = len(inputs.months)
    need = [(t / per_rep if per_rep > 0 else Decimal(0)) for t in inputs.targets]
    retained = [
        Decimal(inputs.headcount) * (1 - inputs.attrition * (m + 1) / 12) for m in range(count)
    ]
    new_reps: list[int] = []
    for m in range(count):
        wanted = max(0, math.ceil(_round(need[m] - retained[m], TWO)))
        new_reps.append(max([wanted, *new_reps[-1:]]))
    lead = max(len(inputs.ramp) - 1, 0)
    starting = [0] * count
    starts: list[datetime.date] = []
    before = 0
    for m, total in enumerate(new_reps):
        if total > before:
            s = max(0, m - lead)
            starting[s] += total - before
            starts += [inputs.months[s]] * (total - before)
            before = total
    months = []
    for m in range(count):
        capacity = retained[m] + sum(
            (starting[s] * ramp_factor(inputs.ramp, m - s) for s in range(m + 1)), Decimal(0)
        )
        covered = capacity * per_rep
        months.append(
            CapacityMonth(
                month=inputs.months[m],
                target=inputs.targets[m],
                need=_round(need[m], TWO),
                retained=_round(retained[m], TWO),
                new_reps=new_reps[m],
                reps_needed=_round(retained[m] + new_reps[m], TWO),
                starting=starting[m],
                capacity=_round(capacity, TWO),
                covered=_round(covered, TWO),
                shortfall=_round(max(Decimal(0), inputs.targets[m] - covered), TWO),
            )
        )
    hires = new_reps[-1] if new_reps else 0
    return CapacityPlan(
        inputs=inputs,
        months=months,
        hires=hires,
        gap=max(0, hires - inputs.open_positions),
        starts=sorted(starts),
    )


def _round(value: Decimal, places: Decimal) -> Decimal:
    return Decimal(value).quantize(places, rounding=ROUND_HALF_UP)


def month_starts(first: datetime.date, count: int = 12) -> list[datetime.date]:
    """The first days of ``count`` months from ``first``'s month."""
    year, month = first.year, first.month
    days = []
    for _ in range(count):
        days.append(datetime.date(year, month, 1))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return days


def parse_ramp(text: str) -> list[int]:
    """``"25, 50, 75, 100"`` as ``[25, 50, 75, 100]``; raises ValueError naming what is wrong."""
    parts = [p.strip().rstrip("%") for p in str(text or "").split(",") if p.strip()]
    if not parts:
        raise ValueError("Give the ramp as percentages, e.g. 25,50,75,100.")
    if len(parts) > 12:
        raise ValueError("Give at most 12 months of ramp.")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError("Give whole percentages separated by commas, e.g. 25,50,75,100.") from None
    if any(not 1 <= v <= 100 for v in values):
        raise ValueError("Each month's percentage is from 1 to 100.")
    if values != sorted(values):
        raise ValueError("A ramp only goes up, month after month.")
    return values
