"""The coaching hub and the site menu's Coaching entry, for every role."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from coaching.sections import SECTIONS, sections_for
from coaching.services import action_item_add, meetings_plan, series_schedule

pytestmark = pytest.mark.django_db
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]


@pytest.fixture
def ahead(manager, rep, outsider, other_manager):
    """Weekly series from ten days ago to a week ahead for rep and for the outsider; an overdue and a
    later item for rep, agreed at the first meeting."""
    today = timezone.localdate()
    made = {}
    for boss, person in ((manager, rep), (other_manager, outsider)):
        series = series_schedule(
            by=boss,
            rep=person,
            cadence="weekly",
            weekday=(today + datetime.timedelta(days=1)).weekday(),
            time=datetime.time(10),
            starts_on=today - datetime.timedelta(days=10),
        )
        meetings_plan(series=series, until=today + datetime.timedelta(days=8))
        made[person.username] = list(series.meetings.order_by("scheduled_at"))
    first = made["rep"][0]
    action_item_add(
        meeting=first,
        by=manager,
        owner=rep,
        text="Call Acme",
        due_on=today - datetime.timedelta(days=2),
    )
    action_item_add(
        meeting=first,
        by=manager,
        owner=rep,
        text="Send deck",
        due_on=today + datetime.timedelta(days=5),
    )
    return made


@pytest.mark.parametrize("who", ROLES)
def test_the_hub_lists_every_section_and_counts_only_what_the_user_may_see(
    ahead, client, who, request, django_assert_max_num_queries
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    answer = client.get(reverse("coaching"))
    assert answer.status_code == 200
    page = answer.content.decode()
    for section in SECTIONS:
        shown = section in sections_for(user)
        assert (reverse(section.url_name) in page) == shown
        assert section.managers_only or shown
        assert (f">{section.label}</a>" in page) == shown
    figures = answer.context
    expected_items = {
        "admin": 2,
        "manager": 2,
        "rep": 2,
        "rep2": 0,
        "other_manager": 0,
        "outsider": 0,
    }
    assert figures["open_items"] == expected_items[who]
    assert figures["overdue_items"] == (1 if expected_items[who] else 0)
    people = {m.series.rep.username for m in figures["next_meetings"]}
    expected_people = {
        "admin": {"rep", "outsider"},
        "manager": {"rep"},
        "rep": {"rep"},
        "rep2": set(),
        "other_manager": {"outsider"},
        "outsider": {"outsider"},
    }
    assert people == expected_people[who]


def test_the_hub_runs_a_fixed_number_of_queries(ahead, client, manager, django_assert_num_queries):
    client.force_login(manager)
    client.get(reverse("coaching"))  # warm the session
    with django_assert_num_queries(4):  # session, user, next meetings, item counts
        client.get(reverse("coaching"))


def test_the_hub_needs_a_login(client):
    answer = client.get(reverse("coaching"))
    assert answer.status_code == 302


@pytest.mark.parametrize(
    "url_name, current",
    [("insights", "Insights"), ("one-on-ones", "One-on-ones"), ("coaching", "Overview")],
)
def test_the_menu_lists_every_section_and_marks_the_current_page(
    client, manager, url_name, current
):
    client.force_login(manager)
    page = client.get(reverse(url_name)).content.decode()
    menu = page[
        page.index("data-nav-menu") : page.index("</ul>", page.index('id="nav-menu-coaching"'))
    ]
    assert 'href="/coaching/"' in menu and "data-nav-toggle" in menu  # works without JavaScript
    for section in SECTIONS:
        assert f'href="{reverse(section.url_name)}"' in menu
    assert f'aria-current="page">{current}</a>' in menu
    listed = menu[menu.index('id="nav-menu-coaching"') :]
    assert listed.count('aria-current="page"') == 1
    assert "aria-current" in menu[: menu.index('id="nav-menu-coaching"')]  # the entry itself
    # The old direct links are gone from the top level: one Coaching entry.
    header = page[: page.index("<main")]
    assert header.count(f'href="{reverse("insights")}"') == 1


def test_the_menu_is_not_marked_on_other_pages(client, manager):
    client.force_login(manager)
    page = client.get(reverse("home")).content.decode()
    menu = page[page.index("data-nav-menu") : page.index('id="nav-menu-coaching"')]
    assert "aria-current" not in menu
