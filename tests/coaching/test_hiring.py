"""Hiring's services: positions, applicant moves, rejection reasons, notes, scorecards and the hire."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from coaching.models import Applicant, Onboarding, Position
from coaching.services import (
    applicant_add,
    applicant_hire,
    applicant_move,
    interview_note_add,
    position_create,
    position_update,
    scorecard_record,
)
from coaching.services.hiring import ramped_targets
from quotas.models import Quota
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import AuditEvent, User
from tests.coaching.hiring_world import WORD

pytestmark = pytest.mark.django_db


def test_hiring_makes_the_rep_with_onboarding_and_ramped_quota(
    applicants, position, manager, north
):
    offer = applicants["offer"]
    result = applicant_move(by=manager, applicant=offer, stage="hired")
    hire = result.hire
    user = hire.user
    assert user.role == "rep" and user.manager == manager and user.full_name == "Olga Offer"
    assert user.check_password(hire.temporary_password)
    assert north.reps.filter(pk=user.pk).exists()
    # The team's standard quota is 10,000: 2,500, 5,000, 7,500, then 10,000 for the rest of a year.
    targets = list(
        Quota.objects.filter(owner=user).order_by("period_start").values_list("target", flat=True)
    )
    assert targets == [Decimal(v) for v in ("2500", "5000", "7500")] + [Decimal("10000")] * 9
    first = Quota.objects.filter(owner=user).order_by("period_start").first()
    assert first.period_start == position.start_wanted.replace(day=1)
    onboarding = Onboarding.objects.get(person=user)
    assert onboarding.progress.count() == 5  # the default checklist
    position.refresh_from_db()
    assert position.status == "filled" and position.filled_by == user
    offer.refresh_from_db()
    assert offer.stage == "hired" and offer.hired_user == user
    # The audit log records the new person, and nothing of the interview notes.
    events = list(AuditEvent.objects.values_list("details", flat=True))
    assert events and WORD not in str(events)


def test_a_position_quota_and_ramp_override_the_team_standard(applicants, position, manager):
    position.monthly_quota = Decimal("8000")
    position_update(position=position, by=manager, monthly_quota=Decimal("8000"), ramp="50,100")
    hire = applicant_hire(by=manager, applicant=applicants["applied"])
    targets = list(
        Quota.objects.filter(owner=hire.user)
        .order_by("period_start")
        .values_list("target", flat=True)
    )
    assert targets[:3] == [Decimal("4000"), Decimal("8000"), Decimal("8000")]


def test_ramped_targets():
    assert ramped_targets(Decimal("1000"), [25, 50], months=4) == [
        Decimal("250.00"), Decimal("500.00"), Decimal("1000.00"), Decimal("1000.00")
    ]  # fmt: skip


def test_a_failed_hire_writes_nothing(applicants, position, manager, rep, rep2):
    Quota.objects.filter(owner__in=[rep, rep2]).delete()  # no standard to take
    users = User.objects.count()
    with pytest.raises(ValidationError) as refusal:
        applicant_move(by=manager, applicant=applicants["offer"], stage="hired")
    assert "monthly_quota" in refusal.value.message_dict
    assert User.objects.count() == users
    position.refresh_from_db()
    assert position.status == "open"
    assert Applicant.objects.get(pk=applicants["offer"].pk).stage == "offer"


def test_a_position_is_filled_once(applicants, manager):
    applicant_hire(by=manager, applicant=applicants["offer"])
    with pytest.raises(ValidationError) as refusal:
        applicant_hire(by=manager, applicant=applicants["applied"])
    assert "position" in refusal.value.message_dict


def test_rejecting_needs_a_reason(applicants, manager):
    with pytest.raises(ValidationError) as refusal:
        applicant_move(by=manager, applicant=applicants["applied"], stage="rejected")
    assert "rejection_reason" in refusal.value.message_dict
    moved = applicant_move(
        by=manager, applicant=applicants["applied"], stage="rejected", rejection_reason="withdrew"
    ).applicant
    assert moved.stage == "rejected" and moved.rejection_reason == "withdrew"
    back = applicant_move(by=manager, applicant=moved, stage="screen").applicant
    assert back.rejection_reason == ""


def test_a_stale_version_is_a_conflict(applicants, manager):
    applicant = applicants["applied"]
    with pytest.raises(ConflictError):
        applicant_move(by=manager, applicant=applicant, stage="screen", expected_version=99)


@pytest.mark.parametrize("who", ["rep", "other_manager", "outsider"])
def test_only_the_hiring_manager_and_admins_write(applicants, position, request, who):
    user = request.getfixturevalue(who)
    applicant = applicants["applied"]
    for attempt in (
        lambda: applicant_move(by=user, applicant=applicant, stage="screen"),
        lambda: applicant_hire(by=user, applicant=applicant),
        lambda: interview_note_add(by=user, applicant=applicant, text="x"),
        lambda: scorecard_record(
            by=user, applicant=applicant, recommendation="yes", ratings={"closing": 3}
        ),
        lambda: applicant_add(by=user, position=position, full_name="X"),
        lambda: position_update(position=position, by=user, title="X"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()


def test_admins_run_any_position(applicants, admin):
    hire = applicant_hire(by=admin, applicant=applicants["interview"])
    assert hire.user.manager.username == "manager"


def test_scorecards_refuse_bad_ratings(applicants, manager):
    applicant = applicants["applied"]
    for ratings, field in (
        ({}, "ratings"),
        ({"closing": 6}, "ratings"),
        ({"juggling": 3}, "ratings"),
    ):
        with pytest.raises(ValidationError) as refusal:
            scorecard_record(by=manager, applicant=applicant, recommendation="yes", ratings=ratings)
        assert field in refusal.value.message_dict
    with pytest.raises(ValidationError) as refusal:
        scorecard_record(
            by=manager, applicant=applicant, recommendation="maybe", ratings={"closing": 3}
        )
    assert "recommendation" in refusal.value.message_dict


def test_positions_refuse_bad_input(manager, other_manager, rep):
    with pytest.raises(ValidationError) as refusal:
        position_create(by=manager, title="", start_wanted=None, ramp="50,25")
    assert set(refusal.value.message_dict) >= {"title", "start_wanted", "ramp"}
    with pytest.raises(ValidationError) as refusal:
        position_create(
            by=manager, title="AE", manager=other_manager, start_wanted=timezone.localdate()
        )
    assert "manager" in refusal.value.message_dict
    with pytest.raises(PermissionDenied):
        position_create(by=rep, title="AE", start_wanted=timezone.localdate())
    assert not Position.objects.exists()


def test_a_filled_position_stays_filled(applicants, position, manager):
    applicant_hire(by=manager, applicant=applicants["offer"])
    position.refresh_from_db()
    with pytest.raises(ValidationError):
        position_update(position=position, by=manager, status="open")


def test_a_position_is_not_filled_by_hand(position, manager):
    with pytest.raises(ValidationError) as refusal:
        position_update(position=position, by=manager, status="filled")
    assert "status" in refusal.value.message_dict


def test_a_hire_start_far_off_is_refused(applicants, manager):
    with pytest.raises(ValidationError) as refusal:
        applicant_hire(
            by=manager,
            applicant=applicants["offer"],
            start_on=timezone.localdate() + datetime.timedelta(days=400),
        )
    assert "start_on" in refusal.value.message_dict
