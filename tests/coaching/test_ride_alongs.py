"""Ride-alongs: recording one with its scorecard, the rules that refuse a visit, the skills history, and the pages for every role."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from coaching.models import RideAlong, SkillScore
from coaching.ride_alongs import (
    history_quarters,
    ride_alongs_visible_to,
    skills_history,
)
from coaching.services import ride_along_delete, ride_along_record, ride_along_update
from pipeline.models import Activity
from pipeline.services import activity_log
from salesmgr.errors import PermissionDenied
from tests.coaching import ride_along_world as world
from tests.coaching.ride_along_world import VISIT_DAY, card, noon
from tests.factories import AccountFactory, DealFactory, UserFactory

pytestmark = pytest.mark.django_db
# The world's fixtures, made visible to this module's tests.
account, deal, visit = world.account, world.deal, world.visit
outsider_account, outsider_deal = world.outsider_account, world.outsider_deal
ride_along, outsider_ride_along = world.ride_along, world.outsider_ride_along
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
SEES_RILEY = {"admin", "manager", "rep"}


def counts() -> tuple[int, int, int]:
    return RideAlong.objects.count(), SkillScore.objects.count(), Activity.objects.count()


# Recording ------------------------------------------------------------------


def test_a_manager_records_a_ride_along_with_its_scorecard_linked_to_the_visit(ride_along, visit):
    assert ride_along.activity == visit
    assert ride_along.observations == "Strong opening; rushed the close."
    assert dict(ride_along.scores.values_list("skill", "score")) == {
        "opening": 4,
        "discovery": 3,
        "presentation": 4,
        "objections": 2,
        "closing": 2,
    }
    assert ride_along.scores.get(skill="closing").note == "Asked for the order too late"


def test_without_a_visit_the_rep_visit_is_logged_on_the_deal_and_account_timeline(
    manager, rep, account, deal
):
    ride = ride_along_record(
        by=manager, rep=rep, visited_on=VISIT_DAY, account=account, deal=deal, scores=card()
    )
    visit = ride.activity
    assert visit.kind == "client_visit" and visit.author == rep
    assert visit.deal == deal and visit.account == account
    assert timezone.localdate(visit.occurred_at) == VISIT_DAY
    assert visit in deal.activities.all() and visit in account.activities.all()


def _refused(field: str, **overrides) -> None:
    before = counts()
    with pytest.raises(ValidationError) as refusal:
        ride_along_record(**overrides)
    assert field in refusal.value.message_dict, refusal.value.message_dict
    assert counts() == before


@pytest.fixture
def valid(manager, rep, account, deal, visit):
    """Arguments of a ride-along the service accepts."""
    return {
        "by": manager,
        "rep": rep,
        "visited_on": VISIT_DAY,
        "account": account,
        "deal": deal,
        "activity": visit,
        "scores": card(opening=3),
    }


@pytest.mark.parametrize(
    "scores",
    [card(opening=0), card(opening=6), card(closing=None), [card(opening=3)[0]] * 2],
    ids=["zero", "six", "none", "twice"],
)
def test_bad_scores_write_nothing(valid, scores):
    _refused("scores", **{**valid, "scores": scores})


def test_an_unknown_skill_or_a_long_note_writes_nothing(valid):
    from coaching.ride_along_checks import ScoreLine

    _refused("scores", **{**valid, "scores": [ScoreLine(skill="juggling", score=3)]})
    _refused("scores", **{**valid, "scores": card(opening=(3, "x" * 501))})


def test_the_same_skill_twice_names_it(valid):
    with pytest.raises(ValidationError) as refusal:
        ride_along_record(**{**valid, "scores": card(opening=3) + card(opening=4)})
    assert refusal.value.message_dict["scores"] == ["Opening is scored more than once."]


def test_a_deal_of_another_account_writes_nothing(valid, rep, pipeline):
    other = DealFactory(owner=rep, pipeline=pipeline)
    _refused("deal", **{**valid, "deal": other, "activity": None})


def test_an_activity_that_is_not_a_visit_writes_nothing(valid, rep, deal):
    call = activity_log(by=rep, kind="call", subject="Call", deal=deal, occurred_at=noon(VISIT_DAY))
    _refused("activity", **{**valid, "activity": call})


def test_a_visit_of_another_rep_writes_nothing(valid, rep2, deal):
    theirs = activity_log(
        by=rep2, kind="client_visit", subject="Visit", deal=deal, occurred_at=noon(VISIT_DAY)
    )
    _refused("activity", **{**valid, "activity": theirs})


def test_a_visit_on_another_account_or_day_writes_nothing(valid, rep):
    elsewhere = activity_log(
        by=rep,
        kind="client_visit",
        subject="Visit",
        account=AccountFactory(owner=rep),
        occurred_at=noon(VISIT_DAY),
    )
    _refused("activity", **{**valid, "activity": elsewhere})
    _refused("activity", **{**valid, "visited_on": VISIT_DAY - datetime.timedelta(days=1)})


def test_a_visit_out_of_reach_writes_nothing(valid, outsider, outsider_deal):
    theirs = activity_log(by=outsider, kind="client_visit", subject="Visit", deal=outsider_deal)
    _refused("activity", **{**valid, "activity": theirs})


def test_a_future_day_writes_nothing(valid):
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    _refused("visited_on", **{**valid, "visited_on": tomorrow, "activity": None})


def test_a_rep_outside_the_managers_team_writes_nothing(valid, outsider, outsider_account):
    _refused(
        "rep",
        **{**valid, "rep": outsider, "account": outsider_account, "deal": None, "activity": None},
    )


def test_a_sibling_manager_or_a_rep_cannot_record(valid, other_manager, rep2):
    _refused("rep", **{**valid, "by": other_manager})
    _refused("manager", **{**valid, "by": rep2})


def test_a_manager_records_for_their_team_at_any_depth(manager, account, deal, visit):
    lead = UserFactory(username="lead", role="manager", manager=manager)
    deep = UserFactory(username="deep", manager=lead)
    deep_account = AccountFactory(owner=deep)
    ride = ride_along_record(
        by=manager, rep=deep, visited_on=VISIT_DAY, account=deep_account, scores=card(closing=5)
    )
    assert ride.manager == manager and ride.rep == deep


def test_an_update_replaces_the_scorecard_and_checks_the_rules(ride_along, manager, rep2):
    ride_along_update(
        ride_along=ride_along, by=manager, observations="Better", scores=card(closing=4)
    )
    ride_along.refresh_from_db()
    assert ride_along.observations == "Better"
    assert list(ride_along.scores.values_list("skill", "score")) == [("closing", 4)]
    before = counts()
    with pytest.raises(ValidationError):
        ride_along_update(ride_along=ride_along, by=manager, scores=card(opening=9))
    with pytest.raises(PermissionDenied):
        ride_along_update(ride_along=ride_along, by=rep2, observations="mine")
    assert counts() == before


def test_deleting_keeps_the_visit_on_the_timeline(ride_along, manager, rep, visit):
    with pytest.raises(PermissionDenied):
        ride_along_delete(ride_along=ride_along, by=rep)
    ride_along_delete(ride_along=ride_along, by=manager)
    assert not RideAlong.objects.exists() and not SkillScore.objects.exists()
    assert Activity.objects.filter(pk=visit.pk).exists()


@pytest.mark.parametrize("who", ROLES)
def test_each_role_sees_its_scope(ride_along, outsider_ride_along, who, request):
    seen = set(ride_alongs_visible_to(request.getfixturevalue(who)))
    assert (ride_along in seen) == (who in SEES_RILEY)
    assert (outsider_ride_along in seen) == (who in {"admin", "other_manager", "outsider"})


# The skills history -----------------------------------------------------------

TODAY = datetime.date(2026, 6, 15)


@pytest.fixture
def scored_year(manager, other_manager, rep, rep2, rep3, outsider):
    """Opening and discovery scores of the team by hand (the history runs from 1 Apr 2025 to 15 Jun 2026).

    rep:     opening 2 (10 Feb), 3 (10 Mar), 4 (5 May), 5 (20 May); 1 in Sep 2024 (too old).
    rep2:    opening 1 (15 Feb), 4 (1 Mar), 3 (10 Apr); discovery 3 (1 Mar).
    rep3:    opening 5 (20 Mar).
    outsider (another team): opening 1 (10 Mar).
    """
    plan = [
        (manager, rep, "2024-09-10", {"opening": 1}),
        (manager, rep, "2026-02-10", {"opening": 2}),
        (manager, rep, "2026-03-10", {"opening": 3}),
        (manager, rep, "2026-05-05", {"opening": 4}),
        (manager, rep, "2026-05-20", {"opening": 5}),
        (manager, rep2, "2026-02-15", {"opening": 1}),
        (manager, rep2, "2026-03-01", {"opening": 4, "discovery": 3}),
        (manager, rep2, "2026-04-10", {"opening": 3}),
        (manager, rep3, "2026-03-20", {"opening": 5}),
        (other_manager, outsider, "2026-03-10", {"opening": 1}),
    ]
    accounts = {}
    for by, person, day, scores in plan:
        place = accounts.get(person.pk) or accounts.setdefault(
            person.pk, AccountFactory(owner=person)
        )
        ride_along_record(
            by=by,
            rep=person,
            visited_on=datetime.date.fromisoformat(day),
            account=place,
            scores=card(**scores),
        )


def _quarter(skill: dict, start: str) -> dict:
    return next(q for q in skill["quarters"] if q["start"] == datetime.date.fromisoformat(start))


def test_the_history_covers_this_quarter_and_the_four_before():
    assert history_quarters(TODAY) == [
        datetime.date(2025, 4, 1),
        datetime.date(2025, 7, 1),
        datetime.date(2025, 10, 1),
        datetime.date(2026, 1, 1),
        datetime.date(2026, 4, 1),
    ]


def test_skills_history_against_hand_worked_figures(scored_year, rep, django_assert_num_queries):
    with django_assert_num_queries(2):
        history = skills_history(rep, today=TODAY)
    opening, discovery = history["skills"][0], history["skills"][1]
    assert [(p["visited_on"].isoformat(), p["score"]) for p in opening["scores"]] == [
        ("2026-02-10", 2),
        ("2026-03-10", 3),
        ("2026-05-05", 4),
        ("2026-05-20", 5),
    ]
    # The rolling average of the last three: 2; (2+3)/2; (2+3+4)/3; (3+4+5)/3.
    assert [p["rolling_average"] for p in opening["scores"]] == [2.0, 2.5, 3.0, 4.0]
    assert opening["latest"] == 5 and opening["rolling_average"] == 4.0
    # Q1 2026: the team scored 2, 3 (rep), 1, 4 (rep2), 5 (rep3): median 3; the rep averaged 2.5.
    q1 = _quarter(opening, "2026-01-01")
    assert q1 | {"quarter": None} == {
        "quarter": None,
        "start": datetime.date(2026, 1, 1),
        "rep_average": 2.5,
        "rep_scores": 2,
        "team_median": 3.0,
        "team_scores": 5,
        "team_reps": 3,
    }
    assert q1["quarter"] == "Q1 2026"
    # Q2 2026: 4, 5 (rep) and 3 (rep2): median 4; the rep averaged 4.5.
    q2 = _quarter(opening, "2026-04-01")
    assert (q2["rep_average"], q2["team_median"], q2["team_scores"], q2["team_reps"]) == (
        4.5,
        4.0,
        3,
        2,
    )
    # Quarters without a score, and the rep's 2024 score, are empty.
    assert _quarter(opening, "2025-04-01")["team_median"] is None
    assert _quarter(opening, "2025-04-01")["rep_scores"] == 0
    # Discovery: only rep2 was scored (3 in Q1), so the team has a median and the rep none.
    assert discovery["scores"] == [] and discovery["latest"] is None
    assert _quarter(discovery, "2026-01-01")["rep_average"] is None
    assert _quarter(discovery, "2026-01-01")["team_median"] == 3.0


def test_the_team_median_of_an_even_count_is_the_midpoint(scored_year, rep2):
    # rep2's own view, Q1: the same five team scores (median 3); rep2 averaged (1+4)/2.
    q1 = _quarter(skills_history(rep2, today=TODAY)["skills"][0], "2026-01-01")
    assert (q1["rep_average"], q1["team_median"]) == (2.5, 3.0)


# Pages ---------------------------------------------------------------------


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", ROLES)
def test_pages_for_every_role(ride_along, outsider_ride_along, client, rep, who, request):
    user = request.getfixturevalue(who)
    signed_in(client, user)
    listed = client.get(reverse("ride-alongs")).content.decode()
    assert (f'data-ride-along="{ride_along.pk}"' in listed) == (who in SEES_RILEY)
    assert (f'data-ride-along="{outsider_ride_along.pk}"' in listed) == (
        who in {"admin", "other_manager", "outsider"}
    )
    detail = client.get(reverse("ride-along", args=[ride_along.pk]))
    assert detail.status_code == (200 if who in SEES_RILEY else 404)
    skills = client.get(reverse("skills", args=[rep.pk]))
    assert skills.status_code == (200 if who in SEES_RILEY else 404)
    form = client.get(reverse("ride-along-new"))
    assert form.status_code == (200 if who in {"admin", "manager", "other_manager"} else 404)
    if who == "rep":
        body = detail.content.decode()
        assert (
            "Strong opening; rushed the close." in body and "Asked for the order too late" in body
        )
        assert "Delete this ride-along" not in body
        assert "Log a ride-along" not in listed


def test_the_manager_records_from_the_form_and_a_refusal_names_the_field(
    client, manager, rep, account, deal, visit
):
    signed_in(client, manager)
    form = client.get(
        reverse("ride-along-new"), {"rep": rep.pk, "account": account.pk}
    ).content.decode()
    assert "Acme renewal" in form and "Site visit" in form and "Log a new visit" in form
    data = {
        "rep": rep.pk,
        "visited_on": VISIT_DAY.isoformat(),
        "account": account.pk,
        "deal": deal.pk,
        "activity": visit.pk,
        "observations": "Listened well.",
        "score_opening": "4",
        "note_opening": "Warm intro",
        "score_closing": "2",
    }
    future = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    refused = client.post(reverse("ride-along-new"), {**data, "visited_on": future})
    assert refused.status_code == 400
    assert "The visit is in the future" in refused.content.decode()
    assert not RideAlong.objects.exists()
    answer = client.post(reverse("ride-along-new"), data)
    ride = RideAlong.objects.get()
    assert answer.status_code == 302 and answer.url == reverse("ride-along", args=[ride.pk])
    assert dict(ride.scores.values_list("skill", "score")) == {"opening": 4, "closing": 2}
    assert ride.activity == visit


def test_the_form_logs_a_new_visit_when_none_is_chosen(client, manager, rep, account):
    signed_in(client, manager)
    client.post(
        reverse("ride-along-new"),
        {"rep": rep.pk, "visited_on": VISIT_DAY.isoformat(), "account": account.pk, "activity": ""},
    )
    assert RideAlong.objects.get().activity.kind == "client_visit"


def test_a_note_without_a_score_is_refused(client, manager, rep, account):
    signed_in(client, manager)
    answer = client.post(
        reverse("ride-along-new"),
        {
            "rep": rep.pk,
            "visited_on": VISIT_DAY.isoformat(),
            "account": account.pk,
            "note_discovery": "Asked good questions",
        },
    )
    assert (
        answer.status_code == 400 and "Score discovery to keep its note." in answer.content.decode()
    )
    assert not RideAlong.objects.exists()


def test_deleting_from_the_page(client, ride_along, manager, rep):
    signed_in(client, rep)
    assert client.post(reverse("ride-along-delete", args=[ride_along.pk])).status_code == 302
    assert RideAlong.objects.exists()
    signed_in(client, manager)
    client.post(reverse("ride-along-delete", args=[ride_along.pk]))
    assert not RideAlong.objects.exists()


def test_the_skills_page_shows_the_rep_against_the_team(client, scored_year, rep):
    signed_in(client, rep)
    body = client.get(reverse("skills", args=[rep.pk])).content.decode()
    assert body.count('class="chart"') == 5
    assert "Skills history" in body and "Handling objections" in body


def _many(manager, rep, rep2, count: int) -> None:
    for n in range(count):
        person = (rep, rep2)[n % 2]
        ride_along_record(
            by=manager,
            rep=person,
            visited_on=VISIT_DAY - datetime.timedelta(days=n),
            account=AccountFactory(owner=person),
            scores=card(opening=1 + n % 5, closing=(2, "note")),
        )


@pytest.mark.parametrize("viewer", ["admin", "manager", "rep"])
def test_the_list_page_runs_the_same_queries_at_3_and_20(
    client, manager, rep, rep2, viewer, request, django_assert_num_queries
):
    signed_in(client, request.getfixturevalue(viewer))
    url = reverse("ride-alongs")
    _many(manager, rep, rep2, 3)
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _many(manager, rep, rep2, 17)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_the_deal_page_offers_its_owners_manager_a_ride_along(client, manager, rep, deal):
    link = (
        f"{reverse('ride-along-new')}?rep={rep.pk}&amp;account={deal.account_id}&amp;deal={deal.pk}"
    )
    assert (
        link
        in signed_in(client, manager).get(reverse("deal-detail", args=[deal.pk])).content.decode()
    )
    assert (
        "Log a ride-along"
        not in signed_in(client, rep).get(reverse("deal-detail", args=[deal.pk])).content.decode()
    )
    form = signed_in(client, manager).get(link.replace("&amp;", "&")).content.decode()
    assert f'<option value="{deal.pk}" selected>' in form


@pytest.mark.parametrize("who", ROLES)
def test_the_edit_page_is_the_managers_and_admins(client, ride_along, who, request):
    signed_in(client, request.getfixturevalue(who))
    answer = client.get(reverse("ride-along-edit", args=[ride_along.pk]))
    assert answer.status_code == (200 if who in {"admin", "manager"} else 404)
    detail = client.get(reverse("ride-along", args=[ride_along.pk])).content.decode()
    assert ("Edit</a>" in detail) == (who in {"admin", "manager"})


def test_a_manager_corrects_a_ride_along_from_its_page(client, ride_along, manager, rep2, visit):
    signed_in(client, manager)
    url = reverse("ride-along-edit", args=[ride_along.pk])
    form = client.get(url).content.decode()
    assert "Strong opening; rushed the close." in form and "Good rapport" in form
    assert 'name="rep"' in form and "disabled" in form
    data = {
        "rep": rep2.pk,  # ignored: the people stay
        "visited_on": VISIT_DAY.isoformat(),
        "account": ride_along.account_id,
        "deal": ride_along.deal_id,
        "activity": visit.pk,
        "observations": "Corrected.",
        "score_opening": "5",
    }
    assert client.post(url, {**data, "score_closing": "7"}).status_code == 400
    answer = client.post(url, data)
    assert answer.status_code == 302
    ride_along.refresh_from_db()
    assert ride_along.rep.username == "rep" and ride_along.observations == "Corrected."
    assert list(ride_along.scores.values_list("skill", "score")) == [("opening", 5)]


def test_unlinking_the_visit_logs_a_new_one(ride_along, manager, visit):
    ride_along_update(ride_along=ride_along, by=manager, activity=None)
    ride_along.refresh_from_db()
    assert ride_along.activity_id not in (None, visit.pk)
    assert ride_along.activity.kind == "client_visit"


@pytest.mark.parametrize("page", ["ride-along", "skills"])
def test_the_detail_and_skills_pages_run_the_same_queries_at_3_and_20(
    client, manager, rep, rep2, page, django_assert_num_queries
):
    signed_in(client, manager)
    _many(manager, rep, rep2, 3)
    first = RideAlong.objects.filter(rep=rep).order_by("pk").first()
    url = reverse(page, args=[first.pk if page == "ride-along" else rep.pk])
    client.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _many(manager, rep, rep2, 17)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
