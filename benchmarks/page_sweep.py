"""Every page a person opens from the menu, for each role, timed in-process: which miss 150 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_1m \\
        .venv/bin/python benchmarks/page_sweep.py --runs 3 [--only deals] [--over 150] [--api]

Reads the data already in the database (``seed_demo --deals N``, then ``VACUUM ANALYZE``),
with the snapshots as they are. For ``admin``, ``manager1`` and ``rep1`` (signed in with
Django's test client, one warm-up request each) it requests every page without an id in its
address that the role may open (a 403 or a redirect is listed, not timed), the home page's
panels (loaded after it by HTMX), the deals list in each of its sorts, and the reports, ``--runs`` times each, round after round. It prints each
page's median server time, its queries and their summed time, with the load average; ``--over``
lists only the pages slower than that many milliseconds. ``--api`` times the API endpoints issue
14 named instead of the pages (the searches with a common, a middling and a missing term).
"""

import argparse
import statistics
import sys

from pages import Request, load_average, setup_django

# (name, path): the pages of the menu and their usual variants; ids are found below.
PATHS = (
    ("home", "/"),
    ("home panels", "/home/panels/"),
    ("home celebrations", "/home/celebrations/"),
    ("dashboard", "/dashboard/"),
    ("gap", "/gap/"),
    ("board", "/board/"),
    ("deals", "/deals/"),
    *(
        (f"deals sort={sort}", f"/deals/?sort={sort}")
        for sort in (
            "close",
            "-close",
            "amount",
            "-amount",
            "name",
            "-name",
            "created",
            "account",
            "owner",
            "stage",
        )
    ),
    ("deals period=this_year", "/deals/?period=this_year"),
    ("deals q=a", "/deals/?q=a"),
    ("deals status=won", "/deals/?status=won"),
    ("deals page 20", "/deals/?page=20"),
    ("accounts", "/accounts/"),
    ("contacts", "/contacts/"),
    ("insights", "/insights/"),
    ("coaching", "/coaching/"),
    ("one-on-ones", "/one-on-ones/"),
    ("coaching sessions", "/coaching/sessions/"),
    ("training", "/coaching/training/"),
    ("mentorships", "/coaching/mentorships/"),
    ("ride-alongs", "/coaching/ride-alongs/"),
    ("team meetings", "/coaching/team-meetings/"),
    ("digest", "/coaching/digest/"),
    ("hiring", "/coaching/hiring/"),
    ("hiring board", "/coaching/hiring/board/"),
    ("hiring positions", "/coaching/hiring/positions/"),
    ("hiring capacity", "/coaching/hiring/capacity/"),
    ("reports", "/reports/"),
    *(
        (f"report {slug}", f"/reports/{slug}/")
        for slug in (
            "funnel-activity",
            "forecast",
            "commitments",
            "products-sold",
            "rep-scorecards",
            "lost-reasons",
            "team-health",
        )
    ),
    ("report lost-reasons by=stage", "/reports/lost-reasons/?by=stage"),
    ("report lost-reasons by=rep", "/reports/lost-reasons/?by=rep"),
    ("budget", "/budget/"),
    ("compensation", "/compensation/"),
    ("quota planner", "/quotas/planner/"),
    ("territories", "/territories/"),
    ("imports", "/imports/"),
    ("recycle bin", "/recycle-bin/"),
    ("audit log", "/audit-log/"),
)

API_PATHS = (
    ("contacts", "/api/v1/contacts/"),
    *(
        (f"{name} search={term}", f"/api/v1/{name}/?search={term}")
        for name, terms in (
            ("contacts", ("an", "nguyen", "zqx")),
            ("accounts", ("an", "quantum", "zqx")),
            ("deals", ("an", "rollout", "zqx")),
        )
        for term in terms
    ),
    ("accounts", "/api/v1/accounts/"),
    ("deals", "/api/v1/deals/"),
    ("metrics series", "/api/v1/metrics/series/"),
    ("personal-bests", "/api/v1/personal-bests/"),
    ("streaks", "/api/v1/streaks/"),
    ("insights", "/api/v1/insights/"),
)

USERS = ("admin", "manager1", "rep1")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="Requests per page and role.")
    parser.add_argument("--only", help="Only pages whose name contains this.")
    parser.add_argument("--users", default=",".join(USERS), help="Comma-separated usernames.")
    parser.add_argument("--over", type=float, default=0, help="List pages slower than this (ms).")
    parser.add_argument("--api", action="store_true", help="The API endpoints, not the pages.")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from pipeline.models import Deal
    from salesmgr.models import User

    every = API_PATHS if args.api else PATHS
    paths = [(name, path) for name, path in every if not args.only or args.only in name]
    measured, skipped = [], []
    for username in args.users.split(","):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(username=username))
        for name, path in paths:
            response = client.get(path)  # warm-up; the picker remembers nothing here
            if response.status_code != 200:
                skipped.append((username, name, response.status_code))
            else:
                measured.append((username, name, path, client))

    before = load_average()
    results: dict[tuple, list] = {(u, n): [] for u, n, _, _ in measured}
    for _ in range(args.runs):
        for username, name, path, client in measured:
            results[(username, name)].append(Request(client, path))
    after = load_average()

    print(f"{Deal.objects.count():,} deals; in-process; load before {before}, after {after}")
    print(f"{'user':<9} {'page':<28} {'median ms':>10} {'queries':>8} {'SQL ms':>7} {'kB':>6}")
    slow = 0
    for (username, name), requests in results.items():
        median = statistics.median(r.wall * 1000 for r in requests)
        if median < args.over:
            continue
        slow += 1
        print(
            f"{username:<9} {name:<28} {median:>10.0f} "
            f"{statistics.median(len(r.sql) for r in requests):>8.0f} "
            f"{statistics.median(sum(r.sql) * 1000 for r in requests):>7.0f} "
            f"{statistics.median(r.size for r in requests) / 1024:>6.0f}"
        )
    print(f"{slow} of {len(results)} page views at or over {args.over:.0f} ms")
    for username, name, status in skipped:
        print(f"not timed: {username} {name} answered {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
