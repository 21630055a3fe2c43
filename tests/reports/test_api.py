"""The metrics and forecasts API: who sees which scope, bad input, snapshot or live, refresh, query counts."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pipeline.models import Deal
from pipeline.periods import Period
from pipeline.scopes import Scope
from pipeline.services import deal_move
from quotas.services import quota_set
from reports.forecasts import METHODS
from reports.metrics import funnel
from reports.models import ForecastSnapshot, MetricSnapshot
from reports.tasks import snapshot_scope
from salesmgr.celery import app as celery_app
from salesmgr.models import User
from tests.factories import DealFactory, LostReasonFactory, UserFactory

FUNNEL = "/api/v1/metrics/funnel/"
SERIES = "/api/v1/metrics/series/"
FORECASTS = "/api/v1/forecasts/"
ACCURACY = "/api/v1/forecasts/accuracy/"
GAP = "/api/v1/gap/"
REFRESH = "/api/v1/metrics/refresh/"
READS = [FUNNEL, SERIES, FORECASTS, ACCURACY, GAP]


@pytest.fixture
def eager(monkeypatch):
    """Run every task in this process, whatever the broker setting (CI has a real one)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_store_eager_result", True)


@pytest.fixture
def world(history, outsider, pipeline):
    """The hand-built history (rep and rep2 under manager) and one open deal of the outsider's."""
    DealFactory(owner=outsider, pipeline=pipeline, amount=Decimal("7000.00"))
    return history


# Who may see what.


@pytest.mark.parametrize("path", READS)
def test_anonymous_callers_get_401(db, client_for, path):
    assert client_for().get(path).status_code == 401
    assert client_for().post(REFRESH).status_code == 401


@pytest.mark.parametrize("path", READS)
def test_a_rep_gets_their_own_figures(world, rep, client_for, path):
    client = client_for(rep)
    for params in ({}, {"owner": rep.pk}):
        response = client.get(path, params)
        assert response.status_code == 200, response.content
        assert response.json()["scope"] == f"owner={rep.pk}"


@pytest.mark.parametrize("path", READS)
def test_a_rep_asking_for_someone_else_or_a_team_gets_404(
    world, rep, rep2, manager, outsider, client_for, path
):
    client = client_for(rep)
    for params in (
        {"owner": rep2.pk},
        {"owner": outsider.pk},
        {"owner": manager.pk},
        {"team": manager.pk},
        {"team": rep.pk},
        {"owner": 987654},
    ):
        assert client.get(path, params).status_code == 404, params


@pytest.mark.parametrize("path", READS)
def test_a_manager_gets_their_team_and_anyone_in_it(world, manager, rep, rep2, client_for, path):
    client = client_for(manager)
    for params, scope in [
        ({}, f"team={manager.pk}"),
        ({"team": manager.pk}, f"team={manager.pk}"),
        ({"owner": rep.pk}, f"owner={rep.pk}"),
        (
            {"owner": rep2.pk, "pipeline": world.stages["Won"].pipeline_id},
            f"owner={rep2.pk};pipeline={world.stages['Won'].pipeline_id}",
        ),
        ({"owner": manager.pk}, f"owner={manager.pk}"),
    ]:
        response = client.get(path, params)
        assert response.status_code == 200, (params, response.content)
        assert response.json()["scope"] == scope


@pytest.mark.parametrize("path", READS)
def test_a_manager_asking_for_another_team_gets_404(
    world, manager, outsider, other_manager, admin, client_for, path
):
    client = client_for(manager)
    for params in (
        {"owner": outsider.pk},
        {"team": other_manager.pk},
        {"owner": other_manager.pk},
        {"owner": admin.pk},
    ):
        assert client.get(path, params).status_code == 404, params


@pytest.mark.parametrize("path", READS)
def test_an_admin_may_ask_for_anything(
    world, admin, outsider, other_manager, rep, client_for, path
):
    client = client_for(admin)
    for params, scope in [
        ({}, "org"),
        ({"owner": outsider.pk}, f"owner={outsider.pk}"),
        ({"team": other_manager.pk}, f"team={other_manager.pk}"),
        ({"owner": rep.pk}, f"owner={rep.pk}"),
    ]:
        response = client.get(path, params)
        assert response.status_code == 200, (params, response.content)
        assert response.json()["scope"] == scope


def test_each_role_reads_exactly_its_own_funnel(world, admin, manager, rep, outsider, client_for):
    rep_figures = client_for(rep).get(FUNNEL).json()
    assert (rep_figures["open_deals"], rep_figures["open_value"]) == (2, "2300.00")  # C and E
    assert (rep_figures["won_deals"], rep_figures["won_value"]) == (1, "1000.00")  # A
    team = client_for(manager).get(FUNNEL).json()
    assert (team["won_deals"], team["won_value"]) == (2, "5000.00")  # A and rep2's F
    assert team["open_deals"] == 2
    org = client_for(admin).get(FUNNEL).json()
    assert (org["open_deals"], org["open_value"]) == (3, "9300.00")  # and the outsider's 7,000
    outsider_view = client_for(outsider).get(FUNNEL).json()
    assert (outsider_view["open_deals"], outsider_view["won_deals"]) == (1, 0)


def test_each_role_reads_its_own_forecast(world, manager, rep, client_for):
    rep_figures = client_for(rep).get(FORECASTS, {"horizon": 30}).json()["forecasts"][0]
    assert rep_figures["pipeline"] == "2300.00"  # C 2,000 and E 300 close within 30 days
    assert rep_figures["weighted"] == "630.00"
    team = client_for(manager).get(FORECASTS).json()
    assert [f["horizon"] for f in team["forecasts"]] == [30, 60, 90]


def test_refresh_is_scoped_like_the_reads(
    world, rep, rep2, manager, outsider, other_manager, admin, client_for, eager
):
    assert client_for(rep).post(REFRESH, {"owner": rep2.pk}).status_code == 404
    assert client_for(rep).post(REFRESH, {"team": manager.pk}).status_code == 404
    assert client_for(manager).post(REFRESH, {"owner": outsider.pk}).status_code == 404
    assert client_for(manager).post(REFRESH, {"team": other_manager.pk}).status_code == 404
    assert not MetricSnapshot.objects.exists()
    response = client_for(admin).post(REFRESH, {"team": other_manager.pk})
    assert response.status_code == 202
    assert response.json()["scope"] == f"team={other_manager.pk}"


# Bad input.


def assert_400(response, field):
    assert response.status_code == 400, response.content
    messages = response.json()[field]
    assert messages and all(isinstance(m, str) and m for m in messages), messages


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (FUNNEL, {"start": "2026-03-01", "end": "2026-03-01"}, "start"),
        (FUNNEL, {"start": "2026-03-02", "end": "2026-03-01"}, "start"),
        (FUNNEL, {"start": "2026-02-30"}, "start"),
        (FUNNEL, {"start": "2000-01-01", "end": "2020-01-01"}, "start"),
        (SERIES, {"start": "2026-03-05", "end": "2026-03-01"}, "start"),
        (SERIES, {"interval": "day"}, "interval"),
        (FORECASTS, {"horizon": 45}, "horizon"),
        (FORECASTS, {"horizon": "ninety"}, "horizon"),
        (FORECASTS, {"as_of": "2999-01-01"}, "as_of"),
        (FORECASTS, {"as_of": "1999-12-31"}, "as_of"),
        (FORECASTS, {"as_of": "yesterday"}, "as_of"),
        (ACCURACY, {"horizon": 45}, "horizon"),
        (ACCURACY, {"start": "2026-03-01", "end": "2026-02-01"}, "start"),
        (ACCURACY, {"start": "2026-02-31"}, "start"),
        (GAP, {"period": "week"}, "period"),
        (GAP, {"period": ""}, "period"),
    ],
)
def test_bad_parameters_get_400_with_a_message(world, admin, client_for, path, params, field):
    assert_400(client_for(admin).get(path, params), field)


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("owner", "abc"),
        ("team", "1.5"),
        ("territory", "x"),
        ("pipeline", "0"),
        ("product", "-3"),
        ("owner", "9" * 30),
    ],
)
def test_non_integer_ids_get_400(world, admin, client_for, path, name, value):
    assert_400(client_for(admin).get(path, {name: value}), name)


def test_refresh_with_a_bad_id_gets_400(world, admin, client_for, eager):
    assert_400(client_for(admin).post(REFRESH, {"owner": "someone"}), "owner")
    assert not MetricSnapshot.objects.exists()


# Snapshot or live.


def without_source(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in ("computed_at", "source")}


def test_the_funnel_comes_from_a_matching_snapshot_and_is_otherwise_live(world, rep, client_for):
    client = client_for(rep)
    live = client.get(FUNNEL).json()
    assert live["source"] == "live"

    snapshot_scope.apply(args=[Scope(owner=rep.pk).key]).get()
    snapshot = MetricSnapshot.objects.get(scope_key=f"owner={rep.pk}")
    served = client.get(FUNNEL).json()
    assert served["source"] == "snapshot"
    assert parse_datetime(served["computed_at"]) == snapshot.computed_at
    assert without_source(served) == without_source(live)

    # Another period has no snapshot: live.
    period = Period.default()
    other = client.get(
        FUNNEL, {"start": (period.start + datetime.timedelta(days=1)).isoformat()}
    ).json()
    assert other["source"] == "live"
    # Another rep's snapshot never answers for this one.
    snapshot_scope.apply(args=["org"]).get()
    assert client.get(FUNNEL).json()["computed_at"] == served["computed_at"]


def test_forecasts_come_from_todays_snapshot_and_are_otherwise_live(world, manager, client_for):
    client = client_for(manager)
    live = client.get(FORECASTS).json()["forecasts"]
    assert {f["source"] for f in live} == {"live"}

    snapshot_scope.apply(args=[Scope(team=manager.pk).key]).get()
    stored = {
        row.horizon: row for row in ForecastSnapshot.objects.filter(scope_key=f"team={manager.pk}")
    }
    served = client.get(FORECASTS).json()["forecasts"]
    assert [f["source"] for f in served] == ["snapshot"] * 3
    for figures, before in zip(served, live, strict=True):
        assert parse_datetime(figures["computed_at"]) == stored[figures["horizon"]].computed_at
        exact = {
            k: v
            for k, v in without_source(figures).items()
            if not k.startswith("model") and k != "gap"
        }
        assert exact == {k: v for k, v in without_source(before).items() if k in exact}
        # The model depends on the moment it is computed at, by a fraction of a cent per second.
        assert Decimal(figures["model"]) == pytest.approx(
            Decimal(before["model"]), abs=Decimal("0.05")
        )
        assert set(figures["gap"]) == set(METHODS)

    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    past = client.get(FORECASTS, {"as_of": yesterday.isoformat(), "horizon": 60}).json()[
        "forecasts"
    ]
    assert [f["source"] for f in past] == ["live"]


# Refresh.


def test_refresh_answers_202_and_its_status_url_reports_success(
    world, rep, rep2, admin, client_for, eager
):
    response = client_for(rep).post(REFRESH, {})
    assert response.status_code == 202
    body = response.json()
    assert body["scope"] == f"owner={rep.pk}"
    assert body["task_id"]
    assert body["status_url"] == f"{REFRESH}{body['task_id']}/"
    assert MetricSnapshot.objects.filter(scope_key=f"owner={rep.pk}").exists()
    assert ForecastSnapshot.objects.filter(scope_key=f"owner={rep.pk}").count() == 3

    state = client_for(rep).get(body["status_url"])
    assert state.status_code == 200
    assert state.json() == {
        "task_id": body["task_id"],
        "state": "SUCCESS",
        "ready": True,
        "timed_out": False,
    }
    assert client_for(rep).get(FUNNEL).json()["source"] == "snapshot"


def test_another_user_polling_a_refresh_gets_404(
    world, rep, rep2, manager, admin, client_for, eager
):
    status_url = client_for(rep).post(REFRESH, {}).json()["status_url"]
    for other in (rep2, manager, admin):
        assert client_for(other).get(status_url).status_code == 404
    assert client_for(rep).get(f"{REFRESH}no-such-task/").status_code == 404


# Query counts do not grow with the data.


def grow(*, manager, pipeline, stages, reps: int, deals: int, first: int = 0):
    """Add reps under ``manager`` and deals spread over them: a third won, a sixth lost, with quotas."""
    people = [UserFactory(username=f"grown{first + n}", manager=manager) for n in range(reps)]
    today = timezone.localdate()
    for person in people:
        quota_set(
            owner=person,
            period_start=today.replace(day=1),
            period_end=today.replace(day=1) + datetime.timedelta(days=27),
            target=Decimal("10000"),
        )
    reason = LostReasonFactory(name="Price")
    for n in range(deals):
        owner = people[n % len(people)]
        deal = DealFactory(owner=owner, pipeline=pipeline, amount=Decimal(100 + n))
        if n % 3 == 0:
            deal_move(deal=deal, to_stage=stages["Won"], by=owner, expected_version=deal.version)
        elif n % 6 == 1:
            deal_move(
                deal=deal,
                to_stage=stages["Lost"],
                by=owner,
                expected_version=deal.version,
                lost_reason=reason,
            )
        elif n % 6 == 5:
            deal_move(
                deal=deal, to_stage=stages["Proposal"], by=owner, expected_version=deal.version
            )
    return people


def count_queries(client, path, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.fixture
def matured_snapshots(admin):
    """A few matured forecast snapshots per scope, so the accuracy endpoint has rows to show."""

    def make(keys):
        today = timezone.localdate()
        for key in keys:
            for offset in (100, 120):
                ForecastSnapshot.objects.get_or_create(
                    scope_key=key,
                    as_of=today - datetime.timedelta(days=offset),
                    horizon=30,
                    defaults={
                        "scope_kind": "custom",
                        "computed_at": timezone.now(),
                        "actual": Decimal("10"),
                        **{
                            field: Decimal("5")
                            for field in (
                                "pipeline",
                                "best_case",
                                "commit",
                                "weighted",
                                "model",
                                "model_p10",
                                "model_p90",
                                "overdue_value",
                                "won_in_window",
                            )
                        },
                    },
                )

    return make


def forget_stored_reads() -> None:
    MetricSnapshot.objects.all().delete()
    ForecastSnapshot.objects.filter(actual__isnull=True).delete()


def test_query_counts_do_not_grow_with_deals_or_reps(
    db, admin, manager, pipeline, stages, client_for, matured_snapshots
):
    first_reps = grow(manager=manager, pipeline=pipeline, stages=stages, reps=2, deals=5)
    rep = first_reps[0]
    readers = [
        (admin, {}),
        (admin, {"team": manager.pk}),
        (manager, {}),
        (manager, {"owner": rep.pk}),
        (rep, {}),
    ]
    requests = [(user, path, params) for user, params in readers for path in READS]
    requests.append((manager, SERIES, {"interval": "week"}))
    matured_snapshots(["org", f"team={manager.pk}", f"owner={rep.pk}"])

    small = [count_queries(client_for(user), path, params) for user, path, params in requests]
    # A read without a snapshot stores the one it computed: forget them, so the next reads compute again.
    forget_stored_reads()
    grow(manager=manager, pipeline=pipeline, stages=stages, reps=6, deals=55, first=2)
    DealFactory.create_batch(5, owner=rep, pipeline=pipeline)
    matured_snapshots(["org", f"team={manager.pk}", f"owner={rep.pk}"])
    large = [count_queries(client_for(user), path, params) for user, path, params in requests]

    assert Deal.objects.count() == 65
    assert User.objects.filter(manager=manager).count() == 8
    assert large == small
    # The same holds when the answers come from snapshots.
    for key in ("org", f"team={manager.pk}", f"owner={rep.pk}"):
        snapshot_scope.apply(args=[key]).get()
    served = [count_queries(client_for(user), path, params) for user, path, params in requests]
    assert max(served) <= max(large)


def test_a_live_funnel_answer_matches_the_engine(world, manager, client_for):
    body = client_for(manager).get(FUNNEL).json()
    direct = funnel(Scope(team=manager.pk), Period.default())
    assert body["won_deals"] == direct["won_deals"]
    assert Decimal(body["won_value"]) == direct["won_value"]
    assert [s["entered"] for s in body["stages"]] == [s["entered"] for s in direct["stages"]]
