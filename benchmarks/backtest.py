"""Backtest every forecast method on the simulated worlds of ``benchmarks/worlds.py``.

    DATABASE_URL=postgres://.../a_database_of_its_own .venv/bin/python benchmarks/backtest.py [--worlds a,b] [--every 7]
        [--held-out | --all] [--sealed] [--fresh] [--unseen] [--draws N] [--dump FILE]

The database is emptied: for each world it loads the world, computes the
organisation's forecasts as of every ``--every``-th day of the last year
(``forecasts_backfill``: each from the history as it stood that morning),
matures them and prints, per world and horizon over the windows that have
passed: the mean absolute percentage error and the bias (mean of forecast
minus actual, over the mean actual) of ``weighted`` and ``model``, the ratio
of their MAPEs and the share of windows whose actual lies inside the model's
P10-P90 range. The last rows average the worlds.

``--held-out`` runs the worlds kept apart from tuning (``HELD_OUT_WORLDS``)
instead of the nine, ``--all`` both sets, each in a table of its own; ``--sealed`` adds the
worlds sealed before the method's third rework (``SEALED_WORLDS``, to be run once), ``--fresh`` those
written with the sixth (``FRESH_WORLDS``: a skipped middle stage, seasonal close rates, reps who differ),
``--unseen`` those sealed before the eighth round's method (``UNSEEN_WORLDS``: changes that creep in);
``--tenth`` those sealed before the tenth round's (``TENTH_WORLDS``: a price rise, pipeline scrubs,
memoryless stays); ``--dump`` pickles the model's inputs of every forecast
with what was then won, to study the estimator without reloading the worlds.
"""

import argparse
import datetime
import os
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("weighted", "model")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


class Recorder:
    """Keeps the inputs of each model forecast (training counts, open deals, new-business sums)."""

    def __init__(self):
        self.records: list[dict] = []
        self._current: dict = {}

    def install(self) -> None:
        """Wrap the model's functions where they are called: ``reports.forecasts`` for one scope,
        ``reports.grouped`` (which imported them by name) for the grouped backfill."""
        from reports import forecasts, grouped

        model_estimate, new_business_from = forecasts.model_estimate, forecasts.new_business_from

        def recording_new_business(moment, horizon, **sums):
            # Called for the estimate's arguments, just before it.
            self._current = {"moment": moment, "horizon": horizon, "new_business_sums": dict(sums)}
            return new_business_from(moment, horizon, **sums)

        def recording_estimate(**kwargs):
            stats = kwargs["stats"]
            self._current.update(
                outcomes={stage: dict(counts) for stage, counts in stats.outcomes.items()},
                sized={stage: dict(counts) for stage, counts in stats.sized.items()},
                moves={stage: dict(counts) for stage, counts in stats.moves.items()},
                open_groups=dict(kwargs["open_groups"]),
                probabilities=dict(kwargs["probabilities"]),
                paths=dict(kwargs.get("paths") or {}),
            )
            result = model_estimate(**kwargs)
            self.records.append({**self._current, "result": result})
            return result

        for module in (forecasts, grouped):
            module.model_estimate = recording_estimate
            module.new_business_from = recording_new_business


def world_rows(spec, every: int, recorder: Recorder | None = None) -> list[dict]:
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
    if recorder is not None:
        actuals = {
            (s.as_of, s.horizon): (s.actual, s.weighted)
            for s in ForecastSnapshot.objects.filter(scope_key=Scope().key)
        }
        for record in recorder.records:
            if "world" not in record:
                record["world"] = spec.name
                record["seed"] = spec.seed
                key = (timezone.localdate(record["moment"]), record["horizon"])
                record["actual"], record["weighted"] = actuals.get(key, (None, None))
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


def pooled(rows: list[dict]) -> list[dict]:
    """One world's rows from several draws, pooled per horizon: windows add up, the other figures
    are their means weighted by windows (so coverage is the share of all the draws' windows)."""
    keys = ("weighted_mape", "weighted_bias", "model_mape", "model_bias", "coverage", "below")
    result = []
    for horizon in dict.fromkeys(r["horizon"] for r in rows):
        group = [r for r in rows if r["horizon"] == horizon and r.get("windows")]
        if not group:
            result.append({**rows[0], "horizon": horizon, "windows": 0})
            continue
        windows = sum(r["windows"] for r in group)
        mean = {key: sum(r[key] * r["windows"] for r in group) / windows for key in keys}
        mean["ratio"] = (
            mean["model_mape"] / mean["weighted_mape"] if mean["weighted_mape"] else None
        )
        result.append({**group[0], **mean, "windows": windows})
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
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="run the held-out worlds, kept apart from tuning, instead of the usual nine",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="run the nine worlds and the held-out ones, each set in a table of its own",
    )
    parser.add_argument(
        "--sealed",
        action="store_true",
        help="also run the sealed worlds (SEALED_WORLDS), meant to be run once, after the method "
        "is settled",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="also run the worlds written with the sixth round (FRESH_WORLDS), meant to be run "
        "once, at the end",
    )
    parser.add_argument(
        "--unseen",
        action="store_true",
        help="also run the worlds sealed before the eighth round's method (UNSEEN_WORLDS), meant "
        "to be run once, at the end",
    )
    parser.add_argument(
        "--tenth",
        action="store_true",
        help="also run the worlds sealed before the tenth round's method (TENTH_WORLDS), meant "
        "to be run once, at the end",
    )
    parser.add_argument(
        "--replicate",
        type=int,
        default=0,
        help="draw each world again with another random seed (0: the usual draw); "
        "per-world figures at 90 days rest on few independent windows, so compare replicates",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=1,
        help="draw each world this many times (seeds from --replicate on) and print the figures "
        "pooled over the draws",
    )
    parser.add_argument(
        "--dump", help="pickle every model forecast's inputs and actual to this file"
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print(
            "Set DATABASE_URL to a database of the backtest's own: it is emptied.", file=sys.stderr
        )
        return 2
    setup_django()
    from django.core.management import call_command

    from benchmarks.worlds import (
        FRESH_WORLDS,
        HELD_OUT_WORLDS,
        SEALED_WORLDS,
        TENTH_WORLDS,
        UNSEEN_WORLDS,
        WORLDS,
    )

    call_command("migrate", verbosity=0)
    chosen = set(filter(None, args.worlds.split(",")))
    recorder = None
    if args.dump:
        recorder = Recorder()
        recorder.install()
    sets = []
    if args.all or not (args.held_out or args.sealed or args.fresh or args.unseen or args.tenth):
        sets.append(("Worlds the model was developed on:", WORLDS))
    if args.all or args.held_out:
        sets.append(("Held-out worlds (not used in tuning the model):", HELD_OUT_WORLDS))
    if args.sealed:
        sets.append(("Sealed worlds (written before the rework, run once):", SEALED_WORLDS))
    if args.fresh:
        sets.append(("Fresh worlds (written with the sixth round, run once):", FRESH_WORLDS))
    if args.unseen:
        sets.append(("Unseen worlds (sealed before the eighth round, run once):", UNSEEN_WORLDS))
    if args.tenth:
        sets.append(("Tenth-round worlds (sealed before its method, run once):", TENTH_WORLDS))
    if args.draws > 1:
        print(f"Pooled over {args.draws} draws of each world:")
    for title, specs in sets:
        rows = []
        for spec in specs:
            if chosen and spec.name not in chosen:
                continue
            draws = []
            for draw in range(args.replicate, args.replicate + args.draws):
                drawn = replace(spec, seed=spec.seed + 1000 * draw) if draw else spec
                world = world_rows(drawn, args.every, recorder)
                print(
                    f"{spec.name} (draw {draw}): {world[0]['deals']} deals, "
                    f"forecasts in {world[0]['seconds']:.1f} s",
                    file=sys.stderr,
                )
                draws += world
            rows += pooled(draws)
        if rows:
            print(title)
            print(table(rows + averages(rows)))
            sys.stdout.flush()
    if recorder is not None:
        with open(args.dump, "wb") as dump:
            pickle.dump(recorder.records, dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
