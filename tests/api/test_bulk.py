import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from pipeline.models import Deal, StageTransition
from pipeline.selectors import deal_as_of
from tests.factories import AccountFactory, DealFactory, LostReasonFactory

URL = "/api/v1/deals/bulk/"


@pytest.fixture
def account(rep):
    return AccountFactory(owner=rep)


def row(account, pipeline, stage, **extra):
    return {
        "name": "Imported",
        "account": account.pk,
        "pipeline": pipeline.pk,
        "stage": stage.pk,
        "amount": "1000.00",
        "expected_close_date": "2031-03-31",
        **extra,
    }


def test_bulk_creates_every_row_in_order(client_for, rep, account, pipeline, stages):
    rows = [
        row(account, pipeline, stages["Qualification"], name=f"Deal {n}", external_id=f"x-{n}")
        for n in range(3)
    ]
    response = client_for(rep).post(URL, {"deals": rows}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["updated"]) == (3, 0)
    assert [Deal.objects.get(pk=pk).name for pk in body["ids"]] == ["Deal 0", "Deal 1", "Deal 2"]
    assert all(Deal.objects.get(pk=pk).transitions.count() == 1 for pk in body["ids"])


def test_one_bad_row_writes_nothing_and_names_the_row(
    client_for, rep, account, pipeline, stages, outsider
):
    foreign = AccountFactory(owner=outsider)
    rows = [
        row(account, pipeline, stages["Qualification"]),
        row(foreign, pipeline, stages["Qualification"]),
        row(account, pipeline, stages["Qualification"], amount="-5"),
    ]
    response = client_for(rep).post(URL, {"deals": rows}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {(1, "account"), (2, "amount")}
    assert not Deal.objects.exists()


def test_service_errors_are_row_numbered_and_roll_back(client_for, rep, account, pipeline, stages):
    rows = [
        row(account, pipeline, stages["Qualification"]),
        row(account, pipeline, stages["Lost"]),  # lost without a reason
    ]
    response = client_for(rep).post(URL, {"deals": rows}, format="json")
    assert response.status_code == 400
    assert [e["row"] for e in response.json()["errors"]] == [1]
    assert not Deal.objects.exists()


def test_external_id_makes_a_rerun_an_update(client_for, rep, account, pipeline, stages):
    client = client_for(rep)
    first = client.post(
        URL,
        {"deals": [row(account, pipeline, stages["Qualification"], external_id="crm-1")]},
        format="json",
    ).json()
    again = client.post(
        URL,
        {
            "deals": [
                row(account, pipeline, stages["Discovery"], external_id="crm-1", amount="1500.00")
            ]
        },
        format="json",
    )
    assert again.status_code == 200, again.json()
    assert (again.json()["created"], again.json()["updated"]) == (0, 1)
    assert again.json()["ids"] == first["ids"]
    deal = Deal.objects.get(external_id="crm-1")
    assert (deal.amount, deal.stage) == (Decimal("1500.00"), stages["Discovery"])
    assert deal.transitions.count() == 2
    assert Deal.objects.count() == 1


def test_an_update_row_with_a_stale_version_fails(client_for, rep, account, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline, account=account)
    Deal.objects.filter(pk=deal.pk).update(external_id="crm-9")
    stale = row(account, pipeline, stages["Qualification"], external_id="crm-9", version=7)
    response = client_for(rep).post(URL, {"deals": [stale]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "version"


def test_more_than_500_rows_are_refused(client_for, rep, account, pipeline, stages):
    rows = [row(account, pipeline, stages["Qualification"])] * 501
    response = client_for(rep).post(URL, {"deals": rows}, format="json")
    assert response.status_code == 400
    assert not Deal.objects.exists()


def test_admin_imports_a_deal_with_its_past(client_for, admin, rep, account, pipeline, stages):
    start = timezone.now().replace(microsecond=0) - datetime.timedelta(days=100)

    def at(days):
        return (start + datetime.timedelta(days=days)).isoformat()

    reason = LostReasonFactory(name="Competitor")
    payload = row(
        account,
        pipeline,
        stages["Lost"],
        owner=rep.pk,
        external_id="old-crm-123",
        amount="9000.00",
        lost_reason=reason.pk,
        created_at=at(0),
        transitions=[
            {"to_stage": stages["Qualification"].pk, "at": at(0), "by": rep.pk},
            {"to_stage": stages["Proposal"].pk, "at": at(30), "by": rep.pk},
            {"to_stage": stages["Lost"].pk, "at": at(60), "by": rep.pk},
        ],
        changes=[
            {"field": "amount", "value": "12000.00", "at": at(0)},
            {"field": "amount", "value": "9000.00", "at": at(40)},
        ],
    )
    response = client_for(admin).post(URL, {"deals": [payload]}, format="json")
    assert response.status_code == 200, response.json()
    deal = Deal.objects.get(external_id="old-crm-123")
    assert deal.status == "lost"
    assert deal.closed_at == start + datetime.timedelta(days=60)
    path = list(StageTransition.objects.filter(deal=deal).values_list("to_stage__name", "at"))
    assert [name for name, _ in path] == ["Qualification", "Proposal", "Lost"]
    as_of_20 = deal_as_of(deal.pk, start + datetime.timedelta(days=20))
    assert (as_of_20.stage_id, as_of_20.amount) == (stages["Qualification"].pk, Decimal("12000.00"))
    as_of_50 = deal_as_of(deal.pk, start + datetime.timedelta(days=50))
    assert (as_of_50.stage_id, as_of_50.amount) == (stages["Proposal"].pk, Decimal("9000.00"))


def test_a_rep_may_not_import_a_past(client_for, rep, account, pipeline, stages):
    start = timezone.now() - datetime.timedelta(days=10)
    payload = row(
        account,
        pipeline,
        stages["Discovery"],
        created_at=start.isoformat(),
        transitions=[
            {"to_stage": stages["Qualification"].pk, "at": start.isoformat()},
            {
                "to_stage": stages["Discovery"].pk,
                "at": (start + datetime.timedelta(days=2)).isoformat(),
            },
        ],
    )
    response = client_for(rep).post(URL, {"deals": [payload]}, format="json")
    assert response.status_code == 400
    assert not Deal.objects.exists()


def test_bulk_honours_an_idempotency_key(client_for, rep, account, pipeline, stages):
    client = client_for(rep)
    body = {"deals": [row(account, pipeline, stages["Qualification"])]}
    first = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="import-7")
    second = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="import-7")
    assert first.json() == second.json()
    assert Deal.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [{"deals": [[None, None]]}, {"deals": "x"}, {"deals": []}, [], {"deals": [{"amount": 0}]}],
)
def test_malformed_bulk_bodies_are_400_with_row_errors(client_for, rep, body):
    response = client_for(rep).post(URL, body, format="json")
    assert response.status_code == 400
    assert not Deal.objects.exists()


def _upserted(client, rows):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.post(URL, {"deals": rows}, format="json")
    assert response.status_code == 200, response.json()
    return response.json(), len(queries)


def test_an_id_past_64_bits_is_a_row_error_not_a_crash(client_for, rep, account, pipeline, stages):
    rows = [
        row(account, pipeline, stages["Qualification"]),
        row(account, pipeline, stages["Qualification"]),
    ]
    rows[1]["account"] = 2**70
    response = client_for(rep).post(URL, {"deals": rows}, format="json")
    assert response.status_code == 400
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(1, "account")]
    assert not Deal.objects.exists()


@pytest.mark.parametrize("count", [50, 200])
def test_bulk_costs_a_constant_number_of_queries_whatever_its_size(
    client_for, manager, rep, rep2, account, pipeline, stages, count
):
    client = client_for(manager)
    rows = [
        row(
            account,
            pipeline,
            stages["Qualification"],
            name=f"Deal {n}",
            owner=rep.pk,
            external_id=f"q-{n}",
        )
        for n in range(count)
    ]
    created, create_queries = _upserted(client, rows)
    assert created["created"] == count
    for n, item in enumerate(rows):
        item.update(name=f"Renamed {n}", amount="2000.00", version=1)
        if n % 2:
            item.update(stage=stages["Discovery"].pk, owner=rep2.pk)
    updated, update_queries = _upserted(client, rows)

    assert (updated["created"], updated["updated"], updated["ids"]) == (0, count, created["ids"])
    # Before the batch service, 500 updated rows cost about 6,000 queries (12 a row).
    # SQLite (the embedded default) writes in batches of its bound-parameter limit (999).
    batches = 0 if connection.vendor == "postgresql" else count // 25
    assert create_queries <= 25 + batches
    assert update_queries <= 15 + batches
    deals = Deal.objects.filter(pk__in=updated["ids"])
    assert set(deals.values_list("version", flat=True)) == {2}
    assert deals.filter(owner=rep2, stage=stages["Discovery"]).count() == count // 2
    history = Deal.history.filter(id__in=updated["ids"], history_type="~")
    assert history.count() == count
    assert set(history.values_list("history_user", flat=True)) == {manager.pk}
    assert (
        StageTransition.objects.filter(deal__in=deals, from_stage=stages["Qualification"]).count()
        == count // 2
    )
    first = Deal.history.filter(id=updated["ids"][1]).latest("history_date", "history_id")
    assert (first.name, first.stage_id, first.owner_id) == (
        "Renamed 1",
        stages["Discovery"].pk,
        rep2.pk,
    )


def test_update_rows_keep_the_deal_rules_and_write_nothing_on_a_bad_row(
    client_for, rep, manager, account, pipeline, stages
):
    client = client_for(rep)
    rows = [row(account, pipeline, stages["Qualification"], external_id=f"r-{n}") for n in range(3)]
    ids = client.post(URL, {"deals": rows}, format="json").json()["ids"]
    rows[0].update(name="Fine")
    rows[1].update(stage=stages["Lost"].pk)  # lost without a reason
    rows[2].update(owner=manager.pk)  # a rep may not reassign
    response = client.post(URL, {"deals": rows}, format="json")
    assert response.status_code == 400
    assert [(e["row"], e["field"], e["message"]) for e in response.json()["errors"]] == [
        (1, "lost_reason", "Say why the deal was lost."),
        (2, "owner", "Reps cannot change a deal's owner."),
    ]
    assert set(Deal.objects.filter(pk__in=ids).values_list("version", flat=True)) == {1}
    assert not Deal.objects.filter(name="Fine").exists()
    assert StageTransition.objects.filter(deal_id__in=ids).count() == 3


def test_an_external_id_given_twice_is_refused(client_for, rep, account, pipeline, stages):
    client = client_for(rep)
    client.post(
        URL,
        {"deals": [row(account, pipeline, stages["Qualification"], external_id="twice")]},
        format="json",
    )
    rows = [
        row(account, pipeline, stages["Discovery"], external_id="twice", name=f"Take {n}")
        for n in range(2)
    ]
    response = client.post(URL, {"deals": rows}, format="json")
    assert response.status_code == 400
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(1, "external_id")]
    assert Deal.objects.get(external_id="twice").version == 1
