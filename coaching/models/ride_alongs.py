"""Ride-alongs: a manager joins a rep on a client visit and scores what they saw, skill by skill."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from coaching.skills import SCORE_MAX, SCORE_MIN, Skill


class RideAlong(models.Model):
    """A client visit a manager made with a rep, linked to the account, the deal and the visit activity."""

    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ride_alongs_joined"
    )
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ride_alongs"
    )
    visited_on = models.DateField()
    account = models.ForeignKey(
        "pipeline.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deal = models.ForeignKey(
        "pipeline.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activity = models.ForeignKey(
        "pipeline.Activity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    observations = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-visited_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(manager=models.F("rep")), name="ride_along_two_people"
            ),
        ]
        indexes = [models.Index(fields=["rep", "visited_on"], name="ride_along_rep_day_idx")]

    def __str__(self) -> str:
        return f"Ride-along {self.pk}: {self.manager_id} with {self.rep_id} on {self.visited_on}"

    # Read through ``ride_alongs_visible_to``, a ride-along knows whether its reader may see its
    # deal and account (a deal reassigned away is hidden); read any other way it shows them.
    @property
    def shown_deal(self):
        """The deal, when whoever reads the ride-along may see it; else None."""
        return self.deal if self.deal_id and getattr(self, "deal_shown", True) else None

    @property
    def shown_account(self):
        """The account, when whoever reads the ride-along may see it; else None."""
        return self.account if self.account_id and getattr(self, "account_shown", True) else None

    @property
    def deal_hidden(self) -> bool:
        """Whether the ride-along's deal has left its reader's scope."""
        return bool(self.deal_id) and not getattr(self, "deal_shown", True)


class SkillScore(models.Model):
    """One line of a ride-along's scorecard: a skill scored 1-5 with a note."""

    ride_along = models.ForeignKey(RideAlong, on_delete=models.CASCADE, related_name="scores")
    skill = models.CharField(max_length=16, choices=Skill.choices)
    score = models.PositiveSmallIntegerField()
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["ride_along_id", "skill"]
        constraints = [
            models.UniqueConstraint(
                fields=["ride_along", "skill"],
                name="skill_score_once_per_ride_along",
                violation_error_message="This skill is already scored on this ride-along.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=SCORE_MIN, score__lte=SCORE_MAX),
                name="skill_score_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_skill_display()}: {self.score}"
