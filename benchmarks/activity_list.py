"""The activity list (``GET /api/v1/activities/``) and the deal list's id sorts, in-process.

Reads the data already in ``DATABASE_URL`` (seed it with ``seed_demo`` and run ``VACUUM
ANALYZE`` first), signs ``manager1``, ``rep1`` and ``admin`` in with DRF's test client and
prints, for each request, the median and max server time of ``--runs`` requests, the queries
and their summed SQL time of the last one, and the count it answered (``~`` when estimated),
with the machine's load before and after.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/activity_list.py --runs 7
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
os.environ.setdefault("DEBUG", "true")  # the captured queries carry their time

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from benchmarks._measure import load_line, machine_load  # noqa: E402
from salesmgr.models import User  # noqa: E402

ACTIVITY_REQUESTS = [
    {},
    {"page": 20},
    {"cursor": ""},
    {"ordering": "occurred_at"},
    {"kind": "call"},
]
DEAL_REQUESTS = [{"ordering": "-id"}, {"ordering": "id"}, {}]


def measure(client, url, params, runs):
    times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = client.get(url, params)
            times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.content[:300]
    sql = sum(float(query["time"]) for query in queries.captured_queries) * 1000
    body = response.json()
    count = body.get("count")
    if count is not None and body.get("count_exact") is False:
        count = f"~{count}"
    return statistics.median(times), max(times), len(queries.captured_queries), sql, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--users", nargs="*", default=["manager1", "rep1", "admin"])
    parser.add_argument("--skip-deals", action="store_true")
    args = parser.parse_args()
    before = machine_load()
    print(f"{'request':44} {'median':>8} {'max':>8} {'queries':>7} {'SQL ms':>7}  count")
    for username in args.users:
        client = APIClient()
        client.force_authenticate(User.objects.get(username=username))
        requests = [("/api/v1/activities/", params) for params in ACTIVITY_REQUESTS]
        if not args.skip_deals:
            requests += [("/api/v1/deals/", params) for params in DEAL_REQUESTS]
        for url, params in requests:
            median, longest, queries, sql, count = measure(client, url, params, args.runs)
            what = f"{username} {url.split('/')[3]} {params or 'default'}"
            print(f"{what:44} {median:8.1f} {longest:8.1f} {queries:7} {sql:7.1f}  {count}")
    print(load_line(before, machine_load()))


if __name__ == "__main__":
    main()
