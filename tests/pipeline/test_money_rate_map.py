"""Converted amounts from the per-query rate map equal the rate looked up deal by deal.

A varied world: four currencies besides the reporting one (USD), rates set
daily for one, on scattered days for another, from a late date for a third
and never for the fourth; deals closed at times either side of local midnight
in a time zone far from UTC. Each converted figure must equal a plain Python
conversion (the latest rate on or before the day) and the correlated lookup
the figures used before the map.
"""

import datetime
import json
import random
import zoneinfo
from decimal import Decimal

import pytest
from django.db.models import Case, F, Q, Sum, When
from django.utils import timezone

from pipeline.models import Deal, ExchangeRate, StageKind
from pipeline.money import CONVERTED, at_close, close_day, converted, rate_on
from tests.conftest import need_postgres
from tests.factories import AccountFactory, DealFactory

D = Decimal
AUCKLAND = zoneinfo.ZoneInfo("Pacific/Auckland")
START = datetime.date(2026, 1, 1)


def rate_in_python(rates: dict, currency: str, day: datetime.date):
    """The latest rate of ``currency`` on or before ``day``; 1 in USD; None without one."""
    if currency == "USD":
        return D(1)
    earlier = [valid_from for valid_from in rates.get(currency, {}) if valid_from <= day]
    return rates[currency][max(earlier)] if earlier else None


def same(*values) -> bool:
    """Equal; to a millionth on SQLite, whose decimals are floating point."""
    from django.db import connection

    if connection.vendor == "sqlite":
        values = [None if value is None else round(Decimal(value), 6) for value in values]
    return all(value == values[0] for value in values)


def correlated(on) -> Case:
    """The conversion as it was: a correlated rate lookup per deal and per sum."""
    return Case(
        When(currency="USD", then=F("amount")),
        default=F("amount") * rate_on(on),
        output_field=CONVERTED,
    )


@pytest.fixture
def varied(rep, pipeline, settings):
    settings.REPORTING_CURRENCY = "USD"
    draw = random.Random(18)
    rates: dict[str, dict] = {"EUR": {}, "GBP": {}, "CHF": {}}
    for offset in range(0, 90):  # EUR: every day
        rates["EUR"][START + datetime.timedelta(days=offset)] = D(f"1.{draw.randint(0, 9999):04d}")
    for offset in sorted(draw.sample(range(0, 90), 7)):  # GBP: now and then
        rates["GBP"][START + datetime.timedelta(days=offset)] = D(
            f"1.2{draw.randint(0, 99999999):08d}"
        )
    rates["CHF"][START + datetime.timedelta(days=60)] = D("0.9876543210")  # CHF: only from day 60
    ExchangeRate.objects.bulk_create(
        ExchangeRate(currency=currency, valid_from=day, rate=rate)
        for currency, by_day in rates.items()
        for day, rate in by_day.items()
    )
    account = AccountFactory(owner=rep)
    for n in range(60):
        currency = ("USD", "EUR", "GBP", "CHF", "JPY")[n % 5]
        deal = DealFactory(
            owner=rep,
            account=account,
            pipeline=pipeline,
            currency=currency,
            amount=D(draw.randint(1, 10**6)) / 100,
        )
        day = START + datetime.timedelta(days=draw.randint(-5, 95))
        # Either side of midnight in Auckland, which is the previous or the same day in UTC.
        moment = datetime.datetime.combine(
            day, datetime.time(draw.choice([0, 11, 12, 23]), 30), tzinfo=AUCKLAND
        )
        Deal.objects.filter(pk=deal.pk).update(status=StageKind.WON, closed_at=moment)
    return rates


def test_each_deal_converts_as_the_python_lookup_and_the_correlated_one(varied):
    with timezone.override(AUCKLAND):
        rows = Deal.objects.annotate(
            mapped=at_close(),
            before=correlated(close_day()),
            **{
                f"on_{n}": converted(on=START + datetime.timedelta(days=n))
                for n in (-1, 0, 17, 60, 89, 120)
            },
            **{
                f"was_{n}": correlated(START + datetime.timedelta(days=n))
                for n in (-1, 0, 17, 60, 89, 120)
            },
        ).values()
        checked = 0
        for row in rows:
            local_day = timezone.localtime(row["closed_at"], AUCKLAND).date()
            rate = rate_in_python(varied, row["currency"], local_day)
            expected = None if rate is None else row["amount"] * rate
            assert same(row["mapped"], expected, row["before"]), row
            for n in (-1, 0, 17, 60, 89, 120):
                rate = rate_in_python(varied, row["currency"], START + datetime.timedelta(days=n))
                expected = None if rate is None else row["amount"] * rate
                assert same(row[f"on_{n}"], expected, row[f"was_{n}"]), (n, row)
            checked += 1
    assert checked == 60


def test_grouped_sums_with_filters_equal_the_correlated_ones(varied):
    with timezone.override(AUCKLAND):
        day = START + datetime.timedelta(days=45)
        late = Q(closed_at__gte=timezone.make_aware(datetime.datetime(2026, 2, 1), AUCKLAND))
        sums = {
            "won": Sum(at_close()),
            "won_late": Sum(at_close(), filter=late),
            "open": Sum(converted(on=day)),
            "squared": Sum(at_close() * at_close()),
        }
        before = {
            "won": Sum(correlated(close_day())),
            "won_late": Sum(correlated(close_day()), filter=late),
            "open": Sum(correlated(day)),
            "squared": Sum(correlated(close_day()) * correlated(close_day())),
        }
        grouped = list(Deal.objects.values("currency").annotate(**sums).order_by("currency"))
        expected = list(Deal.objects.values("currency").annotate(**before).order_by("currency"))
    assert grouped == expected
    assert {row["currency"] for row in grouped if row["won"] is None} == {"JPY"}
    assert Deal.objects.filter(currency="CHF").count() and any(
        row["won"] is not None for row in grouped if row["currency"] == "CHF"
    )


def _plans(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plans(child)


def _explain(queryset) -> list[dict]:
    return list(_plans(json.loads(queryset.explain(format="json", analyze=True))[0]["Plan"]))


@pytest.mark.postgres
def test_an_as_of_sum_reads_the_rates_once_per_query_not_per_deal(varied):
    need_postgres()
    day = START + datetime.timedelta(days=45)
    sums = {f"sum_{n}": Sum(converted(on=day), filter=Q(amount__gt=n)) for n in range(5)}
    plans = _explain(Deal.objects.values("owner_id").annotate(**sums))
    per_deal = [plan for plan in plans if plan.get("Subplan Name", "").startswith("SubPlan")]
    once = [plan for plan in plans if plan.get("Subplan Name", "").startswith("InitPlan")]
    assert not per_deal
    assert once and all(plan["Actual Loops"] <= 1 for plan in once)


@pytest.mark.postgres
def test_a_deal_closed_on_a_day_with_a_rate_needs_no_lookup_of_its_own(varied):
    need_postgres()
    with timezone.override(AUCKLAND):
        end = timezone.make_aware(datetime.datetime(2026, 3, 31), AUCKLAND)
        start = timezone.make_aware(datetime.datetime(2026, 1, 1), AUCKLAND)
        daily = Deal.objects.filter(currency="EUR", closed_at__gte=start, closed_at__lt=end)
        assert daily.exists()
        plans = _explain(
            daily.values("owner_id").annotate(
                won=Sum(at_close()), squared=Sum(at_close() * at_close())
            )
        )
    lookups = [plan for plan in plans if plan.get("Subplan Name", "").startswith("SubPlan")]
    assert all(plan["Actual Loops"] == 0 for plan in lookups)


def test_postgresql_runs_without_jit(db):
    """The figures' wide queries cost seconds of JIT compiling once rate lookups raised their cost."""
    from django.db import connection

    need_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
