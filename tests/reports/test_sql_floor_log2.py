"""``FloorLog2``: the size band of an amount, exact on either side of every power of two."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import DecimalField, Value
from django.db.models.sql import Query

from reports.sql import FloorLog2

pytestmark = pytest.mark.django_db


def _exact(value: Decimal) -> int:
    """floor(log2(value)) by comparing with whole powers of two (no floating point)."""
    band = 0
    while Decimal(2) ** band > value:
        band -= 1
    while Decimal(2) ** (band + 1) <= value:
        band += 1
    return band


def _values() -> list[Decimal]:
    """Amounts a cent and a hair (10^-12, a converted amount's last place) either side of powers
    of two from 2^-3 to 2^45 and at them, and a few plain ones."""
    values = [Decimal("0.01"), Decimal("3.14"), Decimal("12345.67"), Decimal("999999.99")]
    for power in range(-3, 46):
        exact = Decimal(2) ** power
        for step in ("-0.01", "-1e-12", "0", "1e-12", "0.01"):
            value = exact + Decimal(step)
            if value > 0:
                values.append(value.quantize(Decimal("1e-12")))
    return values


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's logarithm is the double alone"
)
def test_the_size_band_is_exact_next_to_every_power_of_two():
    """The double-precision logarithm is only trusted away from a whole number: a hair below a
    power of two rounds to the power itself in double precision and must still fall below it."""
    values = _values()
    field = DecimalField(max_digits=40, decimal_places=12)
    compiler = Query(None).get_compiler(connection=connection)
    columns, params = [], []
    for value in values:
        sql, column_params = compiler.compile(FloorLog2(Value(value, output_field=field)))
        columns.append(sql)
        params.extend(column_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}", params)
        bands = list(cursor.fetchone())

    assert len(values) > 240
    assert bands == [_exact(value) for value in values]
