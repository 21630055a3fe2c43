"""Behaviour of the resources around deals: accounts, contacts, activities,
pipelines and stages, products, lost reasons, territories, quotas and users."""

import datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from pipeline.models import Account, Activity, Contact, Pipeline, Stage
from pipeline.services import activity_log, deal_create, deal_move
from quotas.models import Quota, Territory
from quotas.selectors import territory_subtree_ids_subquery
from quotas.services import quota_set
from salesmgr.models import User
from salesmgr.services import user_create
from tests.factories import (
    AccountFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    ProductFactory,
)

API = "/api/v1/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# Accounts


@pytest.fixture
def territory(rep):
    north = Territory.objects.create(name="North", region="EMEA")
    north.reps.add(rep)
    return north


@pytest.fixture
def territory_account(outsider, territory):
    """An account of the other team that lies in the rep's territory."""
    return AccountFactory(owner=outsider, name="Northwind", territory=territory)


def test_rep_creates_an_account_they_own(client_for, rep, territory):
    response = client_for(rep).post(
        f"{API}accounts/", {"name": " Acme ", "territory": territory.pk, "employee_count": 40}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["name"], body["owner"], body["owner_name"]) == ("Acme", rep.pk, "Riley Rep")
    assert (body["territory"], body["territory_name"], body["deleted_at"]) == (
        territory.pk,
        "North",
        None,
    )


def test_rep_cannot_create_an_account_for_their_manager(client_for, rep, manager):
    response = client_for(rep).post(f"{API}accounts/", {"name": "Acme", "owner": manager.pk})
    assert response.status_code == 403
    assert not Account.objects.exists()


def test_manager_creates_and_reassigns_accounts_within_the_team(
    client_for, manager, rep, rep2, outsider
):
    client = client_for(manager)
    created = client.post(f"{API}accounts/", {"name": "Acme", "owner": rep.pk})
    assert created.status_code == 201
    url = f"{API}accounts/{created.json()['id']}/"
    assert client.patch(url, {"owner": rep2.pk}).json()["owner"] == rep2.pk
    refused = client.patch(url, {"owner": outsider.pk})
    assert refused.status_code == 400
    assert "owner" in refused.json()
    assert client_for(rep2).patch(url, {"owner": manager.pk}).status_code == 403


def test_rep_sees_accounts_in_their_territory_but_cannot_edit_them(
    client_for, rep, rep2, manager, territory_account
):
    client = client_for(rep)
    url = f"{API}accounts/{territory_account.pk}/"
    assert ids(client.get(f"{API}accounts/")) == [territory_account.pk]
    assert client.get(url).json()["owner_name"] == "Olive Outsider"
    assert client.patch(url, {"name": "Mine now"}).status_code == 403
    assert client.delete(url).status_code == 403
    contact = client.post(f"{API}contacts/", {"account": territory_account.pk, "first_name": "Ann"})
    assert contact.status_code == 403
    territory_account.refresh_from_db()
    assert (territory_account.name, territory_account.deleted_at) == ("Northwind", None)
    # Their manager reads it through the rep's territory; the teammate does not.
    assert client_for(manager).get(url).status_code == 200
    assert client_for(rep2).get(url).status_code == 404


def test_soft_delete_and_admin_restore(client_for, rep, manager, admin):
    account = AccountFactory(owner=rep, name="Acme")
    url = f"{API}accounts/{account.pk}/"
    assert client_for(rep).delete(url).status_code == 204
    assert client_for(rep).get(url).status_code == 404
    assert ids(client_for(rep).get(f"{API}accounts/")) == []
    assert ids(client_for(admin).get(f"{API}accounts/")) == []
    assert ids(client_for(admin).get(f"{API}accounts/", {"deleted": "true"})) == [account.pk]
    assert ids(client_for(manager).get(f"{API}accounts/", {"deleted": "true"})) == []
    assert client_for(rep).post(f"{url}restore/").status_code == 403
    assert client_for(manager).post(f"{url}restore/").status_code == 403
    restored = client_for(admin).post(f"{url}restore/")
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert client_for(rep).get(url).status_code == 200
    # Only deleted accounts can be restored.
    assert client_for(admin).post(f"{url}restore/").status_code == 404


def test_cannot_delete_an_account_with_open_deals(client_for, rep, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    url = f"{API}accounts/{deal.account_id}/"
    refused = client_for(rep).delete(url)
    assert refused.status_code == 400
    assert "open deals" in refused.json()["non_field_errors"][0]
    assert Account.objects.get(pk=deal.account_id).deleted_at is None
    deal_move(deal=deal, to_stage=stages["Won"], by=rep, expected_version=deal.version)
    assert client_for(rep).delete(url).status_code == 204


def test_an_open_deal_the_deleter_cannot_see_still_blocks_the_delete(
    client_for, rep, rep2, manager, pipeline
):
    account = AccountFactory(owner=rep, name="Shared")
    deal_create(
        by=manager,
        owner=rep2,
        name="Rep2's deal on rep's account",
        account=account,
        pipeline=pipeline,
        expected_close_date=datetime.date(2031, 1, 31),
    )
    response = client_for(rep).delete(f"{API}accounts/{account.pk}/")
    assert response.status_code == 400
    account.refresh_from_db()
    assert account.deleted_at is None


# Contacts


def test_contacts_follow_their_account(client_for, rep, rep2, outsider):
    mine = AccountFactory(owner=rep, name="Acme")
    theirs = AccountFactory(owner=outsider, name="Globex")
    client = client_for(rep)
    created = client.post(
        f"{API}contacts/",
        {"account": mine.pk, "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.test"},
    )
    assert created.status_code == 201, created.json()
    assert created.json()["account_name"] == "Acme"
    url = f"{API}contacts/{created.json()['id']}/"
    refused = client.post(f"{API}contacts/", {"account": theirs.pk, "first_name": "Bob"})
    assert refused.status_code == 400
    assert "account" in refused.json()
    assert client.patch(url, {"account": theirs.pk}).status_code == 400
    assert client.patch(url, {"title": "CFO"}).json()["title"] == "CFO"
    assert client_for(rep2).get(url).status_code == 404
    assert ids(client_for(outsider).get(f"{API}contacts/")) == []
    assert client.delete(url).status_code == 204
    assert not Contact.objects.exists()


def test_contacts_of_a_deleted_account_are_hidden(client_for, rep):
    account = AccountFactory(owner=rep)
    contact = Contact.objects.create(account=account, first_name="Ann")
    client = client_for(rep)
    assert client.delete(f"{API}accounts/{account.pk}/").status_code == 204
    assert client.get(f"{API}contacts/{contact.pk}/").status_code == 404
    assert ids(client.get(f"{API}contacts/")) == []


def test_invalid_contact_email_is_400(client_for, rep):
    account = AccountFactory(owner=rep)
    response = client_for(rep).post(
        f"{API}contacts/", {"account": account.pk, "first_name": "A", "email": "nope"}
    )
    assert response.status_code == 400
    assert "email" in response.json()


# Activities


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")


def test_activity_on_a_deal_belongs_to_its_account(client_for, rep, deal):
    response = client_for(rep).post(
        f"{API}activities/",
        {"deal": deal.pk, "kind": "call", "subject": " Called the CFO ", "body": "Budget ok"},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["account"] == deal.account_id
    assert body["account_name"] == deal.account.name
    assert (body["author"], body["author_name"], body["deal_name"]) == (
        rep.pk,
        "Riley Rep",
        "Acme renewal",
    )
    assert body["subject"] == "Called the CFO"
    assert body["occurred_at"] is not None


def test_activity_on_an_invisible_deal_is_400(client_for, rep2, deal):
    response = client_for(rep2).post(
        f"{API}activities/", {"deal": deal.pk, "kind": "note", "subject": "Peek"}
    )
    assert response.status_code == 400
    assert "deal" in response.json()
    assert not Activity.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "note", "subject": "Nothing to hang it on"}, "deal"),
        ({"kind": "telepathy", "subject": "Hm"}, "kind"),
        ({"kind": "note", "subject": "   "}, "subject"),
    ],
)
def test_invalid_activities_are_400(client_for, rep, deal, body, field):
    if field != "deal":
        body = {**body, "deal": deal.pk}
    response = client_for(rep).post(f"{API}activities/", body)
    assert response.status_code == 400
    assert field in response.json()


def test_activity_account_must_be_the_deals_account(client_for, rep, deal):
    other = AccountFactory(owner=rep)
    response = client_for(rep).post(
        f"{API}activities/", {"deal": deal.pk, "account": other.pk, "kind": "note", "subject": "x"}
    )
    assert response.status_code == 400
    assert "account" in response.json()


def test_only_the_author_or_an_admin_deletes_an_activity(
    client_for, rep, rep2, manager, admin, deal
):
    first = activity_log(by=rep, kind="note", subject="first", deal=deal)
    second = activity_log(by=rep, kind="note", subject="second", deal=deal)
    assert client_for(manager).get(f"{API}activities/{first.pk}/").status_code == 200
    assert client_for(manager).delete(f"{API}activities/{first.pk}/").status_code == 403
    assert client_for(rep2).delete(f"{API}activities/{first.pk}/").status_code == 404
    assert client_for(rep).delete(f"{API}activities/{first.pk}/").status_code == 204
    assert client_for(admin).delete(f"{API}activities/{second.pk}/").status_code == 204
    assert not Activity.objects.exists()


def test_activities_are_logged_not_edited(client_for, rep, deal):
    activity = activity_log(by=rep, kind="note", subject="first", deal=deal)
    response = client_for(rep).patch(f"{API}activities/{activity.pk}/", {"subject": "x"})
    assert response.status_code == 405


def test_account_activities_are_seen_by_whoever_sees_the_account(
    client_for, rep, manager, rep2, territory_account
):
    note = activity_log(by=rep, kind="client_visit", subject="Visited", account=territory_account)
    assert ids(client_for(rep).get(f"{API}activities/", {"account": territory_account.pk})) == [
        note.pk
    ]
    assert client_for(manager).get(f"{API}activities/{note.pk}/").status_code == 200
    assert client_for(rep2).get(f"{API}activities/{note.pk}/").status_code == 404


# Pipelines and stages


@pytest.fixture
def bare_pipeline(as_admin):
    created = as_admin.post(f"{API}pipelines/", {"name": "Partners"})
    assert created.status_code == 201
    return created.json()


@pytest.fixture
def as_admin(client_for, admin):
    return client_for(admin)


def _add_stage(client, pipeline_id, name, order, kind="open", probability=50):
    return client.post(
        f"{API}stages/",
        {
            "pipeline": pipeline_id,
            "name": name,
            "order": order,
            "probability": probability,
            "kind": kind,
        },
    )


def test_a_pipeline_takes_deals_once_it_has_open_won_and_lost_stages(as_admin, bare_pipeline):
    url = f"{API}pipelines/{bare_pipeline['id']}/"
    assert bare_pipeline["takes_deals"] is False
    assert _add_stage(as_admin, bare_pipeline["id"], "Talk", 1).status_code == 201
    assert _add_stage(as_admin, bare_pipeline["id"], "Signed", 2, "won", 100).status_code == 201
    assert as_admin.get(url).json()["takes_deals"] is False
    assert _add_stage(as_admin, bare_pipeline["id"], "Dropped", 3, "lost", 0).status_code == 201
    body = as_admin.get(url).json()
    assert body["takes_deals"] is True
    assert [s["name"] for s in body["stages"]] == ["Talk", "Signed", "Dropped"]
    assert as_admin.patch(url, {"is_active": False}).json()["takes_deals"] is False


def test_a_second_won_stage_is_400(as_admin, pipeline):
    response = _add_stage(as_admin, pipeline.pk, "Won again", 20, "won", 100)
    assert response.status_code == 400
    assert response.json() == {"kind": ["This pipeline already has a won stage."]}
    assert pipeline.stages.filter(kind="won").count() == 1


def test_turning_an_open_stage_into_a_second_lost_stage_is_400(as_admin, stages):
    response = as_admin.patch(f"{API}stages/{stages['Discovery'].pk}/", {"kind": "lost"})
    assert response.status_code == 400
    assert response.json() == {"kind": ["This pipeline already has a lost stage."]}


def test_stage_order_and_name_clashes_are_400(as_admin, pipeline, stages):
    clash = _add_stage(as_admin, pipeline.pk, "Demo", stages["Discovery"].order)
    assert clash.status_code == 400
    assert clash.json() == {"order": ["Another stage of this pipeline has this order."]}
    moved = as_admin.patch(
        f"{API}stages/{stages['Proposal'].pk}/", {"order": stages["Discovery"].order}
    )
    assert moved.status_code == 400
    assert "order" in moved.json()
    renamed = as_admin.patch(f"{API}stages/{stages['Proposal'].pk}/", {"name": "Discovery"})
    assert renamed.status_code == 400
    assert "name" in renamed.json()
    # The same order in another pipeline is fine.
    other = PipelineFactory(name="Other", stages=False)
    assert _add_stage(as_admin, other.pk, "Demo", stages["Discovery"].order).status_code == 201


def test_a_stage_stays_in_its_pipeline(as_admin, stages):
    other = PipelineFactory(name="Other")
    response = as_admin.patch(f"{API}stages/{stages['Discovery'].pk}/", {"pipeline": other.pk})
    assert response.status_code == 400
    assert "pipeline" in response.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [("probability", 101), ("probability", -1), ("order", -1), ("kind", "maybe")],
)
def test_invalid_stage_values_are_400(as_admin, pipeline, field, value):
    body = {"pipeline": pipeline.pk, "name": "Demo", "order": 30, "probability": 50, field: value}
    response = as_admin.post(f"{API}stages/", body)
    assert response.status_code == 400
    assert field in response.json()


def test_stages_and_pipelines_that_deals_used_cannot_be_deleted(as_admin, rep, pipeline, stages):
    DealFactory(owner=rep, pipeline=pipeline)
    assert as_admin.delete(f"{API}stages/{stages['Qualification'].pk}/").status_code == 400
    assert as_admin.delete(f"{API}pipelines/{pipeline.pk}/").status_code == 400
    assert as_admin.delete(f"{API}stages/{stages['Proposal'].pk}/").status_code == 204
    assert Pipeline.objects.filter(pk=pipeline.pk).exists()


def test_the_kind_of_a_stage_that_deals_used_cannot_change(as_admin, rep, pipeline, stages):
    """A deal's ``status`` mirrors its stage's kind and metrics read past moves by kind."""
    deal = DealFactory(owner=rep, pipeline=pipeline)
    deal_move(deal=deal, to_stage=stages["Won"], by=rep, expected_version=deal.version)
    response = as_admin.patch(f"{API}stages/{stages['Won'].pk}/", {"kind": "open"})
    assert response.status_code == 400
    assert "kind" in response.json()
    assert Stage.objects.get(pk=stages["Won"].pk).kind == "won"
    # Its name and probability may still change.
    renamed = as_admin.patch(f"{API}stages/{stages['Won'].pk}/", {"name": "Closed won"})
    assert renamed.status_code == 200


# Products and lost reasons


def test_products(as_admin, client_for, rep, pipeline):
    url = f"{API}products/"
    created = as_admin.post(url, {"name": "Seat licence", "sku": "SEAT-1", "unit_price": "49.90"})
    assert created.status_code == 201
    assert created.json()["unit_price"] == "49.90"
    same_sku = as_admin.post(url, {"name": "Again", "sku": "SEAT-1", "unit_price": "1.00"})
    assert same_sku.status_code == 400
    negative = as_admin.post(url, {"name": "Bad", "sku": "B-1", "unit_price": "-1.00"})
    assert negative.status_code == 400
    assert client_for(rep).get(url, {"search": "seat"}).json()["count"] == 1

    product = ProductFactory()
    deal = DealFactory(owner=rep, pipeline=pipeline)
    line = {"version": 1, "line_items": [{"product": product.pk, "quantity": "2"}]}
    assert client_for(rep).patch(f"{API}deals/{deal.pk}/", line).status_code == 200
    refused = as_admin.delete(f"{url}{product.pk}/")
    assert refused.status_code == 400
    assert "deactivate" in refused.json()["detail"]
    retired = as_admin.patch(f"{url}{product.pk}/", {"is_active": False})
    assert retired.json()["is_active"] is False
    assert as_admin.delete(f"{url}{created.json()['id']}/").status_code == 204


def test_lost_reasons(as_admin, client_for, rep, pipeline, stages):
    created = as_admin.post(f"{API}lost-reasons/", {"name": "No budget"})
    assert created.status_code == 201
    assert as_admin.post(f"{API}lost-reasons/", {"name": "No budget"}).status_code == 400
    reason_id = created.json()["id"]
    deal = DealFactory(owner=rep, pipeline=pipeline)
    lost = client_for(rep).post(
        f"{API}deals/{deal.pk}/move/",
        {"stage": stages["Lost"].pk, "version": 1, "lost_reason": reason_id},
    )
    assert lost.json()["lost_reason_name"] == "No budget"
    refused = as_admin.delete(f"{API}lost-reasons/{reason_id}/")
    assert refused.status_code == 400
    assert (
        as_admin.patch(f"{API}lost-reasons/{reason_id}/", {"is_active": False}).status_code == 200
    )
    other = DealFactory(owner=rep, pipeline=pipeline)
    retired = client_for(rep).post(
        f"{API}deals/{other.pk}/move/",
        {"stage": stages["Lost"].pk, "version": 1, "lost_reason": reason_id},
    )
    assert retired.status_code == 400
    assert "lost_reason" in retired.json()
    unused = LostReasonFactory(name="Timing")
    assert as_admin.delete(f"{API}lost-reasons/{unused.pk}/").status_code == 204


# Territories


def test_territory_tree_refuses_loops(as_admin, rep, rep2):
    emea = as_admin.post(f"{API}territories/", {"name": "EMEA", "reps": [rep.pk]}).json()
    north = as_admin.post(f"{API}territories/", {"name": "North", "parent": emea["id"]}).json()
    nordics = as_admin.post(
        f"{API}territories/", {"name": "Nordics", "parent": north["id"], "reps": [rep2.pk]}
    )
    assert nordics.status_code == 201
    assert (nordics.json()["parent_name"], nordics.json()["reps"]) == ("North", [rep2.pk])
    loop = as_admin.patch(f"{API}territories/{emea['id']}/", {"parent": nordics.json()["id"]})
    assert loop.status_code == 400
    assert loop.json() == {"parent": ["A territory cannot sit inside itself."]}
    itself = as_admin.patch(f"{API}territories/{north['id']}/", {"parent": north["id"]})
    assert itself.status_code == 400
    assert Territory.objects.get(pk=emea["id"]).parent is None
    renamed = as_admin.patch(
        f"{API}territories/{north['id']}/", {"name": "Northern Europe", "parent": None}
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["parent"]) == ("Northern Europe", None)


def test_a_loop_through_a_deep_territory_tree_is_refused(as_admin):
    root = parent = Territory.objects.create(name="World")
    for level in range(40):
        parent = Territory.objects.create(name=f"Level {level}", parent=parent)
    response = as_admin.patch(f"{API}territories/{root.pk}/", {"parent": parent.pk})
    assert response.status_code == 400
    assert "parent" in response.json()
    root.refresh_from_db()
    assert root.parent is None


def test_territory_with_children_cannot_be_deleted(as_admin):
    parent = Territory.objects.create(name="EMEA")
    child = Territory.objects.create(name="North", parent=parent)
    assert as_admin.delete(f"{API}territories/{parent.pk}/").status_code == 400
    assert as_admin.delete(f"{API}territories/{child.pk}/").status_code == 204
    assert as_admin.delete(f"{API}territories/{parent.pk}/").status_code == 204


def test_territory_names_are_unique(as_admin):
    Territory.objects.create(name="EMEA")
    assert as_admin.post(f"{API}territories/", {"name": "EMEA"}).status_code == 400


# Quotas

JAN = {"period_start": "2031-01-01", "period_end": "2031-01-31"}


def test_admin_sets_quotas_and_overlaps_are_400(as_admin, rep):
    created = as_admin.post(f"{API}quotas/", {"owner": rep.pk, **JAN, "target": "50000.00"})
    assert created.status_code == 201, created.json()
    assert (created.json()["period"], created.json()["owner_name"]) == ("month", "Riley Rep")
    overlap = as_admin.post(
        f"{API}quotas/",
        {
            "owner": rep.pk,
            "period_start": "2031-01-15",
            "period_end": "2031-02-14",
            "target": "1.00",
        },
    )
    assert overlap.status_code == 400
    assert overlap.json() == {
        "period_start": [
            "Riley Rep already has a quota for 2031-01-01 to 2031-01-31, which overlaps this period."
        ]
    }
    feb = as_admin.post(
        f"{API}quotas/",
        {
            "owner": rep.pk,
            "period_start": "2031-02-01",
            "period_end": "2031-02-28",
            "target": "1.00",
        },
    )
    assert feb.status_code == 201
    stretched = as_admin.patch(f"{API}quotas/{feb.json()['id']}/", {"period_start": "2031-01-31"})
    assert stretched.status_code == 400
    assert "overlaps" in stretched.json()["period_start"][0]
    raised = as_admin.patch(f"{API}quotas/{feb.json()['id']}/", {"target": "2.00"})
    assert raised.json()["target"] == "2.00"
    assert Quota.objects.filter(owner=rep).count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"period_start": "2031-01-31", "period_end": "2031-01-01", "target": "1.00"},
            "period_end",
        ),
        ({**JAN, "target": "-1.00"}, "target"),
        ({**JAN, "target": "1.00", "period": "fortnight"}, "period"),
    ],
)
def test_invalid_quotas_are_400(as_admin, rep, body, field):
    response = as_admin.post(f"{API}quotas/", {"owner": rep.pk, **body})
    assert response.status_code == 400
    assert field in response.json()


def test_reps_see_their_own_quotas_and_managers_their_teams(
    client_for, manager, rep, rep2, outsider
):
    start = datetime.date(2031, 1, 1)
    quotas = {
        user.username: quota_set(
            owner=user,
            period_start=start,
            period_end=datetime.date(2031, 3, 31),
            target=Decimal(1000),
        ).pk
        for user in (manager, rep, rep2, outsider)
    }
    assert ids(client_for(rep).get(f"{API}quotas/")) == [quotas["rep"]]
    assert sorted(ids(client_for(manager).get(f"{API}quotas/"))) == sorted(
        [quotas["manager"], quotas["rep"], quotas["rep2"]]
    )
    assert ids(client_for(outsider).get(f"{API}quotas/")) == [quotas["outsider"]]
    assert client_for(rep).get(f"{API}quotas/{quotas['rep2']}/").status_code == 404


# Users


def test_admin_creates_a_user_who_can_sign_in(as_admin, manager):
    response = as_admin.post(
        f"{API}users/",
        {
            "username": "newbie",
            "password": "correct-horse-battery",
            "full_name": "New Bie",
            "email": "newbie@example.com",
            "role": "rep",
            "manager": manager.pk,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "password" not in body
    assert (body["manager"], body["manager_name"], body["is_active"]) == (
        manager.pk,
        "Morgan Manager",
        True,
    )
    token = APIClient().post(
        f"{API}auth/token/", {"username": "newbie", "password": "correct-horse-battery"}
    )
    assert token.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "REP"}, "username"),
        ({"username": "has space"}, "username"),
        ({"password": "short"}, "password"),
        ({"password": "12345678"}, "password"),
        ({"password": "newbie123"}, "password"),  # too like the username
        ({"role": "overlord"}, "role"),
    ],
)
def test_invalid_users_are_400(as_admin, rep, body, field):
    response = as_admin.post(
        f"{API}users/", {"username": "newbie", "password": "correct-horse-battery", **body}
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.filter(username="newbie").exists()


def test_a_new_password_meets_the_password_rules(as_admin, rep):
    url = f"{API}users/{rep.pk}/"
    assert as_admin.patch(url, {"password": "password"}).status_code == 400
    assert as_admin.patch(url, {"password": "rep@example.com"}).status_code == 400  # their email
    assert as_admin.patch(url, {"password": "a-much-better-one"}).status_code == 200
    rep.refresh_from_db()
    assert rep.check_password("a-much-better-one")


def test_an_admin_creates_an_admin_with_staff_access(as_admin, admin):
    response = as_admin.post(
        f"{API}users/", {"username": "boss", "password": "correct-horse-battery", "role": "admin"}
    )
    assert response.status_code == 201
    assert User.objects.get(username="boss").is_staff


def test_a_reporting_cycle_is_400(as_admin, manager, rep):
    cycle = as_admin.patch(f"{API}users/{manager.pk}/", {"manager": rep.pk})
    assert cycle.status_code == 400
    assert "cycle" in cycle.json()["manager"][0]
    itself = as_admin.patch(f"{API}users/{rep.pk}/", {"manager": rep.pk})
    assert itself.status_code == 400
    manager.refresh_from_db()
    assert manager.manager_id is None


def test_a_reporting_cycle_through_a_deep_line_is_400(as_admin):
    top = boss = user_create(username="top", password=None, role="manager")
    for level in range(70):
        boss = user_create(username=f"level{level}", password=None, role="manager", manager=boss)
    response = as_admin.patch(f"{API}users/{top.pk}/", {"manager": boss.pk})
    assert response.status_code == 400


def test_admin_moves_a_rep_to_another_team(as_admin, client_for, rep, other_manager):
    response = as_admin.patch(
        f"{API}users/{rep.pk}/", {"manager": other_manager.pk, "full_name": "Riley R."}
    )
    assert response.status_code == 200
    assert (response.json()["manager"], response.json()["full_name"]) == (
        other_manager.pk,
        "Riley R.",
    )
    assert client_for(other_manager).get(f"{API}users/{rep.pk}/").status_code == 200


def test_users_me(client_for, rep, manager):
    body = client_for(rep).get(f"{API}users/me/").json()
    assert (body["id"], body["username"], body["role"], body["manager"]) == (
        rep.pk,
        "rep",
        "rep",
        manager.pk,
    )
    assert body["manager_name"] == "Morgan Manager"


def test_deactivation_keeps_the_person_but_not_oneself(as_admin, admin, rep):
    assert as_admin.delete(f"{API}users/{rep.pk}/").status_code == 204
    rep.refresh_from_db()
    assert rep.is_active is False
    assert as_admin.delete(f"{API}users/{admin.pk}/").status_code == 400
    assert as_admin.patch(f"{API}users/{admin.pk}/", {"is_active": False}).status_code == 400
    admin.refresh_from_db()
    assert admin.is_active is True


# Filters by id

BAD_IDS = ["1e30", "1.5", "-1", str(2**63)]


@pytest.mark.parametrize(
    ("url", "param", "value"),
    [
        *[
            (url, param, value)
            for url, param in [
                ("accounts", "owner"),
                ("accounts", "territory"),
                ("contacts", "account"),
                ("quotas", "owner"),
                ("users", "manager"),
            ]
            for value in [*BAD_IDS, "abc"]
        ],
        *[
            (url, param, value)
            for url, param in [("deals", "owner"), ("activities", "deal")]
            for value in BAD_IDS
        ],
    ],
)
def test_an_id_filter_takes_whole_numbers_in_range_only(client_for, rep, url, param, value):
    response = client_for(rep).get(f"{API}{url}/", {param: value})
    assert response.status_code == 400
    assert param in response.json()


def test_the_territory_walk_ends_even_on_a_corrupt_loop(admin):
    """Rows written around the service (a restore, a manual fix) must not hang every read."""
    a = Territory.objects.create(name="A")
    b = Territory.objects.create(name="B", parent=a)
    Territory.objects.filter(pk=a.pk).update(parent=b)
    inside = Territory.objects.filter(pk__in=territory_subtree_ids_subquery(a.pk))
    assert sorted(inside.values_list("pk", flat=True)) == sorted([a.pk, b.pk])
