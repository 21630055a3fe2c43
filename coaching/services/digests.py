"""The weekly digest's writes: each person's schedule, and sending at most once per person and week."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from coaching.digests import digest_message, digest_render
from coaching.models import DigestPreference, DigestSend
from coaching.models.digests import validate_time_zone
from salesmgr.models import Role, User


def digest_send(*, person: User, week: datetime.date, now: datetime.datetime) -> DigestSend | None:
    """Send ``person`` the digest of ``week`` as of ``now`` and record it; None when it went out already.

    The record and the sending share one transaction: a failed send records
    nothing (a retry sends it), and a second run for the same week waits on
    the first's row and then finds it, so it never sends twice.
    """
    if DigestSend.objects.filter(person_id=person.pk, week=week).exists():
        return None
    digest = digest_render(person, now)
    with transaction.atomic():
        record, created = DigestSend.objects.get_or_create(
            person_id=person.pk,
            week=week,
            defaults={"sent_at": timezone.now(), "subject": digest.subject},
        )
        if not created:
            return None
        digest_message(person, digest).send()
    return record


def digest_preference_save(
    *, person: User, enabled: bool, weekday: int, hour: int, time_zone: str = ""
) -> DigestPreference:
    """Set when ``person``'s weekly digest goes out (only a person sets their own): a weekday (0 Monday),
    an hour 0-23 in ``time_zone`` (blank: the site's), or never (``enabled`` False)."""
    errors = {}
    if weekday not in range(7):
        errors["weekday"] = "Choose a day of the week."
    if hour not in range(24):
        errors["hour"] = "Choose an hour from 0 to 23."
    try:
        validate_time_zone(time_zone)
    except ValidationError as error:
        errors["time_zone"] = error.messages
    if errors:
        raise ValidationError(errors)
    preference, _ = DigestPreference.objects.update_or_create(
        person_id=person.pk,
        defaults={
            "enabled": enabled,
            "weekday": weekday,
            "hour": hour,
            "time_zone": time_zone,
            "updated_at": timezone.now(),
        },
    )
    return preference


def demo_digest_preferences_create() -> int:
    """Give every active person of the demo without a digest schedule one: managers on Monday at 07:00,
    reps an hour later, admins none (they read the dashboard); the number of schedules written."""
    people = User.objects.filter(is_active=True, digest_preference__isnull=True).exclude(
        role=Role.ADMIN
    )
    rows = [
        DigestPreference(person_id=pk, weekday=0, hour=7 if role == Role.MANAGER else 8)
        for pk, role in people.values_list("pk", "role")
    ]
    DigestPreference.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
