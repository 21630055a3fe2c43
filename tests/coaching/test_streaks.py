"""Streaks and personal bests against hand-worked figures, their API for every role, the home panel
and the team meeting's hook.

"Today" is Wednesday 17 June 2026 (its ISO week starts Monday 15 June). Riley (rep) won:

| day        | week of  | amount |
|------------|----------|--------|
| Wed 1 Apr  | 30 Mar   | 12,000 | the best deal: more than 30 days ago, so not new
| Tue 5 May  | 4 May    |  1,000 |
| Tue 12 May | 11 May   |  2,000 |
| Wed 13 May | 11 May   |    500 |
| Wed 20 May | 18 May   |  9,000 |
|            | 25 May   |      - | the empty week that breaks the streak
| Tue 2 Jun  | 1 Jun    |  1,000 |
| Tue 9 Jun  | 8 Jun    |  1,500 |
| Mon 22 Jun | 22 Jun   | 50,000 | after today: counts for nothing

- win streak: current 2 (weeks of 1 and 8 June; this week has no win yet, last week did), longest 3
  (4 to 18 May); the week of 30 March is a run of 1.
- months: April 12,000, May 12,500, June 2,500: the best month is May (its last win, 20 May, is
  28 days before today: new); the best deal is the 12,000 of 1 April (77 days before: not new).
- quota milestones at 100% for January, February, March, May and June (and a 50% one in April):
  quota streak current 2 (May to June), longest 3 (January to March).

Robin (rep2) won one deal of EUR 100,000 on Wed 10 June with no EUR rate: it counts for a streak
(current 1) but not for a best. Olive (outsider, another team) won 4,000 on Tue 9 June.
"""

import datetime
import random
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from coaching import celebrations
from coaching.celebrations import _best_deal_candidates, personal_bests_for, streaks_for
from coaching.models import Milestone
from coaching.services import shout_out_create
from coaching.team_meetings import team_celebrations
from pipeline.models import Deal, ExchangeRate
from pipeline.money import at_close
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from salesmgr.models import User
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 6, 17)
D = datetime.date


def _won(admin, stages, pipeline, owner, day: datetime.date, amount, currency="USD", name=None):
    _won_many(admin, stages, pipeline, [(owner, day, amount, currency)], name=name)


def _won_many(admin, stages, pipeline, wins, name=None) -> None:
    """``wins``: (owner, day, amount, currency) each, imported at once, closed at noon UTC."""
    specs = []
    for owner, day, amount, currency in wins:
        moment = datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)
        specs.append(
            DealSpec(
                name=name or f"{owner.username} {day} {len(specs)}",
                account_id=AccountFactory(owner=owner).pk,
                owner_id=owner.pk,
                pipeline_id=pipeline.pk,
                stage_id=stages["Won"].pk,
                amount=Decimal(amount),
                currency=currency,
                expected_close_date=day,
                forecast_category="pipeline",
                created_at=moment - datetime.timedelta(days=5),
                lost_reason_id=None,
                transitions=[
                    TransitionSpec(
                        to_stage_id=stages["Qualification"].pk,
                        at=moment - datetime.timedelta(days=5),
                    ),
                    TransitionSpec(to_stage_id=stages["Won"].pk, at=moment),
                ],
                changes=[],
            )
        )
    deals_import(specs=specs, by=admin)


@pytest.fixture
def history(admin, manager, rep, rep2, outsider, pipeline, stages):
    for day, amount in [
        (D(2026, 4, 1), 12000),
        (D(2026, 5, 5), 1000),
        (D(2026, 5, 12), 2000),
        (D(2026, 5, 13), 500),
        (D(2026, 5, 20), 9000),
        (D(2026, 6, 2), 1000),
        (D(2026, 6, 9), 1500),
        (D(2026, 6, 22), 50000),
    ]:
        name = {12000: "Big April deal", 50000: "Big June deal"}.get(amount)
        _won(admin, stages, pipeline, rep, day, amount, name=name)
    _won(admin, stages, pipeline, rep2, D(2026, 6, 10), 100000, currency="EUR")
    _won(admin, stages, pipeline, outsider, D(2026, 6, 9), 4000)
    for month, level in [(1, 100), (2, 100), (3, 100), (4, 50), (5, 100), (6, 100)]:
        Milestone.objects.create(
            rep=rep,
            period="month",
            period_start=D(2026, month, 1),
            level=level,
            won=Decimal("1"),
            target=Decimal("1"),
        )
    return rep


def test_streaks_against_hand_worked_figures(history, rep, rep2, outsider, manager):
    streaks = streaks_for([rep.pk, rep2.pk, manager.pk], TODAY)
    riley = streaks[rep.pk]
    assert (riley.weeks_current.length, riley.weeks_current.first, riley.weeks_current.last) == (
        2,
        D(2026, 6, 1),
        D(2026, 6, 8),
    )
    assert (riley.weeks_longest.length, riley.weeks_longest.first, riley.weeks_longest.last) == (
        3,
        D(2026, 5, 4),
        D(2026, 5, 18),
    )
    assert (riley.quota_months_current.length, riley.quota_months_current.first) == (
        2,
        D(2026, 5, 1),
    )
    assert (riley.quota_months_longest.length, riley.quota_months_longest.last) == (
        3,
        D(2026, 3, 1),
    )
    assert streaks[rep2.pk].weeks_current.length == 1  # a win without a rate still counts
    assert streaks[manager.pk].weeks_current.length == 0
    assert outsider.pk not in streaks


def test_a_streak_not_reaching_last_week_is_no_current_streak(history, rep):
    # On Wednesday 1 July last week is that of 22 June: its win is a current run of one.
    assert streaks_for([rep.pk], D(2026, 7, 1))[rep.pk].weeks_current.length == 1
    # On Wednesday 8 July last week (29 June) had no win: no current streak; the longest is still May's.
    riley = streaks_for([rep.pk], D(2026, 7, 8))[rep.pk]
    assert riley.weeks_current.length == 0
    assert riley.weeks_longest.length == 3


def test_personal_bests_against_hand_worked_figures(history, rep, rep2):
    bests = personal_bests_for([rep.pk, rep2.pk], TODAY)
    deal, month = bests[rep.pk].deal, bests[rep.pk].month
    assert (deal.value, deal.day, deal.is_new, deal.deal_name) == (
        Decimal("12000.00"),
        D(2026, 4, 1),
        False,
        "Big April deal",
    )
    assert (month.value, month.day, month.last_win, month.is_new) == (
        Decimal("12500.00"),
        D(2026, 5, 1),
        D(2026, 5, 20),
        True,
    )
    # Robin's only win has no rate: no best at all, never an unconverted amount.
    assert bests[rep2.pk].deal is None and bests[rep2.pk].month is None


def test_a_best_set_today_is_new(history, rep, admin, stages, pipeline):
    _won(admin, stages, pipeline, rep, TODAY, 20000)
    deal = personal_bests_for([rep.pk], TODAY)[rep.pk].deal
    assert (deal.value, deal.is_new) == (Decimal("20000.00"), True)


STREAKS = "/api/v1/streaks/"
BESTS = "/api/v1/personal-bests/"


@pytest.mark.parametrize(
    "who, seen",
    [
        ("admin", {"admin", "manager", "rep", "rep2", "othermanager", "outsider"}),
        ("manager", {"manager", "rep", "rep2"}),
        ("rep", {"rep", "rep2"}),  # public within the team
        ("rep2", {"rep", "rep2"}),
        ("other_manager", {"othermanager", "outsider"}),
        ("outsider", {"outsider"}),
    ],
)
def test_the_api_shows_each_role_its_team_and_nothing_of_another(
    client_for, history, request, who, seen
):
    user = request.getfixturevalue(who)
    client = client_for(user)
    for url in (STREAKS, BESTS):
        answer = client.get(url)
        assert answer.status_code == 200
        names = {row["id"] for row in answer.json()["results"]}
        assert set(User.objects.filter(pk__in=names).values_list("username", flat=True)) == seen


def test_a_teammate_sees_a_best_deals_value_but_not_its_name(
    client_for, history, rep, rep2, manager
):
    # The API reads as of the real today, after 22 June: the 50,000 is the best deal.
    row = next(r for r in client_for(rep2).get(BESTS).json()["results"] if r["id"] == rep.pk)
    assert row["best_deal"]["value"] == "50000.00"
    assert row["best_deal"]["deal_name"] is None and row["best_deal"]["deal"] is None
    own = next(r for r in client_for(rep).get(BESTS).json()["results"] if r["id"] == rep.pk)
    assert own["best_deal"]["deal_name"] == "Big June deal"
    theirs = next(r for r in client_for(manager).get(BESTS).json()["results"] if r["id"] == rep.pk)
    assert theirs["best_deal"]["deal_name"] == "Big June deal"


@pytest.mark.parametrize("who", ["rep", "other_manager", "outsider"])
def test_another_teams_people_are_a_404(client_for, history, request, who, manager, outsider, rep):
    client = client_for(request.getfixturevalue(who))
    if who == "rep":
        assert client.get(STREAKS, {"rep": outsider.pk}).status_code == 404
        assert client.get(BESTS, {"team": outsider.manager_id}).status_code == 404
    else:
        assert client.get(STREAKS, {"team": manager.pk}).status_code == 404
        assert client.get(BESTS, {"rep": rep.pk}).status_code == 404


def test_a_manager_narrows_to_one_rep(client_for, history, manager, rep):
    rows = client_for(manager).get(STREAKS, {"rep": rep.pk}).json()["results"]
    assert [row["id"] for row in rows] == [rep.pk]


@pytest.mark.parametrize("params, field", [({"rep": "x"}, "rep"), ({"team": "0"}, "team")])
def test_bad_input_is_a_400_naming_the_field(client_for, manager, params, field):
    for url in (STREAKS, BESTS):
        answer = client_for(manager).get(url, params)
        assert answer.status_code == 400
        assert field in answer.json()


def test_the_api_runs_a_fixed_number_of_queries(
    client_for, history, admin, django_assert_num_queries
):
    client = client_for(admin)
    # On PostgreSQL one more asks whether the closed deals' rollup may be read.
    rollup_check = int(connection.vendor == "postgresql")
    with django_assert_num_queries(3 + rollup_check):  # the people, then two for the figures
        client.get(STREAKS)
    # The people; the highest rates, the largest deals, the candidates and the best deals; the months.
    with django_assert_num_queries(6 + rollup_check):
        client.get(BESTS)


def _bests_by_hand(people, today):
    """Each person's best deal (value, close day, id) and best month (value, first day, last win),
    from every won deal's value converted one by one."""
    won = (
        Deal.objects.filter(
            owner__in=people, status="won", deleted_at__isnull=True, closed_at__date__lte=today
        )
        .annotate(value=at_close())
        .values_list("owner_id", "pk", "value", "closed_at")
    )
    deals, months = {}, {}
    for owner, pk, value, closed_at in won:
        day = timezone.localdate(closed_at)
        # A win without a rate adds nothing to its month, but is its month's last win all the same.
        month = months.setdefault(owner, {}).setdefault(day.replace(day=1), [None, day])
        month[1] = max(month[1], day)
        if value is None:
            continue
        key = (-Decimal(value), closed_at, pk)
        if owner not in deals or key < deals[owner][0]:
            deals[owner] = (key, (Decimal(value).quantize(Decimal("0.01")), day, pk))
        month[0] = (month[0] or Decimal(0)) + Decimal(value)
    best_months = {}
    for owner, by_month in months.items():
        valued = {first: figures for first, figures in by_month.items() if figures[0] is not None}
        if not valued:
            continue
        first, (total, last) = min(valued.items(), key=lambda item: (-item[1][0], item[0]))
        best_months[owner] = (total.quantize(Decimal("0.01")), first, last)
    return {owner: best for owner, (_, best) in deals.items()}, best_months


def test_the_best_deal_is_the_best_value_not_the_largest_amount(
    admin, rep, rep2, manager, pipeline, stages
):
    """The EUR deal of 8,000 closed when a euro was worth 1.5 dollars beats the larger EUR deal of
    9,000 closed at 1.0 and the USD deal of 10,000; a CHF deal has no rate and is never a best.
    Robin's largest deal closed before the euro's first rate, so it gives no bound; the smaller one
    after it is the best. Max's two deals are worth the same: the earlier is the best."""
    ExchangeRate.objects.create(currency="EUR", valid_from=D(2026, 1, 1), rate=Decimal("1.0"))
    ExchangeRate.objects.create(currency="EUR", valid_from=D(2026, 5, 1), rate=Decimal("1.5"))
    ExchangeRate.objects.create(currency="GBP", valid_from=D(2026, 1, 1), rate=Decimal("2"))
    _won_many(
        admin,
        stages,
        pipeline,
        [
            (rep, D(2026, 3, 2), 10000, "USD"),
            (rep, D(2026, 4, 7), 9000, "EUR"),
            (rep, D(2026, 5, 12), 8000, "EUR"),
            (rep, D(2026, 5, 19), 5000, "GBP"),
            (rep, D(2026, 6, 1), 1000000, "CHF"),
            (rep2, D(2025, 11, 3), 90000, "EUR"),
            (rep2, D(2026, 2, 9), 3000, "EUR"),
            (manager, D(2026, 2, 10), 6000, "GBP"),
            (manager, D(2026, 3, 10), 12000, "USD"),
        ],
    )
    bests = personal_bests_for([rep.pk, rep2.pk, manager.pk], TODAY)
    assert (bests[rep.pk].deal.value, bests[rep.pk].deal.day) == (
        Decimal("12000.00"),
        D(2026, 5, 12),
    )
    # May: 8,000 EUR at 1.5 and 5,000 GBP at 2.
    assert (bests[rep.pk].month.value, bests[rep.pk].month.day) == (
        Decimal("22000.00"),
        D(2026, 5, 1),
    )
    assert (bests[rep2.pk].deal.value, bests[rep2.pk].deal.day) == (
        Decimal("3000.00"),
        D(2026, 2, 9),
    )
    assert (bests[manager.pk].deal.value, bests[manager.pk].deal.day) == (
        Decimal("12000.00"),
        D(2026, 2, 10),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_personal_bests_match_every_deal_converted_one_by_one(
    admin, rep, rep2, manager, outsider, pipeline, stages, seed
):
    """Random wins in four currencies, one without a rate and the others' rates changing, amounts
    with many ties and a few deals after today: every best is the one found by converting and
    ranking every deal."""
    chance = random.Random(seed)
    for currency, low, high in (
        ("EUR", "0.8", "1.6"),
        ("GBP", "1.1", "1.4"),
        ("JPY", "0.005", "0.01"),
    ):
        for month in range(1, 13, chance.choice((1, 2, 3))):
            ExchangeRate.objects.create(
                currency=currency,
                valid_from=D(2025, month, chance.randint(1, 28)),
                rate=Decimal(str(round(chance.uniform(float(low), float(high)), 4))),
            )
    people = [rep, rep2, manager, outsider]
    wins = []
    for _ in range(80):
        currency = chance.choice(("USD", "USD", "EUR", "GBP", "JPY", "CHF"))
        scale = 150 if currency == "JPY" else 1
        amount = chance.choice((1000, 2500, 5000, chance.randint(100, 20000))) * scale
        day = D(2025, 1, 1) + datetime.timedelta(days=chance.randint(0, 560))
        wins.append((chance.choice(people), day, amount, currency))
    _won_many(admin, stages, pipeline, wins)
    today = D(2026, 5, 20)
    deals, months = _bests_by_hand(people, today)
    bests = personal_bests_for([person.pk for person in people], today)
    for person in people:
        found = bests[person.pk]
        expected_deal = deals.get(person.pk)
        if expected_deal is None:
            assert found.deal is None
        else:
            assert (found.deal.value, found.deal.day, found.deal.deal_id) == expected_deal
        expected_month = months.get(person.pk)
        if expected_month is None:
            assert found.month is None
        else:
            assert (found.month.value, found.month.day, found.month.last_win) == expected_month


def test_the_home_panel_shows_streaks_and_new_bests(
    client, history, rep, rep2, outsider, monkeypatch
):
    real = timezone.localdate
    monkeypatch.setattr(
        timezone,
        "localdate",
        lambda value=None, *args: TODAY if value is None else real(value, *args),
    )
    client.force_login(rep2)
    page = client.get(reverse("home-celebrations")).content.decode()
    assert "Riley Rep" in page
    assert "won a deal 2 weeks running" in page
    assert "made quota 2 months running" in page
    assert "the best month, 12,500 USD won in May 2026" in page
    assert "Big April deal" not in page  # not new, and not Robin's to see
    assert "Olive Outsider" not in page


def test_a_team_meeting_celebrates_the_streaks_running_and_the_bests_of_its_week(
    history, manager, rep, rep2, outsider
):
    shout_out_create(by=manager, rep=rep, message="Great May!")
    since = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    until = datetime.datetime(2026, 6, 18, tzinfo=datetime.UTC)
    found = team_celebrations(manager.pk, since=since, until=until)
    assert [(row["rep_name"], row["weeks"], row["quota_months"]) for row in found["streaks"]] == [
        ("Riley Rep", 2, 2)
    ]  # Robin's single week is not a streak yet; Olive is in another team
    assert found["personal_bests"] == []  # Riley's best month ended 20 May, before the week
    earlier = team_celebrations(
        manager.pk, since=datetime.datetime(2026, 5, 15, tzinfo=datetime.UTC), until=until
    )
    assert [(row["rep_name"], row["kind"], row["value"]) for row in earlier["personal_bests"]] == [
        ("Riley Rep", "month", Decimal("12500.00"))
    ]
    assert found["shout_outs"] == []  # given today (December), outside the window
    assert found["milestones"] == []  # recorded now, outside the window


def test_only_the_deals_that_can_reach_a_bound_are_ranked(admin, rep, rep2, pipeline, stages):
    """Of Riley's 40 USD wins only the largest can be the best, and of the EUR ones (at most 1.5
    dollars a euro) only those of at least two thirds of it; Robin's only deal is theirs."""
    ExchangeRate.objects.create(currency="EUR", valid_from=D(2026, 1, 1), rate=Decimal("1.5"))
    ExchangeRate.objects.create(currency="EUR", valid_from=D(2026, 3, 1), rate=Decimal("1.2"))
    days = [D(2026, 1, 5) + datetime.timedelta(days=n) for n in range(40)]
    _won_many(
        admin,
        stages,
        pipeline,
        [(rep, day, 1000 + 100 * n, "USD") for n, day in enumerate(days)]
        + [(rep, D(2026, 4, 1), 3000, "EUR"), (rep, D(2026, 4, 2), 3500, "EUR")]
        + [(rep, D(2026, 4, 3), 2000, "EUR"), (rep2, D(2026, 4, 3), 10, "USD")],
    )
    candidates = Deal.objects.filter(pk__in=_best_deal_candidates([rep.pk, rep2.pk], TODAY))
    # The bound: 4,900 USD, or the 3,500 EUR at 1.2 = 4,200; at 1.5 a euro deal needs 3,266.67.
    assert sorted(candidates.values_list("owner__username", "currency", "amount")) == [
        ("rep", "EUR", Decimal("3500.00")),
        ("rep", "USD", Decimal("4900.00")),
        ("rep2", "USD", Decimal("10.00")),
    ]
    assert personal_bests_for([rep.pk], TODAY)[rep.pk].deal.value == Decimal("4900.00")


@pytest.mark.django_db(transaction=True)
def test_the_panels_streaks_read_beside_its_bests_are_the_same(history, rep2, monkeypatch):
    """Outside a transaction on PostgreSQL the home panel reads the streaks on a thread and
    connection of their own while it reads the bests: the same panel as one after the other."""
    threads = []
    real = celebrations.streaks_for
    monkeypatch.setattr(
        celebrations,
        "streaks_for",
        lambda *args: threads.append(threading.get_ident()) or real(*args),
    )
    beside = celebrations.panel_celebrations(rep2, TODAY)
    with transaction.atomic():
        alone = celebrations.panel_celebrations(rep2, TODAY)
    assert beside == alone and beside["streaks"] and beside["new_bests"]
    main = threading.get_ident()
    assert (threads[0] != main) is (connection.vendor == "postgresql") and threads[1] == main
