"""Would the model do better corrected by its own matured forecasts' bias? (issue 9, ninth round)

    .venv/bin/python benchmarks/self_correction.py CACHE DUMP [DUMP ...]

Replays ``backtest.py --dump`` pickles as ``replay.py`` does (the model's expected value and band
per recorded forecast, kept in ``CACHE.model`` for the next run), then scales each forecast by
the mean log ratio of actual to expected of the same world, draw and horizon's forecasts that
had matured by its moment (made ``H`` to ``H + lookback`` days before), shrunk toward 0 by its
standard error (James-Stein: ``m * max(0, 1 - se^2 / m^2)``, the error's variance over ``n``
or over the effective number ``n * 14 / H`` of the overlapping windows), and optionally widens the
band by that error. Prints the mean model/weighted ratio, band coverage and the horizons worse
than weighted, for the model as it is (``base``) and each variant. No database.
"""

import argparse
import math
import os
import pickle
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP_DAYS = 14  # the backtest's --every: successive windows overlap by H - 14 days


def model_rows(dumps: list[str]) -> list[dict]:
    """Each recorded forecast with its actual, the weighted figure and the model's as it stands."""
    from benchmarks.replay import model_result

    rows = []
    for dump in dumps:
        with open(dump, "rb") as file:
            records = pickle.load(file)
        for record in records:
            if record.get("actual") is None:
                continue
            result = model_result(record)
            rows.append(
                {
                    "world": record["world"],
                    "seed": record.get("seed"),
                    "horizon": record["horizon"],
                    "moment": record["moment"],
                    "actual": float(record["actual"]),
                    "weighted": float(record["weighted"]),
                    "expected": float(result["expected"]),
                    "p10": float(result["p10"]),
                    "p90": float(result["p90"]),
                }
            )
    return rows


def correction(matured: list[dict], horizon: int, effective: bool) -> tuple[float, float]:
    """The shrunk mean log ratio of actual to expected over ``matured``, and its squared error."""
    logs = [math.log(p["actual"] / p["expected"]) for p in matured]
    n = len(logs)
    mean = sum(logs) / n
    variance = sum((x - mean) ** 2 for x in logs) / max(1, n - 1)
    error = variance / (max(1.0, n * STEP_DAYS / horizon) if effective else n)
    if not mean:
        return 0.0, error
    return mean * max(0.0, 1 - error / (mean * mean)), error


def scored(rows: list[dict], *, lookback: int | None, effective: bool, widen: bool) -> list[dict]:
    """Per world and horizon, the backtest's scores of the corrected model (``None``: as it is)."""
    from benchmarks.backtest import pooled, scores

    groups = defaultdict(list)
    for row in rows:
        groups[(row["world"], row["seed"], row["horizon"])].append(row)
    found = []
    for (world, seed, horizon), group in groups.items():
        windows = []
        for row in group:
            factor, spread = 1.0, 1.0
            matured = [
                p
                for p in group
                if lookback is not None
                and horizon <= (row["moment"] - p["moment"]).days <= horizon + lookback
                and p["actual"] > 0
                and p["expected"] > 0
            ]
            if len(matured) >= 2:
                shift, error = correction(matured, horizon, effective)
                factor = math.exp(shift)
                spread = math.exp(1.2816 * math.sqrt(error)) if widen else 1.0
            if row["actual"] > 0:
                windows.append(
                    (
                        row["actual"],
                        row["weighted"],
                        row["expected"] * factor,
                        row["p10"] * factor / spread,
                        row["p90"] * factor * spread,
                    )
                )
        found.append({"world": world, "seed": seed, "horizon": horizon, **scores(windows)})
    by_world = defaultdict(list)
    for row in found:
        by_world[row["world"]].append(row)
    result = []
    for group in by_world.values():
        result += pooled(sorted(group, key=lambda r: (r["seed"] or 0, r["horizon"])))
    return result


def summary(name: str, rows: list[dict]) -> str:
    from benchmarks.backtest import averages

    means = averages(rows)[-1]
    worse = [
        (r["world"], r["horizon"], round(r["ratio"], 2)) for r in rows if (r.get("ratio") or 0) > 1
    ]
    return f"{name}: ratio {means['ratio']:.3f}, inside {means['coverage']:.1%}, worse than weighted {worse}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cache")
    parser.add_argument("dumps", nargs="+")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    import django

    django.setup()
    cache = Path(args.cache + ".model")
    if cache.exists():
        rows = pickle.loads(cache.read_bytes())
    else:
        rows = model_rows(args.dumps)
        cache.write_bytes(pickle.dumps(rows))
    print(summary("base", scored(rows, lookback=None, effective=True, widen=False)))
    for effective in (True, False):
        for lookback in (60, 120, 180):
            for widen in (False, True):
                name = (
                    f"{'effective n' if effective else 'n'}, lookback {lookback}, "
                    f"{'band widened' if widen else 'band as is'}"
                )
                rows_scored = scored(rows, lookback=lookback, effective=effective, widen=widen)
                print(summary(name, rows_scored))
    return 0


if __name__ == "__main__":
    sys.exit(main())
