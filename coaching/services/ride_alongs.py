"""Writes of the ride-alongs: recording a client visit a manager joined, with its scorecard.

Each service checks who may act (through ``coaching.ride_alongs``) and the rules
(``coaching.ride_along_checks``) before it writes; a refusal writes nothing.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coaching.models import RideAlong, SkillScore
from coaching.ride_along_checks import (
    ScoreLine,
    people_errors,
    scorecard_errors,
    visit_errors,
)
from coaching.ride_alongs import ride_alongs_managed_by
from pipeline.models import Account, Activity, ActivityKind, Deal
from pipeline.services import activity_log
from salesmgr.errors import PermissionDenied
from salesmgr.models import User

NOT_YOURS = "Only the rep's managers and admins change this ride-along."
UPDATABLE = ("visited_on", "account", "deal", "activity", "observations", "scores")
# A visit logged for a ride-along without one is put at midday of its day.
VISIT_HOUR = 12


def _visit_logged(
    *, rep: User, manager: User, visited_on: datetime.date, account: Account, deal: Deal | None
) -> Activity:
    """The rep's client visit, logged through the pipeline so the account's and deal's timelines show it."""
    return activity_log(
        by=rep,
        kind=ActivityKind.CLIENT_VISIT,
        subject=f"Client visit with {manager.display_name}",
        body="Ride-along: the manager joined this visit.",
        occurred_at=timezone.make_aware(
            datetime.datetime.combine(visited_on, datetime.time(VISIT_HOUR))
        ),
        deal=deal,
        account=account,
    )


def _scores_written(ride_along: RideAlong, scores: list[ScoreLine]) -> None:
    SkillScore.objects.bulk_create(
        SkillScore(
            ride_along=ride_along,
            skill=line.skill,
            score=line.score,
            note=(line.note or "").strip(),
        )
        for line in scores
    )


@transaction.atomic
def ride_along_record(
    *,
    by: User,
    rep: User | None,
    visited_on: datetime.date | None,
    account: Account | None,
    deal: Deal | None = None,
    activity: Activity | None = None,
    observations: str = "",
    scores: list[ScoreLine] = (),
    manager: User | None = None,
) -> RideAlong:
    """Record that ``manager`` (default: ``by`` if a manager, else the rep's manager) joined ``rep`` on a
    client visit, with observations and a scorecard, in one transaction.

    Without ``activity`` the rep's client visit is logged on the account (and
    deal) through the pipeline's activity service.
    """
    if manager is None:
        manager = by if by.is_manager else (rep.manager if rep is not None else None)
    scores = list(scores)
    errors = people_errors(by=by, manager=manager, rep=rep)
    if not errors:
        errors = visit_errors(
            by=by,
            rep=rep,
            visited_on=visited_on,
            account=account,
            deal=deal,
            activity=activity,
            observations=observations,
        )
    errors |= scorecard_errors(scores)
    if errors:
        raise ValidationError(errors)
    if activity is None:
        activity = _visit_logged(
            rep=rep, manager=manager, visited_on=visited_on, account=account, deal=deal
        )
    now = timezone.now()
    ride_along = RideAlong.objects.create(
        manager=manager,
        rep=rep,
        visited_on=visited_on,
        account=account,
        deal=deal,
        activity=activity,
        observations=observations.strip(),
        created_at=now,
        updated_at=now,
    )
    _scores_written(ride_along, scores)
    return ride_along


@transaction.atomic
def ride_along_update(*, ride_along: RideAlong, by: User, **changes) -> RideAlong:
    """Correct a ride-along: its day, account, deal, visit, observations, or its whole scorecard
    (``scores`` replaces every line). The two people stay; ``activity=None`` logs the visit anew."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"Cannot change {', '.join(sorted(unknown))}.")
    if not ride_alongs_managed_by(by).filter(pk=ride_along.pk).exists():
        raise PermissionDenied(NOT_YOURS)
    ride_along = RideAlong.objects.select_for_update().get(pk=ride_along.pk)
    state = {field: getattr(ride_along, field) for field in UPDATABLE if field != "scores"}
    state |= {field: value for field, value in changes.items() if field != "scores"}
    errors = visit_errors(by=by, rep=ride_along.rep, **state)
    if "scores" in changes:
        changes["scores"] = list(changes["scores"])
        errors |= scorecard_errors(changes["scores"])
    if errors:
        raise ValidationError(errors)
    if "activity" in changes and changes["activity"] is None:
        changes["activity"] = _visit_logged(
            rep=ride_along.rep,
            manager=ride_along.manager,
            visited_on=state["visited_on"],
            account=state["account"],
            deal=state["deal"],
        )
    fields = [field for field in changes if field != "scores"]
    for field in fields:
        value = changes[field]
        setattr(ride_along, field, value.strip() if field == "observations" else value)
    ride_along.updated_at = timezone.now()
    ride_along.save(update_fields=[*fields, "updated_at"])
    if "scores" in changes:
        ride_along.scores.all().delete()
        _scores_written(ride_along, changes["scores"])
    return ride_along


@transaction.atomic
def ride_along_delete(*, ride_along: RideAlong, by: User) -> None:
    """Delete a ride-along and its scorecard; the client visit stays on the timeline (it happened)."""
    if not ride_alongs_managed_by(by).filter(pk=ride_along.pk).exists():
        raise PermissionDenied(NOT_YOURS)
    ride_along.delete()


def demo_ride_alongs_create(*, plans: list) -> int:
    """Store planned ride-alongs (``coaching.demo_ride_alongs``) with their scorecards as of their own days,
    logging through the pipeline the client visits the plans lack; returns how many.

    Only ``seed_coaching`` calls it, on the demo's people: the plans were drawn
    within the rules the services enforce.
    """
    with transaction.atomic():
        people = User.objects.in_bulk(
            {plan.rep_id for plan in plans} | {p.manager_id for p in plans}
        )
        accounts = Account.objects.in_bulk({plan.account_id for plan in plans})
        deals = Deal.objects.in_bulk({plan.deal_id for plan in plans if plan.deal_id})
        activity_ids = []
        for plan in plans:
            if plan.activity_id is not None:
                activity_ids.append(plan.activity_id)
                continue
            visit = _visit_logged(
                rep=people[plan.rep_id],
                manager=people[plan.manager_id],
                visited_on=plan.visited_on,
                account=accounts[plan.account_id],
                deal=deals.get(plan.deal_id),
            )
            activity_ids.append(visit.pk)
        rides = RideAlong.objects.bulk_create(
            RideAlong(
                manager_id=plan.manager_id,
                rep_id=plan.rep_id,
                visited_on=plan.visited_on,
                account_id=plan.account_id,
                deal_id=plan.deal_id,
                activity_id=activity_id,
                observations=plan.observations,
                created_at=_evening(plan.visited_on),
                updated_at=_evening(plan.visited_on),
            )
            for plan, activity_id in zip(plans, activity_ids, strict=True)
        )
        SkillScore.objects.bulk_create(
            SkillScore(ride_along=ride, skill=skill, score=score, note=note)
            for ride, plan in zip(rides, plans, strict=True)
            for skill, score, note in plan.scores
        )
    return len(rides)


def _evening(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(18)))
