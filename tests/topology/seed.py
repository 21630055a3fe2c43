"""A small sales organisation for the topology, written through the services; its cast as JSON.

    DATABASE_URL=postgres://... python -m tests.topology.seed --out cast.json --teams 2 --reps 4 --deals 12

Managers ``manager1``.., each with ``--reps`` reps (``rep1_1``..), one account
per rep and ``--deals`` deals per rep spread over the open stages, a few of
them won and lost. Every person gets an API token (the load and the
scenarios use tokens, so no request pays for a password hash); the managers
also get ``PASSWORD`` for the sign-in page. Then every standard scope's
snapshots are written, so the run starts with nothing stale. The cast file
holds the ids, the tokens and each rep's deals.

    DATABASE_URL=postgres://.../salesmgr_bench python -m tests.topology.seed --out cast.json --from-database --deals 40

``--from-database`` seeds nothing: it reads the cast from an organisation
already there (``seed_demo``'s, at any size), issuing the API tokens it
lacks: the first pipeline with open deals, every active manager and rep, each
rep's first account and up to ``--deals`` of their open deals in that
pipeline. Managers sign in with ``--password`` (``seed_demo``'s by default).
Then, as above, every standard scope's snapshots are written.
"""

import argparse
import datetime
import json
import os
from decimal import Decimal
from pathlib import Path

PASSWORD = "topology-pass-1"


def seed(*, teams: int, reps: int, deals: int) -> dict:
    from django.db import transaction
    from django.utils import timezone

    from pipeline.models import Stage, StageKind
    from pipeline.services import (
        account_create,
        deal_create,
        deal_move,
        lost_reason_create,
        pipeline_create,
        stage_create,
    )
    from reports.services import snapshots_compute, standard_scopes
    from salesmgr.models import Role
    from salesmgr.services import token_issue, user_create

    today = timezone.localdate()
    with transaction.atomic():
        admin = user_create(
            username="admin", password=None, role=Role.ADMIN, full_name="Topology Admin"
        )
        pipeline = pipeline_create(name="New business", by=admin)
        stages = [
            ("Qualification", 10, StageKind.OPEN),
            ("Discovery", 30, StageKind.OPEN),
            ("Proposal", 60, StageKind.OPEN),
            ("Negotiation", 80, StageKind.OPEN),
            ("Won", 100, StageKind.WON),
            ("Lost", 0, StageKind.LOST),
        ]
        for order, (name, probability, kind) in enumerate(stages, start=1):
            stage_create(
                pipeline=pipeline, name=name, order=order, probability=probability, kind=kind
            )
        lost_reason = lost_reason_create(name="Price", by=admin)
    open_stages = list(
        Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("order")
    )
    won = Stage.objects.get(pipeline=pipeline, kind=StageKind.WON)
    lost = Stage.objects.get(pipeline=pipeline, kind=StageKind.LOST)

    cast = {
        "admin": {"id": admin.pk, "token": token_issue(user=admin).key},
        "password": PASSWORD,
        "pipeline": pipeline.pk,
        "stages": {"open": [stage.pk for stage in open_stages], "won": won.pk, "lost": lost.pk},
        "lost_reason": lost_reason.pk,
        "managers": [],
        "reps": [],
    }
    for t in range(1, teams + 1):
        manager = user_create(
            username=f"manager{t}", password=PASSWORD, role=Role.MANAGER, full_name=f"Manager {t}"
        )
        cast["managers"].append(
            {"id": manager.pk, "username": manager.username, "token": token_issue(user=manager).key}
        )
        for r in range(1, reps + 1):
            rep = user_create(
                username=f"rep{t}_{r}", password=None, manager=manager, full_name=f"Rep {t}.{r}"
            )
            account = account_create(by=rep, name=f"Customer {t}.{r}")
            ids = []
            with transaction.atomic():
                for d in range(deals):
                    deal = deal_create(
                        by=rep,
                        name=f"Deal {t}.{r}.{d}",
                        account=account,
                        pipeline=pipeline,
                        stage=open_stages[d % len(open_stages)],
                        amount=Decimal(1000 + 250 * d),
                        expected_close_date=today + datetime.timedelta(days=10 + 3 * d),
                    )
                    if d % 6 == 4:
                        deal_move(deal=deal, to_stage=won, by=rep, expected_version=deal.version)
                    elif d % 6 == 5:
                        deal_move(
                            deal=deal,
                            to_stage=lost,
                            by=rep,
                            expected_version=deal.version,
                            lost_reason=lost_reason,
                        )
                    else:
                        ids.append(deal.pk)
            cast["reps"].append(
                {
                    "id": rep.pk,
                    "username": rep.username,
                    "team": manager.pk,
                    "token": token_issue(user=rep).key,
                    "account": account.pk,
                    "open_deals": ids,
                }
            )
    snapshots_compute(scopes=standard_scopes())
    return cast


def cast_from_database(*, deals: int, password: str) -> dict:
    """The cast of an organisation already in the database (tokens issued where missing)."""
    from pipeline.models import Account, Deal, Pipeline, Stage, StageKind
    from reports.services import snapshots_compute, standard_scopes
    from salesmgr.models import Role, User
    from salesmgr.services import token_issue

    first = (
        Deal.objects.filter(status="open", deleted_at__isnull=True)
        .order_by("pipeline_id")
        .values_list("pipeline_id", flat=True)
        .first()
    )
    pipeline = Pipeline.objects.filter(pk=first).first()
    if pipeline is None:
        raise SystemExit("no pipeline with open deals: seed the database first (seed_demo)")
    stages = Stage.objects.filter(pipeline=pipeline).order_by("order")
    admin = User.objects.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
    cast = {
        "admin": {"id": admin.pk, "token": token_issue(user=admin).key} if admin else None,
        "password": password,
        "pipeline": pipeline.pk,
        "stages": {
            "open": [s.pk for s in stages if s.kind == StageKind.OPEN],
            "won": next(s.pk for s in stages if s.kind == StageKind.WON),
            "lost": next(s.pk for s in stages if s.kind == StageKind.LOST),
        },
        "lost_reason": None,
        "managers": [],
        "reps": [],
    }
    for person in User.objects.filter(is_active=True, role__in=[Role.MANAGER, Role.REP]).order_by(
        "pk"
    ):
        token = token_issue(user=person).key
        if person.role == Role.MANAGER:
            cast["managers"].append({"id": person.pk, "username": person.username, "token": token})
            continue
        account = (
            Account.objects.filter(owner=person, deleted_at__isnull=True).order_by("pk").first()
        )
        open_deals = list(
            Deal.objects.filter(
                owner=person,
                pipeline=pipeline,
                status="open",
                deleted_at__isnull=True,
                # The load edits the amount, which a deal with line items takes from them.
                line_items__isnull=True,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:deals]
        )
        if account is None or not open_deals:
            continue
        cast["reps"].append(
            {
                "id": person.pk,
                "username": person.username,
                "team": person.manager_id,
                "token": token,
                "account": account.pk,
                "open_deals": open_deals,
            }
        )
    if not cast["managers"] or not cast["reps"]:
        raise SystemExit("the database needs at least one manager and one rep with open deals")
    snapshots_compute(scopes=standard_scopes())
    return cast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Where to write the cast (JSON).")
    parser.add_argument("--teams", type=int, default=2)
    parser.add_argument("--reps", type=int, default=4, help="Reps per team.")
    parser.add_argument("--deals", type=int, default=12, help="Deals per rep.")
    parser.add_argument(
        "--from-database",
        action="store_true",
        help="Seed nothing: read the cast from the organisation already in the database.",
    )
    parser.add_argument(
        "--password", default="demo1234", help="The managers' password (--from-database)."
    )
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesmgr.settings")
    import django

    django.setup()
    if options.from_database:
        cast = cast_from_database(deals=options.deals, password=options.password)
    else:
        cast = seed(teams=options.teams, reps=options.reps, deals=options.deals)
    options.out.write_text(json.dumps(cast, indent=1))


if __name__ == "__main__":
    main()
