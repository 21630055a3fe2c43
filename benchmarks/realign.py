"""How long a territory realignment takes, and the longest it holds row locks, by size.

    psql -h 127.0.0.1 -U postgres -c 'create database salesmgr_bench_realign'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench_realign \\
        .venv/bin/python benchmarks/realign.py --accounts 20000 --deals-per-account 10

Wipes the database's accounts and deals, seeds N accounts in six countries
owned by 40 reps (deals loaded in bulk, without history, as an import leaves
them, so the realignment also writes their "created" history rows), sets up six
territories with one rule each and round-robin handover, then times the
preview (``realignment_plan``) and the apply (``realignment_run``), reporting
every batch transaction. A batch holds its locks on accounts and deals from
its first ``SELECT ... FOR UPDATE`` to its commit, so the longest batch is an
upper bound on how long a rep's edit of a deal could wait. Meanwhile a second
connection edits random open deals of moving accounts and records its longest
wait for the row lock, which is the figure a rep would feel.
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTRIES = ["DE", "FR", "GB", "SE", "US", "JP"]


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def seed(accounts: int, per_account: int) -> dict:
    """Reps, a pipeline, territories with rules; accounts and deals inserted with SQL."""
    from django.apps import apps
    from django.db import connection, transaction

    from pipeline.models import Deal, Pipeline, StageKind
    from pipeline.services import pipeline_create, stage_create
    from pipeline.services.territories import territory_rule_create
    from quotas.models import Territory
    from salesmgr.models import Role, User
    from salesmgr.services import user_create

    kept = {"pipeline", "stage", "product", "lostreason"}
    tables = [
        model._meta.db_table
        for model in apps.get_app_config("pipeline").get_models(include_auto_created=True)
        if model._meta.model_name not in kept
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(tables)}, quotas_territory_reps, quotas_territory CASCADE"
        )
    admin = User.objects.filter(username="bench-admin").first() or user_create(
        username="bench-admin", password=None, role=Role.ADMIN
    )
    manager = User.objects.filter(username="bench-manager").first() or user_create(
        username="bench-manager", password=None, role=Role.MANAGER
    )
    reps = [
        User.objects.filter(username=f"bench-rep{i}").first()
        or user_create(username=f"bench-rep{i}", password=None, manager=manager)
        for i in range(40)
    ]
    pipeline = Pipeline.objects.filter(name="Bench").first()
    if pipeline is None:
        pipeline = pipeline_create(name="Bench", by=admin)
        for order, (name, kind) in enumerate(
            [("Open", "open"), ("Won", "won"), ("Lost", "lost")], start=1
        ):
            stage_create(pipeline=pipeline, name=name, order=order, probability=50, kind=kind)
    open_stage = pipeline.stages.get(kind=StageKind.OPEN)
    with transaction.atomic(), connection.cursor() as cursor:
        rep_ids = [rep.pk for rep in reps]
        cursor.execute(
            """
            INSERT INTO pipeline_account (name, owner_id, industry, region, employee_count, country, postcode,
                                          annual_revenue, territory_pinned, website, created_at)
            SELECT 'Account ' || g, (%s::bigint[])[1 + g %% 40], 'Retail', '', g %% 5000,
                   (%s::text[])[1 + (g * 7) %% 6], '', NULL, false, '', now() - interval '400 days'
            FROM generate_series(1, %s) g
            """,
            [rep_ids, COUNTRIES, accounts],
        )
        cursor.execute(
            """
            INSERT INTO pipeline_deal (name, account_id, owner_id, pipeline_id, stage_id, status, amount, currency,
                                       expected_close_date, forecast_category, created_at, updated_at,
                                       stage_entered_at, closed_at, version)
            SELECT 'Deal ' || a.id || '-' || n, a.id, a.owner_id, %s, %s, 'open', 1000 + (a.id * n) %% 9000,
                   'EUR', current_date + (n * 11) %% 120, 'pipeline', now() - interval '200 days',
                   now() - interval '200 days', now() - interval '200 days', NULL, 1
            FROM pipeline_account a CROSS JOIN generate_series(1, %s) n
            """,
            [pipeline.pk, open_stage.pk, per_account],
        )
        cursor.execute("ANALYZE pipeline_account; ANALYZE pipeline_deal;")
    territories = []
    for index, country in enumerate(COUNTRIES):
        members = reps[index * 6 : index * 6 + 6]
        territory = Territory.objects.create(name=f"Bench {country}", owner=manager)
        territory.reps.set(members)
        territory_rule_create(territory=territory, by=admin, priority=index, countries=[country])
        territories.append(territory)
    return {"admin": admin, "deals": Deal.objects.count()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--deals-per-account", type=int, default=10)
    parser.add_argument(
        "--batch", type=int, default=None, help="accounts per transaction (default: the setting)"
    )
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections, transaction

    import pipeline.services.territories as territories
    from pipeline.assignment import realignment_plan
    from pipeline.models import Deal

    name = settings.DATABASES["default"]["NAME"]
    if name in {"salesmgr_ci", "salesmgr_dev", "salesmgr_seed"} or name.startswith("test_"):
        parser.error(f"refusing to wipe {name}: give a database of its own")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    world = seed(args.accounts, args.deals_per_account)
    print(
        f"seeded {args.accounts} accounts, {world['deals']} deals in {time.perf_counter() - started:.1f}s"
    )

    started = time.perf_counter()
    plan = realignment_plan()
    print(f"preview: {len(plan.moves)} accounts move in {time.perf_counter() - started:.1f}s")

    batches: list[float] = []
    original = territories._apply_batch

    def timed(job_id, size):
        begun = time.perf_counter()
        job = original(job_id, size)
        batches.append(time.perf_counter() - begun)
        return job

    territories._apply_batch = timed
    moving = list(
        Deal.objects.filter(
            account_id__in=[m.account_id for m in plan.moves[:: max(1, len(plan.moves) // 500)]]
        ).values_list("pk", flat=True)[:500]
    )
    waits: list[float] = []
    stop = threading.Event()

    def rep_edits():
        """A rep editing open deals of moving accounts: how long each waits for its row lock."""
        rng = random.Random(1)
        while not stop.is_set():
            pk = rng.choice(moving)
            begun = time.perf_counter()
            with transaction.atomic(using="default"):
                list(Deal.objects.select_for_update().filter(pk=pk).values_list("pk"))
            waits.append(time.perf_counter() - begun)
            time.sleep(0.01)
        connections.close_all()

    editor = threading.Thread(target=rep_edits)
    job = territories.realignment_start(by=world["admin"])
    started = time.perf_counter()
    editor.start()
    job = territories.realignment_run(job_id=job.pk, batch_size=args.batch)
    elapsed = time.perf_counter() - started
    stop.set()
    editor.join()
    batch_size = args.batch or settings.TERRITORY_REALIGN_BATCH
    print(
        f"apply: {job.done} accounts, {job.deals_moved} deals in {elapsed:.1f}s "
        f"({len(batches)} transactions of up to {batch_size} accounts)"
    )
    if batches:
        print(
            f"batch transaction (locks held): median {statistics.median(batches) * 1000:.0f} ms, "
            f"max {max(batches) * 1000:.0f} ms"
        )
    if waits:
        print(
            f"a rep's deal edit during the apply: {len(waits)} edits, median wait {statistics.median(waits) * 1000:.1f} ms, "
            f"max {max(waits) * 1000:.0f} ms"
        )
    second = territories.realignment_run(job_id=territories.realignment_start(by=world["admin"]).pk)
    print(f"second run: {second.total} accounts to move")
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
