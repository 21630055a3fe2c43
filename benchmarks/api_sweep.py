"""The API endpoints issue 14 named, timed in-process for an admin, ``manager1`` and ``rep1``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_1m \\
        .venv/bin/python benchmarks/api_sweep.py --runs 5 [--only contacts] [--users rep1]

Reads the data already in the database, as ``page_sweep.py`` does: Django's test client, signed
in, one warm-up request per endpoint and role (a 403 or 404 is listed, not timed), then
``--runs`` rounds. Prints each endpoint's median time, its queries and their summed time, with
the load average before and after.
"""

import argparse
import statistics
import sys

from pages import Request, load_average, setup_django

PATHS = (
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
    ("insights", "/api/v1/insights/"),
)
USERS = ("admin", "manager1", "rep1")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="Requests per endpoint and role.")
    parser.add_argument("--only", help="Only endpoints whose name contains this.")
    parser.add_argument("--users", default=",".join(USERS), help="Comma-separated usernames.")
    args = parser.parse_args()
    setup_django()

    from django.test import Client

    from salesmgr.models import User

    paths = [(name, path) for name, path in PATHS if not args.only or args.only in name]
    measured, skipped = [], []
    for username in args.users.split(","):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(User.objects.get(username=username))
        for name, path in paths:
            status = client.get(path).status_code
            if status != 200:
                skipped.append((username, name, status))
            else:
                measured.append((username, name, path, client))

    before = load_average()
    results: dict[tuple, list] = {(u, n): [] for u, n, _, _ in measured}
    for _ in range(args.runs):
        for username, name, path, client in measured:
            results[(username, name)].append(Request(client, path))
    after = load_average()

    print(f"in-process; load before {before}, after {after}")
    print(f"{'user':<9} {'endpoint':<24} {'median ms':>10} {'queries':>8} {'SQL ms':>7} {'kB':>6}")
    for (username, name), requests in results.items():
        print(
            f"{username:<9} {name:<24} "
            f"{statistics.median(r.wall * 1000 for r in requests):>10.0f} "
            f"{statistics.median(len(r.sql) for r in requests):>8.0f} "
            f"{statistics.median(sum(r.sql) * 1000 for r in requests):>7.0f} "
            f"{statistics.median(r.size for r in requests) / 1024:>6.0f}"
        )
    for username, name, status in skipped:
        print(f"not timed: {username} {name} answered {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
