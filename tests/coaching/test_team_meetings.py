"""Team meetings: the agenda reads the team's history as it stood at the meeting; items carry over; the rules of the services.

The team of ``manager`` is rep and rep2; outsider is in other_manager's team.
The meeting is on Wednesday 11 March 2026 at 10:00; the team's last held one on 4 March.
"""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, F
from django.urls import reverse
from django.utils import timezone

from coaching.models import ActionItem, Milestone, ShoutOut, TeamMeeting, TeamMeetingStatus
from coaching.services import (
    team_action_item_add,
    team_action_item_complete,
    team_meeting_minutes_save,
    team_meeting_record,
    team_meeting_schedule,
    team_meeting_schedule_next,
)
from coaching.team_meetings import (
    team_meeting_action_items,
    team_meeting_agenda,
    team_meeting_agenda_for,
    team_meetings_managed_by,
    team_meetings_visible_to,
)
from pipeline.scopes import Scope
from pipeline.services import AccountSpec, DealSpec, TransitionSpec, accounts_import, deals_import
from quotas.services import quota_set
from reports.models import ForecastSnapshot
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from tests.coaching.conftest import at
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

D = datetime.date.fromisoformat
LATER = at("2026-12-01")


@pytest.fixture
def meetings(manager):
    """The team's meetings of 4 March (held) and 11 March (scheduled)."""
    first = team_meeting_schedule(by=manager, scheduled_at=at("2026-03-04"))
    team_meeting_record(meeting=first, by=manager, status=TeamMeetingStatus.HELD)
    second = team_meeting_schedule(by=manager, scheduled_at=at("2026-03-11"))
    return [first, second]


def _deal(name, *, owner, account_id, pipeline, stages, moves, amount):
    return DealSpec(
        name=name,
        account_id=account_id,
        owner_id=owner.pk,
        pipeline_id=pipeline.pk,
        stage_id=stages[moves[-1][0]].pk,
        amount=Decimal(amount),
        currency="USD",
        expected_close_date=D("2026-04-30"),
        forecast_category="pipeline",
        created_at=at(moves[0][1], 9),
        lost_reason_id=None,
        transitions=[TransitionSpec(to_stage_id=stages[s].pk, at=at(day, 9)) for s, day in moves],
        changes=[],
    )


@pytest.fixture
def history(admin, manager, rep, rep2, outsider, pipeline, stages):
    """Deals with a past, around the meeting of 11 March."""
    accounts = accounts_import(
        specs=[
            AccountSpec(name="Acme", owner_id=rep.pk),
            AccountSpec(name="Beta", owner_id=rep2.pk),
            AccountSpec(name="Elsewhere", owner_id=outsider.pk),
        ],
        by=admin,
    )
    account = {rep.pk: accounts[0], rep2.pk: accounts[1], outsider.pk: accounts[2]}

    def deal(name, owner, moves, amount):
        return _deal(
            name,
            owner=owner,
            account_id=account[owner.pk],
            pipeline=pipeline,
            stages=stages,
            moves=moves,
            amount=amount,
        )

    specs = [
        deal("Won this week", rep, [("Proposal", "2026-02-10"), ("Won", "2026-03-06")], "30000"),
        deal("Won before", rep, [("Proposal", "2026-02-01"), ("Won", "2026-03-02")], "4000"),
        # Stalled at the meeting (29 days in Proposal, whose limit is 21); won only the day after.
        deal("Won after", rep2, [("Proposal", "2026-02-10"), ("Won", "2026-03-12")], "60000"),
        deal(
            "Moved", rep2, [("Qualification", "2026-02-20"), ("Discovery", "2026-03-09")], "15000"
        ),
        deal(
            "Moved small",
            rep,
            [("Qualification", "2026-03-01"), ("Proposal", "2026-03-10")],
            "5000",
        ),
        deal(
            "Moved after",
            rep,
            [("Qualification", "2026-03-01"), ("Discovery", "2026-03-12")],
            "8000",
        ),
        deal("Stalled big", rep, [("Negotiation", "2026-01-10")], "20000"),
        deal(
            "Outsider win", outsider, [("Proposal", "2026-02-10"), ("Won", "2026-03-07")], "99000"
        ),
    ]
    ids = dict(zip([s.name for s in specs], deals_import(specs=specs, by=admin), strict=True))
    for month in ("2026-01-01", "2026-02-01", "2026-03-01"):
        first = D(month)
        last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
        quota_set(owner=rep, period_start=first, period_end=last, target=Decimal("10000.00"))
    return ids


def snapshot(manager, day: str, *, commit: str, model: str, best_case: str, horizon: int = 30):
    """A forecast snapshot of the team, written by hand."""
    figures = {
        "pipeline": Decimal("100000"),
        "best_case": Decimal(best_case),
        "commit": Decimal(commit),
        "weighted": Decimal("35000"),
        "model": Decimal(model),
        "model_p10": Decimal("1000"),
        "model_p90": Decimal("90000"),
        "overdue_value": Decimal("0"),
        "won_in_window": Decimal("0"),
    }
    return ForecastSnapshot.objects.create(
        scope_key=Scope(team=manager.pk).key,
        scope_kind="team",
        as_of=D(day),
        horizon=horizon,
        computed_at=at(day, 2),
        **figures,
    )


def test_agenda_lists_the_weeks_wins_and_not_a_win_after_the_meeting(history, meetings):
    agenda = team_meeting_agenda(meetings[1], now=LATER)

    assert agenda["as_of"] == at("2026-03-11")
    assert agenda["since"] == at("2026-03-04")
    assert [(w["name"], w["owner_name"], w["value"]) for w in agenda["wins"]] == [
        ("Won this week", "Riley Rep", Decimal("30000.00"))
    ]
    assert agenda["wins_total"] == {"count": 1, "value": Decimal("30000.00")}


def test_agenda_lists_the_deals_that_moved_in_the_week_per_stage_and_the_largest(history, meetings):
    agenda = team_meeting_agenda(meetings[1], now=LATER)

    assert [(row["stage_name"], row["deals"]) for row in agenda["moves_by_stage"]] == [
        ("Discovery", 1),
        ("Proposal", 1),
        ("Won", 1),
    ]
    assert [
        (d["name"], d["from_stage"], d["to_stage"], d["value"]) for d in agenda["moved_deals"]
    ] == [
        ("Won this week", "Proposal", "Won", Decimal("30000.00")),
        ("Moved", "Qualification", "Discovery", Decimal("15000.00")),
        ("Moved small", "Qualification", "Proposal", Decimal("5000.00")),
    ]


def test_agenda_lists_the_biggest_stalled_deals_as_they_stood(history, meetings):
    agenda = team_meeting_agenda(meetings[1], now=LATER)

    assert [(d["name"], d["stage_name"], d["owner_name"]) for d in agenda["stalled_deals"]] == [
        ("Won after", "Proposal", "Robin Rep"),
        ("Stalled big", "Negotiation", "Riley Rep"),
    ]
    assert agenda["stalled_total"] == {"count": 2, "value": Decimal("80000.00")}


def test_a_rep_reads_the_agenda_with_only_their_own_deals_listed(
    history, meetings, manager, rep2, admin
):
    """Reps read only their own deals: the lists leave out colleagues' deals, the totals stay."""
    robin = team_meeting_agenda_for(rep2, meetings[1], now=LATER)
    assert robin["wins"] == []
    assert [d["name"] for d in robin["moved_deals"]] == ["Moved"]
    assert [d["name"] for d in robin["stalled_deals"]] == ["Won after"]
    assert robin["deals_hidden"] == 4  # a win, two moves and a stalled deal of Riley's
    assert robin["wins_total"] == {"count": 1, "value": Decimal("30000.00")}
    assert robin["stalled_total"] == {"count": 2, "value": Decimal("80000.00")}
    for reader in (manager, admin):
        agenda = team_meeting_agenda_for(reader, meetings[1], now=LATER)
        assert agenda["deals_hidden"] == 0
        assert len(agenda["moved_deals"]) == 3


def test_agenda_forecast_against_quota_and_its_change_from_two_snapshots(
    history, meetings, manager
):
    snapshot(manager, "2026-03-11", commit="40000", model="50000", best_case="60000")
    snapshot(manager, "2026-03-04", commit="25000", model="45000", best_case="50000")
    snapshot(manager, "2026-03-11", commit="1", model="1", best_case="1", horizon=60)

    forecast = team_meeting_agenda(meetings[1], now=LATER)["forecast"]

    month = forecast["month"]
    assert (month["start"], month["last_day"], month["horizon"]) == (
        D("2026-03-01"),
        D("2026-03-31"),
        30,
    )
    assert month["target"] == Decimal("10000.00")
    # Won so far: 4,000 on 2 March and 30,000 on 6 March; a week before, the 4,000 only.
    assert month["won"] == Decimal("34000.00")
    assert month["projected"] == {
        "commit": Decimal("74000.00"),
        "best_case": Decimal("94000.00"),
        "model": Decimal("84000.00"),
    }
    assert month["gap"] == Decimal("-64000.00")
    assert month["last_week"]["won"] == Decimal("4000.00")
    assert month["last_week"]["projected"]["commit"] == Decimal("29000.00")
    assert month["change"] == {
        "commit": Decimal("45000.00"),
        "best_case": Decimal("40000.00"),
        "model": Decimal("35000.00"),
    }
    assert month["missing"] == ""
    quarter = forecast["quarter"]
    assert quarter["target"] == Decimal("30000.00")
    assert quarter["won"] == Decimal("34000.00")
    assert quarter["change"]["commit"] == Decimal("45000.00")


def test_agenda_says_when_no_forecast_snapshot_exists(history, meetings, manager):
    snapshot(manager, "2026-03-11", commit="40000", model="50000", best_case="60000")

    month = team_meeting_agenda(meetings[1], now=LATER)["forecast"]["month"]

    assert month["projected"]["commit"] == Decimal("74000.00")
    assert month["last_week"]["projected"] is None
    assert month["change"] is None
    assert "No forecast snapshot of the team for 4 Mar 2026" in month["missing"]


def test_agenda_of_a_meeting_ahead_reads_now(history, meetings, manager):
    agenda = team_meeting_agenda(meetings[1], now=at("2026-03-08", 12))

    assert agenda["as_of"] == at("2026-03-08", 12)
    assert [w["name"] for w in agenda["wins"]] == ["Won this week"]
    assert [d["name"] for d in agenda["moved_deals"]] == ["Won this week"]


def test_agenda_celebrates_the_weeks_milestones_and_shout_outs_of_the_team(
    meetings, manager, rep, rep2, outsider, other_manager
):
    Milestone.objects.create(
        rep=rep,
        period="month",
        period_start=D("2026-03-01"),
        level=50,
        won=Decimal("5000"),
        target=Decimal("10000"),
        reached_at=at("2026-03-08"),
    )
    Milestone.objects.create(
        rep=rep,
        period="month",
        period_start=D("2026-03-01"),
        level=100,
        won=Decimal("10000"),
        target=Decimal("10000"),
        reached_at=at("2026-03-12"),
    )
    ShoutOut.objects.create(
        author=manager, rep=rep2, message="Great demo", created_at=at("2026-03-05")
    )
    ShoutOut.objects.create(
        author=other_manager, rep=outsider, message="Not ours", created_at=at("2026-03-05")
    )

    celebrations = team_meeting_agenda(meetings[1], now=LATER)["celebrations"]

    assert [(m["rep_name"], m["level"]) for m in celebrations["milestones"]] == [("Riley Rep", 50)]
    assert [(s["rep_name"], s["message"]) for s in celebrations["shout_outs"]] == [
        ("Robin Rep", "Great demo")
    ]


def test_open_items_carry_over_until_done(meetings, manager, rep, rep2):
    first, second = meetings
    kept = team_action_item_add(
        meeting=first, by=manager, owner=rep, text="Update the CRM", due_on=D("2026-03-09")
    )
    done_before = team_action_item_add(
        meeting=first, by=manager, owner=rep2, text="Call Beta", due_on=D("2026-03-06")
    )
    done_after = team_action_item_add(
        meeting=first, by=manager, owner=manager, text="Book the venue", due_on=D("2026-03-20")
    )
    ActionItem.objects.filter(pk__in=[done_before.pk, done_after.pk]).update(
        created_at=at("2026-03-04")
    )
    ActionItem.objects.filter(pk=kept.pk).update(created_at=at("2026-03-04"))
    ActionItem.objects.filter(pk=done_before.pk).update(
        status="done", completed_at=at("2026-03-05")
    )
    ActionItem.objects.filter(pk=done_after.pk).update(status="done", completed_at=at("2026-03-12"))
    new = team_action_item_add(
        meeting=second, by=manager, owner=rep2, text="Share the deck", due_on=D("2026-03-18")
    )

    agenda = team_meeting_agenda(second, now=LATER)
    assert [(i["text"], i["overdue"]) for i in agenda["open_action_items"]] == [
        ("Update the CRM", True),
        ("Book the venue", False),
    ]
    assert [i.pk for i in team_meeting_action_items(second)] == [kept.pk, done_after.pk, new.pk]
    assert [i.pk for i in team_meeting_action_items(first)] == [
        done_before.pk,
        kept.pk,
        done_after.pk,
    ]


def test_visibility_any_depth_sees_the_own_manager_runs(
    meetings, manager, rep, admin, other_manager, outsider
):
    director = UserFactory(username="director", role="manager", full_name="Dana Director")
    manager.manager = director
    manager.save(update_fields=["manager"])
    ids = {m.pk for m in meetings}

    for who in (admin, manager, rep, director):
        assert set(team_meetings_visible_to(who).values_list("pk", flat=True)) == ids
    for who in (other_manager, outsider):
        assert not team_meetings_visible_to(who).exists()
    assert set(team_meetings_managed_by(manager).values_list("pk", flat=True)) == ids
    for who in (director, rep, other_manager):
        assert not team_meetings_managed_by(who).exists()
    with pytest.raises(PermissionDenied):
        team_meeting_record(meeting=meetings[1], by=director, status="held")


def test_schedule_refuses_with_the_field_and_writes_nothing(manager, other_manager, rep, admin):
    when = at("2026-03-11")
    cases = [
        (dict(by=manager, scheduled_at=None), "scheduled_at"),
        (dict(by=manager, scheduled_at=at("0001-01-01")), "scheduled_at"),
        (dict(by=manager, manager=other_manager, scheduled_at=when), "manager"),
        (dict(by=admin, manager=rep, scheduled_at=when), "manager"),
        (dict(by=admin, scheduled_at=when), "manager"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as refusal:
            team_meeting_schedule(**kwargs)
        assert field in refusal.value.message_dict
    assert not TeamMeeting.objects.exists()

    team_meeting_schedule(by=admin, manager=manager, scheduled_at=when)
    with pytest.raises(ValidationError) as clash:
        team_meeting_schedule(by=manager, scheduled_at=when)
    assert clash.value.message_dict == {
        "scheduled_at": ["The team already has a meeting at this time."]
    }
    assert TeamMeeting.objects.count() == 1


def test_action_item_owner_is_in_the_team_and_only_the_manager_adds(
    meetings, manager, rep, outsider, other_manager
):
    meeting = meetings[1]
    with pytest.raises(ValidationError) as refusal:
        team_action_item_add(
            meeting=meeting, by=manager, owner=outsider, text="", due_on=D("2026-03-01")
        )
    assert set(refusal.value.message_dict) == {"owner", "text", "due_on"}
    with pytest.raises(PermissionDenied):
        team_action_item_add(
            meeting=meeting, by=other_manager, owner=rep, text="x", due_on=D("2026-03-18")
        )
    with pytest.raises(PermissionDenied):
        team_action_item_add(meeting=meeting, by=rep, owner=rep, text="x", due_on=D("2026-03-18"))
    assert not ActionItem.objects.exists()


def test_owner_and_manager_complete_an_item_others_may_not(meetings, manager, rep, rep2):
    item = team_action_item_add(
        meeting=meetings[1], by=manager, owner=rep, text="Send notes", due_on=D("2026-03-18")
    )
    with pytest.raises(PermissionDenied):
        team_action_item_complete(item=item, by=rep2)
    assert team_action_item_complete(item=item, by=rep).status == "done"
    again = team_action_item_complete(item=item, by=manager)
    assert again.completed_by_id == rep.pk


def test_minutes_and_next_week(meetings, manager, rep):
    meeting = meetings[1]
    with pytest.raises(ValidationError) as refusal:
        team_meeting_minutes_save(meeting=meeting, by=manager, minutes="x" * 20_001)
    assert "minutes" in refusal.value.message_dict
    with pytest.raises(PermissionDenied):
        team_meeting_minutes_save(meeting=meeting, by=rep, minutes="Mine")
    team_meeting_minutes_save(meeting=meeting, by=manager, minutes="Pipeline review.")
    meeting.refresh_from_db()
    assert meeting.minutes == "Pipeline review."

    following = team_meeting_schedule_next(meeting=meeting, by=manager)
    assert following.scheduled_at == at("2026-03-18")
    assert team_meeting_schedule_next(meeting=meeting, by=manager).pk == following.pk


def _moved_deals(admin, rep, pipeline, stages, count: int) -> None:
    (account,) = accounts_import(specs=[AccountSpec(name="Many", owner_id=rep.pk)], by=admin)
    deals_import(
        specs=[
            _deal(
                f"Mover {n}",
                owner=rep,
                account_id=account,
                pipeline=pipeline,
                stages=stages,
                moves=[("Qualification", "2026-03-01"), ("Discovery", "2026-03-09")],
                amount=str(1000 + n),
            )
            for n in range(count)
        ],
        by=admin,
    )


# 19 for the deals, forecast, items, milestones and shout-outs; 6 for the streaks and bests (none
# of the team has a win to rank for a best deal); on PostgreSQL two more ask whether the closed
# deals' rollup may be read.
AGENDA_QUERIES = 25 + 2 * (connection.vendor == "postgresql")


@pytest.mark.parametrize("count", [3, 20])
def test_agenda_runs_a_fixed_number_of_queries(
    meetings, admin, manager, rep, pipeline, stages, count, django_assert_num_queries
):
    _moved_deals(admin, rep, pipeline, stages, count)
    snapshot(manager, "2026-03-11", commit="1", model="1", best_case="1")
    meeting = TeamMeeting.objects.get(pk=meetings[1].pk)

    with django_assert_num_queries(AGENDA_QUERIES):
        agenda = team_meeting_agenda(meeting, now=LATER)

    assert agenda["moves_by_stage"][0]["deals"] == count
    assert len(agenda["moved_deals"]) == min(count, 5)


def test_a_past_meeting_reads_the_same_later(history, meetings):
    first = team_meeting_agenda(meetings[1], now=LATER)
    assert team_meeting_agenda(meetings[1], now=timezone.now()) == first


def test_seed_demo_gives_every_manager_a_year_of_weekly_team_meetings():
    from tests.coaching.test_seed import TODAY, seed

    output = seed()

    assert "Team meetings:" in output
    managers = set(
        User.objects.filter(role="manager", is_active=True, reports__isnull=False).values_list(
            "pk", flat=True
        )
    )
    assert set(TeamMeeting.objects.values_list("manager_id", flat=True)) == managers
    by_status = dict(TeamMeeting.objects.values_list("status").annotate(n=Count("pk")))
    assert by_status["held"] > 4 * by_status["cancelled"] > 0
    today = D(TODAY)
    assert not TeamMeeting.objects.filter(status="held", scheduled_at__date__gte=today).exists()
    assert TeamMeeting.objects.filter(status="scheduled").count() >= len(managers)
    assert not TeamMeeting.objects.filter(status="held", minutes="").exists()
    items = ActionItem.objects.filter(team_meeting__isnull=False)
    assert items.filter(status="done").count() > items.filter(status="open").count() > 0
    # Every owner is the team's manager or in the team.
    assert (
        not items.exclude(owner_id=F("team_meeting__manager_id"))
        .exclude(owner__manager_id=F("team_meeting__manager_id"))
        .exists()
    )


def test_a_teams_deals_as_of_a_moment_follow_reassignments_in_and_out(
    admin, manager, rep, rep2, outsider, pipeline
):
    from pipeline.selectors import deals_as_of
    from pipeline.services import deal_reassign
    from salesmgr.selectors import team_member_ids_subquery
    from tests.factories import DealFactory

    left = DealFactory(owner=rep, pipeline=pipeline, name="Left the team")
    joined = DealFactory(owner=outsider, pipeline=pipeline, name="Joined the team")
    moved_within = DealFactory(owner=rep, pipeline=pipeline, name="Moved within")
    before = timezone.now()
    deal_reassign(deal=left, new_owner=outsider, by=admin, expected_version=None)
    deal_reassign(deal=joined, new_owner=rep2, by=admin, expected_version=None)
    deal_reassign(deal=moved_within, new_owner=rep2, by=admin, expected_version=None)
    after = timezone.now()
    team = team_member_ids_subquery(manager.pk)

    def names(moment):
        return sorted(row.name for row in deals_as_of(moment, owner_in=team))

    assert names(before) == ["Left the team", "Moved within"]
    assert names(after) == ["Joined the team", "Moved within"]
    assert names(after) == sorted(row.name for row in deals_as_of(after).filter(owner_id__in=team))


def test_a_reps_meeting_page_and_api_leave_out_colleagues_deals(history, meetings, client, rep2):
    client.force_login(rep2)
    page = client.get(reverse("team-meeting", args=[meetings[1].pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Won this week" not in text and "Stalled big" not in text  # Riley's
    assert "Moved" in text and "None of your deals was won this week." in text
    body = client.get(f"/api/v1/team-meetings/{meetings[1].pk}/").json()
    assert {d["name"] for d in body["agenda"]["moved_deals"]} == {"Moved"}
    assert body["agenda"]["deals_hidden"] == 4
