import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.models import Deal, StageTransition
from pipeline.selectors import deal_as_of, deals_visible_to
from pipeline.services import (
    LineItemSpec,
    deal_create,
    deal_delete,
    deal_edit,
    deal_move,
    deal_reassign,
    deal_restore,
    deal_update,
    deals_purge_deleted,
    line_items_set,
)
from pipeline.signals import deals_changed
from salesmgr.errors import ConflictError, PermissionDenied
from tests.factories import (
    AccountFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    ProductFactory,
)


@pytest.fixture
def deal(rep, pipeline):
    return DealFactory(owner=rep, pipeline=pipeline, amount=Decimal("5000.00"))


def test_create_opens_in_first_stage_with_one_transition(deal, stages, rep):
    assert deal.stage == stages["Qualification"]
    assert deal.status == "open"
    assert deal.version == 1
    assert deal.closed_at is None
    (creation,) = deal.transitions.all()
    assert creation.from_stage is None
    assert creation.to_stage == stages["Qualification"]
    assert creation.by == rep


def test_pipeline_without_won_and_lost_stage_takes_no_deals(rep):
    bare = PipelineFactory(stages=False)
    from pipeline.services import stage_create

    stage_create(pipeline=bare, name="Only", order=1, probability=10)
    with pytest.raises(ValidationError, match="won and a lost stage"):
        DealFactory(owner=rep, pipeline=bare)
    assert not Deal.objects.exists()


def test_each_move_writes_exactly_one_transition(deal, stages, rep):
    moved = deal_move(deal=deal, to_stage=stages["Discovery"], by=rep, expected_version=1)
    moved = deal_move(deal=moved, to_stage=stages["Proposal"], by=rep, expected_version=2)
    path = list(
        deal.transitions.order_by("at", "pk").values_list("from_stage__name", "to_stage__name")
    )
    assert path == [
        (None, "Qualification"),
        ("Qualification", "Discovery"),
        ("Discovery", "Proposal"),
    ]
    assert moved.version == 3


def test_stale_version_raises_conflict_and_writes_nothing(deal, stages, rep):
    deal_update(deal=deal, by=rep, expected_version=1, name="Renamed")
    with pytest.raises(ConflictError) as caught:
        deal_move(deal=deal, to_stage=stages["Discovery"], by=rep, expected_version=1)
    assert caught.value.current_version == 2
    deal.refresh_from_db()
    assert deal.stage == stages["Qualification"]
    assert deal.transitions.count() == 1


def test_lost_without_reason_is_rejected(deal, stages, rep):
    with pytest.raises(ValidationError, match="why the deal was lost"):
        deal_move(deal=deal, to_stage=stages["Lost"], by=rep, expected_version=1)
    deal.refresh_from_db()
    assert deal.status == "open"
    assert deal.transitions.count() == 1


def test_lost_with_reason_closes_the_deal(deal, stages, rep):
    reason = LostReasonFactory(name="Competitor")
    lost = deal_move(
        deal=deal, to_stage=stages["Lost"], by=rep, expected_version=1, lost_reason=reason
    )
    assert lost.status == "lost"
    assert lost.closed_at is not None
    assert lost.lost_reason == reason


def test_lost_reason_on_an_open_stage_is_rejected(deal, stages, rep):
    with pytest.raises(ValidationError, match="Only a lost deal"):
        deal_move(
            deal=deal,
            to_stage=stages["Discovery"],
            by=rep,
            expected_version=1,
            lost_reason=LostReasonFactory(),
        )


def test_stage_of_another_pipeline_is_rejected(deal, rep):
    other = PipelineFactory(name="Renewals")
    foreign = other.stages.get(name="Discovery")
    with pytest.raises(ValidationError, match="not in this deal's pipeline"):
        deal_move(deal=deal, to_stage=foreign, by=rep, expected_version=1)
    assert deal.transitions.count() == 1


def test_winning_sets_and_reopening_clears_closed_at(deal, stages, rep):
    won = deal_move(deal=deal, to_stage=stages["Won"], by=rep, expected_version=1)
    assert won.status == "won"
    assert won.closed_at is not None
    reopened = deal_move(deal=won, to_stage=stages["Negotiation"], by=rep, expected_version=2)
    assert reopened.status == "open"
    assert reopened.closed_at is None
    reopened.refresh_from_db()
    assert reopened.closed_at is None


def test_line_items_set_the_amount(deal, rep):
    widget = ProductFactory(unit_price=Decimal("250.00"))
    gadget = ProductFactory(unit_price=Decimal("99.99"))
    updated = line_items_set(
        deal=deal,
        by=rep,
        expected_version=1,
        items=[
            LineItemSpec(product=widget, quantity=Decimal("4"), discount_pct=Decimal("10")),
            LineItemSpec(product=gadget, quantity=Decimal("3"), unit_price=Decimal("80.00")),
        ],
    )
    # 4 x 250 less 10% = 900.00; 3 x 80 = 240.00
    assert updated.amount == Decimal("1140.00")
    deal.refresh_from_db()
    assert deal.amount == Decimal("1140.00")
    assert deal.line_items.count() == 2


def test_amount_of_a_deal_with_line_items_cannot_be_set_by_hand(deal, rep):
    line_items_set(
        deal=deal,
        by=rep,
        expected_version=1,
        items=[LineItemSpec(product=ProductFactory(), quantity=2)],
    )
    with pytest.raises(ValidationError, match="total of its line items"):
        deal_update(deal=deal, by=rep, expected_version=2, amount=Decimal("1.00"))


def test_bad_line_item_writes_nothing(deal, rep):
    retired = ProductFactory(is_active=False)
    with pytest.raises(ValidationError, match="no longer sold"):
        line_items_set(
            deal=deal, by=rep, expected_version=1, items=[LineItemSpec(product=retired, quantity=1)]
        )
    deal.refresh_from_db()
    assert deal.version == 1
    assert deal.amount == Decimal("5000.00")


def test_update_rejects_fields_with_their_own_service(deal, stages, rep):
    with pytest.raises(ValidationError):
        deal_update(deal=deal, by=rep, expected_version=1, stage=stages["Won"])
    with pytest.raises(ValidationError, match="negative"):
        deal_update(deal=deal, by=rep, expected_version=1, amount=Decimal("-1"))


def test_rep_cannot_reassign_but_manager_can_within_team(deal, rep, rep2, manager, outsider):
    with pytest.raises(PermissionDenied):
        deal_reassign(deal=deal, new_owner=rep2, by=rep, expected_version=1)
    with pytest.raises(PermissionDenied):
        deal_reassign(deal=deal, new_owner=outsider, by=manager, expected_version=1)
    moved = deal_reassign(deal=deal, new_owner=rep2, by=manager, expected_version=1)
    assert moved.owner == rep2


def test_rep_cannot_create_a_deal_for_someone_else(rep, rep2, pipeline):
    account = AccountFactory(owner=rep)
    with pytest.raises(PermissionDenied):
        deal_create(
            by=rep,
            owner=rep2,
            name="Not mine",
            account=account,
            pipeline=pipeline,
            expected_close_date=datetime.date(2030, 1, 1),
        )


def test_soft_delete_hides_and_restore_brings_back(deal, rep, admin):
    deal_delete(deal=deal, by=rep)
    assert not deals_visible_to(rep).filter(pk=deal.pk).exists()
    assert deals_visible_to(rep, include_deleted=True).filter(pk=deal.pk).exists()
    deal_restore(deal=deal, by=admin)
    assert deals_visible_to(rep).filter(pk=deal.pk).exists()


def test_purge_removes_only_long_deleted_deals(deal, rep, pipeline):
    fresh = DealFactory(owner=rep, pipeline=pipeline)
    deal_delete(deal=deal, by=rep)
    deal_delete(deal=fresh, by=rep)
    Deal.objects.filter(pk=deal.pk).update(deleted_at=timezone.now() - datetime.timedelta(days=31))
    assert deals_purge_deleted() == 1
    assert not Deal.objects.filter(pk=deal.pk).exists()
    assert not StageTransition.objects.filter(deal_id=deal.pk).exists()
    assert Deal.objects.filter(pk=fresh.pk).exists()


def test_transitions_are_immutable(deal):
    transition = deal.transitions.get()
    with pytest.raises(TypeError):
        transition.save()
    with pytest.raises(TypeError):
        transition.delete()


def test_deals_changed_rings_after_commit(rep, pipeline, django_capture_on_commit_callbacks):
    received = []

    def listener(sender, deal_ids, **kwargs):
        received.extend(deal_ids)

    deals_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            deal = DealFactory(owner=rep, pipeline=pipeline)
    finally:
        deals_changed.disconnect(listener)
    assert received == [deal.pk]


def test_history_reconstructs_the_deal_as_of_a_past_date(deal, stages, rep):
    start = timezone.now()
    Deal.history.filter(id=deal.pk).update(history_date=start - datetime.timedelta(days=20))
    deal_update(deal=deal, by=rep, expected_version=1, amount=Decimal("7000.00"))
    Deal.history.filter(id=deal.pk, amount=Decimal("7000.00")).update(
        history_date=start - datetime.timedelta(days=10)
    )
    deal_move(deal=deal, to_stage=stages["Proposal"], by=rep, expected_version=2)
    deal_update(
        deal=deal,
        by=rep,
        expected_version=3,
        expected_close_date=datetime.date(2031, 6, 30),
        forecast_category="commit",
    )

    before_creation = deal_as_of(deal.pk, start - datetime.timedelta(days=30))
    assert before_creation is None

    fifteen_days_ago = deal_as_of(deal.pk, start - datetime.timedelta(days=15))
    assert fifteen_days_ago.amount == Decimal("5000.00")
    assert fifteen_days_ago.stage_id == stages["Qualification"].pk

    five_days_ago = deal_as_of(deal.pk, start - datetime.timedelta(days=5))
    assert five_days_ago.amount == Decimal("7000.00")
    assert five_days_ago.stage_id == stages["Qualification"].pk
    assert five_days_ago.forecast_category == "pipeline"

    now = deal_as_of(deal.pk, timezone.now())
    assert now.stage_id == stages["Proposal"].pk
    assert now.expected_close_date == datetime.date(2031, 6, 30)
    assert now.forecast_category == "commit"


def test_history_records_who_changed_the_deal(deal, rep, manager):
    deal_update(deal=deal, by=manager, expected_version=1, name="Bigger deal")
    latest = Deal.history.filter(id=deal.pk).order_by("-history_date", "-history_id").first()
    assert latest.history_user == manager
    assert latest.name == "Bigger deal"


def test_moving_an_account_to_another_territory_rings_for_its_deals(
    deal, rep, admin, django_capture_on_commit_callbacks
):
    from pipeline.services import account_update
    from quotas.models import Territory

    received = []

    def listener(sender, deal_ids, territory_ids=(), **kwargs):
        received.append((list(deal_ids), list(territory_ids)))

    north = Territory.objects.create(name="North")
    deals_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            account_update(account=deal.account, by=admin, territory=north)
    finally:
        deals_changed.disconnect(listener)
    assert received == [([deal.pk], [])]


def _history_count(deal) -> int:
    return Deal.history.filter(id=deal.pk).count()


def test_one_edit_of_fields_owner_line_items_and_stage_is_one_version_and_one_history_row(
    deal, stages, manager, rep2
):
    before = _history_count(deal)
    edited = deal_edit(
        deal=deal,
        by=manager,
        expected_version=1,
        name="Bigger",
        forecast_category="commit",
        owner=rep2,
        line_items=[LineItemSpec(product=ProductFactory(unit_price=Decimal("300.00")), quantity=2)],
        to_stage=stages["Discovery"],
    )
    deal.refresh_from_db()
    assert (deal.version, deal.name, deal.owner, deal.stage) == (
        2,
        "Bigger",
        rep2,
        stages["Discovery"],
    )
    assert (deal.forecast_category, deal.amount) == ("commit", Decimal("600.00"))
    assert edited.version == 2
    assert _history_count(deal) == before + 1
    latest = Deal.history.filter(id=deal.pk).latest("history_date", "history_id")
    assert (latest.history_user, latest.name, latest.owner_id) == (manager, "Bigger", rep2.pk)
    path = list(
        deal.transitions.order_by("at", "pk").values_list("from_stage__name", "to_stage__name")
    )
    assert path == [(None, "Qualification"), ("Qualification", "Discovery")]


def test_an_edit_that_changes_nothing_writes_nothing(deal, rep):
    same = deal_edit(deal=deal, by=rep, expected_version=1, name=deal.name, owner=rep)
    assert same.version == 1
    assert _history_count(deal) == 1


def _unchanged(deal, stages) -> None:
    deal.refresh_from_db()
    assert (deal.version, deal.name, deal.stage) == (1, "Acme", stages["Qualification"])
    assert _history_count(deal) == 1
    assert deal.transitions.count() == 1
    assert not deal.line_items.exists()


@pytest.fixture
def named(deal):
    Deal.objects.filter(pk=deal.pk).update(name="Acme")
    deal.refresh_from_db()
    return deal


def test_a_stale_edit_writes_nothing(named, stages, manager, rep2):
    Deal.objects.filter(pk=named.pk).update(version=2)
    with pytest.raises(ConflictError):
        deal_edit(
            deal=named,
            by=manager,
            expected_version=1,
            name="Other",
            owner=rep2,
            to_stage=stages["Won"],
        )
    Deal.objects.filter(pk=named.pk).update(version=1)
    _unchanged(named, stages)


def test_a_rep_still_cannot_reassign_in_an_edit(named, stages, rep, rep2):
    with pytest.raises(PermissionDenied):
        deal_edit(
            deal=named,
            by=rep,
            expected_version=1,
            name="Other",
            owner=rep2,
            to_stage=stages["Discovery"],
        )
    _unchanged(named, stages)


def test_a_lost_move_without_a_reason_in_an_edit_writes_nothing(named, stages, rep):
    with pytest.raises(ValidationError) as caught:
        deal_edit(
            deal=named,
            by=rep,
            expected_version=1,
            name="Other",
            line_items=[LineItemSpec(product=ProductFactory(), quantity=1)],
            to_stage=stages["Lost"],
        )
    assert caught.value.message_dict == {"lost_reason": ["Say why the deal was lost."]}
    _unchanged(named, stages)
