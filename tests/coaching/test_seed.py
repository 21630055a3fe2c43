"""``seed_demo`` builds a believable, repeatable year of one-on-ones through ``seed_coaching``."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from coaching.models import ActionItem, OneOnOne, OneOnOneSeries, PrivateNote, TalkingPoint
from coaching.selectors import meeting_action_items
from salesmgr.models import User

pytestmark = pytest.mark.django_db
TODAY = "2026-01-15"


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--deals",
        "60",
        "--today",
        TODAY,
        "--no-progress",
        "--no-forecasts",
        *args,
        stdout=out,
    )
    return out.getvalue()


def fingerprint() -> list[tuple]:
    return list(
        OneOnOne.objects.order_by("series__rep__username", "scheduled_at").values_list(
            "series__rep__username", "scheduled_at", "status", "shared_notes"
        )
    )


def test_every_person_with_a_manager_gets_a_year_of_one_on_ones():
    output = seed()

    assert "One-on-ones:" in output
    people = User.objects.filter(manager__isnull=False)
    assert OneOnOneSeries.objects.count() == people.count()
    assert set(OneOnOneSeries.objects.values_list("rep", "manager")) == set(
        people.values_list("pk", "manager")
    )
    by_status = dict(OneOnOne.objects.values_list("status").annotate(n=Count("pk")))
    assert by_status["held"] > 5 * by_status["missed"] > 0
    assert by_status["scheduled"] >= people.count()  # the next meeting of each is planned
    today = datetime.date.fromisoformat(TODAY)
    assert not OneOnOne.objects.filter(status="held", scheduled_at__date__gte=today).exists()
    first = OneOnOne.objects.order_by("scheduled_at").first().scheduled_at.date()
    assert 358 <= (today - first).days <= 364
    assert PrivateNote.objects.exists() and TalkingPoint.objects.exists()
    assert not TalkingPoint.objects.filter(meeting__status="missed").exists()
    items = ActionItem.objects.aggregate(
        done=Count("pk", filter=Q(status="done")), open=Count("pk", filter=Q(status="open"))
    )
    assert items["done"] > items["open"] > 0
    assert not ActionItem.objects.filter(status="done", completed_at__date__gt=today).exists()


def test_open_items_carry_over_to_the_next_planned_meeting():
    seed()
    item = ActionItem.objects.filter(status="open").order_by("created_at").first()
    upcoming = (
        OneOnOne.objects.filter(series=item.meeting.series, status="scheduled")
        .order_by("scheduled_at")
        .first()
    )
    assert item in meeting_action_items(upcoming)


def test_the_same_seed_gives_the_same_one_on_ones_and_a_second_run_adds_none():
    seed()
    before = fingerprint()
    assert "already present" in seed()
    assert fingerprint() == before
    seed("--reset")
    assert fingerprint() == before
