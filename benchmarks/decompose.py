"""Where the model's error comes from: its forecast split by part against what each part won.

    .venv/bin/python benchmarks/decompose.py DUMP [DUMP ...] [--set NAME=VALUE ...]

For every forecast that ``backtest.py --dump`` recorded, the model is replayed as the code stands
(``replay.py``) part by part: the open deals of each stage (the estimate with only that stage's
deals, less the estimate with none), new business and the reopened wins (the estimate with no open
deal). The world is drawn again (``world_deals``, the same spec, seed and end as the backtest's:
midnight of the day it runs, so run it the day of the dump) and what was won inside each window is
split the same way, by where the deal stood at the forecast's moment: in an open stage, not yet
created, or lost. Per world and horizon it prints each part's mean forecast and mean actual over
the windows (as shares of the mean actual of the whole) and the model's MAPE with that part replaced
by its actual, so the part whose error costs most shows.
"""

import argparse
import ast
import datetime
import os
import pickle
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def actual_parts(world, moment: datetime.datetime, horizon: int) -> dict:
    """The value won in ``[moment, moment + horizon)`` by where each deal stood at ``moment``:
    ``stage index`` (open), ``"new"`` (created after) or ``"lost"``."""
    from benchmarks.worlds import LOST, WON

    end = moment + datetime.timedelta(days=horizon)
    parts: dict = defaultdict(float)
    for deal in world.deals:
        for stage, at in deal.transitions:
            if stage != WON or not (moment <= at < end):
                continue
            before = [s for s, t in deal.transitions if t < moment]
            if not before:
                where = "new"
            elif before[-1] == LOST:
                where = "lost"
            elif before[-1] < WON:
                where = before[-1]
            else:
                where = "won"
            amount = [a for t, a in deal.amounts if t <= at][-1]
            parts[where] += float(amount)
    return parts


def model_parts(record: dict) -> dict:
    from benchmarks.replay import training_of
    from reports import forecasts

    new_business = forecasts.new_business_from(
        record["moment"], record["horizon"], **record["new_business_sums"]
    )

    def estimate(groups):
        return float(
            forecasts.model_estimate(
                stats=training_of(record),
                open_groups=groups,
                probabilities=record["probabilities"],
                horizon=record["horizon"],
                new_business=new_business,
                paths=record["paths"],
            )["expected"]
        )

    base = estimate({})
    parts = {"new+lost": base}
    depth = max(len(path) for path in record["paths"].values())
    for stage_id, path in record["paths"].items():
        groups = {k: v for k, v in record["open_groups"].items() if k[0] == stage_id}
        parts[depth - len(path)] = estimate(groups) - base if groups else 0.0
    parts["total"] = estimate(record["open_groups"])
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dumps", nargs="+")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    import django

    django.setup()
    from django.utils import timezone

    from benchmarks.worlds import (
        FRESH_WORLDS,
        HELD_OUT_WORLDS,
        SEALED_WORLDS,
        TENTH_WORLDS,
        UNSEEN_WORLDS,
        WORLDS,
        world_deals,
    )
    from pipeline.periods import start_of
    from reports import forecasts

    for assignment in args.set:
        name, value = assignment.split("=", 1)
        setattr(forecasts, name, ast.literal_eval(value))
    specs = {
        s.name: s
        for s in (
            *WORLDS,
            *HELD_OUT_WORLDS,
            *SEALED_WORLDS,
            *FRESH_WORLDS,
            *UNSEEN_WORLDS,
            *TENTH_WORLDS,
        )
    }
    now = start_of(timezone.localdate())
    records = []
    for dump in args.dumps:
        with open(dump, "rb") as file:
            records += [r for r in pickle.load(file) if r.get("actual")]
    worlds = {}
    sums: dict = defaultdict(lambda: defaultdict(float))
    errors: dict = defaultdict(lambda: defaultdict(float))
    counts: dict = defaultdict(int)
    for record in records:
        key = (record["world"], record["seed"])
        if key not in worlds:
            worlds[key] = world_deals(replace(specs[record["world"]], seed=record["seed"]), now)
        actual = actual_parts(worlds[key], record["moment"], record["horizon"])
        actual["new+lost"] = actual.pop("new", 0.0) + actual.pop("lost", 0.0)
        model = model_parts(record)
        whole = float(record["actual"])
        row = (record["world"], record["horizon"])
        counts[row] += 1
        for part in ("new+lost", 0, 1, 2, 3):
            sums[row][f"model {part}"] += model.get(part, 0.0)
            sums[row][f"actual {part}"] += actual.get(part, 0.0)
            # The whole forecast's error with this part's forecast replaced by what it won.
            fixed = model["total"] - model.get(part, 0.0) + actual.get(part, 0.0)
            errors[row][part] += abs(fixed - whole) / whole
        sums[row]["actual"] += whole
        sums[row]["simulated"] += sum(v for k, v in actual.items() if k != "won")
        errors[row]["none"] += abs(model["total"] - whole) / whole
    parts = ("new+lost", 0, 1, 2, 3)
    print(
        "| world | H | sim/actual | "
        + " | ".join(f"{p} model/actual (share)" for p in parts)
        + " | MAPE | "
        + " | ".join(f"MAPE, {p} exact" for p in parts)
        + " |"
    )
    print("|" + " --- |" * (4 + 2 * len(parts)))
    for row in sorted(sums, key=lambda r: (r[0], r[1])):
        s, n = sums[row], counts[row]
        cells = []
        for part in parts:
            a, m = s[f"actual {part}"], s[f"model {part}"]
            cells.append(f"{m / a if a else float('nan'):.2f} ({a / s['actual']:.0%})")
        print(
            f"| {row[0]} | {row[1]} | {s['simulated'] / s['actual']:.2f} | "
            + " | ".join(cells)
            + f" | {errors[row]['none'] / n:.2f} | "
            + " | ".join(f"{errors[row][p] / n:.2f}" for p in parts)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
