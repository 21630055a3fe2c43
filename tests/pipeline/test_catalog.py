"""Pipelines, stages, products and lost reasons: one rule each, held by the services."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from pipeline.checks.catalog import (
    STAGE_IN_USE,
    STAGE_KIND_FIXED,
    STAGE_STAYS_IN_PIPELINE,
    stage_change_errors,
    stage_delete_errors,
)
from pipeline.models import LostReason, Pipeline, Product, Stage
from pipeline.services import (
    activity_delete,
    activity_log,
    deal_move,
    lost_reason_create,
    lost_reason_delete,
    pipeline_create,
    pipeline_delete,
    product_create,
    product_delete,
    product_update,
    stage_create,
    stage_delete,
    stage_reorder,
    stage_update,
)
from salesmgr.errors import PermissionDenied
from tests.factories import DealFactory

API = "/api/v1/"


@pytest.fixture
def moved_through(rep, pipeline, stages):
    """A deal that started in Qualification and moved on, so only a transition refers to it."""
    deal = DealFactory(owner=rep, pipeline=pipeline)
    deal_move(deal=deal, to_stage=stages["Discovery"], by=rep, expected_version=deal.version)
    return stages["Qualification"]


def test_a_stage_only_a_transition_refers_to_keeps_its_kind(moved_through, admin):
    assert not moved_through.deals.exists()
    assert stage_change_errors(stage=moved_through, changes={"kind": "open"}) == {}
    with pytest.raises(ValidationError) as refused:
        stage_update(stage=moved_through, by=admin, kind="lost", name="Dropped")
    assert refused.value.message_dict["kind"] == [STAGE_KIND_FIXED]
    assert Stage.objects.get(pk=moved_through.pk).kind == "open"


def test_a_stage_only_a_transition_refers_to_is_not_deleted(moved_through, admin, client_for):
    assert stage_delete_errors(stage=moved_through) == {"detail": STAGE_IN_USE}
    with pytest.raises(ValidationError):
        stage_delete(stage=moved_through, by=admin)
    response = client_for(admin).delete(f"{API}stages/{moved_through.pk}/")
    assert response.status_code == 400
    assert response.json() == {"detail": STAGE_IN_USE}


def test_the_api_refuses_a_kind_change_with_the_same_words(
    moved_through, admin, client_for, stages
):
    stage_delete(stage=stages["Lost"], by=admin)
    response = client_for(admin).patch(f"{API}stages/{moved_through.pk}/", {"kind": "lost"})
    assert response.status_code == 400
    assert response.json() == {"kind": [STAGE_KIND_FIXED]}


def test_a_stage_never_changes_pipeline(admin, stages):
    other = pipeline_create(name="Renewals", by=admin)
    discovery = stages["Discovery"]
    assert stage_change_errors(stage=discovery, changes={"pipeline": other}) == {
        "pipeline": STAGE_STAYS_IN_PIPELINE
    }
    with pytest.raises(ValidationError):
        stage_update(stage=discovery, by=admin, pipeline=other)
    assert Stage.objects.get(pk=discovery.pk).pipeline_id == discovery.pipeline_id


def test_an_unused_stage_changes_kind_and_is_deleted(admin):
    pipeline = pipeline_create(name="Renewals", by=admin)
    talk = stage_create(pipeline=pipeline, name="Talk", order=1, probability=20)
    assert stage_update(stage=talk, by=admin, kind="won", probability=100).kind == "won"
    stage_delete(stage=talk, by=admin)
    assert not pipeline.stages.exists()


def test_stages_are_reordered_in_one_step(admin, pipeline, stages):
    before = list(pipeline.stages.order_by("order"))
    numbers = [stage.order for stage in before]
    wanted = list(reversed(before))
    stage_reorder(pipeline=pipeline, stage_ids=[stage.pk for stage in wanted], by=admin)
    after = list(pipeline.stages.order_by("order"))
    assert [stage.pk for stage in after] == [stage.pk for stage in wanted]
    assert [stage.order for stage in after] == numbers


def test_a_reorder_must_list_every_stage_once(admin, pipeline, stages):
    with pytest.raises(ValidationError):
        stage_reorder(
            pipeline=pipeline, stage_ids=[stage.pk for stage in pipeline.stages.all()][1:], by=admin
        )


def test_a_pipeline_with_deals_is_archived_not_deleted(admin, rep, pipeline, stages):
    DealFactory(owner=rep, pipeline=pipeline)
    with pytest.raises(ValidationError):
        pipeline_delete(pipeline=pipeline, by=admin)
    empty = pipeline_create(name="Empty", by=admin)
    stage_create(pipeline=empty, name="Talk", order=1, probability=20)
    pipeline_delete(pipeline=empty, by=admin)
    assert list(Pipeline.objects.all()) == [pipeline]


def test_products_and_lost_reasons_in_use_are_kept(admin, rep, pipeline, stages):
    product = product_create(name="Seat", sku="SEAT-9", unit_price=Decimal("10.00"), by=admin)
    assert product_update(product=product, by=admin, is_active=False).is_active is False
    deal = DealFactory(owner=rep, pipeline=pipeline)
    deal.line_items.create(product=product, quantity=1, unit_price=Decimal("10.00"))
    with pytest.raises(ValidationError):
        product_delete(product=product, by=admin)
    reason = lost_reason_create(name="Budget", by=admin)
    deal_move(
        deal=deal,
        to_stage=stages["Lost"],
        by=rep,
        expected_version=deal.version,
        lost_reason=reason,
    )
    with pytest.raises(ValidationError):
        lost_reason_delete(lost_reason=reason, by=admin)
    assert Product.objects.filter(pk=product.pk).exists()
    assert LostReason.objects.filter(pk=reason.pk).exists()


def test_only_the_author_or_an_admin_deletes_an_activity(admin, rep, rep2, pipeline, stages):
    deal = DealFactory(owner=rep, pipeline=pipeline)
    note = activity_log(by=rep, kind="note", subject="Called", deal=deal)
    with pytest.raises(PermissionDenied):
        activity_delete(activity=note, by=rep2)
    activity_delete(activity=note, by=admin)
    assert not deal.activities.exists()


def test_an_admin_reorders_stages_over_the_api(admin, rep, client_for, pipeline, stages):
    url = f"{API}pipelines/{pipeline.pk}/reorder/"
    wanted = [stages[name].pk for name in ("Discovery", "Qualification")] + [
        stage.pk for stage in pipeline.stages.order_by("order")[2:]
    ]
    assert client_for(rep).post(url, {"stages": wanted}, format="json").status_code == 403
    response = client_for(admin).post(url, {"stages": wanted}, format="json")
    assert response.status_code == 200
    assert [stage["id"] for stage in response.json()["stages"]] == wanted
    refused = client_for(admin).post(url, {"stages": wanted[:2]}, format="json")
    assert refused.status_code == 400
    assert "stages" in refused.json()
