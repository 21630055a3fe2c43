"""Hiring for the demo organisation: two open positions with applicants in every stage, through the services.

The first two managers (by username) each have an account-executive position opening next month (the second one the month after) in
a territory they own, with six applicants: two applied, one at the screen, one interviewed (with the
manager's note and scorecard), one with an offer, one rejected with a reason. Idempotent: nothing
is written when positions exist. Deterministic: a seeded generator picks names and ratings.
"""

import datetime
import random

from coaching.hiring_capacity import month_starts
from coaching.models import Competency, Position
from coaching.services.hiring import (
    applicant_add,
    applicant_move,
    interview_note_add,
    position_create,
    scorecard_record,
)
from quotas.models import Territory
from salesmgr.models import Role, User

FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Casey",
    "Taylor",
    "Morgan",
    "Jamie",
    "Robin",
    "Drew",
    "Avery",
    "Quinn",
    "Reese",
]
LAST = [
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Kowalski",
    "Silva",
    "Haddad",
    "Larsen",
    "Moreau",
    "Tanaka",
]
SOURCES = ["Referral", "Job board", "LinkedIn", "Careers page", "Agency"]
# Each position's applicants: the stage they reach, and a rejection reason where rejected.
STAGES = [
    ("applied", ""),
    ("applied", ""),
    ("screen", ""),
    ("interview", ""),
    ("offer", ""),
    ("rejected", "compensation"),
]
NOTES = [
    "Clear, structured discovery in the role-play; asked good follow-up questions.",
    "Strong closer in their last role; wants a larger territory within a year.",
    "Quiet start but warmed up; handled the pricing objection well.",
]


def seed_hiring(*, seed: int = 7, today: datetime.date) -> str:
    """Write the demo's positions and applicants; say what was written."""
    if Position.objects.exists():
        return "Hiring: positions already present."
    rng = random.Random(seed)
    managers = list(User.objects.filter(role=Role.MANAGER, is_active=True).order_by("username")[:2])
    starts = month_starts(today.replace(day=1), 3)[1:]
    names = iter(
        rng.sample([f"{f} {last}" for f in FIRST for last in LAST], len(STAGES) * len(managers))
    )
    applicants = 0
    for manager, start in zip(managers, starts, strict=False):
        territory = Territory.objects.filter(owner=manager).order_by("name").first()
        position = position_create(
            by=manager,
            title="Account executive",
            start_wanted=start,
            territory=territory,
        )
        for stage, reason in STAGES:
            name = next(names)
            applicant = applicant_add(
                by=manager,
                position=position,
                full_name=name,
                email=f"{name.lower().replace(' ', '.')}@example.net",
                source=rng.choice(SOURCES),
            )
            applicants += 1
            path = {"screen": ["screen"], "interview": ["screen", "interview"],
                    "offer": ["screen", "interview", "offer"], "rejected": ["screen", "rejected"]}  # fmt: skip
            for step in path.get(stage, []):
                if step == "interview":
                    interview_note_add(by=manager, applicant=applicant, text=rng.choice(NOTES))
                if step == "offer":
                    scorecard_record(
                        by=manager,
                        applicant=applicant,
                        recommendation=rng.choice(["strong_yes", "yes"]),
                        ratings={c: rng.randint(3, 5) for c in Competency.values},
                        summary="Good across the board; references to check.",
                    )
                applicant = applicant_move(
                    by=manager,
                    applicant=applicant,
                    stage=step,
                    rejection_reason=reason if step == "rejected" else "",
                ).applicant
    return f"Hiring: {len(managers)} open positions, {applicants} applicants."
