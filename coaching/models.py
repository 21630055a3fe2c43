"""One-on-ones between a manager and a rep: the series, its meetings, talking points, notes and action items.

Tables and their invariants only; every write goes through ``coaching.services``.
A meeting's private note lives in its own table (``PrivateNote``) so that no
serializer, template or export of a meeting can carry it by accident: it is
read only through ``coaching.selectors.private_notes_visible_to``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Cadence(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    FORTNIGHTLY = "fortnightly", "Fortnightly"


CADENCE_DAYS = {Cadence.WEEKLY: 7, Cadence.FORTNIGHTLY: 14}


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class OneOnOneSeries(models.Model):
    """A manager's recurring one-on-one with one rep; at most one active series per pair."""

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="one_on_ones_run"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="one_on_ones"
    )
    cadence = models.CharField(max_length=12, choices=Cadence.choices, default=Cadence.WEEKLY)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    time = models.TimeField(help_text="Local time of day.")
    starts_on = models.DateField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rep_id", "-active", "-starts_on", "id"]
        verbose_name_plural = "one-on-one series"
        constraints = [
            models.UniqueConstraint(
                fields=["manager", "rep"],
                condition=Q(active=True),
                name="one_on_one_series_one_active",
                violation_error_message="This rep already has an active one-on-one with this manager.",
            ),
            models.CheckConstraint(
                condition=~Q(manager=models.F("rep")), name="one_on_one_two_people"
            ),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="one_on_one_weekday_range"),
        ]

    def __str__(self) -> str:
        return f"One-on-one {self.manager_id} with {self.rep_id} ({self.cadence})"

    @property
    def every_days(self) -> int:
        return CADENCE_DAYS[self.cadence]


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    HELD = "held", "Held"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class OneOnOne(models.Model):
    """One meeting of a series; ``shared_notes`` is what the rep reads afterwards."""

    series = models.ForeignKey(OneOnOneSeries, on_delete=models.CASCADE, related_name="meetings")
    scheduled_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED
    )
    shared_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["series_id", "scheduled_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "scheduled_at"],
                name="one_on_one_series_time_unique",
                violation_error_message="The series already has a meeting at this time.",
            )
        ]
        indexes = [models.Index(fields=["scheduled_at"], name="one_on_one_scheduled_idx")]

    def __str__(self) -> str:
        return f"One-on-one {self.pk} at {self.scheduled_at:%Y-%m-%d %H:%M} ({self.status})"


class PrivateNote(models.Model):
    """The manager's own note on a meeting: never shown to the rep."""

    meeting = models.OneToOneField(OneOnOne, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Private note on one-on-one {self.meeting_id}"


class TalkingPoint(models.Model):
    """Something the manager or the rep wants to raise at a meeting."""

    meeting = models.ForeignKey(OneOnOne, on_delete=models.CASCADE, related_name="talking_points")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["meeting_id", "created_at", "id"]

    def __str__(self) -> str:
        return self.text


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"


class ActionItem(models.Model):
    """A commitment made at a meeting; it stays on every later meeting of the series until done."""

    meeting = models.ForeignKey(OneOnOne, on_delete=models.CASCADE, related_name="action_items")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="action_items"
    )
    text = models.CharField(max_length=500)
    due_on = models.DateField()
    status = models.CharField(
        max_length=4, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", completed_at__isnull=True)
                | Q(status="done", completed_at__isnull=False),
                name="action_item_completed_at_matches_status",
            )
        ]
        indexes = [
            models.Index(
                fields=["owner", "due_on"],
                condition=Q(status="open"),
                name="action_item_open_owner_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.text


class Reminder(models.Model):
    """One thing the daily run reminds a person of on ``day``: an action item due or overdue, or tomorrow's one-on-one.

    Exactly one of ``action_item`` and ``meeting`` is set; a row is keyed by
    (person, day, thing), so running the day again writes nothing twice.
    """

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    action_item = models.ForeignKey(
        ActionItem, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    meeting = models.ForeignKey(
        OneOnOne, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["person_id", "day", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action_item__isnull=True, meeting__isnull=False)
                | Q(action_item__isnull=False, meeting__isnull=True),
                name="reminder_one_thing",
            ),
            models.UniqueConstraint(
                fields=["person", "day", "action_item"],
                condition=Q(action_item__isnull=False),
                name="reminder_item_once_a_day",
            ),
            models.UniqueConstraint(
                fields=["person", "day", "meeting"],
                condition=Q(meeting__isnull=False),
                name="reminder_meeting_once_a_day",
            ),
        ]
        indexes = [models.Index(fields=["person", "day"], name="reminder_person_day_idx")]

    def __str__(self) -> str:
        thing = (
            f"item {self.action_item_id}" if self.action_item_id else f"meeting {self.meeting_id}"
        )
        return f"Reminder for {self.person_id} on {self.day}: {thing}"


class MilestonePeriod(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"


# Percentages of a quota that are celebrated when a rep's won value reaches them.
MILESTONE_LEVELS = (50, 100, 150)


class Milestone(models.Model):
    """A rep's won value reached ``level`` percent of their quota for a month or a quarter.

    Unique per rep, period and level: it is recorded once, the first time it
    is seen, and never again however often it is recomputed or the deal that
    crossed it is reopened and won again.
    """

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="milestones"
    )
    period = models.CharField(max_length=7, choices=MilestonePeriod.choices)
    period_start = models.DateField()
    level = models.PositiveSmallIntegerField()
    won = models.DecimalField(max_digits=16, decimal_places=2, help_text="Won value when seen.")
    target = models.DecimalField(max_digits=16, decimal_places=2)
    reached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-reached_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rep", "period", "period_start", "level"], name="milestone_once"
            ),
            models.CheckConstraint(
                condition=Q(level__in=MILESTONE_LEVELS), name="milestone_level_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rep_id} reached {self.level}% of the {self.period} from {self.period_start}"


class ShoutOut(models.Model):
    """A manager's short message of praise to a rep, shown in the team's celebrations."""

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shout_outs"
    )
    message = models.CharField(max_length=280)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rep", "-created_at"], name="shout_out_rep_idx")]

    def __str__(self) -> str:
        return self.message
