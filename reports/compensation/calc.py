"""The arithmetic of a commission statement: pure functions over the rows the database gives.

Won value is credited in the order deals closed. A tiered plan pays each band of
attainment at its own rate (marginal tiers): with tiers 0% -> 5%, 100% -> 8% and a
quota of 10,000, a month of 12,000 pays 10,000 x 5% + 2,000 x 8%, and the deal that
crosses 100% is paid partly at each rate. Each amount is rounded to the cent on its
own line; the statement's total is the sum of its lines.
"""

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
HUNDRED = Decimal("100")


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Terms:
    """What a plan pays, as the calculation needs it (tiers: (from attainment %, rate %), ascending)."""

    kind: str = "flat"
    flat_rate: Decimal = Decimal(0)
    tiers: tuple[tuple[Decimal, Decimal], ...] = ()
    cap: Decimal | None = None
    new_logo_bonus: Decimal = Decimal(0)


@dataclass(frozen=True)
class Credit:
    """A won deal credited to the rep: its value in the reporting currency (None: no rate) and share."""

    deal_id: int
    deal_name: str
    closed_at: datetime.datetime | None
    value: Decimal | None
    share: Decimal
    product_bonus: Decimal = Decimal(0)
    new_logo: bool = False


@dataclass(frozen=True)
class Clawback:
    """Earlier pay for a deal taken back: a won deal reversed within the plan's days ("clawback"),
    or a deal won again whose earlier credit the new win replaces ("replaced")."""

    deal_id: int
    deal_name: str
    at: datetime.datetime | None
    paid: Decimal
    note: str
    kind: str = "clawback"


@dataclass
class Line:
    kind: str
    amount: Decimal
    deal_id: int | None = None
    deal_name: str = ""
    closed_at: datetime.datetime | None = None
    value: Decimal | None = None
    share: Decimal = HUNDRED
    credited: Decimal | None = None
    note: str = ""


@dataclass
class Figures:
    quota: Decimal | None
    credited_value: Decimal
    attainment: Decimal | None
    commission: Decimal
    bonuses: Decimal
    cap_adjustment: Decimal
    clawbacks: Decimal
    total: Decimal
    lines: list[Line] = field(default_factory=list)


def bands(terms: Terms, quota: Decimal | None) -> list[tuple[Decimal, Decimal | None, Decimal]]:
    """The plan's rates as bands of credited value: (from, to or None for no end, rate %).

    A flat plan is one band. A tiered plan without a quota pays everything at its first tier's rate.
    """
    if terms.kind == "flat" or not terms.tiers:
        return [(Decimal(0), None, terms.flat_rate)]
    if not quota:
        return [(Decimal(0), None, terms.tiers[0][1])]
    edges = [quota * start / HUNDRED for start, _ in terms.tiers]
    found = []
    if edges[0] > 0:
        found.append((Decimal(0), edges[0], Decimal(0)))
    for i, (_, rate) in enumerate(terms.tiers):
        found.append((edges[i], edges[i + 1] if i + 1 < len(edges) else None, rate))
    return found


def commission_between(
    before: Decimal, after: Decimal, found_bands
) -> tuple[Decimal, list[tuple[Decimal, Decimal]]]:
    """Commission on credited value from ``before`` to ``after``, each band at its rate; and the
    bands used as (their lower edge, rate)."""
    paid = Decimal(0)
    used = []
    for low, high, rate in found_bands:
        top = after if high is None else min(after, high)
        inside = top - max(before, low)
        if inside > 0:
            paid += inside * rate / HUNDRED
            used.append((low, rate))
    return paid, used


def _rates_note(used: list[tuple[Decimal, Decimal]]) -> str:
    shown = [f"{rate.normalize():f}%" for _, rate in used]
    return "at " + " then ".join(shown) if shown else "no rate"


def statement_figures(
    *, terms: Terms | None, quota: Decimal | None, credits: list[Credit], clawbacks: list[Clawback]
) -> Figures:
    """The lines and totals of a statement. Without a plan every line pays nothing (but is listed)."""
    terms = terms or Terms()
    found_bands = bands(terms, quota)
    lines: list[Line] = []
    running = Decimal(0)
    commission = bonuses = Decimal(0)
    for credit in credits:
        share = Decimal(credit.share)
        if credit.value is None:
            lines.append(
                Line(
                    kind="credit",
                    amount=Decimal("0.00"),
                    deal_id=credit.deal_id,
                    deal_name=credit.deal_name,
                    closed_at=credit.closed_at,
                    share=share,
                    note="No exchange rate to the reporting currency on its close date: left out.",
                )
            )
            continue
        credited = credit.value * share / HUNDRED
        paid, used = commission_between(running, running + credited, found_bands)
        accelerated = bool(quota) and any(low > 0 and low >= quota for low, _ in used)
        running += credited
        amount = cents(paid)
        commission += amount
        note = _rates_note(used) + (" (accelerator above 100%)" if accelerated else "")
        lines.append(
            Line(
                kind="credit",
                amount=amount,
                deal_id=credit.deal_id,
                deal_name=credit.deal_name,
                closed_at=credit.closed_at,
                value=cents(credit.value),
                share=share,
                credited=cents(credited),
                note=note,
            )
        )
        for kind, bonus, note in (
            ("product_bonus", credit.product_bonus, "Bonus for the plan's named products"),
            (
                "new_logo",
                terms.new_logo_bonus if credit.new_logo else 0,
                "New logo: the account's first win",
            ),
        ):
            if bonus:
                amount = cents(Decimal(bonus) * share / HUNDRED)
                bonuses += amount
                lines.append(
                    Line(
                        kind=kind,
                        amount=amount,
                        deal_id=credit.deal_id,
                        deal_name=credit.deal_name,
                        closed_at=credit.closed_at,
                        share=share,
                        note=note,
                    )
                )
    cap_adjustment = Decimal("0.00")
    if terms.cap is not None and commission + bonuses > terms.cap:
        cap_adjustment = cents(terms.cap) - commission - bonuses
        lines.append(
            Line(kind="cap", amount=cap_adjustment, note=f"Capped at {cents(terms.cap):,} a month")
        )
    taken = Decimal("0.00")
    for clawback in clawbacks:
        amount = -cents(clawback.paid)
        taken += amount
        lines.append(
            Line(
                kind=clawback.kind,
                amount=amount,
                deal_id=clawback.deal_id,
                deal_name=clawback.deal_name,
                closed_at=clawback.at,
                note=clawback.note,
            )
        )
    credited_value = cents(running)
    return Figures(
        quota=cents(quota) if quota is not None else None,
        credited_value=credited_value,
        attainment=(running / quota).quantize(Decimal("0.0001")) if quota else None,
        commission=commission,
        bonuses=bonuses,
        cap_adjustment=cap_adjustment,
        clawbacks=taken,
        total=commission + bonuses + cap_adjustment + taken,
        lines=lines,
    )


def line_key(line: dict) -> tuple:
    return (line["kind"], line["deal_ref"])


def statement_changes(before: list[dict], after: list[dict], total_before, total_after) -> dict:
    """What a recompute changed: lines added, removed and changed (by kind and deal), and the totals."""
    old = {line_key(line): line for line in before}
    new = {line_key(line): line for line in after}
    changed = [
        {
            "kind": key[0],
            "deal": key[1],
            "deal_name": new[key]["deal_name"],
            "before": str(old[key]["amount"]),
            "after": str(new[key]["amount"]),
        }
        for key in new
        if key in old and Decimal(old[key]["amount"]) != Decimal(new[key]["amount"])
    ]
    return {
        "added": [_brief(new[key]) for key in new if key not in old],
        "removed": [_brief(old[key]) for key in old if key not in new],
        "changed": changed,
        "total_before": str(total_before),
        "total_after": str(total_after),
        "total_change": str(Decimal(total_after) - Decimal(total_before)),
    }


def _brief(line: dict) -> dict:
    return {
        "kind": line["kind"],
        "deal": line["deal_ref"],
        "deal_name": line["deal_name"],
        "amount": str(line["amount"]),
    }
