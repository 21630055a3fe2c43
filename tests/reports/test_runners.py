"""Runners read the cache as a convenience: an unreachable cache is a miss, never an error."""

import datetime
from decimal import Decimal

import pytest
from django.core.cache import caches
from django.utils import timezone

from pipeline.periods import Period
from pipeline.scopes import Scope
from reports.runners import PreviousTotalsRunner
from salesmgr.cache import CACHE_ERRORS


@pytest.fixture
def cache_down(settings):
    """The cache is a Redis that nobody listens to, as when Redis is stopped."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    with pytest.raises(CACHE_ERRORS):
        caches["default"].get("anything")


def test_previous_totals_are_computed_live_when_the_cache_is_down(history, rep, cache_down):
    today = timezone.localdate()
    period = Period(today - datetime.timedelta(days=29), today + datetime.timedelta(days=1))
    runner = PreviousTotalsRunner(Scope(owner=rep.pk), period)

    assert runner.stored() is None
    figures = runner.run()

    assert figures["source"] == "live"
    assert (figures["start"], figures["end"]) == (period.previous.start, period.previous.end)
    assert figures["won_value"] == Decimal("1000.00")  # deal A, won 50 days ago


def test_previous_totals_are_kept_in_the_cache_once_computed(history, rep):
    today = timezone.localdate()
    period = Period(today - datetime.timedelta(days=29), today + datetime.timedelta(days=1))
    runner = PreviousTotalsRunner(Scope(owner=rep.pk), period)

    computed = runner.run()

    assert runner.stored() == computed
