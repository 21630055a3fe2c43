"""What SQLite, the embedded default, lacks of PostgreSQL's SQL that the app uses.

Registered on every new SQLite connection (``SalesmgrConfig.ready``); a query
names them only on SQLite (an expression's ``as_sqlite``).
"""

import json
import statistics

from django.db import connection

MEDIAN = "SALESMGR_MEDIAN"


class _Median:
    """The median of a group's non-null values, as PostgreSQL's ``PERCENTILE_CONT(0.5)``: the mean
    of the two middle values of an even count; NULL for no values."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return float(statistics.median(self.values)) if self.values else None


def sqlite_functions_register(sender, connection, **kwargs) -> None:
    """Give a new SQLite connection the functions above (connected to ``connection_created``)."""
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate(MEDIAN, 1, _Median)


def ids_among(ids, placeholder: str = "%s") -> tuple[str, object]:
    """What follows a column to keep the rows whose value is one of ``ids``, and its one parameter:
    ``= ANY(<array>)`` on PostgreSQL, ``IN`` the values of a JSON list on SQLite (no arrays)."""
    ids = [int(pk) for pk in ids]
    if connection.vendor == "postgresql":
        return f"= ANY({placeholder})", ids
    return f"IN (SELECT value FROM json_each({placeholder}))", json.dumps(ids)
