"""One-on-ones between a manager and a rep: the series, its meetings, talking points, notes and action items.

Tables and their invariants only; every write goes through ``coaching.services``.
A meeting's private note lives in its own table (``PrivateNote``) so that no
serializer, template or export of a meeting can carry it by accident: it is
read only through ``coaching.selectors.private_notes_visible_to``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
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

    # Where the item was agreed: a one-on-one here; the other parts of the app
    # (coaching sessions, team meetings) add their own nullable link.
    meeting = models.ForeignKey(
        OneOnOne,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="action_items",
    )
    coaching_session = models.ForeignKey(
        "coaching.CoachingSession",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="commitments",
    )
    team_meeting = models.ForeignKey(
        "coaching.TeamMeeting",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="action_items",
    )
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

    def get_absolute_url(self) -> str:
        """The page of the meeting (or session) where the item was agreed."""
        if self.meeting_id:
            return reverse("one-on-one", args=[self.meeting_id])
        if self.coaching_session_id:
            return reverse("coaching-session", args=[self.coaching_session_id])
        if self.team_meeting_id:
            return reverse("team-meeting", args=[self.team_meeting_id])
        return reverse("home")
