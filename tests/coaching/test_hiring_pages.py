"""The hiring pages at work: the board's moves (JSON for ``board.js`` and plain forms), the hire
showing the temporary password once, notes and scorecards, the capacity plan and its button, bad
input as 400 naming the field, and fixed query counts at two sizes."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coaching.models import Applicant, Position
from coaching.services import (
    applicant_add,
    applicant_move,
    interview_note_add,
    position_create,
    scorecard_record,
)
from quotas.models import Quota

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def _move(client, applicant, **data):
    url = reverse("hiring-applicant-move", args=[applicant.pk])
    return client.post(url, {"version": applicant.version, **data}, **JSON)


def test_the_board_moves_a_card_and_redraws_the_headers(applicants, client, manager):
    client.force_login(manager)
    applied = applicants["applied"]
    answer = _move(client, applied, stage="screen")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] and body["stage"] == "screen" and body["version"] == applied.version + 1
    assert 'data-stage="screen"' in body["card"]
    assert "1 applicant" in body["columns"]["screen"]
    # The version the card was drawn from is stale now: 409 with the card as it is.
    stale = _move(client, applied, stage="interview")
    assert stale.status_code == 409 and stale.json()["conflict"]
    assert stale.json()["stage"] == "screen"


def test_rejecting_asks_for_a_reason(applicants, client, manager):
    client.force_login(manager)
    applied = applicants["applied"]
    answer = _move(client, applied, stage="rejected")
    assert answer.status_code == 400 and answer.json()["needs_lost_reason"]
    assert "rejection_reason" in answer.json()["message"]
    # Without script the form answers 400 too, naming the field.
    plain = client.post(reverse("hiring-applicant-move", args=[applied.pk]), {"stage": "rejected"})
    assert plain.status_code == 400 or plain.status_code == 302
    # board.js sends the dialog's choice as lost_reason.
    answer = _move(client, applied, stage="rejected", lost_reason="withdrew")
    assert answer.status_code == 200
    assert Applicant.objects.get(pk=applied.pk).rejection_reason == "withdrew"


def test_bad_moves_are_400s_naming_the_field(applicants, client, manager):
    client.force_login(manager)
    applied = applicants["applied"]
    for data, field in (
        ({"stage": "nowhere"}, "stage"),
        ({"stage": "screen", "version": "x"}, "version"),
        ({"stage": "hired", "start_on": "tomorrow"}, "start_on"),
    ):
        answer = client.post(
            reverse("hiring-applicant-move", args=[applied.pk]), {"version": 1, **data}, **JSON
        )
        assert answer.status_code == 400 and field in answer.json()["message"], data


def test_hiring_from_the_page_shows_the_password_once_and_the_ramped_quota(
    applicants, client, manager
):
    client.force_login(manager)
    offer = applicants["offer"]
    answer = client.post(
        reverse("hiring-applicant-move", args=[offer.pk]),
        {"stage": "hired", "version": offer.version},
    )
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "hiring-applicant", args=[offer.pk]
    )
    page = client.get(answer["Location"])
    text = page.content.decode()
    assert 'data-testid="temporary-password"' in text
    assert "olga.offer" in text and "2,500" in text and "10,000" in text
    again = client.get(answer["Location"]).content.decode()
    assert 'data-testid="temporary-password"' not in again  # shown once
    user = Applicant.objects.get(pk=offer.pk).hired_user
    assert Quota.objects.filter(owner=user).count() == 12


def test_notes_and_scorecards_from_the_page(applicants, client, manager):
    client.force_login(manager)
    applied = applicants["applied"]
    url = reverse("hiring-applicant-note", args=[applied.pk])
    assert client.post(url, {"text": ""}).status_code == 400
    assert client.post(url, {"text": "Good energy"}).status_code == 302
    url = reverse("hiring-applicant-scorecard", args=[applied.pk])
    refused = client.post(url, {"recommendation": "yes"})
    assert refused.status_code == 400 and "ratings" in refused.content.decode()
    refused = client.post(url, {"recommendation": "yes", "rating_closing": "9"})
    assert refused.status_code == 400
    done = client.post(
        url, {"recommendation": "strong_yes", "rating_closing": "4", "rating_discovery": "5"}
    )
    assert done.status_code == 302
    page = client.get(reverse("hiring-applicant", args=[applied.pk])).content.decode()
    assert "Good energy" in page and "Strong yes" in page and "Closing: 4/5" in page


def test_positions_are_opened_and_cancelled_from_the_pages(client, manager, team_quotas):
    client.force_login(manager)
    refused = client.post(reverse("hiring-positions"), {"title": "AE", "start_wanted": "soon"})
    assert refused.status_code == 400 and "start_wanted" in refused.content.decode()
    answer = client.post(
        reverse("hiring-positions"),
        {"title": "AE", "start_wanted": "2027-02-01", "ramp": "50,100", "monthly_quota": "9000"},
    )
    position = Position.objects.get()
    assert answer.status_code == 302 and position.manager == manager and position.ramp == "50,100"
    client.post(reverse("hiring-position-edit", args=[position.pk]), {"status": "cancelled"})
    position.refresh_from_db()
    assert position.status == "cancelled"


def test_the_capacity_plan_page_and_its_button(client, manager, rep, rep2, team_quotas):
    client.force_login(manager)
    params = {
        "annual_target": "480000",
        "attainment": "80",
        "attrition": "0",
        "ramp": "25,50,75,100",
    }
    page = client.get(reverse("hiring-capacity"), params)
    assert page.status_code == 200
    plan = page.context["plan"]
    # 40,000 a month / (10,000 × 0.8) = 5 reps; 2 on the team: 3 new, all starting in January.
    assert plan.inputs.monthly_quota == Decimal("10000.00") and plan.inputs.headcount == 2
    assert plan.hires == 3 and plan.gap == 3
    opened = client.post(reverse("hiring-capacity-open"), params)
    assert opened.status_code == 302
    starts = sorted(Position.objects.values_list("start_wanted", flat=True))
    year = timezone.localdate().year + 1
    assert starts == [datetime.date(year, 1, 1)] * 3
    # Now the open positions cover the plan: nothing more to open.
    assert client.get(reverse("hiring-capacity"), params).context["plan"].gap == 0


@pytest.mark.parametrize(
    "params, field",
    [({"attainment": "x"}, "attainment"), ({"ramp": "50,25"}, "ramp"), ({"year": "1990"}, "year"),
     ({"attrition": "140"}, "attrition"), ({"annual_target": "-5"}, "annual_target")],
)  # fmt: skip
def test_the_capacity_plan_names_bad_input(client, manager, params, field):
    client.force_login(manager)
    answer = client.get(reverse("hiring-capacity"), params)
    assert answer.status_code == 400 and f"<strong>{field}</strong>" in answer.content.decode()


def test_the_api_capacity_plan_and_hire(client_for, manager, applicants, team_quotas):
    api = client_for(manager)
    answer = api.get(
        "/api/v1/capacity-plan/", {"annual_target": "480000", "attainment": "80", "attrition": "0"}
    )
    assert answer.status_code == 200 and answer.json()["hires"] == 3
    # One position is open already: the gap is two.
    assert answer.json()["gap"] == 2
    opened = api.post(
        "/api/v1/capacity-plan/",
        {"annual_target": "480000", "attainment": "80", "attrition": "0"},
        format="json",
    )
    assert opened.status_code == 201 and len(opened.json()["opened"]) == 2
    bad = api.get("/api/v1/capacity-plan/", {"ramp": "abc"})
    assert bad.status_code == 400 and "ramp" in bad.json()
    offer = applicants["offer"]
    missing = api.post(f"/api/v1/applicants/{offer.pk}/move/", {"stage": "rejected"}, format="json")
    assert missing.status_code == 400 and "rejection_reason" in missing.json()
    hired = api.post(f"/api/v1/applicants/{offer.pk}/move/", {"stage": "hired"}, format="json")
    assert hired.status_code == 200
    body = hired.json()
    assert body["applicant"]["stage"] == "hired" and body["hire"]["temporary_password"]
    assert [q["target"] for q in body["hire"]["quotas"][:4]] == [
        "2500.00",
        "5000.00",
        "7500.00",
        "10000.00",
    ]


# --- Fixed query counts ----------------------------------------------------------------------


def _grow(manager, n):
    """``n`` more positions for the manager, each with two applicants, a note and a scorecard."""
    for i in range(n):
        position = position_create(
            by=manager,
            title=f"AE {i}",
            start_wanted=timezone.localdate(),
            monthly_quota=Decimal(1000),
        )
        for name in ("A", "B"):
            applicant = applicant_add(by=manager, position=position, full_name=f"{name} {i}")
            interview_note_add(by=manager, applicant=applicant, text="note")
            scorecard_record(
                by=manager,
                applicant=applicant,
                recommendation="yes",
                ratings={"closing": 3, "discovery": 2},
            )


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        answer = client.get(url)
    assert answer.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_pages_and_lists_run_a_fixed_number_of_queries(
    applicants, position, client, client_for, request, manager, who
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    api = client_for(user)
    interview = applicants["interview"]
    pages = [
        reverse("hiring"),
        reverse("hiring-positions"),
        reverse("hiring-board"),
        reverse("hiring-position", args=[position.pk]),
        reverse("hiring-applicant", args=[interview.pk]),
        f"{reverse('hiring-capacity')}?manager={manager.pk}",
    ]
    lists = [
        f"/api/v1/{name}/?page_size=200"
        for name in ("positions", "applicants", "interview-notes", "scorecards")
    ]
    lists.append(f"/api/v1/capacity-plan/?manager={manager.pk}")
    _grow(manager, 2)
    few = {url: _count(client, url) for url in pages} | {url: _count(api, url) for url in lists}
    _grow(manager, 12)
    for i in range(6):  # more notes and scorecards on the applicant's own page
        interview_note_add(by=manager, applicant=interview, text=f"more {i}")
        scorecard_record(
            by=manager, applicant=interview, recommendation="no", ratings={"closing": 2}
        )
    many = {url: _count(client, url) for url in pages} | {url: _count(api, url) for url in lists}
    assert many == few
    for url, queries in few.items():  # benchmarks/README.md quotes these (run with -s)
        print(f"{who:8} {url.split('?')[0]:45} {queries} queries")


def test_the_capacity_page_draws_its_chart(client, manager, rep, rep2, team_quotas):
    client.force_login(manager)
    page = client.get(reverse("hiring-capacity"), {"annual_target": "480000", "attainment": "80"})
    chart = page.context["chart"]
    assert chart.dom_id == "chart-capacity" and len(chart.figure["data"]) == 4
    assert "2 reps today" in chart.summary
    assert 'id="chart-capacity-data"' in page.content.decode()


def test_the_new_rep_ticks_their_checklist_and_reads_their_quota(client, applicants, manager):
    hire = applicant_move(by=manager, applicant=applicants["offer"], stage="hired").hire
    user = hire.user
    client.force_login(user)
    page = client.get(reverse("onboarding", args=[user.pk]))
    assert page.status_code == 200 and "Laptop, accounts and CRM access" in page.content.decode()
    step = hire.onboarding.progress.order_by("step__position").first()
    client.post(reverse("onboarding-tick", args=[user.pk, step.pk]), {"done": "1"})
    step.refresh_from_db()
    assert step.done_on is not None and step.checked_by == user
    # Their quotas are theirs to read through the API, like any rep's.
    answer = client.get("/api/v1/quotas/", {"owner": user.pk})
    assert answer.status_code == 200 and answer.json()["count"] == 12
    # ...and the manager ticks too.
    client.force_login(manager)
    second = hire.onboarding.progress.order_by("step__position")[1]
    client.post(reverse("onboarding-tick", args=[user.pk, second.pk]), {"done": "1"})
    second.refresh_from_db()
    assert second.checked_by == manager
