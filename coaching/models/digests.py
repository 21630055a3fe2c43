"""The weekly digest: when each person wants it, and which weeks' digests went out."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from coaching.models.one_on_ones import Weekday

DEFAULT_WEEKDAY = Weekday.MONDAY
DEFAULT_HOUR = 7


def validate_time_zone(value: str) -> None:
    """Blank (the site's time zone) or an IANA name such as ``Europe/Paris``."""
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a time zone (use a name such as Europe/Paris).")


class DigestPreference(models.Model):
    """When a person's weekly digest goes out: a weekday and an hour in their time zone, or never.

    A person without a row gets it on ``DEFAULT_WEEKDAY`` at ``DEFAULT_HOUR`` in the site's time zone.
    """

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_preference"
    )
    enabled = models.BooleanField(default=True)
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=DEFAULT_WEEKDAY)
    hour = models.PositiveSmallIntegerField(default=DEFAULT_HOUR)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Blank: the site's time zone.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="digest_weekday_range"),
            models.CheckConstraint(condition=Q(hour__lte=23), name="digest_hour_range"),
        ]

    def __str__(self) -> str:
        return f"Digest of {self.person_id}: {self.get_weekday_display()} {self.hour:02d}:00"


class DigestSend(models.Model):
    """One person's digest of one week (``week``: the Monday, in their time zone): at most one row,
    so a retried or doubled task never sends it twice."""

    person = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    sent_at = models.DateTimeField()
    subject = models.CharField(max_length=200)

    class Meta:
        ordering = ["-week", "person_id"]
        constraints = [
            models.UniqueConstraint(fields=["person", "week"], name="digest_send_once_a_week"),
        ]

    def __str__(self) -> str:
        return f"Digest of {self.person_id} for the week of {self.week}"
