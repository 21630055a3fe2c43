"""``manage.py backfill_forecasts --start DATE --end DATE``: forecast snapshots for past dates."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from pipeline.scopes import Scope
from reports.services import forecasts_backfill, standard_scopes
from salesmgr.values import parse_date


def _date(value: str) -> datetime.date:
    day = parse_date(value)
    if day is None:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).")
    return day


class Command(BaseCommand):
    help = (
        "Compute the daily 30/60/90-day forecast snapshots as of past dates, from the history as it "
        "stood on each date, and fill in what was actually won where the window has passed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, help="First date, YYYY-MM-DD.")
        parser.add_argument("--end", help="Last date, YYYY-MM-DD (default: yesterday).")
        parser.add_argument(
            "--scope",
            action="append",
            help="A scope key such as org, team=4 or owner=9 (repeatable; default: every standard scope).",
        )
        parser.add_argument(
            "--every", type=int, default=1, help="Compute every N-th day only (default 1: daily)."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw a progress bar."
        )

    def handle(self, *args, **options):
        start = _date(options["start"])
        end = (
            _date(options["end"])
            if options["end"]
            else timezone.localdate() - datetime.timedelta(days=1)
        )
        if end < start:
            raise CommandError("--end is before --start.")
        if end >= timezone.localdate():
            raise CommandError("--end must be before today: today's forecast is the nightly run's.")
        try:
            scopes = (
                [Scope.from_key(key) for key in options["scope"]]
                if options["scope"]
                else standard_scopes()
            )
        except (ValueError, TypeError):
            raise CommandError(
                "A scope looks like org, team=4, owner=9, territory=2 or pipeline=1."
            ) from None
        if options["every"] < 1:
            raise CommandError("--every must be at least 1.")
        days = (end - start).days // options["every"] + 1
        with tqdm(total=days, unit="day", disable=options["no_progress"], desc="Forecasts") as bar:
            written = forecasts_backfill(
                start=start,
                end=end,
                scopes=scopes,
                every=options["every"],
                on_day=lambda day: bar.update(1),
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {written} forecast snapshots for {len(scopes)} scopes over {days} days."
            )
        )
