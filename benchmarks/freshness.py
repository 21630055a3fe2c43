"""How long a deal move takes to reach the dashboard's figures with a real Celery worker.

    REDIS_URL=redis://127.0.0.1:6379/14 \\
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/freshness.py --moves 3

Reads the data already in the database (seed it first: ``seed_demo --deals N``).
It starts ``celery -A salesmgr worker`` and ``celery -A salesmgr beat`` (as
``make worker`` and ``make beat`` do; ``--no-start`` uses ones already
running), writes fresh snapshots of every standard scope, then for each of
``--moves`` moves a deal of ``manager1``'s team between two open stages
through ``deal_move`` (the service the API and the board call) and polls every
``--poll`` seconds until the team's dashboard, read as the page reads it, is
no longer stale and its funnel counts the deal in its new stage. It prints
the seconds from the move's commit to that moment, and stops the processes
it started.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGER = "manager1"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def start_celery(log_dir: Path) -> list[subprocess.Popen]:
    """A worker and beat, as ``make worker`` and ``make beat`` run them, each in its own process group."""
    celery = str(ROOT / ".venv" / "bin" / "celery")
    commands = {
        "worker": [celery, "-A", "salesmgr", "worker", "--loglevel=info"],
        "beat": [
            celery, "-A", "salesmgr", "beat", "--loglevel=info",
            "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
            "--schedule", str(log_dir / "beat-schedule"),
        ],
    }  # fmt: skip
    processes = []
    for name, command in commands.items():
        log = (log_dir / f"{name}.log").open("w")
        processes.append(
            subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--moves", type=int, default=3, help="Deal moves to time, one after the other."
    )
    parser.add_argument(
        "--poll", type=float, default=0.5, help="Seconds between two reads of the dashboard."
    )
    parser.add_argument(
        "--timeout", type=float, default=180, help="Give up on a move after this many seconds."
    )
    parser.add_argument(
        "--no-start", action="store_true", help="Use a worker and beat already running."
    )
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("Set REDIS_URL: without a broker there is no worker to measure.")

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from pipeline.models import Deal, Stage, StageKind
    from pipeline.services import deal_move
    from reports.models import DirtyScope
    from reports.services import snapshots_compute, standard_scopes
    from salesmgr.celery import app
    from salesmgr.models import User

    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"salesmgr-freshness-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = [] if args.no_start else start_celery(log_dir)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline:
                raise SystemExit(f"no Celery worker answered within 60 s; see {log_dir}")
        setup_test_environment()  # the test client then keeps each response's template context
        manager = User.objects.get(username=MANAGER)
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(manager)
        snapshots_compute(scopes=standard_scopes())
        DirtyScope.objects.all().delete()
        client.get("/dashboard/")

        deal = (
            Deal.objects.filter(
                owner__manager=manager, status=StageKind.OPEN, deleted_at__isnull=True
            )
            .order_by("pk")
            .first()
        )
        first, second = Stage.objects.filter(
            pipeline=deal.pipeline_id, kind=StageKind.OPEN
        ).order_by("order")[:2]

        def open_now(response) -> dict[int, int]:
            """Open deals per stage in the funnel the page shows (its figures read from the snapshot)."""
            return {
                stage["stage"]: stage["open_now"] for stage in response.context["funnel"]["stages"]
            }

        print(
            f"{Deal.objects.count():,} deals; REPORTS_RECOMPUTE_DELAY={settings.REPORTS_RECOMPUTE_DELAY} s, "
            f"sweep every {settings.REPORTS_SWEEP_SECONDS} s; load {load_average()}"
        )
        latencies = []
        for n in range(1, args.moves + 1):
            before = open_now(client.get("/dashboard/"))
            target = second if deal.stage_id == first.pk else first
            source = first if target == second else second
            with transaction.atomic():
                deal = deal_move(
                    deal=deal, to_stage=target, by=deal.owner, expected_version=deal.version
                )
            moved = time.monotonic()
            moved_at = timezone.now()
            while True:
                response = client.get("/dashboard/")
                counts = open_now(response)
                landed = (
                    not response.context["stale"]
                    and response.context["funnel"]["computed_at"] > moved_at
                    and counts.get(target.pk) == before.get(target.pk, 0) + 1
                    and counts.get(source.pk) == before.get(source.pk, 0) - 1
                )
                if landed:
                    break
                if time.monotonic() - moved > args.timeout:
                    raise SystemExit(
                        f"move {n}: not on the dashboard after {args.timeout:.0f} s; see {log_dir}"
                    )
                time.sleep(args.poll)
            latencies.append(time.monotonic() - moved)
            print(
                f"move {n}: on the dashboard {latencies[-1]:.1f} s after it committed (load {load_average()})"
            )
        print(
            f"median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s (goal: under 30 s)"
        )
    finally:
        stop(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
