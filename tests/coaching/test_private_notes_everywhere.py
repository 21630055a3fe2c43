"""A manager's private note never reaches a rep through any surface: every page of the site, every
API resource (with and without ``?search=``), the CSV export, the site's searches and the admin.

The note holds a word that appears nowhere else (``SECRETWORD``), so a search for it must find
nothing for the rep, and the word must not appear in any answer. As a control, the manager who
runs the meeting does read it on the meeting page and through the notes endpoint.
"""

import datetime

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from coaching.services import action_item_add, meeting_notes_save, talking_point_add
from salesmgr.api.urls import router
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db
WORD = "Zanzibarquux"
PRIVATE = f"Thinks about leaving; {WORD} offer from a rival"
# A searched page echoes the word it was asked for; the rest of the note must never show.
REST = "Thinks about leaving"


def _leaks(text: str, searched: bool) -> bool:
    return REST in text or (not searched and WORD in text)


READERS = ["rep", "rep2", "outsider"]
API = "/api/v1"
# Pages a GET cannot open on its own, or that only sign out.
SKIPPED = {"logout"}


@pytest.fixture
def noted(meetings, manager, rep, pipeline):
    meeting_notes_save(meeting=meetings[0], by=manager, shared="Good week.", private=PRIVATE)
    talking_point_add(meeting=meetings[0], by=rep, text="Pricing for Acme")
    action_item_add(
        meeting=meetings[0],
        by=manager,
        owner=rep,
        text="Send proposal",
        due_on=datetime.date(2026, 3, 9),
    )
    DealFactory(owner=rep, pipeline=pipeline, name="Acme renewal")
    return meetings


def _plain_pages(patterns=None, prefix="") -> list[str]:
    """The names of every URL of the site that takes no argument (the admin's left out)."""
    found = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin" or pattern.pattern.regex.groups:
                continue
            found += _plain_pages(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern) and pattern.name and not pattern.pattern.regex.groups:
            found.append(pattern.name)
    return sorted(set(found) - SKIPPED)


def _text(answer) -> str:
    if getattr(answer, "streaming", False):
        return b"".join(answer.streaming_content).decode()
    return answer.content.decode()


def test_the_manager_does_read_the_note(noted, client, manager):
    client.force_login(manager)
    assert WORD in _text(client.get(reverse("one-on-one", args=[noted[0].pk])))


@pytest.mark.parametrize("who", READERS)
def test_no_page_of_the_site_shows_a_rep_the_private_note(noted, series, client, request, who):
    client.force_login(request.getfixturevalue(who))
    pages = [reverse(name) for name in _plain_pages() if not name.startswith("api")]
    pages += [
        reverse("one-on-one", args=[noted[0].pk]),
        reverse("one-on-one", args=[noted[1].pk]),
        reverse("one-on-one-series", args=[series.pk]),
    ]
    assert reverse("deal-export") in pages and reverse("coaching") in pages
    for url in pages:
        for params in ({}, {"search": WORD, "q": WORD}):
            answer = client.get(url, params)
            assert answer.status_code < 500, url
            assert not _leaks(_text(answer), bool(params)), url


@pytest.mark.parametrize("who", READERS)
def test_searching_the_deals_for_the_word_finds_nothing(noted, client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("deal-list"), {"q": "Acme"}).context["page"].count == (
        1 if who == "rep" else 0
    )  # the search works
    answer = client.get(reverse("deal-list"), {"q": WORD})
    assert answer.status_code == 200
    assert answer.context["page"].count == 0
    export = _text(client.get(reverse("deal-export"), {"q": WORD}))
    assert len(export.strip().splitlines()) == 1  # the header only


@pytest.mark.parametrize("who", READERS)
def test_no_api_resource_gives_a_rep_the_private_note_or_finds_its_word(
    noted, client_for, request, who
):
    client = client_for(request.getfixturevalue(who))
    lists = [f"{API}/{prefix}/" for prefix, _, _ in router.registry]
    others = ["wins/", "streaks/", "personal-bests/", "insights/"]
    for url in lists:
        for params in ({}, {"search": WORD}):
            answer = client.get(url, params)
            assert answer.status_code in (200, 403), url  # some resources are for admins only
            assert not _leaks(_text(answer), bool(params)), url
        searched = answer.json()
        if isinstance(searched, dict) and "count" in searched and "search" in _search_fields(url):
            assert searched["count"] == 0, url
    for path in others:
        answer = client.get(f"{API}/{path}", {"search": WORD})
        assert answer.status_code < 500 and not _leaks(_text(answer), True), path
    for meeting in noted:
        for path in (f"{API}/one-on-ones/{meeting.pk}/", f"{API}/one-on-ones/{meeting.pk}/notes/"):
            answer = client.get(path)
            assert WORD not in _text(answer), path


def _search_fields(url: str) -> set[str]:
    prefix = url.removeprefix(f"{API}/").strip("/")
    viewset = next(v for p, v, _ in router.registry if p == prefix)
    return {"search"} if getattr(viewset, "search_fields", None) else set()


@pytest.mark.parametrize("who", READERS)
def test_the_admin_is_closed_to_reps(noted, client, request, who):
    client.force_login(request.getfixturevalue(who))
    for url in ("/admin/", f"/admin/?q={WORD}"):
        answer = client.get(url)
        assert answer.status_code in (302, 403, 404)
        assert not _leaks(_text(answer), True)


def test_the_manager_reads_the_note_through_the_api(noted, client_for, manager):
    answer = client_for(manager).get(f"{API}/one-on-ones/{noted[0].pk}/notes/")
    assert WORD in _text(answer)
