"""The applicant board's "Load more": a column opens with its latest cards and brings the next ones
on demand (HTMX, or a page of their own without script), within the same reach as the board."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coaching.hiring import CARDS_PER_COLUMN, MORE_CARDS
from coaching.services import applicant_add

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _fill(manager, position, n, start=0):
    for i in range(start, start + n):
        applicant_add(by=manager, position=position, full_name=f"Crowd {i:03d}")


def _more(stage="applied", offset=CARDS_PER_COLUMN, **query):
    params = "&".join(f"{k}={v}" for k, v in {**query, "offset": offset}.items())
    return f"{reverse('hiring-board-column', args=[stage])}?{params}"


def test_a_full_column_offers_load_more_and_it_brings_the_rest(client, manager, position):
    _fill(manager, position, CARDS_PER_COLUMN + 5)
    client.force_login(manager)
    board = client.get(reverse("hiring-board")).text
    assert board.count("Crowd ") >= CARDS_PER_COLUMN
    assert "Crowd 004" not in board  # the oldest five wait behind "Load more"
    assert f'hx-get="{_more()}"' in board
    more = client.get(_more(), **HTMX)
    assert more.status_code == 200
    text = more.text
    assert [f"Crowd {i:03d}" in text for i in range(5)] == [True] * 5
    assert "Crowd 005" not in text and "Load more" not in text and "<html" not in text


def test_load_more_pages_on_and_keeps_the_position_filter(
    client, manager, position, other_position
):
    _fill(manager, position, CARDS_PER_COLUMN + MORE_CARDS + 1)
    client.force_login(manager)
    query = {"position": position.pk}
    board = client.get(f"{reverse('hiring-board')}?position={position.pk}").text
    assert _more(**query).replace("&", "&amp;") in board
    first = client.get(_more(**query), **HTMX).text
    assert first.count('class="card"') == MORE_CARDS
    assert _more(offset=CARDS_PER_COLUMN + MORE_CARDS, **query).replace("&", "&amp;") in first
    last = client.get(_more(offset=CARDS_PER_COLUMN + MORE_CARDS, **query), **HTMX).text
    assert last.count('class="card"') == 1 and "Load more" not in last


def test_without_script_the_next_cards_are_a_page(client, manager, position):
    _fill(manager, position, CARDS_PER_COLUMN + 2)
    client.force_login(manager)
    page = client.get(_more())
    assert page.status_code == 200
    assert "Applied: more applicants" in page.text and "<html" in page.text
    assert f'href="{reverse("hiring-board")}"' in page.text


@pytest.mark.parametrize(
    "who, code, sees",
    [
        ("admin", 200, True),
        ("manager", 200, True),
        ("other_manager", 200, False),  # their own board: none of the manager's applicants
        ("rep", 403, False),
        ("rep2", 403, False),
        ("outsider", 403, False),
        (None, 302, False),
    ],
)
def test_load_more_follows_the_role_matrix(client, request, manager, position, who, code, sees):
    _fill(manager, position, 3)
    if who:
        client.force_login(request.getfixturevalue(who))
    answer = client.get(_more(offset=0), **(HTMX if who else {}))
    assert answer.status_code == code
    assert ("Crowd 000" in answer.text) == sees
    if who is None:
        assert "login" in answer["Location"]


@pytest.mark.parametrize("url", ["hired-ish", "applied/?offset=x"])
def test_bad_stage_or_offset(client, manager, position, url):
    _fill(manager, position, 2)
    client.force_login(manager)
    stage, _, query = url.partition("/?")
    if stage not in ("applied",):
        assert client.get(reverse("hiring-board-column", args=[stage])).status_code == 404
    else:  # a bad offset reads as the start
        answer = client.get(f"{reverse('hiring-board-column', args=[stage])}?{query}", **HTMX)
        assert answer.status_code == 200 and "Crowd 000" in answer.text


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_load_more_takes_the_same_queries_at_two_sizes(client, request, manager, position, who):
    client.force_login(request.getfixturevalue(who))
    counts = []
    for n in (CARDS_PER_COLUMN + 3, MORE_CARDS + 10):
        _fill(manager, position, n, start=len(counts) * 1000)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_more(), **HTMX).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    print(f"{who:8} board load more: {counts[0]} queries")  # benchmarks/README.md (run with -s)
