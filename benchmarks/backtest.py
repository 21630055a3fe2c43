"""Backtest every forecast method on the simulated worlds of ``benchmarks/worlds.py``.

    DATABASE_URL=postgres://.../a_database_of_its_own .venv/bin/python benchmarks/backtest.py [--worlds a,b] [--every 7]

The database is emptied: for each world it loads the world, computes the
organisation's forecasts as of every ``--every``-th day of the last year
(``forecasts_backfill``: each from the history as it stood that morning),
matures them and prints, per world and horizon over the windows that have
passed: the mean absolute percentage error and the bias (mean of forecast
minus actual, over the mean actual) of ``weighted`` and ``model``, the ratio
of their MAPEs and the share of windows whose actual lies inside the model's
P10-P90 range. The last rows average the worlds.
"""

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("weighted", "model")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def world_rows(spec, every: int) -> list[dict]:
    """Load one world, backfill and mature its forecasts; one row of figures per horizon."""
    from django.db import connection
    from django.utils import timezone

    from benchmarks.worlds import world_deals, world_load
    from pipeline.periods import start_of
    from pipeline.scopes import Scope
    from reports.forecasts import HORIZONS
    from reports.models import DirtyScope, ForecastSnapshot, MetricSnapshot
    from reports.services import forecasts_backfill

    for model in (ForecastSnapshot, MetricSnapshot, DirtyScope):
        model.objects.all().delete()
    now = start_of(timezone.localdate())  # the world is the same all day
    world = world_deals(spec, now)
    world_load(world)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # the planner needs statistics of the freshly loaded tables
    today = timezone.localdate(now)
    started = time.monotonic()
    forecasts_backfill(
        start=today - datetime.timedelta(days=364),
        end=today - datetime.timedelta(days=min(HORIZONS)),
        scopes=[Scope()],
        every=every,
    )
    seconds = time.monotonic() - started
    rows = []
    for horizon in HORIZONS:
        snapshots = ForecastSnapshot.objects.filter(
            scope_key=Scope().key, horizon=horizon, actual__gt=0
        )
        rows.append(
            {
                "world": spec.name,
                "deals": len(world.deals),
                "seconds": seconds,
                "horizon": horizon,
                **scores(
                    [(s.actual, s.weighted, s.model, s.model_p10, s.model_p90) for s in snapshots]
                ),
            }
        )
    return rows


def scores(windows: list[tuple]) -> dict:
    """MAPE and bias of each method, the model/weighted MAPE ratio and the model band's coverage."""
    n = len(windows)
    if not n:
        return {"windows": 0}
    mean_actual = sum(float(w[0]) for w in windows) / n
    result = {"windows": n}
    for index, method in enumerate(METHODS, start=1):
        result[f"{method}_mape"] = (
            sum(abs(float(w[index] - w[0])) / float(w[0]) for w in windows) / n
        )
        result[f"{method}_bias"] = sum(float(w[index] - w[0]) for w in windows) / n / mean_actual
    result["ratio"] = (
        result["model_mape"] / result["weighted_mape"] if result["weighted_mape"] else None
    )
    result["coverage"] = sum(1 for actual, _, _, p10, p90 in windows if p10 <= actual <= p90) / n
    result["below"] = sum(1 for actual, _, _, p10, _ in windows if actual < p10) / n
    return result


def table(rows: list[dict]) -> str:
    header = "| world | H | windows | weighted MAPE | weighted bias | model MAPE | model bias | model/weighted | in P10-P90 | below P10 |"
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for r in rows:
        if not r.get("windows"):
            lines.append(f"| {r['world']} | {r['horizon']} | 0 | | | | | | | |")
            continue
        lines.append(
            f"| {r['world']} | {r['horizon']} | {r['windows']} | {r['weighted_mape']:.2f} | {r['weighted_bias']:+.2f} "
            f"| {r['model_mape']:.2f} | {r['model_bias']:+.2f} | {r['ratio']:.2f} | {r['coverage']:.0%} | {r['below']:.0%} |"
        )
    return "\n".join(lines)


def averages(rows: list[dict]) -> list[dict]:
    """Per horizon, the mean of each figure over the worlds; then the mean over the horizons."""
    keys = ("weighted_mape", "weighted_bias", "model_mape", "model_bias", "coverage", "below")
    result = []
    scored = [r for r in rows if r.get("windows")]
    for horizon in sorted({r["horizon"] for r in scored}):
        group = [r for r in scored if r["horizon"] == horizon]
        mean = {key: sum(r[key] for r in group) / len(group) for key in keys}
        mean["ratio"] = mean["model_mape"] / mean["weighted_mape"]
        result.append(
            {
                "world": "mean of worlds",
                "horizon": horizon,
                "windows": sum(r["windows"] for r in group),
                **mean,
            }
        )
    if result:
        mean = {key: sum(r[key] for r in result) / len(result) for key in keys}
        mean["ratio"] = mean["model_mape"] / mean["weighted_mape"]
        result.append(
            {
                "world": "mean of worlds",
                "horizon": "all",
                "windows": sum(r["windows"] for r in result),
                **mean,
            }
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worlds", default="", help="comma-separated world names (default: all)")
    parser.add_argument("--every", type=int, default=7, help="days between forecasts")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print(
            "Set DATABASE_URL to a database of the backtest's own: it is emptied.", file=sys.stderr
        )
        return 2
    setup_django()
    from django.core.management import call_command

    from benchmarks.worlds import WORLDS

    call_command("migrate", verbosity=0)
    chosen = set(filter(None, args.worlds.split(",")))
    rows = []
    for spec in WORLDS:
        if chosen and spec.name not in chosen:
            continue
        world = world_rows(spec, args.every)
        print(
            f"{spec.name}: {world[0]['deals']} deals, forecasts in {world[0]['seconds']:.1f} s",
            file=sys.stderr,
        )
        rows += world
    print(table(rows + averages(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
