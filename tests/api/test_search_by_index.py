"""Contact, account and deal search by the ids their trigram indexes find (``search_by_index``)
lists exactly what the plain filter lists, for short and long terms, several terms and any case,
whether the planner expects a term in few rows (matched by ids) or in many (row by row)."""

import datetime
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from pipeline.api.accounts import ContactViewSet
from pipeline.models import Account, Contact, Deal
from salesmgr.api import search as search_filter
from tests.factories import AccountFactory, DealFactory

pytestmark = pytest.mark.django_db

WORDS = ["Nguyen", "Smith", "Okafor", "Lee", "Quantum", "Bluefin", "an", "Ng"]
TERMS = ["an", "NGU", "nguyen", "smi", "okaf", "zqx", "quantum", "blue fin", "lee,smith", '"n s"']
TERMS += ["a_b", "%", "ng lee", "uefin", "example"]


@pytest.fixture
def people(admin, manager, rep, rep2, outsider):
    return {"admin": admin, "manager": manager, "rep": rep, "rep2": rep2, "outsider": outsider}


@pytest.fixture
def book(people):
    draw = random.Random(20261205)
    owners = [people["manager"], people["rep"], people["rep2"], people["outsider"]]
    for index in range(30):
        words = draw.sample(WORDS, 2)
        AccountFactory(
            owner=draw.choice(owners),
            name=f"{words[0]} {words[1]} {index}",
            industry=draw.choice(["Energy", "Finance", "Media"]),
            region=draw.choice(["EMEA", "Americas", "APAC"]),
        )
    accounts = list(Account.objects.all())
    for index in range(40):
        account = draw.choice(accounts)
        DealFactory(
            owner=account.owner,
            account=account,
            name=f"{draw.choice(WORDS)} rollout {index}",
            expected_close_date=datetime.date(2031, 1, 1) + datetime.timedelta(days=index % 7),
        )
    for index in range(150):
        first, last = draw.choice(WORDS), draw.choice(WORDS)
        Contact.objects.create(
            account=draw.choice(accounts),
            first_name=first,
            last_name=last,
            email=draw.choice(["", f"{first}.{last}@n{index}.example".lower()]),
        )


def _terms(search: str) -> list[str]:
    from rest_framework.filters import search_smart_split

    return search_smart_split(search)


def _holds(texts: list[str], search: str) -> bool:
    return all(any(term.upper() in text.upper() for text in texts) for term in _terms(search))


def _listed(client, resource: str, search: str) -> tuple[list[int], int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        body = client.get(f"/api/v1/{resource}/", {"search": search, "page_size": 200}).json()
    return [row["id"] for row in body["results"]], body["count"], [q["sql"] for q in queries]


@pytest.mark.parametrize("who", ["admin", "manager", "rep", "outsider"])
@pytest.mark.parametrize("up_to", [10_000, -1])
def test_searching_by_index_lists_what_the_plain_filter_lists(
    monkeypatch, people, book, who, up_to
):
    monkeypatch.setattr("salesmgr.api.search.SEARCH_BY_IDS_UP_TO", up_to)
    monkeypatch.setattr(ContactViewSet, "search_by_ids_up_to", up_to)
    user = people[who]
    client = APIClient()
    client.force_authenticate(user)
    seen_contacts = {
        row["id"] for row in client.get("/api/v1/contacts/", {"page_size": 200}).json()["results"]
    }
    seen_deals = {
        row["id"] for row in client.get("/api/v1/deals/", {"page_size": 200}).json()["results"]
    }
    seen_accounts = {
        row["id"] for row in client.get("/api/v1/accounts/", {"page_size": 200}).json()["results"]
    }
    for search in TERMS:
        contacts = sorted(
            (c for c in Contact.objects.select_related("account") if c.pk in seen_contacts),
            key=lambda c: (c.last_name, c.first_name, c.pk),
        )
        wanted = [
            c.pk
            for c in contacts
            if _holds([c.first_name, c.last_name, c.email, c.account.name], search)
        ]
        ids, count, sql = _listed(client, "contacts", search)
        assert (ids, count) == (wanted, len(wanted)), search
        accounts = sorted(
            (a for a in Account.objects.all() if a.pk in seen_accounts),
            key=lambda a: (a.name, a.pk),
        )
        wanted = [a.pk for a in accounts if _holds([a.name, a.industry, a.region], search)]
        ids, count, sql = _listed(client, "accounts", search)
        assert (ids, count) == (wanted, len(wanted)), search
        deals = sorted(
            (d for d in Deal.objects.select_related("account") if d.pk in seen_deals),
            key=lambda d: (d.expected_close_date, d.pk),
        )
        wanted = [
            d.pk for d in deals if _holds([d.name, d.account.name, d.external_id or ""], search)
        ]
        ids, count, sql = _listed(client, "deals", search)
        assert (ids, count) == (wanted, len(wanted)), search


def test_a_term_of_three_letters_is_matched_by_ids_on_postgresql(people, book):
    client = APIClient()
    client.force_authenticate(people["manager"])
    for search, by_ids in [("ngu", True), ("an", False), ("a_b", False)]:
        _, _, sql = _listed(client, "contacts", search)
        counted = next(statement for statement in sql if "COUNT(" in statement)
        assert ("UNION" in counted) == (by_ids and connection.vendor == "postgresql"), search


def test_a_term_the_planner_expects_in_many_rows_is_matched_row_by_row(monkeypatch, people, book):
    monkeypatch.setattr(ContactViewSet, "search_by_ids_up_to", -1)
    client = APIClient()
    client.force_authenticate(people["manager"])
    _, _, sql = _listed(client, "contacts", "ngu")
    counted = next(statement for statement in sql if "COUNT(" in statement)
    assert "UNION" not in counted


def test_contacts_are_matched_by_ids_for_terms_too_common_for_the_other_lists(
    monkeypatch, people, book
):
    """A name term's contacts lie together in the contacts' name order, so walking the order row
    by row reads up to them: contacts keep the ids for terms the other lists match row by row."""
    # As if the planner expected the term in 50,000 rows of each list.
    monkeypatch.setattr(search_filter, "_planned_rows", lambda queryset: 50_000)
    chosen = {}

    def spied(queryset, lookups, term, up_to):
        matched = term_matched(queryset, lookups, term, up_to)
        by_ids = isinstance(matched.children[0], tuple) and matched.children[0][0] == "pk__in"
        chosen[queryset.model.__name__] = by_ids
        return matched

    term_matched = search_filter._term_matched
    monkeypatch.setattr(search_filter, "_term_matched", spied)
    client = APIClient()
    client.force_authenticate(people["manager"])
    for name in ("contacts", "accounts", "deals"):
        _listed(client, name, "ngu")
    on_postgresql = connection.vendor == "postgresql"
    expected = {"Contact": True, "Account": False, "Deal": False} if on_postgresql else {}
    assert chosen == expected
