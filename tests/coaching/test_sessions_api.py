"""The coaching-session resource: every role, bad input naming its field and writing nothing,
commitments, recording, the figures, fixed query counts."""

import datetime

import pytest
from django.utils import timezone

from coaching.models import ActionItem, CoachingSession
from coaching.services import session_commitment_add, session_create

pytestmark = pytest.mark.django_db
API = "/api/v1/coaching-sessions"
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]


def days_ago(n: int) -> str:
    return str(timezone.localdate() - datetime.timedelta(days=n))


@pytest.fixture
def sessions(manager, other_manager, rep, outsider, stages):
    mine = session_create(
        by=manager,
        rep=rep,
        focus="stage",
        stage=stages["Discovery"],
        scheduled_on=timezone.localdate() - datetime.timedelta(days=20),
        goal="More deals to proposal",
    )
    session_commitment_add(
        session=mine, by=manager, owner=rep, text="Book the demo", due_on=timezone.localdate()
    )
    theirs = session_create(
        by=other_manager,
        rep=outsider,
        focus="skill",
        skill="closing",
        scheduled_on=timezone.localdate(),
    )
    return mine, theirs


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("who", ROLES)
def test_each_role_reads_only_its_sessions(sessions, client_for, who, request):
    mine, theirs = sessions
    client = client_for(request.getfixturevalue(who))
    expected = ({mine.pk} if who in ("admin", "manager", "rep") else set()) | (
        {theirs.pk} if who in ("admin", "other_manager", "outsider") else set()
    )
    assert _ids(client.get(f"{API}/")) == expected
    detail = client.get(f"{API}/{mine.pk}/")
    assert detail.status_code == (200 if mine.pk in expected else 404)
    if detail.status_code == 200:
        body = detail.json()
        assert body["goal"] == "More deals to proposal"
        assert [c["text"] for c in body["commitments"]] == ["Book the demo"]
        assert body["evidence"]["focus"] == "stage"
        assert body["before_after"]["kind"] == "stage"
        assert body["commitments_open"] == 1


@pytest.mark.parametrize("who", ROLES)
def test_only_the_reps_managers_and_admins_write(sessions, client_for, who, request, rep):
    mine, _ = sessions
    client = client_for(request.getfixturevalue(who))
    patched = client.patch(f"{API}/{mine.pk}/", {"will": "Ask for budget"}, format="json")
    recorded = client.post(f"{API}/{mine.pk}/record/", {"status": "held"}, format="json")
    committed = client.post(
        f"{API}/{mine.pk}/commitments/",
        {"owner": rep.pk, "text": "Call back", "due_on": days_ago(0)},
        format="json",
    )
    if who in ("admin", "manager"):
        assert patched.status_code == 200, patched.content
        assert patched.json()["will"] == "Ask for budget"
        assert recorded.status_code == 200 and recorded.json()["status"] == "held"
        assert committed.status_code == 201 and committed.json()["coaching_session"] == mine.pk
    elif who in ("rep", "rep2", "outsider"):
        assert {patched.status_code, recorded.status_code, committed.status_code} == {403}
    else:
        assert {patched.status_code, recorded.status_code, committed.status_code} == {404}
    if who not in ("admin", "manager"):
        mine.refresh_from_db()
        assert (mine.will, mine.status) == ("", "planned")
        assert ActionItem.objects.count() == 1


def test_a_manager_creates_a_session_with_its_evidence(manager, rep, stages, client_for):
    client = client_for(manager)
    created = client.post(
        f"{API}/",
        {
            "rep": rep.pk,
            "focus": "stage",
            "stage": stages["Proposal"].pk,
            "scheduled_on": days_ago(0),
            "follow_up_on": days_ago(-30),
            "goal": "Close faster",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    session = CoachingSession.objects.get()
    assert (session.manager, session.rep, session.status) == (manager, rep, "planned")
    assert session.evidence["stage"] == stages["Proposal"].pk
    assert created.json()["manager"] == manager.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"focus": "stage"}, "stage"),
        ({"focus": "deal"}, "deal"),
        ({"focus": "skill", "skill": "juggling"}, "skill"),
        ({"focus": "skill", "skill": "closing", "follow_up_on": days_ago(40)}, "follow_up_on"),
        ({"focus": "skill", "skill": "closing", "rep": "outsider"}, "rep"),
        ({"focus": "skill", "skill": "closing", "rep": "other_manager"}, "rep"),
        ({"focus": "skill", "skill": "closing", "scheduled_on": "yesterday"}, "scheduled_on"),
        ({"focus": "skill", "skill": "closing", "goal": 5}, "goal"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(
    manager, rep, client_for, body, field, request
):
    payload = {"rep": rep.pk, "scheduled_on": days_ago(30)} | body
    if isinstance(payload["rep"], str):
        payload["rep"] = request.getfixturevalue(payload["rep"]).pk
    answer = client_for(manager).post(f"{API}/", payload, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    assert not CoachingSession.objects.exists()


def test_a_sibling_manager_cannot_plan_for_another_team(other_manager, rep, client_for):
    answer = client_for(other_manager).post(
        f"{API}/",
        {"rep": rep.pk, "focus": "skill", "skill": "closing", "scheduled_on": days_ago(0)},
        format="json",
    )
    assert answer.status_code == 400 and "rep" in answer.json()
    assert client_for(rep).post(f"{API}/", {}, format="json").status_code == 403
    assert not CoachingSession.objects.exists()


def test_bad_updates_and_commitments_name_their_field(sessions, manager, rep2, client_for):
    mine, _ = sessions
    client = client_for(manager)
    early = client.patch(f"{API}/{mine.pk}/", {"follow_up_on": days_ago(40)}, format="json")
    assert early.status_code == 400 and "follow_up_on" in early.json()
    no_stage = client.patch(f"{API}/{mine.pk}/", {"stage": None}, format="json")
    assert no_stage.status_code == 400 and "stage" in no_stage.json()
    wrong_owner = client.post(
        f"{API}/{mine.pk}/commitments/",
        {"owner": rep2.pk, "text": "x", "due_on": days_ago(0)},
        format="json",
    )
    assert wrong_owner.status_code == 400 and "owner" in wrong_owner.json()
    bad_status = client.post(f"{API}/{mine.pk}/record/", {"status": "missed"}, format="json")
    assert bad_status.status_code == 400 and "status" in bad_status.json()
    mine.refresh_from_db()
    assert (mine.follow_up_on, mine.status) == (None, "planned")
    assert ActionItem.objects.count() == 1


def test_filters(sessions, admin, client_for, rep):
    mine, theirs = sessions
    client = client_for(admin)
    assert _ids(client.get(f"{API}/", {"rep": rep.pk})) == {mine.pk}
    assert _ids(client.get(f"{API}/", {"focus": "skill"})) == {theirs.pk}
    assert _ids(client.get(f"{API}/", {"status": "held"})) == set()
    assert client.get(f"{API}/", {"focus": "vibes"}).status_code == 400


def test_list_and_detail_run_a_fixed_number_of_queries(
    sessions, manager, rep, client_for, django_assert_num_queries
):
    mine, _ = sessions
    client = client_for(manager)
    with django_assert_num_queries(LIST_QUERIES):
        client.get(f"{API}/")
    for _ in range(5):
        session_create(
            by=manager, rep=rep, focus="skill", skill="opening", scheduled_on=timezone.localdate()
        )
    with django_assert_num_queries(LIST_QUERIES):
        assert len(client.get(f"{API}/").json()["results"]) == 6
    with django_assert_num_queries(DETAIL_QUERIES):
        client.get(f"{API}/{mine.pk}/")


LIST_QUERIES = 2
DETAIL_QUERIES = 4


@pytest.mark.parametrize("who", ROLES)
def test_a_sessions_commitments_reach_whoever_reads_the_session(
    sessions, manager, rep, client_for, who, request
):
    """The manager's own commitment at a rep's session is on the rep's list of items too."""
    mine, _ = sessions
    session_commitment_add(
        session=mine,
        by=manager,
        owner=manager,
        text="Find a demo slot",
        due_on=timezone.localdate(),
    )
    client = client_for(request.getfixturevalue(who))
    response = client.get("/api/v1/action-items/", {"coaching_session": mine.pk})
    assert response.status_code == 200, response.content
    texts = {row["text"] for row in response.json()["results"]}
    expected = (
        {"Book the demo", "Find a demo slot"} if who in ("admin", "manager", "rep") else set()
    )
    assert texts == expected
