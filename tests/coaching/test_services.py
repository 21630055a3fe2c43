"""The one-on-one services: who may run what, the rules, and action items carried over until done."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from coaching.models import ActionItem, MeetingStatus, OneOnOne, OneOnOneSeries, PrivateNote
from coaching.selectors import (
    action_items_due,
    meeting_action_items,
    meetings_visible_to,
    private_note_text,
    private_notes_visible_to,
    series_visible_to,
)
from coaching.services import (
    action_item_add,
    action_item_complete,
    meeting_notes_save,
    meeting_record,
    series_schedule,
    series_stop,
    talking_point_add,
)
from salesmgr.errors import PermissionDenied
from tests.coaching.conftest import at
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
D = datetime.date.fromisoformat


def schedule(by, rep, **kwargs):
    values = {
        "cadence": "weekly",
        "weekday": 0,
        "time": datetime.time(9, 30),
        "starts_on": D("2026-03-04"),
    }
    return series_schedule(by=by, rep=rep, **(values | kwargs))


def test_scheduling_makes_the_first_meeting_on_the_chosen_weekday(manager, rep):
    series = schedule(manager, rep, cadence="fortnightly", weekday=0)

    assert series.manager == manager
    assert [m.scheduled_at for m in series.meetings.all()] == [
        at("2026-03-09", 9) + datetime.timedelta(minutes=30)
    ]


def test_recording_a_meeting_schedules_the_next_one_a_cadence_later(manager, rep):
    series = schedule(manager, rep, cadence="fortnightly")
    first = series.meetings.get()

    meeting_record(meeting=first, by=manager, status=MeetingStatus.MISSED)
    meeting_record(meeting=first, by=manager, status=MeetingStatus.HELD)

    times = list(series.meetings.values_list("scheduled_at", flat=True))
    assert times == [first.scheduled_at, first.scheduled_at + datetime.timedelta(days=14)]


def test_a_manager_schedules_only_their_own_team(manager, rep, outsider):
    director = UserFactory(role="manager")
    manager.manager = director
    manager.save()
    cases = [
        (lambda: schedule(manager, outsider), "rep"),  # another team
        (lambda: schedule(manager, rep, manager=rep), "rep"),  # the rep with themselves
        (lambda: schedule(director, rep, manager=manager), "manager"),  # someone else's one-on-one
    ]
    for attempt, field in cases:
        with pytest.raises(ValidationError) as refused:
            attempt()
        assert field in refused.value.message_dict
    assert not OneOnOneSeries.objects.exists()


def test_one_active_series_per_pair(manager, rep):
    schedule(manager, rep)
    with pytest.raises(ValidationError) as refused:
        schedule(manager, rep)
    assert refused.value.message_dict == {
        "rep": ["This rep already has an active one-on-one with this manager."]
    }


def test_bad_values_name_their_fields(manager, rep):
    with pytest.raises(ValidationError) as refused:
        schedule(manager, rep, cadence="daily", weekday=9, time=None, starts_on=None)
    assert set(refused.value.message_dict) == {"cadence", "weekday", "time", "starts_on"}


def test_admin_schedules_for_a_manager_and_a_manager_above_runs_it(admin, manager, rep):
    director = UserFactory(role="manager")
    manager.manager = director
    manager.save()
    series = schedule(admin, rep, manager=manager)
    meeting = series.meetings.get()

    meeting_notes_save(meeting=meeting, by=director, private="Watch the discounting.")

    assert private_note_text(director, meeting) == "Watch the discounting."
    assert private_note_text(manager, meeting) == "Watch the discounting."


def test_a_rep_may_not_run_their_one_on_one(series, meetings, rep):
    with pytest.raises(PermissionDenied):
        meeting_record(meeting=meetings[0], by=rep, status=MeetingStatus.MISSED)
    with pytest.raises(PermissionDenied):
        meeting_notes_save(meeting=meetings[0], by=rep, shared="I wrote this")
    with pytest.raises(PermissionDenied):
        action_item_add(meeting=meetings[0], by=rep, owner=rep, text="x", due_on=D("2026-03-10"))
    with pytest.raises(PermissionDenied):
        series_stop(series=series, by=rep)


@pytest.mark.parametrize("who", ["outsider", "other_manager", "rep2"])
def test_people_outside_the_one_on_one_may_not_add_to_it(meetings, who, request):
    person = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        talking_point_add(meeting=meetings[0], by=person, text="Hello")
    with pytest.raises(PermissionDenied):
        meeting_notes_save(meeting=meetings[0], by=person, private="x")


def test_both_people_add_talking_points(meetings, manager, rep):
    talking_point_add(meeting=meetings[1], by=rep, text="  Pricing for Acme  ")
    talking_point_add(meeting=meetings[1], by=manager, text="Pipeline coverage")

    assert list(meetings[1].talking_points.values_list("text", "author")) == [
        ("Pricing for Acme", rep.pk),
        ("Pipeline coverage", manager.pk),
    ]
    with pytest.raises(ValidationError) as refused:
        talking_point_add(meeting=meetings[1], by=rep, text="   ")
    assert "text" in refused.value.message_dict


def test_private_notes_are_never_the_reps(
    meetings, manager, rep, rep2, outsider, other_manager, admin
):
    meeting_notes_save(
        meeting=meetings[0], by=manager, shared="Good week.", private="Needs a push."
    )

    assert OneOnOne.objects.get(pk=meetings[0].pk).shared_notes == "Good week."
    for person in (rep, rep2, outsider, other_manager):
        assert private_note_text(person, meetings[0]) is None
        assert not private_notes_visible_to(person).exists()
    assert private_note_text(admin, meetings[0]) == "Needs a push."
    assert PrivateNote.objects.count() == 1


def test_action_items_are_owned_by_one_of_the_two(meetings, manager, rep2):
    with pytest.raises(ValidationError) as refused:
        action_item_add(
            meeting=meetings[0], by=manager, owner=rep2, text="x", due_on=D("2026-03-10")
        )
    assert "owner" in refused.value.message_dict


def test_an_action_item_carries_over_until_done(series, meetings, manager, rep):
    item = action_item_add(
        meeting=meetings[0], by=manager, owner=rep, text="Send the proposal", due_on=D("2026-03-06")
    )
    third = OneOnOne.objects.create(series=series, scheduled_at=at("2026-03-18"))

    assert item in meeting_action_items(meetings[0])
    assert item in meeting_action_items(meetings[1])
    assert item in meeting_action_items(third)

    action_item_complete(item=item, by=rep)
    ActionItem.objects.filter(pk=item.pk).update(completed_at=at("2026-03-12"))

    assert item in meeting_action_items(meetings[1])  # still open at that meeting
    assert item not in meeting_action_items(third)  # done before this one
    assert item in meeting_action_items(meetings[0])  # agreed there


def test_completing_is_for_the_owner_and_the_managers(meetings, manager, rep, rep2):
    mine = action_item_add(
        meeting=meetings[0],
        by=manager,
        owner=manager,
        text="Approve discount",
        due_on=D("2026-03-10"),
    )
    with pytest.raises(PermissionDenied):
        action_item_complete(item=mine, by=rep2)
    with pytest.raises(PermissionDenied):
        action_item_complete(item=mine, by=rep)
    done = action_item_complete(item=mine, by=manager)
    again = action_item_complete(item=done, by=manager)
    assert (again.status, again.completed_at) == ("done", done.completed_at)


def test_due_and_overdue_items_of_their_owner(meetings, manager, rep):
    overdue = action_item_add(
        meeting=meetings[0], by=manager, owner=rep, text="Late", due_on=D("2026-03-05")
    )
    soon = action_item_add(
        meeting=meetings[0], by=manager, owner=rep, text="Soon", due_on=D("2026-03-12")
    )
    action_item_add(
        meeting=meetings[0], by=manager, owner=rep, text="Later", due_on=D("2026-04-30")
    )
    action_item_add(
        meeting=meetings[0], by=manager, owner=manager, text="The manager's", due_on=D("2026-03-05")
    )

    assert action_items_due(rep, today=D("2026-03-10")) == [overdue, soon]


def test_stopping_a_series_cancels_meetings_still_ahead(manager, rep):
    series = schedule(manager, rep, starts_on=D("2099-01-01"))
    series_stop(series=series, by=manager)
    assert list(series.meetings.values_list("status", flat=True)) == ["cancelled"]
    assert not OneOnOneSeries.objects.get(pk=series.pk).active


def test_visibility_follows_the_reporting_line(
    series, outsider_series, admin, manager, rep, rep2, other_manager, outsider
):
    def seen(user):
        return set(series_visible_to(user)), set(
            meetings_visible_to(user).values_list("series", flat=True)
        )

    assert seen(admin)[0] == {series, outsider_series}
    assert seen(manager)[0] == {series}
    assert seen(rep)[0] == {series}
    assert seen(rep2) == (set(), set())
    assert seen(other_manager)[0] == {outsider_series}
    assert seen(outsider)[0] == {outsider_series}
