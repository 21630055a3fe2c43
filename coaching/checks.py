"""The rules of the one-on-ones, as pure checks: each returns ``{field: message}`` and writes nothing.

The services call them before every write; pages and the API show the same
wording.
"""

import datetime

from coaching.models import Cadence, OneOnOne, OneOnOneSeries, Weekday
from salesmgr.models import User
from salesmgr.selectors import ancestor_ids

Errors = dict[str, str]
TEXT_MAX = 500


def text_errors(text: str, field: str = "text") -> Errors:
    """A talking point's or an action item's text: given, and at most ``TEXT_MAX`` characters."""
    if not text or not text.strip():
        return {field: "Write something."}
    if len(text) > TEXT_MAX:
        return {field: f"Keep it to {TEXT_MAX} characters."}
    return {}


def series_errors(
    *,
    by: User,
    manager: User | None,
    rep: User | None,
    cadence: str,
    weekday: int,
    time: datetime.time | None,
    starts_on: datetime.date | None,
) -> Errors:
    """Whether ``by`` may schedule a series between ``manager`` and ``rep`` with these values.

    The manager is someone above the rep in the reporting line; a manager
    schedules their own one-on-ones, an admin anyone's.
    """
    errors: Errors = {}
    if rep is None:
        errors["rep"] = "Choose the rep."
    if manager is None:
        errors["manager"] = "Choose the manager."
    if rep is not None and manager is not None:
        if rep.pk == manager.pk:
            errors["rep"] = "A one-on-one needs two people."
        elif not rep.is_active:
            errors["rep"] = "This person's account is inactive."
        elif manager.pk not in ancestor_ids(rep.pk):
            errors["rep"] = "This person is not in the manager's team."
        elif not by.is_admin and manager.pk != by.pk:
            errors["manager"] = "You schedule your own one-on-ones only."
    if cadence not in Cadence.values:
        errors["cadence"] = "Choose weekly or fortnightly."
    if weekday not in Weekday.values:
        errors["weekday"] = "Choose a day of the week."
    if time is None:
        errors["time"] = "Give a time of day."
    if starts_on is None:
        errors["starts_on"] = "Give the first day."
    return errors


def series_active_clash(
    *, manager: User, rep: User, series: OneOnOneSeries | None = None
) -> Errors:
    """An active series between the two already exists (one query)."""
    others = OneOnOneSeries.objects.filter(manager=manager, rep=rep, active=True)
    if series is not None:
        others = others.exclude(pk=series.pk)
    if others.exists():
        return {"rep": "This rep already has an active one-on-one with this manager."}
    return {}


def action_item_errors(
    *, meeting: OneOnOne, owner: User | None, text: str, due_on: datetime.date | None
) -> Errors:
    """An action item is owned by one of the meeting's two people, says something and has a due date."""
    errors = text_errors(text)
    series = meeting.series
    if owner is None:
        errors["owner"] = "Choose who owns it."
    elif owner.pk not in (series.manager_id, series.rep_id):
        errors["owner"] = "The owner is the rep or the manager of this one-on-one."
    if due_on is None:
        errors["due_on"] = "Give a due date."
    elif due_on < meeting.scheduled_at.date() - datetime.timedelta(days=1):
        errors["due_on"] = "The due date is before the meeting."
    return errors


SHOUT_OUT_MAX = 280


def shout_out_errors(*, by: User, rep: User | None, message: str) -> Errors:
    """A shout-out goes from an admin, or a manager to someone in their team, and says something short."""
    errors: Errors = {}
    if not message or not message.strip():
        errors["message"] = "Write something."
    elif len(message) > SHOUT_OUT_MAX:
        errors["message"] = f"Keep it to {SHOUT_OUT_MAX} characters."
    if rep is None:
        errors["rep"] = "Choose the rep."
    elif rep.pk == by.pk:
        errors["rep"] = "A shout-out goes to someone else."
    elif not by.is_admin and by.pk not in ancestor_ids(rep.pk):
        errors["rep"] = "This person is not in your team."
    return errors
