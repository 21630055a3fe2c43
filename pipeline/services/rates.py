"""Writes to the exchange rates that convert deal amounts into the reporting currency.

Every write rings ``rates_changed`` after it commits, so the reports mark the
snapshots of every scope stale: any converted figure may have moved.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from pipeline.checks.rates import RATE_FIELDS, exchange_rate_errors, parse_rate_csv
from pipeline.models import ExchangeRate
from pipeline.services.fields import refuse, set_fields
from pipeline.services.imports import RowErrors
from pipeline.signals import rates_changed
from salesmgr.models import User


def _ring() -> None:
    transaction.on_commit(lambda: rates_changed.send(sender=ExchangeRate))


def exchange_rate_create(
    *, currency: str, valid_from: datetime.date, rate: Decimal, by: User
) -> ExchangeRate:
    """Record that one ``currency`` is worth ``rate`` of the reporting currency from ``valid_from``."""
    currency = currency.upper() if isinstance(currency, str) else currency
    with transaction.atomic():
        refuse(exchange_rate_errors(currency=currency, valid_from=valid_from, rate=rate))
        exchange_rate = ExchangeRate.objects.create(
            currency=currency, valid_from=valid_from, rate=rate
        )
        _ring()
    return exchange_rate


def exchange_rate_update(*, exchange_rate: ExchangeRate, by: User, **changes) -> ExchangeRate:
    """Correct a rate's currency, date or value."""
    if isinstance(changes.get("currency"), str):
        changes["currency"] = changes["currency"].upper()
    values = {field: changes.get(field, getattr(exchange_rate, field)) for field in RATE_FIELDS}
    with transaction.atomic():
        refuse(exchange_rate_errors(**values, exchange_rate=exchange_rate))
        set_fields(exchange_rate, changes, RATE_FIELDS)
        exchange_rate.save(update_fields=list(changes) or None)
        _ring()
    return exchange_rate


def exchange_rate_delete(*, exchange_rate: ExchangeRate, by: User) -> None:
    """Remove a rate: from its date on, its currency converts at the rate before it (or not at all)."""
    with transaction.atomic():
        exchange_rate.delete()
        _ring()


@dataclass
class RatesImported:
    created: int
    updated: int


def exchange_rates_import(*, text: str, by: User) -> RatesImported:
    """Load the rates of a CSV ``currency,date,rate``, all of them or none.

    A rate for a currency and date already stored is replaced. Raises
    ``RowErrors`` (rows numbered as a spreadsheet shows them) and writes nothing
    when any row is wrong.
    """
    rates, errors = parse_rate_csv(text)
    if errors:
        raise RowErrors(errors)
    with transaction.atomic():
        stored = set(
            ExchangeRate.objects.filter(
                currency__in={rate["currency"] for rate in rates}
            ).values_list("currency", "valid_from")
        )
        ExchangeRate.objects.bulk_create(
            [
                ExchangeRate(currency=r["currency"], valid_from=r["valid_from"], rate=r["rate"])
                for r in rates
            ],
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["currency", "valid_from"],
            update_fields=["rate"],
        )
        _ring()
    updated = sum((rate["currency"], rate["valid_from"]) in stored for rate in rates)
    return RatesImported(created=len(rates) - updated, updated=updated)
