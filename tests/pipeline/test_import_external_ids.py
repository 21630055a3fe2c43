"""Accounts and contacts from a spreadsheet: external ids never reveal a record outside the importer's scope.

An account's external id is unique among its owner's live accounts, a
contact's among its account's contacts. Another team giving the same id gets
its own record, with no error and the first team's untouched; one's own
duplicate is refused naming ``external_id``.
"""

import pytest
from django.core.exceptions import ValidationError

from pipeline.checks.accounts import ACCOUNT_EXTERNAL_ID_TAKEN
from pipeline.checks.contacts import CONTACT_EXTERNAL_ID_TAKEN
from pipeline.models import Account, Contact
from pipeline.services import account_update, contact_create
from pipeline.services.imports import AccountSpec, RowErrors, accounts_import
from tests.factories import AccountFactory
from tests.pipeline.import_helpers import csv_upload, imported, reasons

ACCOUNT_HEADERS = ["Company ID", "Company Name", "Company Owner", "Industry", "Country", "Number of Employees"]  # fmt: skip
CONTACT_HEADERS = ["Contact ID", "Company", "First Name", "Last Name", "Job Title", "Email"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def first_teams(manager, rep):
    """An account of the first team with external id ``acc-1``, and its contact ``p-1``."""
    account = AccountFactory(owner=rep, name="Secret Account")
    Account.objects.filter(pk=account.pk).update(external_id="acc-1")
    contact_create(by=manager, account=account, first_name="Jane", external_id="p-1")
    return Account.objects.get(pk=account.pk)


def test_another_team_imports_the_same_account_id_as_its_own(first_teams, other_manager, outsider):
    rows = [["acc-1", "Their Own", "outsider", "Retail", "DE", "10"]]
    job = imported(other_manager, csv_upload(rows, ACCOUNT_HEADERS), kind="accounts")
    assert (job.created, job.updated, reasons(job, dry_run=False)) == (1, 0, {})
    theirs = Account.objects.get(owner=outsider)
    assert (theirs.name, theirs.external_id) == ("Their Own", "acc-1")
    assert Account.objects.get(pk=first_teams.pk).name == "Secret Account"


def test_ones_own_duplicate_account_id_is_refused_naming_external_id(first_teams, manager, rep):
    with pytest.raises(RowErrors) as refused:
        accounts_import(
            specs=[AccountSpec(name="Again", owner_id=rep.pk, external_id="acc-1")], by=manager
        )
    assert refused.value.errors == [
        {"row": 0, "field": "external_id", "message": ACCOUNT_EXTERNAL_ID_TAKEN}
    ]


def test_another_team_imports_the_same_contact_id_on_its_account(
    first_teams, other_manager, outsider
):
    AccountFactory(owner=outsider, name="Their Own")
    rows = [["p-1", "Their Own", "Max", "Roe", "", ""]]
    job = imported(other_manager, csv_upload(rows, CONTACT_HEADERS), kind="contacts")
    assert (job.created, job.updated, reasons(job, dry_run=False)) == (1, 0, {})
    assert Contact.objects.get(external_id="p-1", account=first_teams).first_name == "Jane"


def test_a_contact_id_is_unique_within_its_account(first_teams, manager):
    with pytest.raises(ValidationError) as refused:
        contact_create(by=manager, account=first_teams, first_name="Again", external_id="p-1")
    assert refused.value.message_dict == {"external_id": [CONTACT_EXTERNAL_ID_TAKEN]}
    other = AccountFactory(owner=first_teams.owner)
    assert contact_create(by=manager, account=other, first_name="Fine", external_id="p-1").pk


def test_giving_an_account_to_an_owner_holding_its_id_is_refused(first_teams, manager, rep2):
    held = AccountFactory(owner=rep2)
    Account.objects.filter(pk=held.pk).update(external_id="acc-1")
    with pytest.raises(ValidationError) as refused:
        account_update(account=first_teams, by=manager, owner=rep2)
    assert refused.value.message_dict == {"external_id": [ACCOUNT_EXTERNAL_ID_TAKEN]}


def test_one_file_may_give_two_owners_the_same_id_but_not_one_owner_twice(manager, rep, rep2):
    rows = [
        ["acc-5", "For Rep", "rep", "", "DE", "1"],
        ["acc-5", "For Rep2", "rep2", "", "DE", "1"],
        ["acc-5", "For Rep again", "rep", "", "DE", "1"],
    ]
    job = imported(manager, csv_upload(rows, ACCOUNT_HEADERS), kind="accounts")
    assert (job.created, job.rejected) == (2, 1)
    assert "appears on an earlier row" in reasons(job, dry_run=False)[4]
    assert sorted(Account.objects.values_list("owner__username", "name")) == [
        ("rep", "For Rep"),
        ("rep2", "For Rep2"),
    ]
