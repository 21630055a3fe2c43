"""How long ``backfill_forecasts`` takes: weekly forecasts over a year, grouped against scope by scope.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/backfill.py [--dates 52] [--every 7] [--scopes teams] [--compare 3]

Reads the data already in the database (seed it first: ``seed_demo --reset``)
and rewrites its forecast snapshots of the dates backfilled. For the
organisation and every team (``--scopes teams``, the default) or every
standard scope (``--scopes standard``), it runs ``forecasts_backfill`` over
``--dates`` dates ``--every`` days apart ending 30 days ago, one grouped pass
per date, and prints the seconds of each date and the total. Then, on the
first ``--compare`` of those dates, it computes the same scopes one at a time
(``forecast_snapshots_compute``, the path the backfill took before it was
grouped), prints its seconds per date and checks that both wrote the same figures.
"""

import argparse
import datetime
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--dates", type=int, default=52, help="How many dates to backfill (default 52)."
    )
    parser.add_argument(
        "--every", type=int, default=7, help="Days between the dates (default 7: weekly)."
    )
    parser.add_argument(
        "--scopes",
        choices=("teams", "standard"),
        default="teams",
        help="teams: the organisation and every team (default); standard: every standard scope.",
    )
    parser.add_argument(
        "--compare",
        type=int,
        default=3,
        help="Dates also computed scope by scope, for comparison (default 3).",
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print("Set DATABASE_URL to a seeded database of the benchmark's own.", file=sys.stderr)
        return 2
    if args.dates < 1 or args.every < 1 or args.compare < 0:
        print("--dates and --every must be at least 1, --compare at least 0.", file=sys.stderr)
        return 2
    setup_django()

    from django.db import connection
    from django.utils import timezone

    from pipeline.models import Deal
    from reports.forecasts import FORECAST_FIELDS
    from reports.models import ForecastSnapshot
    from reports.services import forecast_snapshots_compute, forecasts_backfill, standard_scopes

    deals = Deal.objects.count()
    if not deals:
        print("The database has no deals: run manage.py seed_demo --reset first.", file=sys.stderr)
        return 2
    scopes = standard_scopes()
    if args.scopes == "teams":
        scopes = [scope for scope in scopes if scope.is_organisation or scope.team is not None]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    end = timezone.localdate() - datetime.timedelta(days=30)
    start = end - datetime.timedelta(days=args.every * (args.dates - 1))
    print(
        f"{deals} deals, {len(scopes)} scopes ({args.scopes}), {args.dates} dates every {args.every} days "
        f"from {start} to {end}"
    )

    per_date = []
    started = last = time.perf_counter()

    def lap(day):
        nonlocal last
        now = time.perf_counter()
        per_date.append(now - last)
        last = now

    written = forecasts_backfill(start=start, end=end, scopes=scopes, every=args.every, on_day=lap)
    total = time.perf_counter() - started
    print(
        f"grouped: {written} snapshots in {total:.1f} s (maturing included); per date median "
        f"{statistics.median(per_date):.2f} s, max {max(per_date):.2f} s"
    )

    def figures(day):
        rows = ForecastSnapshot.objects.filter(scope_key__in=[s.key for s in scopes], as_of=day)
        return {
            (row.scope_key, row.horizon): [getattr(row, f) for f in FORECAST_FIELDS] for row in rows
        }

    alone_times = []
    for index in range(min(args.compare, args.dates)):
        day = start + datetime.timedelta(days=args.every * index)
        grouped = figures(day)
        began = time.perf_counter()
        for scope in scopes:
            forecast_snapshots_compute(scope=scope, as_of=day)
        alone_times.append(time.perf_counter() - began)
        same = figures(day) == grouped
        print(
            f"  {day}: grouped {per_date[index]:.2f} s, scope by scope {alone_times[-1]:.2f} s "
            f"({alone_times[-1] / len(scopes):.2f} s per scope), same figures: {'yes' if same else 'NO'}"
        )
        if not same:
            return 1
    if alone_times:
        mean = statistics.mean(alone_times)
        print(
            f"scope by scope: {mean:.2f} s per date, about {mean * args.dates:.0f} s for the {args.dates} dates"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
