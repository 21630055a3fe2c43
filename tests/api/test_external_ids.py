"""External ids are unique per owner: using one never reveals a deal outside the caller's scope.

A rep of another team who gives the same external id (API create, bulk
upsert) gets their own deal, with no error and nothing changed on the other
team's deal; the caller's own duplicate is a 400 naming ``external_id``.
"""

import pytest
from django.core.exceptions import ValidationError

from pipeline.checks.deals import EXTERNAL_ID_TAKEN
from pipeline.models import Account, Deal
from pipeline.services import deal_delete, deal_reassign, deal_restore
from tests.factories import AccountFactory, DealFactory

DEALS = "/api/v1/deals/"
BULK = "/api/v1/deals/bulk/"


@pytest.fixture
def theirs(rep, pipeline, stages):
    """A deal of the first team with external id ``crm-1``."""
    return DealFactory(
        owner=rep,
        account=AccountFactory(owner=rep),
        pipeline=pipeline,
        external_id="crm-1",
        name="Secret deal",
    )


def _create(client, account, pipeline, **extra):
    body = {
        "name": "Mine",
        "account": account.pk,
        "pipeline": pipeline.pk,
        "expected_close_date": "2031-01-31",
        "amount": "10.00",
        **extra,
    }
    return client.post(DEALS, body, format="json")


def _bulk_row(account, pipeline, stage, **extra):
    return {
        "name": "Bulk mine",
        "account": account.pk,
        "pipeline": pipeline.pk,
        "stage": stage.pk,
        "amount": "20.00",
        "expected_close_date": "2031-01-31",
        **extra,
    }


def _unchanged(deal: Deal) -> None:
    fresh = Deal.objects.get(pk=deal.pk)
    assert (fresh.name, fresh.owner_id, fresh.account_id, fresh.amount, fresh.version) == (
        deal.name,
        deal.owner_id,
        deal.account_id,
        deal.amount,
        deal.version,
    )


def test_another_teams_rep_creates_the_same_external_id_without_learning_anything(
    client_for, theirs, outsider, pipeline
):
    account = AccountFactory(owner=outsider)
    response = _create(client_for(outsider), account, pipeline, external_id="crm-1")
    assert response.status_code == 201, response.json()
    mine = Deal.objects.get(pk=response.json()["id"])
    assert (mine.owner, mine.account, mine.external_id) == (outsider, account, "crm-1")
    assert "Secret deal" not in response.content.decode()
    _unchanged(theirs)


def test_a_teammate_is_no_different_from_another_team(client_for, theirs, rep2, pipeline):
    response = _create(
        client_for(rep2), AccountFactory(owner=rep2), pipeline, external_id="crm-1", owner=rep2.pk
    )
    assert response.status_code == 201, response.json()
    _unchanged(theirs)


def test_the_callers_own_duplicate_is_a_400_naming_external_id(client_for, theirs, rep, pipeline):
    response = _create(client_for(rep), theirs.account, pipeline, external_id="crm-1", owner=rep.pk)
    assert response.status_code == 400
    assert response.json() == {"external_id": [EXTERNAL_ID_TAKEN]}
    assert Deal.objects.filter(external_id="crm-1").count() == 1


def test_a_manager_creating_for_a_rep_is_refused_only_by_that_reps_deals(
    client_for, theirs, manager, rep, rep2, pipeline
):
    client = client_for(manager)
    refused = _create(client, theirs.account, pipeline, external_id="crm-1", owner=rep.pk)
    assert refused.status_code == 400
    assert refused.json() == {"external_id": [EXTERNAL_ID_TAKEN]}
    made = _create(client, AccountFactory(owner=rep2), pipeline, external_id="crm-1", owner=rep2.pk)
    assert made.status_code == 201, made.json()


def test_changing_the_external_id_to_ones_own_duplicate_is_a_400(client_for, theirs, rep):
    other = DealFactory(owner=rep, account=theirs.account, external_id="crm-2")
    client = client_for(rep)
    response = client.patch(
        f"{DEALS}{other.pk}/", {"external_id": "crm-1", "version": other.version}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"external_id": [EXTERNAL_ID_TAKEN]}
    renamed = client.patch(
        f"{DEALS}{other.pk}/", {"external_id": "crm-3", "version": other.version}, format="json"
    )
    assert renamed.status_code == 200, renamed.json()
    assert renamed.json()["external_id"] == "crm-3"


def test_patching_another_teams_external_id_is_allowed(client_for, theirs, outsider):
    mine = DealFactory(owner=outsider, account=AccountFactory(owner=outsider), external_id="own-1")
    response = client_for(outsider).patch(
        f"{DEALS}{mine.pk}/", {"external_id": "crm-1", "version": mine.version}, format="json"
    )
    assert response.status_code == 200, response.json()
    _unchanged(theirs)


def test_reassigning_onto_an_owner_who_holds_the_id_is_a_400(theirs, manager, rep2):
    held = DealFactory(owner=rep2, account=AccountFactory(owner=rep2), external_id="crm-1")
    with pytest.raises(ValidationError) as refused:
        deal_reassign(deal=theirs, new_owner=rep2, by=manager, expected_version=theirs.version)
    assert refused.value.message_dict == {"external_id": [EXTERNAL_ID_TAKEN]}
    _unchanged(theirs)
    _unchanged(held)


def test_a_deleted_deal_frees_its_id_and_restoring_it_is_refused_while_taken(
    theirs, rep, admin, pipeline
):
    deal_delete(deal=theirs, by=rep)
    again = DealFactory(owner=rep, account=theirs.account, external_id="crm-1")
    with pytest.raises(ValidationError) as refused:
        deal_restore(deal=theirs, by=admin)
    assert refused.value.message_dict == {"external_id": [EXTERNAL_ID_TAKEN]}
    assert Deal.objects.get(pk=again.pk).deleted_at is None


def test_bulk_from_another_team_creates_its_own_deal(
    client_for, theirs, outsider, pipeline, stages
):
    account = AccountFactory(owner=outsider)
    rows = [_bulk_row(account, pipeline, stages["Qualification"], external_id="crm-1")]
    response = client_for(outsider).post(BULK, {"deals": rows}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["created"], response.json()["updated"]) == (1, 0)
    assert Deal.objects.get(pk=response.json()["ids"][0]).owner == outsider
    _unchanged(theirs)
    # Run again: it updates the outsider's deal, never the first team's.
    rows[0]["amount"] = "30.00"
    again = client_for(outsider).post(BULK, {"deals": rows}, format="json")
    assert (again.json()["created"], again.json()["updated"]) == (0, 1)
    _unchanged(theirs)


def test_bulk_in_one_call_refuses_a_repeat_naming_external_id(client_for, rep, pipeline, stages):
    account = AccountFactory(owner=rep)
    rows = [
        _bulk_row(account, pipeline, stages["Qualification"], external_id="twice") for _ in range(2)
    ]
    response = client_for(rep).post(BULK, {"deals": rows}, format="json")
    assert response.status_code == 400
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(1, "external_id")]


def test_a_manager_whose_reps_share_an_id_names_the_owner(
    client_for, theirs, manager, rep, rep2, pipeline, stages
):
    other = DealFactory(
        owner=rep2, account=AccountFactory(owner=rep2), pipeline=pipeline, external_id="crm-1"
    )
    client = client_for(manager)
    ambiguous = [
        _bulk_row(
            theirs.account, pipeline, theirs.stage, external_id="crm-1", version=theirs.version
        )
    ]
    response = client.post(BULK, {"deals": ambiguous}, format="json")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["external_id"]
    named = [
        _bulk_row(
            other.account,
            pipeline,
            other.stage,
            external_id="crm-1",
            owner=rep2.pk,
            version=other.version,
        )
    ]
    response = client.post(BULK, {"deals": named}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["ids"] == [other.pk]
    _unchanged(theirs)


def test_a_realignment_handing_a_deal_to_an_owner_holding_its_id_drops_the_id(
    admin, rep, rep2, pipeline
):
    """The job completes; the deal handed over keeps everything but the external id its new
    owner already uses (its history keeps the old one); the new owner's deal is untouched."""
    from pipeline.services import account_create
    from pipeline.services.territories import (
        realignment_run,
        realignment_start,
        territory_rule_create,
    )
    from quotas.models import HandoverRule
    from quotas.services import territory_create

    territory = territory_create(
        name="North", reps=[rep2], handover_rule=HandoverRule.NAMED_REP, named_rep=rep2, by=admin
    )
    moving_account = account_create(by=admin, owner=rep, name="Moving", country="SE")
    moving = DealFactory(owner=rep, account=moving_account, pipeline=pipeline, external_id="crm-7")
    held_account = AccountFactory(owner=rep2)
    held = DealFactory(owner=rep2, account=held_account, pipeline=pipeline, external_id="crm-7")
    Account.objects.filter(pk__in=[moving_account.pk, held_account.pk]).update(external_id="acc-7")
    territory_rule_create(territory=territory, by=admin, priority=1, countries=["SE"])
    job = realignment_run(job_id=realignment_start(by=admin).pk)
    assert job.deals_moved == 1
    moved = Deal.objects.get(pk=moving.pk)
    assert (moved.owner, moved.external_id, moved.name) == (rep2, None, moving.name)
    assert moved.history.filter(external_id="crm-7").exists()
    _unchanged(held)
    # The account likewise: handed to rep2, who has an account with its external id.
    assert Account.objects.get(pk=moving_account.pk).owner == rep2
    assert Account.objects.get(pk=moving_account.pk).external_id is None
    assert Account.objects.get(pk=held_account.pk).external_id == "acc-7"
