import datetime
from decimal import Decimal

import pytest

from pipeline.models import Deal
from tests.factories import AccountFactory, DealFactory, LostReasonFactory, ProductFactory

URL = "/api/v1/deals/"


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("5000.00"), name="Acme renewal")


def test_anonymous_gets_401(client_for, deal):
    assert client_for().get(URL).status_code == 401


def test_rep_lists_own_deals_with_display_names(client_for, deal, rep, rep2, pipeline):
    DealFactory(owner=rep2, pipeline=pipeline)
    response = client_for(rep).get(URL)
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == deal.pk
    assert row["owner_name"] == "Riley Rep"
    assert row["stage_name"] == "Qualification"
    assert row["amount"] == "5000.00"


def test_outsider_gets_404_for_another_teams_deal(client_for, deal, outsider):
    assert client_for(outsider).get(f"{URL}{deal.pk}/").status_code == 404


def test_create_a_deal(client_for, rep, pipeline):
    account = AccountFactory(owner=rep)
    response = client_for(rep).post(
        URL,
        {
            "name": "New one",
            "account": account.pk,
            "pipeline": pipeline.pk,
            "amount": "1200.50",
            "expected_close_date": "2030-01-31",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["owner"] == rep.pk
    assert body["version"] == 1
    assert response["ETag"] == f'"{body["id"]}.1"'
    assert Deal.objects.get(pk=body["id"]).transitions.count() == 1


def test_create_on_an_invisible_account_is_400(client_for, rep, outsider, pipeline):
    foreign = AccountFactory(owner=outsider)
    response = client_for(rep).post(
        URL,
        {
            "name": "x",
            "account": foreign.pk,
            "pipeline": pipeline.pk,
            "expected_close_date": "2030-01-31",
        },
    )
    assert response.status_code == 400
    assert "account" in response.json()


def test_move_with_stale_version_is_409_and_writes_nothing(client_for, deal, rep, stages):
    client = client_for(rep)
    ok = client.post(f"{URL}{deal.pk}/move/", {"stage": stages["Discovery"].pk, "version": 1})
    assert ok.status_code == 200
    assert ok.json()["version"] == 2
    stale = client.post(f"{URL}{deal.pk}/move/", {"stage": stages["Proposal"].pk, "version": 1})
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2
    assert deal.transitions.count() == 2


def test_move_to_lost_needs_reason(client_for, deal, rep, stages):
    response = client_for(rep).post(
        f"{URL}{deal.pk}/move/", {"stage": stages["Lost"].pk, "version": 1}
    )
    assert response.status_code == 400
    assert "lost_reason" in response.json()
    reason = LostReasonFactory(name="Budget")
    response = client_for(rep).post(
        f"{URL}{deal.pk}/move/",
        {"stage": stages["Lost"].pk, "version": 1, "lost_reason": reason.pk},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "lost"


def test_update_needs_a_version_and_honours_if_match(client_for, deal, rep):
    client = client_for(rep)
    assert client.patch(f"{URL}{deal.pk}/", {"amount": "10.00"}).status_code == 400
    mismatch = client.patch(f"{URL}{deal.pk}/", {"amount": "10.00"}, HTTP_IF_MATCH='"1.99"')
    assert mismatch.status_code == 412
    ok = client.patch(f"{URL}{deal.pk}/", {"amount": "10.00"}, HTTP_IF_MATCH=f'"{deal.pk}.1"')
    assert ok.status_code == 200
    assert ok.json()["amount"] == "10.00"
    assert ok["ETag"] == f'"{deal.pk}.2"'


def test_stage_cannot_be_patched(client_for, deal, rep, stages):
    response = client_for(rep).patch(f"{URL}{deal.pk}/", {"stage": stages["Won"].pk, "version": 1})
    assert response.status_code == 400
    assert "move" in str(response.json())


def test_rep_cannot_change_owner_but_manager_can(client_for, deal, rep, rep2, manager):
    # The rep can see their manager but may not hand the deal to them; rep2 is not even visible to them.
    assert (
        client_for(rep).patch(f"{URL}{deal.pk}/", {"owner": manager.pk, "version": 1}).status_code
        == 403
    )
    assert (
        client_for(rep).patch(f"{URL}{deal.pk}/", {"owner": rep2.pk, "version": 1}).status_code
        == 400
    )
    response = client_for(manager).patch(f"{URL}{deal.pk}/", {"owner": rep2.pk, "version": 1})
    assert response.status_code == 200
    assert response.json()["owner"] == rep2.pk


def test_line_items_through_the_api_set_the_amount(client_for, deal, rep):
    product = ProductFactory(unit_price=Decimal("120.00"))
    response = client_for(rep).patch(
        f"{URL}{deal.pk}/",
        {"version": 1, "line_items": [{"product": product.pk, "quantity": "5"}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["amount"] == "600.00"
    assert response.json()["line_items"][0]["total"] == "600.00"


def test_a_patch_of_fields_owner_and_line_items_is_one_version_and_one_history_entry(
    client_for, deal, manager, rep2
):
    product = ProductFactory(unit_price=Decimal("120.00"))
    body = {
        "version": 1,
        "name": "Acme expansion",
        "owner": rep2.pk,
        "line_items": [{"product": product.pk, "quantity": "5"}],
    }
    response = client_for(manager).patch(f"{URL}{deal.pk}/", body, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["version"], response.json()["amount"]) == (2, "600.00")
    history = client_for(manager).get(f"{URL}{deal.pk}/history/").json()
    assert [h["kind"] for h in history] == ["created", "changed"]
    assert {c["field"] for c in history[-1]["changes"]} == {"name", "owner", "amount"}


def test_a_patch_with_a_bad_line_item_is_refused_early_with_the_rule_s_words(client_for, deal, rep):
    retired = ProductFactory(is_active=False)
    body = {
        "version": 1,
        "name": "Renamed",
        "line_items": [{"product": retired.pk, "quantity": "1"}],
    }
    response = client_for(rep).patch(f"{URL}{deal.pk}/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "line_items": {"0": {"product": ["That product is no longer sold."]}}
    }
    deal.refresh_from_db()
    assert (deal.version, deal.name) == (1, "Acme renewal")


def test_transitions_and_history(client_for, deal, rep, stages):
    client = client_for(rep)
    client.post(f"{URL}{deal.pk}/move/", {"stage": stages["Discovery"].pk, "version": 1})
    client.patch(f"{URL}{deal.pk}/", {"amount": "7500.00", "version": 2})
    transitions = client.get(f"{URL}{deal.pk}/transitions/").json()
    assert [t["to_stage_name"] for t in transitions] == ["Qualification", "Discovery"]
    history = client.get(f"{URL}{deal.pk}/history/").json()
    assert [h["kind"] for h in history] == ["created", "changed", "changed"]
    assert {"field": "amount", "old": "5000.00", "new": "7500.00"} in history[-1]["changes"]


def test_soft_delete_and_admin_restore(client_for, deal, rep, admin):
    assert client_for(rep).delete(f"{URL}{deal.pk}/").status_code == 204
    assert client_for(rep).get(f"{URL}{deal.pk}/").status_code == 404
    listed = client_for(admin).get(URL, {"deleted": "true"}).json()["results"]
    assert [d["id"] for d in listed] == [deal.pk]
    assert client_for(rep).post(f"{URL}{deal.pk}/restore/").status_code in (403, 404)
    assert client_for(admin).post(f"{URL}{deal.pk}/restore/").status_code == 200
    assert client_for(rep).get(f"{URL}{deal.pk}/").status_code == 200


def test_filters_and_ordering(client_for, rep, pipeline, manager, rep2):
    for amount, days in [(100, 10), (900, 5), (500, 20)]:
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            amount=Decimal(amount),
            expected_close_date=datetime.date.today() + datetime.timedelta(days=days),
        )
    DealFactory(owner=rep2, pipeline=pipeline, amount=Decimal(50))
    client = client_for(manager)
    rows = client.get(URL, {"owner": rep.pk, "ordering": "-amount"}).json()["results"]
    assert [r["amount"] for r in rows] == ["900.00", "500.00", "100.00"]
    rows = client.get(URL, {"amount_min": "400", "team": manager.pk}).json()["results"]
    assert {r["amount"] for r in rows} == {"900.00", "500.00"}


def test_idempotency_key_replays_the_first_answer(client_for, rep, pipeline):
    account = AccountFactory(owner=rep)
    body = {
        "name": "Once",
        "account": account.pk,
        "pipeline": pipeline.pk,
        "expected_close_date": "2030-01-31",
    }
    client = client_for(rep)
    first = client.post(URL, body, HTTP_IDEMPOTENCY_KEY="abc-123")
    second = client.post(URL, body, HTTP_IDEMPOTENCY_KEY="abc-123")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Deal.objects.filter(name="Once").count() == 1
    other = client.post(URL, {**body, "name": "Twice"}, HTTP_IDEMPOTENCY_KEY="abc-123")
    assert other.status_code == 422
