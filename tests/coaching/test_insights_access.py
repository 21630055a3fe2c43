"""Who may read whose insights, through the API and the page; bad input; fixed query counts."""

import pytest
from django.urls import reverse

from tests.conftest import rollup_check
from tests.factories import UserFactory

API = "/api/v1/insights/"


@pytest.fixture
def sub_manager(manager):
    """A manager below ``manager``, with a rep of their own: in ``manager``'s team at depth two."""
    return UserFactory(username="submanager", role="manager", manager=manager, full_name="Sam Sub")


@pytest.fixture
def deep_rep(sub_manager):
    return UserFactory(username="deeprep", manager=sub_manager, full_name="Dee Deep")


@pytest.fixture
def sibling_manager(other_manager):
    return other_manager


# The API.


def test_a_rep_reads_their_own_insights_by_default(client_for, team_history, rep):
    response = client_for(rep).get(API)
    assert response.status_code == 200
    body = response.json()
    assert body["rep"]["id"] == rep.pk
    assert body["focus"]["name"] == "Discovery"
    assert body["team"]["reps"] == 3


def test_a_rep_cannot_read_a_teammates_or_another_teams_insights(client_for, rep, rep2, outsider):
    for other in (rep2, outsider):
        response = client_for(rep).get(API, {"rep": other.pk})
        assert response.status_code == 404
        assert "rep" in response.json()


def test_a_rep_of_another_team_cannot_read_this_teams_reps(client_for, outsider, rep):
    assert client_for(outsider).get(API, {"rep": rep.pk}).status_code == 404
    assert client_for(outsider).get(API).json()["rep"]["id"] == outsider.pk


def test_a_manager_reads_any_rep_of_their_team_at_any_depth(client_for, manager, rep, deep_rep):
    for person in (rep, deep_rep):
        response = client_for(manager).get(API, {"rep": person.pk})
        assert response.status_code == 200
        assert response.json()["rep"]["id"] == person.pk


def test_a_deep_reps_team_is_their_own_managers(client_for, manager, rep, deep_rep):
    body = client_for(manager).get(API, {"rep": deep_rep.pk}).json()
    assert body["team"] == {"manager": deep_rep.manager_id, "name": "Team of Sam Sub", "reps": 1}


def test_a_manager_of_a_sibling_team_cannot_read_this_teams_reps(
    client_for, sibling_manager, rep, outsider
):
    assert client_for(sibling_manager).get(API, {"rep": rep.pk}).status_code == 404
    assert client_for(sibling_manager).get(API, {"rep": outsider.pk}).status_code == 200


def test_a_sub_manager_cannot_read_the_reps_above_or_beside_them(
    client_for, sub_manager, rep, deep_rep
):
    assert client_for(sub_manager).get(API, {"rep": rep.pk}).status_code == 404
    assert client_for(sub_manager).get(API, {"rep": deep_rep.pk}).status_code == 200


def test_an_admin_reads_any_rep(client_for, admin, rep, outsider):
    for person in (rep, outsider):
        assert client_for(admin).get(API, {"rep": person.pk}).status_code == 200


def test_insights_are_of_reps_only(client_for, admin, manager):
    response = client_for(admin).get(API, {"rep": manager.pk})
    assert response.status_code == 404
    assert response.json() == {"rep": ["No such rep within your reach."]}


def test_anonymous_is_refused(client_for, rep):
    assert client_for().get(API, {"rep": rep.pk}).status_code in (401, 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "rep"),
        ({"rep": "abc"}, "rep"),
        ({"rep": "0"}, "rep"),
        ({"rep": ""}, "rep"),
        ({"rep": str(2**63)}, "rep"),
        ({"period": "decade"}, "period"),
        ({"period": "custom", "start": "2026-01-01"}, "end"),
        ({"period": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "start"),
        ({"period": "custom", "start": "1800-02-01", "end": "2026-01-01"}, "start"),
        ({"period": "custom", "start": "2026-02-31", "end": "2026-03-01"}, "start"),
        ({"period": "90d", "start": "2026-01-01"}, "start"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, manager, rep, params, field):
    params = {"rep": rep.pk, **params} if "rep" not in params and field != "rep" else params
    response = client_for(manager).get(API, params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_custom_period_is_half_open(client_for, manager, rep, team_history):
    start = team_history.t0.date()
    body = (
        client_for(manager)
        .get(
            API,
            {
                "rep": rep.pk,
                "period": "custom",
                "start": start.isoformat(),
                "end": team_history.today.isoformat(),
            },
        )
        .json()
    )
    assert body["start"] == start.isoformat()
    assert body["end"] == team_history.today.isoformat()


def test_the_api_costs_the_same_queries_whatever_the_team_size(
    client_for, manager, rep, team_history, django_assert_num_queries
):
    client = client_for(manager)
    # The rep, and the insights' nine (snapshots looked for, none found).
    with django_assert_num_queries(10 + rollup_check()):
        assert client.get(API, {"rep": rep.pk}).status_code == 200
    for n in range(6):
        UserFactory(username=f"more{n}", manager=manager)
    with django_assert_num_queries(10 + rollup_check()):
        assert client.get(API, {"rep": rep.pk}).json()["team"]["reps"] == 9


# The page.


def page(client, user, **params):
    client.force_login(user)
    return client.get(reverse("insights"), params)


def test_the_page_shows_the_flag_with_its_evidence_to_the_manager(
    client, manager, rep, team_history
):
    response = page(client, manager, rep=rep.pk)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="focus-stage">Discovery<' in html
    assert "advanced 4 of the 20 deals that entered Discovery" in html
    assert html.count('class="chart"') == 8
    assert 'name="rep"' in html


def test_the_page_shows_a_rep_their_own_without_a_rep_picker(client, rep, team_history):
    response = page(client, rep)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Riley Rep against Team of Morgan Manager" in html
    assert 'name="rep"' not in html


@pytest.mark.parametrize("viewer", ["rep", "outsider", "other_manager"])
def test_the_page_refuses_a_rep_out_of_reach(client, request, viewer, rep2, team_history):
    user = request.getfixturevalue(viewer)
    assert page(client, user, rep=rep2.pk).status_code == 404


def test_the_page_for_a_sibling_teams_manager_lists_only_their_reps(
    client, other_manager, outsider, rep
):
    html = page(client, other_manager).content.decode()
    assert "Olive Outsider" in html
    assert "Riley Rep" not in html


def test_the_page_for_an_admin_reaches_every_rep(client, admin, rep, outsider, team_history):
    assert page(client, admin, rep=outsider.pk).status_code == 200
    assert page(client, admin, rep=rep.pk).status_code == 200


def test_the_page_says_so_when_a_manager_has_no_reps(client, db):
    lonely = UserFactory(username="lonely", role="manager")
    response = page(client, lonely)
    assert response.status_code == 200
    assert 'data-testid="insights-empty"' in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"), [({"rep": "x"}, "rep"), ({"period": "decade"}, "period")]
)
def test_the_page_answers_bad_input_with_a_400_naming_the_field(
    client, manager, rep, params, field
):
    response = page(client, manager, **params)
    assert response.status_code == 400
    assert response.content.decode().startswith(f"{field}:")


def test_the_page_costs_the_same_queries_whatever_the_team_size(
    client, manager, rep, team_history, django_assert_num_queries
):
    client.force_login(manager)
    url = reverse("insights")
    # The session, the user, the teams and the reps to pick from, the insights' nine, and the wins:
    # a count and a page.
    with django_assert_num_queries(15 + rollup_check()):
        assert client.get(url, {"rep": rep.pk}).status_code == 200
    for n in range(6):
        UserFactory(username=f"more{n}", manager=manager)
    with django_assert_num_queries(15 + rollup_check()):
        assert client.get(url, {"rep": rep.pk}).status_code == 200
    with django_assert_num_queries(14 + rollup_check()):
        assert client.get(url, {"rep": rep.pk, "period": "30d"}).status_code == 200
