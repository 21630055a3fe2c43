"""How long the weekly digest takes to build and its preview page to answer, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/digests.py --runs 10

Reads the data already in the database (seed it first: ``seed_demo --deals N``). For
``manager1`` (a team), ``admin`` (the organisation) and the first rep of ``manager1``'s team it
prints the median and worst server time of the preview page (``/coaching/digest/``, which
builds the whole e-mail), its SQL queries and their summed time and this process's CPU time.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard import load_average, setup_django, timed_get  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="Requests per person (median).")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from pipeline.models import Deal
    from salesmgr.models import User

    manager = User.objects.filter(username="manager1").first()
    admin = User.objects.filter(username="admin").first()
    if manager is None or admin is None:
        raise SystemExit("No demo people: seed with seed_demo.")
    rep = User.objects.filter(manager=manager, role="rep").order_by("pk").first()
    print(f"{Deal.objects.count():,} deals; load {load_average()}")
    print(
        f"{'digest preview':<40} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7}"
    )
    for label, person in (
        ("admin (organisation)", admin),
        ("manager1 (team)", manager),
        (f"{rep.username} (rep)", rep),
    ):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(person)
        timed_get(client, "/coaching/digest/")  # warm up
        runs = [timed_get(client, "/coaching/digest/") for _ in range(args.runs)]
        wall = statistics.median(r.wall for r in runs) * 1000
        worst = max(r.wall for r in runs) * 1000
        sql = statistics.median(sum(r.sql) for r in runs) * 1000
        cpu = statistics.median(r.cpu for r in runs) * 1000
        print(
            f"{label:<40} {wall:>10.1f} {worst:>8.1f} {len(runs[0].sql):>8} {sql:>7.1f} {cpu:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
