"""The one-on-one resources: every role, the private note, bad input naming its field, fixed query counts."""

import datetime
import json

import pytest

from coaching.models import ActionItem, OneOnOne, OneOnOneSeries, TalkingPoint
from coaching.services import action_item_add, meeting_notes_save, meetings_plan, talking_point_add
from tests.coaching.conftest import at
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"
PRIVATE = "PRIVATE-do-not-show-the-rep"
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]


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


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("who", ROLES)
def test_each_role_lists_only_the_one_on_ones_it_may_see(
    filled, series, outsider_series, client_for, who, request
):
    client = client_for(request.getfixturevalue(who))
    sees_first_team = who in ("admin", "manager", "rep")
    sees_outsiders = who in ("admin", "other_manager", "outsider")
    expected = ({series.pk} if sees_first_team else set()) | (
        {outsider_series.pk} if sees_outsiders else set()
    )

    assert _ids(client.get(f"{API}/one-on-one-series/")) == expected
    meetings = set(OneOnOne.objects.filter(series_id__in=expected).values_list("pk", flat=True))
    assert _ids(client.get(f"{API}/one-on-ones/")) == meetings
    items = set(
        ActionItem.objects.filter(meeting__series_id__in=expected).values_list("pk", flat=True)
    )
    assert _ids(client.get(f"{API}/action-items/")) == items
    points = set(
        TalkingPoint.objects.filter(meeting__series_id__in=expected).values_list("pk", flat=True)
    )
    assert _ids(client.get(f"{API}/talking-points/")) == points
    detail = client.get(f"{API}/one-on-ones/{filled[0].pk}/")
    assert detail.status_code == (200 if sees_first_team else 404)


@pytest.mark.parametrize("who", ROLES)
def test_the_private_note_reaches_only_those_who_run_the_meeting(filled, client_for, who, request):
    client = client_for(request.getfixturevalue(who))
    meeting = filled[0]
    answers = [
        client.get(f"{API}/one-on-ones/{meeting.pk}/notes/"),
        client.get(f"{API}/one-on-ones/{meeting.pk}/"),
        client.get(f"{API}/one-on-ones/"),
        client.get(f"{API}/one-on-ones/?search=PRIVATE"),
        client.get(f"{API}/one-on-one-series/"),
        client.get(f"{API}/talking-points/"),
        client.get(f"{API}/action-items/"),
    ]
    leaked = [a.request["PATH_INFO"] for a in answers if PRIVATE in a.content.decode()]
    if who in ("admin", "manager"):
        assert answers[0].json() == {"shared_notes": "Good week.", "private_notes": PRIVATE}
        assert leaked == [f"{API}/one-on-ones/{meeting.pk}/notes/"]
    else:
        assert leaked == []
    if who == "rep":
        assert answers[0].json() == {"shared_notes": "Good week."}


def test_a_manager_schedules_a_series_and_a_rep_may_not(manager, rep, rep2, client_for):
    body = {
        "rep": rep.pk,
        "cadence": "weekly",
        "weekday": 1,
        "time": "09:00",
        "starts_on": "2026-03-02",
    }
    assert (
        client_for(rep2).post(f"{API}/one-on-one-series/", body, format="json").status_code == 403
    )
    created = client_for(manager).post(f"{API}/one-on-one-series/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["manager"] == manager.pk
    assert OneOnOne.objects.filter(series_id=created.json()["id"]).count() == 1


def test_a_manager_of_a_sibling_team_may_not_schedule_with_our_rep(other_manager, rep, client_for):
    body = {
        "rep": rep.pk,
        "cadence": "weekly",
        "weekday": 1,
        "time": "09:00",
        "starts_on": "2026-03-02",
    }
    answer = client_for(other_manager).post(f"{API}/one-on-one-series/", body, format="json")
    assert answer.status_code == 400
    assert "rep" in answer.json()
    assert not OneOnOneSeries.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"cadence": "daily"}, "cadence"),
        ({"weekday": 7}, "weekday"),
        ({"weekday": "1"}, "weekday"),
        ({"time": "25:00"}, "time"),
        ({"starts_on": "tomorrow"}, "starts_on"),
        ({"rep": 999999}, "rep"),
    ],
)
def test_bad_series_input_names_the_field_and_writes_nothing(
    manager, rep, client_for, change, field
):
    body = {
        "rep": rep.pk,
        "cadence": "weekly",
        "weekday": 1,
        "time": "09:00",
        "starts_on": "2026-03-02",
    } | change
    answer = client_for(manager).post(f"{API}/one-on-one-series/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not OneOnOneSeries.objects.exists()


def test_the_meeting_answers_with_its_agenda(meetings, client_for, manager):
    answer = client_for(manager).get(f"{API}/one-on-ones/{meetings[1].pk}/")
    agenda = answer.json()["agenda"]
    assert set(agenda) >= {
        "hot_deals",
        "stalled_deals",
        "slipped_deals",
        "stage_changes",
        "activity",
        "quota",
        "open_action_items",
    }


def test_recording_and_notes_are_for_the_managers(meetings, client_for, rep, manager):
    url = f"{API}/one-on-ones/{meetings[1].pk}"
    assert (
        client_for(rep).post(f"{url}/record/", {"status": "held"}, format="json").status_code == 403
    )
    assert (
        client_for(rep).patch(f"{url}/notes/", {"shared_notes": "x"}, format="json").status_code
        == 403
    )
    bad = client_for(manager).post(f"{url}/record/", {"status": "done"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()
    held = client_for(manager).post(f"{url}/record/", {"status": "held"}, format="json")
    assert held.json()["status"] == "held"
    saved = client_for(manager).patch(
        f"{url}/notes/", {"private_notes": "Quiet today"}, format="json"
    )
    assert saved.json() == {"shared_notes": "", "private_notes": "Quiet today"}
    too_long = client_for(manager).patch(
        f"{url}/notes/", {"shared_notes": "x" * 20001}, format="json"
    )
    assert too_long.status_code == 400 and "shared_notes" in too_long.json()


def test_both_add_talking_points_but_not_to_anothers(
    meetings, outsider_series, client_for, rep, outsider
):
    ok = client_for(rep).post(
        f"{API}/talking-points/", {"meeting": meetings[1].pk, "text": "Acme"}, format="json"
    )
    assert ok.status_code == 201 and ok.json()["author"] == rep.pk
    refused = client_for(outsider).post(
        f"{API}/talking-points/", {"meeting": meetings[1].pk, "text": "x"}, format="json"
    )
    assert refused.status_code == 400 and "meeting" in refused.json()
    empty = client_for(rep).post(
        f"{API}/talking-points/", {"meeting": meetings[1].pk, "text": ""}, format="json"
    )
    assert empty.status_code == 400 and "text" in empty.json()


def test_action_items_added_by_managers_and_completed_by_their_owner(
    meetings, client_for, manager, rep, rep2
):
    body = {"meeting": meetings[0].pk, "owner": rep.pk, "text": "Call Acme", "due_on": "2026-03-09"}
    assert client_for(rep).post(f"{API}/action-items/", body, format="json").status_code == 403
    bad_owner = client_for(manager).post(
        f"{API}/action-items/", body | {"owner": rep2.pk}, format="json"
    )
    assert bad_owner.status_code == 400 and "owner" in bad_owner.json()
    no_date = client_for(manager).post(
        f"{API}/action-items/", body | {"due_on": None}, format="json"
    )
    assert no_date.status_code == 400 and "due_on" in no_date.json()
    created = client_for(manager).post(f"{API}/action-items/", body, format="json")
    assert created.status_code == 201
    item = created.json()["id"]
    assert client_for(rep2).post(f"{API}/action-items/{item}/complete/").status_code == 404
    done = client_for(rep).post(f"{API}/action-items/{item}/complete/")
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert ActionItem.objects.filter(meeting=meetings[0]).count() == 1


@pytest.mark.parametrize(
    "path",
    ["one-on-one-series/", "one-on-ones/", "talking-points/", "action-items/"],
)
def test_lists_run_a_fixed_number_of_queries(
    series, manager, rep, client_for, path, django_assert_num_queries
):
    meetings_plan(series=series, until=datetime.date(2026, 6, 1))
    for meeting in series.meetings.all()[:6]:
        talking_point_add(meeting=meeting, by=rep, text="Point")
        action_item_add(
            meeting=meeting, by=manager, owner=rep, text="Item", due_on=meeting.scheduled_at.date()
        )
    client = client_for(manager)
    with django_assert_num_queries(2):
        answer = client.get(f"{API}/{path}?page_size=3")
    assert answer.status_code == 200
    with django_assert_num_queries(2):
        client.get(f"{API}/{path}?page_size=50")


def test_the_meeting_page_of_the_api_runs_a_fixed_number_of_queries(
    series, client_for, manager, rep, pipeline, django_assert_num_queries
):
    ahead = meetings_plan(series=series, until=datetime.date.today() + datetime.timedelta(days=8))[
        -1
    ]
    for n in range(3):
        DealFactory(
            owner=rep,
            pipeline=pipeline,
            expected_close_date=datetime.date.today() + datetime.timedelta(days=n),
        )
    with django_assert_num_queries(13):
        answer = client_for(manager).get(f"{API}/one-on-ones/{ahead.pk}/")
    assert len(answer.json()["agenda"]["hot_deals"]) == 3


def test_json_types_are_checked(manager, rep, client_for):
    body = json.dumps(
        {
            "rep": str(rep.pk),
            "cadence": "weekly",
            "weekday": 1,
            "time": "09:00",
            "starts_on": "2026-03-02",
        }
    )
    answer = client_for(manager).post(
        f"{API}/one-on-one-series/", body, content_type="application/json"
    )
    assert answer.status_code == 400 and "rep" in answer.json()


def test_at_helper_is_the_meeting_time(meetings):
    assert meetings[1].scheduled_at == at("2026-03-11")


def test_meetings_filter_by_day(meetings, client_for, manager):
    client = client_for(manager)
    assert _ids(client.get(f"{API}/one-on-ones/?scheduled_from=2026-03-11")) == {meetings[1].pk}
    assert _ids(client.get(f"{API}/one-on-ones/?scheduled_to=2026-03-04")) == {meetings[0].pk}
    bad = client.get(f"{API}/one-on-ones/?scheduled_from=0407-03-25T02:25:25-17:35")
    assert bad.status_code == 400 and "scheduled_from" in bad.json()
