"""The Python part of the nightly grouped pass, replayed on cells read once (issue 14).

    DATABASE_URL=... .venv/bin/python benchmarks/nightly_replay.py save [--now ISO]
    DATABASE_URL=... .venv/bin/python benchmarks/nightly_replay.py run [--out figures.json]

``save`` runs the pass's queries (``grouped._cells``) with a fixed clock and pickles
every cell's sums to ``--cells``; ``run`` loads them and times ``grouped.figures`` on
every standard scope without those queries (the few small ones it makes itself
remain): building the trainings, the models, the funnels. It prints the CPU seconds,
the peak memory and a digest of every figure, so two versions of the code can be
compared figure for figure on the same cells (``--out`` writes the figures). The
pickle refers to ``reports.grouped``'s classes: save and run with the same ones.
"""

import argparse
import datetime
import hashlib
import json
import os
import pickle
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["save", "run"])
    parser.add_argument("--now", default="2026-12-05T00:00:00+00:00")
    parser.add_argument("--cells", default="/tmp/nightly_cells.pickle")
    parser.add_argument("--out")
    args = parser.parse_args()

    import django

    django.setup()
    from django.utils import timezone

    from pipeline.periods import Period
    from reports import grouped
    from reports.services import standard_scopes

    now = datetime.datetime.fromisoformat(args.now)
    today = timezone.localdate(now)
    period = Period.default(today)
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    if args.mode == "save":
        started = time.perf_counter()
        cells = grouped._cells(period, today, now)
        Path(args.cells).write_bytes(pickle.dumps(dict(cells), protocol=5))
        print(f"{len(cells)} cells in {time.perf_counter() - started:.1f} s; load {load}")
        return 0
    cells = defaultdict(grouped.CellSums, pickle.loads(Path(args.cells).read_bytes()))
    scopes = standard_scopes()
    grouped._cells = lambda *_, **__: cells
    cpu, wall = time.process_time(), time.perf_counter()
    figures = grouped.figures(scopes, period=period, now=now)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    text = json.dumps(figures, default=str, sort_keys=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(scopes)} scopes: Python CPU {cpu:.2f} s, wall {wall:.2f} s, peak {peak:.0f} MB, "
        f"digest {hashlib.sha256(text.encode()).hexdigest()[:16]}; load {load} -> "
        + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    )
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
