"""The demo-data command: a believable, repeatable organisation."""

import datetime
import io
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.db.models import Count

from pipeline.models import Account, Activity, Contact, Deal, Product, StageTransition
from quotas.models import ManagerTarget, Quota, Territory
from salesmgr.models import User

TODAY = "2026-01-15"
MIDNIGHT = datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def seed(*args: str, forecasts: bool = False) -> str:
    out = io.StringIO()
    flags = [] if forecasts else ["--no-forecasts"]
    call_command(
        "seed_demo", "--deals", "60", "--today", TODAY, "--no-progress", *flags, *args, stdout=out
    )
    return out.getvalue()


def row_counts() -> dict[str, int]:
    models = [User, Territory, Account, Contact, Product, Deal, StageTransition, Activity, Quota]
    return {model.__name__: model.objects.count() for model in models} | {
        "history": Deal.history.count()
    }


def deal_rows() -> list[tuple]:
    return sorted(
        Deal.objects.values_list(
            "name",
            "owner__username",
            "stage__name",
            "amount",
            "created_at",
            "closed_at",
            "expected_close_date",
            "version",
        )
    )


def test_builds_roles_and_reporting_line(db):
    output = seed()

    roles = dict(User.objects.values_list("role").annotate(n=Count("pk")))
    assert roles == {"admin": 1, "manager": 3, "rep": 15}
    manager3 = User.objects.get(username="manager3")
    assert manager3.manager.username == "manager1"
    assert not User.objects.filter(role="rep", manager__isnull=True).exists()
    assert User.objects.get(username="rep1").check_password("demo1234")
    logins = {
        line.split()[0]: line.split()
        for line in output.splitlines()
        if line.startswith(("admin", "manager", "rep"))
    }
    assert logins["manager3"][-3:] == ["manager", "manager1", "demo1234"]
    assert len(logins) == 19
    assert Territory.objects.filter(parent__isnull=True).count() == 3
    assert Account.objects.count() == 300
    assert Deal.objects.count() == 60


def test_every_deal_has_a_consistent_past(db):
    seed()

    for deal in Deal.objects.all():
        transitions = list(deal.transitions.order_by("at", "pk"))
        assert transitions[0].from_stage_id is None
        assert transitions[0].at == deal.created_at
        assert transitions[-1].to_stage_id == deal.stage_id
        assert all(a.at <= b.at for a, b in pairwise(transitions))
        assert deal.closed_at == (transitions[-1].at if deal.status != "open" else None)
        assert deal.status == deal.stage.kind
        assert deal.version == Deal.history.filter(id=deal.pk).count()
        assert deal.updated_at < MIDNIGHT
    assert Deal.objects.filter(status="lost", lost_reason__isnull=True).count() == 0
    assert not Activity.objects.exclude(account_id__in=Deal.objects.values("account_id")).exists()
    assert StageTransition.objects.filter(at__gte=MIDNIGHT).count() == 0


def test_quotas_cover_every_rep_without_overlap(db):
    seed()

    for rep in User.objects.filter(role="rep"):
        periods = list(
            rep.quotas.order_by("period_start").values_list("period_start", "period_end")
        )
        # 18 months of history, the current month and the rest of the year (at least three months ahead).
        assert len(periods) == 19 + max(3, 12 - datetime.date.fromisoformat(TODAY).month)
        assert all(end < next_start for (_, end), (next_start, _) in pairwise(periods))
    assert not Quota.objects.filter(owner__role="manager").exists()
    # Every manager's team target is stated: the roll-up of the team's quotas.
    managers = User.objects.filter(role="manager")
    assert set(ManagerTarget.objects.values_list("manager_id", "basis")) == {
        (pk, "rollup") for pk in managers.values_list("pk", flat=True)
    }


def test_second_run_without_reset_changes_nothing(db):
    seed()
    before = row_counts()

    output = seed()

    assert "Demo data already present; use --reset to rebuild." in output
    assert "rep15" in output
    assert row_counts() == before


def test_same_seed_and_day_rebuild_identical_deals(db):
    seed("--reset")
    first, first_counts = deal_rows(), row_counts()

    seed("--reset")

    assert deal_rows() == first
    assert row_counts() == first_counts
    seed("--reset", "--seed", "7")
    assert deal_rows() != first


def test_the_demo_comes_with_a_year_of_weekly_forecasts_and_their_accuracy(db):
    from reports.models import ForecastSnapshot

    seed(forecasts=True)
    managers = User.objects.filter(role="manager").count()
    as_of_dates = (
        ForecastSnapshot.objects.filter(scope_key="org").values("as_of").distinct().count()
    )
    assert as_of_dates == 52
    latest = ForecastSnapshot.objects.order_by("-as_of").values_list("as_of", flat=True).first()
    assert latest == datetime.date.fromisoformat(TODAY) - datetime.timedelta(days=1)
    # The organisation and every manager's team, three horizons each.
    assert ForecastSnapshot.objects.count() == 52 * (1 + managers) * 3
    assert ForecastSnapshot.objects.filter(actual__isnull=False).exists()
