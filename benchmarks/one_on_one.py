"""How long a one-on-one's pages take on the server, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/one_on_one.py --runs 20

Reads the data already in the database (seed it first: ``seed_demo --deals N``,
which seeds the one-on-ones too) and signs ``manager1`` in with Django's test
client. For the rep of manager1's team with the most deals it prints, per page,
the median and worst server time, the SQL queries and their summed time and
this process's CPU time:

- the meeting page of their last held one-on-one (the agenda read from the deal history as of then);
- the meeting page of their next one (the agenda as of now);
- the same meeting through the API (``/api/v1/one-on-ones/<id>/``, with its agenda);
- the list of one-on-ones.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard import load_average, setup_django, timed_get  # noqa: E402

MANAGER = "manager1"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="Requests per page (median).")
    args = parser.parse_args()
    setup_django()

    from django.db.models import Count
    from django.test import Client

    from coaching.models import OneOnOne
    from pipeline.models import Deal
    from salesmgr.models import User

    manager = User.objects.get(username=MANAGER)
    rep = (
        User.objects.filter(manager=manager, role="rep")
        .annotate(deal_count=Count("deals"))
        .order_by("-deal_count", "pk")
        .first()
    )
    meetings = OneOnOne.objects.filter(series__rep=rep, series__manager=manager)
    held = meetings.filter(status="held").order_by("-scheduled_at").first()
    ahead = meetings.filter(status="scheduled").order_by("scheduled_at").first()
    if held is None or ahead is None:
        raise SystemExit("No one-on-ones: seed with seed_demo (it runs seed_coaching).")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    pages = [
        ("meeting page, last held (history as of then)", f"/one-on-ones/{held.pk}/"),
        ("meeting page, next (as of now)", f"/one-on-ones/{ahead.pk}/"),
        ("API meeting with agenda, last held", f"/api/v1/one-on-ones/{held.pk}/"),
        ("list of one-on-ones", "/one-on-ones/"),
    ]
    rep_deals = Deal.objects.filter(owner=rep).count()
    print(
        f"{Deal.objects.count():,} deals; {rep.username} has {rep_deals:,}; "
        f"{OneOnOne.objects.count():,} meetings; signed in as {MANAGER}; load {load_average()}"
    )
    print(
        f"{'page':<48} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7}"
    )
    for label, path in pages:
        timed_get(client, path)  # warm up
        runs = [timed_get(client, path) for _ in range(args.runs)]
        wall = statistics.median(r.wall for r in runs) * 1000
        worst = max(r.wall for r in runs) * 1000
        sql = statistics.median(sum(r.sql) for r in runs) * 1000
        cpu = statistics.median(r.cpu for r in runs) * 1000
        print(
            f"{label:<48} {wall:>10.1f} {worst:>8.1f} {len(runs[0].sql):>8} {sql:>7.1f} {cpu:>7.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
