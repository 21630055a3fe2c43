"""``seed_demo`` gives every rep a believable, repeatable year of ride-alongs through ``seed_coaching``."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db.models import Avg, Count, F, Q

from coaching.models import RideAlong, SkillScore
from salesmgr.models import User

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 1, 15)


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--deals",
        "60",
        "--today",
        TODAY.isoformat(),
        "--no-progress",
        "--no-forecasts",
        *args,
        stdout=out,
    )
    return out.getvalue()


def fingerprint() -> list[tuple]:
    return list(
        # Two ride-alongs of a rep may fall on one day: the score breaks the tie.
        SkillScore.objects.order_by(
            "ride_along__rep__username", "ride_along__visited_on", "skill", "score"
        ).values_list("ride_along__rep__username", "ride_along__visited_on", "skill", "score")
    )


def test_every_rep_gets_a_year_of_ride_alongs_on_their_client_visits():
    output = seed()

    assert "Ride-alongs:" in output
    reps = User.objects.filter(role="rep", manager__isnull=False)
    per_rep = dict(RideAlong.objects.values_list("rep").annotate(n=Count("pk")))
    assert set(per_rep) == set(reps.values_list("pk", flat=True))
    assert all(6 <= n <= 26 for n in per_rep.values()), per_rep
    rides = RideAlong.objects.all()
    assert not rides.exclude(manager=F("rep__manager")).exists()
    assert not rides.filter(visited_on__gte=TODAY).exists()
    assert rides.filter(visited_on__lt=TODAY - datetime.timedelta(days=300)).exists()
    # Every ride-along is on the rep's own client visit, that day, at its account.
    assert (
        rides.filter(activity__kind="client_visit", activity__author=F("rep")).count()
        == rides.count()
    )
    assert not rides.exclude(activity__account=F("account")).exists()
    assert not rides.filter(deal__isnull=False).exclude(deal__account=F("account")).exists()
    scores = SkillScore.objects.aggregate(
        low=Count("pk", filter=Q(score__lte=2)), high=Count("pk", filter=Q(score__gte=4))
    )
    assert scores["low"] > 0 and scores["high"] > 0


def test_some_reps_improve_after_coaching():
    seed()
    half = TODAY - datetime.timedelta(days=182)
    halves = SkillScore.objects.values("ride_along__rep").annotate(
        before=Avg("score", filter=Q(ride_along__visited_on__lt=half)),
        after=Avg("score", filter=Q(ride_along__visited_on__gte=half)),
    )
    improved = [row for row in halves if row["after"] - row["before"] >= 0.5]
    assert improved and len(improved) < len(halves)


def test_the_same_seed_gives_the_same_ride_alongs_and_a_second_run_adds_none():
    seed()
    before = fingerprint()
    assert "already present" in seed()
    out = io.StringIO()
    call_command("seed_coaching", "--today", TODAY.isoformat(), stdout=out)
    assert "Ride-alongs already present." in out.getvalue()
    assert fingerprint() == before
    seed("--reset")
    assert fingerprint() == before
