"""The account rules as check functions, and the services, the importer and the API keeping them."""

import pytest
from django.core.exceptions import ValidationError

from pipeline.checks.accounts import (
    account_field_errors,
    account_owner_errors,
    account_owner_refusal,
)
from pipeline.models import Account
from pipeline.services import (
    AccountSpec,
    RowErrors,
    account_create,
    account_update,
    accounts_import,
)
from salesmgr.errors import PermissionDenied
from salesmgr.services import user_deactivate
from tests.factories import AccountFactory, UserFactory


@pytest.fixture
def gone(manager):
    """A rep of the manager's team who has been deactivated."""
    return UserFactory(username="gone", manager=manager, full_name="Gail Gone", is_active=False)


def test_an_account_write_sets_only_its_fields():
    assert account_field_errors(fields=["name", "website"], creating=True) == {}
    assert account_field_errors(fields=["deleted_at", "name"], creating=True) == {
        "deleted_at": ["Unknown account field."]
    }
    assert account_field_errors(fields=["created_at"], creating=False) == {
        "created_at": ["This field cannot be changed here."]
    }


def test_who_may_give_an_account_to_whom(admin, manager, rep, rep2, outsider):
    account = AccountFactory(owner=rep)
    assert account_owner_refusal(by=manager, owner=rep2) is None
    assert (
        account_owner_refusal(by=rep, owner=rep2) == "You cannot create accounts for that person."
    )
    assert account_owner_refusal(by=rep, owner=rep, account=account) is None
    assert (
        account_owner_refusal(by=rep, owner=rep2, account=account)
        == "Reps cannot change an account's owner."
    )
    assert (
        account_owner_refusal(by=manager, owner=outsider, account=account)
        == "You can only give accounts to people in your team."
    )
    assert account_owner_refusal(by=admin, owner=outsider, account=account) is None


def test_an_account_goes_only_to_someone_who_can_sign_in():
    assert account_owner_errors(owner_active=True) == {}
    assert account_owner_errors(owner_active=False) == {"owner": ["The owner is deactivated."]}


def test_no_account_is_created_for_a_deactivated_person(manager, gone):
    with pytest.raises(ValidationError) as refused:
        account_create(by=manager, name="Initech", owner=gone)
    assert refused.value.message_dict == {"owner": ["The owner is deactivated."]}
    assert not Account.objects.exists()


def test_an_account_is_not_given_to_a_deactivated_person_but_keeps_one(
    admin, manager, rep, rep2, gone
):
    account = AccountFactory(owner=rep, name="Acme")
    with pytest.raises(ValidationError) as refused:
        account_update(account=account, by=manager, owner=gone)
    assert refused.value.message_dict == {"owner": ["The owner is deactivated."]}
    account.refresh_from_db()
    assert account.owner == rep

    kept = AccountFactory(owner=rep2, name="Kept")
    user_deactivate(user=rep2, by=admin)
    rep2.refresh_from_db()
    kept = account_update(account=kept, by=manager, owner=rep2, industry="Retail")
    assert (kept.owner, kept.industry) == (rep2, "Retail")


def test_the_owner_refusals_are_permission_errors(rep, rep2):
    with pytest.raises(PermissionDenied, match="You cannot create accounts for that person."):
        account_create(by=rep, name="Initech", owner=rep2)
    with pytest.raises(PermissionDenied, match="Reps cannot change an account's owner."):
        account_update(account=AccountFactory(owner=rep), by=rep, owner=rep2)


def test_the_importer_gives_no_account_to_a_deactivated_person(admin, rep, gone):
    specs = [
        AccountSpec(name="Globex", owner_id=rep.pk),
        AccountSpec(name="Initech", owner_id=gone.pk),
    ]
    with pytest.raises(RowErrors) as caught:
        accounts_import(specs=specs, by=admin)
    assert caught.value.errors == [
        {"row": 1, "field": "owner", "message": "The owner is deactivated."}
    ]
    assert not Account.objects.exists()


def test_the_api_refuses_a_deactivated_owner_as_a_bad_request(client_for, manager, gone):
    response = client_for(manager).post(
        "/api/v1/accounts/", {"name": "Initech", "owner": gone.pk}, format="json"
    )
    assert response.status_code == 400
    assert "The owner is deactivated." in str(response.json())
    assert not Account.objects.exists()
