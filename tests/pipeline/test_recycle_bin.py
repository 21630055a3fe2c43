"""Deleting deals and accounts from their pages, and restoring them from the recycle bin."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipeline.models import Account, Deal
from pipeline.services import account_delete, deal_delete
from tests.factories import AccountFactory, DealFactory

EVERYONE = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
# Who may delete the rep's records: the rep, their manager and the admin (and only they see them).
DELETERS = {"admin", "manager", "rep"}


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")


@pytest.fixture
def spare_account(rep):
    return AccountFactory(owner=rep, name="Dormant Ltd")


def _as(client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    return user


@pytest.mark.parametrize("who", EVERYONE)
def test_deleting_a_deal_from_its_page(client, request, who, deal):
    _as(client, request, who)
    page = client.get(reverse("deal-detail", args=[deal.pk]))
    asked = client.get(reverse("deal-delete", args=[deal.pk]))
    response = client.post(reverse("deal-delete", args=[deal.pk]))
    deal.refresh_from_db()
    if who in DELETERS:
        assert reverse("deal-delete", args=[deal.pk]) in page.content.decode()
        assert (
            asked.status_code == 200 and "restore it from the recycle bin" in asked.content.decode()
        )
        assert response.status_code == 302 and deal.deleted_at is not None
    else:
        assert (page.status_code, asked.status_code, response.status_code) == (404, 404, 404)
        assert deal.deleted_at is None


@pytest.mark.parametrize("who", EVERYONE)
def test_deleting_an_account_from_its_page(client, request, who, spare_account):
    _as(client, request, who)
    response = client.post(reverse("account-delete", args=[spare_account.pk]))
    spare_account.refresh_from_db()
    if who in DELETERS:
        assert response.status_code == 302 and spare_account.deleted_at is not None
    else:
        assert response.status_code == 404 and spare_account.deleted_at is None


def test_an_account_with_open_deals_is_not_deleted_and_the_page_says_why(client, rep, deal):
    client.force_login(rep)
    response = client.post(reverse("account-delete", args=[deal.account_id]))
    assert response.status_code == 400
    assert "This account has open deals" in response.content.decode()
    assert Account.objects.get(pk=deal.account_id).deleted_at is None


@pytest.mark.parametrize("who", EVERYONE)
def test_only_admins_open_the_recycle_bin(client, request, who):
    user = _as(client, request, who)
    response = client.get(reverse("recycle-bin"))
    assert response.status_code == (200 if user.is_admin else 403)
    accounts = client.get(reverse("account-list")).content.decode()
    assert (reverse("recycle-bin") in accounts) == user.is_admin


def test_the_bin_lists_what_was_deleted_in_the_last_30_days_with_who_deleted_it(
    client, admin, rep, manager, deal, spare_account, pipeline
):
    deal_delete(deal=deal, by=rep)
    account_delete(account=spare_account, by=manager)
    old = DealFactory(owner=rep, pipeline=pipeline, name="Long gone")
    deal_delete(deal=old, by=rep)
    Deal.objects.filter(pk=old.pk).update(deleted_at=timezone.now() - datetime.timedelta(days=31))
    client.force_login(admin)
    page = client.get(reverse("recycle-bin")).content.decode()
    assert "Acme renewal" in page and "Dormant Ltd" in page and "Long gone" not in page
    assert "by Riley Rep" in page and "by Morgan Manager" in page


@pytest.mark.parametrize("who", EVERYONE)
def test_restoring_from_the_bin(client, request, who, rep, deal, spare_account):
    deal_delete(deal=deal, by=rep)
    account_delete(account=spare_account, by=rep)
    user = _as(client, request, who)
    restored_deal = client.post(reverse("deal-restore", args=[deal.pk]))
    restored_account = client.post(reverse("account-restore", args=[spare_account.pk]))
    deal.refresh_from_db()
    spare_account.refresh_from_db()
    if user.is_admin:
        assert restored_deal["Location"] == reverse("deal-detail", args=[deal.pk])
        assert restored_account["Location"] == reverse("account-detail", args=[spare_account.pk])
        assert deal.deleted_at is None and spare_account.deleted_at is None
    else:
        assert (restored_deal.status_code, restored_account.status_code) == (403, 403)
        assert deal.deleted_at is not None and spare_account.deleted_at is not None


def test_a_deal_past_the_30_days_or_not_deleted_is_not_restored_here(
    client, admin, rep, deal, pipeline
):
    client.force_login(admin)
    assert client.post(reverse("deal-restore", args=[deal.pk])).status_code == 404
    deal_delete(deal=deal, by=rep)
    Deal.objects.filter(pk=deal.pk).update(deleted_at=timezone.now() - datetime.timedelta(days=31))
    assert client.post(reverse("deal-restore", args=[deal.pk])).status_code == 404


def test_a_deal_of_a_deleted_account_waits_for_its_account(client, admin, rep, deal):
    deal_delete(deal=deal, by=rep)
    account_delete(account=deal.account, by=rep)
    client.force_login(admin)
    response = client.post(reverse("deal-restore", args=[deal.pk]), follow=True)
    assert "is deleted" in response.content.decode()
    deal.refresh_from_db()
    assert deal.deleted_at is not None


def test_the_bin_takes_the_same_queries_with_few_and_many_rows(
    client, admin, rep, rep2, manager, pipeline
):
    client.force_login(admin)

    def fill(n):
        for i in range(n):
            owner = (rep, rep2)[i % 2]
            gone = DealFactory(owner=owner, pipeline=pipeline)
            deal_delete(deal=gone, by=(owner, manager)[i % 2])
            account_delete(account=AccountFactory(owner=owner), by=owner)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("recycle-bin")).status_code == 200
        return len(captured.captured_queries)

    fill(1)
    few = count()
    fill(12)
    # session, user, deleted deals, deleted accounts, the names of who deleted them
    assert few == count() == 5
