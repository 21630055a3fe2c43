"""The one-on-one pages for every role: lists, the meeting page, its forms, the home page's action items."""

import datetime

import pytest
from django.urls import reverse

from coaching.models import ActionItem, OneOnOneSeries, TalkingPoint
from coaching.services import action_item_add, meeting_notes_save, meetings_plan, talking_point_add
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db
PRIVATE = "PRIVATE-do-not-show-the-rep"
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
FIRST_TEAM = {"admin", "manager", "rep"}


@pytest.fixture
def filled(meetings, manager, rep):
    meeting_notes_save(meeting=meetings[0], by=manager, shared="Good week.", private=PRIVATE)
    talking_point_add(meeting=meetings[0], by=rep, text="Pricing for Acme")
    action_item_add(
        meeting=meetings[0],
        by=manager,
        owner=rep,
        text="Send proposal",
        due_on=datetime.date(2026, 3, 9),
    )
    return meetings


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", ROLES)
def test_every_page_shows_the_private_note_only_to_those_who_run_the_meeting(
    filled, series, client, who, request
):
    user = request.getfixturevalue(who)
    signed_in(client, user)
    pages = {
        "list": reverse("one-on-ones"),
        "series": reverse("one-on-one-series", args=[series.pk]),
        "meeting": reverse("one-on-one", args=[filled[0].pk]),
        "next meeting": reverse("one-on-one", args=[filled[1].pk]),
        "home": reverse("home"),
        "home items": reverse("home-action-items"),
    }
    answers = {name: client.get(url) for name, url in pages.items()}
    leaked = {name for name, answer in answers.items() if PRIVATE in answer.content.decode()}
    if who in ("admin", "manager"):
        assert leaked == {"meeting"}
    else:
        assert leaked == set()
    expected = 200 if who in FIRST_TEAM else 404
    assert answers["meeting"].status_code == expected
    assert answers["series"].status_code == expected
    if who == "rep":
        body = answers["meeting"].content.decode()
        assert "Good week." in body and "Private notes" not in body
        assert "Pricing for Acme" in body and "Send proposal" in body


@pytest.mark.parametrize("who", ROLES)
def test_the_list_shows_each_role_its_own_series(series, outsider_series, client, who, request):
    signed_in(client, request.getfixturevalue(who))
    body = client.get(reverse("one-on-ones")).content.decode()
    assert ("Riley Rep" in body) == (who in FIRST_TEAM)
    assert ("Olive Outsider" in body) == (who in {"admin", "other_manager", "outsider"})
    assert ("Schedule a series" in body) == (who in {"admin", "manager", "other_manager"})


def test_a_manager_schedules_from_the_list(client, manager, rep):
    signed_in(client, manager)
    answer = client.post(
        reverse("one-on-one-schedule"),
        {
            "rep": rep.pk,
            "cadence": "fortnightly",
            "weekday": 3,
            "time": "14:00",
            "starts_on": "2026-03-02",
        },
    )
    series = OneOnOneSeries.objects.get()
    assert answer.status_code == 302 and answer.url == reverse(
        "one-on-one-series", args=[series.pk]
    )
    again = client.post(
        reverse("one-on-one-schedule"),
        {
            "rep": rep.pk,
            "cadence": "weekly",
            "weekday": 3,
            "time": "14:00",
            "starts_on": "2026-03-02",
        },
    )
    assert again.status_code == 400
    assert "already has an active one-on-one" in again.content.decode()


def test_a_rep_adds_a_talking_point_in_place(meetings, client, rep):
    signed_in(client, rep)
    url = reverse("one-on-one-talking-point", args=[meetings[1].pk])
    answer = client.post(url, {"point-text": "Help with Acme"}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert (
        'id="talking-points"' in answer.content.decode()
        and "Help with Acme" in answer.content.decode()
    )
    empty = client.post(url, {"point-text": ""}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400 and TalkingPoint.objects.count() == 1


def test_people_outside_get_404_on_every_form(meetings, client, outsider, rep2):
    for person in (outsider, rep2):
        signed_in(client, person)
        urls = [
            reverse("one-on-one-talking-point", args=[meetings[1].pk]),
            reverse("one-on-one-action-item", args=[meetings[1].pk]),
            reverse("one-on-one-notes", args=[meetings[1].pk]),
            reverse("one-on-one-status", args=[meetings[1].pk]),
        ]
        assert [
            client.post(url, {"point-text": "x", "status": "held"}).status_code for url in urls
        ] == [404] * 4
    assert not TalkingPoint.objects.exists()


def test_a_rep_cannot_add_items_or_take_notes(meetings, client, rep):
    signed_in(client, rep)
    answer = client.post(
        reverse("one-on-one-action-item", args=[meetings[1].pk]),
        {"item-text": "x", "item-owner": rep.pk, "item-due_on": "2026-03-20"},
    )
    assert answer.status_code == 400 and not ActionItem.objects.exists()
    client.post(reverse("one-on-one-notes", args=[meetings[1].pk]), {"private_notes": "mine"})
    assert meetings[1].series.meetings.get(pk=meetings[1].pk).shared_notes == ""


def test_action_items_added_then_completed_by_their_owner(meetings, client, manager, rep):
    signed_in(client, manager)
    answer = client.post(
        reverse("one-on-one-action-item", args=[meetings[0].pk]),
        {"item-text": "Call Acme", "item-owner": rep.pk, "item-due_on": "2026-03-09"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200 and "Call Acme" in answer.content.decode()
    item = ActionItem.objects.get()
    next_page = client.get(reverse("one-on-one", args=[meetings[1].pk])).content.decode()
    assert "Call Acme" in next_page and "carried over from" in next_page

    signed_in(client, rep)
    client.post(reverse("action-item-complete", args=[item.pk]), {"back": str(meetings[1].pk)})
    assert ActionItem.objects.get().status == "done"


def test_the_owners_home_page_lists_their_due_items(meetings, client, manager, rep, rep2):
    today = datetime.date.today()
    action_item_add(
        meeting=meetings[0],
        by=manager,
        owner=rep,
        text="Overdue thing",
        due_on=today - datetime.timedelta(days=2),
    )
    action_item_add(
        meeting=meetings[0],
        by=manager,
        owner=rep,
        text="Far thing",
        due_on=today + datetime.timedelta(days=40),
    )
    action_item_add(
        meeting=meetings[0], by=manager, owner=manager, text="Manager thing", due_on=today
    )

    signed_in(client, rep)
    home = client.get(reverse("home")).content.decode()
    assert f'hx-get="{reverse("home-action-items")}"' in home
    panel = client.get(reverse("home-action-items")).content.decode()
    assert "Overdue thing" in panel and "overdue" in panel
    assert "Far thing" not in panel and "Manager thing" not in panel

    signed_in(client, rep2)
    assert "Overdue thing" not in client.get(reverse("home-action-items")).content.decode()


def test_the_meeting_page_runs_a_fixed_number_of_queries(
    series, client, manager, rep, pipeline, django_assert_num_queries
):
    ahead = meetings_plan(series=series, until=datetime.date.today() + datetime.timedelta(days=8))[
        -1
    ]
    for n in range(4):
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            expected_close_date=datetime.date.today() + datetime.timedelta(days=n),
        )
        talking_point_add(meeting=ahead, by=rep, text=f"Point {n}")
        action_item_add(
            meeting=ahead, by=manager, owner=rep, text=f"Item {n}", due_on=ahead.scheduled_at.date()
        )
    signed_in(client, manager)
    with django_assert_num_queries(20):
        answer = client.get(reverse("one-on-one", args=[ahead.pk]))
    assert answer.status_code == 200


def test_the_list_page_runs_a_fixed_number_of_queries(
    series, outsider_series, client, admin, django_assert_num_queries
):
    signed_in(client, admin)
    # The session, the user, the teams to pick from, the series and their next meetings' times.
    with django_assert_num_queries(6):
        assert client.get(reverse("one-on-ones")).status_code == 200


def test_completing_from_the_home_panel_swaps_the_panel(meetings, client, manager, rep):
    item = action_item_add(
        meeting=meetings[0], by=manager, owner=rep, text="Home thing", due_on=datetime.date.today()
    )
    signed_in(client, rep)
    answer = client.post(
        reverse("action-item-complete", args=[item.pk]), {"back": "home"}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200
    assert 'id="home-action-items"' in answer.content.decode()
    assert "Home thing" not in answer.content.decode()
    assert ActionItem.objects.get().status == "done"
