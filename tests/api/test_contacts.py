"""The contacts API writes through the contact services: the same rules, and the history they keep."""

from pipeline.models import Contact
from pipeline.selectors import contact_history
from tests.factories import AccountFactory

URL = "/api/v1/contacts/"


def test_api_contact_writes_keep_their_history(client_for, rep, manager):
    account = AccountFactory(owner=rep, name="Acme")
    created = client_for(rep).post(URL, {"account": account.pk, "first_name": "Ann"}, format="json")
    assert created.status_code == 201
    contact = Contact.objects.get(pk=created.json()["id"])
    changed = client_for(manager).patch(f"{URL}{contact.pk}/", {"title": "CFO"}, format="json")
    assert changed.status_code == 200
    entries = contact_history(contact)
    assert [(e["kind"], e["by_name"]) for e in entries] == [
        ("changed", "Morgan Manager"),
        ("created", "Riley Rep"),
    ]
    deleted = client_for(rep).delete(f"{URL}{contact.pk}/")
    assert deleted.status_code == 204
    assert Contact.history.filter(id=contact.pk, history_type="-", history_user=rep).exists()


def test_api_refuses_contacts_at_an_account_out_of_sight(client_for, rep, rep2):
    account = AccountFactory(owner=rep2)
    refused = client_for(rep).post(URL, {"account": account.pk, "first_name": "Eve"}, format="json")
    assert refused.status_code == 400  # rep2's account is out of the rep's sight
    assert not Contact.objects.exists()
