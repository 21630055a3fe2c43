"""What the rollups' triggers cost the writes, one row and many, on an existing database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_1m \\
        .venv/bin/python benchmarks/triggers.py [--singles 20] [--deals 3000] [--accounts 1000]

Every write runs in a transaction that is rolled back: the database is left as it was. In one
session, as a web or worker process keeps its connection, it times ``--singles`` one-deal
hand-overs, one-deal stage changes and one-deal wins, then ``--deals`` deals handed over in one
statement and ``--accounts`` accounts moved to another territory in one statement (a
realignment's batch); the bulk writes come after the single ones on purpose, as that is where a
plan kept from a one-row firing would be reused for thousands of rows. Then the same again with
the rollup triggers disabled (inside the transaction only), the yardstick: the write alone. It
prints the median of each, the ratio and the machine load.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _timed(cursor, sql: str, params=()) -> float:
    started = time.perf_counter()
    cursor.execute(sql, params)
    return (time.perf_counter() - started) * 1000


def measure(cursor, args, *, triggers: bool) -> dict[str, float]:
    """The writes' times in ms, in one transaction rolled back at the end."""
    from reports import rollups

    cursor.execute("BEGIN")
    try:
        if not triggers:
            for table, name in rollups.TRIGGER_NAMES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        cursor.execute(
            "SELECT id, owner_id FROM pipeline_deal WHERE status = 'open' AND deleted_at IS NULL "
            "ORDER BY id LIMIT %s",
            [args.singles],
        )
        deals = cursor.fetchall()
        cursor.execute(
            "SELECT owner_id FROM pipeline_deal GROUP BY owner_id ORDER BY count(*) DESC LIMIT 2"
        )
        big, other = (row[0] for row in cursor.fetchall())
        times: dict[str, list[float]] = {"hand-over": [], "stage change": [], "win": []}
        for pk, _owner in deals:
            times["hand-over"].append(
                _timed(cursor, "UPDATE pipeline_deal SET owner_id = %s WHERE id = %s", [other, pk])
            )
            times["stage change"].append(
                _timed(
                    cursor, "UPDATE pipeline_deal SET stage_entered_at = now() WHERE id = %s", [pk]
                )
            )
            times["win"].append(
                _timed(
                    cursor,
                    "UPDATE pipeline_deal SET status = 'won', closed_at = now() WHERE id = %s",
                    [pk],
                )
            )
        result = {name: statistics.median(values[1:]) for name, values in times.items()}
        result[f"{args.deals:,} deals handed over"] = _timed(
            cursor,
            "UPDATE pipeline_deal SET owner_id = %s WHERE id IN "
            "(SELECT id FROM pipeline_deal WHERE owner_id = %s ORDER BY id LIMIT %s)",
            [other, big, args.deals],
        )
        result[f"{args.accounts:,} accounts moved"] = _timed(
            cursor,
            "UPDATE pipeline_account SET territory_id = (SELECT min(id) FROM quotas_territory) "
            "WHERE id IN (SELECT id FROM pipeline_account ORDER BY id DESC LIMIT %s)",
            [args.accounts],
        )
        return result
    finally:
        cursor.execute("ROLLBACK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--deals", type=int, default=3000)
    parser.add_argument("--accounts", type=int, default=1000)
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        print("needs PostgreSQL (DATABASE_URL=postgres://...)")
        return 2
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    print(f"load before: {load_average()}")
    with raw.cursor() as cursor:
        with_triggers = measure(cursor, args, triggers=True)
    # A new session, so neither run inherits the other's plans.
    connection.close()
    connection.ensure_connection()
    raw = connection.connection
    raw.autocommit = True
    with raw.cursor() as cursor:
        alone = measure(cursor, args, triggers=False)
    print(f"{'write':<28} {'with rollups':>13} {'write alone':>12} {'ratio':>7}")
    for name, ms in with_triggers.items():
        print(f"{name:<28} {ms:>10.1f} ms {alone[name]:>9.1f} ms {ms / alone[name]:>6.2f}x")
    print(f"load after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
