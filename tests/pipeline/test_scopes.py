"""One Scope and one Period: what the picker, the pages, the reports and the API all take."""

import datetime
import pathlib
import re

import pytest
from django.http import Http404

from pipeline.models import Deal
from pipeline.periods import Period
from pipeline.picker import Pick, picked
from pipeline.scopes import Scope, scope_for
from tests.factories import DealFactory

ROOT = pathlib.Path(__file__).resolve().parents[2]
APPS = ("salesmgr", "quotas", "pipeline", "reports", "coaching")
HOMES = (ROOT / "pipeline" / "scopes.py", ROOT / "pipeline" / "periods.py")


# Periods


@pytest.mark.parametrize(
    ("preset", "today", "start", "end"),
    [
        ("30d", "2026-03-15", "2026-02-14", "2026-03-16"),
        ("90d", "2026-03-15", "2025-12-16", "2026-03-16"),
        ("qtd", "2026-05-20", "2026-04-01", "2026-05-21"),
        ("ytd", "2026-05-20", "2026-01-01", "2026-05-21"),
        ("month", "2026-02-10", "2026-02-01", "2026-03-01"),
        ("month", "2026-12-31", "2026-12-01", "2027-01-01"),
        ("quarter", "2026-11-30", "2026-10-01", "2027-01-01"),
        ("quarter", "2026-01-01", "2026-01-01", "2026-04-01"),
    ],
)
def test_period_presets(preset, today, start, end):
    period = Period.named(preset, datetime.date.fromisoformat(today))
    assert (period.start, period.end) == (
        datetime.date.fromisoformat(start),
        datetime.date.fromisoformat(end),
    )
    assert period.preset == preset


def test_period_shows_its_last_day_and_keeps_the_day_after_as_its_end():
    period = Period.from_days(datetime.date(2026, 1, 1), datetime.date(2026, 1, 31))
    assert period.end == datetime.date(2026, 2, 1)
    assert period.last_day == datetime.date(2026, 1, 31)
    assert period.days == 31
    assert period.previous == Period(datetime.date(2025, 12, 1), datetime.date(2026, 1, 1))


def test_periods_over_the_same_days_are_equal_whatever_their_name():
    month = Period.named("month", datetime.date(2026, 2, 10))
    assert month == Period(datetime.date(2026, 2, 1), datetime.date(2026, 3, 1))
    assert hash(month) == hash(Period(datetime.date(2026, 2, 1), datetime.date(2026, 3, 1)))


def test_a_period_must_end_after_it_starts():
    with pytest.raises(ValueError, match="end after it starts"):
        Period(datetime.date(2026, 1, 2), datetime.date(2026, 1, 2))
    with pytest.raises(ValueError, match="Unknown period"):
        Period.named("decade", datetime.date(2026, 1, 2))


# Scopes


def test_scope_keys_keep_the_strings_stored_snapshots_are_found_by():
    assert Scope().key == "org"
    assert Scope(team=4).key == "team=4"
    assert Scope(owner=1, territory=3, product=9).key == "owner=1;territory=3;product=9"
    for key in ("org", "owner=7", "team=4;pipeline=2", "territory=3;product=9"):
        assert Scope.from_key(key).key == key


@pytest.mark.django_db
def test_scope_for_keeps_a_rep_to_their_own_deals_and_a_manager_to_their_team(
    rep, rep2, manager, outsider
):
    assert scope_for(rep, Scope(pipeline=5)) == Scope(owner=rep.pk, pipeline=5)
    with pytest.raises(Http404):
        scope_for(rep, Scope(owner=rep2.pk))
    assert scope_for(manager, Scope(territory=3)) == Scope(team=manager.pk, territory=3)
    assert scope_for(manager, Scope(owner=rep2.pk)) == Scope(owner=rep2.pk)
    with pytest.raises(Http404):
        scope_for(manager, Scope(owner=outsider.pk))


# The picker holds them


@pytest.mark.django_db
def test_a_pick_holds_the_scope_and_period_the_reports_take(rf, manager, rep, rep2, pipeline):
    mine = DealFactory(owner=rep, pipeline=pipeline)
    DealFactory(owner=rep2, pipeline=pipeline)
    request = rf.get("/", {"scope": "rep", "scope_id": rep.pk, "period": "qtd"})
    request.user, request.session = manager, {}
    pick = picked(request)
    assert isinstance(pick, Pick)
    assert pick.scope == Scope(owner=rep.pk)
    assert pick.period == Period.named("qtd", pick.period.last_day)
    assert scope_for(manager, pick.scope) == Scope(owner=rep.pk)
    assert list(Deal.objects.filter(pick.scope.deal_filter())) == [mine]


def test_no_second_scope_or_period_type_is_defined():
    """Everything takes ``pipeline.scopes.Scope`` and ``pipeline.periods.Period``."""
    definition = re.compile(r"^class (\w*Scope|\w*Period|\w*Window|Picked)\b.*$", re.M)
    tables_and_forms = ("models.Model", "TextChoices", "Serializer", "Query)")
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path not in HOMES
        for match in definition.finditer(path.read_text())
        if not any(base in match.group(0) for base in tables_and_forms)
    ]
    assert found == []
