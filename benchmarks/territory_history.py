"""What reading an account's territory as it stood at a past moment costs: a territory's as-of forecast
and the grouped backfill.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/territory_history.py [--moved 0.3] [--runs 5] [--dates 8]

Reads the data already in the database (seed it first: ``seed_demo --reset``).
``seed_demo`` loads accounts in bulk, without history; unless the accounts
already have some, the script first gives each its "created" history row and
moves ``--moved`` of them (default 30%) to another territory 120 days ago, as
a realignment then would have (a history row at that moment, the account's
territory changed), so that a past date reads other territories than today's.

It then prints, median of ``--runs`` after one warm-up: the 30, 60 and 90-day
forecasts as of 60 days ago of a top-level territory and of a leaf
(as ``forecast_snapshots_compute`` computes them, the per-scope path), and the live ones of the
same territories; then the grouped pass of every standard scope as of
``--dates`` weekly dates (``grouped.forecasts_as_of``, what the backfill runs
per date), seconds per date, and whether the grouped figures of both
territories equal the per-scope ones on the first date.
"""

import argparse
import datetime
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOVE_REASON = "benchmark realignment"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def prepare_history(share: float, moment: datetime.datetime) -> int:
    """Give every account a "created" history row and move ``share`` of them at ``moment``; returns
    how many moved (0 when the accounts already had history)."""
    from django.db import connection, transaction

    from pipeline.models import Account
    from quotas.models import Territory

    if Account.history.exists():
        return 0
    leaves = list(Territory.objects.filter(children__isnull=True).values_list("pk", flat=True))
    account = Account._meta.db_table
    history = Account.history.model._meta.db_table
    own = {field.column for field in Account._meta.concrete_fields}
    columns = [f.column for f in Account.history.model._meta.concrete_fields if f.column in own]
    names = ", ".join(columns)
    rng = random.Random(7)
    ids = list(Account.objects.values_list("pk", "territory_id"))
    moves = [
        (pk, rng.choice([t for t in leaves if t != territory]))
        for pk, territory in ids
        if rng.random() < share
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {history} ({names}, history_date, history_type) "
            f"SELECT {names}, LEAST(created_at, %s), '+' FROM {account}",
            [moment - datetime.timedelta(days=1)],
        )
        cursor.executemany(
            f"UPDATE {account} SET territory_id = %s WHERE id = %s", [(t, pk) for pk, t in moves]
        )
        cursor.execute(
            f"INSERT INTO {history} ({names}, history_date, history_type, history_change_reason) "
            f"SELECT {names}, %s, '~', %s FROM {account} WHERE id = ANY(%s)",
            [moment, MOVE_REASON, [pk for pk, _ in moves]],
        )
    return len(moves)


def median_seconds(action, runs: int) -> float:
    action()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--moved",
        type=float,
        default=0.3,
        help="Share of accounts moved 120 days ago (default 0.3).",
    )
    parser.add_argument("--runs", type=int, default=5, help="Timed runs per figure (default 5).")
    parser.add_argument(
        "--dates", type=int, default=8, help="Weekly dates of the grouped pass (default 8)."
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print("Set DATABASE_URL to a seeded database of the benchmark's own.", file=sys.stderr)
        return 2
    setup_django()

    from django.db import connection
    from django.utils import timezone

    from pipeline.models import Account, Deal
    from pipeline.scopes import Scope
    from quotas.models import Territory
    from reports.forecasts import FORECAST_FIELDS, HORIZONS, closing_stats, forecast, moment_of
    from reports.grouped import forecasts_as_of
    from reports.services import standard_scopes

    if not Deal.objects.exists():
        print("The database has no deals: run manage.py seed_demo --reset first.", file=sys.stderr)
        return 2
    now = timezone.now()
    moved = prepare_history(args.moved, now - datetime.timedelta(days=120))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"{Deal.objects.count()} deals, {Account.objects.count()} accounts, "
        f"{Account.history.count()} account history rows ({moved} accounts moved now)"
    )
    top = (
        Territory.objects.filter(parent__isnull=True, children__isnull=False).order_by("pk").first()
    )
    leaf = Territory.objects.filter(children__isnull=True).order_by("pk").first()
    past = timezone.localdate(now) - datetime.timedelta(days=60)

    def forecasts(scope, day):
        """The three horizons as a scope's snapshots compute them: one training, shared."""
        moment, live = moment_of(day, now)
        training = closing_stats(scope, moment, live)
        return [forecast(scope, day, h, now=now, training=training) for h in HORIZONS]

    for territory in (top, leaf):
        scope = Scope(territory=territory.pk)
        for label, day in (("as of 60 days ago", past), ("live", timezone.localdate(now))):
            seconds = median_seconds(lambda s=scope, d=day: forecasts(s, d), args.runs)
            print(
                f"territory {territory.name!r} ({scope.key}), 30/60/90-day forecasts {label}: {seconds * 1000:.0f} ms"
            )

    scopes = standard_scopes()
    first = past - datetime.timedelta(days=7 * (args.dates - 1))
    per_date = []
    results = None
    for index in range(args.dates):
        day = first + datetime.timedelta(days=7 * index)
        began = time.perf_counter()
        found = forecasts_as_of(scopes, as_of=day, now=now)
        per_date.append(time.perf_counter() - began)
        results = results or found
    print(
        f"grouped pass, {len(scopes)} standard scopes: median {statistics.median(per_date):.2f} s per date, "
        f"max {max(per_date):.2f} s over {args.dates} dates"
    )
    same = all(
        [results[scope.key][i][f] for i in range(len(HORIZONS)) for f in FORECAST_FIELDS]
        == [figures[f] for figures in forecasts(scope, first) for f in FORECAST_FIELDS]
        for scope in (Scope(territory=top.pk), Scope(territory=leaf.pk))
    )
    print(f"grouped equals per-scope for both territories on {first}: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
