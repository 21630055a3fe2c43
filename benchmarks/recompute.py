"""The grouped recompute a burst of deal moves queues, timed part by part (issue 9, part 2).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_h22_100k \\
        .venv/bin/python benchmarks/recompute.py [--moves 16] [--profile out.prof] [--dump out.json]

Reads the data already in the database (a seeded copy: it writes snapshots).
Picks the scopes ``--moves`` deals of different owners mark (``affected_scope_keys``,
as a burst of moves does, about 33 at 100,000 deals), then runs
``snapshots_compute`` on them with a fixed clock, as the queued task does, and
prints the wall and CPU seconds of this process and of its PostgreSQL backend,
per part: the grouped figures, the dashboard lists, the gap's deal figures and
the writes. ``--change`` runs each pass as a change's recompute (``only_if_dirty``): from the second
on, it reuses the model's trainings the first learned. ``--dump`` writes every snapshot the pass wrote (funnel, forecasts,
dashboard lists, gap figures; the clock left out) as JSON, to compare two
versions of the code figure for figure (``--compare a.json b.json``).
"""

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def backend_cpu(connection) -> float:
    """CPU seconds (user + system) of this connection's PostgreSQL backend, from /proc."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(a: str, b: str) -> int:
    left, right = json.loads(Path(a).read_text()), json.loads(Path(b).read_text())
    differ = 0
    for table in sorted(set(left) | set(right)):
        l_rows, r_rows = left.get(table, {}), right.get(table, {})
        for key in sorted(set(l_rows) | set(r_rows)):
            if l_rows.get(key) != r_rows.get(key):
                differ += 1
                if differ <= 10:
                    print(f"DIFFERS {table} {key}:\n  {l_rows.get(key)}\n  {r_rows.get(key)}")
        print(f"{table}: {len(l_rows)} / {len(r_rows)} rows")
    print("identical" if not differ else f"{differ} rows differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--moves", type=int, default=16)
    parser.add_argument(
        "--standard",
        action="store_true",
        help="Every standard scope, as the nightly pass computes them (not a burst's).",
    )
    parser.add_argument("--now", default="2026-12-03T12:00:00+00:00")
    parser.add_argument("--profile")
    parser.add_argument("--dump")
    parser.add_argument("--compare", nargs=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--change",
        action="store_true",
        help="Run each pass as a change's recompute does (the scopes marked, only_if_dirty): "
        "the first learns the model's trainings, the next reuse them (30 s apart on the clock).",
    )
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)

    import django

    django.setup()
    from django.db import connection
    from django.forms.models import model_to_dict

    from pipeline.models import Deal
    from pipeline.scopes import Scope
    from reports import grouped, services
    from reports.models import ForecastSnapshot, MetricSnapshot
    from reports.services import affected_scope_keys, snapshots_compute

    now = datetime.datetime.fromisoformat(args.now)
    # Deals of different owners, always the same ones: the lowest id of each of the first owners.
    owners = list(
        Deal.objects.filter(deleted_at__isnull=True, status="open")
        .order_by("owner_id")
        .values_list("owner_id", flat=True)
        .distinct()[: args.moves]
    )
    deal_ids = [
        Deal.objects.filter(owner_id=owner, deleted_at__isnull=True, status="open")
        .order_by("pk")
        .values_list("pk", flat=True)[0]
        for owner in owners
    ]
    if args.standard:
        keys = sorted(scope.key for scope in services.standard_scopes())
        print(f"{len(keys)} standard scopes; load {load_average()}")
    else:
        keys = sorted(affected_scope_keys(deal_ids))
        print(f"{len(keys)} scopes from {len(deal_ids)} deals; load {load_average()}")
    scopes = [Scope.from_key(key) for key in keys]

    parts: dict[str, list[float]] = {}

    def timed(name, function):
        def wrapper(*a, **kw):
            wall, cpu, db = time.perf_counter(), time.process_time(), backend_cpu(connection)
            try:
                return function(*a, **kw)
            finally:
                got = parts.setdefault(name, [0.0, 0.0, 0.0])
                got[0] += time.perf_counter() - wall
                got[1] += time.process_time() - cpu
                got[2] += backend_cpu(connection) - db

        return wrapper

    services.grouped.figures = timed("grouped figures", grouped.figures)
    # Read beside the model's part of ``grouped figures`` (its time counts there too), kept after.
    services._dashboard_lists_read = timed("dashboard lists read", services._dashboard_lists_read)
    services._gap_deals_read = timed("gap deal figures read", services._gap_deals_read)
    services._dashboard_lists_store = timed("dashboard lists", services._dashboard_lists_store)
    services._gap_deals_store = timed("gap deal figures", services._gap_deals_store)
    services._upsert_metrics = timed("funnel writes", services._upsert_metrics)
    services._upsert_forecasts = timed("forecast writes", services._upsert_forecasts)
    # The dashboard lists and the gap's deal figures go to the cache: keep a copy to compare.
    from reports.runners import dashboard_lists, gap

    stored: dict[str, str] = {}

    def recording(cache_set):
        def wrapper(key, value, timeout):
            stored[key] = repr(value)
            return cache_set(key, value, timeout)

        return wrapper

    dashboard_lists.cache_set = recording(dashboard_lists.cache_set)
    gap.cache_set = recording(gap.cache_set)

    for run in range(args.repeat):
        parts.clear()
        connection.ensure_connection()
        wall, cpu, db = time.perf_counter(), time.process_time(), backend_cpu(connection)
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        if args.change:
            services.scopes_mark_dirty(keys=set(keys))
            snapshots_compute(
                scopes=scopes, now=now + datetime.timedelta(seconds=30 * run), only_if_dirty=True
            )
        else:
            snapshots_compute(scopes=scopes, now=now)
        if args.profile:
            profiler.disable()
            profiler.dump_stats(args.profile)
        wall, cpu, db = (
            time.perf_counter() - wall,
            time.process_time() - cpu,
            backend_cpu(connection) - db,
        )
        print(
            f"run {run + 1}: wall {wall:.2f} s, Python CPU {cpu:.2f} s, PostgreSQL CPU {db:.2f} s; load {load_average()}"
        )
        for name, (p_wall, p_cpu, p_db) in parts.items():
            print(f"  {name:18} wall {p_wall:6.2f}  Python {p_cpu:6.2f}  PostgreSQL {p_db:6.2f}")

    if args.dump:
        out: dict[str, dict] = {"cache": stored}
        natural = ("scope_key", "period_start", "period_end", "as_of", "horizon")
        for model in (MetricSnapshot, ForecastSnapshot):
            table = out[model.__name__] = {}
            # This pass's rows only: a nightly run of the same day may have written others.
            for row in model.objects.filter(scope_key__in=keys, computed_at=now):
                fields = model_to_dict(row)
                key = repr([str(fields[name]) for name in natural if name in fields])
                figures = {
                    name: value
                    for name, value in fields.items()
                    if name not in ("id", "computed_at")
                }
                table[key] = json.dumps(figures, default=str, sort_keys=True)
        Path(args.dump).write_text(json.dumps(out, indent=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
