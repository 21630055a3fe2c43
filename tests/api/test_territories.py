"""The territory API: territories with owners, members and rules; rules; previews; realignments; handovers.

Every endpoint is read against the admin, the manager, a rep and the rep of the
other team; bad input answers 400 naming the field and writes nothing.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline.models import (
    Account,
    Deal,
    ExchangeRate,
    Handover,
    TerritoryRealignment,
    TerritoryRule,
)
from pipeline.services import account_create
from pipeline.services.territories import (
    NOT_QUEUED,
    realignment_run,
    realignment_start,
    territory_rule_create,
)
from quotas.services import territory_create
from salesmgr.celery import app as celery_app
from tests.factories import DealFactory
from tests.redis_server import free_port
from tests.reports.test_redis_outage import _reset_celery_connections

API = "/api/v1/"


@pytest.fixture
def eager(monkeypatch):
    """Run the realignment task in this process, whatever the broker setting (CI has a real one)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_store_eager_result", True)


@pytest.fixture
def map_(admin, manager, other_manager, rep, rep2, outsider, pipeline):
    """North (the manager's, rep a member), South (rep2), Far (the other team's); accounts and deals in each."""
    north = territory_create(name="North", owner=manager, reps=[rep], by=admin)
    south = territory_create(name="South", reps=[rep2], by=admin)
    far = territory_create(name="Far", owner=other_manager, reps=[outsider], by=admin)
    rule = territory_rule_create(territory=north, by=admin, priority=1, countries=["DE"])
    territory_rule_create(territory=far, by=admin, priority=2, countries=["US"])
    accounts = {}
    for owner, country in (
        (rep, "DE"),
        (rep2, "DE"),
        (rep2, "FR"),
        (outsider, "US"),
        (outsider, "DE"),
    ):
        account = account_create(
            by=owner, owner=owner, name=f"{owner.username}-{country}", country=country
        )
        accounts[(owner.username, country)] = account
        DealFactory(owner=owner, account=account, pipeline=pipeline, amount=Decimal("250.00"))
    return {"north": north, "south": south, "far": far, "rule": rule, "accounts": accounts}


def _ids(response):
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def test_territories_are_read_by_role(client_for, admin, manager, rep, rep2, outsider, map_):
    north, south, far = map_["north"], map_["south"], map_["far"]
    assert _ids(client_for(admin).get(f"{API}territories/")) == sorted([north.pk, south.pk, far.pk])
    assert _ids(client_for(manager).get(f"{API}territories/")) == sorted([north.pk, south.pk])
    assert _ids(client_for(rep).get(f"{API}territories/")) == [north.pk]
    assert _ids(client_for(outsider).get(f"{API}territories/")) == [far.pk]
    assert client_for(outsider).get(f"{API}territories/{north.pk}/").status_code == 404
    body = client_for(rep).get(f"{API}territories/{north.pk}/").json()
    assert (body["owner"], body["reps"], body["handover_rule"]) == (
        manager.pk,
        [rep.pk],
        "round_robin",
    )
    assert [(r["id"], r["countries"]) for r in body["rules"]] == [(map_["rule"].pk, ["DE"])]


def test_only_admins_change_territories_and_members_must_be_reps(
    client_for, admin, manager, rep, rep2, map_
):
    url = f"{API}territories/{map_['north'].pk}/"
    assert (
        client_for(manager).patch(url, {"reps": [rep.pk, rep2.pk]}, format="json").status_code
        == 403
    )
    bad = client_for(admin).patch(
        url, {"reps": [rep.pk, manager.pk], "owner": rep.pk}, format="json"
    )
    assert bad.status_code == 400 and set(bad.json()) == {"reps", "owner"}
    assert list(map_["north"].reps.all()) == [rep]
    good = client_for(admin).patch(
        url, {"handover_rule": "named_rep", "named_rep": rep.pk}, format="json"
    )
    assert good.status_code == 200 and good.json()["named_rep"] == rep.pk


def test_territory_lists_take_a_fixed_number_of_queries(client_for, admin, manager, map_):
    counts = []
    for extra in (0, 6):
        for index in range(extra):
            territory = territory_create(name=f"T{index}", owner=manager, by=admin)
            territory_rule_create(
                territory=territory, by=admin, priority=index, postcode_prefixes=[str(index)]
            )
        for path in ("territories/", "territory-rules/", "handovers/"):
            with CaptureQueriesContext(connection) as queries:
                assert client_for(admin).get(f"{API}{path}", {"page_size": 200}).status_code == 200
            counts.append((path, len(queries)))
    assert counts[:3] == counts[3:]


def test_rules_are_read_by_role_and_written_by_admins(
    client_for, admin, manager, rep, outsider, map_
):
    north_rule = map_["rule"].pk
    far_rule = TerritoryRule.objects.get(territory=map_["far"]).pk
    assert _ids(client_for(admin).get(f"{API}territory-rules/")) == sorted([north_rule, far_rule])
    assert _ids(client_for(manager).get(f"{API}territory-rules/")) == [north_rule]
    assert _ids(client_for(rep).get(f"{API}territory-rules/")) == [north_rule]
    assert _ids(client_for(outsider).get(f"{API}territory-rules/")) == [far_rule]
    payload = {
        "territory": map_["south"].pk,
        "priority": 3,
        "countries": ["FR"],
        "employees_min": 5,
    }
    for user in (manager, rep, outsider):
        assert (
            client_for(user).post(f"{API}territory-rules/", payload, format="json").status_code
            == 403
        )
    created = client_for(admin).post(f"{API}territory-rules/", payload, format="json")
    assert created.status_code == 201, created.content
    url = f"{API}territory-rules/{created.json()['id']}/"
    assert (
        client_for(admin).patch(url, {"employees_max": 50}, format="json").json()["employees_max"]
        == 50
    )
    assert client_for(rep).delete(url).status_code == 403
    assert client_for(admin).delete(url).status_code == 204


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"countries": ["Germany"]}, "countries"),
        ({"countries": ["XX"]}, "countries"),
        ({"employees_min": 10, "employees_max": 2}, "employees_min"),
        ({"revenue_min": "-5.00"}, "revenue_min"),
        ({"postcode_prefixes": [""]}, "postcode_prefixes"),
        ({"accounts": [987654]}, "accounts"),
        ({"priority": -1, "countries": ["DE"]}, "priority"),
        ({}, "non_field_errors"),
        ({"regions": "North"}, "regions"),
    ],
)
def test_a_bad_rule_answers_400_naming_the_field(client_for, admin, map_, payload, field):
    before = TerritoryRule.objects.count()
    response = client_for(admin).post(
        f"{API}territory-rules/", {"territory": map_["south"].pk, **payload}, format="json"
    )
    assert response.status_code == 400 and field in response.json(), response.content
    assert TerritoryRule.objects.count() == before


def test_preview_writes_nothing_and_matches_the_job(
    client_for, admin, manager, rep, rep2, outsider, map_, eager, django_capture_on_commit_callbacks
):
    body = {"territories": [{"territory": map_["south"].pk, "rules": [{"priority": 0, "countries": ["FR", "DE"],
                                                                        "employees_max": None}]}],
            "reason": "Spring plan"}  # fmt: skip
    for user in (manager, rep, outsider):
        assert (
            client_for(user)
            .post(f"{API}territory-realignments/preview/", body, format="json")
            .status_code
            == 403
        )
    before = (
        list(Account.objects.values_list("pk", "territory_id", "owner_id")),
        TerritoryRule.objects.count(),
    )
    preview = client_for(admin).post(f"{API}territory-realignments/preview/", body, format="json")
    assert preview.status_code == 200, preview.content
    assert before == (
        list(Account.objects.values_list("pk", "territory_id", "owner_id")),
        TerritoryRule.objects.count(),
    )
    figures = preview.json()
    assert (figures["accounts"], figures["deals"], figures["value"]) == (4, 2, "500.00")
    assert sorted(
        (
            g["from_territory_name"] or "",
            g["from_owner_name"],
            g["to_territory_name"],
            g["to_owner_name"],
            g["accounts"],
        )
        for g in figures["groups"]
    ) == [
        ("", rep2.display_name, "South", rep2.display_name, 1),
        ("North", outsider.display_name, "South", rep2.display_name, 1),
        ("North", rep.display_name, "South", rep2.display_name, 1),
        ("North", rep2.display_name, "South", rep2.display_name, 1),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        started = client_for(admin).post(f"{API}territory-realignments/", body, format="json")
    assert started.status_code == 202, started.content
    job = client_for(admin).get(f"{API}territory-realignments/{started.json()['id']}/").json()
    assert (job["status"], job["total"], job["done"], job["deals_moved"]) == ("done", 4, 4, 2)
    assert (
        Deal.objects.filter(account__country__in=["DE", "FR"], status="open")
        .exclude(owner=rep2)
        .count()
        == 0
    )
    for user in (manager, rep, outsider):
        assert client_for(user).get(f"{API}territory-realignments/").status_code == 403
        assert client_for(user).get(f"{API}territory-realignments/{job['id']}/").status_code == 403
        assert (
            client_for(user).post(f"{API}territory-realignments/", body, format="json").status_code
            == 403
        )


def test_preview_values_are_in_the_reporting_currency_and_rate_less_deals_are_listed(
    client_for, admin, rep, rep2, map_, settings
):
    """By hand: the FR account of rep2 moves to North's rep with 250.00 USD, 200.00 EUR at 1.10
    (220.00) and 5,000 JPY (no rate): 470.00 USD, and one JPY deal listed apart."""
    settings.REPORTING_CURRENCY = "USD"
    realignment_run(job_id=realignment_start(by=admin).pk)  # the map as its saved rules place it
    ExchangeRate.objects.create(currency="EUR", valid_from="2000-01-01", rate=Decimal("1.10"))
    account = map_["accounts"][("rep2", "FR")]
    for amount, currency in (("200.00", "EUR"), ("5000.00", "JPY")):
        DealFactory(owner=rep2, account=account, pipeline=account.deals.first().pipeline,
                    amount=Decimal(amount), currency=currency)  # fmt: skip
    body = {"territories": [{"territory": map_["north"].pk,
                             "rules": [{"priority": 1, "countries": ["FR"]}]}]}  # fmt: skip
    preview = client_for(admin).post(f"{API}territory-realignments/preview/", body, format="json")
    assert preview.status_code == 200, preview.content
    figures = preview.json()
    jpy = [{"currency": "JPY", "deals": 1, "value": "5000.00"}]
    assert (figures["currency"], figures["value"], figures["deals"]) == ("USD", "470.00", 3)
    assert figures["unconverted"] == jpy
    assert figures["unconverted_notice"] == (
        "1 deal in JPY (JPY 5,000.00) has no exchange rate to USD and is left out."
    )
    (group,) = figures["groups"]
    assert (group["from_owner"], group["to_owner"], group["value"], group["unconverted"]) == (
        rep2.pk,
        rep.pk,
        "470.00",
        jpy,
    )


@pytest.mark.django_db(transaction=True)
def test_starting_a_realignment_with_the_broker_down_answers_202_and_says_it_is_not_queued(
    client_for, admin, map_, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    _reset_celery_connections()
    body = {"territories": [{"territory": map_["south"].pk,
                             "rules": [{"priority": 0, "countries": ["FR"]}]}]}  # fmt: skip
    try:
        started = client_for(admin).post(f"{API}territory-realignments/", body, format="json")
    finally:
        monkeypatch.undo()
        _reset_celery_connections()
    assert started.status_code == 202, started.content
    job = started.json()
    assert (job["status"], job["error"]) == ("queued", NOT_QUEUED)
    assert TerritoryRealignment.objects.get(pk=job["id"]).error == NOT_QUEUED
    assert map_["south"].rules.get().countries == ["FR"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"territories": [{"territory": 987654}]}, ["territories", "0", "territory"]),
        ({"territories": [{"territory": "north"}]}, ["territories", "0", "territory"]),
        ({"territories": "all"}, ["territories"]),
        ({"territories": [{"territory": None, "reps": []}]}, ["territories", "0", "territory"]),
        ({"reason": "x" * 201}, ["reason"]),
    ],
)
def test_a_bad_proposal_answers_400_naming_the_field(client_for, admin, map_, body, path):
    for url in ("territory-realignments/preview/", "territory-realignments/"):
        response = client_for(admin).post(f"{API}{url}", body, format="json")
        assert response.status_code == 400, response.content
        errors = response.json()
        for key in path:
            errors = errors[int(key)] if isinstance(errors, list) else errors[key]
    assert not TerritoryRealignment.objects.exists()


def test_a_proposal_with_bad_rules_and_members_names_each_and_writes_nothing(
    client_for, admin, manager, map_
):
    north = map_["north"]
    body = {"territories": [{"territory": north.pk, "reps": [manager.pk],
                             "rules": [{"countries": ["DE"]}, {"employees_min": 9, "employees_max": 1}]}]}  # fmt: skip
    response = client_for(admin).post(f"{API}territory-realignments/", body, format="json")
    assert response.status_code == 400
    errors = response.json()["territories"]["0"]
    assert set(errors) == {"reps", "rules"} and set(errors["rules"]) == {"1"}
    assert list(north.rules.values_list("pk", flat=True)) == [map_["rule"].pk]
    assert not TerritoryRealignment.objects.exists()


def test_handovers_are_read_by_role_and_filtered(
    client_for, admin, manager, rep, rep2, outsider, map_
):
    job = realignment_run(job_id=realignment_start(by=admin).pk)
    # The German accounts of rep2 and of the outsider go to North's only member, rep.
    assert job.total == 2
    theirs = map_["accounts"][("outsider", "DE")]
    team = map_["accounts"][("rep2", "DE")]

    def of(account):
        return sorted(Handover.objects.filter(account=account).values_list("pk", flat=True))  # noqa: E731

    assert len(of(theirs)) == len(of(team)) == 2
    everything = sorted(of(theirs) + of(team))
    assert _ids(client_for(admin).get(f"{API}handovers/")) == everything
    assert _ids(client_for(manager).get(f"{API}handovers/")) == everything
    assert _ids(client_for(rep).get(f"{API}handovers/")) == everything
    assert _ids(client_for(rep2).get(f"{API}handovers/")) == of(team)
    assert _ids(client_for(outsider).get(f"{API}handovers/")) == of(theirs)
    deal = theirs.deals.get()
    assert _ids(client_for(admin).get(f"{API}handovers/", {"deal": deal.pk})) == [
        Handover.objects.get(deal=deal).pk
    ]
    assert (
        _ids(client_for(admin).get(f"{API}handovers/", {"territory": map_["north"].pk}))
        == everything
    )
    assert _ids(client_for(admin).get(f"{API}handovers/", {"territory": map_["far"].pk})) == []
    assert _ids(client_for(admin).get(f"{API}handovers/", {"account": team.pk})) == of(team)
    assert client_for(admin).get(f"{API}handovers/", {"account": "abc"}).status_code == 400
    entry = client_for(rep).get(f"{API}handovers/{of(theirs)[0]}/").json()
    assert (entry["from_owner"], entry["to_owner"], entry["by"]) == (outsider.pk, rep.pk, admin.pk)
    assert client_for(rep2).get(f"{API}handovers/{of(theirs)[0]}/").status_code == 404
    assert client_for(admin).post(f"{API}handovers/", {}, format="json").status_code == 403


def test_an_account_written_through_the_api_is_placed_by_the_rules_unless_pinned(
    client_for, rep, map_
):
    client = client_for(rep)
    made = client.post(
        f"{API}accounts/",
        {"name": "Berlin GmbH", "country": "DE", "postcode": "10115"},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert (made.json()["territory"], made.json()["territory_pinned"]) == (map_["north"].pk, False)
    bad = client.post(f"{API}accounts/", {"name": "Nowhere", "country": "XX"}, format="json")
    assert bad.status_code == 400 and "country" in bad.json()
    assert not Account.objects.filter(name="Nowhere").exists()
    url = f"{API}accounts/{made.json()['id']}/"
    pinned = client.patch(url, {"territory": None, "territory_pinned": True}, format="json")
    assert (pinned.status_code, pinned.json()["territory"]) == (200, None)
    unpinned = client.patch(
        url, {"territory_pinned": False, "annual_revenue": "12.50"}, format="json"
    )
    assert (unpinned.json()["territory"], unpinned.json()["annual_revenue"]) == (
        map_["north"].pk,
        "12.50",
    )
