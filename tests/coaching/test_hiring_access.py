"""Who reaches hiring, page by page and endpoint by endpoint, and that an applicant's interview notes
and scorecards reach nobody but the hiring manager and admins, through any surface.

The role matrix: admin; the hiring manager (``manager``); reps of the team (``rep``, ``rep2``);
another manager (``other_manager``) and their rep (``outsider``); anonymous. The notes hold ``WORD``,
a word that appears nowhere else: it must never reach a reader outside the rule, even when they
search for it (a page that echoes the search back is allowed the word alone, never the note).
"""

import pytest
from django.urls import reverse

from coaching.services import applicant_move
from salesmgr.api.urls import router
from tests.coaching.hiring_world import NOTE, SUMMARY, WORD
from tests.coaching.test_private_notes_everywhere import _plain_pages, _text

pytestmark = pytest.mark.django_db
API = "/api/v1"
OUTSIDERS = ["rep", "rep2", "other_manager", "outsider"]
HIRING_LISTS = ["positions", "applicants", "interview-notes", "scorecards"]


def _leaks(text: str, searched: bool) -> bool:
    return NOTE in text or SUMMARY in text or (not searched and WORD in text)


def _pages(applicants, position) -> dict[str, str]:
    interview = applicants["interview"]
    return {
        "hub": reverse("hiring"),
        "capacity": reverse("hiring-capacity"),
        "positions": reverse("hiring-positions"),
        "position": reverse("hiring-position", args=[position.pk]),
        "board": reverse("hiring-board"),
        "applicant": reverse("hiring-applicant", args=[interview.pk]),
    }


# Per reader: the status of each page (the position and the applicant are the manager's).
EXPECTED_PAGES = {
    "admin": dict.fromkeys(("hub", "capacity", "positions", "position", "board", "applicant"), 200),
    "manager": dict.fromkeys(("hub", "capacity", "positions", "position", "board", "applicant"), 200),
    "rep": dict.fromkeys(("hub", "capacity", "positions", "position", "board", "applicant"), 403),
    "rep2": dict.fromkeys(("hub", "capacity", "positions", "position", "board", "applicant"), 403),
    "outsider": dict.fromkeys(("hub", "capacity", "positions", "position", "board", "applicant"), 403),
    "other_manager": {
        "hub": 200, "capacity": 200, "positions": 200, "board": 200, "position": 404, "applicant": 404
    },
}  # fmt: skip


@pytest.mark.parametrize("who", [*EXPECTED_PAGES, "anonymous"])
def test_the_pages_follow_the_role_matrix(
    applicants, position, other_position, client, request, who
):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    for name, url in _pages(applicants, position).items():
        answer = client.get(url)
        if who == "anonymous":
            assert answer.status_code == 302 and "/login" in answer["Location"], name
            continue
        assert answer.status_code == EXPECTED_PAGES[who][name], name
        shows_note = who in ("admin", "manager") and name == "applicant"
        assert (NOTE in _text(answer)) == shows_note, name
        assert (SUMMARY in _text(answer)) == shows_note, name


def test_another_manager_sees_their_own_hiring_and_nothing_of_the_first(
    applicants, position, other_position, client, other_manager
):
    client.force_login(other_manager)
    page = _text(client.get(reverse("hiring-board")))
    assert "Otto Other" in page and "Ivan Interview" not in page
    page = _text(client.get(reverse("hiring-positions")))
    assert "SDR" in page and "Account executive</a>" not in page


@pytest.mark.parametrize("who", ["rep", "other_manager", "outsider", "anonymous"])
def test_no_write_reaches_past_the_rule(applicants, position, client, request, who):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    applicant = applicants["applied"]
    posts = [
        (reverse("hiring-applicant-move", args=[applicant.pk]), {"stage": "screen"}),
        (reverse("hiring-applicant-note", args=[applicant.pk]), {"text": "x"}),
        (reverse("hiring-applicant-scorecard", args=[applicant.pk]), {"recommendation": "yes", "rating_closing": "3"}),
        (reverse("hiring-applicant-new", args=[position.pk]), {"full_name": "X"}),
        (reverse("hiring-position-edit", args=[position.pk]), {"status": "cancelled"}),
    ]  # fmt: skip
    expected = {"rep": 403, "outsider": 403, "other_manager": 404, "anonymous": 302}[who]
    for url, data in posts:
        assert client.post(url, data).status_code == expected, url
    applicant.refresh_from_db()
    position.refresh_from_db()
    assert applicant.stage == "applied" and position.status == "open"
    assert applicant.notes.count() == 0 and applicant.scorecards.count() == 0


@pytest.mark.parametrize(
    "who", ["admin", "manager", "rep", "rep2", "other_manager", "outsider", "anonymous"]
)
def test_the_api_follows_the_role_matrix(
    applicants, position, other_position, client_for, request, who
):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    client = client_for(user)
    interview = applicants["interview"]
    note = interview.notes.get()
    scorecard = interview.scorecards.get()
    details = [
        f"{API}/positions/{position.pk}/",
        f"{API}/applicants/{interview.pk}/",
        f"{API}/interview-notes/{note.pk}/",
        f"{API}/scorecards/{scorecard.pk}/",
    ]
    lists = [f"{API}/{name}/" for name in HIRING_LISTS] + [f"{API}/capacity-plan/"]
    if who == "admin":  # an admin names the team they plan
        lists[-1] += f"?manager={position.manager_id}"
    if who == "anonymous":
        for url in lists + details:
            assert client.get(url).status_code == 401, url
        return
    if who in ("rep", "rep2", "outsider"):
        for url in lists + details:
            assert client.get(url).status_code == 403, url
        move = client.post(
            f"{API}/applicants/{interview.pk}/move/", {"stage": "offer"}, format="json"
        )
        assert move.status_code == 403
        return
    for url in lists:
        assert client.get(url).status_code == 200, url
    for url in details:
        answer = client.get(url)
        assert answer.status_code == (404 if who == "other_manager" else 200), url
        assert (NOTE in _text(answer) or SUMMARY in _text(answer)) == (
            who != "other_manager" and ("notes" in url or "scorecards" in url)
        ), url
    counts = {name: client.get(f"{API}/{name}/").json()["count"] for name in HIRING_LISTS}
    expected = {
        "admin": {"positions": 2, "applicants": 4, "interview-notes": 1, "scorecards": 1},
        "manager": {"positions": 1, "applicants": 3, "interview-notes": 1, "scorecards": 1},
        "other_manager": {"positions": 1, "applicants": 1, "interview-notes": 0, "scorecards": 0},
    }[who]
    assert counts == expected
    # An id of the first manager's in input reads as "does not exist".
    if who == "other_manager":
        answer = client.post(
            f"{API}/interview-notes/", {"applicant": interview.pk, "text": "x"}, format="json"
        )
        assert answer.status_code == 400 and "applicant" in answer.json()
        assert WORD not in _text(answer)
        answer = client.get(f"{API}/capacity-plan/", {"manager": position.manager_id})
        assert answer.status_code == 404 and "manager" in answer.json()
        answer = client.post(
            f"{API}/applicants/{interview.pk}/move/", {"stage": "offer"}, format="json"
        )
        assert answer.status_code == 404


@pytest.mark.parametrize("who", OUTSIDERS + ["hired"])
def test_the_notes_reach_no_one_else_through_any_page_or_endpoint(
    applicants, position, other_position, client, client_for, request, manager, who
):
    """Every page of the site without an argument, the hiring pages, every API list (searched for the
    word and not), the hiring details: nothing of the notes for the team's reps, another manager, their
    rep, or the rep just hired from the position."""
    if who == "hired":
        user = applicant_move(by=manager, applicant=applicants["offer"], stage="hired").hire.user
    else:
        user = request.getfixturevalue(who)
    client.force_login(user)
    pages = [reverse(name) for name in _plain_pages() if not name.startswith("api")]
    pages += list(_pages(applicants, position).values())
    assert reverse("home") in pages and reverse("hiring") in pages
    for url in pages:
        for params in ({}, {"search": WORD, "q": WORD}):
            answer = client.get(url, params)
            assert answer.status_code < 500, url
            assert not _leaks(_text(answer), bool(params)), url
    api = client_for(user)
    interview = applicants["interview"]
    urls = [f"{API}/{prefix}/" for prefix, _, _ in router.registry]
    urls += [f"{API}/capacity-plan/", f"{API}/applicants/{interview.pk}/"]
    urls += [f"{API}/interview-notes/{interview.notes.get().pk}/"]
    urls += [f"{API}/scorecards/{interview.scorecards.get().pk}/"]
    urls += [
        f"{API}/interview-notes/?applicant={interview.pk}",
        f"{API}/scorecards/?applicant={interview.pk}",
    ]
    for url in urls:
        for params in ({}, {"search": WORD}):
            answer = api.get(url, params)
            assert answer.status_code in (200, 403, 404), url
            assert not _leaks(_text(answer), bool(params)), url


def test_the_admin_and_the_manager_find_the_notes(applicants, client_for, admin, manager):
    interview = applicants["interview"]
    for user in (admin, manager):
        answer = client_for(user).get(f"{API}/interview-notes/", {"applicant": interview.pk})
        assert NOTE in _text(answer)
        answer = client_for(user).get(f"{API}/scorecards/", {"applicant": interview.pk})
        assert SUMMARY in _text(answer) and answer.json()["results"][0]["ratings"]


def test_the_audit_log_and_webhook_outbox_never_carry_a_note(
    applicants, manager, admin, client_for
):
    applicant_move(by=manager, applicant=applicants["interview"], stage="hired")
    answer = client_for(admin).get(f"{API}/audit-events/", {"page_size": 200})
    assert answer.status_code == 200 and not _leaks(_text(answer), False)
    deliveries = client_for(admin).get(f"{API}/webhooks/deliveries/")
    assert not _leaks(_text(deliveries), False)
