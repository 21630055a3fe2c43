"""What a deal's former owner sees once the deal (and its account) went to another team.

The rule: an activity stays its author's, but the deal and account behind it
are shown only to whoever may read them (an account also to whoever reads the
deal). The former owner keeps their notes, with the deal and account hidden
("a deal you can no longer see"); the new owner, the new team's manager and
admins see everything; the former team's manager sees neither the deal nor
the activities on it. The same holds for the ride-alongs on that deal.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coaching.services.ride_alongs import ride_along_record
from coaching.services.sessions import session_create
from pipeline.models import Activity
from pipeline.services import account_update, activity_log, deal_reassign
from tests.factories import AccountFactory, DealFactory

ACTIVITIES = "/api/v1/activities/"
RIDE_ALONGS = "/api/v1/ride-alongs/"
DEAL_NAME = "Zebra Secret Deal"
ACCOUNT_NAME = "Quokka Holdings"
HIDDEN = "a deal you can no longer see"


@pytest.fixture
def world(rep, manager, outsider, admin, pipeline):
    account = AccountFactory(owner=rep, name=ACCOUNT_NAME)
    deal = DealFactory(owner=rep, account=account, pipeline=pipeline, name=DEAL_NAME)
    on_deal = activity_log(by=rep, kind="call", subject="Called the buyer", deal=deal)
    on_account = activity_log(by=rep, kind="note", subject="Met the board", account=account)
    ride = ride_along_record(
        by=manager, rep=rep, visited_on=timezone.localdate(), account=account, deal=deal
    )
    session = session_create(
        by=manager, rep=rep, focus="deal", deal=deal, scheduled_on=timezone.localdate()
    )
    deal_reassign(deal=deal, new_owner=outsider, by=admin, expected_version=deal.version)
    account_update(account=account, by=admin, owner=outsider)
    return {
        "deal": deal,
        "on_deal": on_deal,
        "on_account": on_account,
        "ride": ride,
        "session": session,
    }


def _names_absent(text: str) -> None:
    assert DEAL_NAME not in text
    assert ACCOUNT_NAME not in text


def test_former_owner_keeps_their_activities_without_the_deal_or_account(client_for, world, rep):
    client = client_for(rep)
    assert client.get(f"/api/v1/deals/{world['deal'].pk}/").status_code == 404
    listed = client.get(ACTIVITIES)
    assert listed.status_code == 200
    _names_absent(listed.content.decode())
    rows = {row["id"]: row for row in listed.json()["results"]}
    on_deal = rows[world["on_deal"].pk]
    assert (on_deal["deal"], on_deal["deal_name"], on_deal["deal_hidden"]) == (None, None, True)
    assert (on_deal["account"], on_deal["account_name"]) == (None, None)
    assert on_deal["subject"] == "Called the buyer"
    on_account = rows[world["on_account"].pk]
    assert (on_account["account"], on_account["account_name"], on_account["deal_hidden"]) == (
        None,
        None,
        False,
    )
    detail = client.get(f"{ACTIVITIES}{world['on_deal'].pk}/")
    assert detail.status_code == 200
    _names_absent(detail.content.decode())
    assert detail.json()["deal"] is None


def test_former_owner_cannot_select_by_the_hidden_deal_or_account(client_for, world, rep):
    client = client_for(rep)
    assert client.get(ACTIVITIES, {"deal": world["deal"].pk}).json()["count"] == 0
    assert client.get(ACTIVITIES, {"account": world["deal"].account_id}).json()["count"] == 0


@pytest.mark.parametrize("who", ["outsider", "other_manager", "admin"])
def test_new_owner_their_manager_and_admins_see_the_deal(client_for, world, who, request):
    client = client_for(request.getfixturevalue(who))
    row = client.get(f"{ACTIVITIES}{world['on_deal'].pk}/").json()
    assert (row["deal"], row["deal_name"], row["deal_hidden"]) == (
        world["deal"].pk,
        DEAL_NAME,
        False,
    )
    assert row["account_name"] == ACCOUNT_NAME
    assert row["author_name"] == "Riley Rep"
    assert (
        client.get(ACTIVITIES, {"deal": world["deal"].pk}).json()["count"] == 2
    )  # the call and the visit


@pytest.mark.parametrize("who", ["manager", "rep2"])
def test_the_former_team_sees_nothing_of_it(client_for, world, who, request):
    client = client_for(request.getfixturevalue(who))
    assert client.get(f"{ACTIVITIES}{world['on_deal'].pk}/").status_code == 404
    _names_absent(client.get(ACTIVITIES).content.decode())


def test_former_owners_home_page_names_neither(client, world, rep):
    client.force_login(rep)
    panels = client.get("/home/panels/", headers={"HX-Request": "true"}).content.decode()
    assert "Called the buyer" in panels
    assert HIDDEN in panels
    _names_absent(panels)


def test_new_owners_deal_page_shows_the_former_owners_activity(client, world, outsider):
    client.force_login(outsider)
    page = client.get(reverse("deal-detail", args=[world["deal"].pk])).content.decode()
    assert "Called the buyer" in page


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_ride_along_pages_and_api_hide_the_deal_from_the_former_team(
    client, client_for, world, who, request
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    for url in (reverse("ride-alongs"), reverse("ride-along", args=[world["ride"].pk])):
        response = client.get(url)
        assert response.status_code == 200
        _names_absent(response.content.decode())
    row = client_for(user).get(f"{RIDE_ALONGS}{world['ride'].pk}/").json()
    assert (row["deal"], row["deal_name"], row["account"], row["account_name"]) == (
        None,
        None,
        None,
        None,
    )


def test_admin_sees_the_ride_alongs_deal(client, client_for, world, admin):
    client.force_login(admin)
    page = client.get(reverse("ride-along", args=[world["ride"].pk])).content.decode()
    assert DEAL_NAME in page and ACCOUNT_NAME in page
    row = client_for(admin).get(f"{RIDE_ALONGS}{world['ride'].pk}/").json()
    assert row["deal_name"] == DEAL_NAME


def test_other_teams_manager_sees_no_ride_along_of_the_former_team(
    client_for, world, other_manager
):
    assert client_for(other_manager).get(f"{RIDE_ALONGS}{world['ride'].pk}/").status_code == 404


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ACTIVITIES).status_code == 200
    return len(queries)


def test_the_former_owners_list_costs_the_same_whatever_its_size(client_for, world, rep):
    client = client_for(rep)
    few = _list_queries(client)
    deal = world["deal"]
    for n in range(5):
        Activity.objects.create(
            kind="note", subject=f"Note {n}", author=rep, deal=deal, account=deal.account
        )
    assert _list_queries(client) == few


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_coaching_session_on_the_deal_hides_it_from_the_former_team(
    client, client_for, world, who, request
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    for url in (
        reverse("coaching-sessions"),
        reverse("coaching-session", args=[world["session"].pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        _names_absent(page)
        assert HIDDEN in page.lower()
    row = client_for(user).get(f"/api/v1/coaching-sessions/{world['session'].pk}/").json()
    assert (row["focus"], row["deal"]) == ("deal", None)


def test_admin_sees_the_coaching_sessions_deal(client, client_for, world, admin):
    client.force_login(admin)
    page = client.get(reverse("coaching-session", args=[world["session"].pk])).content.decode()
    assert DEAL_NAME in page
    row = client_for(admin).get(f"/api/v1/coaching-sessions/{world['session'].pk}/").json()
    assert row["deal"] == world["deal"].pk


def test_the_former_teams_manager_editing_the_ride_along_is_not_told_the_deal(
    client_for, world, manager
):
    response = client_for(manager).patch(
        f"{RIDE_ALONGS}{world['ride'].pk}/", {"observations": "Went well."}, format="json"
    )
    # The visit's account left the team too: the edit is refused, naming nothing of it.
    assert response.status_code == 400
    assert list(response.json()) == ["account"]
    _names_absent(response.content.decode())
