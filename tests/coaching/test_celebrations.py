"""Quota milestones recorded exactly once; shout-outs; both over the API by role and on the home page."""

from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from coaching.models import Milestone, ShoutOut
from coaching.receivers import on_deals_changed
from coaching.services import milestones_record, shout_out_create
from coaching.tasks import record_milestones
from pipeline.periods import Period
from pipeline.services import deal_move
from quotas.services import quota_set
from tests.coaching.test_pages import signed_in
from tests.factories import DealFactory, UserFactory

MILESTONES = "/api/v1/milestones/"
SHOUT_OUTS = "/api/v1/shout-outs/"


@pytest.fixture
def month():
    return Period.named("month", timezone.localdate())


def _quota(owner, month, target="10000"):
    return quota_set(
        owner=owner, period_start=month.start, period_end=month.last_day, target=Decimal(target)
    )


def _win(owner, pipeline, stages, amount, by=None):
    deal = DealFactory(owner=owner, pipeline=pipeline, amount=Decimal(amount))
    return deal_move(deal=deal, to_stage=stages["Won"], by=by or owner, expected_version=None)


def _recorded(rep) -> set[tuple]:
    return set(Milestone.objects.filter(rep=rep).values_list("period", "level"))


def test_crossing_fifty_and_a_hundred_at_once_records_both_once(rep, pipeline, stages, month):
    _quota(rep, month)
    _win(rep, pipeline, stages, "4000")
    assert milestones_record(day=timezone.localdate()) == 0

    _win(rep, pipeline, stages, "7000")
    # The month's quota is the quarter's only one: both reach 50% and 100% with 11,000 of 10,000.
    assert milestones_record(day=timezone.localdate()) == 4
    assert _recorded(rep) == {("month", 50), ("month", 100), ("quarter", 50), ("quarter", 100)}
    hundred = Milestone.objects.get(rep=rep, period="month", level=100)
    assert (hundred.won, hundred.target, hundred.period_start) == (
        Decimal("11000.00"),
        Decimal("10000.00"),
        month.start,
    )

    assert milestones_record(day=timezone.localdate()) == 0
    assert record_milestones() == 0
    assert Milestone.objects.count() == 4


def test_reopening_and_winning_again_records_nothing_new(admin, rep, pipeline, stages, month):
    _quota(rep, month)
    deal = _win(rep, pipeline, stages, "5000")
    assert milestones_record(day=timezone.localdate()) == 2
    first = set(Milestone.objects.values_list("pk", "reached_at"))

    deal = deal_move(deal=deal, to_stage=stages["Qualification"], by=admin, expected_version=None)
    assert milestones_record(day=timezone.localdate()) == 0
    deal_move(deal=deal, to_stage=stages["Won"], by=admin, expected_version=None)
    assert milestones_record(day=timezone.localdate()) == 0
    assert set(Milestone.objects.values_list("pk", "reached_at")) == first


def test_a_hundred_and_fifty_percent_and_only_the_changed_deals_owners(
    rep, rep2, pipeline, stages, month
):
    _quota(rep, month, "2000")
    _quota(rep2, month, "2000")
    mine = _win(rep, pipeline, stages, "3000")
    _win(rep2, pipeline, stages, "1000")
    assert record_milestones(deal_ids=[mine.pk]) == 6
    assert _recorded(rep) == {(p, lvl) for p in ("month", "quarter") for lvl in (50, 100, 150)}
    assert _recorded(rep2) == set()
    assert record_milestones() == 2
    assert _recorded(rep2) == {("month", 50), ("quarter", 50)}


def test_no_quota_or_a_zero_target_records_nothing(rep, rep2, pipeline, stages, month):
    _quota(rep2, month, "0")
    _win(rep, pipeline, stages, "5000")
    _win(rep2, pipeline, stages, "5000")
    assert milestones_record(day=timezone.localdate()) == 0


def test_the_deals_changed_doorbell_queues_a_check_of_the_owners(monkeypatch):
    queued = []
    monkeypatch.setattr(
        "coaching.receivers.task_publish", lambda task, **kw: queued.append((task.name, kw))
    )
    on_deals_changed(sender=None, deal_ids=[3, 4])
    on_deals_changed(sender=None, deal_ids=range(1000))
    assert [kw["kwargs"] for _, kw in queued] == [{"deal_ids": [3, 4]}, {"deal_ids": None}]
    assert {name for name, _ in queued} == {"coaching.record_milestones"}


# The API, by role ----------------------------------------------------------


@pytest.fixture
def milestones(rep, rep2, outsider, month):
    def make(person, level):
        return Milestone.objects.create(
            rep=person,
            period="month",
            period_start=month.start,
            level=level,
            won=Decimal("1"),
            target=Decimal("1"),
        )

    return {"rep": make(rep, 50), "rep2": make(rep2, 100), "outsider": make(outsider, 150)}


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("admin", {"rep", "rep2", "outsider"}),
        ("manager", {"rep", "rep2"}),
        ("other_manager", {"outsider"}),
        ("rep", {"rep"}),
        ("outsider", {"outsider"}),
    ],
)
def test_milestones_are_read_by_role(request, client_for, milestones, who, sees):
    user = request.getfixturevalue(who)
    body = client_for(user).get(MILESTONES).json()
    assert {row["id"] for row in body["results"]} == {milestones[name].pk for name in sees}
    hidden = set(milestones) - sees
    for name in hidden:
        assert client_for(user).get(f"{MILESTONES}{milestones[name].pk}/").status_code == 404


def test_milestones_cannot_be_written(client_for, admin, rep):
    answer = client_for(admin).post(MILESTONES, {"rep": rep.pk, "level": 50}, format="json")
    assert answer.status_code in (403, 405)
    assert not Milestone.objects.exists()


def test_the_milestones_list_reads_a_fixed_number_of_queries(
    client_for, admin, month, django_assert_num_queries
):
    people = [UserFactory(username=f"m{n}") for n in range(8)]
    for person in people:
        for level in (50, 100, 150):
            Milestone.objects.create(
                rep=person, period="quarter", period_start=month.start, level=level, won=1, target=1
            )
    client = client_for(admin)
    # The count and the page (with each rep joined), whatever the page size.
    with django_assert_num_queries(2):
        body = client.get(MILESTONES, {"page_size": 20}).json()
    assert body["count"] == 24 and len(body["results"]) == 20
    assert {row["rep_name"] for row in body["results"]} <= {p.display_name for p in people}


def test_a_manager_gives_a_shout_out_and_the_team_reads_it(
    client_for, admin, manager, rep, rep2, other_manager, outsider
):
    answer = client_for(manager).post(
        SHOUT_OUTS, {"rep": rep.pk, "message": "  Great close on Acme!  "}, format="json"
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["rep"], body["author"], body["message"]) == (
        rep.pk,
        manager.pk,
        "Great close on Acme!",
    )
    for reader in (admin, manager, rep, rep2):
        ids = [row["id"] for row in client_for(reader).get(SHOUT_OUTS).json()["results"]]
        assert ids == [body["id"]], reader
    for outsider_reader in (other_manager, outsider):
        assert client_for(outsider_reader).get(SHOUT_OUTS).json()["results"] == []
        assert client_for(outsider_reader).get(f"{SHOUT_OUTS}{body['id']}/").status_code == 404


def test_reps_cannot_give_shout_outs(client_for, rep, rep2):
    answer = client_for(rep).post(SHOUT_OUTS, {"rep": rep2.pk, "message": "Nice"}, format="json")
    assert answer.status_code == 403
    assert not ShoutOut.objects.exists()


@pytest.mark.parametrize(
    ("who", "payload", "field"),
    [
        ("manager", {"rep": "REP", "message": ""}, "message"),
        ("manager", {"rep": "REP", "message": "   "}, "message"),
        ("manager", {"rep": "REP", "message": "x" * 281}, "message"),
        ("manager", {"message": "Well done"}, "rep"),
        ("manager", {"rep": "MANAGER", "message": "Well done"}, "rep"),
        ("manager", {"rep": "OUTSIDER", "message": "Well done"}, "rep"),
        ("manager", {"rep": 2**40, "message": "Well done"}, "rep"),
        ("manager", {"rep": "REP", "message": 5}, "message"),
        ("other_manager", {"rep": "REP", "message": "Well done"}, "rep"),
    ],
)
def test_a_bad_shout_out_names_the_field_and_writes_nothing(
    request, client_for, manager, rep, outsider, who, payload, field
):
    names = {"REP": rep.pk, "MANAGER": manager.pk, "OUTSIDER": outsider.pk}
    payload = {k: names.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
    answer = client_for(request.getfixturevalue(who)).post(SHOUT_OUTS, payload, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()
    assert not ShoutOut.objects.exists()


def test_a_manager_above_the_manager_can_praise_the_whole_team(rep):
    director = UserFactory(username="director", role="manager")
    rep.manager.manager = director
    rep.manager.save()
    assert shout_out_create(by=director, rep=rep, message="Bravo").author == director


def test_the_home_page_shows_milestones_and_shout_outs_to_those_who_may_see_them(
    client, manager, rep, rep2, outsider, milestones
):
    shout_out_create(by=manager, rep=rep2, message="Robin broke the record")
    signed_in(client, rep)
    assert (
        f'hx-get="{reverse("home-celebrations")}"' in client.get(reverse("home")).content.decode()
    )
    panel = client.get(reverse("home-celebrations")).content.decode()
    assert "Riley Rep</strong> reached 50% of the month" in panel
    assert "Robin Rep</strong> reached" not in panel
    assert "Robin broke the record" in panel and "Morgan Manager" in panel

    signed_in(client, outsider)
    panel = client.get(reverse("home-celebrations")).content.decode()
    assert "Olive Outsider</strong> reached 150%" in panel
    assert "Riley" not in panel and "Robin broke the record" not in panel


def test_the_celebrations_panel_reads_a_fixed_number_of_queries(
    client, manager, rep, rep2, milestones, django_assert_num_queries
):
    for n in range(5):
        shout_out_create(by=manager, rep=rep if n % 2 else rep2, message=f"Well done {n}")
    signed_in(client, manager)
    client.get(reverse("home-celebrations"))
    # The session, the user, the milestones, the shout-outs, the people whose streaks and bests are
    # shown, two for the streaks, three for the bests (the highest rates, each person's largest
    # deals, the best months; with no win there is no candidate for a best deal to rank) and the
    # team for the form's choices; on PostgreSQL two more ask whether the closed deals' rollup may
    # be read.
    with django_assert_num_queries(11 + 2 * (connection.vendor == "postgresql")):
        panel = client.get(reverse("home-celebrations")).content.decode()
    assert "Well done 4" in panel and "Robin Rep</strong> reached 100%" in panel


def test_a_manager_posts_a_shout_out_from_the_panel(client, manager, rep, rep2, outsider):
    signed_in(client, manager)
    panel = client.get(reverse("home-celebrations")).content.decode()
    assert 'data-testid="shout-out-form"' in panel and "Olive Outsider" not in panel
    answer = client.post(
        reverse("shout-out-add"),
        {"shout-rep": rep.pk, "shout-message": "Huge quarter, Riley"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200
    assert "Huge quarter, Riley" in answer.content.decode()
    assert ShoutOut.objects.get().rep == rep

    signed_in(client, rep2)
    panel = client.get(reverse("home-celebrations")).content.decode()
    assert "Huge quarter, Riley" in panel and "shout-out-form" not in panel


@pytest.mark.parametrize(
    ("rep_name", "message", "shown"),
    [("rep", "", "This field is required."), ("outsider", "Nice", "Select a valid choice.")],
)
def test_a_bad_shout_out_from_the_panel_is_shown_on_the_form(
    request, client, manager, rep, outsider, rep_name, message, shown
):
    signed_in(client, manager)
    answer = client.post(
        reverse("shout-out-add"),
        {"shout-rep": request.getfixturevalue(rep_name).pk, "shout-message": message},
        HTTP_HX_REQUEST="true",
    )
    assert shown in answer.content.decode()
    assert not ShoutOut.objects.exists()


def test_a_rep_cannot_post_a_shout_out_from_a_page(client, rep, rep2):
    signed_in(client, rep)
    answer = client.post(reverse("shout-out-add"), {"shout-rep": rep2.pk, "shout-message": "Hi"})
    assert answer.status_code == 404
    assert not ShoutOut.objects.exists()
