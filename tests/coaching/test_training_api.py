"""The training resources: every role, bulk assignment, completion by the owner, bad input naming its
field and writing nothing, fixed query counts."""

import datetime

import pytest

from coaching.models import Assignment, Course, MentorMeeting, Mentorship, Onboarding
from coaching.services import (
    course_create,
    courses_assign,
    mentor_meeting_record,
    mentorship_create,
    onboarding_start,
    onboarding_step_create,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]


def soon(days: int = 14) -> str:
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


@pytest.fixture
def cert(admin):
    return course_create(
        by=admin, title="Data protection", kind="certification", valid_for_days=365
    )


@pytest.fixture
def world(admin, cert, manager, rep, rep2, other_manager, outsider):
    today = datetime.date.today()
    due = today + datetime.timedelta(days=10)
    mine = courses_assign(by=manager, course=cert, people=[rep], due_on=due)[0]
    theirs = courses_assign(by=other_manager, course=cert, people=[outsider], due_on=due)[0]
    pairing = mentorship_create(by=manager, mentor=rep, mentee=rep2)
    mentor_meeting_record(mentorship=pairing, by=rep, held_on=today, notes="First")
    onboarding_step_create(by=admin, title="Set up the CRM", position=1, due_after_days=2)
    onboarding = onboarding_start(by=manager, person=rep2)
    return {"mine": mine, "theirs": theirs, "pairing": pairing, "onboarding": onboarding}


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("who", ROLES)
def test_each_role_lists_only_what_it_may_see(world, client_for, request, who):
    client = client_for(request.getfixturevalue(who))
    mine, theirs = world["mine"].pk, world["theirs"].pk
    assignments = {
        "admin": {mine, theirs},
        "manager": {mine},
        "rep": {mine},
        "rep2": set(),
        "other_manager": {theirs},
        "outsider": {theirs},
    }[who]
    assert _ids(client.get(f"{API}/course-assignments/")) == assignments
    in_pair = who in {"admin", "manager", "rep", "rep2"}
    pairing = world["pairing"].pk
    assert _ids(client.get(f"{API}/mentorships/")) == ({pairing} if in_pair else set())
    meetings = set(MentorMeeting.objects.values_list("pk", flat=True)) if in_pair else set()
    assert _ids(client.get(f"{API}/mentor-meetings/")) == meetings
    sees_onboarding = who in {"admin", "manager", "rep2"}
    onboarding = world["onboarding"].pk
    assert _ids(client.get(f"{API}/onboarding/")) == ({onboarding} if sees_onboarding else set())
    assert client.get(f"{API}/mentorships/{pairing}/").status_code == (200 if in_pair else 404)
    assert client.get(f"{API}/onboarding/{onboarding}/").status_code == (
        200 if sees_onboarding else 404
    )
    assert client.get(f"{API}/course-assignments/{mine}/").status_code == (
        200 if mine in assignments else 404
    )
    assert len(_ids(client.get(f"{API}/courses/"))) == 1
    assert len(_ids(client.get(f"{API}/onboarding-steps/"))) == 1


@pytest.mark.parametrize(
    "who, status", [("admin", 201), ("manager", 403), ("rep", 403), ("other_manager", 403)]
)
def test_only_admins_edit_the_catalogue(cert, client_for, request, who, status):
    client = client_for(request.getfixturevalue(who))
    answer = client.post(
        f"{API}/courses/", {"title": "Negotiation", "kind": "course"}, format="json"
    )
    assert answer.status_code == status, answer.content
    patched = client.patch(f"{API}/courses/{cert.pk}/", {"valid_for_days": 730}, format="json")
    assert patched.status_code == (200 if who == "admin" else 403)
    assert Course.objects.get(pk=cert.pk).valid_for_days == (730 if who == "admin" else 365)


def test_a_duplicate_title_or_bad_validity_names_the_field(cert, client_for, admin):
    client = client_for(admin)
    dup = client.post(f"{API}/courses/", {"title": "data protection"}, format="json")
    assert dup.status_code == 400 and "title" in dup.json()
    bad = client.post(f"{API}/courses/", {"title": "X", "valid_for_days": 0}, format="json")
    assert bad.status_code == 400 and "valid_for_days" in bad.json()
    assert Course.objects.count() == 1


def test_a_manager_assigns_to_the_team_in_one_call_and_again_changes_nothing(
    cert, client_for, manager, rep, rep2, outsider
):
    client = client_for(manager)
    body = {"course": cert.pk, "team": True, "due_on": soon()}
    first = client.post(f"{API}/course-assignments/", body, format="json")
    assert first.status_code == 201, first.content
    assert {row["person"] for row in first.json()["assigned"]} == {rep.pk, rep2.pk}
    again = client.post(f"{API}/course-assignments/", body, format="json")
    assert again.status_code == 201 and again.json()["assigned"] == []
    named = client.post(
        f"{API}/course-assignments/",
        {"course": cert.pk, "people": [rep.pk], "due_on": soon()},
        format="json",
    )
    assert named.json() == {"assigned": [], "already_held": 1}
    assert Assignment.objects.count() == 2


@pytest.mark.parametrize(
    "who, body_of, field, status",
    [
        ("manager", lambda w: {"people": [w["outsider"]], "due_on": soon()}, "people", 400),
        ("manager", lambda w: {"people": [w["rep"]], "due_on": "2020-01-01"}, "due_on", 400),
        ("manager", lambda w: {"people": [], "due_on": soon()}, "people", 400),
        ("manager", lambda w: {"people": [w["rep"]], "team": True, "due_on": soon()}, "team", 400),
        ("manager", lambda w: {"people": [str(w["rep"])], "due_on": soon()}, "people", 400),
        ("other_manager", lambda w: {"people": [w["rep"]], "due_on": soon()}, "people", 400),
        ("rep", lambda w: {"team": True, "due_on": soon()}, None, 403),
    ],
)
def test_a_refused_assignment_names_the_field_and_writes_nothing(
    cert, client_for, request, rep, outsider, who, body_of, field, status
):
    body = {"course": cert.pk, **body_of({"rep": rep.pk, "outsider": outsider.pk})}
    answer = client_for(request.getfixturevalue(who)).post(
        f"{API}/course-assignments/", body, format="json"
    )
    assert answer.status_code == status, answer.content
    if field:
        assert field in answer.json()
    assert not Assignment.objects.exists()


@pytest.mark.parametrize(
    "who, status",
    [
        ("rep", 200),
        ("manager", 200),
        ("admin", 200),
        ("rep2", 404),
        ("other_manager", 404),
        ("outsider", 404),
    ],
)
def test_the_owner_or_a_manager_completes_and_the_expiry_follows(
    world, client_for, request, who, status
):
    mine = world["mine"]
    answer = client_for(request.getfixturevalue(who)).post(
        f"{API}/course-assignments/{mine.pk}/complete/", {}, format="json"
    )
    assert answer.status_code == status, answer.content
    mine.refresh_from_db()
    if status == 200:
        today = datetime.date.today()
        assert answer.json()["completed_on"] == today.isoformat()
        assert answer.json()["expires_on"] == (today + datetime.timedelta(days=365)).isoformat()
    else:
        assert mine.completed_on is None


def test_completing_in_the_future_names_the_field(world, client_for, rep):
    answer = client_for(rep).post(
        f"{API}/course-assignments/{world['mine'].pk}/complete/",
        {"completed_on": soon(3)},
        format="json",
    )
    assert answer.status_code == 400 and "completed_on" in answer.json()


def test_renewal_by_the_manager(world, client_for, manager, rep):
    client_for(rep).post(
        f"{API}/course-assignments/{world['mine'].pk}/complete/", {}, format="json"
    )
    renew = f"{API}/course-assignments/{world['mine'].pk}/renew/"
    assert client_for(rep).post(renew, {"due_on": soon(300)}, format="json").status_code == 403
    answer = client_for(manager).post(renew, {"due_on": soon(300)}, format="json")
    assert answer.status_code == 201, answer.content
    again = client_for(manager).post(renew, {"due_on": soon(300)}, format="json")
    assert again.status_code == 400 and "assignment" in again.json()


@pytest.mark.parametrize(
    "who, status", [("manager", 201), ("admin", 201), ("rep", 403), ("other_manager", 400)]
)
def test_pairing_by_role(client_for, request, rep, rep2, who, status):
    answer = client_for(request.getfixturevalue(who)).post(
        f"{API}/mentorships/", {"mentor": rep.pk, "mentee": rep2.pk}, format="json"
    )
    assert answer.status_code == status, answer.content
    assert Mentorship.objects.count() == (1 if status == 201 else 0)


def test_a_second_mentor_names_the_mentee(world, client_for, manager, rep2):
    other = UserFactory(username="senior", manager=manager)
    answer = client_for(manager).post(
        f"{API}/mentorships/", {"mentor": other.pk, "mentee": rep2.pk}, format="json"
    )
    assert answer.status_code == 400 and "mentee" in answer.json()


@pytest.mark.parametrize(
    "who, status",
    [("rep", 201), ("rep2", 201), ("manager", 201), ("outsider", 400), ("other_manager", 400)],
)
def test_the_pair_and_its_managers_record_meetings(world, client_for, request, who, status):
    before = MentorMeeting.objects.count()
    answer = client_for(request.getfixturevalue(who)).post(
        f"{API}/mentor-meetings/",
        {"mentorship": world["pairing"].pk, "held_on": datetime.date.today().isoformat()},
        format="json",
    )
    assert answer.status_code == status, answer.content
    assert MentorMeeting.objects.count() == before + (status == 201)


def test_ending_a_pairing(world, client_for, rep, manager):
    url = f"{API}/mentorships/{world['pairing'].pk}/end/"
    assert client_for(rep).post(url, {}, format="json").status_code == 403
    answer = client_for(manager).post(url, {}, format="json")
    assert answer.status_code == 200 and answer.json()["ended_on"]


@pytest.mark.parametrize(
    "who, status",
    [("rep2", 200), ("manager", 200), ("rep", 404), ("outsider", 404), ("other_manager", 404)],
)
def test_ticking_a_step(world, client_for, request, who, status):
    onboarding = world["onboarding"]
    step = onboarding.progress.get().step_id
    answer = client_for(request.getfixturevalue(who)).post(
        f"{API}/onboarding/{onboarding.pk}/tick/", {"step": step}, format="json"
    )
    assert answer.status_code == status, answer.content
    if status == 200:
        assert answer.json()["steps"][0]["done_on"] == datetime.date.today().isoformat()


def test_ticking_an_unknown_step_names_it(world, client_for, rep2):
    answer = client_for(rep2).post(
        f"{API}/onboarding/{world['onboarding'].pk}/tick/", {"step": 999999}, format="json"
    )
    assert answer.status_code == 400 and "step" in answer.json()


def test_starting_onboarding(world, client_for, manager, rep, rep2, outsider):
    client = client_for(manager)
    assert client.post(f"{API}/onboarding/", {"person": rep.pk}, format="json").status_code == 201
    twice = client.post(f"{API}/onboarding/", {"person": rep2.pk}, format="json")
    assert twice.status_code == 400 and "person" in twice.json()
    stranger = client.post(f"{API}/onboarding/", {"person": outsider.pk}, format="json")
    assert stranger.status_code == 400 and "person" in stranger.json()
    assert Onboarding.objects.count() == 2


@pytest.mark.parametrize(
    "path",
    ["course-assignments/", "mentorships/", "mentor-meetings/", "onboarding/", "courses/"],
)
def test_lists_run_a_fixed_number_of_queries(
    world, client_for, manager, admin, cert, path, django_assert_num_queries
):
    client = client_for(manager)
    with CountOnce() as small:
        client.get(f"{API}/{path}")
    for n in range(6):
        person = UserFactory(username=f"new{n}", manager=manager)
        courses_assign(by=manager, course=cert, people=[person], due_on=datetime.date.today())
        pairing = mentorship_create(by=manager, mentor=world["pairing"].mentor, mentee=person)
        mentor_meeting_record(mentorship=pairing, by=manager, held_on=datetime.date.today())
        onboarding_start(by=manager, person=person)
    with django_assert_num_queries(small.count):
        answer = client.get(f"{API}/{path}")
    assert answer.status_code == 200 and answer.json()["count"] >= 1
    assert small.count <= 3


class CountOnce:
    def __enter__(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self._ctx = CaptureQueriesContext(connection)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        self.count = len(self._ctx)
