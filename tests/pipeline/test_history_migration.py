"""Migration 0007 gives every existing account and contact a "created" history row."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("pipeline", "0006_deal_history_indexes")]
AFTER = [("pipeline", "0007_account_contact_history_deal_contacts")]


@pytest.mark.django_db(transaction=True)
def test_existing_accounts_and_contacts_get_a_created_history_row():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    owner = old.get_model("salesmgr", "User").objects.create(username="olde")
    account = old.get_model("pipeline", "Account").objects.create(name="Old Co", owner_id=owner.pk)
    contact = old.get_model("pipeline", "Contact").objects.create(
        account_id=account.pk, first_name="Ola"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    accounts = new.get_model("pipeline", "HistoricalAccount").objects.filter(id=account.pk)
    contacts = new.get_model("pipeline", "HistoricalContact").objects.filter(id=contact.pk)
    assert list(accounts.values_list("history_type", "name", "owner_id", "history_date")) == [
        ("+", "Old Co", owner.pk, account.created_at)
    ]
    assert list(contacts.values_list("history_type", "first_name", "account_id")) == [
        ("+", "Ola", account.pk)
    ]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
