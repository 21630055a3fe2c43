"""What webhooks cost a deal write, and how fast one process delivers them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_h3 \\
        .venv/bin/python benchmarks/webhooks.py [--writes 200] [--subscriptions 3]

Migrates the database, then inside a transaction that is rolled back at the
end (nothing stays): times ``deal_update`` (median and queries) with no
subscription and with ``--subscriptions`` subscribed to every deal event, then
sends the deliveries those writes recorded to an ``http.server`` on loopback
through ``webhook_delivery_attempt`` (what the Celery task runs, minus the
broker) and prints deliveries per second.
"""

import argparse
import http.server
import os
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class _Rollback(Exception):
    pass


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def receiver() -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def time_writes(deal, by, writes: int) -> tuple[float, int]:
    """Median ms of ``writes`` amount changes, and the queries of one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pipeline.services import deal_update

    times = []
    queries = 0
    for n in range(writes):
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            deal = deal_update(deal=deal, by=by, expected_version=None, amount=Decimal(1000 + n))
        times.append((time.perf_counter() - started) * 1000)
        queries = len(captured)
    return statistics.median(times), queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=3)
    args = parser.parse_args()
    setup_django()
    import datetime

    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction

    from pipeline.models import Pipeline, WebhookDelivery
    from pipeline.services import account_create, deal_create, stage_create
    from pipeline.webhooks.models import SUBSCRIBABLE_EVENTS
    from pipeline.webhooks.services import webhook_delivery_attempt, webhook_subscription_create
    from salesmgr.services import user_create

    call_command("migrate", verbosity=0)
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    server = receiver()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with transaction.atomic():
            stamp = time.time_ns()
            admin = user_create(username=f"bench-admin-{stamp}", role="admin", password=None)
            pipeline = Pipeline.objects.create(name=f"Bench {stamp}")
            for order, (name, kind) in enumerate(
                [("Open", "open"), ("Won", "won"), ("Lost", "lost")], start=1
            ):
                stage_create(
                    pipeline=pipeline,
                    name=name,
                    order=order,
                    probability=50 if kind == "open" else (100 if kind == "won" else 0),
                    kind=kind,
                )
            account = account_create(by=admin, name="Bench account")
            deal = deal_create(
                by=admin,
                name="Bench deal",
                account=account,
                pipeline=pipeline,
                expected_close_date=datetime.date(2030, 1, 1),
            )
            bare = time_writes(deal, admin, args.writes)
            for n in range(args.subscriptions):
                webhook_subscription_create(
                    by=admin, name=f"bench {n}", url=url, events=list(SUBSCRIBABLE_EVENTS)
                )
            subscribed = time_writes(deal, admin, args.writes)
            ids = list(
                WebhookDelivery.objects.filter(status="pending")
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            started = time.perf_counter()
            for pk in ids:
                webhook_delivery_attempt(delivery_id=pk, publish=lambda *a: None)
            elapsed = time.perf_counter() - started
            delivered = WebhookDelivery.objects.filter(pk__in=ids, status="delivered").count()
            raise _Rollback
    except _Rollback:
        pass
    finally:
        server.shutdown()
    print(f"deal_update, no subscription: {bare[0]:.1f} ms median, {bare[1]} queries")
    print(
        f"deal_update, {args.subscriptions} subscriptions: {subscribed[0]:.1f} ms median, "
        f"{subscribed[1]} queries"
    )
    print(
        f"delivered {delivered} of {len(ids)} in {elapsed:.2f} s: "
        f"{len(ids) / elapsed:.0f} deliveries/s, {elapsed / len(ids) * 1000:.1f} ms each"
    )


if __name__ == "__main__":
    main()
