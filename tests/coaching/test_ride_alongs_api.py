"""``/api/v1/ride-alongs/`` and ``/api/v1/skills-history/`` for every role, their refusals and their query counts."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coaching.models import RideAlong, SkillScore
from coaching.services import ride_along_record
from pipeline.models import Activity
from tests.coaching import ride_along_world as world
from tests.coaching.ride_along_world import VISIT_DAY, card
from tests.factories import AccountFactory, DealFactory

pytestmark = pytest.mark.django_db
account, deal, visit = world.account, world.deal, world.visit
outsider_account, outsider_deal = world.outsider_account, world.outsider_deal
ride_along, outsider_ride_along = world.ride_along, world.outsider_ride_along

URL = "/api/v1/ride-alongs/"
HISTORY = "/api/v1/skills-history/"
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
SEES_RILEY = {"admin", "manager", "rep"}
MAY_WRITE_RILEY = {"admin", "manager"}


def stored() -> tuple[int, int, int]:
    return RideAlong.objects.count(), SkillScore.objects.count(), Activity.objects.count()


def _body(rep, account, deal=None, activity=None, **extra) -> dict:
    body = {
        "rep": rep.pk,
        "visited_on": VISIT_DAY.isoformat(),
        "account": account.pk,
        "observations": "Good discovery questions.",
        "scores": [
            {"skill": "discovery", "score": 5, "note": "Found the real pain"},
            {"skill": "closing", "score": 3},
        ],
    }
    if deal is not None:
        body["deal"] = deal.pk
    if activity is not None:
        body["activity"] = activity.pk
    return body | extra


@pytest.mark.parametrize("who", ROLES)
def test_reads_for_every_role(client_for, ride_along, outsider_ride_along, who, request):
    client = client_for(request.getfixturevalue(who))
    listed = {row["id"] for row in client.get(URL).json()["results"]}
    assert (ride_along.pk in listed) == (who in SEES_RILEY)
    assert (outsider_ride_along.pk in listed) == (who in {"admin", "other_manager", "outsider"})
    detail = client.get(f"{URL}{ride_along.pk}/")
    assert detail.status_code == (200 if who in SEES_RILEY else 404)
    if detail.status_code == 200:
        body = detail.json()
        assert body["rep_name"] == "Riley Rep" and body["account_name"] == "Acme Corp"
        assert body["average_score"] == 3.0
        assert [(line["skill"], line["score"]) for line in body["scores"]] == [
            ("opening", 4),
            ("discovery", 3),
            ("presentation", 4),
            ("objections", 2),
            ("closing", 2),
        ]


@pytest.mark.parametrize("who", ROLES)
def test_writes_for_every_role(client_for, ride_along, rep, account, deal, visit, who, request):
    client = client_for(request.getfixturevalue(who))
    before = stored()
    created = client.post(URL, _body(rep, account, deal, visit), format="json")
    patched = client.patch(f"{URL}{ride_along.pk}/", {"observations": "Edited"}, format="json")
    if who in MAY_WRITE_RILEY:
        assert created.status_code == 201, created.json()
        assert created.json()["activity"] == visit.pk
        assert [line["skill"] for line in created.json()["scores"]] == ["discovery", "closing"]
        assert patched.status_code == 200 and patched.json()["observations"] == "Edited"
        assert client.delete(f"{URL}{created.json()['id']}/").status_code == 204
        assert stored() == before
        return
    expected_write = 403 if who in {"rep", "rep2", "outsider"} else None
    if expected_write:
        assert (created.status_code, patched.status_code) == (403, 403)
    else:  # a sibling manager: Riley is beyond their reach
        assert created.status_code == 400 and "rep" in created.json()
        assert patched.status_code == 404
        assert client.delete(f"{URL}{ride_along.pk}/").status_code == 404
    assert stored() == before
    ride_along.refresh_from_db()
    assert ride_along.observations == "Strong opening; rushed the close."


def test_create_without_a_visit_logs_one(client_for, manager, rep, account, deal):
    answer = client_for(manager).post(URL, _body(rep, account, deal), format="json")
    assert answer.status_code == 201
    logged = Activity.objects.get(pk=answer.json()["activity"])
    assert (logged.kind, logged.author, logged.deal) == ("client_visit", rep, deal)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scores": [{"skill": "opening", "score": 0}]}, "scores"),
        ({"scores": [{"skill": "opening", "score": 6}]}, "scores"),
        ({"scores": [{"skill": "opening", "score": "5"}]}, "scores"),
        ({"scores": [{"skill": "singing", "score": 3}]}, "scores"),
        (
            {"scores": [{"skill": "opening", "score": 3}, {"skill": "opening", "score": 4}]},
            "scores",
        ),
        ({"visited_on": "2999-01-01"}, "visited_on"),
        ({"visited_on": "not a day"}, "visited_on"),
        ({"account": 10**12}, "account"),
        ({"activity": 10**12}, "activity"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    client_for, manager, rep, account, deal, visit, change, field
):
    before = stored()
    answer = client_for(manager).post(URL, _body(rep, account, deal, visit) | change, format="json")
    assert answer.status_code == 400
    assert field in answer.json(), answer.json()
    assert stored() == before


def test_a_deal_of_another_account_and_a_visit_of_another_rep_are_refused(
    client_for, manager, rep, rep2, account, deal, pipeline
):
    client = client_for(manager)
    before = stored()
    other_deal = DealFactory(owner=rep, pipeline=pipeline)
    answer = client.post(URL, _body(rep, account, other_deal), format="json")
    assert answer.status_code == 400 and answer.json()["deal"] == [
        "The deal belongs to another account."
    ]
    from pipeline.services import activity_log

    theirs = activity_log(
        by=rep2,
        kind="client_visit",
        subject="Visit",
        deal=deal,
        occurred_at=world.noon(VISIT_DAY),
    )
    before = stored()
    answer = client.post(URL, _body(rep, account, deal, theirs), format="json")
    assert answer.status_code == 400 and "activity" in answer.json()
    assert stored() == before


def test_the_people_of_a_ride_along_stay(client_for, manager, rep2, ride_along):
    answer = client_for(manager).patch(f"{URL}{ride_along.pk}/", {"rep": rep2.pk}, format="json")
    assert answer.status_code == 400 and "rep" in answer.json()


def test_a_patch_replaces_the_scorecard(client_for, manager, ride_along):
    answer = client_for(manager).patch(
        f"{URL}{ride_along.pk}/", {"scores": [{"skill": "closing", "score": 5}]}, format="json"
    )
    assert answer.status_code == 200
    assert [(s["skill"], s["score"]) for s in answer.json()["scores"]] == [("closing", 5)]


def test_filters(client_for, manager, rep, rep2, ride_along):
    other = ride_along_record(
        by=manager,
        rep=rep2,
        visited_on=VISIT_DAY - datetime.timedelta(days=30),
        account=AccountFactory(owner=rep2),
        scores=card(opening=3),
    )
    client = client_for(manager)

    def ids(**query):
        return [row["id"] for row in client.get(URL, query).json()["results"]]

    assert ids() == [ride_along.pk, other.pk]
    assert ids(rep=rep2.pk) == [other.pk]
    assert ids(visited_from=VISIT_DAY.isoformat()) == [ride_along.pk]
    assert ids(visited_to=(VISIT_DAY - datetime.timedelta(days=1)).isoformat()) == [other.pk]
    assert ids(account=ride_along.account_id) == [ride_along.pk]
    assert ids(deal=ride_along.deal_id) == [ride_along.pk]
    assert client.get(URL, {"rep": "x"}).status_code == 400


def _many(manager, rep, rep2, pipeline, count: int) -> None:
    for n in range(count):
        person = (rep, rep2)[n % 2]
        place = AccountFactory(owner=person)
        ride_along_record(
            by=manager,
            rep=person,
            visited_on=VISIT_DAY - datetime.timedelta(days=n),
            account=place,
            deal=DealFactory(owner=person, account=place, pipeline=pipeline),
            scores=card(opening=1 + n % 5, discovery=3, closing=(2, "note")),
        )


@pytest.mark.parametrize("viewer", ["admin", "manager", "rep"])
def test_the_list_runs_the_same_queries_at_3_and_20(
    client_for, manager, rep, rep2, pipeline, viewer, request, django_assert_num_queries
):
    client = client_for(request.getfixturevalue(viewer))
    _many(manager, rep, rep2, pipeline, 3)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    _many(manager, rep, rep2, pipeline, 17)
    with django_assert_num_queries(len(few.captured_queries)):
        answer = client.get(URL, {"page_size": 50})
    assert answer.status_code == 200
    expected = 20 if viewer != "rep" else 2 + 9  # the even-numbered ones are Riley's
    assert len(answer.json()["results"]) == expected


@pytest.mark.parametrize("who", ROLES)
def test_skills_history_for_every_role(client_for, ride_along, rep, who, request):
    user = request.getfixturevalue(who)
    client = client_for(user)
    answer = client.get(HISTORY, {"rep": rep.pk})
    assert answer.status_code == (200 if who in SEES_RILEY else 404)
    own = client.get(HISTORY)
    assert own.status_code == 200 and own.json()["rep"]["id"] == user.pk
    if answer.status_code == 200:
        opening = answer.json()["skills"][0]
        assert opening["skill"] == "opening" and opening["latest"] == 4
        held = [q for q in opening["quarters"] if q["rep_scores"]]
        if opening["quarters"][0]["start"] <= "2026-01-01":  # the visit's quarter is still shown
            assert [(q["start"], q["rep_average"], q["team_median"]) for q in held] == [
                ("2026-01-01", 4.0, 4.0)
            ]


def test_skills_history_refuses_a_bad_rep(client_for, manager):
    client = client_for(manager)
    assert client.get(HISTORY, {"rep": "abc"}).status_code == 400
    assert client.get(HISTORY, {"rep": ""}).status_code == 400
    assert client.get(HISTORY, {"rep": 10**12}).status_code == 404


def test_today_is_accepted_but_tomorrow_is_not(client_for, manager, rep, account):
    client = client_for(manager)
    today = timezone.localdate()
    assert (
        client.post(
            URL, _body(rep, account, visited_on=today.isoformat()), format="json"
        ).status_code
        == 201
    )
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    answer = client.post(URL, _body(rep, account, visited_on=tomorrow), format="json")
    assert answer.status_code == 400 and "visited_on" in answer.json()
