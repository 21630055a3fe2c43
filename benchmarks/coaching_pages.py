"""Query count and server time of the coaching pages, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/coaching_pages.py --runs 10 [--without-owner-index]

Reads the data already in the database (seed it first: ``seed_demo --reset
--deals 100000``, which seeds the one-on-ones too) and signs ``manager1`` in
with Django's test client. For the rep of manager1's team with the most deals
it prints, per page, the median and worst server time, the SQL queries and
their summed time:

- the one-on-one page of their last held meeting (the agenda read from the deal history as of then)
  and of their next one (as of now);
- the insights page for that rep (as the database stands: from the funnel snapshots where they are
  fresh, live otherwise);
- the coaching hub, the home page's celebrations panel (milestones, shout-outs, streaks and new
  personal bests), ``/api/v1/streaks/`` and ``/api/v1/personal-bests/``.

``--without-owner-index`` drops ``deal_history_owner_as_of_idx`` inside a
transaction for the run and rolls it back afterwards, to show what the index
buys (PostgreSQL only: its DDL is transactional). The first request of each
row is a warm-up and is not counted.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard import load_average, setup_django, timed_get  # noqa: E402

MANAGER = "manager1"


class _Rollback(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="Requests per page (median).")
    parser.add_argument(
        "--without-owner-index",
        action="store_true",
        help="Measure with deal_history_owner_as_of_idx dropped (rolled back afterwards).",
    )
    args = parser.parse_args()
    setup_django()

    from django.db import connection, transaction
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
        ("one-on-one page, last held (as of then)", f"/one-on-ones/{held.pk}/"),
        ("one-on-one page, next (as of now)", f"/one-on-ones/{ahead.pk}/"),
        ("insights page", f"/insights/?rep={rep.pk}&period=90d"),
        ("coaching hub", "/coaching/"),
        ("home celebrations panel", "/home/celebrations/"),
        ("API streaks", "/api/v1/streaks/"),
        ("API personal bests", "/api/v1/personal-bests/"),
    ]
    print(
        f"{Deal.objects.count():,} deals; {rep.username} has {Deal.objects.filter(owner=rep).count():,}; "
        f"signed in as {MANAGER}; owner index {'dropped' if args.without_owner_index else 'in place'}; "
        f"load {load_average()}"
    )
    print(f"{'page':<42} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7}")

    def measure() -> None:
        for label, path in pages:
            timed_get(client, path)  # warm up
            runs = [timed_get(client, path) for _ in range(args.runs)]
            wall = statistics.median(r.wall for r in runs) * 1000
            worst = max(r.wall for r in runs) * 1000
            sql = statistics.median(sum(r.sql) for r in runs) * 1000
            print(f"{label:<42} {wall:>10.1f} {worst:>8.1f} {len(runs[0].sql):>8} {sql:>7.1f}")

    if not args.without_owner_index:
        measure()
        return 0
    if connection.vendor != "postgresql":
        raise SystemExit("--without-owner-index needs PostgreSQL (transactional DDL).")
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX deal_history_owner_as_of_idx")
            measure()
            raise _Rollback
    except _Rollback:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
