"""What deals in other currencies cost the figures: single- against multi-currency, same data.

    psql -h 127.0.0.1 -U postgres -c 'create database salesmgr_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/salesmgr_bench \\
        .venv/bin/python benchmarks/currencies.py --deals 30000 --share 0.3 [--reuse] [--runs 3]

Migrates the database and seeds ``seed_demo --reset --deals N`` unless
``--reuse`` finds N deals there already. It times (best of ``--runs``) the
nightly grouped pass (``grouped.figures`` over the standard scopes), the
organisation's funnel and its 90-day forecast with every deal in the
reporting currency; then it moves ``--share`` of the deals (every k-th by id)
into EUR and GBP, writes a rate per currency for every day of the deals' span,
times the same again and prints both with the ratio. At the end it puts
every deal back in the reporting currency and deletes the rates it wrote.
"""

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOREIGN = ("EUR", "GBP")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()


def best(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def timings(runs: int) -> dict[str, float]:
    from django.utils import timezone

    from pipeline.periods import Period
    from pipeline.scopes import Scope
    from reports import grouped
    from reports.forecasts import forecast
    from reports.metrics import funnel
    from reports.services import standard_scopes

    scopes = [scope for scope in standard_scopes() if scope.product is None]
    now = timezone.now()
    return {
        f"grouped pass ({len(scopes)} scopes)": best(
            lambda: grouped.figures(scopes, period=Period.default(), now=now), runs
        ),
        "organisation funnel": best(lambda: funnel(Scope(), Period.default()), runs),
        "organisation 90-day forecast": best(
            lambda: forecast(Scope(), timezone.localdate(now), 90, now=now), runs
        ),
    }


def move_into_currencies(share: float) -> int:
    """Every k-th deal into EUR or GBP (alternately), with a rate for every day of the deals' span."""
    from django.db import connection
    from django.db.models import Max, Min

    from pipeline.models import Deal, ExchangeRate

    every = max(1, round(1 / share))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pipeline_deal SET currency = CASE WHEN (id / %s) %% 2 = 0 THEN %s ELSE %s END "
            "WHERE id %% %s = 0",
            [every, FOREIGN[0], FOREIGN[1], every],
        )
        moved = cursor.rowcount
    span = Deal.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    day = span["first"].date() - datetime.timedelta(days=1)
    last = datetime.date.today() + datetime.timedelta(days=1)
    rates = []
    while day <= last:
        wobble = (day.toordinal() % 17) / 1000
        rates.append(ExchangeRate(currency="EUR", valid_from=day, rate=f"{1.08 + wobble:.4f}"))
        rates.append(ExchangeRate(currency="GBP", valid_from=day, rate=f"{1.27 - wobble:.4f}"))
        day += datetime.timedelta(days=1)
    ExchangeRate.objects.filter(currency__in=FOREIGN).delete()
    ExchangeRate.objects.bulk_create(rates)
    vacuum_analyze()
    return moved


def vacuum_analyze() -> None:
    """Fresh statistics and no dead rows after the bulk updates, so both timings plan alike."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE pipeline_deal")
        cursor.execute("VACUUM ANALYZE pipeline_exchangerate")


def back_to_one_currency() -> None:
    from django.conf import settings
    from django.db import connection

    from pipeline.models import ExchangeRate

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pipeline_deal SET currency = %s WHERE currency <> %s",
            [settings.REPORTING_CURRENCY, settings.REPORTING_CURRENCY],
        )
    ExchangeRate.objects.filter(currency__in=FOREIGN).delete()
    vacuum_analyze()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--deals", type=int, default=30000, help="How many demo deals (default 30000)."
    )
    parser.add_argument(
        "--share",
        type=float,
        default=0.3,
        help="Share of deals moved out of the reporting currency.",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the deals there if there are N already."
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="Runs per figure; the best is printed (default 3)."
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        print("Set DATABASE_URL to a PostgreSQL database of the benchmark's own.", file=sys.stderr)
        return 2
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
    setup_django()
    from pipeline.models import Deal

    if not (args.reuse and Deal.objects.count() == args.deals):
        subprocess.run(
            [
                python,
                "manage.py",
                "seed_demo",
                "--reset",
                "--no-progress",
                "--deals",
                str(args.deals),
            ],
            cwd=ROOT,
            check=True,
        )
    back_to_one_currency()
    single = timings(args.runs)
    moved = move_into_currencies(args.share)
    try:
        multi = timings(args.runs)
    finally:
        back_to_one_currency()
    print(
        f"{Deal.objects.count()} deals, {moved} moved into {' and '.join(FOREIGN)} with daily rates"
    )
    print(f"{'figure':<34} {'single':>9} {'multi':>9} {'ratio':>6}")
    for name, seconds in single.items():
        print(f"{name:<34} {seconds:>8.2f}s {multi[name]:>8.2f}s {multi[name] / seconds:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
