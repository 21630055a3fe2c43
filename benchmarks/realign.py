"""How long a territory realignment takes at scale, and how long a rep's deal edit waits meanwhile.

    psql -h 127.0.0.1 -U postgres -c 'create database salesmgr_bench_realign'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench_realign \\
        .venv/bin/python benchmarks/realign.py --accounts 100000 --deals-per-account 10 [--reuse]

Seeds N accounts in six countries owned by 40 reps, and their deals (one in
five won, a quarter in EUR), inserted with SQL, each with its "created" history
row as the app writes one (``--without-history``: none, as an import leaves
them, so the apply writes them); six territories with one country rule each
and six members, handed over round robin. ``--reuse`` keeps a dataset of the same size and puts its owners back
as seeded (accounts by id, open deals with their account), which is quicker
than seeding again.

Then it times the preview (``realignment_plan``) and the apply
(``realignment_run``: plan, then batches), while a second connection edits
random open deals of moving accounts, as a rep saving a deal does (one
``UPDATE`` each, committed), and records how long each edit took: the wait
for a row lock the apply holds is in it. It prints the apply's time and rows
per second, every locked transaction of the apply (the longest is an upper
bound on how long it held any deal's lock), and the edits' longest and 99th
percentile times.
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
REPS = 40


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    # The snapshots' recompute would run on a thread of this process and compete with the apply.
    os.environ.setdefault("REPORTS_EMBEDDED_RECOMPUTE", "false")
    import django

    django.setup()


def people() -> dict:
    """The bench admin, manager and reps (made once)."""
    from salesmgr.models import Role, User
    from salesmgr.services import user_create

    def user(username, **values):
        return User.objects.filter(username=username).first() or user_create(
            username=username, password=None, **values
        )

    manager = user("bench-manager", role=Role.MANAGER)
    return {
        "admin": user("bench-admin", role=Role.ADMIN),
        "manager": manager,
        "reps": [user(f"bench-rep{i}", manager=manager) for i in range(REPS)],
    }


def wipe() -> None:
    """Empty every pipeline table but the pipelines' own, and the territories."""
    from django.apps import apps
    from django.db import connection

    kept = {"pipeline", "stage", "product", "lostreason", "exchangerate"}
    tables = [
        model._meta.db_table
        for model in apps.get_app_config("pipeline").get_models(include_auto_created=True)
        if model._meta.model_name not in kept
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(tables)}, quotas_territory_reps, quotas_territory CASCADE"
        )


def seed(accounts: int, per_account: int, world: dict) -> None:
    """Accounts and deals inserted with SQL: account ``g`` belongs to rep ``g % 40``."""
    from django.db import connection, transaction

    from pipeline.models import ExchangeRate, Pipeline, StageKind
    from pipeline.services import pipeline_create, stage_create

    wipe()
    pipeline = Pipeline.objects.filter(name="Bench").first()
    if pipeline is None:
        pipeline = pipeline_create(name="Bench", by=world["admin"])
        for order, (name, kind) in enumerate(
            [("Open", "open"), ("Won", "won"), ("Lost", "lost")], start=1
        ):
            stage_create(pipeline=pipeline, name=name, order=order, probability=50, kind=kind)
    open_stage = pipeline.stages.get(kind=StageKind.OPEN)
    won_stage = pipeline.stages.get(kind=StageKind.WON)
    ExchangeRate.objects.get_or_create(
        currency="EUR", valid_from="2000-01-01", defaults={"rate": "1.08"}
    )
    rep_ids = [rep.pk for rep in world["reps"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO pipeline_account (name, owner_id, industry, region, employee_count, country, postcode,
                                          annual_revenue, territory_pinned, website, created_at)
            SELECT 'Account ' || g, (%s::bigint[])[1 + g %% %s], 'Retail', '', g %% 5000,
                   (%s::text[])[1 + (g * 7) %% 6], '', NULL, false, '', now() - interval '400 days'
            FROM generate_series(1, %s) g
            """,
            [rep_ids, REPS, COUNTRIES, accounts],
        )
        cursor.execute(
            """
            INSERT INTO pipeline_deal (name, account_id, owner_id, pipeline_id, stage_id, status, amount, currency,
                                       expected_close_date, forecast_category, created_at, updated_at,
                                       stage_entered_at, closed_at, version)
            SELECT 'Deal ' || a.id || '-' || n, a.id, a.owner_id, %s,
                   CASE WHEN n %% 5 = 0 THEN %s ELSE %s END,
                   CASE WHEN n %% 5 = 0 THEN 'won' ELSE 'open' END,
                   1000 + (a.id * n) %% 9000, CASE WHEN n %% 4 = 1 THEN 'EUR' ELSE 'USD' END,
                   current_date + (n * 11) %% 120, 'pipeline', now() - interval '200 days',
                   now() - interval '200 days', now() - interval '200 days',
                   CASE WHEN n %% 5 = 0 THEN now() - interval '100 days' END, 1
            FROM pipeline_account a CROSS JOIN generate_series(1, %s) n
            """,
            [pipeline.pk, won_stage.pk, open_stage.pk, per_account],
        )
    territories(world)


def reset(world: dict) -> None:
    """Put a reused dataset back as seeded: owners by account id, no territories, no history."""
    from django.db import connection, transaction

    from pipeline.models import Account, Deal

    rep_ids = [rep.pk for rep in world["reps"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE pipeline_handover, pipeline_realignmentmove, pipeline_territoryrealignment, "
            "pipeline_territoryrule_accounts, pipeline_territoryrule, quotas_territory_reps, "
            f"{Deal.history.model._meta.db_table}, {Account.history.model._meta.db_table}"
        )
        cursor.execute(
            "UPDATE pipeline_account SET owner_id = (%s::bigint[])[1 + id %% %s], territory_id = NULL "
            "WHERE owner_id <> (%s::bigint[])[1 + id %% %s] OR territory_id IS NOT NULL",
            [rep_ids, REPS, rep_ids, REPS],
        )
        # Deleted, not truncated: a TRUNCATE would cascade to the accounts that refer to them.
        cursor.execute("DELETE FROM quotas_territory")
        cursor.execute(
            "UPDATE pipeline_deal d SET owner_id = a.owner_id FROM pipeline_account a "
            "WHERE a.id = d.account_id AND d.owner_id <> a.owner_id"
        )
    territories(world)


def history(with_history: bool) -> None:
    """Give every account and deal its "created" history row, as rows made through the app have
    (``with_history``), or none, as an import leaves them; then refresh the planner's statistics."""
    from django.db import connection

    from pipeline.models import Account, Deal

    with connection.cursor() as cursor:
        for model in (Account, Deal) if with_history else ():
            table = model.history.model._meta.db_table
            own = {f.column for f in model._meta.concrete_fields}
            shared = ", ".join(
                f.column for f in model.history.model._meta.concrete_fields if f.column in own
            )
            cursor.execute(
                f"INSERT INTO {table} ({shared}, history_date, history_type) "
                f"SELECT {shared}, created_at, '+' FROM {model._meta.db_table}"
            )
        for model in (Account, Deal):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
            cursor.execute(f"VACUUM ANALYZE {model.history.model._meta.db_table}")
        cursor.execute("VACUUM ANALYZE pipeline_handover")


def territories(world: dict) -> None:
    """Six territories, one country each, six members, round robin."""
    from pipeline.services.territories import territory_rule_create
    from quotas.models import Territory

    for index, country in enumerate(COUNTRIES):
        territory = Territory.objects.create(name=f"Bench {country}", owner=world["manager"])
        territory.reps.set(world["reps"][index * 6 : index * 6 + 6])
        territory_rule_create(
            territory=territory, by=world["admin"], priority=index, countries=[country]
        )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--deals-per-account", type=int, default=10)
    parser.add_argument(
        "--reuse", action="store_true", help="keep a dataset of this size, reset its owners"
    )
    parser.add_argument(
        "--without-history",
        action="store_true",
        help="no history rows, as an import leaves deals: the apply writes their first ones",
    )
    parser.add_argument(
        "--edit-pause", type=float, default=0.005, help="seconds between a rep's edits"
    )
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    import pipeline.services.territories as territories_service
    from pipeline.assignment import realignment_plan
    from pipeline.models import Account, Deal

    name = settings.DATABASES["default"]["NAME"]
    if name in {"salesmgr_ci", "salesmgr_dev", "salesmgr_seed"} or name.startswith("test_"):
        parser.error(f"refusing to wipe {name}: give a database of its own")
    call_command("migrate", verbosity=0)
    world = people()
    started = time.perf_counter()
    deals_wanted = args.accounts * args.deals_per_account
    if (
        args.reuse
        and Account.objects.count() == args.accounts
        and Deal.objects.count() == deals_wanted
    ):
        reset(world)
        print(f"reused {args.accounts} accounts, {deals_wanted} deals: reset in ", end="")
    else:
        seed(args.accounts, args.deals_per_account, world)
        print(f"seeded {args.accounts} accounts, {deals_wanted} deals in ", end="")
    history(not args.without_history)
    print(
        f"{time.perf_counter() - started:.1f}s ({'without' if args.without_history else 'with'} history)"
    )

    started = time.perf_counter()
    plan = realignment_plan()
    preview_seconds = time.perf_counter() - started
    groups = plan.groups()
    print(
        f"preview: {len(plan.moves)} accounts and {sum(m.deals for m in plan.moves)} open deals move "
        f"(value {sum(g['value'] for g in groups):,.2f} {settings.REPORTING_CURRENCY}) "
        f"in {preview_seconds:.1f}s"
    )

    sample = [m.account_id for m in plan.moves[:: max(1, len(plan.moves) // 2000)]]
    moving = list(
        Deal.objects.filter(account_id__in=sample, status="open").values_list("pk", flat=True)
    )
    waits: list[float] = []
    stop = threading.Event()

    def rep_edits():
        """A rep saving open deals of moving accounts, one committed UPDATE each."""
        rng = random.Random(1)
        with connections["default"].cursor() as cursor:
            while not stop.is_set():
                pk = rng.choice(moving)
                begun = time.perf_counter()
                cursor.execute(
                    "UPDATE pipeline_deal SET version = version + 1, updated_at = now() WHERE id = %s",
                    [pk],
                )
                waits.append(time.perf_counter() - begun)
                time.sleep(args.edit_pause)
        connections.close_all()

    editor = threading.Thread(target=rep_edits)
    pace = territories_service.BatchPace.from_settings()
    job = territories_service.realignment_start(by=world["admin"])
    editor.start()
    time.sleep(0.5)
    started = time.perf_counter()
    job = territories_service.realignment_run(job_id=job.pk, pace=pace)
    elapsed = time.perf_counter() - started
    stop.set()
    editor.join()
    job.refresh_from_db()
    rows = job.done + job.deals_moved
    print(
        f"apply: {job.done} accounts ({job.skipped} skipped), {job.deals_moved} deals in {elapsed:.1f}s, "
        f"{rows / elapsed:,.0f} rows/s (plan and storing it: {pace.plan_seconds:.1f}s)"
    )
    locked = pace.transactions
    print(
        f"locked transactions: {len(locked)} ({sum(locked):.0f}s in all), "
        f"median {statistics.median(locked) * 1000:.0f} ms, "
        f"p99 {percentile(locked, 0.99) * 1000:.0f} ms, longest {max(locked) * 1000:.0f} ms; "
        f"{pace.lock_timeouts} gave way to a rep's lock and were retried; "
        f"final batch size {pace.rows} rows"
    )
    print(
        f"a rep's deal edits during the apply: {len(waits)}, median {statistics.median(waits) * 1000:.1f} ms, "
        f"p99 {percentile(waits, 0.99) * 1000:.0f} ms, longest {max(waits) * 1000:.0f} ms"
    )
    started = time.perf_counter()
    second = territories_service.realignment_run(
        job_id=territories_service.realignment_start(by=world["admin"]).pk
    )
    print(f"second run: {second.total} accounts to move ({time.perf_counter() - started:.1f}s)")
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
