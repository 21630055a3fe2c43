"""Replay the model on the inputs ``backtest.py --dump`` recorded, to compare estimators on the same draws.

    .venv/bin/python benchmarks/replay.py DUMP [DUMP ...] [--set NAME=VALUE ...]

Every recorded forecast's training, open deals and new-business sums are put
through ``reports.forecasts.model_estimate`` as the code stands (``--set``
overrides a module constant of ``reports.forecasts`` first, e.g.
``CHAINED=False``), and scored against what was then won as ``backtest.py``
scores them: per world and horizon, pooled over draws, then the worlds' mean.
No database: it reads the pickles only.
"""

import argparse
import ast
import os
import pickle
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def training_of(record: dict):
    from reports.forecasts import Training, band_scale

    training = Training()
    for stage, outcomes in record["outcomes"].items():
        for outcome, counts in outcomes.items():
            training.outcomes[stage][outcome] = list(counts)
    for stage, outcomes in record.get("sized", {}).items():
        for outcome, counts in outcomes.items():
            training.sized[stage][outcome] = list(counts)
    # Records made before the sized weights were kept by size band.
    for stage, bands in record.get("banded", {}).items():
        for band, outcomes in bands.items():
            scale = band_scale(band)
            for outcome, (weight, squares) in outcomes.items():
                have = training.sized[stage].setdefault(outcome, [0, 0])
                have[0] += weight * scale
                have[1] += squares * scale * scale
    for stage, moves in record.get("moves", {}).items():
        for move, weight in moves.items():
            training.moves[stage][move] = weight
    return training


def model_result(record: dict) -> dict:
    """The model's estimate (expected value and band) for one recorded forecast, as the code now stands."""
    from reports import forecasts

    new_business = forecasts.new_business_from(
        record["moment"], record["horizon"], **record["new_business_sums"]
    )
    return forecasts.model_estimate(
        stats=training_of(record),
        open_groups=record["open_groups"],
        probabilities=record["probabilities"],
        horizon=record["horizon"],
        new_business=new_business,
        paths=record["paths"],
    )


def replay(records: list[dict]) -> list[dict]:
    """Per world, seed and horizon, the backtest's scores of the replayed model."""
    from benchmarks.backtest import scores

    windows = defaultdict(list)
    for record in records:
        if not record.get("actual"):
            continue
        result = model_result(record)
        key = (record["world"], record.get("seed"), record["horizon"])
        windows[key].append(
            (record["actual"], record["weighted"], result["expected"], result["p10"], result["p90"])
        )
    return [
        {"world": world, "seed": seed, "horizon": horizon, **scores(found)}
        for (world, seed, horizon), found in windows.items()
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dumps", nargs="+")
    parser.add_argument(
        "--set", action="append", default=[], help="NAME=VALUE in reports.forecasts"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    import django

    django.setup()
    from benchmarks.backtest import averages, pooled, table
    from reports import forecasts

    for assignment in args.set:
        name, value = assignment.split("=", 1)
        setattr(forecasts, name, ast.literal_eval(value))
    records = []
    for dump in args.dumps:
        with open(dump, "rb") as file:
            records += pickle.load(file)
    rows = []
    by_world = defaultdict(list)
    for row in replay(records):
        by_world[row["world"]].append(row)
    for found in by_world.values():
        rows += pooled(sorted(found, key=lambda r: (r["seed"], r["horizon"])))
    means = averages(rows)
    print(table(rows + means))
    if means:
        print(
            f"mean ratio {means[-1]['ratio']:.3f}, inside the band {means[-1]['coverage']:.1%}, "
            f"horizons worse than weighted: "
            f"{[(r['world'], r['horizon']) for r in rows if r.get('ratio') and r['ratio'] > 1]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
