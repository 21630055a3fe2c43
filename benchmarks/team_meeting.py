"""How long a team meeting's pages take on the server, measured in-process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/team_meeting.py --runs 10

Reads the data already in the database (seed it first: ``seed_demo --deals N``,
which seeds the team meetings too) and signs ``manager1`` in with Django's test
client. For their team it prints, per page, the median and worst server time,
the SQL queries and their summed time and this process's CPU time:

- the page of their last held team meeting (the agenda read from the deal history as of then);
- the page of their next one (the agenda as of now);
- the last held one through the API (``/api/v1/team-meetings/<id>/``, with its agenda);
- the list of team meetings.
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
    parser.add_argument("--runs", type=int, default=10, help="Requests per page (median).")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from coaching.models import TeamMeeting
    from pipeline.models import Deal
    from salesmgr.models import User
    from salesmgr.selectors import team_member_ids_subquery

    manager = User.objects.get(username=MANAGER)
    meetings = TeamMeeting.objects.filter(manager=manager)
    held = meetings.filter(status="held").order_by("-scheduled_at").first()
    ahead = meetings.filter(status="scheduled").order_by("scheduled_at").first()
    if held is None or ahead is None:
        raise SystemExit("No team meetings: seed with seed_demo (it runs seed_coaching).")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    pages = [
        ("team meeting page, last held", f"/coaching/team-meetings/{held.pk}/"),
        ("team meeting page, next (as of now)", f"/coaching/team-meetings/{ahead.pk}/"),
        ("API team meeting with agenda, last held", f"/api/v1/team-meetings/{held.pk}/"),
        ("list of team meetings", "/coaching/team-meetings/"),
    ]
    team_deals = Deal.objects.filter(owner_id__in=team_member_ids_subquery(manager.pk)).count()
    print(
        f"{Deal.objects.count():,} deals; {MANAGER}'s team has {team_deals:,}; "
        f"{TeamMeeting.objects.count():,} team meetings; load {load_average()}"
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
