"""Clearing the way for a fresh demo organisation."""

from django.db import connection, transaction

from pipeline.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealLineItem,
    Handover,
    LostReason,
    Pipeline,
    Product,
    RealignmentMove,
    Stage,
    StageTransition,
    TerritoryRealignment,
)
from quotas.models import Quota, Territory
from salesmgr.models import User


def demo_data_delete() -> None:
    """Delete every deal, account, product, quota, territory, pipeline and user, all or nothing.

    Only ``seed_demo --reset`` calls it: no rule of the other services applies to
    a database that is being emptied.
    """
    history = Deal.history.model
    bulky = [Handover, RealignmentMove, TerritoryRealignment, Activity, DealLineItem, StageTransition, history, Deal,
             Contact, Account]  # fmt: skip
    small = [Product, LostReason, Quota, Territory.reps.through, Territory, Stage, Pipeline]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            quote = connection.ops.quote_name
            tables = ", ".join(quote(model._meta.db_table) for model in bulky + small)
            with connection.cursor() as cursor:
                # Foreign keys checked at commit would block TRUNCATE inside a caller's
                # transaction; check them now, then defer them again.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"TRUNCATE {tables} CASCADE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            for model in bulky:
                model._base_manager.all().delete()
            # Deleting deals recorded a last version of each; those go too.
            history.objects.all().delete()
            Product.objects.all().delete()
            LostReason.objects.all().delete()
            Quota.objects.all().delete()
            Territory.objects.update(parent=None)
            Territory.objects.all().delete()
            Pipeline.objects.all().delete()
        User.objects.update(manager=None)
        User.objects.all().delete()
