"""How fast the metrics are on PostgreSQL: the nightly snapshots, and the funnel against hand-written SQL.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/metrics.py --deals 1000000
    DATABASE_URL=postgres://... .venv/bin/python benchmarks/metrics.py --reuse

Seeds the database with ``seed_demo --reset`` (or, with ``--reuse``, keeps what
is there), runs ANALYZE as autovacuum would after a bulk load, then prints:

- the wall time of a full nightly snapshot of every standard scope, run by the
  tasks' own code (``reports.nightly_snapshots``, eager) in a worker-like child
  process, with that process's peak resident memory and query count;
- the median time of the organisation-level funnel (``reports.metrics.funnel``
  for ``Scope()`` over the default 90 days) next to the median time of ONE
  hand-written SQL query that computes the same numbers, checked equal, and
  their ratio; the two run alternately (ORM, SQL, SQL, ORM ... in random order
  within each pair) so both see the same machine, whose load is printed.

Goals (PERFORMANCE.md, 1M deals): nightly < 60 s and < 500 MB; funnel <= 1.5x the SQL.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._measure import alternate, load_line, machine_load, ratio  # noqa: E402

# The organisation's funnel in one statement: one grouped scan of the deals (the
# totals and what is open per stage); one ordered pass over the period's
# transitions in which each row sees what its deal did afterwards (won later? the
# highest open stage reached later?) for entered and advanced; and the stays that
# ended in the period.
FUNNEL_SQL = """
WITH by_stage AS (
    SELECT
        stage_id,
        count(*) FILTER (WHERE status = 'open') AS open_deals,
        sum(amount) FILTER (WHERE status = 'open') AS open_value,
        count(*) FILTER (WHERE status = 'won' AND closed_at >= %(start)s AND closed_at < %(end)s) AS won_deals,
        sum(amount) FILTER (WHERE status = 'won' AND closed_at >= %(start)s AND closed_at < %(end)s) AS won_value,
        count(*) FILTER (WHERE status = 'lost' AND closed_at >= %(start)s AND closed_at < %(end)s) AS lost_deals,
        sum(extract(epoch FROM closed_at - created_at) / 86400.0)
            FILTER (WHERE status = 'won' AND closed_at >= %(start)s AND closed_at < %(end)s) AS cycle_days
    FROM pipeline_deal
    WHERE deleted_at IS NULL
    GROUP BY stage_id
),
totals AS (
    SELECT
        sum(open_deals) AS open_deals, coalesce(sum(open_value), 0) AS open_value,
        sum(won_deals) AS won_deals, coalesce(sum(won_value), 0) AS won_value, sum(lost_deals) AS lost_deals,
        sum(cycle_days) / nullif(sum(won_deals), 0) AS avg_cycle_days
    FROM by_stage
),
moves AS (
    SELECT
        t.deal_id, t.to_stage_id, t.at, s.kind, s."order",
        max(CASE WHEN s.kind = 'won' THEN 1 ELSE 0 END) OVER later AS later_won,
        max(s."order") FILTER (WHERE s.kind = 'open') OVER later AS later_order
    FROM pipeline_stagetransition t
    JOIN pipeline_deal d ON d.id = t.deal_id
    JOIN pipeline_stage s ON s.id = t.to_stage_id
    WHERE t.at >= %(start)s AND d.deleted_at IS NULL
    WINDOW later AS (
        PARTITION BY t.deal_id ORDER BY t.at RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE GROUP
    )
),
flow AS (
    SELECT
        to_stage_id AS stage_id, count(DISTINCT deal_id) AS entered,
        count(DISTINCT deal_id) FILTER (WHERE later_won = 1 OR later_order > "order") AS advanced
    FROM moves
    WHERE kind = 'open' AND at < %(end)s
    GROUP BY to_stage_id
),
stays AS (
    SELECT t.from_stage_id AS stage_id, avg(extract(epoch FROM t.at - t.from_stage_entered_at) / 86400.0) AS avg_days
    FROM pipeline_stagetransition t
    JOIN pipeline_deal d ON d.id = t.deal_id
    WHERE t.at >= %(start)s AND t.at < %(end)s AND t.from_stage_id IS NOT NULL AND d.deleted_at IS NULL
    GROUP BY t.from_stage_id
)
SELECT
    totals.open_deals, totals.open_value, totals.won_deals, totals.won_value, totals.lost_deals,
    totals.avg_cycle_days,
    s.id, coalesce(flow.entered, 0), coalesce(flow.advanced, 0), stays.avg_days,
    coalesce(by_stage.open_deals, 0), coalesce(by_stage.open_value, 0)
FROM pipeline_stage s
JOIN pipeline_pipeline p ON p.id = s.pipeline_id
CROSS JOIN totals
LEFT JOIN flow ON flow.stage_id = s.id
LEFT JOIN stays ON stays.stage_id = s.id
LEFT JOIN by_stage ON by_stage.stage_id = s.id
WHERE s.kind = 'open'
ORDER BY p.name, s."order"
"""


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def nightly_child() -> int:
    """In a fresh process, as a worker would: run the nightly task and everything it fans out."""
    setup_django()
    from celery.signals import task_postrun, task_prerun
    from django.db import connection

    from reports.tasks import nightly_snapshots
    from salesmgr.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    started_at: dict = {}
    per_task: dict = defaultdict(float)

    def before(task_id=None, **kwargs):
        started_at[task_id] = time.perf_counter()

    def after(task_id=None, task=None, **kwargs):
        per_task[task.name] += time.perf_counter() - started_at.pop(task_id)

    task_prerun.connect(before, weak=False)
    task_postrun.connect(after, weak=False)
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started = time.perf_counter()
        scopes = nightly_snapshots.apply().get()
        wall = time.perf_counter() - started
    print(json.dumps({
        "scopes": scopes,
        "wall": wall,
        "queries": queries[0],
        "peak_rss_mb": peak_rss_mb(),
        "tasks": per_task,
    }))  # fmt: skip
    return 0


def family_pss_mb(pid: int) -> float:
    """The proportional set size (Pss) of a process and every process under it, in MB: what they
    hold in memory together, a page shared by two counted half in each (0 once it has ended)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def run_nightly() -> dict:
    """The nightly pass in a child process, its processes' memory together sampled every 0.1 s
    (``family_pss_mb``: the pass may fork a second process for the model)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child-nightly"]
    # Its output goes to files, so a chatty pass never blocks on a full pipe while sampled.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        with subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, text=True) as child:
            peak = 0.0
            while child.poll() is None:
                peak = max(peak, family_pss_mb(child.pid))
                time.sleep(0.1)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(command, child.returncode, out.read(), err.read())
    if result.returncode:
        print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
        raise SystemExit(result.returncode)
    run = json.loads(result.stdout.strip().splitlines()[-1])
    run["family_peak_mb"] = peak
    return run


def hand_written_funnel(cursor, period) -> dict:
    start, end = period.bounds
    cursor.execute(FUNNEL_SQL, {"start": start, "end": end})
    rows = cursor.fetchall()
    first = rows[0]
    return {
        "open_deals": first[0],
        "open_value": first[1],
        "won_deals": first[2],
        "won_value": first[3],
        "lost_deals": first[4],
        "avg_sales_cycle_days": first[5],
        "stages": [
            {"stage": row[6], "entered": row[7], "advanced": row[8], "avg_days_in_stage": row[9],
             "open_now": row[10], "open_value_now": row[11]}
            for row in rows
        ],
    }  # fmt: skip


def same_numbers(orm: dict, sql: dict) -> list[str]:
    """Where the ORM funnel and the hand-written query disagree (empty when they agree)."""
    problems = []

    def close(a, b):
        if a is None or b is None:
            return a is None and b is None
        return abs(float(a) - float(b)) < 1e-6 * max(1.0, abs(float(a)))

    for key in ("open_deals", "won_deals", "lost_deals"):
        if orm[key] != sql[key]:
            problems.append(f"{key}: {orm[key]} != {sql[key]}")
    for key in ("open_value", "won_value", "avg_sales_cycle_days"):
        if not close(orm[key], sql[key]):
            problems.append(f"{key}: {orm[key]} != {sql[key]}")
    if [s["stage"] for s in orm["stages"]] != [s["stage"] for s in sql["stages"]]:
        problems.append("the stages differ")
    for mine, theirs in zip(orm["stages"], sql["stages"], strict=False):
        for key in ("entered", "advanced", "open_now"):
            if mine[key] != theirs[key]:
                problems.append(f"stage {mine['stage']} {key}: {mine[key]} != {theirs[key]}")
        for key in ("avg_days_in_stage", "open_value_now"):
            if not close(mine[key], theirs[key]):
                problems.append(f"stage {mine['stage']} {key}: {mine[key]} != {theirs[key]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deals", type=int, default=1_000_000, help="How many deals to seed (default 1,000,000)."
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the data already in the database."
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="Timed runs of each funnel computation (median)."
    )
    parser.add_argument(
        "--nightly-runs", type=int, default=1, help="Nightly runs (median); each is minutes at 1M."
    )
    parser.add_argument("--child-nightly", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_nightly:
        return nightly_child()

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        print("Set DATABASE_URL to a PostgreSQL database (postgres://...); this benchmark measures PostgreSQL.",
              file=sys.stderr)  # fmt: skip
        return 2
    if not args.reuse:
        command = [
            sys.executable,
            "manage.py",
            "seed_demo",
            "--reset",
            "--deals",
            str(args.deals),
            "--no-progress",
        ]
        print("$", " ".join(command[1:]), flush=True)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
            return result.returncode
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)

    setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pipeline.models import Deal, StageTransition
    from pipeline.periods import Period
    from pipeline.scopes import Scope
    from reports.metrics import funnel
    from reports.services import standard_scopes

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    deals = Deal.objects.count()
    transitions = StageTransition.objects.count()
    scopes = standard_scopes()
    print(
        f"database          {connection.settings_dict['NAME']} (PostgreSQL {connection.pg_version // 10000})"
    )
    print(f"deals             {deals:,}")
    print(f"stage transitions {transitions:,}")
    print(f"standard scopes   {len(scopes)}")
    print()

    nightly = [run_nightly() for _ in range(max(1, args.nightly_runs))]
    wall = statistics.median(run["wall"] for run in nightly)
    peak = max(run["peak_rss_mb"] for run in nightly)
    last = nightly[-1]
    print(f"nightly snapshots of {last['scopes']} scopes (worker-like child, eager tasks)")
    runs = ", ".join(f"{run['wall']:.1f}" for run in nightly)
    print(f"  wall time       {wall:.1f} s   (goal < 60 s at 1M; runs: {runs})")
    family = max(run["family_peak_mb"] for run in nightly)
    print(f"  peak memory     {peak:.0f} MB (goal < 500 MB)")
    print(f"  all its processes together, peak Pss sampled every 0.1 s: {family:.0f} MB")
    print(
        f"  queries         {last['queries']:,}  ({last['queries'] / max(1, last['scopes']):.0f} per scope)"
    )
    for name, seconds in last["tasks"].items():
        print(f"  {name:<28}{seconds:.1f} s (inside the wall time)")
    print()

    period = Period.default()
    with CaptureQueriesContext(connection) as captured:
        orm_result = funnel(Scope(), period)
    orm_queries = len(captured)
    with connection.cursor() as cursor:
        hand_written_funnel(cursor, period)  # warm the caches once, as the ORM pass above did
        before = machine_load()
        # The two passes alternate (in a random order within each pair), so both see the same load.
        timings = alternate(
            {
                "orm": lambda: funnel(Scope(), period),
                "sql": lambda: hand_written_funnel(cursor, period),
            },
            args.runs,
        )
        after = machine_load()
    orm, sql = timings["orm"], timings["sql"]
    orm_result, sql_result = orm.last, sql.last
    problems = same_numbers(orm_result, sql_result)
    print(f"organisation funnel, {period.start} .. {period.end} "
          f"(median of {args.runs}, the two alternating)")  # fmt: skip
    print(f"  reports.metrics.funnel   {orm.median_ms:8.0f} ms  {orm_queries} queries")
    print(f"  hand-written SQL         {sql.median_ms:8.0f} ms  1 query")
    print(f"  ratio                    {ratio(orm, sql):8.2f}x   (goal <= 1.5)")
    print(f"  {load_line(before, after)}")
    print(f"  same numbers             {'yes' if not problems else 'NO: ' + '; '.join(problems)}")
    print(f"  open {orm_result['open_deals']:,} deals worth {Decimal(orm_result['open_value']):,.2f}; "
          f"won {orm_result['won_deals']:,}, lost {orm_result['lost_deals']:,} in the period")  # fmt: skip
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
