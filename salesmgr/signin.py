"""The sign-in throttle shared by the sign-in page and the API's token endpoint.

Failed sign-ins are counted per account and per client address in a window
(``SIGNIN_WINDOW_SECONDS``, from the first failure). Past the limit for
either, every attempt is refused until the window ends, the right password
too, with a message that says when to try again.

Each attempt is counted *before* its password is checked, in one atomic
upsert, and handed back when the password was right: twenty guesses sent at
once reach the password check only as often as the limit allows. The counts
live in the database, so every web process shares them with or without Redis.
"""

import datetime
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from salesmgr.models import SignInThrottle


class SignInLocked(Exception):
    """Too many failed sign-ins: refused until ``retry_at``."""

    def __init__(self, retry_at: datetime.datetime, now: datetime.datetime):
        self.retry_at = retry_at
        self.wait_seconds = max(1, int((retry_at - now).total_seconds() + 0.999))
        minutes = -(-self.wait_seconds // 60)
        at = timezone.localtime(retry_at).strftime("%H:%M")
        super().__init__(
            f"Too many failed sign-ins. Try again after {at} "
            f"(in {minutes} minute{'s' if minutes != 1 else ''})."
        )


@dataclass(frozen=True)
class Attempt:
    """The counts one attempt took; ``signin_succeeded`` gives them back."""

    keys: tuple[str, ...]


def client_address(request) -> str:
    """The client's address; X-Forwarded-For only when ``NUM_PROXIES`` says how many proxies stand in front."""
    if api_settings.NUM_PROXIES is None:
        return request.META.get("REMOTE_ADDR", "")
    return BaseThrottle().get_ident(request)


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:40]
    return f"{kind}:{digest}"


def _count(key: str, now: datetime.datetime, window_ends_at: datetime.datetime) -> int:
    """Add one failure to ``key`` (a new window if the last one ended) and return the count."""
    table = connection.ops.quote_name(SignInThrottle._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} ("key", failures, window_ends_at) VALUES (%s, 1, %s)
            ON CONFLICT ("key") DO UPDATE SET
                failures = CASE WHEN {table}.window_ends_at <= %s THEN 1
                                ELSE {table}.failures + 1 END,
                window_ends_at = CASE WHEN {table}.window_ends_at <= %s THEN excluded.window_ends_at
                                      ELSE {table}.window_ends_at END
            RETURNING failures
            """,
            [key, adapt(window_ends_at), adapt(now), adapt(now)],
        )
        return cursor.fetchone()[0]


def signin_attempt(*, username: str, address: str, now: datetime.datetime | None = None) -> Attempt:
    """Count a sign-in attempt against its account and its address; raises ``SignInLocked`` past a limit."""
    now = now or timezone.now()
    window_ends_at = now + datetime.timedelta(seconds=settings.SIGNIN_WINDOW_SECONDS)
    limits = {
        _key("account", username): settings.SIGNIN_FAILURES_PER_ACCOUNT,
        _key("address", address): settings.SIGNIN_FAILURES_PER_ADDRESS,
    }
    over = [key for key, limit in limits.items() if _count(key, now, window_ends_at) > limit]
    if over:
        ends = SignInThrottle.objects.filter(key__in=over).values_list("window_ends_at", flat=True)
        raise SignInLocked(max(ends), now)
    return Attempt(keys=tuple(limits))


def signin_succeeded(attempt: Attempt) -> None:
    """The password was right: the attempt is not a failure."""
    SignInThrottle.objects.filter(key__in=attempt.keys, failures__gt=0).update(
        failures=F("failures") - 1
    )


def signin_throttles_purge(now: datetime.datetime | None = None) -> int:
    """Forget windows that have ended; returns how many."""
    deleted, _ = SignInThrottle.objects.filter(window_ends_at__lte=now or timezone.now()).delete()
    return deleted
