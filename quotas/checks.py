"""Rules for territories and quotas: each check returns the errors it finds and writes nothing."""

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db.models import Q

from quotas.models import HandoverRule, Quota, QuotaPeriod, TargetBasis, Territory
from quotas.selectors import territory_subtree_ids_subquery
from salesmgr.models import Role, User

TERRITORY_INSIDE_ITSELF = "A territory cannot sit inside itself."
TERRITORY_HAS_CHILDREN = "Move or delete the territories inside it first."
PERIOD_BACKWARDS = "The period ends before it starts."
NEGATIVE_TARGET = "A quota target cannot be negative."
NOT_A_MANAGER = "Only a manager has a team target to set."
UNKNOWN_BASIS = "Choose the roll-up of the team's quotas or the manager's own quota."
OWNER_NOT_MANAGER = "The owner of a territory is a manager."
MEMBER_NOT_REP = "Only reps can be members of a territory: {name} is not a rep."
NAMED_REP_NOT_MEMBER = "The named rep must be one of the territory's members."
NAMED_REP_MISSING = "Name the rep who receives the territory's accounts."


def territory_members_errors(*, reps: Iterable[User]) -> dict[str, list[str]]:
    """A territory's members are reps."""
    wrong = [MEMBER_NOT_REP.format(name=rep) for rep in reps if rep.role != Role.REP]
    return {"reps": wrong} if wrong else {}


def territory_staff_errors(
    *, owner: User | None, reps: Iterable[User], handover_rule: str, named_rep: User | None
) -> dict[str, list[str]]:
    """What refuses a territory's staffing: an owner who is not a manager, a member who is not a rep,
    or a named-rep handover without a named rep among the members."""
    reps = list(reps)
    errors = territory_members_errors(reps=reps)
    if owner is not None and owner.role != Role.MANAGER:
        errors["owner"] = [OWNER_NOT_MANAGER]
    if handover_rule == HandoverRule.NAMED_REP and named_rep is None:
        errors["named_rep"] = [NAMED_REP_MISSING]
    elif named_rep is not None and named_rep.pk not in {rep.pk for rep in reps}:
        errors["named_rep"] = [NAMED_REP_NOT_MEMBER]
    return errors


def territory_parent_errors(*, territory: Territory, parent: Territory | None) -> dict[str, str]:
    """What refuses putting ``territory`` under ``parent``: the tree never loops."""
    if parent is None or territory.pk is None:
        return {}
    inside = Territory.objects.filter(
        pk__in=territory_subtree_ids_subquery(territory.pk), pk=parent.pk
    )
    return {"parent": TERRITORY_INSIDE_ITSELF} if inside.exists() else {}


def territory_delete_errors(*, territory: Territory) -> dict[str, str]:
    """What refuses deleting ``territory``: the territories inside it."""
    return {"detail": TERRITORY_HAS_CHILDREN} if territory.children.exists() else {}


def quota_errors(
    *,
    owner: User,
    period_start: datetime.date,
    period_end: datetime.date,
    target: Decimal,
    quota: Quota | None = None,
) -> dict[str, str]:
    """What refuses a quota: a backwards period, a negative target, or an overlap with another of the owner's."""
    if period_end < period_start:
        return {"period_end": PERIOD_BACKWARDS}
    if target < 0:
        return {"target": NEGATIVE_TARGET}
    overlapping = Quota.objects.filter(
        owner=owner, period_start__lte=period_end, period_end__gte=period_start
    )
    if quota is not None and quota.pk:
        overlapping = overlapping.exclude(pk=quota.pk)
    clash = overlapping.first()
    if clash is None:
        return {}
    return {
        "period_start": quota_overlap_message(
            owner=owner, period_start=clash.period_start, period_end=clash.period_end
        )
    }


def manager_target_errors(*, manager: User, basis: str) -> dict[str, str]:
    """What refuses a manager's choice of target: a person who is no manager, or an unknown basis."""
    if manager.role != Role.MANAGER:
        return {"manager": NOT_A_MANAGER}
    if basis not in TargetBasis.values:
        return {"basis": UNKNOWN_BASIS}
    return {}


def quota_overlap_message(
    *, owner: User, period_start: datetime.date, period_end: datetime.date, row: int | None = None
) -> str:
    """The one wording of a refused overlap, naming the quota already there (or the upload's row giving it)."""
    where = "" if row is None else f" (row {row} of this upload)"
    return (
        f"{owner} already has a quota for {period_start:%Y-%m-%d} to "
        f"{period_end:%Y-%m-%d}{where}, which overlaps this period."
    )


# Uploads: many quotas at once (a CSV, the API's bulk, the planner's copy and spread).

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
OWNER_MISSING = "Give the owner's username or e-mail."
START_INVALID = "Give the first day as YYYY-MM-DD."
END_INVALID = "Give the last day as YYYY-MM-DD."
END_OR_KIND = "Give the last day (period_end) or the period (month, quarter or year)."
PERIOD_UNKNOWN = "The period is month, quarter or year."
TARGET_INVALID = "Give the target as a number such as 12500.00."
TARGET_TOO_LARGE = "A target has at most 12 digits before the point and 2 after."


@dataclass(frozen=True)
class QuotaRow:
    """One valid row of an upload: a quota to write (``replaces`` the owner's quota over exactly that period)."""

    number: int
    owner: User
    period: str
    period_start: datetime.date
    period_end: datetime.date
    target: Decimal
    replaces: Quota | None


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


def _date(value) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def period_end_of(kind: str, start: datetime.date) -> datetime.date:
    """The last day of a month, quarter or year starting on ``start``."""
    index = start.month - 1 + PERIOD_MONTHS[kind]
    following = datetime.date(start.year + index // 12, index % 12 + 1, 1)
    if start.day != 1:
        following = following.replace(day=min(start.day, 28))
    return following - datetime.timedelta(days=1)


def parse_target(value) -> tuple[Decimal | None, str | None]:
    """A target as typed (``"12,500.00"``): the amount, or why it is refused."""
    try:
        target = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None, TARGET_INVALID
    if not target.is_finite():
        return None, TARGET_INVALID
    if target < 0:
        return None, NEGATIVE_TARGET
    if target != target.quantize(Decimal("0.01")) or target >= Decimal(10) ** 12:
        return None, TARGET_TOO_LARGE
    return target.quantize(Decimal("0.01")), None


def quota_rows_errors(raw_rows: list[dict]) -> tuple[list[QuotaRow], list[RowError]]:
    """Every row of an upload checked (rows numbered from 1): the quotas to write, or what refuses each bad row.

    A row is ``owner`` (username or e-mail), ``period_start``, ``period_end`` or
    ``period`` (month, quarter, year) and ``target``. A row over exactly the
    period of one of the owner's quotas replaces it; any other overlap, with a
    quota already there or with another row, refuses the row. Two queries.
    """
    keys = {str(raw.get("owner") or "").strip() for raw in raw_rows} - {""}
    people = User.objects.filter(Q(username__in=keys) | Q(email__in=keys), is_active=True)
    by_key: dict[str, User] = {}
    for person in people:
        by_key[person.username] = person
        if person.email:
            by_key.setdefault(person.email, person)
    errors: list[RowError] = []
    parsed = []
    for number, raw in enumerate(raw_rows, start=1):
        found = []
        key = str(raw.get("owner") or "").strip()
        owner = by_key.get(key)
        if not key:
            found.append(RowError(number, "owner", OWNER_MISSING))
        elif owner is None:
            found.append(
                RowError(number, "owner", f"No active person has the username or e-mail {key!r}.")
            )
        start = _date(raw.get("period_start") or "")
        if start is None:
            found.append(RowError(number, "period_start", START_INVALID))
        kind = str(raw.get("period") or "").strip().lower()
        end_text = raw.get("period_end")
        end = None
        if end_text not in (None, ""):
            end = _date(end_text)
            if end is None:
                found.append(RowError(number, "period_end", END_INVALID))
            if kind and kind not in QuotaPeriod.values:
                found.append(RowError(number, "period", PERIOD_UNKNOWN))
        elif kind in PERIOD_MONTHS:
            end = period_end_of(kind, start) if start else None
        elif kind:
            found.append(RowError(number, "period", PERIOD_UNKNOWN))
        else:
            found.append(RowError(number, "period_end", END_OR_KIND))
        if start and end and end < start:
            found.append(RowError(number, "period_end", PERIOD_BACKWARDS))
        target, target_error = parse_target(raw.get("target", ""))
        if target_error:
            found.append(RowError(number, "target", target_error))
        errors += found
        if not found:
            parsed.append((number, owner, kind or QuotaPeriod.CUSTOM, start, end, target))
    if not parsed:
        return [], errors
    owners = {owner.pk for _, owner, *_ in parsed}
    first = min(start for *_, start, _, _ in parsed)
    last = max(end for *_, end, _ in parsed)
    existing = list(
        Quota.objects.filter(
            owner_id__in=owners, period_start__lte=last, period_end__gte=first
        ).select_related("owner")
    )
    rows: list[QuotaRow] = []
    for number, owner, kind, start, end, target in parsed:
        replaces = next(
            (
                q
                for q in existing
                if q.owner_id == owner.pk and (q.period_start, q.period_end) == (start, end)
            ),
            None,
        )
        clash = next(
            (
                q
                for q in existing
                if q.owner_id == owner.pk
                and q is not replaces
                and q.period_start <= end
                and q.period_end >= start
            ),
            None,
        )
        earlier = next(
            (
                r
                for r in rows
                if r.owner.pk == owner.pk and r.period_start <= end and r.period_end >= start
            ),
            None,
        )
        if clash is not None:
            message = quota_overlap_message(
                owner=owner, period_start=clash.period_start, period_end=clash.period_end
            )
            errors.append(RowError(number, "period_start", message))
        elif earlier is not None:
            message = quota_overlap_message(
                owner=owner,
                period_start=earlier.period_start,
                period_end=earlier.period_end,
                row=earlier.number,
            )
            errors.append(RowError(number, "period_start", message))
        else:
            rows.append(QuotaRow(number, owner, kind, start, end, target, replaces))
    errors.sort(key=lambda error: error.row)
    return rows, errors
