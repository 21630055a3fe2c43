"""The account and contact pages: who may open, add, edit, link and delete what."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from pipeline.models import Account, Contact, ContactRole, DealContact
from pipeline.services import account_update, contact_create, deal_contact_link
from quotas.models import Territory
from tests.factories import AccountFactory, DealFactory

EVERYONE = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
# Who sees the rep's account and its contacts: the rep, their manager and the admin.
SEES = {"admin", "manager", "rep"}


@pytest.fixture
def account(rep):
    return AccountFactory(owner=rep, name="Acme")


@pytest.fixture
def contact(rep, account):
    return contact_create(by=rep, account=account, first_name="Ann", last_name="Lee", title="Buyer")


@pytest.fixture
def deal(rep, account, pipeline):
    return DealFactory(owner=rep, account=account, pipeline=pipeline, name="Acme renewal")


def _as(client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    return user


@pytest.mark.parametrize("who", EVERYONE)
def test_contact_page_is_a_404_outside_visibility(client, request, who, contact):
    _as(client, request, who)
    response = client.get(reverse("contact-detail", args=[contact.pk]))
    assert response.status_code == (200 if who in SEES else 404)
    if who in SEES:
        assert "Ann Lee" in response.content.decode()


@pytest.mark.parametrize("who", EVERYONE)
def test_adding_a_contact_from_the_account_page(client, request, who, account):
    _as(client, request, who)
    url = reverse("contact-new", args=[account.pk])
    form = client.get(url)
    response = client.post(url, {"first_name": "Kim", "last_name": "Ng", "email": "kim@acme.test"})
    if who not in SEES:
        assert (form.status_code, response.status_code) == (404, 404)
        assert not Contact.objects.exists()
        return
    assert form.status_code == 200
    created = Contact.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "contact-detail", args=[created.pk]
    )
    assert (created.account_id, created.email) == (account.pk, "kim@acme.test")


def test_a_rep_who_sees_an_account_through_a_territory_may_not_change_its_contacts(
    client, rep2, account
):
    territory = Territory.objects.create(name="North")
    territory.reps.add(rep2)
    account_update(account=account, by=account.owner, territory=territory)
    client.force_login(rep2)
    page = client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert "Add contact" not in page and "Edit account" not in page
    response = client.get(reverse("contact-new", args=[account.pk]))
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


def test_a_refused_contact_form_says_why_and_keeps_the_input(client, rep, account):
    client.force_login(rep)
    response = client.post(
        reverse("contact-new", args=[account.pk]),
        {"first_name": "", "email": "nope", "title": "CFO"},
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in body and "Enter a valid email address." in body
    assert 'value="CFO"' in body


@pytest.mark.parametrize("who", EVERYONE)
def test_editing_a_contact_shows_the_change_in_its_history(client, request, who, contact):
    user = _as(client, request, who)
    url = reverse("contact-edit", args=[contact.pk])
    response = client.post(url, {"first_name": "Ann", "last_name": "Lee", "title": "CFO"})
    if who not in SEES:
        assert response.status_code == 404
        return
    assert response.status_code == 302
    page = client.get(reverse("contact-detail", args=[contact.pk])).content.decode()
    assert "<del>Buyer</del> → <ins>CFO</ins>" in page
    assert user.display_name in page


@pytest.mark.parametrize("who", EVERYONE)
def test_deleting_a_contact_asks_first(client, request, who, contact):
    _as(client, request, who)
    url = reverse("contact-delete", args=[contact.pk])
    asked = client.get(url)
    assert asked.status_code == (200 if who in SEES else 404)
    response = client.post(url)
    if who in SEES:
        assert response.status_code == 302 and not Contact.objects.exists()
    else:
        assert response.status_code == 404 and Contact.objects.exists()


@pytest.mark.parametrize("who", EVERYONE)
def test_creating_an_account_in_the_app(client, request, who, rep):
    user = _as(client, request, who)
    data = {"name": "Globex", "industry": "Energy", "website": "globex.test", "owner": user.pk}
    response = client.post(reverse("account-new"), data)
    account = Account.objects.get(name="Globex")
    assert response.status_code == 302 and response["Location"] == reverse(
        "account-detail", args=[account.pk]
    )
    assert (account.owner_id, account.website) == (user.pk, "https://globex.test")


def test_a_rep_cannot_create_an_account_for_someone_else(client, rep, rep2):
    client.force_login(rep)
    client.post(reverse("account-new"), {"name": "Globex", "owner": rep2.pk})
    assert Account.objects.get(name="Globex").owner_id == rep.pk  # reps get no owner field


def test_a_manager_cannot_give_an_account_outside_their_team(client, manager, outsider):
    client.force_login(manager)
    response = client.post(reverse("account-new"), {"name": "Globex", "owner": outsider.pk})
    assert response.status_code == 400
    assert not Account.objects.filter(name="Globex").exists()


@pytest.mark.parametrize("who", EVERYONE)
def test_editing_an_account(client, request, who, account):
    user = _as(client, request, who)
    data = {"name": "Acme Group", "owner": account.owner_id, "industry": "Retail"}
    response = client.post(reverse("account-edit", args=[account.pk]), data)
    account.refresh_from_db()
    if who in SEES:
        assert response.status_code == 302 and account.name == "Acme Group"
        assert (
            user.display_name
            in client.get(reverse("account-detail", args=[account.pk])).content.decode()
        )
    else:
        assert response.status_code == 404 and account.name == "Acme"


def test_an_owner_change_shows_on_the_account_and_contact_pages(
    client, manager, rep2, account, contact
):
    client.force_login(manager)
    response = client.post(
        reverse("account-edit", args=[account.pk]), {"name": "Acme", "owner": rep2.pk}
    )
    assert response.status_code == 302
    change = '<del>Riley Rep</del> → <ins>Robin Rep</ins> <span class="cell-note">by Morgan Manager</span>'
    assert change in client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert change in client.get(reverse("contact-detail", args=[contact.pk])).content.decode()


def test_a_rep_cannot_change_an_accounts_owner(client, rep, rep2, account):
    client.force_login(rep)
    client.post(reverse("account-edit", args=[account.pk]), {"name": "Acme", "owner": rep2.pk})
    account.refresh_from_db()
    assert account.owner_id == rep.pk


@pytest.mark.parametrize("who", EVERYONE)
def test_linking_a_contact_from_the_deal_page(client, request, who, deal, contact):
    _as(client, request, who)
    url = reverse("deal-contact-add", args=[deal.pk])
    response = client.post(url, {"contact": contact.pk, "role": ContactRole.CHAMPION})
    if who not in SEES:
        assert response.status_code == 404 and not DealContact.objects.exists()
        return
    assert response.status_code == 302
    assert list(DealContact.objects.values_list("deal", "contact", "role")) == [
        (deal.pk, contact.pk, "champion")
    ]
    page = client.get(reverse("deal-detail", args=[deal.pk])).content.decode()
    assert "Ann Lee" in page and "Champion" in page


def test_the_deal_page_offers_only_contacts_its_viewer_sees(client, rep, deal, contact, outsider):
    hidden = contact_create(
        by=outsider, account=AccountFactory(owner=outsider), first_name="Hidden"
    )
    client.force_login(rep)
    page = client.get(reverse("deal-detail", args=[deal.pk])).content.decode()
    assert f'<option value="{contact.pk}">Ann Lee</option>' in page and "Hidden" not in page
    response = client.post(
        reverse("deal-contact-add", args=[deal.pk]), {"contact": hidden.pk, "role": "other"}
    )
    assert response.status_code == 302 and not DealContact.objects.exists()


@pytest.mark.parametrize("who", EVERYONE)
def test_linking_and_unlinking_a_deal_from_the_contact_page(client, request, who, deal, contact):
    _as(client, request, who)
    response = client.post(
        reverse("contact-deal-link", args=[contact.pk]), {"deal": deal.pk, "role": "influencer"}
    )
    if who not in SEES:
        assert response.status_code == 404 and not DealContact.objects.exists()
        deal_contact_link(deal=deal, contact=contact, by=deal.owner)
        unlinked = client.post(reverse("deal-contact-remove", args=[deal.pk, contact.pk]))
        assert unlinked.status_code == 404 and DealContact.objects.exists()
        return
    assert response.status_code == 302
    page = client.get(reverse("contact-detail", args=[contact.pk])).content.decode()
    assert "Acme renewal" in page and "Influencer" in page
    back = reverse("contact-detail", args=[contact.pk])
    unlinked = client.post(
        reverse("deal-contact-remove", args=[deal.pk, contact.pk]), {"next": back}
    )
    assert unlinked["Location"] == back and not DealContact.objects.exists()


def test_unlinking_never_redirects_off_site(client, rep, deal, contact):
    deal_contact_link(deal=deal, contact=contact, by=rep)
    client.force_login(rep)
    response = client.post(
        reverse("deal-contact-remove", args=[deal.pk, contact.pk]), {"next": "https://evil.test/"}
    )
    assert response["Location"] == reverse("deal-detail", args=[deal.pk])


def _contact_list_queries(client, user) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("contact-list"))
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("who", ["rep", "manager", "admin"])
def test_contact_list_takes_the_same_queries_with_few_and_many_rows(
    client, request, who, rep, account
):
    user = _as(client, request, who)
    contact_create(by=rep, account=account, first_name="One")
    few = _contact_list_queries(client, user)
    for n in range(30):
        other = AccountFactory(owner=rep, name=f"Account {n}")
        contact_create(by=rep, account=other, first_name=f"Person {n}")
    many = _contact_list_queries(client, user)
    # session, user, (not for an admin) their owners' and territories' ids, capped count,
    # the page's rows with their accounts
    assert few == many == (4 if who == "admin" else 5)


def test_contact_list_searches_and_shows_only_visible_contacts(client, rep, contact, outsider):
    contact_create(by=outsider, account=AccountFactory(owner=outsider), first_name="Olga")
    client.force_login(rep)
    page = client.get(reverse("contact-list")).content.decode()
    assert "Ann Lee" in page and "Olga" not in page
    assert "Ann Lee" not in client.get(reverse("contact-list"), {"q": "zzz"}).content.decode()
    assert "Ann Lee" in client.get(reverse("contact-list"), {"q": "acme"}).content.decode()


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_contact_page_takes_the_same_queries_with_few_and_many_links(
    client, request, who, rep, account, contact, pipeline
):
    _as(client, request, who)
    url = reverse("contact-detail", args=[contact.pk])

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    deal_contact_link(
        deal=DealFactory(owner=rep, account=account, pipeline=pipeline), contact=contact, by=rep
    )
    few = count()
    for _ in range(5):
        deal_contact_link(
            deal=DealFactory(owner=rep, account=account, pipeline=pipeline), contact=contact, by=rep
        )
    assert count() == few


def test_linking_a_deal_out_of_sight_from_the_contact_page_is_refused(
    client, rep, contact, outsider, pipeline
):
    theirs = DealFactory(owner=outsider, pipeline=pipeline, name="Their deal")
    client.force_login(rep)
    response = client.post(
        reverse("contact-deal-link", args=[contact.pk]),
        {"deal": theirs.pk, "role": "other"},
        follow=True,
    )
    assert "Choose a deal you can see" in response.content.decode()
    assert not DealContact.objects.exists()
