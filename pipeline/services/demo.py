"""Clearing the way for a fresh demo organisation."""

from django.apps import apps
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
            # SQLite's foreign keys are checked at commit: empty what TRUNCATE ... CASCADE
            # would, in any order, without the ORM's per-row work.
            with connection.cursor() as cursor:
                for model in _referring(bulky + small):
                    cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
        User.objects.update(manager=None)
        User.objects.all().delete()


def _referring(models: list) -> list:
    """``models`` and every model whose rows refer to theirs by a foreign key constraint, at any
    depth: the tables PostgreSQL's ``TRUNCATE ... CASCADE`` of ``models`` empties."""
    found = list(models)
    tables = {model._meta.db_table for model in found}
    grew = True
    while grew:
        grew = False
        for model in apps.get_models(include_auto_created=True):
            if model._meta.db_table in tables or not model._meta.managed:
                continue
            if any(
                field.many_to_one or field.one_to_one
                for field in model._meta.concrete_fields
                if field.is_relation
                and field.db_constraint
                and field.related_model._meta.db_table in tables
            ):
                found.append(model)
                tables.add(model._meta.db_table)
                grew = True
    return found
