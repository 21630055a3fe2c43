"""How long the insights page and its API take on the server, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/insights.py --runs 10

Reads the data already in the database (seed it first: ``seed_demo --deals N``)
and signs ``manager1`` of the demo organisation in with Django's test client.
For the rep with the largest team (their manager's reps at any depth) and the
one with the smallest, it prints the median and worst server time of the page
and of ``/api/v1/insights/``, with the queries each ran and their summed time,
in two states: live (no fresh funnel snapshot: the stage figures are computed
from the transitions) and from the snapshots (every rep's written just before,
as the nightly pass does). It deletes and rewrites the snapshots: use a
benchmark database. The first request of each row is a warm-up (imports,
templates) and is not counted.
"""

import argparse
import statistics
import sys

from dashboard import Request, load_average, setup_django

MANAGER = "manager1"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="Requests per row (median).")
    parser.add_argument(
        "--user", default=MANAGER, help="Who asks: a manager (their team's reps) or admin."
    )
    parser.add_argument(
        "--period", default="90d", help="The period preset: 30d, 90d, qtd, ytd, month, quarter."
    )
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from coaching.insights import insight_reps_visible_to, team_of_rep
    from pipeline.models import Deal
    from reports.models import DirtyScope, MetricSnapshot
    from reports.services import snapshots_compute, standard_scopes
    from salesmgr.models import User

    viewer = User.objects.get(username=args.user)
    reps = list(insight_reps_visible_to(viewer).order_by("pk"))
    if not reps:
        raise SystemExit(f"{args.user} sees no rep.")
    sizes = {rep.pk: team_of_rep(rep).count() for rep in reps}
    largest = max(reps, key=lambda rep: (sizes[rep.pk], -rep.pk))
    smallest = min(reps, key=lambda rep: (sizes[rep.pk], rep.pk))
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(viewer)

    rows = []

    def measure(state: str) -> None:
        for rep in dict.fromkeys([largest, smallest]):
            for surface, path in (
                ("page", f"/insights/?rep={rep.pk}&period={args.period}"),
                ("API", f"/api/v1/insights/?rep={rep.pk}&period={args.period}"),
            ):
                Request(client, path)
                requests = [Request(client, path) for _ in range(args.runs)]
                rows.append(
                    (f"{state}, {surface}: {rep.username}, team of {sizes[rep.pk]}", requests)
                )

    MetricSnapshot.objects.all().delete()
    measure("live")
    snapshots_compute(scopes=standard_scopes())
    DirtyScope.objects.all().delete()
    measure("snapshots")

    print(
        f"{Deal.objects.count():,} deals; insights as {args.user}, period {args.period}, in-process, "
        f"server time; load {load_average()}"
    )
    print(
        f"{'request':<44} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7} {'runs':>5}"
    )
    for name, requests in rows:
        walls = [r.wall * 1000 for r in requests]
        print(
            f"{name:<44} {statistics.median(walls):>10.0f} {max(walls):>8.0f} "
            f"{statistics.median(len(r.sql) for r in requests):>8.0f} "
            f"{statistics.median(sum(r.sql) * 1000 for r in requests):>7.0f} "
            f"{statistics.median(r.cpu * 1000 for r in requests):>7.0f} {len(requests):>5}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
