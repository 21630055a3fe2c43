"""Contacts, the contacts of a deal, account owner history, and who may delete and restore."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.checks.contacts import contact_account_errors, contact_field_errors
from pipeline.models import Account, Contact, ContactRole, DealContact
from pipeline.selectors import account_owner_changes, contact_history
from pipeline.services import (
    account_delete,
    account_restore,
    account_update,
    contact_create,
    contact_delete,
    contact_update,
    deal_contact_link,
    deal_contact_unlink,
    deal_delete,
    deal_restore,
)
from salesmgr.errors import PermissionDenied
from tests.factories import AccountFactory, DealFactory


@pytest.fixture
def account(rep):
    return AccountFactory(owner=rep, name="Acme")


@pytest.fixture
def deal(rep, account, pipeline):
    return DealFactory(owner=rep, account=account, pipeline=pipeline, name="Acme renewal")


@pytest.fixture
def contact(rep, account):
    return contact_create(
        by=rep, account=account, first_name="Ann", last_name="Lee", email="ann@acme.test"
    )


def test_the_owner_and_their_manager_add_contacts(contact, manager, account):
    assert (contact.account_id, str(contact)) == (account.pk, "Ann Lee")
    by_manager = contact_create(by=manager, account=account, first_name="Bo")
    assert by_manager.account_id == account.pk


@pytest.mark.parametrize("who", ["rep2", "outsider", "other_manager"])
def test_nobody_else_adds_contacts_to_an_account(request, who, account):
    with pytest.raises(PermissionDenied):
        contact_create(by=request.getfixturevalue(who), account=account, first_name="Eve")
    assert not Contact.objects.exists()


def test_a_contact_needs_a_first_name_and_a_valid_email(rep, account):
    with pytest.raises(ValidationError) as refused:
        contact_create(by=rep, account=account, first_name=" ", email="nope")
    assert set(refused.value.message_dict) == {"first_name", "email"}


def test_the_contact_checks_name_what_a_write_may_not_do(account):
    assert contact_field_errors(fields=["title"], creating=True) == {}
    assert contact_field_errors(fields=["created_at"], creating=True) == {
        "created_at": ["Unknown contact field."]
    }
    assert contact_field_errors(fields=["account_id"], creating=False) == {
        "account_id": ["This field cannot be changed here."]
    }
    assert contact_account_errors(account=account) == {}
    account.deleted_at = timezone.now()
    assert contact_account_errors(account=account) == {"account": ["Account 'Acme' is deleted."]}


def test_no_contact_is_added_or_moved_to_a_deleted_account(contact, rep, account):
    gone = AccountFactory(owner=rep, name="Gone")
    account_delete(account=gone, by=rep)
    with pytest.raises(ValidationError) as refused:
        contact_create(by=rep, account=gone, first_name="Eve")
    assert refused.value.message_dict == {"account": ["Account 'Gone' is deleted."]}
    with pytest.raises(ValidationError) as refused:
        contact_update(contact=contact, by=rep, account=gone)
    assert refused.value.message_dict == {"account": ["Account 'Gone' is deleted."]}
    with pytest.raises(ValidationError) as refused:
        contact_update(contact=contact, by=rep, created_at=timezone.now())
    assert refused.value.message_dict == {"created_at": ["This field cannot be changed here."]}
    contact.refresh_from_db()
    assert contact.account == account
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Ann"]


def test_editing_a_contact_keeps_who_changed_what(contact, rep, manager):
    contact_update(contact=contact, by=manager, title="CFO", email="ann@acme.example")
    entries = contact_history(contact)
    assert entries[0]["by_name"] == "Morgan Manager"
    assert {(c["field"], c["old"], c["new"]) for c in entries[0]["changes"]} == {
        ("title", "", "CFO"),
        ("email", "ann@acme.test", "ann@acme.example"),
    }
    assert entries[-1]["kind"] == "created" and entries[-1]["by_name"] == "Riley Rep"


def test_moving_a_contact_needs_rights_on_both_accounts(contact, rep, rep2):
    theirs = AccountFactory(owner=rep2, name="Theirs")
    with pytest.raises(PermissionDenied):
        contact_update(contact=contact, by=rep, account=theirs)
    mine = AccountFactory(owner=rep, name="Mine too")
    moved = contact_update(contact=contact, by=rep, account=mine)
    assert moved.account_id == mine.pk
    change = contact_history(moved)[0]["changes"][0]
    assert (change["field"], change["old"], change["new"]) == ("account", "Acme", "Mine too")


def test_deleting_a_contact_takes_their_deal_links_and_keeps_their_history(
    contact, deal, rep, outsider
):
    deal_contact_link(deal=deal, contact=contact, by=rep, role=ContactRole.CHAMPION)
    with pytest.raises(PermissionDenied):
        contact_delete(contact=contact, by=outsider)
    contact_id = contact.pk
    contact_delete(contact=contact, by=rep)
    assert not Contact.objects.exists() and not DealContact.objects.exists()
    assert Contact.history.filter(id=contact_id, history_type="-", history_user=rep).exists()


def test_linking_twice_changes_the_role_and_keeps_one_link(contact, deal, rep):
    first = deal_contact_link(deal=deal, contact=contact, by=rep, role=ContactRole.CHAMPION)
    again = deal_contact_link(deal=deal, contact=contact, by=rep, role=ContactRole.DECISION_MAKER)
    assert first.pk == again.pk
    assert list(DealContact.objects.values_list("role", "linked_by")) == [
        ("decision_maker", rep.pk)
    ]
    deal_contact_unlink(deal=deal, contact=contact, by=rep)
    assert not DealContact.objects.exists()


def test_only_contacts_the_linker_sees_can_be_linked(deal, rep, outsider, other_manager):
    hidden = contact_create(by=outsider, account=AccountFactory(owner=outsider), first_name="Hid")
    with pytest.raises(ValidationError) as refused:
        deal_contact_link(deal=deal, contact=hidden, by=rep)
    assert "contact" in refused.value.message_dict
    assert not DealContact.objects.exists()


@pytest.mark.parametrize("who", ["rep2", "outsider"])
def test_only_those_who_may_change_the_deal_link_its_contacts(request, who, deal, contact):
    with pytest.raises(PermissionDenied):
        deal_contact_link(deal=deal, contact=contact, by=request.getfixturevalue(who))
    with pytest.raises(PermissionDenied):
        deal_contact_unlink(deal=deal, contact=contact, by=request.getfixturevalue(who))


def test_a_deleted_deal_takes_no_contacts(deal, contact, rep):
    deal_delete(deal=deal, by=rep)
    with pytest.raises(ValidationError):
        deal_contact_link(deal=deal, contact=contact, by=rep)


def test_an_account_owner_change_is_recorded_with_who_made_it(account, manager, rep, rep2):
    account_update(account=account, by=manager, owner=rep2)
    account_update(account=account, by=manager, industry="Retail")
    account_update(account=account, by=manager, owner=rep)
    changes = account_owner_changes(account)
    assert [(c["old"], c["new"], c["by_name"]) for c in changes] == [
        ("Robin Rep", "Riley Rep", "Morgan Manager"),
        ("Riley Rep", "Robin Rep", "Morgan Manager"),
    ]


def test_an_owner_change_of_an_account_loaded_without_history_keeps_the_old_owner(
    account, manager, rep, rep2
):
    Account.history.filter(id=account.pk).delete()  # as the importer and the demo data write them
    account_update(account=account, by=manager, owner=rep2)
    assert [(c["old"], c["new"]) for c in account_owner_changes(account)] == [
        ("Riley Rep", "Robin Rep")
    ]


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_only_admins_restore(request, who, deal, account, admin, rep):
    deal_delete(deal=deal, by=rep)
    spare = AccountFactory(owner=rep)
    account_delete(account=spare, by=rep)
    with pytest.raises(PermissionDenied):
        deal_restore(deal=deal, by=request.getfixturevalue(who))
    with pytest.raises(PermissionDenied):
        account_restore(account=spare, by=request.getfixturevalue(who))
    assert deal_restore(deal=deal, by=admin).deleted_at is None
    assert account_restore(account=spare, by=admin).deleted_at is None


@pytest.mark.parametrize("who", ["rep2", "outsider", "other_manager"])
def test_only_the_owner_their_manager_or_an_admin_delete(request, who, deal, rep):
    spare = AccountFactory(owner=rep)
    with pytest.raises(PermissionDenied):
        deal_delete(deal=deal, by=request.getfixturevalue(who))
    with pytest.raises(PermissionDenied):
        account_delete(account=spare, by=request.getfixturevalue(who))
    deal.refresh_from_db()
    spare.refresh_from_db()
    assert deal.deleted_at is None and spare.deleted_at is None
