"""The weekly digest: what each person reads by e-mail once a week, and when it goes out.

A manager's digest covers their team (every rep below them at any depth), an
admin's the whole organisation, a rep's only themselves (the short version).
Every figure comes from the code the pages use: the headline figures from
the dashboard's funnel snapshot (``reports.views.kpi_figures``), the forecast
against quota and its change over the week from the forecast snapshots, as
the team meeting reads them (``coaching.team_meetings.scope_forecast``),
stalled deals from ``StalledDealsRunner``, wins from the wins feed, the
coaching flag from the insights (``coaching.insights.coaching_flags``).
Nothing here sums deals in Python, and building one digest issues a fixed
number of queries whatever the team's size.

A one-on-one appears by its time and the other person's name only: no notes
of any kind, the private ones least of all, ever reach a digest.

Each person chooses a weekday and an hour in their time zone
(``DigestPreference``; Monday 07:00 in the site's time zone without a row).
The hourly run sends every digest whose moment of this week has come and that
has not gone out yet; the week is counted from Monday in the person's zone.
"""

import datetime
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Count, F, Max, Q, QuerySet, Subquery, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from coaching.insights import coaching_flags
from coaching.models import (
    ActionItemStatus,
    DigestPreference,
    DigestSend,
    MeetingStatus,
    OneOnOne,
)
from coaching.models.digests import DEFAULT_HOUR, DEFAULT_WEEKDAY
from coaching.selectors import action_items_visible_to
from coaching.team_meetings import scope_forecast
from coaching.wins import wins_visible_to
from pipeline.money import reporting_currency
from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.forecasts import money
from reports.runners import StalledDealsRunner
from reports.views import kpi_figures
from salesmgr.models import User
from salesmgr.selectors import self_and_team_ids_subquery, team_of

WEEK = datetime.timedelta(days=7)
DEALS_SHOWN = 5
ITEMS_SHOWN = 10
# Action items due within this many days (and every overdue one) are listed.
ITEMS_WITHIN_DAYS = 7


# When -----------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A person's digest moment: ``weekday`` (0 Monday) at ``hour`` in ``zone``; ``enabled`` False: never."""

    enabled: bool
    weekday: int
    hour: int
    zone: zoneinfo.ZoneInfo

    @classmethod
    def of(cls, preference: DigestPreference | None) -> "Schedule":
        if preference is None:
            return cls(True, DEFAULT_WEEKDAY, DEFAULT_HOUR, timezone.get_default_timezone())
        zone = (
            zoneinfo.ZoneInfo(preference.time_zone)
            if preference.time_zone
            else timezone.get_default_timezone()
        )
        return cls(preference.enabled, preference.weekday, preference.hour, zone)

    def week_of(self, now: datetime.datetime) -> datetime.date:
        """The Monday of the week holding ``now`` in the person's zone."""
        day = now.astimezone(self.zone).date()
        return day - datetime.timedelta(days=day.weekday())

    def moment(self, week: datetime.date) -> datetime.datetime:
        """When the digest of ``week`` goes out (a clock time skipped by a DST change moves forward)."""
        day = week + datetime.timedelta(days=self.weekday)
        local = datetime.datetime.combine(day, datetime.time(self.hour), tzinfo=self.zone)
        return local.astimezone(datetime.UTC).astimezone(self.zone)

    def is_due(self, now: datetime.datetime, sent_weeks: set[datetime.date]) -> bool:
        """This week's moment has come and its digest has not gone out."""
        week = self.week_of(now)
        return self.enabled and week not in sent_weeks and now >= self.moment(week)

    def next_moment(
        self, now: datetime.datetime, sent_weeks: set[datetime.date]
    ) -> datetime.datetime | None:
        """When the next digest goes out: this week's moment unless it went out already, else next
        week's (a moment already past goes out at the next hourly run); None when turned off."""
        if not self.enabled:
            return None
        week = self.week_of(now)
        if week in sent_weeks:
            week += WEEK
        return self.moment(week)


def digest_preference_of(person: User) -> DigestPreference | None:
    """The person's saved preference, or None (the defaults) (one query)."""
    return DigestPreference.objects.filter(person_id=person.pk).first()


def digest_recipients() -> QuerySet[User]:
    """Everyone who may get a digest: active people with an e-mail address."""
    return User.objects.filter(is_active=True).exclude(email="")


def digests_due(now: datetime.datetime) -> list[tuple[int, datetime.date]]:
    """(person id, week) of every digest due at ``now`` and not sent yet (two queries)."""
    people = list(
        digest_recipients()
        .select_related("digest_preference")
        .only(
            "pk",
            "digest_preference__enabled",
            "digest_preference__weekday",
            "digest_preference__hour",
            "digest_preference__time_zone",
        )
    )
    schedules = {person.pk: Schedule.of(_preference(person)) for person in people}
    weeks = {schedule.week_of(now) for schedule in schedules.values()}
    sent: dict[int, set[datetime.date]] = {}
    for person_id, week in DigestSend.objects.filter(week__in=weeks).values_list(
        "person_id", "week"
    ):
        sent.setdefault(person_id, set()).add(week)
    return [
        (pk, schedule.week_of(now))
        for pk, schedule in schedules.items()
        if schedule.is_due(now, sent.get(pk, set()))
    ]


def _preference(person: User) -> DigestPreference | None:
    try:
        return person.digest_preference
    except DigestPreference.DoesNotExist:
        return None


def team_digest_preferences(user: User) -> list[dict]:
    """The digest schedule of everyone ``user`` oversees (an admin: everyone; a manager: their team at
    any depth; a rep: nobody), with the week their last digest went out (two queries)."""
    if user.is_rep:
        return []
    people = User.objects.all() if user.is_admin else team_of(user)
    people = list(
        people.filter(is_active=True)
        .select_related("digest_preference")
        .order_by("full_name", "username")
    )
    last = dict(
        DigestSend.objects.filter(person__in=people)
        .values("person_id")
        .annotate(week=Max("week"))
        .values_list("person_id", "week")
        .order_by()
    )
    rows = []
    for person in people:
        schedule = Schedule.of(_preference(person))
        rows.append(
            {
                "person": person,
                "enabled": schedule.enabled,
                "weekday": schedule.weekday,
                "hour": schedule.hour,
                "zone": str(schedule.zone),
                "has_email": bool(person.email),
                "last_week": last.get(person.pk),
            }
        )
    return rows


# What -----------------------------------------------------------------------


def digest_scope(user: User) -> Scope:
    """A rep's own deals, a manager's team, an admin's organisation."""
    if user.is_admin:
        return Scope()
    if user.is_manager:
        return Scope(team=user.pk)
    return Scope(owner=user.pk)


WINS_ORDER = (F("value").desc(nulls_last=True), F("closed_at").desc(), F("pk").asc())


def _wins(user: User, scope: Scope, since: datetime.datetime, until: datetime.datetime) -> dict:
    """The week's wins: how many, their value, and the biggest.

    The biggest are ranked from the deals alone (an index of won deals by closing time carries
    what the ranking reads), and only those shown are joined to their owners and accounts:
    ranked after the join, an admin's digest read every account at 1,000,000 deals.
    """
    won = wins_visible_to(user, scope).filter(closed_at__gte=since, closed_at__lt=until)
    totals = won.aggregate(count=Count("pk"), total=Sum("value"))
    biggest = won.order_by(*WINS_ORDER).values("pk")[:DEALS_SHOWN]
    return {
        "rows": list(won.filter(pk__in=Subquery(biggest)).order_by(*WINS_ORDER)),
        "count": totals["count"],
        "value": money(totals["total"]),
    }


def _action_items(user: User, today: datetime.date) -> dict:
    """Open items due within ``ITEMS_WITHIN_DAYS`` or overdue: a rep's own, a manager's and their team's,
    an admin's everyone's (two queries)."""
    items = action_items_visible_to(user).filter(
        status=ActionItemStatus.OPEN, due_on__lte=today + datetime.timedelta(days=ITEMS_WITHIN_DAYS)
    )
    if user.is_rep:
        items = items.filter(owner_id=user.pk)
    elif not user.is_admin:
        items = items.filter(owner_id__in=self_and_team_ids_subquery(user.pk))
    counts = items.aggregate(due=Count("pk"), overdue=Count("pk", filter=Q(due_on__lt=today)))
    rows = list(items.select_related("owner").order_by("due_on", "id")[:ITEMS_SHOWN])
    for item in rows:
        item.is_overdue = item.due_on < today
    return {"rows": rows, "count": counts["due"], "overdue": counts["overdue"]}


def _next_one_on_one(user: User, now: datetime.datetime) -> OneOnOne | None:
    """The person's next scheduled one-on-one, as the rep or as the manager running it (one query).

    Only its time and the people are read: never its notes.
    """
    return (
        OneOnOne.objects.filter(
            Q(series__rep_id=user.pk) | Q(series__manager_id=user.pk),
            status=MeetingStatus.SCHEDULED,
            series__active=True,
            scheduled_at__gte=now,
        )
        .select_related("series__rep", "series__manager")
        .only(
            "pk",
            "scheduled_at",
            "series__rep__username",
            "series__rep__full_name",
            "series__rep__first_name",
            "series__rep__last_name",
            "series__manager__username",
            "series__manager__full_name",
            "series__manager__first_name",
            "series__manager__last_name",
            "series__rep_id",
            "series__manager_id",
        )
        .order_by("scheduled_at", "pk")
        .first()
    )


def digest_content(user: User, now: datetime.datetime) -> dict:
    """Everything ``user``'s digest says as of ``now``, scoped to what they may see.

    A fixed number of queries whatever the number of deals or people.
    """
    today = timezone.localdate(now)
    scope = digest_scope(user)
    team = not user.is_rep
    content = {
        "person": user,
        "team": team,
        "scope_label": "the whole organisation"
        if user.is_admin
        else "your team"
        if team
        else "your own deals",
        "now": now,
        "today": today,
        "since": now - WEEK,
        "currency": reporting_currency(),
        "forecast": scope_forecast(scope, now),
        "wins": _wins(user, scope, now - WEEK, now),
        "stalled": StalledDealsRunner(scope, today, limit=DEALS_SHOWN).run(),
        "action_items": _action_items(user, today),
        "next_one_on_one": _next_one_on_one(user, now),
        "kpis": None,
        "coaching_flags": [],
    }
    if team:
        period = Period.default(today)
        content["kpis"] = kpi_figures(scope, period, compare=False)["kpis"]
        content["kpi_period"] = period
        content["coaching_flags"] = coaching_flags(user, period, today)
    return content


# The e-mail -----------------------------------------------------------------


def _links() -> dict:
    base = settings.SITE_URL
    return {
        "base": base,
        "preview": base + reverse("digest-preview"),
        "preferences": base + reverse("digest-settings"),
        "dashboard": base + reverse("dashboard"),
        "insights": base + reverse("insights"),
    }


def digest_subject(user: User, now: datetime.datetime) -> str:
    what = (
        "Your team's week"
        if user.is_manager
        else "The organisation's week"
        if user.is_admin
        else "Your week"
    )
    return f"{what} in Salesmgr, {timezone.localdate(now):%-d %b %Y}"


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str


def digest_render(user: User, now: datetime.datetime) -> Digest:
    """The digest of ``user`` as of ``now``: its subject, plain text and HTML."""
    context = {**digest_content(user, now), "links": _links()}
    return Digest(
        subject=digest_subject(user, now),
        text=render_to_string("coaching/digest_email.txt", context),
        html=render_to_string("coaching/digest_email.html", context),
    )


def digest_message(user: User, digest: Digest) -> EmailMultiAlternatives:
    """The e-mail: the plain text, and the HTML as its alternative."""
    message = EmailMultiAlternatives(
        subject=digest.subject,
        body=digest.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    message.attach_alternative(digest.html, "text/html")
    return message
