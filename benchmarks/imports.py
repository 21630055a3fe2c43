"""How long a spreadsheet import of many deals takes, and the worker's peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/imports.py --rows 1000000

Migrates the database and seeds the demo (``seed_demo --no-forecasts``, once)
if it has no deals. Then writes a CSV of N new deals to a temporary file, the
way another CRM exports them (external id, name, account by name, owner by
e-mail, pipeline and stage by name, amount, currency, close date), and, as the
demo admin, runs the import the way the background job does
(``import_job_run``): the dry run, then the run. With ``--rerun`` the same
file is imported once more (every row an update with nothing to change). It
prints the seconds and rows per second of each phase and the peak resident
memory of the process; the file is streamed in batches of
``IMPORT_BATCH_ROWS``, so the peak should not grow with N.
"""

import argparse
import contextlib
import csv
import datetime
import io
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="deal rows in the file")
    parser.add_argument("--no-dry-run", action="store_true", help="skip timing the dry run")
    parser.add_argument("--rerun", action="store_true", help="import the same file a second time")
    args = parser.parse_args()

    setup_django()
    from django.conf import settings
    from django.core.files import File
    from django.core.management import call_command
    from django.db.models import Count

    from pipeline.models import Account, Deal, ImportJob, ImportStatus, Pipeline, StageKind
    from pipeline.services.import_jobs import (
        import_check_start,
        import_job_create,
        import_job_run,
        import_run_start,
    )
    from salesmgr.models import User

    call_command("migrate", verbosity=0)
    if not Deal.objects.exists():
        with contextlib.redirect_stdout(io.StringIO()):  # the demo logins
            call_command("seed_demo", "--no-forecasts", "--no-progress", verbosity=0)

    media = tempfile.TemporaryDirectory(prefix="import-bench-media-")
    settings.MEDIA_ROOT = media.name
    admin = User.objects.get(username="admin")
    pipeline = Pipeline.objects.filter(is_active=True).order_by("pk").first()
    stages = list(
        pipeline.stages.filter(kind=StageKind.OPEN).order_by("order").values_list("name", flat=True)
    )
    accounts = list(
        Account.objects.filter(deleted_at__isnull=True)
        .values("name")
        .annotate(n=Count("pk"))
        .filter(n=1)
        .order_by("name")
        .values_list("name", flat=True)[:500]
    )
    owners = list(
        User.objects.filter(role="rep", is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    run = uuid.uuid4().hex[:8]
    today = datetime.date.today()

    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as handle:
        path = handle.name
        writer = csv.writer(handle)
        writer.writerow(
            ["Deal ID", "Deal Name", "Company", "Deal Owner", "Pipeline", "Deal Stage", "Amount", "Currency", "Close Date"]
        )  # fmt: skip
        for n in range(args.rows):
            writer.writerow(
                [
                    f"bench-{run}-{n}",
                    f"Imported deal {n}",
                    accounts[n % len(accounts)],
                    owners[n % len(owners)],
                    pipeline.name,
                    stages[n % len(stages)],
                    f"{1000 + n % 50_000}.{n % 100:02d}",
                    settings.DEFAULT_CURRENCY,
                    (today + datetime.timedelta(days=10 + n % 300)).isoformat(),
                ]
            )
    size_mb = os.path.getsize(path) / 1024 / 1024
    print(f"{args.rows:,} rows, {size_mb:.1f} MB CSV; {Deal.objects.count():,} deals before")
    print(
        f"batch {settings.IMPORT_BATCH_ROWS} rows; RSS before the import {current_rss_mb():.0f} MB"
    )

    def phase(label: str, job, start) -> None:
        started = time.perf_counter()
        start()
        job = import_job_run(job_id=job.pk)
        seconds = time.perf_counter() - started
        print(
            f"{label:<10} {seconds:8.1f} s  {job.done / seconds:8.0f} rows/s  "
            f"created {job.created:,} updated {job.updated:,} rejected {job.rejected:,}  "
            f"status {job.status}  peak RSS {rss_mb():.0f} MB"
        )
        if job.status not in (ImportStatus.CHECKED, ImportStatus.DONE):
            raise SystemExit(job.error)

    def one_import(label: str) -> None:
        with open(path, "rb") as source:
            job = import_job_create(by=admin, kind="deals", upload=File(source, name="bench.csv"))
        print(f"{label}: upload and count {job.total:,} rows; peak RSS {rss_mb():.0f} MB")
        if args.no_dry_run:  # straight to the run, as if checked
            ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.CHECKED)
        else:
            phase(
                "dry run", job, lambda: import_check_start(job=job, by=admin, mapping=job.mapping)
            )
        job.refresh_from_db()
        phase("run", job, lambda: import_run_start(job=job, by=admin))

    try:
        one_import("first import")
        if args.rerun:
            one_import("second import")
    finally:
        os.unlink(path)
        media.cleanup()
    print(f"{Deal.objects.count():,} deals after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
