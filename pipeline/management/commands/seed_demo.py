"""``manage.py seed_demo``: a believable sales organisation to try Salesmgr with.

People with a reporting line, territories, accounts, products, about 18 months
of deals with their full stage-by-stage past, activities and monthly quotas.
The same ``--seed`` and ``--today`` always give the same data.

Two ways to the same story. A small demo (and any demo on SQLite) is played
out by ``demo.DealSimulator`` and written through the import services. A big
one on PostgreSQL (``--bulk``, the default from ``BULK_MIN_DEALS`` deals) is
told by ``demo_bulk.DealStory`` straight as COPY text, several processes each
making and storing chunks, with the loaded tables' secondary indexes and
foreign keys rebuilt once at the end (``pipeline.services.demo_bulk``).

Each part of the organisation is one method of the command (people,
territories, pipelines, products, quotas, accounts, deals, then the other
apps' histories through their own commands), so more demo data can be added
as one more step of ``handle``.
"""

import contextlib
import datetime
import itertools
import os
import queue
import random
import sys
import threading
import time

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from pipeline import demo, demo_bulk
from pipeline.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealLineItem,
    Product,
    StageTransition,
)
from pipeline.services import (
    AccountSpec,
    ContactSpec,
    accounts_import,
    activities_import,
    deals_import,
    lost_reason_create,
    pipeline_create,
    product_create,
    stage_create,
)
from pipeline.services.demo import demo_data_delete
from pipeline.services.demo_bulk import (
    DEAL_TABLES,
    accounts_copy,
    deals_copy,
    deals_loaded_representatives,
    ids_reserve,
    indexes_deferred,
)
from pipeline.services.territories import territory_rule_create
from pipeline.signals import deals_changed
from quotas.models import Quota, TargetBasis, Territory
from quotas.services import (
    manager_target_set,
    quota_set,
    quotas_upload,
    territory_create,
    territory_update,
)
from salesmgr.models import Role, User
from salesmgr.services import user_create, user_set_manager

ALREADY_PRESENT = "Demo data already present; use --reset to rebuild."
# Above this many deals the year of forecast history is left to backfill_forecasts.
BACKFILL_MAX_DEALS = 20_000
# Above this many deals the coaching history is left to seed_coaching: it reads every rep's deals.
COACHING_MAX_DEALS = 200_000
# Above this many deals the demo's commission statements cover two months, not a year: each
# rep's statement reads the month's wins, and a year of them for every rep is minutes at 1M deals.
COMPENSATION_MAX_DEALS = 200_000
# From this many deals a PostgreSQL demo takes the bulk path unless told --no-bulk.
BULK_MIN_DEALS = 20_000
# Deals per chunk of the bulk path: what one process makes and COPYs at a time.
BULK_CHUNK = 10_000


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--today {value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Fill the database with a demo sales organisation (once; --reset deletes ALL business data "
        "and every user first, then rebuilds)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--deals", type=int, default=2000, help="How many deals to make (default 2000)."
        )
        parser.add_argument(
            "--seed", type=int, default=42, help="Random seed; the same seed gives the same data."
        )
        parser.add_argument(
            "--today",
            type=_day,
            default=None,
            help="Reference day, YYYY-MM-DD (default today): history ends the day before.",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete all business data and users, then rebuild."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not show a progress bar."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=5000,
            help="Deals written per transaction (default 5000).",
        )
        parser.add_argument(
            "--bulk",
            action="store_true",
            help=f"Tell the deals straight as COPY text (PostgreSQL; the default from {BULK_MIN_DEALS:,} deals).",
        )
        parser.add_argument(
            "--no-bulk",
            action="store_true",
            help="Play every deal out through the import services, whatever the size.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes making and storing deals on the bulk path (default: one per core).",
        )
        parser.add_argument(
            "--no-forecasts",
            action="store_true",
            help="Do not compute the weekly forecast history of the last year.",
        )

    def handle(self, *args, **options):
        today = options["today"] or timezone.localdate()
        if today > timezone.localdate():
            raise CommandError("--today cannot be in the future: demo history never is.")
        if options["deals"] < 0 or options["batch_size"] < 1:
            raise CommandError("--deals must be 0 or more and --batch-size at least 1.")
        if options["bulk"] and options["no_bulk"]:
            raise CommandError("Give --bulk or --no-bulk, not both.")
        if options["bulk"] and connection.vendor != "postgresql":
            raise CommandError("--bulk needs PostgreSQL (it loads with COPY).")
        bulk = connection.vendor == "postgresql" and (
            options["bulk"] or (not options["no_bulk"] and options["deals"] >= BULK_MIN_DEALS)
        )
        self.timings: list[tuple[str, float]] = []
        if options["reset"]:
            with self.timed("reset"):
                self.wipe()
        elif User.objects.filter(username=demo.ADMIN[0]).exists():
            self.stdout.write(ALREADY_PRESENT)
            self.print_logins()
            return

        started = time.monotonic()
        rng = random.Random(options["seed"])
        progress = not options["no_progress"] and sys.stderr.isatty()
        org = demo.organisation(options["deals"])
        with self.timed("organisation"), transaction.atomic():
            admin, profiles, reps = self.people(rng, org)
            territory_of = self.territories(admin, org, profiles, reps)
            pipelines = self.pipelines(admin, today)
            lost_reason_ids = self.lost_reasons(admin)
            products = self.products(admin, rng)
            self.quotas(profiles, reps, today, options["deals"], bulk=bulk)
        if bulk:
            self.accounts_and_deals_by_copy(
                rng,
                profiles,
                reps,
                territory_of,
                today,
                options,
                progress,
                pipelines=pipelines,
                lost_reason_ids=lost_reason_ids,
                products=products,
            )
        else:
            with self.timed("accounts"):
                accounts = self.accounts(
                    rng, admin, profiles, reps, territory_of, today, options, progress
                )
            simulator = demo.DealSimulator(
                rng,
                today=today,
                pipelines=pipelines,
                lost_reason_ids=lost_reason_ids,
                products=products,
                currency=settings.DEFAULT_CURRENCY,
            )
            with self.timed("deals"):
                self.deals(rng, simulator, admin, profiles, reps, accounts, options, progress)
        self.stdout.write(f"Demo data built in {time.monotonic() - started:.1f} s.")
        self.print_counts()
        if connection.vendor == "postgresql":
            # Fresh statistics: without them the first reports plan a million rows badly.
            with self.timed("statistics"), connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        with self.timed("forecast history"):
            self.forecast_history(today, options, progress)
        with self.timed("coaching history"):
            self.coaching_history(today, options)
        with self.timed("compensation"):
            months = ["--months", "2"] if options["deals"] > COMPENSATION_MAX_DEALS else []
            call_command(
                "seed_compensation", "--today", today.isoformat(), *months, stdout=self.stdout
            )
        self.print_logins()
        self.stdout.write(
            "Seconds per step: "
            + ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.timings)
        )

    @contextlib.contextmanager
    def timed(self, name: str):
        """Time one step, for the summary line at the end."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((name, time.monotonic() - started))

    def forecast_history(self, today, options, progress: bool) -> None:
        """Weekly forecasts as of each week of the last year, so the demo shows forecast accuracy at once.

        Run through the reports app's command (the pipeline does not import the
        reports); skipped for big demos, where it is worth running on its own.
        """
        if options["no_forecasts"] or not apps.is_installed("reports"):
            return
        if options["deals"] > BACKFILL_MAX_DEALS:
            self.stdout.write(
                "Skipping the forecast history for a demo this size; run "
                "`manage.py backfill_forecasts --start YYYY-MM-DD` when you want it."
            )
            return
        managers = User.objects.filter(role=Role.MANAGER).values_list("pk", flat=True)
        call_command(
            "backfill_forecasts",
            # 52 weeks ending yesterday: what a team meeting or a dashboard of today reads as
            # its latest nightly run.
            start=(today - datetime.timedelta(days=358)).isoformat(),
            end=(today - datetime.timedelta(days=1)).isoformat(),
            every=7,
            scope=["org", *(f"team={pk}" for pk in managers)],
            no_progress=not progress,
            stdout=self.stdout,
        )

    def coaching_history(self, today, options) -> None:
        """A year of one-on-ones, through the coaching app's command (the pipeline does not import it)."""
        if not apps.is_installed("coaching"):
            return
        if options["deals"] > COACHING_MAX_DEALS:
            self.stdout.write(
                "Skipping the coaching history for a demo this size; run "
                "`manage.py seed_coaching` when you want it."
            )
            return
        call_command(
            "seed_coaching",
            "--seed",
            str(options["seed"]),
            "--today",
            today.isoformat(),
            stdout=self.stdout,
        )

    # Building ---------------------------------------------------------------

    def people(self, rng: random.Random, org: demo.Organisation):
        # Everyone shares the demo password: hash it once, not once per person.
        password_hash = make_password(demo.PASSWORD)

        def create(username, full_name, role, manager=None):
            return user_create(
                username=username,
                password=demo.PASSWORD,
                password_hash=password_hash,
                role=role,
                full_name=full_name,
                email=f"{username}@demo.example",
                manager=manager,
            )

        admin = create(*demo.ADMIN, Role.ADMIN)
        managers = {
            username: create(username, full_name, Role.MANAGER)
            for username, full_name, _ in org.managers
        }
        for username, _, boss in org.managers:
            if boss:
                user_set_manager(user=managers[username], manager=managers[boss])
        profiles = demo.rep_profiles(rng, org.reps)
        reps = [create(p.username, p.full_name, Role.REP, managers[p.manager]) for p in profiles]
        return admin, profiles, reps

    def territories(self, admin, org, profiles, reps) -> list[tuple[int, str, list[str]]]:
        """Build the territory tree, each owned by its region's manager, with assignment rules on the
        accounts' region (their country) where a country belongs to one territory; returns each
        rep's (territory id, name, countries)."""
        leaves = {}
        owner_of = {
            region: User.objects.get(username=manager)
            for manager, region in demo.TEAM_REGIONS.items()
        }
        shared = {
            country
            for children in demo.TERRITORIES.values()
            for country in {c for countries in children.values() for c in countries}
            if sum(country in countries for countries in children.values()) > 1
        }
        for parent_name, children in demo.TERRITORIES.items():
            owner = owner_of[parent_name]
            parent = territory_create(name=parent_name, region=parent_name, owner=owner, by=admin)
            for child_name, countries in children.items():
                child = territory_create(
                    name=child_name, region=parent_name, parent=parent, owner=owner, by=admin
                )
                own = [country for country in countries if country not in shared]
                if own:
                    territory_rule_create(territory=child, by=admin, priority=10, regions=own)
                leaves.setdefault(parent_name, []).append((child, countries))
        territory_of = []
        staff: dict[int, list[User]] = {}
        seen_per_region: dict[str, int] = {}
        for profile, rep in zip(profiles, reps, strict=True):
            region = org.regions[profile.manager]
            position = seen_per_region.get(region, 0)
            seen_per_region[region] = position + 1
            territory, countries = leaves[region][position % len(leaves[region])]
            staff.setdefault(territory.pk, []).append(rep)
            territory_of.append((territory.pk, territory.name, countries))
        for children in leaves.values():
            for territory, _ in children:
                territory_update(territory=territory, by=admin, reps=staff.get(territory.pk, []))
        return territory_of

    def pipelines(self, admin, today: datetime.date) -> dict[str, demo.PipelineIds]:
        created_at = timezone.make_aware(
            datetime.datetime.combine(
                today - datetime.timedelta(days=demo.HISTORY_DAYS + 60), datetime.time(9)
            )
        )
        result = {}
        for name, stage_defs in demo.PIPELINES.items():
            pipeline = pipeline_create(name=name, created_at=created_at, by=admin)
            stages = [
                stage_create(
                    pipeline=pipeline,
                    name=d.name,
                    order=order,
                    probability=d.probability,
                    kind=d.kind,
                    rot_days=d.rot_days,
                )
                for order, d in enumerate(stage_defs, start=1)
            ]
            open_pairs = [
                (s.pk, d) for s, d in zip(stages, stage_defs, strict=True) if d.kind == "open"
            ]
            result[name] = demo.PipelineIds(
                name=name,
                pk=pipeline.pk,
                open_ids=[pk for pk, _ in open_pairs],
                won_id=next(s.pk for s in stages if s.kind == "won"),
                lost_id=next(s.pk for s in stages if s.kind == "lost"),
                open_defs=[d for _, d in open_pairs],
            )
        return result

    def lost_reasons(self, admin) -> list[int]:
        """The reasons' ids, in the order of ``demo.LOST_REASONS``."""
        return [lost_reason_create(name=name, by=admin).pk for name in demo.LOST_REASONS]

    def products(self, admin, rng: random.Random) -> list:
        """Create the catalogue; returns (id, sku, unit price) per product."""
        return [
            (product_create(name=name, sku=sku, unit_price=price, by=admin).pk, sku, price)
            for name, sku, price in demo.products(rng)
        ]

    def quotas(self, profiles, reps, today: datetime.date, deals: int, *, bulk: bool) -> None:
        """A monthly quota for every rep over the history and through the end of this year (at least the next
        few months), so the planner shows a whole year; managers' are their teams' sums.

        A big demo uploads them all at once (the same rules, a fixed number of queries)."""
        periods = demo.months(today - datetime.timedelta(days=demo.HISTORY_DAYS), today)
        periods += demo.months_after(periods[-1][1], max(demo.QUOTA_MONTHS_AHEAD, 12 - today.month))
        admin = User.objects.get(username=demo.ADMIN[0])
        rows = []
        for profile, rep in zip(profiles, reps, strict=True):
            target = demo.monthly_target(profile, max(deals, 1), len(profiles))
            for start, end in periods:
                if bulk:
                    rows.append(
                        {
                            "owner": rep.username,
                            "period_start": start.isoformat(),
                            "period_end": end.isoformat(),
                            "target": str(target),
                        }
                    )
                else:
                    quota_set(owner=rep, period_start=start, period_end=end, target=target)
        if rows:
            quotas_upload(rows=rows, by=admin)
        for manager in User.objects.filter(role=Role.MANAGER).order_by("pk"):
            manager_target_set(manager=manager, basis=TargetBasis.ROLLUP, by=admin)

    def accounts(self, rng, admin, profiles, reps, territory_of, today, options, progress):
        """Create the accounts; returns (ids, names, size factors, account indexes per rep)."""
        count = max(300, options["deals"] // 7)
        first_day = timezone.make_aware(
            datetime.datetime.combine(
                today - datetime.timedelta(days=demo.HISTORY_DAYS), datetime.time(9)
            )
        )
        names = demo.AccountNames(rng)
        cum_weights = list(itertools.accumulate(p.volume for p in profiles))
        ids, labels, sizes = [], [], []
        per_rep: list[list[int]] = [[] for _ in profiles]
        with tqdm(
            total=count, desc="Accounts", unit="account", file=sys.stderr, disable=not progress
        ) as bar:
            for batch_start in range(0, count, options["batch_size"]):
                specs = []
                for index in range(batch_start, min(count, batch_start + options["batch_size"])):
                    # Every rep gets a few accounts before the rest follow their capacity.
                    rep_index = (
                        index % len(profiles)
                        if index < 3 * len(profiles)
                        else rng.choices(range(len(profiles)), cum_weights=cum_weights)[0]
                    )
                    territory_id, territory_name, countries = territory_of[rep_index]
                    draft = demo.account_draft(
                        rng, names, profiles[rep_index], territory_name, countries, first_day
                    )
                    specs.append(
                        AccountSpec(
                            name=draft.name,
                            owner_id=reps[rep_index].pk,
                            territory_id=territory_id,
                            industry=draft.industry,
                            region=draft.country,
                            employee_count=draft.employee_count,
                            website=draft.website,
                            created_at=draft.created_at,
                            contacts=[ContactSpec(*contact) for contact in draft.contacts],
                        )
                    )
                    labels.append(draft.name)
                    sizes.append(draft.size_factor)
                    per_rep[rep_index].append(index)
                ids.extend(accounts_import(specs=specs, by=admin))
                bar.update(len(specs))
        return ids, labels, sizes, per_rep

    def deals(self, rng, simulator, admin, profiles, reps, accounts, options, progress) -> None:
        """Play out the deals batch by batch, each batch written in its own transaction."""
        account_ids, account_names, account_sizes, per_rep = accounts
        cum_weights = list(itertools.accumulate(p.volume for p in profiles))
        total, batch_size = options["deals"], options["batch_size"]
        # On PostgreSQL the next batch is drawn while the database stores the previous one,
        # which keeps both cores busy. A caller's open transaction (a test) would be
        # invisible to another connection, so then everything stays on this thread.
        overlap = (
            connection.vendor == "postgresql"
            and not connection.in_atomic_block
            and total > batch_size
        )
        with tqdm(
            total=total, desc="Deals", unit="deal", file=sys.stderr, disable=not progress
        ) as bar:
            writer = _BatchWriter(admin, bar) if overlap else None
            for batch_start in range(0, total, batch_size):
                drafts = []
                for _ in range(min(batch_size, total - batch_start)):
                    rep_index = rng.choices(range(len(profiles)), cum_weights=cum_weights)[0]
                    account = rng.choice(per_rep[rep_index])
                    context = demo.DealContext(
                        rep=profiles[rep_index],
                        owner_id=reps[rep_index].pk,
                        account_id=account_ids[account],
                        account_name=account_names[account],
                        account_size=account_sizes[account],
                    )
                    drafts.append(simulator.deal(context))
                if writer is not None:
                    writer.submit(drafts)
                else:
                    _write_batch(admin, drafts)
                    bar.update(len(drafts))
            if writer is not None:
                writer.finish()

    def accounts_and_deals_by_copy(
        self,
        rng,
        profiles,
        reps,
        territory_of,
        today,
        options,
        progress,
        *,
        pipelines,
        lost_reason_ids,
        products,
    ) -> None:
        """The accounts and deals of a big demo, by COPY, with the tables' indexes built after the load."""
        total = options["deals"]
        count = max(300, total // 7)
        with self.timed("accounts, with their indexes"), indexes_deferred([Account, Contact]):
            account_text, contact_text, accounts, per_rep = demo_bulk.account_rows(
                rng,
                count=count,
                first_id=ids_reserve(Account, count),
                profiles=profiles,
                owner_ids=[rep.pk for rep in reps],
                territory_of=territory_of,
                today=today,
            )
            accounts_copy(account_text, contact_text)
            del account_text, contact_text
        with self.timed("deals, with their indexes"), indexes_deferred(DEAL_TABLES):
            first_id = ids_reserve(Deal, total)
            story = demo_bulk.DealStory(
                today=today,
                pipelines=pipelines,
                lost_reason_ids=lost_reason_ids,
                products=products,
                currency=settings.DEFAULT_CURRENCY,
                sellers=[
                    demo_bulk.Seller(profile=profile, owner_id=rep.pk, accounts=tuple(mine))
                    for profile, rep, mine in zip(profiles, reps, per_rep, strict=True)
                ],
                accounts=accounts,
                seed=options["seed"],
                first_id=first_id,
                chunk_size=BULK_CHUNK,
            )
            with (
                tqdm(
                    total=total, desc="Deals", unit="deal", file=sys.stderr, disable=not progress
                ) as bar,
                self.timed("deals: made and copied"),
            ):
                deals_copy(story, total, workers=options["workers"], progress=bar.update)
        if total:
            with self.timed("stale marks"):
                deals_changed.send(
                    sender=Deal,
                    deal_ids=deals_loaded_representatives(first_id, first_id + total - 1),
                )

    # Reset and reporting ----------------------------------------------------

    def wipe(self) -> None:
        """Delete every deal, account, product, quota, territory, pipeline and user."""
        demo_data_delete()

    def print_counts(self) -> None:
        counts = [
            ("users", User.objects.count()),
            ("territories", Territory.objects.count()),
            ("accounts", Account.objects.count()),
            ("contacts", Contact.objects.count()),
            ("products", Product.objects.count()),
            ("deals", Deal.objects.count()),
            ("line items", DealLineItem.objects.count()),
            ("stage transitions", StageTransition.objects.count()),
            ("deal history rows", Deal.history.count()),
            ("activities", Activity.objects.count()),
            ("quotas", Quota.objects.count()),
        ]
        self.stdout.write("Rows: " + ", ".join(f"{count:,} {name}" for name, count in counts))

    def print_logins(self) -> None:
        usernames = (
            [demo.ADMIN[0]]
            + [m[0] for m in demo.MANAGERS]
            + [f"rep{n}" for n in range(1, len(demo.REP_NAMES) + 1)]
        )
        users = {
            u.username: u
            for u in User.objects.filter(username__in=usernames).select_related("manager")
        }
        rows = [("username", "name", "role", "manager", "password")]
        for username in usernames:
            user = users.get(username)
            if user is not None:
                rows.append(
                    (
                        username,
                        user.full_name,
                        user.role,
                        user.manager.username if user.manager else "-",
                        demo.PASSWORD,
                    )
                )
        widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(
                    value.ljust(width) for value, width in zip(row, widths, strict=True)
                ).rstrip()
            )


def _write_batch(admin: User, drafts: list) -> None:
    """Store one batch of simulated deals and their activities, all or nothing."""
    with transaction.atomic():
        deal_ids = deals_import(specs=[spec for spec, _ in drafts], by=admin)
        activities = []
        for deal_id, (_, deal_activities) in zip(deal_ids, drafts, strict=True):
            for activity in deal_activities:
                activity.deal_id = deal_id
            activities.extend(deal_activities)
        activities_import(specs=activities)


class _BatchWriter:
    """Writes batches, in order, on a second thread with its own database connection.

    At most one batch waits in the queue, so memory stays at a few batches.
    """

    def __init__(self, admin: User, bar: tqdm):
        self.admin = admin
        self.bar = bar
        self.batches: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.run, name="seed-demo-writer", daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            while (drafts := self.batches.get()) is not None:
                _write_batch(self.admin, drafts)
                self.bar.update(len(drafts))
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc
            while self.batches.get() is not None:
                pass
        finally:
            connection.close()

    def submit(self, drafts: list) -> None:
        if self.error is not None:
            self.finish()
        self.batches.put(drafts)

    def finish(self) -> None:
        self.batches.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
