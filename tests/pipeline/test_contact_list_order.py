"""The contacts page reads its rows along the name index for a reader who sees many and apart
for one who sees few, and the reader's owners and territories as ids: either way it lists
exactly the contacts that reader may see, in (last name, first name, id) order."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from pipeline.models import Account, Contact
from pipeline.selectors import contacts_in_name_order, contacts_visible_to
from quotas.models import Territory
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db

READERS = ["admin", "manager", "rep", "rep2", "other_manager", "outsider", "rep3", "loner"]


@pytest.fixture
def people(admin, manager, rep, rep2, other_manager, outsider):
    rep3 = UserFactory(username="rep3", manager=rep, full_name="Rory Rep")
    loner = UserFactory(username="loner", full_name="Lee Loner")
    return {
        "admin": admin,
        "manager": manager,
        "rep": rep,
        "rep2": rep2,
        "other_manager": other_manager,
        "outsider": outsider,
        "rep3": rep3,
        "loner": loner,
    }


@pytest.fixture
def book(people):
    """Nested territories with drawn members, accounts of drawn owners in drawn territories
    (a few deleted), and contacts with names drawn from short lists so that many tie."""
    draw = random.Random(20261205)
    territories = []
    for index in range(7):
        parent = draw.choice([None, *territories])
        territories.append(Territory.objects.create(name=f"Area {index}", parent=parent))
    owners = [people[name] for name in READERS if name != "admin"]
    for territory in territories:
        territory.reps.set(draw.sample(owners, draw.randrange(0, 3)))
    for index in range(40):
        account = AccountFactory(owner=draw.choice(owners), name=f"Firm {index}")
        change = {"territory": draw.choice([None, None, *territories])}
        if draw.random() < 0.1:
            change["deleted_at"] = timezone.now()
        Account.objects.filter(pk=account.pk).update(**change)
    accounts = list(Account.objects.all())
    Contact.objects.bulk_create(
        Contact(
            account=draw.choice(accounts),
            first_name=draw.choice(["Ann", "Bo", "Cy", "Di"]),
            last_name=draw.choice(["", "Lee", "Ng", "Okafor", "Smith"]),
        )
        for _ in range(160)
    )


def _expected(user) -> list[int]:
    """The reader's contacts worked out in Python from every account, person and territory."""
    if user.is_admin:
        return _ordered(contact for contact in Contact.objects.all())
    people = {user.pk}
    while True:
        below = set(type(user).objects.filter(manager_id__in=people).values_list("pk", flat=True))
        if below <= people:
            break
        people |= below
    if not user.is_manager:
        people = {user.pk}
    covered = {t.pk for t in Territory.objects.all() if t.reps.filter(pk__in=people).exists()}
    while True:
        inside = set(Territory.objects.filter(parent_id__in=covered).values_list("pk", flat=True))
        if inside <= covered:
            break
        covered |= inside
    owners = people if user.is_manager else {user.pk}
    seen = {
        account.pk
        for account in Account.objects.all()
        if account.deleted_at is None
        and (account.owner_id in owners or account.territory_id in covered)
    }
    return _ordered(contact for contact in Contact.objects.all() if contact.account_id in seen)


def _ordered(contacts) -> list[int]:
    live = set(Account.objects.filter(deleted_at__isnull=True).values_list("pk", flat=True))
    return [
        contact.pk
        for contact in sorted(contacts, key=lambda c: (c.last_name, c.first_name, c.pk))
        if contact.account_id in live
    ]


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize("many", [True, False])
def test_each_way_of_reading_lists_what_the_reader_sees_in_order(people, book, who, many):
    user = people[who]
    expected = _expected(user)
    assert expected or who == "loner"
    for reach_read in (True, False):
        contacts = contacts_visible_to(user, reach_read=reach_read)
        assert sorted(contacts.values_list("pk", flat=True)) == sorted(expected)
        for offset, limit in [(0, 11), (7, 30), (25, 90), (len(expected), len(expected) + 5)]:
            rows = contacts_in_name_order(contacts, offset=offset, limit=limit, many=many)
            assert [row.pk for row in rows] == expected[offset:limit]
    searched = contacts_visible_to(user, reach_read=True).filter(last_name__icontains="o")
    rows = contacts_in_name_order(searched, offset=0, limit=200, many=many)
    wanted = [pk for pk in expected if "o" in Contact.objects.get(pk=pk).last_name.lower()]
    assert [row.pk for row in rows] == wanted


@pytest.mark.parametrize("who", READERS)
def test_the_page_lists_the_readers_contacts_in_a_fixed_number_of_queries(
    client, people, book, who
):
    user = people[who]
    client.force_login(user)
    expected = _expected(user)
    client.get(reverse("contact-list"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("contact-list"), {"page": 2})
    # The session and the user, the reader's owners and territories (not for an admin), the
    # count and the page's rows.
    assert len(queries) == (4 if user.is_admin else 5)
    shown = 50 if len(expected) > 50 else 0  # page 2, or the last page when there is one
    assert [contact.pk for contact in response.context["page"].rows] == expected[shown:][:50]


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize("cap", [0, 10_000])
def test_the_api_lists_the_readers_contacts_in_order_with_an_exact_count(
    monkeypatch, people, book, who, cap
):
    """The API list reads as the page does (along the index when the reader sees more than the
    cap, apart when fewer): every page, searched or not, equals the reading worked out here."""
    monkeypatch.setattr("pipeline.api.accounts.COUNT_CAP", cap)
    user = people[who]
    client = APIClient()
    client.force_authenticate(user)
    expected = _expected(user)
    names = {contact.pk: contact.last_name.lower() for contact in Contact.objects.all()}
    for search, wanted in [("", expected), ("mi", [pk for pk in expected if "mi" in names[pk]])]:
        listed, number = [], 1
        while True:
            response = client.get(
                "/api/v1/contacts/", {"page": number, "page_size": 11, "search": search}
            )
            assert response.status_code == 200
            body = response.json()
            assert body["count"] == len(wanted)
            listed += [row["id"] for row in body["results"]]
            if body["next"] is None:
                break
            number += 1
        assert listed == wanted
    # Another order reads the plain way, as before.
    response = client.get("/api/v1/contacts/", {"ordering": "-id", "page_size": 200})
    assert [row["id"] for row in response.json()["results"]] == sorted(expected, reverse=True)


@pytest.mark.parametrize("who", ["admin", "manager", "rep"])
def test_the_api_list_takes_a_fixed_number_of_queries(people, book, who):
    """The reader's owners and territories (not for an admin), the count and the page's rows,
    with 160 contacts as with 320."""
    user = people[who]
    client = APIClient()
    client.force_authenticate(user)
    expected = 2 if user.is_admin else 3
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/contacts/", {"page_size": 200}).status_code == 200
        assert len(queries) == expected
        accounts = list(Account.objects.all())
        Contact.objects.bulk_create(
            Contact(account=account, first_name="Ed", last_name="Zed") for account in accounts * 4
        )
