"""What SQLite, the embedded default, lacks of PostgreSQL's SQL that the app uses.

Registered on every new SQLite connection (``SalesmgrConfig.ready``); a query
names them only on SQLite (an expression's ``as_sqlite``).
"""

import statistics

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
