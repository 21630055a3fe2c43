"""The demo's deals told straight as COPY text: the story of ``demo.DealSimulator``, built for volume.

``seed_demo --bulk`` (PostgreSQL) uses this instead of the simulator and the
import services: the same people, stages, odds and timings, but each deal is
played out on integer minutes and whole cents and written as the text of the
rows it makes (the deal, its stage transitions, its historical versions, its
line items and its activities), with no objects in between. That keeps the
Python cost near a tenth of the simulator's, so a million deals fit in minutes.

Chunks are independent: chunk ``n`` draws from its own generator seeded with
``(seed, n)`` and owns the deal ids ``first_id + n * chunk_size`` onwards, so
chunks can be made in any order, by several processes, and the same seed
always gives the same rows.
"""

import bisect
import datetime
import io
import math
import random
from dataclasses import dataclass

from django.utils import timezone

from pipeline import demo
from pipeline.models import ForecastCategory, StageKind

DAY = 1440  # minutes
_MARGIN_DAYS = 950  # days kept before the history's first day (account creation dates)
_FUTURE_DAYS = 800  # days kept after the reference day (close dates)

PIPELINE, BEST_CASE, COMMIT, OMITTED = (
    ForecastCategory.PIPELINE.value,
    ForecastCategory.BEST_CASE.value,
    ForecastCategory.COMMIT.value,
    ForecastCategory.OMITTED.value,
)
OPEN, WON, LOST = StageKind.OPEN.value, StageKind.WON.value, StageKind.LOST.value
_KIND_NAMES = [(kind.value, weight, subjects) for kind, weight, subjects in demo._ACTIVITY_KINDS]
_KIND_CUM = list(demo._ACTIVITY_CUM_WEIGHTS)
_DISCOUNTS = [0, 0, 0, 5, 10, 15, 20]
_NULL = "\\N"

# Columns of each table as the chunks write them (COPY ... FROM STDIN, text format).
DEAL_COLUMNS = (
    "id", "name", "status", "amount", "currency", "expected_close_date", "forecast_category",
    "created_at", "updated_at", "stage_entered_at", "closed_at", "version", "deleted_at",
    "external_id", "account_id", "owner_id", "lost_reason_id", "pipeline_id", "stage_id",
)  # fmt: skip
TRANSITION_COLUMNS = (
    "deal_id", "from_stage_id", "from_stage_entered_at", "to_stage_id", "at", "by_id",
)  # fmt: skip
HISTORY_COLUMNS = (
    "id", "name", "status", "amount", "currency", "expected_close_date", "forecast_category",
    "created_at", "stage_entered_at", "closed_at", "deleted_at", "external_id", "history_date",
    "history_change_reason", "history_type", "account_id", "history_user_id", "owner_id",
    "lost_reason_id", "pipeline_id", "stage_id", "superseded_at",
)  # fmt: skip
LINE_ITEM_COLUMNS = ("deal_id", "product_id", "quantity", "unit_price", "discount_pct")
ACTIVITY_COLUMNS = (
    "kind", "subject", "body", "occurred_at", "created_at", "account_id", "author_id", "deal_id",
)  # fmt: skip
ACCOUNT_COLUMNS = (
    "id", "name", "industry", "region", "employee_count", "website", "created_at", "deleted_at",
    "owner_id", "territory_id", "annual_revenue", "country", "postcode", "territory_pinned",
    "external_id",
)  # fmt: skip
CONTACT_COLUMNS = (
    "first_name", "last_name", "title", "email", "phone", "created_at", "account_id", "external_id",
)  # fmt: skip


def _safe(text: str) -> str:
    """Text for a COPY field; the demo's own words never need escaping, which this checks."""
    if "\t" in text or "\n" in text or "\\" in text or "\r" in text:
        raise ValueError(f"Demo text {text!r} would need escaping in COPY.")
    return text


def cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class Clock:
    """Minutes since local midnight of a fixed first day, and their text as PostgreSQL reads it."""

    def __init__(self, today: datetime.date):
        zone = timezone.get_current_timezone()
        self.origin = today - datetime.timedelta(days=demo.HISTORY_DAYS + _MARGIN_DAYS)
        days = demo.HISTORY_DAYS + _MARGIN_DAYS + _FUTURE_DAYS
        self.dates = []
        self.offsets = []
        for index in range(days):
            day = self.origin + datetime.timedelta(days=index)
            self.dates.append(day.isoformat())
            noon = timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)), zone)
            offset = noon.utcoffset() or datetime.timedelta(0)
            minutes = int(offset.total_seconds() // 60)
            sign = "-" if minutes < 0 else "+"
            self.offsets.append(f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
        self.times = [f" {m // 60:02d}:{m % 60:02d}:00" for m in range(DAY)]
        self.first_weekday = self.origin.weekday()
        self.today = (today - self.origin).days  # day index of the reference day
        self.end = self.today * DAY  # its first minute: nothing happens from then on

    def day_of(self, date: datetime.date) -> int:
        return (date - self.origin).days

    def stamp(self, minute: int) -> str:
        day = minute // DAY
        return self.dates[day] + self.times[minute % DAY] + self.offsets[day]

    def date(self, day: int) -> str:
        if 0 <= day < len(self.dates):
            return self.dates[day]
        return (self.origin + datetime.timedelta(days=day)).isoformat()


@dataclass(frozen=True)
class Seller:
    """A rep as the chunks see them: how they sell, and the accounts they may sell to."""

    profile: demo.RepProfile
    owner_id: int
    accounts: tuple[int, ...]  # indexes into the account table


@dataclass(frozen=True)
class Stages:
    """A pipeline's stage ids and the odds of its open stages, in order."""

    pk: int
    open_ids: tuple[int, ...]
    won_id: int
    lost_id: int
    medians: tuple[float, ...]
    loss_rates: tuple[float, ...]
    forecasts: tuple[str, ...]

    @classmethod
    def of(cls, ids: demo.PipelineIds) -> "Stages":
        return cls(
            pk=ids.pk,
            open_ids=tuple(ids.open_ids),
            won_id=ids.won_id,
            lost_id=ids.lost_id,
            medians=tuple(d.median_days for d in ids.open_defs),
            loss_rates=tuple(d.loss_rate for d in ids.open_defs),
            forecasts=tuple(str(d.forecast) for d in ids.open_defs),
        )


@dataclass
class Chunk:
    """The COPY text of one chunk's rows, per table."""

    deals: str
    transitions: str
    history: str
    line_items: str
    activities: str
    count: int


class DealStory:
    """Plays out deals as ``demo.DealSimulator`` does and writes their rows as text."""

    def __init__(
        self,
        *,
        today: datetime.date,
        pipelines: dict[str, demo.PipelineIds],
        lost_reason_ids: list[int],
        products: list,
        currency: str,
        sellers: list[Seller],
        accounts: list[tuple[int, str, float]],  # id, name, size factor
        seed: int,
        first_id: int,
        chunk_size: int,
    ):
        self.clock = Clock(today)
        self.new_business = Stages.of(pipelines["New business"])
        self.renewals = Stages.of(pipelines["Renewals"])
        self.lost_reason_ids = lost_reason_ids
        quantities = demo.product_quantities()
        # id, price in cents, quantity range
        self.products = [
            (pk, int(price * 100), quantities[sku.split("-")[0]]) for pk, sku, price in products
        ]
        self.currency = _safe(currency)
        self.sellers = sellers
        self.cum_volume = []
        total = 0.0
        for seller in sellers:
            total += seller.profile.volume
            self.cum_volume.append(total)
        self.accounts = [(pk, _safe(name), size) for pk, name, size in accounts]
        self.seed = seed
        self.first_id = first_id
        self.chunk_size = chunk_size
        self.stage_kind = {self.new_business.won_id: WON, self.renewals.won_id: WON}
        self.stage_kind.update({self.new_business.lost_id: LOST, self.renewals.lost_id: LOST})
        self.topics = [_safe(topic) for topic in demo._DEAL_TOPICS]
        self.bodies = [_safe(body) for body in demo._ACTIVITY_BODIES]

    def chunk(self, number: int, total: int) -> Chunk:
        """Rows of chunk ``number`` of a seed of ``total`` deals."""
        start = number * self.chunk_size
        count = max(0, min(self.chunk_size, total - start))
        rng = random.Random(f"{self.seed}:{number}")
        out = _Buffers()
        for index in range(start, start + count):
            self._deal(rng, self.first_id + index, out)
        return Chunk(
            deals=out.deals.getvalue(),
            transitions=out.transitions.getvalue(),
            history=out.history.getvalue(),
            line_items=out.line_items.getvalue(),
            activities=out.activities.getvalue(),
            count=count,
        )

    # Time -------------------------------------------------------------------

    def _moment(self, r, day: int) -> int:
        """A minute in office hours on ``day``, or on the Monday after a weekend."""
        weekday = (self.clock.first_weekday + day) % 7
        if weekday >= 5:
            day += 7 - weekday
        return day * DAY + (8 + int(r() * 10)) * 60 + 5 * int(r() * 12)

    def _after(self, rng, previous: int, days: float) -> int:
        moment = self._moment(rng.random, (previous + int(days * DAY)) // DAY)
        if moment <= previous:
            moment = previous + rng.randint(10, 120)
        return moment

    # One deal ---------------------------------------------------------------

    def _deal(self, rng: random.Random, deal_id: int, out: "_Buffers") -> None:
        r = rng.random
        clock = self.clock
        end = clock.end
        seller = self.sellers[bisect.bisect(self.cum_volume, r() * self.cum_volume[-1])]
        rep = seller.profile
        owner = seller.owner_id
        account_id, account_name, account_size = self.accounts[
            seller.accounts[int(r() * len(seller.accounts))]
        ]
        renewal = r() < demo.RENEWAL_SHARE
        stages = self.renewals if renewal else self.new_business

        created_day = clock.today - (1 + int(demo.HISTORY_DAYS * r() ** 1.15))
        created = self._moment(r, created_day)
        if created >= end:
            created = self._moment(r, created_day - 3)

        # Stage by stage: (minute, stage id) of each transition.
        moves = [(created, stages.open_ids[0])]
        forecast = stages.forecasts[0]
        forecast_changes = [] if forecast == PIPELINE else [(created, forecast)]
        index, at, stepped_back = 0, created, False
        outcome = lost_reason_id = None
        last_open = len(stages.open_ids) - 1
        slow = 1.8 if not renewal else 1.0
        weak = 1.7 if not renewal else 1.0
        while True:
            median = stages.medians[index] * rep.speed * (slow if index == rep.slow_stage else 1)
            leave_at = self._after(rng, at, rng.lognormvariate(math.log(median), 0.6))
            if leave_at >= end:
                break
            loss = (
                stages.loss_rates[index]
                * (2 - rep.win_skill)
                * (weak if index == rep.weak_stage else 1)
            )
            if r() < min(0.9, loss):
                outcome = stages.lost_id
                lost_reason_id = self._lost_reason(rng, index, renewal)
            elif index == last_open:
                outcome = stages.won_id
            elif index >= 3 and not stepped_back and r() < 0.06:
                index, stepped_back = index - 1, True
            elif index + 2 <= last_open and r() < 0.05:
                index += 2
            else:
                index += 1
            at = leave_at
            if outcome is not None:
                moves.append((at, outcome))
                new_forecast = COMMIT if outcome == stages.won_id else OMITTED
            else:
                moves.append((at, stages.open_ids[index]))
                new_forecast = stages.forecasts[index]
                if new_forecast == COMMIT and r() < 0.25 or index == 2 and r() < 0.3:
                    new_forecast = BEST_CASE
            if new_forecast != forecast:
                forecast_changes.append((at, new_forecast))
                forecast = new_forecast
            if outcome is not None:
                break
        closed = at if outcome is not None else None
        life_end = end if closed is None else closed
        if outcome is None and r() < 0.05:
            parked_at = self._after(rng, at, rng.uniform(1, 20))
            if parked_at < end and forecast != OMITTED:
                forecast = OMITTED
                forecast_changes.append((parked_at, forecast))

        amount, items, amount_changes = self._amount(
            rng, rep, account_size, stages, renewal, moves, life_end
        )
        close_day, close_changes = self._close_dates(rng, rep, created, closed)

        if renewal:
            year = clock.dates[created // DAY][:4]
            name = f"{account_name} - Renewal {int(year) + 1}"
        else:
            name = f"{account_name} - {self.topics[int(r() * len(self.topics))]}"

        status = self.stage_kind.get(moves[-1][1], OPEN)
        stage_id = moves[-1][1]
        stage_entered = moves[-1][0]
        lost_text = str(lost_reason_id) if lost_reason_id is not None else _NULL
        stamp = clock.stamp
        deal_text = str(deal_id)
        owner_text = str(owner)

        # Transitions, each with when the deal had entered the stage it leaves.
        transitions = out.transitions.write
        previous_stage = previous_at = None
        for moved_at, to_stage in moves:
            transitions(
                f"{deal_text}\t{previous_stage if previous_stage is not None else _NULL}\t"
                f"{stamp(previous_at) if previous_at is not None else _NULL}\t{to_stage}\t"
                f"{stamp(moved_at)}\t{owner_text}\n"
            )
            previous_stage, previous_at = to_stage, moved_at

        # The deal's versions: one per minute at which any tracked value changed.
        events = [(moved_at, seq, 0, stage) for seq, (moved_at, stage) in enumerate(moves)]
        seq = len(events)
        for changed_at, value in amount_changes:
            events.append((changed_at, seq, 1, value))
            seq += 1
        for changed_at, value in close_changes:
            events.append((changed_at, seq, 2, value))
            seq += 1
        for changed_at, value in forecast_changes:
            events.append((changed_at, seq, 3, value))
            seq += 1
        events.sort()
        state = [
            None,  # stage id
            OPEN,
            0,  # entered at
            None,  # closed at
            None,  # lost reason
            0 if amount_changes else amount,
            None if close_changes else close_day,
            PIPELINE if forecast_changes else forecast,
        ]
        versions = []
        position, count = 0, len(events)
        while position < count:
            moment = events[position][0]
            while position < count and events[position][0] == moment:
                _, _, kind, value = events[position]
                if kind == 0:
                    stage_kind = self.stage_kind.get(value, OPEN)
                    state[0], state[1], state[2] = value, stage_kind, moment
                    state[3] = moment if stage_kind != OPEN else None
                    state[4] = lost_reason_id if stage_kind == LOST else None
                else:
                    state[4 + kind] = value
                position += 1
            snapshot = tuple(state)
            if not versions or versions[-1][1] != snapshot:
                versions.append((moment, snapshot))

        amount_text = cents_text(amount)
        common = f"{deal_text}\t{name}\t"
        fixed = f"{self.currency}\t"
        history = out.history.write
        history_type = "+"
        # Each version's span ends at the next one's moment (the triggers' reading, written here so
        # the load's recompute finds nothing to change): versions are in strictly increasing time.
        ends = [stamp(moment) for moment, _ in versions[1:]] + [_NULL]
        for (
            moment,
            (
                v_stage,
                v_status,
                v_entered,
                v_closed,
                v_lost,
                v_amount,
                v_close,
                v_forecast,
            ),
        ), end in zip(versions, ends, strict=True):
            history(
                f"{common}{v_status}\t{cents_text(v_amount)}\t{fixed}{clock.date(v_close)}\t"
                f"{v_forecast}\t{stamp(created)}\t{stamp(v_entered)}\t"
                f"{stamp(v_closed) if v_closed is not None else _NULL}\t{_NULL}\t{_NULL}\t"
                f"{stamp(moment)}\t{_NULL}\t{history_type}\t{account_id}\t{owner_text}\t"
                f"{owner_text}\t{v_lost if v_lost is not None else _NULL}\t{stages.pk}\t{v_stage}\t"
                f"{end}\n"
            )
            history_type = "~"

        out.deals.write(
            f"{common}{status}\t{amount_text}\t{fixed}{clock.date(close_day)}\t{forecast}\t"
            f"{stamp(created)}\t{stamp(versions[-1][0])}\t{stamp(stage_entered)}\t"
            f"{stamp(closed) if closed is not None else _NULL}\t{len(versions)}\t{_NULL}\t"
            f"{_NULL}\t{account_id}\t{owner_text}\t{lost_text}\t{stages.pk}\t{stage_id}\n"
        )
        line_items = out.line_items.write
        for product_id, quantity, price, discount in items:
            line_items(f"{deal_text}\t{product_id}\t{quantity}\t{cents_text(price)}\t{discount}\n")
        self._activities(rng, rep, owner_text, account_id, deal_text, created, life_end, out)

    def _lost_reason(self, rng: random.Random, index: int, renewal: bool) -> int:
        if renewal:
            weights = demo._CHURN_WEIGHTS
        else:
            weights = demo._EARLY_LOSS_WEIGHTS if index < 3 else demo._LATE_LOSS_WEIGHTS
        return rng.choices(self.lost_reason_ids, weights=weights)[0]

    def _amount(self, rng, rep, account_size, stages, renewal, moves, life_end):
        """The final amount in cents, line items, and the (minute, cents) changes that led to it."""
        r = rng.random
        median = (12000 if renewal else 21000) * rep.size * account_size
        amount = max(500, round(rng.lognormvariate(math.log(median), 0.6) / 100) * 100) * 100
        items = []
        if not renewal and r() < 0.35:
            chosen = rng.sample(self.products, rng.randint(1, 4))
            share = amount / len(chosen)
            total = 0
            for product_id, price, (low, high) in chosen:
                quantity = max(low, min(high, int(share / price) or 1))
                discount = _DISCOUNTS[int(r() * len(_DISCOUNTS))]
                items.append((product_id, quantity, price, discount))
                # Prices are whole currency units, so the line's cents are exact.
                total += quantity * price * (100 - discount) // 100
            amount = total
        created = moves[0][0]
        reached = {stage: moved_at for moved_at, stage in moves}
        negotiation, proposal = stages.open_ids[-1], stages.open_ids[-2]
        changes = []
        if negotiation in reached and r() < 0.35:
            revised_at = self._after(rng, reached[negotiation], rng.uniform(0, 5))
            if revised_at < life_end:
                first = round(amount * rng.uniform(1.08, 1.4) / 10000) * 10000
                changes = [(created, first), (revised_at, amount)]
        elif proposal in reached and r() < 0.2:
            revised_at = reached[proposal] + 60 * rng.randint(1, 6)
            if revised_at < life_end:
                first = round(amount * rng.uniform(0.6, 0.92) / 10000) * 10000
                changes = [(created, first), (revised_at, amount)]
        return amount, items, changes

    def _close_dates(self, rng, rep, created: int, closed: int | None):
        """The final expected close day and its (minute, day) changes; slips happen when a date passes."""
        r = rng.random
        close_day = (created + int(rng.randint(30, 90) * rep.optimism * DAY)) // DAY
        changes = [(created, close_day)]
        life_end = self.clock.end if closed is None else closed
        life_end_day = life_end // DAY
        slips = 0
        while close_day < life_end_day and slips < 4 and r() < 0.7:
            slipped_at = self._moment(r, close_day - rng.randint(0, 4))
            if slipped_at <= max(created, changes[-1][0]) or slipped_at >= life_end:
                break
            close_day += rng.randint(14, 60)
            changes.append((slipped_at, close_day))
            slips += 1
        if closed is not None and close_day != closed // DAY and r() < 0.8:
            close_day = closed // DAY
            changes.append((closed, close_day))
        if len(changes) == 1:
            changes = []
        return close_day, changes

    def _activities(self, rng, rep, owner_text, account_id, deal_text, start, end, out) -> None:
        r = rng.random
        stamp = self.clock.stamp
        life_days = max(1.0, (end - start) / DAY)
        count = max(1, min(8, round(rng.uniform(0.5, 1.5) * rep.activity * (1 + life_days / 15))))
        write = out.activities.write
        bodies = self.bodies
        for _ in range(count):
            when = self._moment(r, (start + int(r() * life_days * DAY)) // DAY)
            if not start <= when < end:
                when = start
            kind, _, subjects = _KIND_NAMES[bisect.bisect(_KIND_CUM, r() * _KIND_CUM[-1])]
            subject = subjects[int(r() * len(subjects))]
            body = bodies[int(r() * len(bodies))]
            moment = stamp(when)
            write(
                f"{kind}\t{subject}\t{body}\t{moment}\t{moment}\t{account_id}\t{owner_text}\t{deal_text}\n"
            )


class _Buffers:
    def __init__(self):
        self.deals = io.StringIO()
        self.transitions = io.StringIO()
        self.history = io.StringIO()
        self.line_items = io.StringIO()
        self.activities = io.StringIO()


# ---------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------


def account_rows(
    rng: random.Random,
    *,
    count: int,
    first_id: int,
    profiles: list[demo.RepProfile],
    owner_ids: list[int],
    territory_of: list[tuple[int, str, list[str]]],
    today: datetime.date,
):
    """Accounts as ``demo.account_draft`` makes them, as COPY text.

    Returns (account text, contact text, [(id, name, size factor)], account indexes per rep).
    Names stay unique: a repeated name takes a number, counted per name rather than searched.
    """
    clock = Clock(today)
    first_day = clock.today - demo.HISTORY_DAYS
    cum_weights = []
    total = 0.0
    for profile in profiles:
        total += profile.volume
        cum_weights.append(total)
    r = rng.random
    taken: set[str] = set()
    next_number: dict[str, int] = {}  # per name: the number the next repeat takes
    accounts, contacts = io.StringIO(), io.StringIO()
    table: list[tuple[int, str, float]] = []
    per_rep: list[list[int]] = [[] for _ in profiles]
    titles = demo._TITLES
    for index in range(count):
        rep_index = (
            index % len(profiles)
            if index < 3 * len(profiles)
            else bisect.bisect(cum_weights, r() * total)
        )
        territory_id, _, countries = territory_of[rep_index]
        country = countries[int(r() * len(countries))]
        suffixes = demo._SUFFIXES[country]
        base = f"{demo._NAME_HEADS[int(r() * len(demo._NAME_HEADS))]} {demo._NAME_TAILS[int(r() * len(demo._NAME_TAILS))]}"
        name = f"{base} {suffixes[int(r() * len(suffixes))]}"
        if name in taken:
            number = next_number.get(base, 2)
            while (name := f"{base} {number} {suffixes[0]}") in taken:
                number += 1
            next_number[base] = number + 1
        taken.add(name)
        industry, industry_factor = demo.INDUSTRIES[int(r() * len(demo.INDUSTRIES))]
        employees = int(min(200_000, rng.lognormvariate(math.log(400), 1.4))) + 5
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:40]
        created = clock.stamp(first_day * DAY - DAY * rng.randint(30, 900) + 9 * 60)
        account_id = first_id + index
        accounts.write(
            f"{account_id}\t{_safe(name)}\t{industry}\t{country}\t{employees}\t"
            f"https://www.{slug}.example\t{created}\t{_NULL}\t{owner_ids[rep_index]}\t"
            f"{territory_id}\t{_NULL}\t\t\tf\t{_NULL}\n"
        )
        for _ in range(rng.randint(1, 3)):
            first = demo._FIRST_NAMES[int(r() * len(demo._FIRST_NAMES))]
            last = demo._LAST_NAMES[int(r() * len(demo._LAST_NAMES))]
            contacts.write(
                f"{first}\t{last}\t{titles[int(r() * len(titles))]}\t"
                f"{first.lower()}.{last.lower()}@{slug}.example\t+1 555 {rng.randint(1000000, 9999999)}\t"
                f"{created}\t{account_id}\t{_NULL}\n"
            )
        table.append(
            (account_id, name, industry_factor * min(3.0, max(0.4, (employees / 400) ** 0.3)))
        )
        per_rep[rep_index].append(index)
    return accounts.getvalue(), contacts.getvalue(), table, per_rep


__all__ = [
    "ACCOUNT_COLUMNS",
    "ACTIVITY_COLUMNS",
    "CONTACT_COLUMNS",
    "DEAL_COLUMNS",
    "HISTORY_COLUMNS",
    "LINE_ITEM_COLUMNS",
    "TRANSITION_COLUMNS",
    "Chunk",
    "Clock",
    "DealStory",
    "Seller",
    "account_rows",
]
