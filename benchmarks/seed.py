"""How fast ``seed_demo`` fills PostgreSQL, and how much memory it takes.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/seed.py --deals 100000

Resets the database's business data, runs ``seed_demo`` in a subprocess and
prints its wall time, deals per second, peak resident memory and the rows it
made. The goal (PERFORMANCE.md) is 1,000,000 deals in under 10 minutes with
bounded memory on a 2-core machine.

Wall time on a shared machine depends on what else runs, so the CPU time of
the seeding process and, when PostgreSQL runs on this machine, of the
database backends serving it are printed too, with the load average: those
do not change with the neighbours.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
APPLICATION_NAME = "salesmgr_seed_benchmark"


def with_application_name(url: str) -> str:
    """The database URL with an application_name, so the run's backends can be found."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["application_name"] = APPLICATION_NAME
    return urlunsplit(parts._replace(query=urlencode(query)))


def backend_cpu_seconds(cursor, seen: dict[int, float]) -> None:
    """Record the CPU time so far of each backend serving the run (local PostgreSQL only)."""
    cursor.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME]
    )
    ticks = os.sysconf("SC_CLK_TCK")
    for (pid,) in cursor.fetchall():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--workers", type=int, default=None, help="seed_demo --workers (default: its own)."
    )
    parser.add_argument(
        "--path",
        choices=["auto", "bulk", "services"],
        default="auto",
        help="seed_demo's path: bulk (--bulk), services (--no-bulk) or its own choice by size.",
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        print(
            "Set DATABASE_URL to a PostgreSQL database (postgres://...); this benchmark measures PostgreSQL.",
            file=sys.stderr,
        )
        return 2

    import psycopg2

    monitor = psycopg2.connect(url)
    monitor.autocommit = True
    command = [
        sys.executable,
        "manage.py",
        "seed_demo",
        "--reset",
        "--no-progress",
        "--skip-checks",  # the system checks are not what is measured
        f"--deals={args.deals}",
        f"--seed={args.seed}",
        f"--batch-size={args.batch_size}",
    ]
    if args.workers:
        command.append(f"--workers={args.workers}")
    command += {"auto": [], "bulk": ["--bulk"], "services": ["--no-bulk"]}[args.path]
    print("$", " ".join(command[1:]), flush=True)
    load_before = os.getloadavg()[0]
    backends: dict[int, float] = {}
    started = time.perf_counter()
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": with_application_name(url)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with monitor.cursor() as cursor:
        while child.poll() is None:
            backend_cpu_seconds(cursor, backends)
            time.sleep(0.5)
    wall = time.perf_counter() - started
    stdout, stderr = child.communicate()
    monitor.close()
    if child.returncode:
        print(stdout, stderr, sep="\n", file=sys.stderr)
        return child.returncode
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = usage.ru_maxrss / 1024  # kB on Linux

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()
    from pipeline.models import Account, Activity, Deal, StageTransition

    counts = {
        "deals": Deal.objects.count(),
        "stage transitions": StageTransition.objects.count(),
        "deal history rows": Deal.history.count(),
        "activities": Activity.objects.count(),
        "accounts": Account.objects.count(),
    }
    print(f"deals requested     {args.deals:,}")
    print(f"wall time           {wall:.1f} s")
    print(f"deals per second    {args.deals / wall:,.0f}")
    print(f"peak memory (RSS)   {peak_mb:,.0f} MB")
    print(f"seed_demo CPU       {usage.ru_utime + usage.ru_stime:.1f} s")
    if backends:
        print(f"PostgreSQL CPU      {sum(backends.values()):.1f} s (at the last sample)")
    print(
        f"load average        {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    for name, count in counts.items():
        print(f"{name:<19} {count:,}")
    for line in stdout.splitlines():
        if line.startswith(("Seconds per step", "Skipping")):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
