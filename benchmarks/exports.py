"""Time and peak memory of the CSV and XLSX exports at 10k, 100k and 1M rows: memory must not grow with rows.

    .venv/bin/python benchmarks/exports.py [--rows 10000 100000 1000000] [--only csv xlsx view-csv ...]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/exports.py --only deals      # the deal list's export, read-only

Every measurement runs in a child process of its own, so each peak is its
own: the child loads Django, warms up on a few rows, notes its peak resident
memory (``ru_maxrss``), streams the export into nothing, and reports the
time, the bytes written and how far the peak rose over the warm-up
("growth"). Flat growth from 10k to 1M rows is what "streams" means here.
``--tracemalloc`` also reports Python's traced peak of the run itself (about
three times slower).

Cases (rows are generated: a name, a count, money, a share and a date):

- ``csv``, ``xlsx``: the writers of ``reports/catalog/exports.py`` on a generator of rows.
- ``view-csv``, ``view-xlsx``: the real report export view, ``/reports/<slug>/export.csv|xlsx``,
  of a report (registered here only) whose ``export_rows`` yields the generated rows.
- ``deals``: the deal list's ``/deals/export.csv`` over the database's deals, as the rep with
  the most deals and as an admin (all of them), every date; reads only.
"""

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

GENERATED = ("csv", "xlsx", "view-csv", "view-xlsx")
CASES = (*GENERATED, "deals")
BENCH_SLUG = "bench-many-rows"
WARM_UP = 200


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generated_rows(count: int):
    """``count`` rows made on the fly, never held: what a report's server-side cursor would yield."""
    first = datetime.date(2026, 1, 1)
    for n in range(count):
        yield {
            "name": f"Deal {n:07d} of Account {n % 9973}",
            "deals": n % 50,
            "value": Decimal(n % 100000) + Decimal("0.25"),
            "share": (n % 1000) / 1000,
            "day": first + datetime.timedelta(days=n % 365),
        }


def columns():
    from reports.catalog import Column

    return [
        Column("name", "Name"),
        Column("deals", "Deals", "int"),
        Column("value", "Value", "money"),
        Column("share", "Share", "percent"),
        Column("day", "Day", "date"),
    ]


def drain(response) -> int:
    """Read a response the way a server does, chunk by chunk, keeping none; the bytes it held."""
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    if hasattr(response, "close"):
        response.close()
    return size


def bench_request(path: str, user):
    """A GET of ``path`` by ``user`` as the view sees it (no test client: it would copy the body)."""
    from django.contrib.sessions.backends.signed_cookies import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get(path)
    request.user = user
    request.session = SessionStore()  # in memory: nothing is written anywhere
    return request


def register_bench_report(rows_for):
    from reports.catalog import REPORTS, Report

    class ManyRows(Report):
        slug = BENCH_SLUG
        title = "Many rows"
        roles = ("admin",)

        def export_rows(self, user, pick, today, **options):
            return columns(), rows_for()

    REPORTS[BENCH_SLUG] = ManyRows()


def run_generated(case: str, count: int) -> int:
    """One export of ``count`` generated rows by ``case``; the bytes written."""
    from reports.catalog.exports import csv_response, write_xlsx, xlsx_response
    from reports.catalog.views import report_export
    from salesmgr.models import User

    if case == "csv":
        return drain(csv_response(columns(), generated_rows(count), "bench"))
    if case == "xlsx":
        with tempfile.NamedTemporaryFile(suffix=".xlsx") as target:
            write_xlsx(columns(), generated_rows(count), "Bench", target.name)
            spool = xlsx_response(columns(), generated_rows(0), "bench", "Bench")
            drain(spool)
            return os.path.getsize(target.name)
    register_bench_report(lambda: generated_rows(count))
    admin = User(username="bench-admin", role="admin")  # never saved: the view only reads its role
    fmt = case.removeprefix("view-")
    path = f"/reports/{BENCH_SLUG}/export.{fmt}"
    response = report_export(bench_request(path, admin), slug=BENCH_SLUG, fmt=fmt)
    assert response.status_code == 200, response.status_code
    return drain(response)


def run_deals(who: str) -> tuple[int, int]:
    """The deal list's CSV export as ``who`` (``rep``: the rep with most deals; ``admin``); rows and bytes."""
    from django.db.models import Count

    from pipeline.views.deals import deal_export
    from salesmgr.models import User

    if who == "admin":
        user = User.objects.filter(role="admin").order_by("pk").first()
    else:
        user = (
            User.objects.filter(role="rep").annotate(n=Count("deals")).order_by("-n", "pk").first()
        )
    path = "/deals/export.csv?period=custom&start=2000-01-01&end=2099-12-31"
    response = deal_export(bench_request(path, user))
    size, lines = 0, 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    return lines - 1, size


def child(case: str, count: int, traced: bool) -> None:
    """Measure one case in this (fresh) process and print the figures as one JSON line."""
    from dashboard import setup_django

    setup_django()
    if case == "deals":
        run_deals("rep")  # warm-up: imports, connection, the first query plan
    else:
        run_generated(case, WARM_UP)
    before = peak_mb()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    if case == "deals":
        count, size = run_deals("admin" if count else "rep")
    else:
        size = run_generated(case, count)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else None
    after = peak_mb()
    print(
        json.dumps(
            {
                "case": case,
                "rows": count,
                "seconds": seconds,
                "bytes": size,
                "peak_mb": after,
                "growth_mb": after - before,
                "traced_mb": traced_peak,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--only", nargs="*", choices=CASES, default=list(GENERATED))
    parser.add_argument("--tracemalloc", action="store_true", help="Also trace Python's peak.")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.tracemalloc)
        return 0

    print(f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(
        f"{'case':<10} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'MB out':>8} "
        f"{'peak MB':>8} {'growth MB':>9}" + (f" {'traced MB':>9}" if args.tracemalloc else "")
    )
    for case in args.only:
        # The deal export's rows are the database's: one rep's deals, then everyone's.
        counts = [0, 1] if case == "deals" else args.rows
        for count in counts:
            command = [sys.executable, __file__, "--child", case, str(count)]
            if args.tracemalloc:
                command.append("--tracemalloc")
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{case} {count}: failed\n{done.stderr[-2000:]}")
                return 1
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            line = (
                f"{case:<10} {figures['rows']:>10,} {figures['seconds']:>8.1f} "
                f"{figures['rows'] / max(figures['seconds'], 1e-9):>9,.0f} "
                f"{figures['bytes'] / 2**20:>8.1f} {figures['peak_mb']:>8.1f} {figures['growth_mb']:>9.1f}"
            )
            if args.tracemalloc:
                line += f" {figures['traced_mb']:>9.1f}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
