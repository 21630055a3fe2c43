"""How long the coaching-session pages take on the server, measured in-process, and how long the demo's
year of sessions takes to seed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/coaching_sessions.py --runs 20

Reads the data already in the database (seed it first: ``seed_demo --deals N``,
which seeds the sessions too) and signs ``manager1`` in with Django's test
client. Prints, per page, the median and worst server time, the SQL queries and
their summed time and this process's CPU time: the list of sessions, the page
of the newest held stage session (evidence and before-and-after), and the same
session through the API. Then seeds the sessions again inside a transaction it
rolls back, and prints how long that took.
"""

import argparse
import random
import statistics
import sys
import time
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

    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from coaching.demo_sessions import seed_sessions
    from coaching.models import CoachingSession
    from pipeline.models import Deal
    from salesmgr.models import User

    manager = User.objects.get(username=MANAGER)
    session = (
        CoachingSession.objects.filter(rep__manager=manager, status="held", focus="stage")
        .order_by("-scheduled_on")
        .first()
    )
    if session is None:
        raise SystemExit("No coaching sessions: seed with seed_demo (it runs seed_coaching).")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    pages = [
        ("list of sessions", "/coaching/sessions/"),
        ("session page, held, stage focus", f"/coaching/sessions/{session.pk}/"),
        ("API session with before/after", f"/api/v1/coaching-sessions/{session.pk}/"),
    ]
    print(
        f"{Deal.objects.count():,} deals; {CoachingSession.objects.count():,} sessions; "
        f"signed in as {MANAGER}; load {load_average()}"
    )
    print(
        f"{'page':<40} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7}"
    )
    for label, path in pages:
        timed_get(client, path)  # warm up
        runs = [timed_get(client, path) for _ in range(args.runs)]
        wall = statistics.median(r.wall for r in runs) * 1000
        worst = max(r.wall for r in runs) * 1000
        sql = statistics.median(sum(r.sql) for r in runs) * 1000
        cpu = statistics.median(r.cpu for r in runs) * 1000
        print(
            f"{label:<40} {wall:>10.1f} {worst:>8.1f} {len(runs[0].sql):>8} {sql:>7.1f} {cpu:>7.1f}"
        )
    with transaction.atomic():
        CoachingSession.objects.all().delete()
        started = time.perf_counter()
        count = seed_sessions(random.Random(42), today=timezone.localdate())
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    print(f"seeding {count} sessions with their evidence: {seconds:.2f} s (rolled back)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
