"""The demo organisation: its people, market and catalogue, and how its deals play out.

Pure data and a random simulation; ``seed_demo`` writes the results through the
services. Everything is drawn from one ``random.Random`` in a fixed order, so
a seed and a reference day always give the same organisation.
"""

import datetime
import itertools
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from pipeline.models import ActivityKind, ForecastCategory, line_total
from pipeline.services.imports import ActivitySpec, ChangeSpec, DealSpec, TransitionSpec

PASSWORD = "demo1234"
HISTORY_DAYS = 548  # about 18 months of deals
QUOTA_MONTHS_AHEAD = 3

ADMIN = ("admin", "Alex Morgan")
# username, full name, the manager they report to
MANAGERS = [
    ("manager1", "Dana Whitfield", None),
    ("manager2", "Priya Natarajan", None),
    ("manager3", "Tomas Alvarez", "manager1"),
]
REP_NAMES = [
    "Jordan Blake", "Mei Chen", "Samuel Okafor", "Hannah Schultz", "Diego Ramirez",
    "Aisha Rahman", "Lukas Novak", "Chloe Martin", "Ravi Iyer", "Emma Lindqvist",
    "Kenji Watanabe", "Olivia Brennan", "Marco Rossi", "Fatima Haddad", "Noah Fischer",
]  # fmt: skip
# Which manager each rep reports to, in rep order (rep1 .. rep15).
REP_MANAGERS = ["manager1"] * 5 + ["manager2"] * 5 + ["manager3"] * 5

# Region tree: parent -> children, each child with the countries its accounts are in.
TERRITORIES = {
    "North America": {
        "US East": ["United States"],
        "US West": ["United States"],
        "Canada": ["Canada"],
    },
    "EMEA": {
        "UK & Ireland": ["United Kingdom", "Ireland"],
        "DACH": ["Germany", "Austria", "Switzerland"],
        "Nordics": ["Sweden", "Norway", "Denmark", "Finland"],
    },
    "APAC": {
        "ANZ": ["Australia", "New Zealand"],
        "Japan": ["Japan"],
        "Southeast Asia": ["Singapore", "Malaysia", "Indonesia"],
    },
}
# Each manager's team sells in one region.
TEAM_REGIONS = {"manager1": "North America", "manager2": "EMEA", "manager3": "APAC"}

LOST_REASONS = [
    "Price",
    "Competitor",
    "No budget",
    "No decision",
    "Timing",
    "Product fit",
    "Went silent",
    "Champion left",
]
# Early losses are about fit and budget, late ones about price and competition.
_EARLY_LOSS_WEIGHTS = [1, 1, 3, 1, 2, 2, 3, 0.5]
_LATE_LOSS_WEIGHTS = [4, 3, 1, 2, 1.5, 0.5, 1, 1]
_CHURN_WEIGHTS = [4, 3, 2, 1, 1, 2, 0.5, 2]

INDUSTRIES = [
    ("Software", 1.2), ("Financial services", 1.5), ("Healthcare", 1.1), ("Manufacturing", 1.0),
    ("Retail", 0.8), ("Logistics", 0.9), ("Education", 0.6), ("Energy", 1.3),
    ("Telecommunications", 1.4), ("Media", 0.7), ("Professional services", 0.8), ("Public sector", 1.0),
]  # fmt: skip
_NAME_HEADS = [
    "Northwind", "Bluefin", "Silverline", "Brightpath", "Ironwood", "Summit", "Pioneer", "Vertex",
    "Harbor", "Cedar", "Granite", "Lumen", "Meridian", "Oakridge", "Quantum", "Redstone",
    "Sterling", "Tidewater", "Evergreen", "Falcon", "Keystone", "Horizon", "Atlas", "Beacon",
    "Crescent", "Driftwood", "Emberly", "Foxglove", "Hollis", "Juniper", "Kestrel", "Larkspur",
]  # fmt: skip
_NAME_TAILS = [
    "Logistics", "Health", "Analytics", "Foods", "Energy", "Systems", "Labs", "Manufacturing",
    "Capital", "Retail", "Media", "Networks", "Partners", "Robotics", "Pharma", "Insurance",
    "Logic", "Materials", "Mobility", "Dynamics",
]  # fmt: skip
_SUFFIXES = {
    "United States": ["Inc", "LLC", "Corp"], "Canada": ["Inc", "Ltd"], "United Kingdom": ["Ltd", "plc"],
    "Ireland": ["Ltd"], "Germany": ["GmbH", "AG"], "Austria": ["GmbH"], "Switzerland": ["AG", "SA"],
    "Sweden": ["AB"], "Norway": ["AS"], "Denmark": ["A/S"], "Finland": ["Oy"], "Australia": ["Pty Ltd"],
    "New Zealand": ["Ltd"], "Japan": ["KK"], "Singapore": ["Pte Ltd"], "Malaysia": ["Sdn Bhd"], "Indonesia": ["PT"],
}  # fmt: skip
_FIRST_NAMES = [
    "James", "Maria", "Wei", "Anna", "Mohammed", "Sofia", "Liam", "Yuki", "Lucas", "Ingrid",
    "Carlos", "Grace", "Ahmed", "Elena", "Tom", "Nina", "Raj", "Sara", "Paul", "Leah",
]  # fmt: skip
_LAST_NAMES = [
    "Smith", "Garcia", "Wang", "Muller", "Khan", "Rossi", "Brown", "Tanaka", "Silva", "Hansen",
    "Lopez", "Kim", "Ali", "Petrov", "Walsh", "Berg", "Patel", "Cohen", "Dubois", "Nguyen",
]  # fmt: skip
_TITLES = [
    "CFO",
    "CTO",
    "VP Sales",
    "Head of IT",
    "Procurement Manager",
    "Operations Director",
    "COO",
    "IT Manager",
]

# name, SKU prefix, list price range, typical quantity range
_PRODUCT_LINES = [
    ("Platform licence", "PLT", (8000, 60000), (1, 1)),
    ("User seat", "SEAT", (20, 120), (10, 400)),
    ("Analytics add-on", "ANL", (2000, 15000), (1, 2)),
    ("Implementation package", "IMP", (5000, 40000), (1, 1)),
    ("Training day", "TRN", (900, 2500), (1, 8)),
    ("Premium support", "SUP", (3000, 20000), (1, 1)),
    ("API capacity block", "API", (500, 4000), (1, 10)),
    ("Integration connector", "INT", (1000, 6000), (1, 5)),
    ("Data storage (TB)", "STO", (150, 900), (1, 50)),
    ("Compliance module", "CMP", (4000, 18000), (1, 1)),
]
_TIERS = ["Starter", "Professional", "Enterprise", "Plus", "Global"]

_DEAL_TOPICS = [
    "New logo",
    "Expansion",
    "Pilot",
    "Platform rollout",
    "Upgrade",
    "Add-on",
    "Regional rollout",
    "Team licences",
]
_ACTIVITY_KINDS = [
    (
        ActivityKind.EMAIL,
        35,
        ["Intro email", "Sent pricing", "Shared case study", "Follow-up email", "Sent proposal"],
    ),
    (ActivityKind.CALL, 25, ["Discovery call", "Follow-up call", "Pricing call", "Check-in call"]),
    (
        ActivityKind.MEETING,
        18,
        ["Product demo", "Technical deep dive", "Stakeholder meeting", "Negotiation meeting"],
    ),
    (
        ActivityKind.NOTE,
        15,
        [
            "Budget confirmed",
            "Champion identified",
            "Competitor in the deal",
            "Legal review started",
        ],
    ),
    (ActivityKind.CLIENT_VISIT, 7, ["On-site workshop", "Executive visit", "Site visit"]),
]
_ACTIVITY_CUM_WEIGHTS = list(itertools.accumulate(weight for _, weight, _ in _ACTIVITY_KINDS))
_ACTIVITY_BODIES = [
    "",
    "",
    "",
    "Next step agreed.",
    "Waiting on their procurement.",
    "Good energy; follow up next week.",
]


# ---------------------------------------------------------------------------
# Stages and pipelines
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StageDef:
    name: str
    probability: int
    kind: str = "open"
    rot_days: int | None = None
    median_days: float = 0  # typical stay, for open stages
    loss_rate: float = 0  # chance a deal leaving this stage is lost
    forecast: str = ForecastCategory.PIPELINE


PIPELINES = {
    "New business": [
        StageDef("Prospecting", 10, rot_days=14, median_days=6, loss_rate=0.28),
        StageDef("Qualification", 20, rot_days=21, median_days=10, loss_rate=0.24),
        StageDef("Discovery", 35, rot_days=21, median_days=14, loss_rate=0.20),
        StageDef(
            "Proposal",
            55,
            rot_days=21,
            median_days=16,
            loss_rate=0.16,
            forecast=ForecastCategory.BEST_CASE,
        ),
        StageDef(
            "Negotiation",
            75,
            rot_days=14,
            median_days=12,
            loss_rate=0.18,
            forecast=ForecastCategory.COMMIT,
        ),
        StageDef("Closed won", 100, kind="won"),
        StageDef("Closed lost", 0, kind="lost"),
    ],
    "Renewals": [
        StageDef(
            "Renewal due",
            60,
            rot_days=30,
            median_days=25,
            loss_rate=0.08,
            forecast=ForecastCategory.BEST_CASE,
        ),
        StageDef(
            "In negotiation",
            80,
            rot_days=21,
            median_days=14,
            loss_rate=0.14,
            forecast=ForecastCategory.COMMIT,
        ),
        StageDef("Renewed", 100, kind="won"),
        StageDef("Churned", 0, kind="lost"),
    ],
}
RENEWAL_SHARE = 0.2


@dataclass
class PipelineIds:
    """A pipeline's id and its stages' ids, in stage order."""

    name: str
    pk: int
    open_ids: list[int]
    won_id: int
    lost_id: int
    open_defs: list[StageDef] = field(default_factory=list)


# ---------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RepProfile:
    """How a rep sells; they differ so that coaching has something to find."""

    username: str
    full_name: str
    manager: str
    win_skill: float  # above 1 loses fewer deals
    speed: float  # multiplies days in stage; below 1 is faster
    size: float  # multiplies deal size
    volume: float  # share of new deals
    weak_stage: int  # open stage where they lose unusually often
    slow_stage: int  # open stage where deals sit unusually long
    optimism: float  # multiplies the first close date they promise; below 1 slips more
    activity: float  # how often they log activities


# A big demo has more teams: one per this many deals, of TEAM_SIZE reps each.
TEAM_DEALS = 50_000
TEAM_SIZE = 10


@dataclass(frozen=True)
class Organisation:
    """Who reports to whom: managers as (username, full name, boss), reps as (full name, manager)."""

    managers: list[tuple[str, str, str | None]]
    reps: list[tuple[str, str]]
    regions: dict[str, str]  # manager username -> the region their team sells in


def organisation(deals: int) -> Organisation:
    """The demo's people for ``deals`` deals.

    Up to about 125,000 deals: the three managers and fifteen reps of the
    small demo (manager3 reports to manager1, whose team so owns about two
    thirds of the deals). Beyond, one team of ``TEAM_SIZE`` reps per
    ``TEAM_DEALS`` deals, the new managers placed under manager1 until their
    teams make two thirds of all, the rest under manager2; the fifteen named
    reps keep their usernames and managers.
    """
    teams = max(len(MANAGERS), round(deals / TEAM_DEALS))
    if teams == len(MANAGERS):
        return Organisation(
            list(MANAGERS), list(zip(REP_NAMES, REP_MANAGERS, strict=True)), dict(TEAM_REGIONS)
        )
    names = (f"{first} {last}" for last in _LAST_NAMES for first in _FIRST_NAMES)
    taken = {name for _, name, _ in MANAGERS} | set(REP_NAMES)
    names = (name for name in names if name not in taken)
    managers = list(MANAGERS)
    regions = dict(TEAM_REGIONS)
    under_first = 2  # manager1 and manager3
    for number in range(len(MANAGERS) + 1, teams + 1):
        if under_first < round(2 * teams / 3):
            boss, region = "manager1", ("North America", "APAC")[number % 2]
            under_first += 1
        else:
            boss, region = "manager2", "EMEA"
        username = f"manager{number}"
        managers.append((username, next(names), boss))
        regions[username] = region
    reps = list(zip(REP_NAMES, REP_MANAGERS, strict=True))
    for username, _, _ in managers:
        have = sum(manager == username for _, manager in reps)
        reps += [(next(names), username) for _ in range(TEAM_SIZE - have)]
    return Organisation(managers, reps, regions)


def rep_profiles(rng: random.Random, reps: list[tuple[str, str]] | None = None) -> list[RepProfile]:
    """How each rep sells, drawn in rep order (``rep1``, ``rep2``, ...)."""
    profiles = []
    for number, (full_name, manager) in enumerate(
        reps if reps is not None else zip(REP_NAMES, REP_MANAGERS, strict=True), start=1
    ):
        profiles.append(
            RepProfile(
                username=f"rep{number}",
                full_name=full_name,
                manager=manager,
                win_skill=round(rng.uniform(0.7, 1.3), 2),
                speed=round(rng.uniform(0.7, 1.5), 2),
                size=round(rng.lognormvariate(0, 0.3), 2),
                volume=round(rng.uniform(0.7, 1.3), 2),
                weak_stage=rng.randrange(5),
                slow_stage=rng.randrange(5),
                optimism=round(rng.uniform(0.6, 1.2), 2),
                activity=round(rng.uniform(0.5, 1.5), 2),
            )
        )
    return profiles


def monthly_target(rep: RepProfile, deals: int, reps: int) -> Decimal:
    """A rep's monthly quota: what a typical rep with their volume and deal size wins in a month."""
    deals_per_month = deals / reps / (HISTORY_DAYS / 30.4)
    typical_won_value = deals_per_month * rep.volume * 0.27 * 21000 * rep.size
    return Decimal(max(1000, round(typical_won_value, -3))).quantize(Decimal("0.01"))


def months_after(day: datetime.date, count: int) -> list[tuple[datetime.date, datetime.date]]:
    """The ``count`` calendar months that follow the month holding ``day``."""
    start = (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)
    return (
        months(start, (start + datetime.timedelta(days=31 * (count - 1))).replace(day=1))
        if count
        else []
    )


def months(first: datetime.date, last: datetime.date) -> list[tuple[datetime.date, datetime.date]]:
    """The calendar months from the one holding ``first`` to the one holding ``last``, as (start, end) dates."""
    result = []
    start = first.replace(day=1)
    while start <= last:
        following = (start + datetime.timedelta(days=32)).replace(day=1)
        result.append((start, following - datetime.timedelta(days=1)))
        start = following
    return result


# ---------------------------------------------------------------------------
# Catalogue and accounts
# ---------------------------------------------------------------------------


def products(rng: random.Random) -> list[tuple[str, str, Decimal]]:
    """About 50 products as (name, sku, unit price)."""
    result = []
    for name, prefix, (low, high), _ in _PRODUCT_LINES:
        for number, tier in enumerate(_TIERS, start=1):
            price = Decimal(round(rng.uniform(low, high), -1 if high < 1000 else -2)).quantize(
                Decimal("0.01")
            )
            result.append((f"{name} {tier}", f"{prefix}-{number:03d}", price))
    return result


def product_quantities() -> dict[str, tuple[int, int]]:
    return {prefix: quantities for _, prefix, _, quantities in _PRODUCT_LINES}


@dataclass(frozen=True)
class AccountDraft:
    name: str
    owner: str  # rep username
    territory: str
    country: str
    industry: str
    employee_count: int
    website: str
    created_at: datetime.datetime
    contacts: list[tuple[str, str, str, str, str]]  # first, last, title, email, phone
    size_factor: float


class AccountNames:
    """Company names, unique within one run."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def draw(self, country: str) -> str:
        rng = self.rng
        base = f"{rng.choice(_NAME_HEADS)} {rng.choice(_NAME_TAILS)}"
        name = f"{base} {rng.choice(_SUFFIXES[country])}"
        number = 2
        while name in self.used:
            name = f"{base} {number} {_SUFFIXES[country][0]}"
            number += 1
        self.used.add(name)
        return name


def account_draft(
    rng: random.Random,
    names: AccountNames,
    rep: RepProfile,
    territory: str,
    countries: list[str],
    start: datetime.datetime,
) -> AccountDraft:
    country = rng.choice(countries)
    name = names.draw(country)
    industry, industry_factor = rng.choice(INDUSTRIES)
    employees = int(min(200_000, rng.lognormvariate(math.log(400), 1.4))) + 5
    slug = "".join(ch for ch in name.lower() if ch.isalnum())[:40]
    contacts = []
    for _ in range(rng.randint(1, 3)):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        contacts.append(
            (
                first,
                last,
                rng.choice(_TITLES),
                f"{first.lower()}.{last.lower()}@{slug}.example",
                f"+1 555 {rng.randint(1000000, 9999999)}",
            )
        )
    return AccountDraft(
        name=name,
        owner=rep.username,
        territory=territory,
        country=country,
        industry=industry,
        employee_count=employees,
        website=f"https://www.{slug}.example",
        created_at=start - datetime.timedelta(days=rng.randint(30, 900)),
        contacts=contacts,
        size_factor=industry_factor * min(3.0, max(0.4, (employees / 400) ** 0.3)),
    )


# ---------------------------------------------------------------------------
# Deals
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DealContext:
    """What one deal's simulation needs besides the random generator."""

    rep: RepProfile
    owner_id: int
    account_id: int
    account_name: str
    account_size: float


class DealSimulator:
    """Plays out deals stage by stage, from their creation up to the reference day."""

    def __init__(
        self,
        rng: random.Random,
        *,
        today: datetime.date,
        pipelines: dict[str, PipelineIds],
        lost_reason_ids: list[int],
        products: list[tuple[int, str, Decimal]],
        currency: str,
    ):
        self.rng = rng
        self.today = today
        # Nothing happens from the start of the reference day on, so no time is in the future.
        self.zone = timezone.get_current_timezone()
        self.end = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
        self.first_day = today - datetime.timedelta(days=HISTORY_DAYS)
        self.pipelines = pipelines
        self.lost_reason_ids = lost_reason_ids
        self.products = products
        self.quantities = product_quantities()
        self.currency = currency

    # Time -------------------------------------------------------------------

    def moment(self, day: datetime.date) -> datetime.datetime:
        """A time in office hours on ``day``, or on the Monday after a weekend."""
        while day.weekday() >= 5:
            day += datetime.timedelta(days=1)
        return datetime.datetime(
            day.year,
            day.month,
            day.day,
            self.rng.randint(8, 17),
            5 * self.rng.randrange(12),
            tzinfo=self.zone,
        )

    def after(self, previous: datetime.datetime, days: float) -> datetime.datetime:
        moment = self.moment((previous + datetime.timedelta(days=days)).date())
        if moment <= previous:
            moment = previous + datetime.timedelta(minutes=self.rng.randint(10, 120))
        return moment

    # Deals ------------------------------------------------------------------

    def deal(self, context: DealContext) -> tuple[DealSpec, list[ActivitySpec]]:
        rng = self.rng
        rep = context.rep
        renewal = rng.random() < RENEWAL_SHARE
        pipeline = self.pipelines["Renewals" if renewal else "New business"]
        # Slightly more deals recently: a growing business.
        created_day = self.today - datetime.timedelta(
            days=1 + int(HISTORY_DAYS * rng.random() ** 1.15)
        )
        created_at = self.moment(created_day)
        if created_at >= self.end:
            created_at = self.moment(created_day - datetime.timedelta(days=3))

        transitions = [
            TransitionSpec(to_stage_id=pipeline.open_ids[0], at=created_at, by_id=context.owner_id)
        ]
        forecast = pipeline.open_defs[0].forecast
        forecast_changes = [] if forecast == ForecastCategory.PIPELINE else [(created_at, forecast)]
        index, at, stepped_back = 0, created_at, False
        outcome, lost_reason_id = None, None
        last_open = len(pipeline.open_ids) - 1
        while True:
            stage = pipeline.open_defs[index]
            median = (
                stage.median_days
                * rep.speed
                * (1.8 if index == rep.slow_stage and not renewal else 1)
            )
            leave_at = self.after(at, rng.lognormvariate(math.log(median), 0.6))
            if leave_at >= self.end:
                break
            loss = (
                stage.loss_rate
                * (2 - rep.win_skill)
                * (1.7 if index == rep.weak_stage and not renewal else 1)
            )
            if rng.random() < min(0.9, loss):
                outcome = pipeline.lost_id
                lost_reason_id = self.lost_reason(index, last_open, renewal)
            elif index == last_open:
                outcome = pipeline.won_id
            elif index >= 3 and not stepped_back and rng.random() < 0.06:
                index, stepped_back = index - 1, True  # back to re-scope
            elif index + 2 <= last_open and rng.random() < 0.05:
                index += 2  # a stage skipped
            else:
                index += 1
            at = leave_at
            if outcome is not None:
                transitions.append(
                    TransitionSpec(to_stage_id=outcome, at=at, by_id=context.owner_id)
                )
                new_forecast = (
                    ForecastCategory.COMMIT
                    if outcome == pipeline.won_id
                    else ForecastCategory.OMITTED
                )
            else:
                transitions.append(
                    TransitionSpec(
                        to_stage_id=pipeline.open_ids[index], at=at, by_id=context.owner_id
                    )
                )
                new_forecast = pipeline.open_defs[index].forecast
                if (
                    new_forecast == ForecastCategory.COMMIT
                    and rng.random() < 0.25
                    or index == 2
                    and rng.random() < 0.3
                ):
                    new_forecast = ForecastCategory.BEST_CASE
            if new_forecast != forecast:
                forecast_changes.append((at, new_forecast))
                forecast = new_forecast
            if outcome is not None:
                break
        closed_at = at if outcome is not None else None
        life_end = closed_at or self.end
        if outcome is None and rng.random() < 0.05:
            parked_at = self.after(at, rng.uniform(1, 20))
            if parked_at < self.end and forecast != ForecastCategory.OMITTED:
                forecast = ForecastCategory.OMITTED  # the rep no longer counts on it
                forecast_changes.append((parked_at, forecast))

        amount, line_items, amount_changes = self.amount(
            context, pipeline, renewal, transitions, life_end
        )
        close_date, close_date_changes = self.close_dates(rep, created_at, closed_at)
        changes = [
            ChangeSpec(field="amount", value=v, at=t, by_id=context.owner_id)
            for t, v in amount_changes
        ]
        changes += [
            ChangeSpec(field="expected_close_date", value=v, at=t, by_id=context.owner_id)
            for t, v in close_date_changes
        ]
        changes += [
            ChangeSpec(field="forecast_category", value=v, at=t, by_id=context.owner_id)
            for t, v in forecast_changes
        ]

        if renewal:
            name = f"{context.account_name} - Renewal {created_at.year + 1}"
        else:
            name = f"{context.account_name} - {rng.choice(_DEAL_TOPICS)}"
        spec = DealSpec(
            name=name,
            account_id=context.account_id,
            owner_id=context.owner_id,
            pipeline_id=pipeline.pk,
            stage_id=transitions[-1].to_stage_id,
            amount=amount,
            currency=self.currency,
            expected_close_date=close_date,
            forecast_category=forecast,
            created_at=created_at,
            lost_reason_id=lost_reason_id,
            transitions=transitions,
            changes=changes,
            line_items=line_items,
        )
        return spec, self.activities(context, created_at, life_end)

    def lost_reason(self, index: int, last_open: int, renewal: bool) -> int:
        if renewal:
            weights = _CHURN_WEIGHTS
        else:
            weights = _EARLY_LOSS_WEIGHTS if index < 3 else _LATE_LOSS_WEIGHTS
        return self.rng.choices(self.lost_reason_ids, weights=weights)[0]

    def amount(self, context, pipeline, renewal, transitions, life_end):
        """The final amount, line items if any, and the (time, value) changes that led to it."""
        rng = self.rng
        median = (12000 if renewal else 21000) * context.rep.size * context.account_size
        amount = Decimal(max(500, round(rng.lognormvariate(math.log(median), 0.6), -2)))
        line_items = []
        if not renewal and rng.random() < 0.35:
            chosen = rng.sample(self.products, rng.randint(1, 4))
            for product_id, sku, price in chosen:
                low, high = self.quantities[sku.split("-")[0]]
                share = amount / len(chosen)
                quantity = max(low, min(high, int(share / price) or 1))
                discount = rng.choice([0, 0, 0, 5, 10, 15, 20])
                line_items.append((product_id, Decimal(quantity), price, Decimal(discount)))
            amount = sum((line_total(q, p, d) for _, q, p, d in line_items), Decimal("0.00"))
        amount = amount.quantize(Decimal("0.01"))

        created_at = transitions[0].at
        reached = {t.to_stage_id: t.at for t in transitions}
        negotiation = pipeline.open_ids[-1]
        proposal = pipeline.open_ids[-2]
        changes = []
        if negotiation in reached and rng.random() < 0.35:
            # Revised down in negotiation: a discount to get it signed.
            revised_at = self.after(reached[negotiation], rng.uniform(0, 5))
            if revised_at < life_end:
                first = (amount * Decimal(rng.uniform(1.08, 1.4))).quantize(Decimal("100"))
                changes = [(created_at, first.quantize(Decimal("0.01"))), (revised_at, amount)]
        elif proposal in reached and rng.random() < 0.2:
            # Scope grew once the proposal was written.
            revised_at = reached[proposal] + datetime.timedelta(hours=rng.randint(1, 6))
            if revised_at < life_end:
                first = (amount * Decimal(rng.uniform(0.6, 0.92))).quantize(Decimal("100"))
                changes = [(created_at, first.quantize(Decimal("0.01"))), (revised_at, amount)]
        return amount, line_items, changes

    def close_dates(self, rep, created_at, closed_at):
        """The final expected close date and its (time, value) changes; slips happen when a date passes."""
        rng = self.rng
        close_date = (
            created_at + datetime.timedelta(days=rng.randint(30, 90) * rep.optimism)
        ).date()
        changes = [(created_at, close_date)]
        life_end = closed_at or self.end
        slips = 0
        while close_date < life_end.date() and slips < 4 and rng.random() < 0.7:
            slipped_at = self.moment(close_date - datetime.timedelta(days=rng.randint(0, 4)))
            if slipped_at <= max(created_at, changes[-1][0]) or slipped_at >= life_end:
                break
            close_date += datetime.timedelta(days=rng.randint(14, 60))
            changes.append((slipped_at, close_date))
            slips += 1
        if closed_at is not None and close_date != closed_at.date() and rng.random() < 0.8:
            close_date = closed_at.date()  # set to the real date when the deal closes
            changes.append((closed_at, close_date))
        if len(changes) == 1:
            changes = []
        return close_date, changes

    def activities(
        self, context: DealContext, start: datetime.datetime, end: datetime.datetime
    ) -> list[ActivitySpec]:
        rng = self.rng
        life_days = max(1.0, (end - start).total_seconds() / 86400)
        count = max(
            1, min(8, round(rng.uniform(0.5, 1.5) * context.rep.activity * (1 + life_days / 15)))
        )
        result = []
        for _ in range(count):
            when = self.moment((start + datetime.timedelta(days=rng.uniform(0, life_days))).date())
            if not start <= when < end:
                when = start
            kind, _, subjects = rng.choices(_ACTIVITY_KINDS, cum_weights=_ACTIVITY_CUM_WEIGHTS)[0]
            result.append(
                ActivitySpec(
                    kind=kind,
                    subject=rng.choice(subjects),
                    body=rng.choice(_ACTIVITY_BODIES),
                    occurred_at=when,
                    author_id=context.owner_id,
                    deal_id=None,  # filled once the deal has its id
                    account_id=context.account_id,
                )
            )
        return result
