import pytest
from django.core.exceptions import ValidationError

from salesmgr.selectors import (
    ancestor_ids,
    may_act_for,
    owners_acted_for,
    team_of,
    users_visible_to,
)
from salesmgr.services import user_set_manager
from tests.factories import UserFactory


@pytest.fixture
def org(db):
    """vp -> director -> lead -> rep_deep, plus a peer rep under the director and a stranger."""
    vp = UserFactory(username="vp", role="manager")
    director = UserFactory(username="director", role="manager", manager=vp)
    lead = UserFactory(username="lead", role="manager", manager=director)
    rep_deep = UserFactory(username="rep_deep", manager=lead)
    peer = UserFactory(username="peer", manager=director)
    stranger = UserFactory(username="stranger")
    return {u.username: u for u in (vp, director, lead, rep_deep, peer, stranger)}


def test_team_reaches_every_depth_in_one_query(org, django_assert_num_queries):
    with django_assert_num_queries(1):
        names = sorted(team_of(org["vp"]).values_list("username", flat=True))
    assert names == ["director", "lead", "peer", "rep_deep"]


def test_team_of_a_middle_manager_excludes_peers_and_bosses(org):
    assert sorted(team_of(org["lead"]).values_list("username", flat=True)) == ["rep_deep"]
    assert set(team_of(org["director"]).values_list("username", flat=True)) == {
        "lead",
        "peer",
        "rep_deep",
    }


def test_team_of_a_rep_is_empty(org):
    assert not team_of(org["rep_deep"]).exists()


def test_ancestors_walk_up_the_line(org):
    assert ancestor_ids(org["rep_deep"].pk) == {org["lead"].pk, org["director"].pk, org["vp"].pk}


def test_manager_cannot_report_to_someone_in_their_own_team(org):
    with pytest.raises(ValidationError, match="reporting cycle"):
        user_set_manager(user=org["vp"], manager=org["rep_deep"])
    org["vp"].refresh_from_db()
    assert org["vp"].manager_id is None


def test_nobody_is_their_own_manager(org):
    with pytest.raises(ValidationError, match="own manager"):
        user_set_manager(user=org["lead"], manager=org["lead"])


def test_moving_someone_sideways_is_allowed(org):
    user_set_manager(user=org["peer"], manager=org["lead"])
    assert set(team_of(org["lead"]).values_list("username", flat=True)) == {"peer", "rep_deep"}


def test_may_act_for_follows_roles(org, admin):
    assert may_act_for(actor=admin, owner_id=org["stranger"].pk)
    assert may_act_for(actor=org["vp"], owner_id=org["rep_deep"].pk)
    assert not may_act_for(actor=org["lead"], owner_id=org["peer"].pk)
    assert not may_act_for(actor=org["peer"], owner_id=org["rep_deep"].pk)
    assert may_act_for(actor=org["peer"], owner_id=org["peer"].pk)


def test_people_see_their_team_and_their_line_up(org):
    seen = set(users_visible_to(org["director"]).values_list("username", flat=True))
    assert seen == {"vp", "director", "lead", "peer", "rep_deep"}
    assert "stranger" not in set(users_visible_to(org["peer"]).values_list("username", flat=True))


def test_owners_acted_for_agrees_with_may_act_for(
    admin, manager, rep, rep2, other_manager, outsider
):
    everyone = [admin, manager, rep, rep2, other_manager, outsider]
    ids = {person.pk for person in everyone}
    for actor in everyone:
        expected = {pk for pk in ids if may_act_for(actor=actor, owner_id=pk)}
        assert owners_acted_for(actor=actor, owner_ids=ids) == expected
