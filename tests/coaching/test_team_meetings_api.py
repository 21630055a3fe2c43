"""Team meetings over the API and on the pages: every role, bad input naming its field and writing nothing, fixed query counts."""

import datetime

import pytest

from coaching.models import ActionItem, TeamMeeting, TeamMeetingStatus
from coaching.services import team_action_item_add, team_meeting_record, team_meeting_schedule
from tests.coaching.conftest import at

pytestmark = pytest.mark.django_db
API = "/api/v1"
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
SEES_TEAM = {"admin", "manager", "rep", "rep2"}
RUNS_TEAM = {"admin", "manager"}
D = datetime.date.fromisoformat


@pytest.fixture
def team(manager, rep, rep2, outsider, other_manager):
    """The team's held meeting of 4 March with an item for rep, and 11 March scheduled; the other team's one meeting."""
    first = team_meeting_schedule(by=manager, scheduled_at=at("2026-03-04"))
    team_meeting_record(meeting=first, by=manager, status=TeamMeetingStatus.HELD)
    second = team_meeting_schedule(by=manager, scheduled_at=at("2026-03-11"))
    item = team_action_item_add(
        meeting=first, by=manager, owner=rep, text="Update the CRM", due_on=D("2026-03-09")
    )
    ActionItem.objects.filter(pk=item.pk).update(created_at=at("2026-03-04"))
    other = team_meeting_schedule(by=other_manager, scheduled_at=at("2026-03-11"))
    return {"first": first, "second": second, "item": item, "other": other}


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("who", ROLES)
def test_each_role_lists_and_reads_only_the_team_meetings_it_may_see(
    team, client_for, who, request
):
    client = client_for(request.getfixturevalue(who))
    ours = {team["first"].pk, team["second"].pk}
    theirs = {team["other"].pk}
    expected = (ours if who in SEES_TEAM else set()) | (
        theirs if who in ("admin", "other_manager", "outsider") else set()
    )

    assert _ids(client.get(f"{API}/team-meetings/")) == expected
    detail = client.get(f"{API}/team-meetings/{team['second'].pk}/")
    if who in SEES_TEAM:
        assert detail.status_code == 200
        body = detail.json()
        assert set(body["agenda"]) >= {"wins", "forecast", "moved_deals", "stalled_deals"}
        assert [i["text"] for i in body["action_items"]] == ["Update the CRM"]
        assert [i["text"] for i in body["agenda"]["open_action_items"]] == ["Update the CRM"]
    else:
        assert detail.status_code == 404
    items = _ids(client.get(f"{API}/action-items/", {"team_meeting": team["first"].pk}))
    assert items == ({team["item"].pk} if who in SEES_TEAM else set())


@pytest.mark.parametrize("who", ROLES)
def test_only_the_teams_manager_and_admins_write(team, client_for, who, request):
    client = client_for(request.getfixturevalue(who))
    meeting = team["second"]
    rep = request.getfixturevalue("rep")

    changed = client.patch(
        f"{API}/team-meetings/{meeting.pk}/",
        {"minutes": "Good week.", "status": "held"},
        format="json",
    )
    added = client.post(
        f"{API}/team-meetings/{meeting.pk}/action-items/",
        {"owner": rep.pk, "text": "Share the deck", "due_on": "2026-03-18"},
        format="json",
    )
    meeting.refresh_from_db()
    if who in RUNS_TEAM:
        assert changed.status_code == 200, changed.content
        assert changed.json()["minutes"] == "Good week."
        assert (meeting.minutes, meeting.status) == ("Good week.", "held")
        assert added.status_code == 201, added.content
        assert added.json()["team_meeting"] == meeting.pk
        assert added.json()["meeting"] is None
    else:
        # A rep's role may not write at all (403); a manager who may not see the meeting gets 404.
        expected = 404 if who == "other_manager" else 403
        assert changed.status_code == expected
        assert added.status_code == expected
        assert (meeting.minutes, meeting.status) == ("", "scheduled")
        assert not ActionItem.objects.filter(team_meeting=meeting).exists()


@pytest.mark.parametrize("who", ROLES)
def test_who_may_schedule(manager, client_for, who, request):
    user = request.getfixturevalue(who)
    body = {"scheduled_at": "2026-03-18T10:00:00Z"}
    if who == "admin":
        body["manager"] = manager.pk
    response = client_for(user).post(f"{API}/team-meetings/", body, format="json")

    if who in ("admin", "manager", "other_manager"):
        assert response.status_code == 201, response.content
        assert response.json()["manager"] == (manager.pk if who == "admin" else user.pk)
    else:
        assert response.status_code == 403
        assert not TeamMeeting.objects.exists()


def test_bad_input_names_the_field_and_writes_nothing(team, client_for, manager, outsider):
    client = client_for(manager)
    meeting = team["second"]
    before = (TeamMeeting.objects.count(), ActionItem.objects.count())

    clash = client.post(
        f"{API}/team-meetings/", {"scheduled_at": "2026-03-11T10:00:00Z"}, format="json"
    )
    assert clash.status_code == 400
    assert "scheduled_at" in clash.json()
    for body, field in [
        ({"status": "missed"}, "status"),
        ({"minutes": 5}, "minutes"),
        ({"minutes": "x" * 20_001}, "minutes"),
        ({}, "non_field_errors"),
        ({"minutes": "Fine", "status": "nope"}, "status"),
    ]:
        response = client.patch(f"{API}/team-meetings/{meeting.pk}/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()
    for body, field in [
        ({"owner": outsider.pk, "text": "x", "due_on": "2026-03-18"}, "owner"),
        ({"owner": manager.pk, "text": " ", "due_on": "2026-03-18"}, "text"),
        ({"owner": manager.pk, "text": "x", "due_on": "2026-01-01"}, "due_on"),
        ({"owner": manager.pk, "text": "x"}, "due_on"),
    ]:
        response = client.post(
            f"{API}/team-meetings/{meeting.pk}/action-items/", body, format="json"
        )
        assert response.status_code == 400, body
        assert field in response.json()
    no_meeting = client.post(
        f"{API}/action-items/",
        {"meeting": None, "owner": manager.pk, "text": "x", "due_on": "2026-03-18"},
        format="json",
    )
    assert no_meeting.status_code == 400
    assert "meeting" in no_meeting.json()

    meeting.refresh_from_db()
    assert (meeting.minutes, meeting.status) == ("", "scheduled")
    assert (TeamMeeting.objects.count(), ActionItem.objects.count()) == before


def test_the_rep_completes_their_own_team_item(team, client_for, rep, rep2):
    item = team["item"]
    refused = client_for(rep2).post(f"{API}/action-items/{item.pk}/complete/")
    assert refused.status_code == 403
    done = client_for(rep).post(f"{API}/action-items/{item.pk}/complete/")
    assert done.status_code == 200
    assert done.json()["status"] == "done"


def test_the_list_runs_a_fixed_number_of_queries(manager, client_for, django_assert_num_queries):
    client = client_for(manager)
    for week in range(3):
        team_meeting_schedule(
            by=manager, scheduled_at=at("2026-01-07") + datetime.timedelta(weeks=week)
        )
    with django_assert_num_queries(LIST_QUERIES) as three:
        client.get(f"{API}/team-meetings/")
    for week in range(3, 20):
        team_meeting_schedule(
            by=manager, scheduled_at=at("2026-01-07") + datetime.timedelta(weeks=week)
        )
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(f"{API}/team-meetings/")
    assert response.json()["count"] == 20
    assert len(three.captured_queries) == LIST_QUERIES


LIST_QUERIES = 2


# Pages -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ROLES)
def test_pages_show_each_role_what_it_may_see(team, client, who, request):
    user = request.getfixturevalue(who)
    client.force_login(user)

    listing = client.get("/coaching/team-meetings/")
    assert listing.status_code == 200
    page = client.get(f"/coaching/team-meetings/{team['second'].pk}/")
    listed = f"/coaching/team-meetings/{team['second'].pk}/" in listing.content.decode()
    if who in SEES_TEAM:
        assert listed
        assert page.status_code == 200
        html = page.content.decode()
        assert "Update the CRM" in html
        assert ("Save minutes" in html) == (who in RUNS_TEAM)
        assert ("Add action item" in html) == (who in RUNS_TEAM)
    else:
        assert not listed
        assert page.status_code == 404
    assert ("Schedule a team meeting" in listing.content.decode()) == (
        who in ("admin", "manager", "other_manager")
    )


def test_the_manager_runs_the_meeting_on_its_page(team, client, manager, rep):
    client.force_login(manager)
    meeting = team["second"]
    base = f"/coaching/team-meetings/{meeting.pk}"

    bad = client.post(
        f"{base}/action-items/",
        {"item-text": "", "item-owner": rep.pk, "item-due_on": "2026-03-18"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 400
    assert not ActionItem.objects.filter(team_meeting=meeting).exists()
    added = client.post(
        f"{base}/action-items/",
        {"item-text": "Share the deck", "item-owner": rep.pk, "item-due_on": "2026-03-18"},
        headers={"HX-Request": "true"},
    )
    assert added.status_code == 200
    assert "Share the deck" in added.content.decode()
    assert client.post(f"{base}/minutes/", {"minutes": "Good week."}).status_code == 302
    assert client.post(f"{base}/status/", {"status": "held"}).status_code == 302
    nxt = client.post(f"{base}/next/")
    meeting.refresh_from_db()
    assert (meeting.minutes, meeting.status) == ("Good week.", "held")
    following = TeamMeeting.objects.get(manager=manager, scheduled_at=at("2026-03-18"))
    assert nxt.url == f"/coaching/team-meetings/{following.pk}/"


def test_a_rep_completes_their_item_on_the_page_and_may_not_write(team, client, rep):
    client.force_login(rep)
    meeting = team["second"]
    base = f"/coaching/team-meetings/{meeting.pk}"
    assert client.post(f"{base}/minutes/", {"minutes": "Mine"}).status_code == 302
    meeting.refresh_from_db()
    assert meeting.minutes == ""
    done = client.post(
        f"{base}/action-items/{team['item'].pk}/complete/", headers={"HX-Request": "true"}
    )
    assert done.status_code == 200
    assert ActionItem.objects.get(pk=team["item"].pk).status == "done"


def test_schedule_form_refuses_a_clash_naming_it(team, client, manager):
    client.force_login(manager)
    response = client.post(
        "/coaching/team-meetings/schedule/", {"day": "2026-03-11", "time": "10:00"}
    )
    assert response.status_code == 400
    assert "The team already has a meeting at this time." in response.content.decode()
    assert TeamMeeting.objects.filter(manager=manager).count() == 2


def test_the_meeting_page_runs_a_fixed_number_of_queries(
    team, client, manager, django_assert_max_num_queries
):
    client.force_login(manager)
    with django_assert_max_num_queries(40):
        response = client.get(f"/coaching/team-meetings/{team['second'].pk}/")
    assert response.status_code == 200
