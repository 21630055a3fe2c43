"""The rules of a ride-along, as pure checks: each returns ``{field: message}`` and writes nothing.

The services call them before every write; the page's form and the API show
the same wording.
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from coaching.skills import SCORE_MAX, SCORE_MIN, Skill
from pipeline.models import Account, Activity, ActivityKind, Deal
from pipeline.selectors import accounts_visible_to, activities_visible_to, deals_visible_to
from salesmgr.models import User
from salesmgr.selectors import ancestor_ids

Errors = dict[str, str]
OBSERVATIONS_MAX = 20_000
NOTE_MAX = 500


@dataclass(frozen=True)
class ScoreLine:
    """One line of a scorecard as given: a skill, its score and an optional note."""

    skill: str
    score: int | None
    note: str = ""


def scorecard_errors(scores: list[ScoreLine]) -> Errors:
    """Each skill is a known one, scored at most once, from 1 to 5, with a note of at most 500 characters."""
    labels = dict(Skill.choices)
    problems: list[str] = []
    seen: set[str] = set()
    for line in scores:
        if line.skill not in labels:
            problems.append(f"Unknown skill {line.skill!r}; use one of {', '.join(Skill.values)}.")
            continue
        label = labels[line.skill]
        if line.skill in seen:
            problems.append(f"{label} is scored more than once.")
        seen.add(line.skill)
        if (
            isinstance(line.score, bool)
            or not isinstance(line.score, int)
            or not SCORE_MIN <= line.score <= SCORE_MAX
        ):
            problems.append(f"{label}: give a score from {SCORE_MIN} to {SCORE_MAX}.")
        if len(line.note or "") > NOTE_MAX:
            problems.append(f"{label}: keep the note to {NOTE_MAX} characters.")
    return {"scores": " ".join(problems)} if problems else {}


def people_errors(*, by: User, manager: User | None, rep: User | None) -> Errors:
    """The manager is above the rep in the reporting line; a manager records their own ride-alongs, an admin anyone's."""
    errors: Errors = {}
    if rep is None:
        return {"rep": "Choose the rep."}
    if manager is None:
        return {"manager": "Choose the manager who joined the visit."}
    if rep.pk == manager.pk:
        errors["rep"] = "A ride-along needs two people."
    elif not rep.is_active:
        errors["rep"] = "This person's account is inactive."
    elif manager.pk not in ancestor_ids(rep.pk):
        errors["rep"] = "This person is not in the manager's team."
    elif not by.is_admin and manager.pk != by.pk:
        errors["manager"] = "You record your own ride-alongs only."
    return errors


def visit_errors(
    *,
    by: User,
    rep: User,
    visited_on: datetime.date | None,
    account: Account | None,
    deal: Deal | None,
    activity: Activity | None,
    observations: str,
) -> Errors:
    """The visit: a day not in the future, an account ``by`` may see, a deal of that account, and a
    client visit of the rep on that account (and deal) on that day, visible to ``by``."""
    errors: Errors = {}
    if visited_on is None:
        errors["visited_on"] = "Give the day of the visit."
    elif visited_on > timezone.localdate():
        errors["visited_on"] = "The visit is in the future; record it once it has happened."
    if len(observations or "") > OBSERVATIONS_MAX:
        errors["observations"] = f"Keep the observations to {OBSERVATIONS_MAX:,} characters."
    if account is None:
        errors["account"] = "Choose the account visited."
        return errors
    if account.deleted_at is not None or not accounts_visible_to(by).filter(pk=account.pk).exists():
        errors["account"] = "No such account within your reach."
        return errors
    if deal is not None:
        if deal.deleted_at is not None or not deals_visible_to(by).filter(pk=deal.pk).exists():
            errors["deal"] = "No such deal within your reach."
        elif deal.account_id != account.pk:
            errors["deal"] = "The deal belongs to another account."
    if activity is not None:
        if not activities_visible_to(by).filter(pk=activity.pk).exists():
            errors["activity"] = "No such activity within your reach."
        elif activity.kind != ActivityKind.CLIENT_VISIT:
            errors["activity"] = "The activity is not a client visit."
        elif activity.author_id != rep.pk:
            errors["activity"] = "The visit was logged by someone other than the rep."
        elif activity.account_id != account.pk:
            errors["activity"] = "The visit is on another account."
        elif deal is not None and activity.deal_id not in (None, deal.pk):
            errors["activity"] = "The visit is on another deal."
        elif visited_on is not None and timezone.localdate(activity.occurred_at) != visited_on:
            errors["activity"] = (
                f"The visit took place on {timezone.localdate(activity.occurred_at):%d %b %Y}, "
                "not on the day given."
            )
    return errors
