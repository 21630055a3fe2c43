"""How long the training pages take on the server, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/training.py --runs 20

Reads the data already in the database (seed it first: ``seed_demo --deals N``,
which seeds the training year too). For ``manager1`` (a team of two levels) and
the admin (everyone) it prints, per page, the median and worst server time, the
SQL queries and their summed time and this process's CPU time: the training
matrix page, the matrix filtered to certifications, the mentoring list, the
course-assignments API list, and a rep's home training panel.
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
    parser.add_argument("--runs", type=int, default=20, help="Requests per page (median).")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from coaching.models import Assignment, Course
    from salesmgr.models import User

    if not Assignment.objects.exists():
        raise SystemExit("No training: seed with seed_demo (it runs seed_coaching).")
    rep = User.objects.filter(role="rep", course_assignments__isnull=False).order_by("pk").first()
    print(
        f"{Course.objects.count()} courses, {Assignment.objects.count():,} assignments, "
        f"{User.objects.count()} people; load {load_average()}"
    )
    print(
        f"{'who':<9} {'page':<38} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'CPU ms':>7}"
    )
    for username, pages in [
        ("manager1", ["/coaching/training/", "/coaching/training/?kind=certification",
                      "/coaching/mentorships/", "/api/v1/course-assignments/"]),
        ("admin", ["/coaching/training/", "/api/v1/course-assignments/"]),
        (rep.username, ["/home/training/", "/coaching/training/"]),
    ]:  # fmt: skip
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(username=username))
        for path in pages:
            timed_get(client, path)  # warm up
            runs = [timed_get(client, path) for _ in range(args.runs)]
            wall = statistics.median(r.wall for r in runs) * 1000
            worst = max(r.wall for r in runs) * 1000
            sql = statistics.median(sum(r.sql) for r in runs) * 1000
            cpu = statistics.median(r.cpu for r in runs) * 1000
            print(
                f"{username:<9} {path:<38} {wall:>10.1f} {worst:>8.1f} {len(runs[0].sql):>8} "
                f"{sql:>7.1f} {cpu:>7.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
