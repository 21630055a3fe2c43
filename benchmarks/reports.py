"""Server time and query count of every report under the Reports menu, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/reports.py --runs 10 [--only SLUG ...] [--as USERNAME] [--period 90d]

Reads the data already in the database (seed it first: ``seed_demo --reset
--deals 100000``) and signs a user in with Django's test client (``manager1``
by default; ``--as admin`` for the whole organisation). For each registered
report it prints the page's median and worst server time, its SQL queries and
their summed time, and the same for its CSV and XLSX exports. The first
request of each row is a warm-up and is not counted. The goal is a page under
300 ms at 100,000 deals.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard import load_average, setup_django, timed_get  # noqa: E402


def timed_export(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    size = sum(len(chunk) for chunk in response.streaming_content)
    assert response.status_code == 200 and size > 0, (path, response.status_code)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="Requests per page (median).")
    parser.add_argument("--only", nargs="*", help="Measure only these report slugs.")
    parser.add_argument("--as", dest="username", default="manager1", help="Who is signed in.")
    parser.add_argument("--period", default="90d", help="The picker's period preset.")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from pipeline.models import Deal
    from reports.catalog import reports_for
    from salesmgr.models import User

    user = User.objects.get(username=args.username)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    reports = [r for r in reports_for(user) if not args.only or r.slug in args.only]
    print(
        f"{Deal.objects.count():,} deals; signed in as {user.username} ({user.role}); "
        f"period {args.period}; load {load_average()}"
    )
    print(
        f"{'report':<34} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CSV ms':>7} {'XLSX ms':>8}"
    )
    for report in reports:
        path = f"/reports/{report.slug}/?period={args.period}"
        timed_get(client, path)  # warm up
        runs = [timed_get(client, path) for _ in range(args.runs)]
        wall = statistics.median(r.wall for r in runs) * 1000
        worst = max(r.wall for r in runs) * 1000
        sql = statistics.median(sum(r.sql) for r in runs) * 1000
        exports = []
        for fmt in ("csv", "xlsx"):
            export = f"/reports/{report.slug}/export.{fmt}?period={args.period}"
            exports.append(statistics.median(timed_export(client, export) for _ in range(3)) * 1000)
        print(
            f"{report.title:<34} {wall:>10.1f} {worst:>8.1f} {len(runs[0].sql):>8} {sql:>7.1f}"
            f" {exports[0]:>7.1f} {exports[1]:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
