"""What one ``POST /api/v1/deals/bulk/`` costs in SQL queries and time, by size.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/bulk.py --rows 50 500

Migrates the database and seeds the demo (``seed_demo``, once) if it has no
deals, then, as the demo admin and in-process through Django's test client,
for each size N sends three requests of N rows each: N new deals, the same N
deals updated (amount and close date), and the same N updated again with half
of them moved to another stage. Each row carries an ``external_id`` unique to
this run, so nothing already there is touched. It prints the queries and the
milliseconds of each request and the queries per row; the goal (issue 8) is a
small constant plus at most 2 per row.
"""

import argparse
import contextlib
import datetime
import io
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[50, 500], help="request sizes (at most 500)"
    )
    args = parser.parse_args()
    if any(not 1 <= n <= 500 for n in args.rows):
        parser.error("--rows takes sizes from 1 to 500")

    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from pipeline.models import Account, Deal, Pipeline, StageKind
    from salesmgr.models import User

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)
    if not Deal.objects.exists():
        with contextlib.redirect_stdout(io.StringIO()):  # the demo logins
            call_command("seed_demo", "--no-forecasts", verbosity=0)

    admin = User.objects.get(username="admin")
    pipeline = Pipeline.objects.filter(is_active=True).order_by("pk").first()
    open_stages = list(pipeline.stages.filter(kind=StageKind.OPEN).order_by("order"))
    account_ids = list(
        Account.objects.filter(deleted_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:50]
    )
    client = Client()
    client.force_login(admin)
    today = datetime.date.today()

    def send(rows: list[dict]) -> tuple[int, float]:
        count = 0

        def counted(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            started = time.perf_counter()
            response = client.post(
                "/api/v1/deals/bulk/", {"deals": rows}, content_type="application/json"
            )
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"bulk answered {response.status_code}: {response.content[:500]!r}")
        return count, elapsed

    print(f"{'rows':>5}  {'request':<22} {'queries':>8} {'per row':>8} {'ms':>9}")
    for size in args.rows:
        run = uuid.uuid4().hex[:8]
        rows = [
            {
                "external_id": f"bench-{run}-{i}",
                "name": f"Bulk benchmark {run} {i}",
                "account": account_ids[i % len(account_ids)],
                "owner": admin.pk,
                "pipeline": pipeline.pk,
                "stage": open_stages[0].pk,
                "amount": f"{1000 + i}.00",
                "expected_close_date": (today + datetime.timedelta(days=30)).isoformat(),
            }
            for i in range(size)
        ]
        steps = [("create", rows)]
        updated = [{**row, "amount": f"{2000 + i}.00", "version": 1} for i, row in enumerate(rows)]
        steps.append(("update fields", updated))
        moved = [
            {
                **row,
                "version": 2,
                "expected_close_date": (today + datetime.timedelta(days=60)).isoformat(),
                "stage": open_stages[min(1, len(open_stages) - 1)].pk if i % 2 else row["stage"],
            }
            for i, row in enumerate(updated)
        ]
        steps.append(("update, half moved", moved))
        for label, payload in steps:
            count, elapsed = send(payload)
            print(f"{size:>5}  {label:<22} {count:>8} {count / size:>8.2f} {elapsed:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
