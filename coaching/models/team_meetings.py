"""Team meetings: a manager's weekly meeting with their team, its minutes; its action items are ``ActionItem`` rows.

Tables and their invariants only; every write goes through ``coaching.services``.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class TeamMeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"


class TeamMeeting(models.Model):
    """One meeting of ``manager``'s team; the team is everyone below them at any depth."""

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_meetings_run"
    )
    scheduled_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=TeamMeetingStatus.choices, default=TeamMeetingStatus.SCHEDULED
    )
    minutes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["manager_id", "-scheduled_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["manager", "scheduled_at"],
                name="team_meeting_manager_time_unique",
                violation_error_message="The team already has a meeting at this time.",
            )
        ]
        indexes = [models.Index(fields=["scheduled_at"], name="team_meeting_scheduled_idx")]

    def __str__(self) -> str:
        return f"Team meeting of {self.manager_id} at {self.scheduled_at:%Y-%m-%d %H:%M} ({self.status})"
