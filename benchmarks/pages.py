"""Server time of the pages a manager and a rep open every day, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/pages.py --runs 20 [--no-snapshots] [--profile board-manager]

Reads the data already in the database (seed it first: ``seed_demo --deals N``,
then ``VACUUM ANALYZE``). Unless ``--no-snapshots``, writes fresh snapshots of
every standard scope first, so the dashboard reads them as it does all day.
Then, with Django's test client (signed in, one warm-up request each), it
requests in turn, round after round so that every page sees the same load:

- the board of ``manager1`` (their team) and of ``rep1`` (their own deals);
- the dashboard of ``manager1``;
- the page of ``rep1``'s deal with the longest history and of the account with the most deals
  among ``manager1``'s team's.

It prints per page the median and p95 server time, the median SQL queries,
their summed time and the request's CPU time in this process, and the size of
the HTML, with the load average before and after. ``--profile NAME`` prints
the 25 costliest functions (cumulative) of one more request of that page.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    os.environ["REPORTS_EMBEDDED_RECOMPUTE"] = "false"
    os.environ["REPORTS_RECOMPUTE_ON_CHANGE"] = "false"
    import django

    django.setup()
    # As a served process does (``salesmgr.wsgi``): every view loaded, then left out of the
    # collector's walks, so no request pays a full collection of everything start-up made.
    from salesmgr.startup import settle

    settle()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Request:
    """One request's wall time, its SQL (count and summed time), this process's CPU time, its size."""

    def __init__(self, client, path: str) -> None:
        from django.db import connection

        self.sql = []

        def count(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.sql.append(time.perf_counter() - started)

        cpu, started = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(count):
            response = client.get(path)
        self.wall = time.perf_counter() - started
        self.cpu = time.process_time() - cpu
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}")
        self.size = len(response.content)


def pages() -> list[tuple[str, str, str]]:
    """(name, username, path) of each page measured."""
    from django.db.models import Count

    from pipeline.models import Account, Deal
    from salesmgr.models import User
    from salesmgr.selectors import team_with_self

    rep = User.objects.get(username="rep1")
    manager = User.objects.get(username="manager1")
    deal = (
        Deal.objects.filter(owner=rep, deleted_at__isnull=True)
        .annotate(events=Count("transitions"))
        .order_by("-events", "pk")
        .first()
    )
    account = (
        Account.objects.filter(owner__in=team_with_self(manager), deleted_at__isnull=True)
        .annotate(deal_count=Count("deals"))
        .order_by("-deal_count", "pk")
        .first()
    )
    return [
        ("board-manager", "manager1", "/board/"),
        ("board-rep", "rep1", "/board/"),
        ("dashboard-manager", "manager1", "/dashboard/"),
        ("deal", "manager1", f"/deals/{deal.pk}/"),
        ("account", "manager1", f"/accounts/{account.pk}/"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="Requests per page (median).")
    parser.add_argument(
        "--no-snapshots", action="store_true", help="Keep the snapshots as they are."
    )
    parser.add_argument(
        "--profile", help="Profile one more request of this page (e.g. board-manager)."
    )
    parser.add_argument("--only", help="Comma-separated page names to measure.")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from pipeline.models import Deal
    from reports.models import DirtyScope
    from reports.services import snapshots_compute, standard_scopes
    from salesmgr.models import User

    if not args.no_snapshots:
        snapshots_compute(scopes=standard_scopes())
        DirtyScope.objects.all().delete()

    measured = pages()
    if args.only:
        wanted = set(args.only.split(","))
        measured = [page for page in measured if page[0] in wanted]
    clients = {}
    for _, username, path in measured:
        if username not in clients:
            clients[username] = Client(HTTP_HOST="127.0.0.1")
            clients[username].force_login(User.objects.get(username=username))
        Request(clients[username], path)  # the picker remembers its choice; imports warm up

    before = load_average()
    results: dict[str, list[Request]] = {name: [] for name, _, _ in measured}
    for _ in range(args.runs):
        for name, username, path in measured:
            results[name].append(Request(clients[username], path))
    after = load_average()

    print(
        f"{Deal.objects.count():,} deals; in-process server time; load before {before}, after {after}"
    )
    print(
        f"{'page':<20} {'median ms':>10} {'p95 ms':>7} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7} {'kB':>6} {'runs':>5}"
    )
    for name, _, _ in measured:
        requests = results[name]
        walls = sorted(r.wall * 1000 for r in requests)
        p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
        print(
            f"{name:<20} {statistics.median(walls):>10.0f} {p95:>7.0f} "
            f"{statistics.median(len(r.sql) for r in requests):>8.0f} "
            f"{statistics.median(sum(r.sql) * 1000 for r in requests):>7.0f} "
            f"{statistics.median(r.cpu * 1000 for r in requests):>7.0f} "
            f"{statistics.median(r.size for r in requests) / 1024:>6.0f} {len(requests):>5}"
        )

    if args.profile:
        name, username, path = next(page for page in measured if page[0] == args.profile)
        profiler = cProfile.Profile()
        profiler.enable()
        clients[username].get(path)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
