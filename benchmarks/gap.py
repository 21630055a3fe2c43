"""The gap page's server time at each scope and period, from fresh snapshots, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/gap.py --runs 20

Reads the data already in the database (seed it first: ``seed_demo --deals N``),
writes fresh snapshots of every standard scope, then for each scope (a rep's
own page, a manager's default team page, the admin on a manager's team, the
admin on a territory, the admin on the whole organisation) and each period
(month, quarter, year) requests ``/gap/`` with Django's test client and prints
the median and p95 server time, the median SQL queries, their summed time and
the request's CPU time in this process (which the load of a shared machine
swells less than the wall time), and the load average; then what the recompute pays to keep the gap's deal
figures beside a scope's snapshots. ``--api`` times ``/api/v1/gap/`` instead
of the page.
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
    os.environ["REPORTS_EMBEDDED_RECOMPUTE"] = "false"
    os.environ["REPORTS_RECOMPUTE_ON_CHANGE"] = "false"
    import django

    django.setup()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed_get(client, path: str, params: dict) -> tuple[float, list[float], float]:
    """One request's wall time, the time of each SQL query it ran and this process's CPU time."""
    from django.db import connection

    queries = []

    def count(execute, sql, sql_params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, sql_params, many, context)
        finally:
            queries.append(time.perf_counter() - started)

    cpu, started = time.process_time(), time.perf_counter()
    with connection.execute_wrapper(count):
        response = client.get(path, params)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if response.status_code != 200:
        raise SystemExit(f"{path} {params} answered {response.status_code}")
    return wall, queries, cpu


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="Requests per scope and period.")
    parser.add_argument("--api", action="store_true", help="Time /api/v1/gap/ instead of the page.")
    parser.add_argument(
        "--no-snapshots", action="store_true", help="Keep the snapshots already there."
    )
    args = parser.parse_args()
    setup_django()

    from django.db.models import Count
    from django.test import Client

    from pipeline.models import Deal
    from quotas.models import Territory
    from reports.models import DirtyScope
    from reports.services import snapshots_compute, standard_scopes
    from salesmgr.models import Role, User

    rep = User.objects.filter(username="rep1").first() or User.objects.filter(role=Role.REP).first()
    manager = (
        User.objects.filter(username="manager1").first()
        or User.objects.filter(role=Role.MANAGER).first()
    )
    admin = (
        User.objects.filter(username="admin").first()
        or User.objects.filter(role=Role.ADMIN).first()
    )
    # A territory at the top of the tree: its scope walks every territory inside it.
    territory = (
        Territory.objects.filter(parent__isnull=True)
        .annotate(inside=Count("children"))
        .order_by("-inside", "pk")
        .first()
    )
    if not args.no_snapshots:
        started = time.perf_counter()
        snapshots_compute(scopes=standard_scopes())
        DirtyScope.objects.all().delete()
        print(
            f"fresh snapshots of every standard scope written in {time.perf_counter() - started:.1f} s"
        )

    if args.api:
        path = "/api/v1/gap/"
        cases = [
            (f"rep ({rep.username})", rep, {"owner": rep.pk}),
            (f"manager ({manager.username}, team)", manager, {}),
            (f"team (admin on {manager.username})", admin, {"team": manager.pk}),
            (f"territory (admin on {territory.name})", admin, {"territory": territory.pk}),
            ("organisation (admin)", admin, {}),
        ]
        period_param = "period"
    else:
        path = "/gap/"
        cases = [
            (f"rep ({rep.username})", rep, {"scope": "me"}),
            (
                f"manager ({manager.username}, team)",
                manager,
                {"scope": "team", "scope_id": manager.pk},
            ),
            (
                f"team (admin on {manager.username})",
                admin,
                {"scope": "team", "scope_id": manager.pk},
            ),
            (
                f"territory (admin on {territory.name})",
                admin,
                {"scope": "territory", "scope_id": territory.pk},
            ),
            ("organisation (admin)", admin, {"scope": "team"}),
        ]
        period_param = "span"

    clients = {}
    for user in (rep, manager, admin):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        clients[user.pk] = client

    print(
        f"{Deal.objects.count():,} deals; {path} in-process, server time, fresh snapshots; load {load_average()}"
    )
    print(
        f"{'scope':<40} {'period':<8} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7} {'runs':>5}"
    )
    for label, user, params in cases:
        client = clients[user.pk]
        for period in ("month", "quarter", "year"):
            query = {**params, period_param: period}
            timed_get(client, path, query)  # warm up: imports, the picker's memory, the cache
            results = [timed_get(client, path, query) for _ in range(args.runs)]
            walls = [wall * 1000 for wall, _, _ in results]
            print(
                f"{label:<40} {period:<8} {statistics.median(walls):>10.0f} {p95(walls):>8.0f} "
                f"{statistics.median(len(q) for _, q, _ in results):>8.0f} "
                f"{statistics.median(sum(q) * 1000 for _, q, _ in results):>7.0f} "
                f"{statistics.median(cpu * 1000 for _, _, cpu in results):>7.0f} {len(results):>5}"
            )
    from django.utils import timezone

    from pipeline.scopes import Scope
    from reports.runners.gap import gap_deal_figures, gap_deal_figures_grouped

    print(
        "what the recompute adds: the gap's deal figures of one scope (two queries), then of every scope at once"
    )
    scopes = [
        (f"rep ({rep.username})", Scope(owner=rep.pk)),
        (f"team ({manager.username})", Scope(team=manager.pk)),
        (f"territory ({territory.name})", Scope(territory=territory.pk)),
        ("organisation", Scope()),
    ]
    for label, scope in scopes:
        times = []
        for _ in range(max(3, args.runs // 4)):
            started = time.perf_counter()
            gap_deal_figures(scope, timezone.localdate())
            times.append((time.perf_counter() - started) * 1000)
        print(f"{label:<40} median {statistics.median(times):>6.0f} ms, max {max(times):>6.0f} ms")
    every = [scope for scope in standard_scopes() if scope.product is None]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        gap_deal_figures_grouped(every, timezone.localdate())
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"{f'all {len(every)} standard scopes, one grouped pass':<40} median {statistics.median(times):>6.0f} ms, "
        f"max {max(times):>6.0f} ms"
    )
    print(f"load {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
