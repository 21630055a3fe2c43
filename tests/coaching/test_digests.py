"""The weekly digest: its figures against a small history worked out by hand, who sees what, the
preview and settings pages by role, the hourly run that sends each digest once a week at the chosen
hour, and the e-mail itself (plain text with an HTML alternative).

The history (W: two days ago, or the month's first midnight if that is later, so every win of the
week falls in this month and quarter):

- rep (Riley): won 1,000 and 3,000 at W, 5,000 two hundred days ago; open 4,000 in Discovery for
  30 days (its limit is 21: stalled), commit, closing in 10 days; open 2,000 in Qualification
  created 2 days ago, closing in 20 days.
- rep2 (Robin): won 2,500 at W; open 6,000 in Proposal for 40 days (stalled), best case.
- outsider (Olive, another team): won 9,000 at W; open 7,000 in Qualification for 30 days (stalled).
- Month quotas: Riley 10,000, Robin 5,000 (the team's target is their roll-up, 15,000).
- Forecast snapshots (every horizon) of the team: commit 4,000 today, 8,000 a week ago; of Riley:
  commit 4,000 today, 1,000 a week ago.
"""

import datetime
import os
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from django.utils.html import escape

from coaching.digests import Schedule, digest_content, digest_render, digests_due
from coaching.models import DigestPreference, DigestSend
from coaching.services import (
    action_item_add,
    action_item_complete,
    digest_preference_save,
    meeting_notes_save,
    meetings_plan,
    series_schedule,
)
from coaching.tasks import send_digest, send_due_digests
from pipeline.periods import start_of
from pipeline.services.imports import DealSpec, TransitionSpec, deals_import
from quotas.services import quota_set
from reports.forecasts import HORIZONS
from reports.models import ForecastSnapshot
from salesmgr.celery import app as celery_app
from tests.conftest import IN_CI, need_postgres
from tests.factories import AccountFactory, UserFactory

PRIVATE = "PRIVATE-NOTE-NEVER-MAILED"
SHARED = "SHARED-NOTE-NOT-IN-DIGEST"


@pytest.fixture
def eager(settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def _deal(owner, stages, pipeline, name, amount, moves, *, close_in=30, category="pipeline"):
    account = AccountFactory(owner=owner)
    last = stages[moves[-1][0]]
    return DealSpec(
        name=name,
        account_id=account.pk,
        owner_id=owner.pk,
        pipeline_id=pipeline.pk,
        stage_id=last.pk,
        amount=Decimal(amount),
        currency="USD",
        expected_close_date=timezone.localdate() + datetime.timedelta(days=close_in),
        forecast_category=category,
        created_at=moves[0][1],
        lost_reason_id=None,
        transitions=[
            TransitionSpec(to_stage_id=stages[stage].pk, at=at, by_id=owner.pk)
            for stage, at in moves
        ],
        changes=[],
    )


def _snapshot(scope_key, kind, as_of, commit):
    for horizon in HORIZONS:
        ForecastSnapshot.objects.create(
            scope_key=scope_key, scope_kind=kind, as_of=as_of, horizon=horizon,
            pipeline=commit, best_case=commit, commit=commit, weighted=commit, model=commit,
            model_p10=commit, model_p90=commit, overdue_value=0, won_in_window=0,
            computed_at=timezone.now(),
        )  # fmt: skip


@pytest.fixture
def world(admin, manager, rep, rep2, other_manager, outsider, pipeline, stages):
    now = timezone.now()
    today = timezone.localdate(now)
    month_start = today.replace(day=1)
    week_win = max(now - datetime.timedelta(days=2), start_of(month_start))
    ago = lambda days: now - datetime.timedelta(days=days)  # noqa: E731
    won = lambda at, created=40: [("Qualification", ago(created)), ("Won", at)]  # noqa: E731
    deals_import(
        specs=[
            _deal(rep, stages, pipeline, "Riley win A", "1000", won(week_win)),
            _deal(rep, stages, pipeline, "Riley win B", "3000", won(week_win)),
            _deal(rep, stages, pipeline, "Riley old win", "5000", won(ago(200), 230)),
            _deal(
                rep,
                stages,
                pipeline,
                "Riley stalled",
                "4000",
                [("Qualification", ago(45)), ("Discovery", ago(30))],
                close_in=10,
                category="commit",
            ),
            _deal(
                rep,
                stages,
                pipeline,
                "Riley fresh",
                "2000",
                [("Qualification", ago(2))],
                close_in=20,
            ),
            _deal(rep2, stages, pipeline, "Robin win", "2500", won(week_win)),
            _deal(
                rep2,
                stages,
                pipeline,
                "Robin stalled",
                "6000",
                [("Qualification", ago(60)), ("Proposal", ago(40))],
                close_in=15,
                category="best_case",
            ),
            _deal(outsider, stages, pipeline, "Olive win", "9000", won(week_win)),
            _deal(
                outsider, stages, pipeline, "Olive stalled", "7000", [("Qualification", ago(30))]
            ),
        ],  # fmt: skip
        by=admin,
    )
    month_end = (month_start + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(
        days=1
    )
    quota_set(owner=rep, period_start=month_start, period_end=month_end, target=Decimal("10000"))
    quota_set(owner=rep2, period_start=month_start, period_end=month_end, target=Decimal("5000"))
    _snapshot(f"team={manager.pk}", "team", today, Decimal("4000"))
    _snapshot(f"team={manager.pk}", "team", today - datetime.timedelta(days=7), Decimal("8000"))
    _snapshot(f"owner={rep.pk}", "owner", today, Decimal("4000"))
    _snapshot(f"owner={rep.pk}", "owner", today - datetime.timedelta(days=7), Decimal("1000"))

    # One-on-ones: Riley's with the manager, Olive's with hers; items, notes.
    series = series_schedule(
        by=manager, rep=rep, cadence="weekly", weekday=today.weekday(),
        time=datetime.time(23, 30), starts_on=today - datetime.timedelta(days=7),
    )  # fmt: skip
    meetings_plan(series=series, until=today + datetime.timedelta(days=14))
    first = series.meetings.order_by("scheduled_at").first()
    meeting_notes_save(meeting=first, by=manager, shared=SHARED, private=PRIVATE)
    day = lambda n: today + datetime.timedelta(days=n)  # noqa: E731
    action_item_add(
        meeting=first, by=manager, owner=rep, text="Send the Acme proposal", due_on=day(-1)
    )
    action_item_add(meeting=first, by=manager, owner=rep, text="Call back Globex", due_on=day(3))
    action_item_add(meeting=first, by=manager, owner=rep, text="Plan next quarter", due_on=day(20))
    action_item_add(
        meeting=first, by=manager, owner=manager, text="Review the territory plan", due_on=day(2)
    )
    done = action_item_add(meeting=first, by=manager, owner=rep, text="Already done", due_on=day(1))
    action_item_complete(item=done, by=rep)
    other = series_schedule(
        by=other_manager, rep=outsider, cadence="weekly", weekday=today.weekday(),
        time=datetime.time(23, 45), starts_on=today - datetime.timedelta(days=7),
    )  # fmt: skip
    meetings_plan(series=other, until=today + datetime.timedelta(days=14))
    other_first = other.meetings.order_by("scheduled_at").first()
    meeting_notes_save(meeting=other_first, by=other_manager, private=PRIVATE)
    action_item_add(
        meeting=other_first,
        by=other_manager,
        owner=outsider,
        text="Olive's own item",
        due_on=day(1),
    )
    return {"now": now, "today": today, "series": series}


def _names(rows) -> list[str]:
    return [row.name for row in rows]


def test_a_managers_digest_adds_up_the_teams_week_by_hand(world, manager):
    content = digest_content(manager, world["now"])
    assert content["wins"]["count"] == 3
    assert content["wins"]["value"] == Decimal("6500.00")
    assert _names(content["wins"]["rows"]) == ["Riley win B", "Robin win", "Riley win A"]
    assert content["stalled"]["total"] == 2
    assert _names(content["stalled"]["rows"]) == ["Robin stalled", "Riley stalled"]
    assert [row.days_in_stage for row in content["stalled"]["rows"]] == [40, 30]

    month = content["forecast"]["month"]
    assert month["target"] == Decimal("15000.00")
    assert month["won"] == Decimal("6500.00")
    assert month["projected"]["commit"] == Decimal("10500.00")  # 6,500 won + 4,000 commit
    assert month["last_week"]["won"] == Decimal("0.00")
    assert month["change"]["commit"] == Decimal("2500.00")  # 10,500 against 8,000 a week ago

    kpis = {tile["name"]: tile["display"] for tile in content["kpis"]}
    assert kpis["open_deals"] == "3"
    assert kpis["open_value"] == "12,000"  # 4,000 + 2,000 + 6,000
    assert kpis["avg_won_deal_size"] == "2,167"  # 6,500 / 3 (the old win is outside the 90 days)
    assert kpis["close_ratio"] == "100%"

    items = content["action_items"]
    assert [item.text for item in items["rows"]] == [
        "Send the Acme proposal", "Review the territory plan", "Call back Globex",
    ]  # fmt: skip
    assert (items["count"], items["overdue"]) == (3, 1)
    assert content["next_one_on_one"].series_id == world["series"].pk
    assert content["next_one_on_one"].scheduled_at >= world["now"]


def test_a_reps_digest_is_the_short_version_of_their_own(world, rep):
    content = digest_content(rep, world["now"])
    assert (content["wins"]["count"], content["wins"]["value"]) == (2, Decimal("4000.00"))
    assert _names(content["stalled"]["rows"]) == ["Riley stalled"]
    month = content["forecast"]["month"]
    assert month["target"] == Decimal("10000.00")
    assert month["won"] == Decimal("4000.00")
    assert month["projected"]["commit"] == Decimal("8000.00")
    assert month["change"]["commit"] == Decimal("7000.00")  # 8,000 against 1,000
    assert content["kpis"] is None and content["coaching_flags"] == []
    assert [item.text for item in content["action_items"]["rows"]] == [
        "Send the Acme proposal", "Call back Globex",
    ]  # fmt: skip


# Who reads what: the other team's, a teammate's and a sibling manager's deals never show.
EXPECTED = {
    "admin": ({"Riley win A", "Riley win B", "Robin win", "Olive win", "Robin stalled",
               "Riley stalled", "Olive stalled"}, set()),
    "manager": ({"Riley win B", "Robin win", "Robin stalled", "Riley stalled"},
                {"Olive win", "Olive stalled", "Olive's own item"}),
    "other_manager": ({"Olive win", "Olive stalled", "Olive's own item"},
                      {"Riley win B", "Robin win", "Riley stalled", "Call back Globex"}),
    "rep": ({"Riley win B", "Riley stalled", "Call back Globex"},
            {"Robin win", "Robin stalled", "Olive win", "Review the territory plan"}),
    "rep2": ({"Robin win", "Robin stalled"},
             {"Riley win B", "Riley stalled", "Call back Globex", "Olive win"}),
    "outsider": ({"Olive win", "Olive stalled", "Olive's own item"},
                 {"Riley win B", "Robin win", "Riley stalled", "Call back Globex"}),
}  # fmt: skip


@pytest.mark.parametrize("who", list(EXPECTED))
def test_each_digest_holds_only_what_its_reader_may_see_and_never_a_note(world, request, who):
    person = request.getfixturevalue(who)
    digest = digest_render(person, world["now"])
    shown, hidden = EXPECTED[who]
    for part in (digest.text, digest.html.replace("&#x27;", "'")):
        for name in shown:
            assert name in part, (who, name)
        for name in hidden:
            assert name not in part, (who, name)
        assert PRIVATE not in part
        assert SHARED not in part


def test_the_email_has_a_plain_text_part_and_an_html_alternative(world, rep, eager):
    week = Schedule.of(None).week_of(world["now"])
    assert send_digest(rep.pk, week.isoformat(), world["now"].isoformat()) is True
    (message,) = mail.outbox
    assert message.to == [rep.email]
    assert message.subject.startswith("Your week in Salesmgr")
    assert "Riley stalled" in message.body
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    assert "<table" in html and "Riley stalled" in html
    assert 'style="' in html and "<style" not in html  # inline styles only
    assert DigestSend.objects.get(person=rep, week=week).subject == message.subject
    assert send_digest(rep.pk, week.isoformat(), world["now"].isoformat()) is False
    assert len(mail.outbox) == 1


def test_building_a_managers_digest_costs_a_fixed_number_of_queries(
    world, manager, pipeline, stages, admin, django_assert_num_queries
):
    digest_content(manager, world["now"])  # warms what a first read stores
    with django_assert_num_queries(QUERIES):
        digest_content(manager, world["now"])
    more_reps = [UserFactory(manager=manager) for _ in range(4)]
    ago = lambda days: world["now"] - datetime.timedelta(days=days)  # noqa: E731
    deals_import(
        specs=[
            _deal(person, stages, pipeline, f"More {n}", "100", [("Qualification", ago(30))])
            for person in more_reps
            for n in range(5)
        ],
        by=admin,
    )
    digest_content(manager, world["now"])
    with django_assert_num_queries(QUERIES):
        digest_content(manager, world["now"])


QUERIES = 21


# The flag the insights raise ---------------------------------------------------


def test_a_managers_digest_names_the_rep_the_insights_flag_and_a_reps_does_not(
    team_history, manager, rep
):
    now = timezone.now()
    flags = digest_content(manager, now)["coaching_flags"]
    assert [(flag["rep_name"], flag["stage"]) for flag in flags] == [("Riley Rep", "Discovery")]
    assert "advanced 4 of the 20 deals that entered Discovery (20%)" in flags[0]["evidence"]
    assert "Riley Rep on Discovery" in digest_render(manager, now).text
    assert digest_content(rep, now)["coaching_flags"] == []
    assert "insights" not in digest_render(rep, now).text.lower()


# When ------------------------------------------------------------------------

MONDAY = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)


def _at(days: float, hour: int, minute: int = 0) -> datetime.datetime:
    return MONDAY + datetime.timedelta(days=days, hours=hour, minutes=minute)


def test_the_hourly_run_sends_each_digest_once_a_week_at_the_chosen_hour(
    manager, rep, eager, settings
):
    settings.TIME_ZONE = "UTC"
    digest_preference_save(person=rep, enabled=True, weekday=2, hour=9, time_zone="Europe/Paris")
    sent = lambda: sorted(  # noqa: E731
        (send.person_id, send.week.isoformat()) for send in DigestSend.objects.all()
    )
    assert send_due_digests(now=_at(0, 6, 59).isoformat()) == 0
    assert send_due_digests(now=_at(0, 7).isoformat()) == 1  # the manager: Monday 07:00 by default
    assert sent() == [(manager.pk, "2026-01-05")]
    assert send_due_digests(now=_at(0, 8).isoformat()) == 0
    assert send_due_digests(now=_at(2, 7, 59).isoformat()) == 0  # 08:59 in Paris
    assert send_due_digests(now=_at(2, 8).isoformat()) == 1  # 09:00 in Paris
    assert send_due_digests(now=_at(2, 9).isoformat()) == 0
    assert send_due_digests(now=_at(6, 23).isoformat()) == 0
    assert send_due_digests(now=_at(7, 7).isoformat()) == 1  # next Monday: the manager again
    assert sent() == sorted(
        [(manager.pk, "2026-01-05"), (rep.pk, "2026-01-05"), (manager.pk, "2026-01-12")]
    )
    assert [message.to for message in mail.outbox] == [
        [manager.email], [rep.email], [manager.email],
    ]  # fmt: skip


def test_a_missed_hour_is_caught_up_later_in_the_week_and_a_digest_turned_off_never_goes(
    manager, rep, eager, settings
):
    settings.TIME_ZONE = "UTC"
    digest_preference_save(person=rep, enabled=False, weekday=0, hour=7)
    assert digests_due(_at(3, 12)) == [(manager.pk, datetime.date(2026, 1, 5))]


def test_a_person_without_an_email_address_gets_nothing(rep, eager, settings):
    settings.TIME_ZONE = "UTC"
    rep.email = ""
    rep.save(update_fields=["email"])
    assert rep.pk not in {person_id for person_id, _ in digests_due(_at(0, 8))}
    assert send_digest(rep.pk, "2026-01-05", _at(0, 8).isoformat()) is False
    assert mail.outbox == []


def test_a_send_that_fails_records_nothing_so_the_retry_sends_it(rep, eager, settings, monkeypatch):
    from django.core.mail import EmailMultiAlternatives

    def refuse(self, *args, **kwargs):
        raise ConnectionError("the SMTP server is down")

    monkeypatch.setattr(EmailMultiAlternatives, "send", refuse)
    with pytest.raises(ConnectionError):
        send_digest.run(rep.pk, "2026-01-05", _at(0, 8).isoformat())
    assert not DigestSend.objects.exists()
    monkeypatch.undo()
    assert send_digest.run(rep.pk, "2026-01-05", _at(0, 8).isoformat()) is True
    assert len(mail.outbox) == 1


def test_the_schedule_counts_the_week_in_the_persons_time_zone():
    schedule = Schedule(True, 0, 7, __import__("zoneinfo").ZoneInfo("Pacific/Auckland"))
    sunday_evening_utc = datetime.datetime(
        2026, 1, 4, 18, 30, tzinfo=datetime.UTC
    )  # Monday 07:30 there
    assert schedule.week_of(sunday_evening_utc) == datetime.date(2026, 1, 5)
    assert schedule.is_due(sunday_evening_utc, set())
    assert not schedule.is_due(sunday_evening_utc, {datetime.date(2026, 1, 5)})


# The pages -------------------------------------------------------------------

CAST = ["admin", "manager", "other_manager", "rep", "rep2", "outsider"]


@pytest.mark.parametrize("who", CAST)
def test_the_preview_shows_each_person_their_own_next_digest(world, request, client, who):
    person = request.getfixturevalue(who)
    client.force_login(person)
    page = client.get("/coaching/digest/")
    assert page.status_code == 200
    body = page.content.decode()
    assert escape(digest_render(person, timezone.now()).subject) in body
    assert "/coaching/digest/email.txt" in body
    assert f'srcdoc="{escape(digest_render(person, timezone.now()).html)}"' in body
    html = client.get("/coaching/digest/email.html")
    assert html.content.decode() == digest_render(person, timezone.now()).html
    text = client.get("/coaching/digest/email.txt")
    assert text["Content-Type"].startswith("text/plain")
    shown, hidden = EXPECTED[who]
    for name in shown:
        assert name in text.content.decode()
    for name in hidden:
        assert name not in text.content.decode() and name not in body
    assert PRIVATE not in body and PRIVATE not in text.content.decode()


def test_the_digest_pages_need_a_sign_in(client, db):
    for url in ("/coaching/digest/", "/coaching/digest/email.txt", "/coaching/digest/settings/"):
        assert client.get(url).status_code == 302


TEAM_ROWS = {
    "admin": {"admin", "manager", "rep", "rep2", "other_manager", "outsider"},
    "manager": {"rep", "rep2"},
    "other_manager": {"outsider"},
    "rep": None,
    "rep2": None,
    "outsider": None,
}


@pytest.mark.parametrize("who", CAST)
def test_the_settings_page_shows_a_manager_their_team_and_a_rep_only_their_own(
    admin, manager, rep, rep2, other_manager, outsider, client, who
):
    people = {p.username: p for p in (admin, manager, rep, rep2, other_manager, outsider)}
    person = people["othermanager" if who == "other_manager" else who]
    client.force_login(person)
    page = client.get("/coaching/digest/settings/")
    assert page.status_code == 200
    team = page.context["team"]
    expected = TEAM_ROWS[who]
    if expected is None:
        assert team == [] and b'data-testid="digest-team"' not in page.content
        return
    names = {row["person"].username for row in team}
    assert names == {"othermanager" if n == "other_manager" else n for n in expected}


def test_a_person_sets_their_own_day_and_hour(rep, client):
    client.force_login(rep)
    response = client.post(
        "/coaching/digest/settings/",
        {"enabled": "on", "weekday": "4", "hour": "16", "time_zone": "America/New_York"},
    )
    assert response.status_code == 302
    preference = DigestPreference.objects.get(person=rep)
    assert (preference.enabled, preference.weekday, preference.hour, preference.time_zone) == (
        True, 4, 16, "America/New_York",
    )  # fmt: skip
    client.post("/coaching/digest/settings/", {"weekday": "4", "hour": "16"})
    assert DigestPreference.objects.get(person=rep).enabled is False


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({"enabled": "on", "weekday": "4", "hour": "24"}, "hour", "Select a valid choice"),
        ({"enabled": "on", "weekday": "9", "hour": "7"}, "weekday", "Select a valid choice"),
        ({"enabled": "on", "weekday": "1", "hour": "7", "time_zone": "Mars/Olympus"}, "time_zone",
         "is not a time zone"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_field(rep, client, data, field, message):
    client.force_login(rep)
    response = client.post("/coaching/digest/settings/", data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert not DigestPreference.objects.exists()


def test_the_service_refuses_an_hour_out_of_range_naming_it(rep):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        digest_preference_save(person=rep, enabled=True, weekday=0, hour=24)
    assert "hour" in refused.value.message_dict


def test_the_beat_schedule_runs_the_digests_every_hour():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["coaching-weekly-digests"]
    assert entry["task"] == "coaching.send_due_digests"
    assert entry["task"] in celery_app.tasks
    assert str(entry["schedule"]._orig_minute) == "0"
    assert str(entry["schedule"]._orig_hour) == "*"


# A real worker ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_real_worker_sends_the_due_digests_once(
    transactional_db, manager, rep, monkeypatch, tmp_path
):
    from tests.redis_server import start_worker, stop_worker

    need_postgres()
    if not os.environ.get("REDIS_URL"):
        if IN_CI:
            pytest.fail("this test needs Redis (set REDIS_URL=redis://...)")
        pytest.skip("this test needs Redis (set REDIS_URL=redis://...)")
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    digest_preference_save(person=rep, enabled=False, weekday=0, hour=7)
    log = tmp_path / "worker.log"
    process = start_worker(redis_url=os.environ["REDIS_URL"], log=log)
    try:
        moment = _at(0, 8).isoformat()
        assert send_due_digests.delay(now=moment).get(timeout=60) == 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not DigestSend.objects.exists():
            assert process.poll() is None, log.read_text()
            time.sleep(0.5)
        (sent,) = DigestSend.objects.all()
        assert (sent.person_id, sent.week) == (manager.pk, datetime.date(2026, 1, 5))
        assert send_due_digests.delay(now=moment).get(timeout=60) == 0
        assert sent.subject in log.read_text()  # the console backend printed the e-mail
    finally:
        stop_worker(process)


def test_the_demo_gives_managers_and_reps_a_schedule_once(admin, manager, rep):
    from coaching.services.digests import demo_digest_preferences_create

    assert demo_digest_preferences_create() == 2
    schedules = dict(DigestPreference.objects.values_list("person__username", "hour"))
    assert schedules == {"manager": 7, "rep": 8}
    assert demo_digest_preferences_create() == 0
