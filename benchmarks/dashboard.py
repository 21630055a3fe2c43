"""How long the dashboard takes on the server in each state of its snapshots, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/dashboard.py --runs 20

Reads the data already in the database (seed it first: ``seed_demo --deals N``)
and signs a manager of the demo organisation in with Django's test client. For
the manager's default dashboard it prints the server time of:

- no snapshot: the first read computes the figures and stores them (one request);
- a new day: only yesterday's snapshots exist (median of ``--runs``);
- fresh: the snapshots are current (median of ``--runs``);
- stale: a deal changed since (median of ``--runs``);
- right after a move: each request follows a deal moved between two open stages;
- and the recompute a change queues (every marked scope, one grouped pass).

The recompute is measured on its own: the embedded one is turned off so that
no thread competes with the requests timed.
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGER = "manager1"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    os.environ["REPORTS_EMBEDDED_RECOMPUTE"] = "false"
    os.environ["REPORTS_RECOMPUTE_ON_CHANGE"] = "false"
    import django

    django.setup()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Request:
    """One request's wall time, the SQL it ran (count and summed time) and this process's CPU time."""

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


def timed_get(client, path: str) -> Request:
    return Request(client, path)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="Requests per state (median).")
    parser.add_argument(
        "--user",
        default=MANAGER,
        help="Whose dashboard: manager1 (a team) or admin (the organisation).",
    )
    args = parser.parse_args()
    setup_django()

    from django.test import Client
    from django.utils import timezone

    from pipeline.models import Deal, Stage, StageKind
    from pipeline.services import deal_move
    from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot
    from reports.services import dirty_scopes_recompute, snapshots_compute, standard_scopes
    from salesmgr.models import User

    manager = User.objects.get(username=args.user)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    path = "/dashboard/"
    timed_get(client, path)  # the picker remembers its choice; imports warm up
    rows = []

    MetricSnapshot.objects.all().delete()
    ForecastSnapshot.objects.filter(actual__isnull=True).delete()
    DirtyScope.objects.all().delete()
    rows.append(("no snapshot (first read computes and stores)", [timed_get(client, path)]))

    MetricSnapshot.objects.all().delete()
    ForecastSnapshot.objects.filter(actual__isnull=True).delete()
    snapshots_compute(scopes=standard_scopes(), now=timezone.now() - datetime.timedelta(days=1))
    DirtyScope.objects.all().delete()
    rows.append(
        ("a new day (yesterday's snapshots)", [timed_get(client, path) for _ in range(args.runs)])
    )

    snapshots_compute(scopes=standard_scopes())
    DirtyScope.objects.all().delete()
    rows.append(("fresh", [timed_get(client, path) for _ in range(args.runs)]))

    deals = Deal.objects.filter(status=StageKind.OPEN, deleted_at__isnull=True)
    if manager.is_manager:
        deals = deals.filter(owner__manager=manager)
    deal = deals.order_by("pk").first()
    open_stages = list(
        Stage.objects.filter(pipeline=deal.pipeline_id, kind=StageKind.OPEN).order_by("order")[:2]
    )
    mover = deal.owner

    def move() -> None:
        nonlocal deal
        target = open_stages[1] if deal.stage_id == open_stages[0].pk else open_stages[0]
        deal = deal_move(deal=deal, to_stage=target, by=mover, expected_version=deal.version)

    move()
    rows.append(("stale", [timed_get(client, path) for _ in range(args.runs)]))

    after_move = []
    for _ in range(args.runs):
        move()
        after_move.append(timed_get(client, path))
    rows.append(("right after a move", after_move))

    marked = DirtyScope.objects.count()
    started = time.perf_counter()
    written = dirty_scopes_recompute()
    recompute = time.perf_counter() - started

    print(
        f"{Deal.objects.count():,} deals; dashboard of {args.user}, in-process, server time; load {load_average()}"
    )
    print(
        f"{'state':<46} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7} {'runs':>5}"
    )
    for name, requests in rows:
        walls = [r.wall * 1000 for r in requests]
        print(
            f"{name:<46} {statistics.median(walls):>10.0f} {max(walls):>8.0f} "
            f"{statistics.median(len(r.sql) for r in requests):>8.0f} "
            f"{statistics.median(sum(r.sql) * 1000 for r in requests):>7.0f} "
            f"{statistics.median(r.cpu * 1000 for r in requests):>7.0f} {len(requests):>5}"
        )
    print(
        f"recompute of the {marked} scopes a move marked ({len(written)} written, one grouped pass): {recompute * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
