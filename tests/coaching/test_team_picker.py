"""The team picker on the one-on-ones list and the insights page: who may pick which team."""

import datetime

import pytest
from django.urls import reverse

from coaching.services import series_schedule
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(manager, rep, rep2, other_manager, outsider):
    """manager > sub (a second-level team) > subrep; every rep has a weekly series with their manager."""
    sub = UserFactory(username="sub", role="manager", manager=manager, full_name="Sam Sub")
    subrep = UserFactory(username="subrep", manager=sub, full_name="Sid Subrep")
    for boss, person in ((manager, rep), (manager, rep2), (sub, subrep), (other_manager, outsider)):
        series_schedule(
            by=boss,
            rep=person,
            cadence="weekly",
            weekday=2,
            time=datetime.time(10),
            starts_on=datetime.date(2026, 3, 2),
        )
    return {"sub": sub, "subrep": subrep}


def _reps_listed(client, params=None) -> set[str]:
    answer = client.get(reverse("one-on-ones"), params or {})
    assert answer.status_code == 200
    return {s.rep.username for s in answer.context["series"]}


def test_a_second_level_manager_picks_a_team_below_them(client, manager, org):
    client.force_login(manager)
    page = client.get(reverse("one-on-ones")).content.decode()
    assert 'name="scope_id"' in page and "Team of Sam Sub" in page
    assert _reps_listed(client) == {"rep", "rep2", "subrep"}
    assert _reps_listed(client, {"scope": "team", "scope_id": org["sub"].pk}) == {"subrep"}


def test_an_admin_picks_any_team_or_the_whole_organisation(client, admin, other_manager, org):
    client.force_login(admin)
    assert _reps_listed(client) == {"rep", "rep2", "subrep", "outsider"}
    assert _reps_listed(client, {"scope": "team", "scope_id": other_manager.pk}) == {"outsider"}


def test_a_team_outside_reach_falls_back_to_the_default(client, manager, other_manager, org):
    client.force_login(manager)
    assert _reps_listed(client, {"scope": "team", "scope_id": other_manager.pk}) == {
        "rep",
        "rep2",
        "subrep",
    }
    assert _reps_listed(client, {"scope": "team", "scope_id": "abc"}) == {"rep", "rep2", "subrep"}


def test_a_manager_of_a_sibling_team_cannot_pick_this_team(client, other_manager, manager, org):
    client.force_login(other_manager)
    assert _reps_listed(client, {"scope": "team", "scope_id": manager.pk}) == {"outsider"}


@pytest.mark.parametrize("who", ["rep", "outsider"])
def test_reps_get_no_picker(client, request, who, org):
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("one-on-ones")).content.decode()
    assert 'name="scope_id"' not in page
    assert client.get(reverse("insights")).content.decode().count('name="scope_id"') == 0


def test_the_insights_page_narrows_the_reps_to_the_picked_team(client, manager, rep, org):
    client.force_login(manager)
    answer = client.get(reverse("insights"), {"scope": "team", "scope_id": org["sub"].pk})
    assert answer.status_code == 200
    assert [p.username for p in answer.context["reps"]] == ["subrep"]
    assert answer.context["rep"].username == "subrep"
    # A rep of another of the manager's teams asked for with the team: the team's first rep instead.
    answer = client.get(
        reverse("insights"), {"scope": "team", "scope_id": org["sub"].pk, "rep": rep.pk}
    )
    assert answer.context["rep"].username == "subrep"
    # Without a team picked, the whole team is listed.
    names = {p.username for p in client.get(reverse("insights")).context["reps"]}
    assert names == {"rep", "rep2", "subrep"}


def test_the_insights_page_still_refuses_a_rep_out_of_reach(client, manager, outsider, org):
    client.force_login(manager)
    answer = client.get(
        reverse("insights"), {"scope": "team", "scope_id": manager.pk, "rep": outsider.pk}
    )
    assert answer.status_code == 404


def test_the_insights_page_draws_every_metric_rep_beside_team_in_one_chart(
    client, manager, rep, team_history
):
    """The issue's metrics, each in one chart holding the rep's trace and the team's (median with the
    middle half): conversion per stage, time in stage, cycle length, average deal size, win rate,
    activity volume and mix, pipeline coverage."""
    client.force_login(manager)
    context = client.get(reverse("insights"), {"rep": rep.pk}).context
    charts = {chart.dom_id: chart for chart in [*context["stage_charts"], *context["charts"]]}
    expected = {
        "chart-conversion": "conversion per stage",
        "chart-days": "time in stage",
        "chart-avg_sales_cycle_days": "cycle length",
        "chart-avg_won_deal_size": "average deal size",
        "chart-close_ratio": "win rate",
        "chart-activities": "activity volume",
        "chart-activity-mix": "activity mix",
        "chart-pipeline_coverage": "pipeline coverage",
    }
    assert set(expected) <= set(charts)
    for dom_id in expected:
        names = [trace["name"] for trace in charts[dom_id].figure["data"]]
        assert names == ["Riley Rep", "Team median (Q1–Q3)"], dom_id
