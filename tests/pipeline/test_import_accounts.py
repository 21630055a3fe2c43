"""Importing accounts and contacts from a spreadsheet, upserting on their external ids."""

import pytest

from pipeline.models import Account, Contact
from tests.factories import AccountFactory
from tests.pipeline.import_helpers import checked, csv_upload, imported, reasons

ACCOUNT_HEADERS = ["Company ID", "Company Name", "Company Owner", "Industry", "Country", "Number of Employees"]  # fmt: skip
CONTACT_HEADERS = ["Contact ID", "Company", "First Name", "Last Name", "Job Title", "Email"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_accounts_are_checked_then_created_then_updated_on_a_rerun(manager, rep):
    rows = [
        ["c-1", "Acme", "rep", "Software", "DE", "120"],
        ["c-2", "Globex", "manager@example.com", "Retail", "XX", "50"],
        ["c-3", "Initech", "rep", "", "", "many"],
    ]
    job = checked(manager, csv_upload(rows, ACCOUNT_HEADERS), kind="accounts")
    found = reasons(job, dry_run=True)
    assert sorted(found) == [3, 4]
    assert "country" in found[3] and "employee_count" in found[4]
    assert not Account.objects.exists()

    rows[1][4], rows[2][5] = "FR", "15"
    job = imported(manager, csv_upload(rows, ACCOUNT_HEADERS), kind="accounts")
    assert (job.created, job.rejected) == (3, 0)
    acme = Account.objects.get(external_id="c-1")
    assert (acme.name, acme.owner, acme.employee_count) == ("Acme", rep, 120)

    rows[0][3] = "Hardware"
    job = imported(manager, csv_upload(rows, ACCOUNT_HEADERS), kind="accounts")
    assert (job.created, job.updated) == (0, 3)
    assert Account.objects.count() == 3
    assert Account.objects.get(external_id="c-1").industry == "Hardware"


def test_contacts_land_on_their_account_and_update_on_a_rerun(rep, manager):
    AccountFactory(owner=rep, name="Acme")
    rows = [
        ["p-1", "Acme", "Jane", "Doe", "CTO", "jane@acme.example"],
        ["p-2", "Nowhere Ltd", "John", "Roe", "", ""],
        ["p-3", "Acme", "Max", "", "", "not-an-email"],
    ]
    job = imported(manager, csv_upload(rows, CONTACT_HEADERS), kind="contacts")
    found = reasons(job, dry_run=False)
    assert sorted(found) == [3, 4]
    assert "account: No account 'Nowhere Ltd'" in found[3]
    assert "email" in found[4]
    jane = Contact.objects.get(external_id="p-1")
    assert (jane.account.name, jane.title) == ("Acme", "CTO")

    rows[0][4] = "CEO"
    job = imported(manager, csv_upload(rows[:1], CONTACT_HEADERS), kind="contacts")
    assert (job.created, job.updated) == (0, 1)
    assert Contact.objects.get(external_id="p-1").title == "CEO"


def test_contacts_of_another_teams_account_are_refused(other_manager, rep):
    AccountFactory(owner=rep, name="Acme")
    job = imported(
        other_manager,
        csv_upload([["p-1", "Acme", "Jane", "", "", ""]], CONTACT_HEADERS),
        kind="contacts",
    )
    assert "account: No account 'Acme'" in reasons(job, dry_run=False)[2]
    assert not Contact.objects.exists()
