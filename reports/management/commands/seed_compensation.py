"""``manage.py seed_compensation``: demo commission plans, a year of statements and team budgets (``seed_demo`` runs it)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reports.demo_budget import budget_seed
from reports.demo_compensation import MONTHS, compensation_seed
from salesmgr.values import parse_date


class Command(BaseCommand):
    help = "Give every demo rep a commission plan, compute a year of monthly statements and budget each team (once)."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="YYYY-MM-DD (default: today).")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--months",
            type=int,
            default=MONTHS,
            help=f"Months of statements before this one (default {MONTHS}).",
        )

    def handle(self, *args, **options):
        today = parse_date(options["today"]) if options["today"] else timezone.localdate()
        if options["months"] < 1:
            raise CommandError(f"--months must be at least 1, not {options['months']}.")
        made = compensation_seed(today=today, seed=options["seed"], months=options["months"])
        budgets = budget_seed(today=today, seed=options["seed"])
        self.stdout.write(
            f"Compensation: {made['plans']} plans, {made['statements']} statements; {budgets} team budgets."
        )
