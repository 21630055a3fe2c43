"""``manage.py seed_coaching``: a year of one-on-ones for the demo organisation (``seed_demo`` runs it)."""

import datetime
import random

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from coaching import demo
from coaching.demo_hiring import seed_hiring
from coaching.demo_ride_alongs import seed_ride_alongs
from coaching.demo_sessions import seed_sessions
from coaching.demo_team_meetings import seed_team_meetings
from coaching.demo_training import seed_training
from coaching.models import OneOnOneSeries
from coaching.services.demo import demo_one_on_ones_create
from coaching.services.digests import demo_digest_preferences_create
from pipeline.models import Deal
from salesmgr.models import User

DEAL_NAMES_PER_PERSON = 12


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--today {value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Give every person with a manager a year of one-on-ones with them (once; skipped when any exist)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--today", type=_day, default=None, help="Reference day, YYYY-MM-DD.")

    def handle(self, *args, **options):
        self.stdout.write(
            seed_ride_alongs(seed=options["seed"], today=options["today"] or timezone.localdate())
        )
        self.stdout.write(f"Digest schedules: {demo_digest_preferences_create():,} written.")
        self.stdout.write(
            seed_hiring(seed=options["seed"], today=options["today"] or timezone.localdate())
        )
        if OneOnOneSeries.objects.exists():
            self.stdout.write("One-on-ones already present; seed_demo --reset rebuilds them.")
            return
        today = options["today"] or timezone.localdate()
        rng = random.Random(options["seed"])
        people = list(
            User.objects.filter(manager__isnull=False, is_active=True)
            .order_by("pk")
            .values_list("pk", "manager_id")
        )
        names: dict[int, list[str]] = {pk: [] for pk, _ in people}
        for owner_id, name in (
            Deal.objects.filter(owner_id__in=names, status="open", deleted_at__isnull=True)
            .order_by("owner_id", "-amount")
            .values_list("owner_id", "name")
        ):
            if len(names[owner_id]) < DEAL_NAMES_PER_PERSON:
                names[owner_id].append(name)
        plans = [
            demo.series_plan(
                rng, manager_id=manager_id, rep_id=pk, deal_names=names[pk], today=today
            )
            for pk, manager_id in people
        ]
        meetings = demo_one_on_ones_create(plans=plans)
        self.stdout.write(f"One-on-ones: {len(plans)} series, {meetings:,} meetings.")
        self.stdout.write(f"Coaching sessions: {seed_sessions(rng, today=today):,}.")
        self.stdout.write(seed_training(today=today, seed=options["seed"]))
        self.stdout.write(seed_team_meetings(seed=options["seed"], today=today))
