"""Reminders, quota milestones and shout-outs: what the home pages show a person beside their pipeline."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from coaching.models.one_on_ones import ActionItem, OneOnOne


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
