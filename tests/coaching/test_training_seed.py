"""``seed_demo`` builds a believable, repeatable year of training through ``seed_coaching``."""

import datetime
import io
import time

import pytest
from django.core.management import call_command

from coaching.models import Assignment, Course, MentorMeeting, Mentorship, Onboarding
from coaching.training import Cell, training_matrix
from salesmgr.models import User

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 1, 15)


def seed() -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--deals",
        "60",
        "--today",
        TODAY.isoformat(),
        "--no-progress",
        "--no-forecasts",
        stdout=out,
    )
    return out.getvalue()


def fingerprint() -> list[tuple]:
    return list(
        Assignment.objects.order_by("person__username", "course__title", "assigned_on").values_list(
            "person__username",
            "course__title",
            "assigned_on",
            "due_on",
            "completed_on",
            "expires_on",
        )
    )


def test_the_demo_has_a_believable_year_of_training():
    started = time.monotonic()
    output = seed()
    assert "Training: 6 courses" in output
    assert Course.objects.filter(kind="certification").count() == 2
    admin = User.objects.get(username="admin")
    matrix = training_matrix(admin, today=TODAY)
    totals = matrix.totals
    assert totals[Cell.DONE] > 3 * (totals[Cell.OVERDUE] + totals[Cell.EXPIRING])
    assert totals[Cell.OVERDUE] >= 2
    assert totals[Cell.EXPIRING] >= 1
    assert totals[Cell.ASSIGNED] >= 10  # the demo course assigned three weeks ago
    assert (
        Mentorship.objects.count() == 2
        and Mentorship.objects.filter(ended_on__isnull=True).count() == 1
    )
    for pairing in Mentorship.objects.all():
        assert pairing.meetings.count() >= 3
    onboarding = Onboarding.objects.get()
    done = onboarding.progress.filter(done_on__isnull=False).count()
    assert 0 < done < onboarding.progress.count()
    assert time.monotonic() - started < 120


def test_the_same_seed_gives_the_same_training():
    seed()
    first = fingerprint()
    meetings = list(MentorMeeting.objects.order_by("held_on").values_list("held_on", "notes"))
    call_command(
        "seed_demo",
        "--reset",
        "--deals",
        "60",
        "--today",
        TODAY.isoformat(),
        "--no-progress",
        "--no-forecasts",
        stdout=io.StringIO(),
    )
    assert fingerprint() == first
    assert (
        list(MentorMeeting.objects.order_by("held_on").values_list("held_on", "notes")) == meetings
    )
