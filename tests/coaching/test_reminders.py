"""The daily reminders: action items due or overdue and tomorrow's one-on-ones, per person, idempotent."""

import datetime

from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from coaching.models import MeetingStatus, Reminder
from coaching.selectors import meetings_tomorrow, reminders_of
from coaching.services import (
    action_item_add,
    action_item_complete,
    meeting_record,
    meetings_plan,
    series_schedule,
)
from coaching.tasks import daily_reminders
from tests.coaching.test_pages import signed_in

# The series fixture meets on Wednesdays: 4 March (held) and 11 March 2026 (scheduled).
DAY = datetime.date(2026, 3, 10)


def _world(meetings, manager, rep, rep2, other_manager, outsider):
    """Items due on DAY, overdue, done and later; and another team's meeting and item."""
    first = meetings[0]
    due = action_item_add(meeting=first, by=manager, owner=rep, text="Due today", due_on=DAY)
    overdue = action_item_add(
        meeting=first, by=manager, owner=rep, text="Overdue", due_on=datetime.date(2026, 3, 6)
    )
    done = action_item_add(
        meeting=first, by=manager, owner=rep, text="Done", due_on=datetime.date(2026, 3, 5)
    )
    action_item_complete(item=done, by=rep)
    action_item_add(
        meeting=first, by=manager, owner=rep, text="Later", due_on=datetime.date(2026, 3, 20)
    )
    mine = action_item_add(meeting=first, by=manager, owner=manager, text="Manager's", due_on=DAY)
    theirs = series_schedule(
        by=other_manager,
        rep=outsider,
        cadence="weekly",
        weekday=2,
        time=datetime.time(9),
        starts_on=datetime.date(2026, 3, 2),
    )
    outsider_meeting = meetings_plan(series=theirs, until=datetime.date(2026, 3, 11))[-1]
    outsider_item = action_item_add(
        meeting=outsider_meeting,
        by=other_manager,
        owner=outsider,
        text="Outsider's",
        due_on=DAY,
    )
    return {
        "due": due,
        "overdue": overdue,
        "mine": mine,
        "outsider_meeting": outsider_meeting,
        "outsider_item": outsider_item,
    }


def _rows() -> set[tuple]:
    return set(Reminder.objects.values_list("person_id", "day", "action_item_id", "meeting_id"))


def test_the_daily_run_lists_due_and_overdue_items_and_tomorrows_meetings_per_person(
    meetings, manager, rep, rep2, other_manager, outsider
):
    world = _world(meetings, manager, rep, rep2, other_manager, outsider)
    tomorrow = meetings[1]
    assert tomorrow.scheduled_at.date() == DAY + datetime.timedelta(days=1)

    assert daily_reminders(DAY.isoformat()) == 8
    assert _rows() == {
        (rep.pk, DAY, world["due"].pk, None),
        (rep.pk, DAY, world["overdue"].pk, None),
        (rep.pk, DAY, None, tomorrow.pk),
        (manager.pk, DAY, world["mine"].pk, None),
        (manager.pk, DAY, None, tomorrow.pk),
        (outsider.pk, DAY, world["outsider_item"].pk, None),
        (outsider.pk, DAY, None, world["outsider_meeting"].pk),
        (other_manager.pk, DAY, None, world["outsider_meeting"].pk),
    }
    assert reminders_of(rep2, day=DAY) == []


def test_running_the_day_twice_writes_the_same_rows(
    meetings, manager, rep, rep2, other_manager, outsider
):
    _world(meetings, manager, rep, rep2, other_manager, outsider)
    daily_reminders(DAY.isoformat())
    first = set(Reminder.objects.values_list("pk", "person_id", "action_item_id", "meeting_id"))
    daily_reminders(DAY.isoformat())
    assert (
        set(Reminder.objects.values_list("pk", "person_id", "action_item_id", "meeting_id"))
        == first
    )


def test_a_rerun_drops_what_is_no_longer_due(meetings, manager, rep, rep2, other_manager, outsider):
    world = _world(meetings, manager, rep, rep2, other_manager, outsider)
    daily_reminders(DAY.isoformat())
    action_item_complete(item=world["due"], by=rep)
    meeting_record(meeting=meetings[1], by=manager, status=MeetingStatus.CANCELLED)
    daily_reminders(DAY.isoformat())
    assert set(Reminder.objects.filter(person=rep).values_list("action_item_id", "meeting_id")) == {
        (world["overdue"].pk, None)
    }


def test_each_person_reads_only_their_own_reminders(
    meetings, manager, rep, rep2, other_manager, outsider
):
    world = _world(meetings, manager, rep, rep2, other_manager, outsider)
    daily_reminders(DAY.isoformat())
    assert {r.action_item_id for r in reminders_of(rep, day=DAY)} == {
        world["due"].pk,
        world["overdue"].pk,
        None,
    }
    assert [r.meeting_id for r in meetings_tomorrow(outsider, today=DAY)] == [
        world["outsider_meeting"].pk
    ]
    assert [r.meeting_id for r in meetings_tomorrow(rep, today=DAY)] == [meetings[1].pk]
    assert meetings_tomorrow(rep2, today=DAY) == []


def _tomorrows_series(manager, rep):
    today = timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    series = series_schedule(
        by=manager,
        rep=rep,
        cadence="weekly",
        weekday=tomorrow.weekday(),
        time=datetime.time(14, 30),
        starts_on=tomorrow,
    )
    return series.meetings.get()


def test_the_home_panel_shows_tomorrows_one_on_ones_to_both_people_only(
    client, manager, rep, rep2, other_manager, outsider
):
    meeting = _tomorrows_series(manager, rep)
    daily_reminders()
    link = reverse("one-on-one", args=[meeting.pk])

    signed_in(client, rep)
    panel = client.get(reverse("home-action-items")).content.decode()
    assert "Tomorrow&#x27;s one-on-ones" in panel or "Tomorrow's one-on-ones" in panel
    assert link in panel and "With Morgan Manager" in panel and "14:30" in panel

    signed_in(client, manager)
    panel = client.get(reverse("home-action-items")).content.decode()
    assert link in panel and "With Riley Rep" in panel

    for other in (rep2, outsider, other_manager):
        signed_in(client, other)
        panel = client.get(reverse("home-action-items")).content.decode()
        assert link not in panel and "No one-on-one tomorrow." in panel


def test_the_home_panel_reads_a_fixed_number_of_queries(
    client, manager, rep, django_assert_num_queries
):
    meeting = _tomorrows_series(manager, rep)
    for n in range(6):
        action_item_add(
            meeting=meeting,
            by=manager,
            owner=rep,
            text=f"Item {n}",
            due_on=timezone.localdate(),
        )
    daily_reminders()
    signed_in(client, rep)
    client.get(reverse("home-action-items"))
    # The session, the user, the items due and tomorrow's meetings.
    with django_assert_num_queries(4):
        panel = client.get(reverse("home-action-items")).content.decode()
    assert "Item 5" in panel and reverse("one-on-one", args=[meeting.pk]) in panel


def test_beat_writes_the_reminders_each_morning_and_sweeps_the_milestones(db):
    from django.conf import settings
    from django_celery_beat.schedulers import DatabaseScheduler

    from salesmgr.celery import app

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        DatabaseScheduler.Entry.from_entry(name, app=app, **entry)
    reminders = PeriodicTask.objects.get(task="coaching.daily_reminders")
    assert (reminders.crontab.hour, reminders.crontab.minute) == ("5", "0")
    sweep = PeriodicTask.objects.get(task="coaching.record_milestones")
    assert (sweep.interval.every, sweep.interval.period) == (900, "seconds")
    app.loader.import_default_modules()
    assert {"coaching.daily_reminders", "coaching.record_milestones"} <= set(app.tasks)


def test_old_days_are_dropped_and_other_recent_days_kept(
    meetings, manager, rep, rep2, other_manager, outsider
):
    _world(meetings, manager, rep, rep2, other_manager, outsider)
    long_ago = DAY - datetime.timedelta(days=40)
    last_week = DAY - datetime.timedelta(days=7)
    for day in (long_ago, last_week, DAY):
        daily_reminders(day.isoformat())
    assert set(Reminder.objects.values_list("day", flat=True)) == {last_week, DAY}
