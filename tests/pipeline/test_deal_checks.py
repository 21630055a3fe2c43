"""The deal rules as pure functions, and every writer answering with their words."""

import dataclasses
import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pipeline.checks.deals import (
    deal_field_errors,
    line_item_errors,
    lost_reason_errors,
    pipeline_errors,
)
from pipeline.models import Deal, StageKind
from pipeline.services import (
    RowErrors,
    account_delete,
    deal_create,
    deal_move,
    deal_update,
    deals_import,
)
from tests.factories import AccountFactory, DealFactory, LostReasonFactory
from tests.pipeline.test_imports import won_spec, world  # noqa: F401 - the importer's fixture

GOOD = {
    "name": "Acme",
    "amount": Decimal("10.00"),
    "currency": "USD",
    "expected_close_date": datetime.date(2030, 1, 1),
    "forecast_category": "commit",
}


def test_good_fields_pass():
    assert deal_field_errors(**GOOD) == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "  ", "A deal needs a name."),
        ("name", "x" * 201, "The name is too long (at most 200 characters)."),
        ("amount", Decimal("-1"), "The amount cannot be negative."),
        ("amount", Decimal("1e12"), "The amount is too large."),
        (
            "amount",
            Decimal("1.234"),
            "The amount must be a sum of money with at most two decimals.",
        ),
        ("amount", None, "The amount must be a sum of money with at most two decimals."),
        ("currency", "usd", "The currency must be an ISO 4217 code such as USD."),
        ("currency", "XYZ", "The currency must be an ISO 4217 code such as USD."),
        (
            "expected_close_date",
            "2030-01-01",
            "The expected close date must be a date (YYYY-MM-DD).",
        ),
        (
            "expected_close_date",
            datetime.datetime(2030, 1, 1),
            "The expected close date must be a date (YYYY-MM-DD).",
        ),
        ("forecast_category", "maybe", "Unknown forecast category 'maybe'."),
    ],
)
def test_each_field_rule_has_one_message(field, value, message):
    assert deal_field_errors(**{**GOOD, field: value}) == {field: [message]}


def test_lost_reason_rules():
    assert lost_reason_errors(stage_kind=StageKind.LOST, lost_reason_id=None) == {
        "lost_reason": ["Say why the deal was lost."]
    }
    assert lost_reason_errors(stage_kind=StageKind.OPEN, lost_reason_id=3) == {
        "lost_reason": ["Only a lost deal has a lost reason."]
    }
    assert lost_reason_errors(
        stage_kind=StageKind.LOST, lost_reason_id=3, lost_reason_active=False
    ) == {"lost_reason": ["That lost reason is no longer offered."]}
    assert lost_reason_errors(
        stage_kind=StageKind.LOST, lost_reason_id=3, lost_reason_active=None
    ) == {"lost_reason": ["No lost reason 3."]}
    assert lost_reason_errors(stage_kind=StageKind.LOST, lost_reason_id=3) == {}


def test_line_item_and_pipeline_rules():
    assert (
        line_item_errors(product_active=True, quantity=2, unit_price=Decimal("1"), discount_pct=0)
        == {}
    )
    assert line_item_errors(
        product_active=False,
        quantity=Decimal("0"),
        unit_price=Decimal("-1"),
        discount_pct=Decimal("101"),
    ) == {
        "product": ["That product is no longer sold."],
        "quantity": ["The quantity must be positive."],
        "unit_price": ["The unit price cannot be negative."],
        "discount_pct": ["The discount is a percentage from 0 to 100."],
    }
    assert pipeline_errors(pipeline_name="P", is_active=True, stage_kinds={"open"}) == {
        "pipeline": ["Pipeline 'P' takes no deals until it has a won and a lost stage."]
    }


def _import_errors(spec, by) -> dict:
    with pytest.raises(RowErrors) as caught:
        deals_import(specs=[spec], by=by)
    return {e["field"]: e["message"] for e in caught.value.errors}


def _service_errors(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return {field: messages[0] for field, messages in caught.value.message_dict.items()}


def test_importer_and_services_refuse_with_the_same_words(world):  # noqa: F811
    s = world.stages
    admin = world.admin
    deleted = account_delete(account=AccountFactory(owner=world.rep), by=admin)
    lost = dataclasses.replace(
        won_spec(world),
        stage_id=s["Lost"].pk,
        transitions=[
            dataclasses.replace(t, to_stage_id=s["Lost"].pk)
            for t in won_spec(world).transitions[:1]
        ],
        changes=[],
        account_id=deleted.pk,
        currency="usd",
    )
    imported = _import_errors(lost, admin)
    served = _service_errors(
        lambda: deal_create(
            by=admin,
            owner=world.rep,
            name="Acme",
            account=deleted,
            pipeline=s["pipeline"],
            stage=s["Lost"],
            expected_close_date=datetime.date(2030, 1, 1),
            currency="US",
        )
    )
    for field in ("lost_reason", "account", "currency"):
        assert imported[field] == served[field], field
    assert served["lost_reason"] == "Say why the deal was lost."
    assert served["account"] == "The account is deleted."
    assert not Deal.objects.exists()

    deal = DealFactory(owner=world.rep, account=world.account, pipeline=s["pipeline"])
    negative = _service_errors(
        lambda: deal_update(deal=deal, by=world.rep, expected_version=1, amount=Decimal("-1"))
    )
    imported = _import_errors(
        dataclasses.replace(won_spec(world), amount=Decimal("-1"), changes=[], external_id=None),
        admin,
    )
    assert imported["amount"] == negative["amount"] == "The amount cannot be negative."


def test_a_retired_lost_reason_is_refused_alike(world):  # noqa: F811
    s = world.stages
    retired = LostReasonFactory(name="Old", is_active=False)
    spec = dataclasses.replace(
        won_spec(world),
        stage_id=s["Lost"].pk,
        lost_reason_id=retired.pk,
        transitions=[
            dataclasses.replace(t, to_stage_id=s["Lost"].pk)
            for t in won_spec(world).transitions[:1]
        ],
        changes=[],
    )
    deal = DealFactory(owner=world.rep, account=world.account, pipeline=s["pipeline"])
    served = _service_errors(
        lambda: deal_move(
            deal=deal, to_stage=s["Lost"], by=world.rep, expected_version=1, lost_reason=retired
        )
    )
    assert _import_errors(spec, world.admin)["lost_reason"] == served["lost_reason"]
