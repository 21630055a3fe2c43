"""``seed_demo`` (through ``seed_coaching``) opens two positions with applicants in every stage."""

import datetime
import io

import pytest
from django.core.management import call_command

from coaching.hiring import board_columns, positions_visible_to
from coaching.models import Applicant, InterviewNote, Position, Scorecard
from salesmgr.models import User

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 1, 15)


def test_the_demo_has_two_open_positions_with_applicants_in_every_stage():
    out = io.StringIO()
    call_command(
        "seed_demo", "--deals", "60", "--today", TODAY.isoformat(), "--no-progress", "--no-forecasts",
        stdout=out,
    )  # fmt: skip
    assert "Hiring: 2 open positions, 12 applicants." in out.getvalue()
    assert Position.objects.filter(status="open").count() == 2
    assert {p.start_wanted for p in Position.objects.all()} == {
        datetime.date(2026, 2, 1), datetime.date(2026, 3, 1)
    }  # fmt: skip
    stages = set(Applicant.objects.values_list("stage", flat=True))
    assert stages == {"applied", "screen", "interview", "offer", "rejected"}
    assert not Applicant.objects.filter(stage="rejected", rejection_reason="").exists()
    assert InterviewNote.objects.count() == 4 and Scorecard.objects.count() == 2
    # Each position is its manager's: a manager's board shows their six applicants.
    manager = Position.objects.order_by("pk").first().manager
    columns = board_columns(Applicant.objects.filter(position__in=positions_visible_to(manager)))
    assert sum(c.count for c in columns) == 6
    assert User.objects.filter(hired_as__isnull=False).count() == 0
