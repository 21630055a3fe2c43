"""The wins feed: each won deal with its rep and value, newest first, by role, a page at a time."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from tests.factories import AccountFactory

API = "/api/v1/wins/"


def test_a_manager_sees_the_teams_wins_newest_first_with_rep_and_value(
    client_for, manager, team_history
):
    body = client_for(manager).get(API, {"page_size": 50}).json()
    # 4 wins of rep at +10, 24 of rep2 at +20, 2 of rep3 at +30; the outsider's lost deals are no wins.
    assert body["count"] == 30
    first = body["results"][0]
    assert first["owner"]["name"] == "Remy Rep"
    assert (first["amount"], first["currency"], first["value"]) == ("4000.00", "USD", "4000.00")
    closed = [row["closed_at"] for row in body["results"]]
    assert closed == sorted(closed, reverse=True)
    assert [row["owner"]["name"] for row in body["results"]][-4:] == ["Riley Rep"] * 4


def test_a_rep_sees_only_their_own_wins(client_for, rep, team_history):
    body = client_for(rep).get(API).json()
    assert body["count"] == 4
    assert {row["owner"]["id"] for row in body["results"]} == {rep.pk}


def test_a_rep_cannot_ask_for_the_teams_wins(client_for, rep, manager, rep2, team_history):
    assert client_for(rep).get(API, {"team": manager.pk}).status_code == 404
    assert client_for(rep).get(API, {"owner": rep2.pk}).status_code == 404


def test_a_rep_of_another_team_sees_none_of_this_teams_wins(client_for, outsider, team_history):
    assert client_for(outsider).get(API).json()["count"] == 0


def test_a_manager_of_a_sibling_team_cannot_read_this_teams_wins(
    client_for, other_manager, manager, team_history
):
    assert client_for(other_manager).get(API, {"team": manager.pk}).status_code == 404
    assert client_for(other_manager).get(API).json()["count"] == 0


def test_an_admin_sees_every_win_and_may_narrow_to_a_rep(client_for, admin, rep2, team_history):
    assert client_for(admin).get(API).json()["count"] == 30
    assert client_for(admin).get(API, {"owner": rep2.pk}).json()["count"] == 24


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page_size": "500"}, "page_size"),
        ({"team": "abc"}, "team"),
        ({"owner": ""}, "owner"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, manager, params, field):
    response = client_for(manager).get(API, params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_win_without_an_exchange_rate_is_listed_with_no_value(
    client_for, admin, rep, pipeline, stages
):
    account = AccountFactory(owner=rep)
    today = datetime.date.today()
    moment = datetime.datetime.combine(
        today - datetime.timedelta(days=3), datetime.time(12), tzinfo=datetime.UTC
    )
    deals_import(
        specs=[
            DealSpec(
                name="Euro win",
                account_id=account.pk,
                owner_id=rep.pk,
                pipeline_id=pipeline.pk,
                stage_id=stages["Won"].pk,
                amount=Decimal("700"),
                currency="EUR",
                expected_close_date=today,
                forecast_category="pipeline",
                created_at=moment - datetime.timedelta(days=5),
                lost_reason_id=None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=stages["Qualification"].pk,
                        at=moment - datetime.timedelta(days=5),
                    ),
                    TransitionSpec(to_stage_id=stages["Won"].pk, at=moment),
                ],
                changes=[],
            )
        ],
        by=admin,
    )
    row = client_for(rep).get(API).json()["results"][0]
    assert (row["name"], row["amount"], row["currency"], row["value"]) == (
        "Euro win",
        "700.00",
        "EUR",
        None,
    )


def test_the_feed_costs_the_same_queries_whatever_the_page_size(
    client_for, manager, team_history, django_assert_num_queries
):
    client = client_for(manager)
    for size in (5, 50):
        with django_assert_num_queries(2):  # the count and the page
            assert len(
                client.get(API, {"team": manager.pk, "page_size": size}).json()["results"]
            ) == min(size, 30)


def test_the_insights_page_lists_the_teams_wins_a_page_at_a_time(
    client, manager, rep, team_history
):
    client.force_login(manager)
    html = client.get(reverse("insights"), {"rep": rep.pk}).content.decode()
    assert html.count("data-win=") == 10
    assert "1–10 of 30 wins" in html
    assert "wins_page=2" in html
    last = client.get(reverse("insights"), {"rep": rep.pk, "wins_page": 3}).content.decode()
    assert last.count("data-win=") == 10
    assert "Riley Rep" in last


def test_the_insights_page_shows_a_rep_only_their_own_wins(client, rep, team_history):
    client.force_login(rep)
    html = client.get(reverse("insights")).content.decode()
    assert html.count("data-win=") == 4
    assert "Wins to celebrate: yours" in html


def test_the_insights_page_refuses_a_bad_page_of_wins(client, manager, rep, team_history):
    client.force_login(manager)
    assert client.get(reverse("insights"), {"rep": rep.pk, "wins_page": "x"}).status_code == 400
    assert client.get(reverse("insights"), {"rep": rep.pk, "wins_page": "9"}).status_code == 404
