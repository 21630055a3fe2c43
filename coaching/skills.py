"""The selling skills a manager scores on a ride-along and coaches in a session."""

from django.db import models


class Skill(models.TextChoices):
    OPENING = "opening", "Opening"
    DISCOVERY = "discovery", "Discovery"
    PRESENTATION = "presentation", "Presentation"
    OBJECTIONS = "objections", "Handling objections"
    CLOSING = "closing", "Closing"


# A scorecard rates each skill from 1 (needs work) to 5 (exemplary).
SCORE_MIN, SCORE_MAX = 1, 5
