"""Coaching sessions: a manager coaches one rep on one skill, stage or deal, in the GROW shape.

Goal, Reality, Options, Will; the commitments of the Will are action items
(``ActionItem.coaching_session``). ``evidence`` keeps the insight figures as
they stood when the session was planned, so the Reality stays what it was
whatever happens to the deals later. Tables and invariants only; every write
goes through ``coaching.services``.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from coaching.skills import Skill


class SessionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"


class SessionFocus(models.TextChoices):
    SKILL = "skill", "A skill"
    STAGE = "stage", "A stage"
    DEAL = "deal", "A deal"


class CoachingSession(models.Model):
    """One coaching session between a manager and a rep, on exactly one focus."""

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coaching_sessions_run"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coaching_sessions"
    )
    scheduled_on = models.DateField(help_text="The day the session is (or was) held.")
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.PLANNED
    )
    focus = models.CharField(max_length=5, choices=SessionFocus.choices)
    skill = models.CharField(max_length=16, choices=Skill.choices, blank=True)
    # Deals are deleted softly and stages only when no deal ever used them; a row removed outright
    # (as the demo's reset does) takes its sessions with it, since a session holds exactly one focus.
    stage = models.ForeignKey(
        "pipeline.Stage", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    deal = models.ForeignKey(
        "pipeline.Deal", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    goal = models.TextField(blank=True)
    reality = models.TextField(blank=True)
    options = models.TextField(blank=True)
    will = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    follow_up_on = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-scheduled_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(manager=F("rep")), name="coaching_session_two_people"
            ),
            models.CheckConstraint(
                condition=Q(focus="skill", stage__isnull=True, deal__isnull=True) & ~Q(skill="")
                | Q(focus="stage", skill="", stage__isnull=False, deal__isnull=True)
                | Q(focus="deal", skill="", stage__isnull=True, deal__isnull=False),
                name="coaching_session_one_focus",
                violation_error_message="A session focuses on exactly one skill, stage or deal.",
            ),
            models.CheckConstraint(
                condition=Q(follow_up_on__isnull=True) | Q(follow_up_on__gte=F("scheduled_on")),
                name="coaching_session_follow_up_after",
                violation_error_message="The follow-up comes on or after the session.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="coaching_session_status"
            ),
        ]
        indexes = [
            models.Index(fields=["rep", "scheduled_on"], name="coaching_session_rep_day_idx")
        ]

    def __str__(self) -> str:
        return f"Coaching session {self.pk}: {self.manager_id} with {self.rep_id} on {self.scheduled_on}"

    def get_absolute_url(self) -> str:
        return reverse("coaching-session", args=[self.pk])

    # Read through ``sessions_visible_to``, a session knows whether its reader may see its deal
    # (a deal reassigned away is hidden); read any other way it shows it.
    @property
    def shown_deal(self):
        """The focus deal, when whoever reads the session may see it; else None."""
        return self.deal if self.deal_id and getattr(self, "deal_shown", True) else None
