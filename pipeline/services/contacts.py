"""Writes to contacts, and to the contacts linked to a deal."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pipeline.checks.contacts import (
    contact_account_errors,
    contact_external_id_errors,
    contact_field_errors,
    contact_write_refusal,
)
from pipeline.models import Account, Contact, ContactRole, Deal, DealContact
from pipeline.selectors import contacts_visible_to, deals_visible_to
from pipeline.services.history import history_base_ensure
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for


def _check_may_write(by: User, account: Account) -> None:
    refusal = contact_write_refusal(by=by, account=account)
    if refusal:
        raise PermissionDenied(refusal)


def _refuse(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _external_id_taken(account: Account, external_id: str | None, pk: int | None = None) -> bool:
    """Whether another contact at ``account`` holds ``external_id`` (a query only when one is given)."""
    if not external_id:
        return False
    return account.contacts.filter(external_id=external_id).exclude(pk=pk).exists()


def contact_create(*, by: User, account: Account, first_name: str, **fields) -> Contact:
    """Add a person at ``account``; ``by`` must be allowed to change that account's contacts."""
    _refuse(contact_field_errors(fields=fields, creating=True))
    _check_may_write(by, account)
    _refuse(contact_account_errors(account=account))
    _refuse(
        contact_external_id_errors(taken=_external_id_taken(account, fields.get("external_id")))
    )
    contact = Contact(account=account, first_name=(first_name or "").strip(), **fields)
    contact.full_clean()
    contact._history_user = by
    contact.save()
    return contact


def contact_update(
    *, contact: Contact, by: User, account: Account | None = None, **fields
) -> Contact:
    """Change a contact's details, or move them to another account ``by`` may also change."""
    _refuse(contact_field_errors(fields=fields, creating=False))
    _check_may_write(by, contact.account)
    if account is not None and account.pk != contact.account_id:
        _check_may_write(by, account)
        _refuse(contact_account_errors(account=account))
        _refuse(
            contact_external_id_errors(
                taken=_external_id_taken(account, contact.external_id, contact.pk)
            )
        )
        contact.account = account
    for field, value in fields.items():
        setattr(contact, field, value.strip() if isinstance(value, str) else value)
    contact.full_clean()
    with transaction.atomic():
        history_base_ensure(contact)
        contact._history_user = by
        contact.save()
    return contact


def contact_delete(*, contact: Contact, by: User) -> None:
    """Remove a contact for good, with their links to deals; their history keeps who did it."""
    _check_may_write(by, contact.account)
    with transaction.atomic():
        history_base_ensure(contact)
        contact._history_user = by
        contact.delete()


def _check_may_link(by: User, deal: Deal, contact: Contact) -> None:
    if not may_act_for(actor=by, owner_id=deal.owner_id):
        raise PermissionDenied(
            "Only the deal's owner, their manager or an admin may change its contacts."
        )
    if not deals_visible_to(by).filter(pk=deal.pk).exists():
        raise ValidationError({"deal": "This deal is deleted or out of your sight."})
    if not contacts_visible_to(by).filter(pk=contact.pk).exists():
        raise ValidationError({"contact": "No such contact among those you may see."})


def deal_contact_link(
    *, deal: Deal, contact: Contact, by: User, role: str = ContactRole.OTHER
) -> DealContact:
    """Link a contact ``by`` may see to a deal ``by`` may change; linking again changes the role."""
    if role not in ContactRole.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    _check_may_link(by, deal, contact)
    try:
        with transaction.atomic():
            link, created = DealContact.objects.get_or_create(
                deal=deal, contact=contact, defaults={"role": role, "linked_by": by}
            )
    except IntegrityError:  # linked by someone else in the meantime
        link, created = DealContact.objects.get(deal=deal, contact=contact), False
    if not created and link.role != role:
        link.role = role
        link.save(update_fields=["role"])
    return link


def deal_contact_unlink(*, deal: Deal, contact: Contact, by: User) -> None:
    """Take a contact off a deal; nothing happens when they were not linked."""
    if not may_act_for(actor=by, owner_id=deal.owner_id):
        raise PermissionDenied(
            "Only the deal's owner, their manager or an admin may change its contacts."
        )
    DealContact.objects.filter(deal=deal, contact=contact).delete()
