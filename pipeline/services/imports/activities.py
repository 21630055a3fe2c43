"""Importing notes, calls, emails, meetings and client visits."""

from django.db import transaction
from django.utils import timezone

from pipeline.models import Account, Activity, ActivityKind, Deal
from pipeline.services.imports.parsing import ActivitySpec, ErrorCollector, is_aware
from pipeline.services.imports.writing import insert_rows
from salesmgr.models import User

_ACTIVITY_KINDS = frozenset(ActivityKind.values)


def activities_import(*, specs: list[ActivitySpec], batch_size: int = 2000) -> int:
    """Record many notes, calls, emails, meetings and client visits; returns how many.

    As with ``activity_log``, an activity on a deal belongs to the deal's
    account, and neither may be deleted.
    """
    if not specs:
        return 0
    now = timezone.now()
    deals = {
        pk: (account_id, deleted_at)
        for pk, account_id, deleted_at in Deal.objects.filter(
            pk__in={s.deal_id for s in specs if s.deal_id is not None}
        ).values_list("pk", "account_id", "deleted_at")
    }
    account_ids = {s.account_id for s in specs if s.account_id is not None} | {
        a for a, _ in deals.values()
    }
    accounts = dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "deleted_at"))
    authors = set(
        User.objects.filter(pk__in={s.author_id for s in specs}).values_list("pk", flat=True)
    )
    errors = ErrorCollector()
    rows = []
    for row, spec in enumerate(specs):
        if spec.kind not in _ACTIVITY_KINDS:
            errors.add(row, "kind", f"Unknown activity kind {spec.kind!r}.")
        subject = (spec.subject or "").strip()
        if not subject:
            errors.add(row, "subject", "Give the activity a subject.")
        elif len(subject) > Activity._meta.get_field("subject").max_length:
            errors.add(row, "subject", "The subject is too long.")
        if not is_aware(spec.occurred_at):
            errors.add(row, "occurred_at", "Give a date and time with a time zone.")
        if spec.author_id not in authors:
            errors.add(row, "author", f"No user {spec.author_id!r}.")
        account_id = spec.account_id
        if spec.deal_id is None and account_id is None:
            errors.add(row, "deal", "An activity belongs to a deal or an account.")
        if spec.deal_id is not None:
            if spec.deal_id not in deals:
                errors.add(row, "deal", f"No deal {spec.deal_id!r}.")
                continue
            deal_account_id, deal_deleted_at = deals[spec.deal_id]
            if deal_deleted_at is not None:
                errors.add(row, "deal", "The deal is deleted.")
            if account_id is None:
                account_id = deal_account_id
            elif account_id != deal_account_id:
                errors.add(row, "account", "The deal belongs to another account.")
        if account_id is not None:
            if account_id not in accounts:
                errors.add(row, "account", f"No account {account_id!r}.")
            elif accounts[account_id] is not None:
                errors.add(row, "account", "The account is deleted.")
        if not errors.items:
            created_at = min(spec.occurred_at, now)
            rows.append(
                (
                    spec.kind,
                    subject,
                    spec.body,
                    spec.occurred_at,
                    spec.author_id,
                    spec.deal_id,
                    account_id,
                    created_at,
                )
            )
    errors.raise_if_any()
    with transaction.atomic():
        insert_rows(
            Activity,
            [
                "kind",
                "subject",
                "body",
                "occurred_at",
                "author_id",
                "deal_id",
                "account_id",
                "created_at",
            ],
            rows,
            batch_size,
        )
    return len(rows)
