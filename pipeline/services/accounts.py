"""Writes to accounts."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from pipeline.assignment import AccountFacts, rules_saved, territory_for
from pipeline.checks.accounts import (
    account_external_id_errors,
    account_field_errors,
    account_owner_errors,
    account_owner_refusal,
    account_values_errors,
)
from pipeline.checks.deals import merge_errors
from pipeline.checks.recycle import delete_refusal, restore_refusal
from pipeline.models import Account, Deal, StageKind
from pipeline.selectors import account_external_ids_taken
from pipeline.services.history import history_base_ensure
from pipeline.signals import deals_changed
from pipeline.webhooks import events as webhook_events
from quotas.models import Territory
from salesmgr.errors import PermissionDenied
from salesmgr.models import User


def account_create(
    *, by: User, name: str, owner: User | None = None, territory: Territory | None = None, **fields
) -> Account:
    """Add a customer account, owned by ``by`` unless another owner (one who can sign in) is given.

    Unless pinned to the territory given, it lies where the assignment rules put it.
    """
    owner = owner or by
    refusal = account_owner_refusal(by=by, owner=owner)
    if refusal:
        raise PermissionDenied(refusal)
    errors = merge_errors(
        account_field_errors(fields=fields, creating=True),
        account_values_errors(values=fields),
        account_owner_errors(owner_active=owner.is_active),
    )
    if errors:
        raise ValidationError(errors)
    account = Account(name=(name or "").strip(), owner=owner, territory=territory, **fields)
    account_place(account)
    account.full_clean()
    account._history_user = by
    with transaction.atomic():
        account.save()
        webhook_events.account_created(account_id=account.pk)
    return account


def account_update(*, account: Account, by: User, owner: User | None = None, **fields) -> Account:
    """Change an account's details; a new owner must be someone ``by`` may act for who can sign in.

    Every change, the owner's above all, is kept in the account's history. Unless
    pinned, the account then lies where the assignment rules put it.
    """
    errors = merge_errors(
        account_field_errors(fields=fields, creating=False), account_values_errors(values=fields)
    )
    if errors:
        raise ValidationError(errors)
    if owner is not None and owner.pk != account.owner_id:
        refusal = account_owner_refusal(by=by, owner=owner, account=account)
        if refusal:
            raise PermissionDenied(refusal)
        errors = merge_errors(
            account_owner_errors(owner_active=owner.is_active),
            account_external_id_errors(taken=_external_id_taken(account, owner.pk)),
        )
        if errors:
            raise ValidationError(errors)
        account.owner = owner
    old_territory_id = account.territory_id
    for field, value in fields.items():
        setattr(account, field, value)
    account_place(account)
    account.full_clean()
    with transaction.atomic():
        history_base_ensure(account)
        account._history_user = by
        account.save()
        if account.territory_id != old_territory_id:
            # The account's deals now count in another territory's figures.
            deal_ids = list(account.deals.values_list("pk", flat=True))
            left = [old_territory_id] if old_territory_id else []
            transaction.on_commit(
                lambda: deals_changed.send(sender=Deal, deal_ids=deal_ids, territory_ids=left)
            )
    return account


def _external_id_taken(account: Account, owner_id: int) -> bool:
    """Whether another live account of ``owner_id`` holds ``account``'s external id (a query only when it has one)."""
    if not account.external_id:
        return False
    pairs = {(owner_id, account.external_id)}
    return bool(account_external_ids_taken(pairs, exclude_pk=account.pk))


def account_place(account: Account) -> None:
    """Put the unsaved ``account`` in the territory its first matching rule gives, unless it is pinned.

    No matching rule leaves the territory it has; its owner stays (a realignment hands accounts over).
    """
    if account.territory_pinned:
        return
    rule = territory_for(rules_saved(), AccountFacts.of(account))
    if rule is not None:
        account.territory_id = rule.territory_id


def account_delete(*, account: Account, by: User) -> Account:
    """Hide an account (soft delete); refused while it has open deals, whoever owns them."""
    refusal = delete_refusal(by=by, owner_id=account.owner_id)
    if refusal:
        raise PermissionDenied(refusal)
    if account.deals.filter(status=StageKind.OPEN, deleted_at__isnull=True).exists():
        raise ValidationError("This account has open deals; close or move them first.")
    with transaction.atomic():
        if account.deleted_at is None:
            history_base_ensure(account)
            account.deleted_at = timezone.now()
            account._history_user = by
            account.save(update_fields=["deleted_at"])
    return account


def account_restore(*, account: Account, by: User) -> Account:
    """Bring back a soft-deleted account (admins)."""
    refusal = restore_refusal(by=by)
    if refusal:
        raise PermissionDenied(refusal)
    if account.deleted_at is not None:
        errors = account_external_id_errors(taken=_external_id_taken(account, account.owner_id))
        if errors:
            raise ValidationError(errors)
        with transaction.atomic():
            history_base_ensure(account)
            account.deleted_at = None
            account._history_user = by
            account.save(update_fields=["deleted_at"])
    return account
