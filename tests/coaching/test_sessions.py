"""Coaching sessions: the rules, the evidence kept, the figures before and after worked out by hand,
and the pages for every role.

The before-and-after history (``stage_history``), days after T0 (midnight 60
days ago); the session is held at T0 + 30 (30 days ago), follow-up at T0 + 50.
The rep's deals through Discovery:

- 2 enter at day 2 and reach Proposal at day 6 (stays of 4 days);
- 4 enter at day 2 and are lost at day 12 (stays of 10 days);
- 1 enters at day 25 and reaches Proposal at day 35, after the session:
  before the session it had not advanced, and its 10-day stay ends after;
- 4 enter at day 33 and reach Proposal at day 36 (3 days);
- 1 enters at day 33 and is lost at day 40 (7 days);
- 1 enters at day 56 and reaches Proposal at day 57: after the follow-up.

Before [T0 - 60, T0 + 30): entered 7, advanced 2 (2/7); stays 2x4 + 4x10 = 48 days / 6 = 8.0.
After [T0 + 30, T0 + 51): entered 5, advanced 4 (80%); stays 4x3 + 7 + 10 = 29 / 6.
"""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from coaching.models import ActionItem, CoachingSession, RideAlong, SkillScore
from coaching.services import (
    action_item_complete,
    session_commitment_add,
    session_create,
    session_record,
    session_update,
)
from coaching.sessions import session_before_after, session_windows
from salesmgr.errors import PermissionDenied
from tests.coaching.conftest import build
from tests.factories import DealFactory

pytestmark = pytest.mark.django_db
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
FIRST_TEAM = {"admin", "manager", "rep"}


def days_ago(n: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=n)


@pytest.fixture
def stage_history(admin, rep, rep2, pipeline, stages):
    q, d, p = "Qualification", "Discovery", "Proposal"
    return build(
        admin,
        stages,
        pipeline,
        [
            (rep, 2, "1000", 0, [(q, 0), (d, 2), (p, 6)], 30),
            (rep, 4, "1000", 0, [(q, 0), (d, 2), ("Lost", 12)], None),
            (rep, 1, "1000", 24, [(q, 24), (d, 25), (p, 35)], 30),
            (rep, 4, "1000", 32, [(q, 32), (d, 33), (p, 36)], 30),
            (rep, 1, "1000", 32, [(q, 32), (d, 33), ("Lost", 40)], None),
            (rep, 1, "1000", 55, [(q, 55), (d, 56), (p, 57)], 30),
            # Another rep's deals never count for the rep.
            (rep2, 5, "1000", 32, [(q, 32), (d, 33), ("Lost", 34)], None),
        ],
    )


@pytest.fixture
def held_stage_session(stage_history, manager, rep, stages):
    session = session_create(
        by=manager,
        rep=rep,
        focus="stage",
        stage=stages["Discovery"],
        scheduled_on=days_ago(30),
        follow_up_on=days_ago(10),
        goal="Advance more deals out of Discovery",
    )
    return session_record(session=session, by=manager, status="held")


def test_stage_figures_before_and_after_are_the_hand_counted_ones(held_stage_session):
    figures = session_before_after(held_stage_session, timezone.localdate())

    before, after = figures["before"], figures["after"]
    assert (before["start"], before["end"]) == (days_ago(120), days_ago(30))
    assert (before["entered"], before["advanced"]) == (7, 2)
    assert before["conversion"] == pytest.approx(2 / 7)
    assert (before["stays"], before["avg_days_in_stage"]) == (6, pytest.approx(8.0))
    assert (after["start"], after["end"]) == (days_ago(30), days_ago(9))
    assert (after["entered"], after["advanced"]) == (5, 4)
    assert after["conversion"] == pytest.approx(0.8)
    assert (after["stays"], after["avg_days_in_stage"]) == (6, pytest.approx(29 / 6))
    assert figures["enough"] is True


def test_the_after_window_runs_to_today_while_the_follow_up_is_ahead(held_stage_session, manager):
    session = session_update(session=held_stage_session, by=manager, follow_up_on=days_ago(-5))
    figures = session_before_after(session, timezone.localdate())
    # The deal entering at day 56 now counts too.
    assert (figures["after"]["entered"], figures["after"]["advanced"]) == (6, 5)
    assert figures["after"]["end"] == timezone.localdate() + datetime.timedelta(days=1)


def test_a_session_still_ahead_counts_before_up_to_today(manager, rep, stages):
    today = timezone.localdate()
    ahead = session_create(
        by=manager,
        rep=rep,
        focus="stage",
        stage=stages["Proposal"],
        scheduled_on=today + datetime.timedelta(days=19),
    )
    before, after = session_windows(ahead, today)
    assert after is None
    assert before.bounds[1].date() == today + datetime.timedelta(days=1)  # today included
    assert (before.bounds[1] - before.bounds[0]).days == 90


def test_a_planned_session_has_no_after_yet_and_thin_counts_say_not_enough(
    stage_history, manager, rep, stages
):
    planned = session_create(
        by=manager, rep=rep, focus="stage", stage=stages["Proposal"], scheduled_on=days_ago(30)
    )
    assert session_windows(planned, timezone.localdate())[1] is None
    figures = session_before_after(planned, timezone.localdate())
    assert figures["after"] is None and figures["enough"] is False
    # Two deals entered Proposal before the session: fewer than five.
    held = session_record(session=planned, by=manager, status="held")
    figures = session_before_after(held, timezone.localdate())
    assert figures["before"]["entered"] == 2
    assert figures["before"]["enough"] is False and figures["enough"] is False


def test_the_evidence_keeps_the_insight_figures_of_the_stage(team_history, manager, rep, stages):
    session = session_create(
        by=manager, rep=rep, focus="stage", stage=stages["Discovery"], scheduled_on=days_ago(0)
    )
    stored = CoachingSession.objects.get(pk=session.pk).evidence
    assert stored["stage"] == stages["Discovery"].pk
    assert (stored["rep"]["entered"], stored["rep"]["advanced"]) == (20, 4)
    assert (stored["rest"]["entered"], stored["rest"]["advanced"]) == (42, 26)
    assert stored["flagged"] is True
    assert "advanced 4 of the 20 deals that entered Discovery" in stored["flag_evidence"]
    assert stored["period"] == {"start": str(days_ago(89)), "end": str(days_ago(-1))}


def _visit(manager, rep, day, **scores):
    ride = RideAlong.objects.create(manager=manager, rep=rep, visited_on=day)
    for skill, score in scores.items():
        SkillScore.objects.create(ride_along=ride, skill=skill, score=score)


def test_skill_figures_are_the_mean_scorecard_before_and_after(manager, rep, rep2):
    day = days_ago(40)
    _visit(manager, rep, days_ago(100), discovery=2, closing=5)
    _visit(manager, rep, days_ago(50), discovery=3)
    _visit(manager, rep, days_ago(200), discovery=5)  # more than 90 days before
    _visit(manager, rep, days_ago(40), discovery=3)  # the day of the session counts after
    _visit(manager, rep, days_ago(30), discovery=4, opening=1)
    _visit(manager, rep, days_ago(20), discovery=5)
    _visit(manager, rep, days_ago(5), discovery=1)  # after the follow-up
    _visit(manager, rep2, days_ago(30), discovery=1)  # another rep
    session = session_create(
        by=manager,
        rep=rep,
        focus="skill",
        skill="discovery",
        scheduled_on=day,
        follow_up_on=days_ago(15),
    )
    assert session.evidence["rep"] == {"mean_score": pytest.approx(18 / 6), "scorecards": 6}
    assert session.evidence["team"]["scorecards"] == 7
    session = session_record(session=session, by=manager, status="held")

    figures = session_before_after(session, timezone.localdate())

    assert figures["before"]["scorecards"] == 2
    assert figures["before"]["mean_score"] == pytest.approx(2.5)
    assert figures["after"]["scorecards"] == 3
    assert figures["after"]["mean_score"] == pytest.approx(4.0)
    assert figures["enough"] is True


def test_deal_figures_are_the_deal_then_against_now(manager, rep, stages):
    deal = DealFactory(owner=rep, amount="1000.00")
    session = session_create(by=manager, rep=rep, focus="deal", deal=deal, scheduled_on=days_ago(3))
    assert session.evidence["deal"]["stage"] == deal.stage_id
    type(deal).objects.filter(pk=deal.pk).update(stage=stages["Proposal"], amount="1500.00")
    session = CoachingSession.objects.select_related("deal__stage").get(pk=session.pk)

    figures = session_before_after(session, timezone.localdate())

    assert figures["before"]["amount"] == "1000.00"
    assert figures["after"]["stage_name"] == "Proposal"
    assert str(figures["after"]["amount"]) == "1500.00"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"focus": "stage"}, "stage"),
        ({"focus": "skill", "skill": "haggling"}, "skill"),
        ({"focus": "deal"}, "deal"),
        ({"focus": "juggling"}, "focus"),
        ({"follow_up_on": days_ago(31)}, "follow_up_on"),
        ({"scheduled_on": None}, "scheduled_on"),
        ({"scheduled_on": days_ago(800)}, "scheduled_on"),
        ({"goal": "x" * 10_001}, "goal"),
    ],
)
def test_a_refused_session_names_the_field_and_writes_nothing(manager, rep, changes, field):
    values = {"focus": "skill", "skill": "closing", "scheduled_on": days_ago(30)} | changes
    with pytest.raises(ValidationError) as refused:
        session_create(by=manager, rep=rep, **values)
    assert field in refused.value.message_dict
    assert not CoachingSession.objects.exists()


def test_who_may_run_a_session(manager, other_manager, rep, outsider, admin, stages):
    with pytest.raises(ValidationError) as refused:
        session_create(
            by=manager, rep=outsider, focus="skill", skill="opening", scheduled_on=days_ago(0)
        )
    assert refused.value.message_dict == {"rep": ["This person is not in your team."]}
    with pytest.raises(ValidationError) as refused:
        session_create(
            by=manager, rep=rep, focus="stage", stage=stages["Won"], scheduled_on=days_ago(0)
        )
    assert "stage" in refused.value.message_dict
    other_deal = DealFactory(owner=outsider)
    with pytest.raises(ValidationError) as refused:
        session_create(by=manager, rep=rep, focus="deal", deal=other_deal, scheduled_on=days_ago(0))
    assert "deal" in refused.value.message_dict
    session = session_create(
        by=admin, rep=rep, focus="skill", skill="opening", scheduled_on=days_ago(0)
    )
    assert session.manager == manager
    for stranger in (other_manager, rep, outsider):
        with pytest.raises(PermissionDenied):
            session_record(session=session, by=stranger, status="held")
        with pytest.raises(PermissionDenied):
            session_commitment_add(
                session=session, by=stranger, owner=rep, text="x", due_on=days_ago(0)
            )
    assert not ActionItem.objects.exists()


def test_the_database_holds_one_focus_and_a_later_follow_up(manager, rep, stages):
    base = {"manager": manager, "rep": rep, "scheduled_on": days_ago(0)}
    for wrong in (
        {"focus": "skill", "skill": ""},
        {"focus": "skill", "skill": "closing", "stage": stages["Discovery"]},
        {"focus": "stage"},
        {"focus": "skill", "skill": "closing", "follow_up_on": days_ago(1)},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            CoachingSession.objects.create(**base, **wrong)


def test_commitments_are_the_reps_or_the_managers_and_the_rep_completes_theirs(manager, rep, rep2):
    session = session_create(
        by=manager, rep=rep, focus="skill", skill="closing", scheduled_on=days_ago(2)
    )
    with pytest.raises(ValidationError) as refused:
        session_commitment_add(
            session=session, by=manager, owner=rep2, text="x", due_on=days_ago(0)
        )
    assert "owner" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        session_commitment_add(session=session, by=manager, owner=rep, text="x", due_on=days_ago(3))
    assert "due_on" in refused.value.message_dict
    item = session_commitment_add(
        session=session, by=manager, owner=rep, text="Ask for the close twice", due_on=days_ago(0)
    )
    assert item.get_absolute_url() == reverse("coaching-session", args=[session.pk])
    assert action_item_complete(item=item, by=rep).status == "done"


def test_a_new_focus_takes_new_evidence(manager, rep, stages):
    session = session_create(
        by=manager, rep=rep, focus="skill", skill="closing", scheduled_on=days_ago(2)
    )
    session = session_update(session=session, by=manager, focus="stage", stage=stages["Discovery"])
    assert (session.skill, session.stage_id) == ("", stages["Discovery"].pk)
    assert session.evidence["focus"] == "stage"


# The pages.


@pytest.fixture
def sessions(manager, other_manager, rep, outsider):
    mine = session_create(by=manager, rep=rep, focus="skill", skill="discovery", scheduled_on=days_ago(3),
                          goal="Ask two more open questions", will="Prepare five questions per call")  # fmt: skip
    session_commitment_add(
        session=mine, by=manager, owner=rep, text="Prepare questions", due_on=days_ago(0)
    )
    theirs = session_create(
        by=other_manager, rep=outsider, focus="skill", skill="closing", scheduled_on=days_ago(3)
    )
    return mine, theirs


@pytest.mark.parametrize("who", ROLES)
def test_each_role_sees_only_its_sessions_on_the_pages(sessions, client, who, request):
    mine, theirs = sessions
    client.force_login(request.getfixturevalue(who))
    listing = client.get(reverse("coaching-sessions")).content.decode()
    detail = client.get(reverse("coaching-session", args=[mine.pk]))
    sees_mine = who in FIRST_TEAM
    assert (f'data-session="{mine.pk}"' in listing) is sees_mine
    assert (f'data-session="{theirs.pk}"' in listing) is (
        who in {"admin", "other_manager", "outsider"}
    )
    assert detail.status_code == (200 if sees_mine else 404)
    if sees_mine:
        body = detail.content.decode()
        assert "Ask two more open questions" in body and "Prepare questions" in body
        assert ('name="grow-goal"' in body) is (who != "rep")
    new = client.get(reverse("coaching-session-new"))
    assert new.status_code == (404 if who in {"rep", "rep2", "outsider"} else 200)


def test_the_new_session_form_is_prefilled_from_the_insights_link(manager, rep, stages, client):
    client.force_login(manager)
    page = client.get(
        reverse("coaching-session-new"), {"rep": rep.pk, "stage": stages["Discovery"].pk}
    )
    form = page.context["form"]
    assert form.initial["rep"] == rep.pk and form.initial["stage"] == stages["Discovery"].pk
    assert form.initial["focus"] == "stage"


def test_a_manager_plans_and_runs_a_session_on_the_pages(manager, rep, stages, client):
    client.force_login(manager)
    refused = client.post(
        reverse("coaching-session-new"),
        {"rep": rep.pk, "focus": "stage", "scheduled_on": days_ago(1)},
    )
    assert refused.status_code == 400 and "Choose the stage to coach." in refused.content.decode()
    assert not CoachingSession.objects.exists()
    created = client.post(
        reverse("coaching-session-new"),
        {"rep": rep.pk, "focus": "stage", "stage": stages["Discovery"].pk, "scheduled_on": days_ago(1),
         "goal": "Half of discovery deals to proposal"},
    )  # fmt: skip
    session = CoachingSession.objects.get()
    assert created.status_code == 302 and created["Location"] == session.get_absolute_url()
    url = reverse("coaching-session-commitment", args=[session.pk])
    added = client.post(url, {"commitment-text": "Qualify budget on the first call", "commitment-owner": rep.pk,
                              "commitment-due_on": days_ago(0)}, HTTP_HX_REQUEST="true")  # fmt: skip
    assert added.status_code == 200 and "Qualify budget on the first call" in added.content.decode()
    bad = client.post(url, {"commitment-text": "x", "commitment-owner": rep.pk, "commitment-due_on": days_ago(9)},
                      HTTP_HX_REQUEST="true")  # fmt: skip
    assert bad.status_code == 400 and "The due date is before the session." in bad.content.decode()
    edited = client.post(reverse("coaching-session-edit", args=[session.pk]),
                         {"grow-goal": "g", "grow-will": "w", "grow-follow_up_on": days_ago(5)})  # fmt: skip
    assert edited.status_code == 400 and "follow-up" in edited.content.decode()
    client.post(reverse("coaching-session-status", args=[session.pk]), {"status": "held"})
    assert CoachingSession.objects.get().status == "held"
    assert ActionItem.objects.get().coaching_session_id == session.pk


def test_the_rep_completes_their_commitment_but_edits_nothing(sessions, rep, client):
    mine, _ = sessions
    client.force_login(rep)
    item = ActionItem.objects.get()
    client.post(reverse("coaching-session-commitment-done", args=[mine.pk, item.pk]))
    assert ActionItem.objects.get().status == "done"
    client.post(reverse("coaching-session-edit", args=[mine.pk]), {"grow-goal": "hacked"})
    client.post(reverse("coaching-session-status", args=[mine.pk]), {"status": "cancelled"})
    mine.refresh_from_db()
    assert (mine.goal, mine.status) == ("Ask two more open questions", "planned")
    home = client.get(reverse("home-action-items")).content.decode()
    assert "Prepare questions" not in home  # done


def test_the_rep_sees_an_open_commitment_on_the_home_page_linking_to_the_session(
    sessions, rep, client
):
    mine, _ = sessions
    client.force_login(rep)
    home = client.get(reverse("home-action-items")).content.decode()
    assert "Prepare questions" in home and mine.get_absolute_url() in home


def test_the_pages_run_a_fixed_number_of_queries(manager, rep, client, django_assert_num_queries):
    client.force_login(manager)

    def add(n):
        for _ in range(n):
            session = session_create(
                by=manager, rep=rep, focus="skill", skill="closing", scheduled_on=days_ago(1)
            )
            session_commitment_add(
                session=session, by=manager, owner=rep, text="t", due_on=days_ago(0)
            )

    add(1)
    session = CoachingSession.objects.first()
    with django_assert_num_queries(LIST_QUERIES):
        client.get(reverse("coaching-sessions"))
    with django_assert_num_queries(DETAIL_QUERIES):
        client.get(reverse("coaching-session", args=[session.pk]))
    add(5)
    with django_assert_num_queries(LIST_QUERIES):
        client.get(reverse("coaching-sessions"))


def test_the_insights_flag_links_to_a_new_session_on_the_stage(team_history, manager, rep, client):
    client.force_login(manager)
    page = client.get(reverse("insights"), {"rep": rep.pk}).content.decode()
    discovery = team_history.stages["Discovery"].pk
    assert f"/coaching/sessions/new/?rep={rep.pk}&amp;stage={discovery}" in page


LIST_QUERIES = 4
DETAIL_QUERIES = 7


def test_seed_demo_gives_a_believable_year_of_sessions():
    from django.db.models import Count

    from tests.coaching.test_seed import TODAY, seed

    seed()
    today = datetime.date.fromisoformat(TODAY)
    by_status = dict(CoachingSession.objects.values_list("status").annotate(n=Count("pk")))
    assert by_status["held"] > 4 * by_status["cancelled"] > 0
    assert by_status["planned"] > 0
    assert not CoachingSession.objects.filter(status="held", scheduled_on__gt=today).exists()
    assert not CoachingSession.objects.filter(status="planned", scheduled_on__lte=today).exists()
    assert set(CoachingSession.objects.values_list("focus", flat=True)) == {
        "stage",
        "skill",
        "deal",
    }
    commitments = ActionItem.objects.filter(coaching_session__isnull=False)
    done, still_open = commitments.filter(status="done"), commitments.filter(status="open")
    assert done.count() > still_open.count() > 0
    assert not done.filter(completed_at__date__gt=today).exists()
    held = CoachingSession.objects.filter(status="held", focus="stage").select_related("stage")
    assert all(session.evidence["taken_on"] == str(session.scheduled_on) for session in held)
    first = list(CoachingSession.objects.order_by("rep__username", "scheduled_on").values_list(
        "rep__username", "scheduled_on", "focus", "goal"))  # fmt: skip
    seed("--reset")
    assert (
        list(
            CoachingSession.objects.order_by("rep__username", "scheduled_on").values_list(
                "rep__username", "scheduled_on", "focus", "goal"
            )
        )  # fmt: skip
        == first
    )


def test_a_session_of_long_ago_keeps_its_notes_editable(manager, rep):
    old = CoachingSession.objects.create(
        manager=manager, rep=rep, focus="skill", skill="closing", scheduled_on=days_ago(400)
    )
    assert session_update(session=old, by=manager, will="Keep it up").will == "Keep it up"
    with pytest.raises(ValidationError) as refused:
        session_update(session=old, by=manager, scheduled_on=days_ago(399))
    assert "scheduled_on" in refused.value.message_dict


def test_a_closing_session_shows_the_win_rate_before_and_after(
    admin, manager, rep, pipeline, stages
):
    q = "Qualification"
    build(admin, stages, pipeline, [
        (rep, 2, "1000", 0, [(q, 0), ("Won", 10)], None),
        (rep, 2, "1000", 0, [(q, 0), ("Lost", 12)], None),
        (rep, 3, "1000", 31, [(q, 31), ("Won", 35)], None),
        (rep, 1, "1000", 31, [(q, 31), ("Lost", 40)], None),
        (rep, 1, "1000", 51, [(q, 51), ("Won", 55)], None),  # after the follow-up
    ])  # fmt: skip
    session = session_create(by=manager, rep=rep, focus="skill", skill="closing",
                              scheduled_on=days_ago(30), follow_up_on=days_ago(10))  # fmt: skip
    session = session_record(session=session, by=manager, status="held")

    figures = session_before_after(session, timezone.localdate())

    assert (figures["before"]["won"], figures["before"]["lost"]) == (2, 2)
    assert figures["before"]["win_rate"] == pytest.approx(0.5)
    assert (figures["after"]["won"], figures["after"]["lost"]) == (3, 1)
    assert figures["after"]["win_rate"] == pytest.approx(0.75)
