"""The territory page's members editor: adding, removing or moving a rep shows what would move
before anything is written, then applies it as a background realignment; admins only.

The map: North (the manager's) has Riley Rep and Remy Third; South has Robin Rep; Far belongs to
the other manager's team (Olive Outsider). Riley owns two North accounts with open deals, one of them
in EUR without a rate; Remy owns one. Figures are worked out by hand.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pipeline.models import Account, Deal, Handover, TerritoryRealignment
from pipeline.services import deal_move
from quotas.models import Territory
from quotas.services import territory_create, territory_update
from salesmgr.celery import app as celery_app
from tests.factories import AccountFactory, DealFactory, UserFactory

D = Decimal


@pytest.fixture
def eager(monkeypatch):
    """Run the realignment task in this process, whatever the broker setting (CI has a real one)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_store_eager_result", True)


@pytest.fixture
def world(admin, manager, other_manager, rep, rep2, outsider, pipeline, stages):
    third = UserFactory(username="rep3", manager=manager, full_name="Remy Third")
    north = territory_create(name="North", owner=manager, reps=[rep, third], by=admin)
    south = territory_create(name="South", reps=[rep2], by=admin)
    far = territory_create(name="Far", owner=other_manager, reps=[outsider], by=admin)
    big = AccountFactory(owner=rep, territory=north, name="Bigcorp")
    small = AccountFactory(owner=rep, territory=north, name="Smallco")
    kept = AccountFactory(owner=third, territory=north, name="Thirdhaus")
    AccountFactory(owner=rep2, territory=south, name="Sudhaus")
    AccountFactory(owner=outsider, territory=far, name="Faraway")
    DealFactory(owner=rep, account=big, pipeline=pipeline, amount=D("1000.00"))
    DealFactory(owner=rep, account=big, pipeline=pipeline, amount=D("200.00"), currency="EUR")
    DealFactory(owner=rep, account=small, pipeline=pipeline, amount=D("300.00"))
    won = DealFactory(owner=rep, account=small, pipeline=pipeline, amount=D("50.00"))
    deal_move(deal=won, to_stage=stages["Won"], by=rep, expected_version=None)
    DealFactory(owner=third, account=kept, pipeline=pipeline, amount=D("80.00"))
    return {
        "north": north,
        "south": south,
        "far": far,
        "third": third,
        "big": big,
        "small": small,
        "won": won,
    }


def _url(territory, step):
    return f"/territories/{territory.pk}/members/{step}/"


def _state():
    return (
        sorted(Territory.reps.through.objects.values_list("territory_id", "user_id")),
        list(Account.objects.order_by("pk").values_list("pk", "territory_id", "owner_id")),
        list(Deal.objects.order_by("pk").values_list("pk", "owner_id")),
        Handover.objects.count(),
        TerritoryRealignment.objects.count(),
    )


def _members(territory):
    return sorted(territory.reps.values_list("username", flat=True))


def test_removing_a_rep_previews_what_would_move_and_writes_nothing(client, admin, rep, world):
    client.force_login(admin)
    before = _state()
    response = client.post(
        _url(world["north"], "preview"),
        {"action": "remove", "rep": rep.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    editor = response.context["members_editor"]
    preview = editor["preview"]
    # Riley's two accounts go to the one member left; the won deal stays and the EUR deal has no rate.
    assert (preview["accounts"], preview["deals"], preview["value"]) == (2, 3, D("1300.00"))
    assert preview["currency"] == "USD"
    assert preview["unconverted_notice"].startswith("1 deal in EUR (EUR 200")
    [group] = preview["groups"]
    assert (group["from_owner_name"], group["to_owner_name"]) == ("Riley Rep", "Remy Third")
    assert (group["from_territory_name"], group["to_territory_name"]) == ("North", "North")
    assert editor["summary"] == "remove Riley Rep from North"
    body = response.content.decode()
    assert "Bigcorp" in body and "Smallco" in body and "Thirdhaus" not in body
    assert "Confirm and realign" in body
    assert _state() == before


def _plan_rows(preview):
    return sorted(
        (m["account"], m["from_owner"], m["to_owner"], m["from_territory"], m["to_territory"])
        for m in preview["moves"]
    )


def _handover_rows():
    return sorted(
        (
            h.account.name,
            h.from_owner.display_name,
            h.to_owner.display_name,
            h.from_territory.name if h.from_territory else None,
            h.to_territory.name if h.to_territory else None,
        )
        for h in Handover.objects.filter(deal__isnull=True).select_related(
            "account", "from_owner", "to_owner", "from_territory", "to_territory"
        )
    )


@pytest.mark.parametrize(
    ("action", "north_after", "south_after"),
    [
        ("remove", ["rep3"], ["rep2"]),
        ("move", ["rep3"], ["rep", "rep2"]),
    ],
)
def test_what_the_preview_shows_is_what_the_apply_then_does(
    client,
    admin,
    rep,
    world,
    eager,
    django_capture_on_commit_callbacks,
    action,
    north_after,
    south_after,
):
    north, south = world["north"], world["south"]
    data = {"action": action, "rep": rep.pk, "to_territory": south.pk}
    client.force_login(admin)
    preview = client.post(_url(north, "preview"), data).context["members_editor"]["preview"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(north, "apply"), data)
    job = TerritoryRealignment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/territories/{north.pk}/?job={job.pk}#realignment"
    assert (_members(north), _members(south)) == (north_after, south_after)
    assert (job.status, job.total, job.done) == ("done", preview["accounts"], preview["accounts"])
    assert (
        job.deals_moved == preview["deals"] == Handover.objects.filter(deal__isnull=False).count()
    )
    assert _handover_rows() == _plan_rows(preview)
    assert job.reason.startswith("Remove Riley Rep from North" if action == "remove" else "Move")
    assert Handover.objects.filter(by=admin).count() == Handover.objects.count() == 5
    # The open deals went with their accounts; the won deal kept its owner.
    assert set(
        Deal.objects.filter(account__in=[world["big"], world["small"]], status="open").values_list(
            "owner_id", flat=True
        )
    ) == {world["third"].pk}
    world["won"].refresh_from_db()
    assert world["won"].owner_id == rep.pk
    page = client.get(f"/territories/{north.pk}/", {"job": job.pk}).content.decode()
    assert 'data-status="done"' in page and "Bigcorp" in page
    # Applying the same change again is refused: the rep is no longer a member here.
    again = client.post(_url(north, "apply"), data, HTTP_HX_REQUEST="true")
    assert again.status_code == 422
    assert TerritoryRealignment.objects.count() == 1


def test_adding_a_rep_previews_and_applies_without_moving_what_members_own(
    client, admin, rep2, world, eager, django_capture_on_commit_callbacks
):
    north = world["north"]
    client.force_login(admin)
    data = {"action": "add", "rep": rep2.pk}
    response = client.post(_url(north, "preview"), data, HTTP_HX_REQUEST="true")
    assert response.context["members_editor"]["preview"]["accounts"] == 0
    assert "applying changes the members only" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(_url(north, "apply"), data).status_code == 302
    assert _members(north) == ["rep", "rep2", "rep3"]
    assert Handover.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"action": "add", "rep": "{manager}"}, "rep", "is not a rep"),
        ({"action": "add", "rep": "{admin}"}, "rep", "is not a rep"),
        ({"action": "add", "rep": "999999"}, "rep", "No person 999999"),
        ({"action": "add", "rep": "abc"}, "rep", "Enter a whole number"),
        ({"action": "add", "rep": "{rep}"}, "rep", "Riley Rep is already a member"),
        ({"action": "remove", "rep": "{rep2}"}, "rep", "Robin Rep is not a member"),
        ({"action": "remove", "rep": "999999"}, "rep", "Person 999999 is not a member"),
        ({"action": "move", "rep": "{rep}"}, "to_territory", "Choose the territory"),
        ({"action": "move", "rep": "{rep}", "to_territory": "{north}"}, "to_territory", "another"),
        (
            {"action": "move", "rep": "{rep}", "to_territory": "999999"},
            "to_territory",
            "No territory",
        ),
        ({"action": "fire", "rep": "{rep}"}, "action", "Select a valid choice"),
        ({}, "rep", "This field is required"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    client, admin, manager, rep, rep2, world, data, field, message
):
    ids = {"manager": manager.pk, "admin": admin.pk, "rep": rep.pk, "rep2": rep2.pk}
    ids["north"] = world["north"].pk
    posted = {key: value.format(**ids) for key, value in data.items()}
    client.force_login(admin)
    before = _state()
    for step in ("preview", "apply"):
        response = client.post(_url(world["north"], step), posted, HTTP_HX_REQUEST="true")
        assert response.status_code == 422
        errors = response.context["members_editor"]["form"].errors
        assert any(message in error for error in errors.get(field, [])), errors
        assert "Nothing was written" in response.content.decode()
        # Without HTMX the whole page answers, with the same message on the same field.
        full = client.post(_url(world["north"], step), posted)
        assert full.status_code == 400
        assert field in full.context["members_editor"]["form"].errors
    assert _state() == before


def test_the_rep_named_for_new_accounts_cannot_leave_until_the_rule_changes(
    client, admin, rep, world
):
    territory_update(territory=world["north"], by=admin, handover_rule="named_rep", named_rep=rep)
    client.force_login(admin)
    before = _state()
    for action in ("remove", "move"):
        data = {"action": action, "rep": rep.pk, "to_territory": world["south"].pk}
        response = client.post(_url(world["north"], "apply"), data, HTTP_HX_REQUEST="true")
        assert response.status_code == 422
        [error] = response.context["members_editor"]["form"].errors["rep"]
        assert error.startswith("Riley Rep is the rep this territory names for new accounts")
    assert _state() == before


def test_the_service_refusal_at_apply_lands_on_the_field(client, admin, rep, world, monkeypatch):
    # A rep who stops being a rep between the check and the write: the service's own check refuses.
    monkeypatch.setattr("reports.territories.territory_changes_errors", lambda changes: {})
    rep.role = "manager"
    rep.save()
    client.force_login(admin)
    before = _state()
    response = client.post(
        _url(world["south"], "apply"), {"action": "add", "rep": rep.pk}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert any(
        "is not a rep" in e for e in response.context["members_editor"]["form"].errors["rep"]
    )
    assert _state() == before


@pytest.mark.parametrize("who", ["manager", "other_manager", "rep", "outsider"])
def test_only_admins_see_the_editor_or_change_members(client, request, who, rep2, world):
    user = request.getfixturevalue(who)
    client.force_login(user)
    before = _state()
    for territory in (world["north"], world["far"]):
        for step in ("preview", "apply"):
            response = client.post(_url(territory, step), {"action": "add", "rep": rep2.pk})
            assert response.status_code == 403
        page = client.get(f"/territories/{territory.pk}/")
        if page.status_code == 200:
            assert "members-editor" not in page.content.decode()
            assert page.context["members_editor"] is None
    assert _state() == before


def test_an_admin_sees_the_editor_with_reps_and_other_territories_offered(client, admin, world):
    client.force_login(admin)
    response = client.get(f"/territories/{world['north'].pk}/")
    form = response.context["members_editor"]["form"]
    reps = dict(form.fields["rep"].widget.choices)
    assert set(reps.values()) == {
        "Choose a rep",
        "Riley Rep (member)",
        "Remy Third (member)",
        "Robin Rep",
        "Olive Outsider",
    }
    others = [label for _, label in form.fields["to_territory"].widget.choices]
    assert others == ["–", "Far", "South"]
    assert 'id="members-editor"' in response.content.decode()


def _preview_queries(client, territory, data) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.post(_url(territory, "preview"), data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
    return len(queries)


def test_a_preview_costs_the_same_queries_whatever_it_moves(client, admin, rep, world, pipeline):
    client.force_login(admin)
    data = {"action": "move", "rep": rep.pk, "to_territory": world["south"].pk}
    few = _preview_queries(client, world["north"], data)
    for n in range(15):
        account = AccountFactory(owner=rep, territory=world["north"], name=f"More {n}")
        DealFactory(owner=rep, account=account, pipeline=pipeline, currency="GBP")
        DealFactory(owner=rep, account=account, pipeline=pipeline)
        UserFactory(username=f"extra{n}")
    assert _preview_queries(client, world["north"], data) == few
    # Session and user; the territory; the reps and territories offered and the members; the territory
    # moved to and its members; the plan (rules, staffing, accounts, deals, the deals without a rate,
    # open-deal counts); the names of territories, people and the accounts shown.
    assert few == 21
