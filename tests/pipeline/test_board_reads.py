"""The board's reads give the figures and cards of the query they replace, for every viewer and pick.

Before, the board grouped ``deals_visible_to(user)`` filtered by the scope, the pipeline and
``status = open OR closed in the period``, and read each column's page with the same filter.
Here both are computed on varied data (a nested team, two pipelines, every stage, closes inside
and outside the period, deleted deals, three currencies, a territory) and compared.
"""

import datetime
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone

from pipeline.models import Deal, StageKind
from pipeline.periods import Period
from pipeline.queries import board_cards, board_deals, board_stages, column_totals
from pipeline.scopes import Scope
from pipeline.selectors import deal_owner_ids_in_reach, deals_visible_to
from pipeline.services import deal_delete, deal_move
from quotas.models import Territory
from tests.factories import (
    AccountFactory,
    DealFactory,
    LostReasonFactory,
    PipelineFactory,
    UserFactory,
)


def _old_deals(user, pipeline, scope: Scope, period: Period):
    start, end = period.bounds
    return (
        deals_visible_to(user)
        .filter(scope.deal_filter())
        .filter(Q(status=StageKind.OPEN) | Q(closed_at__gte=start, closed_at__lt=end))
        .filter(pipeline=pipeline)
    )


def _old_totals(deals) -> dict:
    totals: dict = defaultdict(lambda: {"count": 0, "values": []})
    rows = (
        deals.order_by()
        .values("stage_id", "currency")
        .annotate(count=Count("pk"), value=Sum("amount"))
        .order_by("stage_id", "currency")
    )
    for row in rows:
        totals[row["stage_id"]]["count"] += row["count"]
        totals[row["stage_id"]]["values"].append((row["currency"], row["value"]))
    return dict(totals)


@pytest.fixture
def world(admin, manager, rep, rep2, other_manager, outsider):
    """Deals of a nested team and of another team in two pipelines, in every stage."""
    lead = UserFactory(username="lead", role="manager", manager=manager, full_name="Lee Lead")
    deep = UserFactory(username="deep", manager=lead, full_name="Dee Deep")
    territory = Territory.objects.create(name="North")
    reason = LostReasonFactory(name="Price")
    pipelines = [PipelineFactory(name="New business"), PipelineFactory(name="Renewals")]
    now = timezone.now()
    owners = [manager, rep, rep2, lead, deep, outsider, other_manager]
    serial = 0
    for pipeline, its_owners in zip(pipelines, [owners, [rep, deep, outsider]], strict=True):
        stages = board_stages(pipeline)
        for owner in its_owners:
            account = AccountFactory(owner=owner, territory=territory if serial % 2 else None)
            for stage in stages:
                for days_ago in (3, 60, 200) if stage.kind != StageKind.OPEN else (0, 0):
                    serial += 1
                    deal = DealFactory(
                        owner=owner,
                        account=account,
                        pipeline=pipeline,
                        name=f"Deal {serial}",
                        amount=Decimal(100 + serial * 7),
                        currency=("USD", "EUR", "GBP")[serial % 3],
                        expected_close_date=timezone.localdate()
                        + datetime.timedelta(days=(serial * 13) % 90 - 30),
                    )
                    if stage != stages[0]:
                        extra = {"lost_reason": reason} if stage.kind == StageKind.LOST else {}
                        deal = deal_move(
                            deal=deal, to_stage=stage, by=owner, expected_version=1, **extra
                        )
                    if stage.kind != StageKind.OPEN:
                        Deal.objects.filter(pk=deal.pk).update(
                            closed_at=now - datetime.timedelta(days=days_ago)
                        )
                    if serial % 17 == 0:
                        deal_delete(deal=deal, by=admin)
    return {
        "users": {
            "admin": admin,
            "manager": manager,
            "rep": rep,
            "lead": lead,
            "other_manager": other_manager,
        },
        "picks": {
            "organisation": Scope(),
            "manager's team": Scope(team=manager.pk),
            "lead's team": Scope(team=lead.pk),
            "rep": Scope(owner=rep.pk),
            "deep": Scope(owner=deep.pk),
            "outsider": Scope(owner=outsider.pk),
            "territory": Scope(territory=territory.pk),
            "manager's team in the territory": Scope(team=manager.pk, territory=territory.pk),
        },
        "pipelines": pipelines,
    }


PERIODS = {
    "30 days": lambda today: Period.named("30d", today),
    "90 days": lambda today: Period.named("90d", today),
    "a past quarter": lambda today: Period.from_days(
        today - datetime.timedelta(days=120), today - datetime.timedelta(days=30)
    ),
}


def test_totals_and_cards_match_the_old_query_for_every_viewer_pick_and_period(world):
    today = timezone.localdate()
    compared = 0
    for user in world["users"].values():
        for scope in world["picks"].values():
            for make_period in PERIODS.values():
                period = make_period(today)
                for pipeline in world["pipelines"]:
                    stages = board_stages(pipeline)
                    old = _old_deals(user, pipeline, scope, period)
                    new = board_deals(user, pipeline=pipeline, scope=scope)
                    assert column_totals(new, stages=stages, period=period) == _old_totals(old)
                    pages = board_cards(new, stages=stages, period=period, offset=1, limit=4)
                    for stage in stages:
                        expected = list(
                            old.filter(stage=stage)
                            .order_by("expected_close_date", "id")
                            .values_list("id", flat=True)[1:6]
                        )
                        cards, more = pages[stage.pk]
                        assert [int(card.id) for card in cards] == expected[:4]
                        assert more == (len(expected) > 4)
                    compared += 1
    assert compared == 5 * 8 * 3 * 2
    # The data is varied enough to mean something: every kind of column holds deals.
    manager_board = column_totals(
        board_deals(
            world["users"]["manager"],
            pipeline=world["pipelines"][0],
            scope=Scope(team=world["users"]["manager"].pk),
        ),
        stages=board_stages(world["pipelines"][0]),
        period=Period.named("90d", today),
    )
    assert len(manager_board) == len(board_stages(world["pipelines"][0]))
    assert all(len(column["values"]) >= 2 for column in manager_board.values())


def test_owner_ids_are_the_visible_ones_within_the_pick(world, django_assert_max_num_queries):
    users = world["users"]
    manager, rep, lead = users["manager"], users["rep"], users["lead"]
    team = set(
        deals_visible_to(manager)
        .filter(Scope(team=manager.pk).deal_filter())
        .values_list("owner_id", flat=True)
    )
    with django_assert_max_num_queries(1):
        assert set(deal_owner_ids_in_reach(manager, team=manager.pk)) == team
    assert set(deal_owner_ids_in_reach(manager, team=lead.pk)) == {
        u.pk for u in (deal.owner for deal in Deal.objects.filter(owner__manager=lead))
    }
    assert deal_owner_ids_in_reach(manager, owner=users["other_manager"].pk) == []
    assert deal_owner_ids_in_reach(lead, team=manager.pk) != []  # lead's own team within it
    assert manager.pk not in deal_owner_ids_in_reach(lead, team=manager.pk)
    with django_assert_max_num_queries(0):
        assert deal_owner_ids_in_reach(rep) == [rep.pk]
        assert deal_owner_ids_in_reach(rep, owner=rep.pk) == [rep.pk]
        assert deal_owner_ids_in_reach(rep, owner=manager.pk) == []
        assert deal_owner_ids_in_reach(users["admin"]) is None
        assert deal_owner_ids_in_reach(users["admin"], owner=rep.pk) == [rep.pk]
    assert deal_owner_ids_in_reach(rep, team=manager.pk) == [rep.pk]
    assert deal_owner_ids_in_reach(rep, team=users["other_manager"].pk) == []


@pytest.fixture
def no_queries_while_rendering(monkeypatch):
    """Every query a page needs runs in its view: one from a template fails the test."""
    from django.db import connection
    from django.template.backends.django import Template

    render = Template.render

    def refuse(execute, sql, params, many, context):
        raise AssertionError(f"a template ran a query: {sql[:200]}")

    def render_without_queries(self, context=None, request=None):
        with connection.execute_wrapper(refuse):
            return render(self, context, request)

    monkeypatch.setattr(Template, "render", render_without_queries)


@pytest.mark.parametrize("who", ["rep", "manager", "admin"])
def test_the_board_dashboard_deal_and_account_pages_run_no_query_from_their_templates(
    client, request, rep, pipeline, stages, who, no_queries_while_rendering
):
    user = request.getfixturevalue(who)
    deal = DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    deal_move(deal=deal, to_stage=stages["Discovery"], by=rep, expected_version=1)
    client.force_login(user)
    urls = [
        "/board/",
        f"/board/columns/{stages['Discovery'].pk}/?offset=0",
        f"/deals/{deal.pk}/",
        f"/accounts/{deal.account_id}/",
    ]
    if who != "rep":
        urls.append("/dashboard/")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
    assert "Acme renewal" in client.get("/board/").content.decode()
