"""The agenda of a one-on-one reads the rep's deals as they stood at the meeting, from a hand-built history."""

import datetime
from decimal import Decimal

import pytest

from coaching.models import ActionItem
from coaching.selectors import meeting_agenda
from coaching.services import action_item_add
from pipeline.services import (
    AccountSpec,
    ActivitySpec,
    ChangeSpec,
    DealSpec,
    TransitionSpec,
    accounts_import,
    activities_import,
    deals_import,
)
from quotas.services import quota_set
from tests.coaching.conftest import at
from tests.factories import LostReasonFactory

pytestmark = pytest.mark.django_db

D = datetime.date.fromisoformat


@pytest.fixture
def history(admin, rep, rep2, stages, pipeline):
    """Deals, activities and quotas with a past; the meeting is on 11 March 2026 at 10:00, the last one on 4 March."""
    account, other_account = accounts_import(
        specs=[
            AccountSpec(name="Acme", owner_id=rep.pk),
            AccountSpec(name="Other", owner_id=rep2.pk),
        ],
        by=admin,
    )

    def deal(name, *, moves, amount, close, changes=(), owner=rep, account_id=account):
        return DealSpec(
            name=name,
            account_id=account_id,
            owner_id=owner.pk,
            pipeline_id=pipeline.pk,
            stage_id=stages[moves[-1][0]].pk,
            amount=Decimal(amount),
            currency="USD",
            expected_close_date=D(close),
            forecast_category="pipeline",
            created_at=at(moves[0][1], 9),
            lost_reason_id=None,
            transitions=[
                TransitionSpec(to_stage_id=stages[s].pk, at=at(day, 9)) for s, day in moves
            ],
            changes=[ChangeSpec(field=f, value=v, at=at(day, 9)) for f, v, day in changes],
        )

    specs = [
        # Hot: the biggest closing within 30 days; after the meeting it grows and is won.
        deal(
            "Big closing",
            moves=[
                ("Qualification", "2026-02-01"),
                ("Proposal", "2026-03-05"),
                ("Won", "2026-03-12"),
            ],
            amount="90000.00",
            close="2026-03-25",
            changes=[("amount", "50000.00", "2026-02-01"), ("amount", "90000.00", "2026-03-12")],
        ),
        # Hot (smaller) and stalled: 19 days in Qualification, whose limit is 14.
        deal(
            "Small soon",
            moves=[("Qualification", "2026-02-20")],
            amount="5000.00",
            close="2026-03-15",
        ),
        # Slipped: 31 May at the last meeting, 30 June at this one (30 September only after it).
        deal(
            "Far away",
            moves=[("Discovery", "2026-03-01")],
            amount="100000.00",
            close="2026-09-30",
            changes=[
                ("expected_close_date", "2026-05-31", "2026-03-01"),
                ("expected_close_date", "2026-06-30", "2026-03-08"),
                ("expected_close_date", "2026-09-30", "2026-03-12"),
            ],
        ),
        # Pulled in (not slipped), stalled in Negotiation since January, not hot (closes after 10 April).
        deal(
            "Pulled in",
            moves=[("Negotiation", "2026-01-10")],
            amount="20000.00",
            close="2026-04-15",
            changes=[
                ("expected_close_date", "2026-04-30", "2026-01-10"),
                ("expected_close_date", "2026-04-15", "2026-03-08"),
            ],
        ),
        deal(
            "Lost long ago",
            moves=[("Qualification", "2026-01-05"), ("Lost", "2026-02-15")],
            amount="7000.00",
            close="2026-02-28",
        ),
        deal(
            "Won early",
            moves=[("Proposal", "2026-02-10"), ("Won", "2026-03-03")],
            amount="4000.00",
            close="2026-03-03",
        ),
        deal(
            "Not hers",
            moves=[("Proposal", "2026-03-01")],
            amount="80000.00",
            close="2026-03-20",
            owner=rep2,
            account_id=other_account,
        ),
        deal(
            "Came later", moves=[("Proposal", "2026-03-12")], amount="70000.00", close="2026-03-20"
        ),
    ]
    specs[4].lost_reason_id = LostReasonFactory().pk
    ids = dict(zip([s.name for s in specs], deals_import(specs=specs, by=admin), strict=True))

    def calls(day_from: str, count: int, kind="call", author=rep):
        start = at(day_from, 8)
        return [
            ActivitySpec(
                kind=kind,
                subject=f"{kind} {n}",
                occurred_at=start + datetime.timedelta(days=n % 6, hours=n),
                author_id=author.pk,
                account_id=account if author == rep else other_account,
            )
            for n in range(count)
        ]

    activities_import(
        specs=[
            *calls("2026-03-05", 3),  # the last 7 days before the meeting
            *calls("2026-03-05", 1, kind="email"),
            *[
                spec
                for week in range(8)  # two calls a week in the eight weeks before
                for spec in calls((D("2026-01-08") + datetime.timedelta(weeks=week)).isoformat(), 2)
            ],
            *calls("2026-03-12", 4),  # after the meeting
            *calls("2026-03-05", 5, author=rep2),
        ]
    )
    for month in ("2026-01-01", "2026-02-01", "2026-03-01"):
        first = D(month)
        last = (first + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
        quota_set(owner=rep, period_start=first, period_end=last, target=Decimal("10000.00"))
    return ids


def test_agenda_reads_the_deals_as_they_stood_at_the_meeting(history, meetings):
    agenda = meeting_agenda(meetings[1], now=at("2026-12-01"))

    assert agenda["as_of"] == at("2026-03-11")
    assert agenda["since"] == at("2026-03-04")
    assert [(d["name"], d["amount"]) for d in agenda["hot_deals"]] == [
        ("Big closing", Decimal("50000.00")),
        ("Small soon", Decimal("5000.00")),
    ]
    assert agenda["hot_deals"][0]["stage_name"] == "Proposal"
    assert [d["name"] for d in agenda["stalled_deals"]] == ["Pulled in", "Small soon"]
    assert agenda["stalled_total"] == 2
    assert [
        (d["name"], d["expected_close_date"], d["previous_close_date"])
        for d in agenda["slipped_deals"]
    ] == [("Far away", D("2026-06-30"), D("2026-05-31"))]
    assert [(m["deal_name"], m["from_stage"], m["to_stage"]) for m in agenda["stage_changes"]] == [
        ("Big closing", "Qualification", "Proposal")
    ]


def test_agenda_counts_activity_against_the_reps_own_usual(history, meetings):
    activity = {
        row["kind"]: row for row in meeting_agenda(meetings[1], now=at("2026-12-01"))["activity"]
    }

    assert (activity["call"]["last_7_days"], activity["call"]["usual"]) == (3, 2.0)
    assert (activity["email"]["last_7_days"], activity["email"]["usual"]) == (1, 0.0)
    assert activity["meeting"]["last_7_days"] == 0


def test_agenda_quota_counts_wins_through_the_meeting_day_only(history, meetings):
    quota = meeting_agenda(meetings[1], now=at("2026-12-01"))["quota"]

    assert quota["month"]["target"] == Decimal("10000.00")
    assert quota["month"]["won"] == Decimal("4000.00")
    assert quota["month"]["attainment"] == pytest.approx(0.4)
    assert quota["month"]["gap"] == Decimal("6000.00")
    assert (quota["quarter"]["target"], quota["quarter"]["won"]) == (
        Decimal("30000.00"),
        Decimal("4000.00"),
    )


def test_agenda_lists_items_open_at_the_meeting_from_earlier_meetings_only(
    history, meetings, manager, rep
):
    first, second = meetings[0], meetings[1]

    def item(meeting, text, completed=None, due="2026-03-09"):
        made = action_item_add(meeting=meeting, by=manager, owner=rep, text=text, due_on=D(due))
        ActionItem.objects.filter(pk=made.pk).update(created_at=meeting.scheduled_at)
        if completed:
            ActionItem.objects.filter(pk=made.pk).update(status="done", completed_at=completed)
        return made

    item(first, "Send the Acme proposal")
    item(first, "Done before the meeting", completed=at("2026-03-10"))
    item(first, "Done only after the meeting", completed=at("2026-03-12"))
    item(second, "Agreed at this meeting", due="2026-03-18")

    items = meeting_agenda(second, now=at("2026-12-01"))["open_action_items"]

    assert [(i["text"], i["overdue"]) for i in items] == [
        ("Send the Acme proposal", True),
        ("Done only after the meeting", True),
    ]


def test_agenda_of_a_meeting_still_ahead_stands_at_now(history, meetings):
    agenda = meeting_agenda(meetings[1], now=at("2026-03-06"))

    assert agenda["as_of"] == at("2026-03-06")
    assert [d["name"] for d in agenda["hot_deals"]] == ["Big closing", "Small soon"]
    assert agenda["slipped_deals"] == []


def test_agenda_runs_a_fixed_number_of_queries(history, meetings, django_assert_num_queries):
    with django_assert_num_queries(12):
        meeting_agenda(meetings[1], now=at("2026-12-01"))
