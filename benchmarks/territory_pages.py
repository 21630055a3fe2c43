"""How long the territory pages take on the server, measured in-process with Django's test client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/territory_pages.py --runs 10

Reads the data already in the database (seed it first: ``seed_demo --deals N``).
Prints, as median and max of ``--runs`` with the SQL queries each ran and their
summed time: the territory tree for the admin and for ``manager1``; the
territory with the most accounts, for the admin (rules, editor, handover
log); and a rules-editor preview of adding a rule to it, which plans the
realignment over every account and writes nothing.
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


def timed(send) -> tuple[float, int, float]:
    """One request: wall seconds, queries, and seconds spent in SQL."""
    from django.db import connection

    spent: list[float] = []

    def count(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent.append(time.perf_counter() - started)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        response = send()
    wall = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"answered {response.status_code}")
    return wall, len(spent), sum(spent)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="Requests per row (median).")
    args = parser.parse_args()
    setup_django()

    from django.db.models import Count
    from django.test import Client

    from pipeline.models import Account, Deal
    from quotas.models import Territory
    from salesmgr.models import User

    admin = User.objects.filter(role="admin").order_by("pk").first()
    manager = User.objects.get(username="manager1")
    busiest = Territory.objects.annotate(held=Count("accounts")).order_by("-held", "pk").first()
    clients = {}
    for user in (admin, manager):
        clients[user.username] = Client(HTTP_HOST="127.0.0.1")
        clients[user.username].force_login(user)
    admin_client, manager_client = clients[admin.username], clients[manager.username]
    detail = f"/territories/{busiest.pk}/"
    preview = f"/territories/{busiest.pk}/rules/preview/"
    rows = [
        ("tree, admin", lambda: admin_client.get("/territories/")),
        ("tree, manager1", lambda: manager_client.get("/territories/")),
        (f"detail of {busiest.name}, admin", lambda: admin_client.get(detail)),
        (
            f"preview: add a rule to {busiest.name}",
            lambda: admin_client.post(preview, {"op": "add", "priority": "1", "countries": "DE"}),
        ),
    ]
    print(
        f"{Deal.objects.count():,} deals, {Account.objects.count():,} accounts, "
        f"{Territory.objects.count()} territories; load average "
        + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    )
    print(f"{'request':44} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7}")
    for label, send in rows:
        send()  # warm up
        runs = [timed(send) for _ in range(args.runs)]
        walls = [wall for wall, _, _ in runs]
        print(
            f"{label:44} {statistics.median(walls) * 1000:10.0f} {max(walls) * 1000:8.0f} "
            f"{runs[0][1]:8d} {statistics.median(sql for _, _, sql in runs) * 1000:7.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
