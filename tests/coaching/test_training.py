"""Training and mentorship: expiry, the "who is missing what" matrix on a fixed day, bulk assignment,
mentor pairings, onboarding, and the pages for every role with their query counts."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from coaching.models import Assignment, MentorMeeting, Mentorship, Onboarding, OnboardingProgress
from coaching.services import (
    assignment_complete,
    assignment_renew,
    course_create,
    courses_assign,
    mentor_meeting_record,
    mentorship_create,
    mentorship_end,
    onboarding_start,
    onboarding_step_create,
    onboarding_step_tick,
)
from coaching.training import Cell, training_due, training_matrix
from salesmgr.errors import PermissionDenied
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 15)
ROLES = ["admin", "manager", "rep", "rep2", "other_manager", "outsider"]
FIRST_TEAM = {"admin", "manager", "rep"}


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


@pytest.fixture
def catalogue(admin):
    make = course_create
    return {
        "safety": make(by=admin, title="Data protection", kind="certification", valid_for_days=365),
        "basics": make(by=admin, title="Product basics", required=True),
        "security": make(
            by=admin, title="Security awareness", kind="certification", valid_for_days=365
        ),
        "negotiation": make(by=admin, title="Negotiation"),
        "demo": make(by=admin, title="Demo skills"),
        "discovery": make(by=admin, title="Discovery calls", required=True),
    }


def assign(by, course, person, *, on: str, due: str):
    [assignment] = courses_assign(
        by=by, course=course, people=[person], due_on=day(due), today=day(on)
    )
    return assignment


def complete(assignment, by, on: str):
    return assignment_complete(assignment=assignment, by=by, completed_on=day(on), today=day(on))


# --- Expiry ---------------------------------------------------------------------------


def test_a_certification_expires_its_validity_after_completion_a_course_never(
    catalogue, manager, rep
):
    cert = assign(manager, catalogue["safety"], rep, on="2026-01-02", due="2026-02-01")
    course = assign(manager, catalogue["negotiation"], rep, on="2026-01-02", due="2026-02-01")
    done = complete(cert, rep, "2026-01-10")
    assert (done.completed_on, done.expires_on) == (day("2026-01-10"), day("2027-01-10"))
    assert complete(course, manager, "2026-01-20").expires_on is None
    cert.refresh_from_db()
    assert cert.expires_on == day("2027-01-10")


def test_completing_refuses_a_future_day_a_day_before_assignment_and_twice(catalogue, manager, rep):
    a = assign(manager, catalogue["safety"], rep, on="2026-01-02", due="2026-02-01")
    for when, field in [("2026-01-20", "completed_on"), ("2026-01-01", "completed_on")]:
        with pytest.raises(ValidationError) as refusal:
            assignment_complete(
                assignment=a, by=rep, completed_on=day(when), today=day("2026-01-10")
            )
        assert field in refusal.value.message_dict
    complete(a, rep, "2026-01-10")
    with pytest.raises(ValidationError) as refusal:
        complete(a, rep, "2026-01-11")
    assert "assignment" in refusal.value.message_dict


def test_only_the_person_their_managers_and_admins_complete(
    catalogue, manager, rep, rep2, outsider, other_manager
):
    a = assign(manager, catalogue["safety"], rep, on="2026-01-02", due="2026-02-01")
    for stranger in (rep2, outsider, other_manager):
        with pytest.raises(PermissionDenied):
            complete(a, stranger, "2026-01-05")
    assert Assignment.objects.get(pk=a.pk).completed_on is None


def test_renewing_opens_a_new_assignment_and_keeps_the_old(catalogue, manager, rep):
    a = complete(
        assign(manager, catalogue["safety"], rep, on="2025-06-01", due="2025-07-01"),
        rep,
        "2025-06-10",
    )
    renewal = assignment_renew(assignment=a, by=manager, due_on=day("2026-06-30"), today=TODAY)
    assert renewal.completed_on is None and renewal.pk != a.pk
    with pytest.raises(ValidationError) as refusal:
        assignment_renew(assignment=a, by=manager, due_on=day("2026-06-30"), today=TODAY)
    assert "assignment" in refusal.value.message_dict
    with pytest.raises(PermissionDenied):
        assignment_renew(assignment=a, by=rep, due_on=day("2026-06-30"), today=TODAY)


# --- Bulk assignment ------------------------------------------------------------------


def test_assigning_to_the_whole_team_twice_assigns_once(catalogue, manager, rep, rep2, outsider):
    first = courses_assign(
        by=manager, course=catalogue["safety"], team=True, due_on=day("2026-07-01"), today=TODAY
    )
    assert {a.person_id for a in first} == {rep.pk, rep2.pk}
    again = courses_assign(
        by=manager, course=catalogue["safety"], team=True, due_on=day("2026-07-01"), today=TODAY
    )
    assert again == []
    named = courses_assign(
        by=manager,
        course=catalogue["safety"],
        people=[rep, rep],
        due_on=day("2026-07-01"),
        today=TODAY,
    )
    assert named == []
    assert Assignment.objects.count() == 2


def test_a_valid_completion_counts_as_held_an_expired_one_does_not(catalogue, manager, rep, rep2):
    complete(
        assign(manager, catalogue["safety"], rep, on="2025-01-02", due="2025-02-01"),
        rep,
        "2025-01-10",
    )
    complete(
        assign(manager, catalogue["security"], rep, on="2026-01-02", due="2026-02-01"),
        rep,
        "2026-01-10",
    )
    expired = courses_assign(
        by=manager, course=catalogue["safety"], team=True, due_on=day("2026-07-01"), today=TODAY
    )
    valid = courses_assign(
        by=manager, course=catalogue["security"], team=True, due_on=day("2026-07-01"), today=TODAY
    )
    assert {a.person_id for a in expired} == {rep.pk, rep2.pk}
    assert {a.person_id for a in valid} == {rep2.pk}


@pytest.mark.parametrize(
    "who, people, due, field",
    [
        ("manager", "outsider", "2026-07-01", "people"),
        ("manager", "manager", "2026-07-01", "people"),
        ("rep", "rep2", "2026-07-01", "people"),
        ("other_manager", "rep", "2026-07-01", "people"),
        ("manager", "rep", "2026-06-01", "due_on"),
        ("manager", "rep", "2030-06-01", "due_on"),
        ("manager", None, "2026-07-01", "people"),
    ],
)
def test_a_refused_assignment_names_the_field_and_writes_nothing(
    catalogue, request, who, people, due, field
):
    by = request.getfixturevalue(who)
    chosen = [request.getfixturevalue(people)] if people else []
    with pytest.raises(ValidationError) as refusal:
        courses_assign(
            by=by, course=catalogue["safety"], people=chosen, due_on=day(due), today=TODAY
        )
    assert field in refusal.value.message_dict
    assert not Assignment.objects.exists()


def test_team_assignment_by_someone_without_a_team_is_refused(catalogue, rep):
    with pytest.raises(ValidationError) as refusal:
        courses_assign(
            by=rep, course=catalogue["safety"], team=True, due_on=day("2026-07-01"), today=TODAY
        )
    assert "team" in refusal.value.message_dict


def test_the_database_refuses_a_second_open_assignment(catalogue, manager, rep):
    from django.db import IntegrityError, transaction

    assign(manager, catalogue["safety"], rep, on="2026-06-01", due="2026-07-01")
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(
            course=catalogue["safety"], person=rep, assigned_on=TODAY, due_on=TODAY
        )


# --- The matrix -----------------------------------------------------------------------


@pytest.fixture
def hand_built(catalogue, manager, rep, rep2, outsider, other_manager):
    """On 15 June 2026, rep has one course in each state; rep2 only the required ones missing."""
    c = catalogue
    complete(
        assign(manager, c["safety"], rep, on="2025-06-20", due="2025-07-20"), rep, "2025-07-01"
    )  # expires 1 Jul 2026
    complete(
        assign(manager, c["basics"], rep, on="2025-01-02", due="2025-02-01"), rep, "2025-01-15"
    )  # done, never expires
    complete(
        assign(manager, c["security"], rep, on="2025-05-20", due="2025-06-20"), rep, "2025-06-01"
    )  # expired 1 Jun 2026
    assign(manager, c["negotiation"], rep, on="2026-05-01", due="2026-06-01")  # overdue
    assign(manager, c["demo"], rep, on="2026-06-10", due="2026-07-01")  # assigned
    assign(other_manager, c["discovery"], outsider, on="2026-06-10", due="2026-07-01")
    return c


def _grid(matrix):
    return {
        row.person.username: {
            course.title: cell.state for course, cell in zip(matrix.courses, row.cells, strict=True)
        }
        for row in matrix.rows
    }


def test_the_matrix_gives_each_cell_its_state_on_a_fixed_day(hand_built, manager):
    matrix = training_matrix(manager, today=TODAY)
    assert _grid(matrix) == {
        "rep": {
            "Product basics": Cell.DONE,
            "Discovery calls": Cell.MISSING,
            "Data protection": Cell.EXPIRING,
            "Security awareness": Cell.EXPIRED,
            "Demo skills": Cell.ASSIGNED,
            "Negotiation": Cell.OVERDUE,
        },
        "rep2": {
            "Product basics": Cell.MISSING,
            "Discovery calls": Cell.MISSING,
            "Data protection": Cell.MISSING,
            "Security awareness": Cell.MISSING,
            "Demo skills": Cell.MISSING,
            "Negotiation": Cell.MISSING,
        },
    }
    rep_row = matrix.rows[0]
    cells = dict(zip([c.title for c in matrix.courses], rep_row.cells, strict=True))
    assert cells["Data protection"].completed_on == day("2025-07-01")
    assert cells["Data protection"].expires_on == day("2026-07-01")
    assert cells["Negotiation"].due_on == day("2026-06-01")
    assert matrix.totals[Cell.MISSING] == 7


def test_the_matrix_moves_with_the_day(hand_built, manager):
    later = _grid(training_matrix(manager, today=day("2026-07-02")))["rep"]
    assert later["Data protection"] == Cell.EXPIRED
    assert later["Demo skills"] == Cell.OVERDUE
    earlier = _grid(training_matrix(manager, today=day("2026-05-05")))["rep"]
    assert earlier["Data protection"] == Cell.DONE
    assert earlier["Security awareness"] == Cell.EXPIRING


def test_a_renewal_open_over_an_expired_certification_shows_the_worse_state(
    hand_built, manager, rep
):
    expired = Assignment.objects.get(person=rep, course=hand_built["security"])
    assignment_renew(assignment=expired, by=manager, due_on=day("2026-06-30"), today=TODAY)
    assert _grid(training_matrix(manager, today=TODAY))["rep"]["Security awareness"] == Cell.EXPIRED
    renewal = Assignment.objects.get(
        person=rep, course=hand_built["security"], completed_on__isnull=True
    )
    complete(renewal, rep, "2026-06-15")
    assert _grid(training_matrix(manager, today=TODAY))["rep"]["Security awareness"] == Cell.DONE


@pytest.mark.parametrize("who", ROLES)
def test_the_matrix_holds_only_the_people_in_scope(hand_built, request, who):
    user = request.getfixturevalue(who)
    people = set(_grid(training_matrix(user, today=TODAY)))
    expected = {
        "admin": {"manager", "rep", "rep2", "othermanager", "outsider"},
        "manager": {"rep", "rep2"},
        "rep": {"rep"},
        "rep2": {"rep2"},
        "other_manager": {"outsider"},
        "outsider": {"outsider"},
    }[who]
    assert people == expected


def test_the_matrix_runs_three_queries_whatever_the_team(
    hand_built, manager, django_assert_num_queries
):
    with django_assert_num_queries(3):
        training_matrix(manager, today=TODAY)
    for n in range(12):
        UserFactory(username=f"extra{n}", manager=manager)
    with django_assert_num_queries(3):
        matrix = training_matrix(manager, today=TODAY)
    assert len(matrix.rows) == 14


# --- Home reminders -------------------------------------------------------------------


def test_the_home_reminders_list_due_soon_overdue_and_expiring(hand_built, rep, rep2):
    due = training_due(rep, today=TODAY)
    assert [a.course.title for a in due["due"]] == ["Negotiation"]  # Demo skills is due in 16 days
    assert [a.course.title for a in due["expiring"]] == ["Security awareness", "Data protection"]
    assert training_due(rep2, today=TODAY) == {"due": [], "expiring": []}
    assert [a.course.title for a in training_due(rep, today=day("2026-06-25"))["due"]] == [
        "Negotiation",
        "Demo skills",
    ]


# --- Mentorships ----------------------------------------------------------------------


def test_a_manager_pairs_a_mentor_with_a_mentee_once(manager, rep, rep2, outsider):
    pairing = mentorship_create(
        by=manager, mentor=rep, mentee=rep2, started_on=TODAY, today=TODAY, goals="Discovery"
    )
    for kwargs, field in [
        ({"mentor": rep2, "mentee": rep2}, "mentor"),
        ({"mentor": rep, "mentee": rep2}, "mentee"),
        ({"mentor": rep, "mentee": outsider}, "mentee"),
        ({"mentor": outsider, "mentee": rep}, "mentor"),
        ({"mentor": rep, "mentee": None}, "mentee"),
    ]:
        with pytest.raises(ValidationError) as refusal:
            mentorship_create(by=manager, started_on=TODAY, today=TODAY, **kwargs)
        assert field in refusal.value.message_dict, kwargs
    assert Mentorship.objects.count() == 1
    mentorship_end(mentorship=pairing, by=manager, ended_on=TODAY, today=TODAY)
    mentorship_create(by=manager, mentor=rep, mentee=rep2, started_on=TODAY, today=TODAY)
    assert Mentorship.objects.count() == 2


def test_the_pair_and_the_managers_record_meetings_others_may_not(
    manager, rep, rep2, outsider, other_manager
):
    pairing = mentorship_create(
        by=manager, mentor=rep, mentee=rep2, started_on=day("2026-01-05"), today=TODAY
    )
    for who in (rep, rep2, manager):
        mentor_meeting_record(mentorship=pairing, by=who, held_on=day("2026-02-01"), today=TODAY)
    for who in (outsider, other_manager):
        with pytest.raises(PermissionDenied):
            mentor_meeting_record(
                mentorship=pairing, by=who, held_on=day("2026-02-01"), today=TODAY
            )
    for held, field in [("2026-07-01", "held_on"), ("2026-01-01", "held_on")]:
        with pytest.raises(ValidationError) as refusal:
            mentor_meeting_record(mentorship=pairing, by=rep, held_on=day(held), today=TODAY)
        assert field in refusal.value.message_dict
    assert MentorMeeting.objects.count() == 3


# --- Onboarding -----------------------------------------------------------------------


@pytest.fixture
def steps(admin):
    return [
        onboarding_step_create(by=admin, title="Set up the CRM", position=1, due_after_days=2),
        onboarding_step_create(
            by=admin, title="Shadow three discovery calls", position=2, due_after_days=14
        ),
        onboarding_step_create(
            by=admin, title="Run a demo with your mentor", position=3, due_after_days=30
        ),
    ]


def test_onboarding_gives_each_step_its_due_day_and_ticks_once(steps, manager, rep, rep2, outsider):
    onboarding = onboarding_start(by=manager, person=rep, started_on=day("2026-06-01"), today=TODAY)
    progress = list(onboarding.progress.order_by("step__position"))
    assert [p.due_on for p in progress] == [day("2026-06-03"), day("2026-06-15"), day("2026-07-01")]
    onboarding_step_tick(progress=progress[0], by=rep, today=day("2026-06-02"))
    onboarding_step_tick(progress=progress[0], by=manager, today=TODAY)
    progress[0].refresh_from_db()
    assert (progress[0].done_on, progress[0].checked_by_id) == (day("2026-06-02"), rep.pk)
    for stranger in (rep2, outsider):
        with pytest.raises(PermissionDenied):
            onboarding_step_tick(progress=progress[1], by=stranger, today=TODAY)
    with pytest.raises(ValidationError) as refusal:
        onboarding_start(by=manager, person=rep, today=TODAY)
    assert "person" in refusal.value.message_dict
    with pytest.raises(ValidationError):
        onboarding_start(by=manager, person=outsider, today=TODAY)
    assert Onboarding.objects.count() == 1 and OnboardingProgress.objects.count() == 3


# --- Pages ----------------------------------------------------------------------------


@pytest.fixture
def world(hand_built, steps, manager, rep, rep2):
    onboarding_start(by=manager, person=rep2, started_on=day("2026-06-01"), today=TODAY)
    pairing = mentorship_create(
        by=manager, mentor=rep, mentee=rep2, started_on=day("2026-01-05"), goals="GOALS-of-the-pair"
    )
    mentor_meeting_record(
        mentorship=pairing, by=rep, held_on=day("2026-02-01"), notes="MEETING-NOTES"
    )
    return pairing


@pytest.mark.parametrize("who", ROLES)
def test_every_page_for_every_role(world, client, request, who, rep2):
    client.force_login(request.getfixturevalue(who))
    in_team = who in {"admin", "manager", "rep", "rep2"}
    mentorship = client.get(reverse("mentorship", args=[world.pk]))
    onboarding = client.get(reverse("onboarding", args=[rep2.pk]))
    assert mentorship.status_code == (200 if in_team else 404)
    assert onboarding.status_code == (200 if who in {"admin", "manager", "rep2"} else 404)
    if in_team:
        assert "MEETING-NOTES" in mentorship.content.decode()
    listing = client.get(reverse("mentorships")).content.decode()
    assert ("GOALS" in listing or "Robin Rep" in listing) == in_team
    training = client.get(reverse("training"))
    assert training.status_code == 200
    body = training.content.decode()
    assert ("Who is missing what" in body) == (who in {"admin", "manager", "other_manager"})
    assert ("Riley Rep" in body) == (who in {"admin", "manager", "rep"})  # the rep: their own name
    assert ("Robin Rep" in body) == (who in {"admin", "manager", "rep2"})


def test_a_rep_sees_their_own_list_and_completes_from_the_home_panel(world, client, rep):
    client.force_login(rep)
    body = client.get(reverse("training")).content.decode()
    assert "Negotiation" in body and "Who is missing what" not in body
    panel = client.get(reverse("home-training")).content.decode()
    assert "Negotiation" in panel and "Security awareness" in panel
    overdue = Assignment.objects.get(person=rep, course__title="Negotiation")
    answer = client.post(
        reverse("training-complete", args=[overdue.pk]), {"back": "home"}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200
    assert "Negotiation" not in answer.content.decode()
    overdue.refresh_from_db()
    assert overdue.completed_on is not None


def test_no_one_completes_someone_else_s_assignment_from_another_team(world, client, outsider, rep):
    client.force_login(outsider)
    a = Assignment.objects.filter(person=rep, completed_on__isnull=True).first()
    assert client.post(reverse("training-complete", args=[a.pk])).status_code == 404
    a.refresh_from_db()
    assert a.completed_on is None


def test_a_manager_assigns_from_the_page_and_a_bad_form_names_the_field(
    world, client, manager, rep, rep2, catalogue
):
    client.force_login(manager)
    before = Assignment.objects.count()
    bad = client.post(
        reverse("training-assign"),
        {"course": catalogue["demo"].pk, "team": "on", "due_on": "2020-01-01"},
    )
    assert bad.status_code == 400 and "The due day is in the past." in bad.content.decode()
    assert Assignment.objects.count() == before
    ok = client.post(
        reverse("training-assign"),
        {"course": catalogue["discovery"].pk, "team": "on", "due_on": "2099-01-01"},
    )
    assert ok.status_code in (302, 400)
    good = client.post(
        reverse("training-assign"),
        {
            "course": catalogue["discovery"].pk,
            "people": [rep.pk, rep2.pk],
            "due_on": (datetime.date.today() + datetime.timedelta(days=20)).isoformat(),
        },
    )
    assert good.status_code == 302
    assert (
        Assignment.objects.filter(course=catalogue["discovery"]).count() == 3
    )  # with the outsider's


def test_reps_cannot_post_the_manager_forms(world, client, rep, catalogue, rep2):
    client.force_login(rep)
    assert (
        client.post(
            reverse("training-assign"), {"course": catalogue["demo"].pk, "team": "on"}
        ).status_code
        == 404
    )
    assert client.post(reverse("mentorship-add"), {}).status_code == 404
    assert client.post(reverse("onboarding-start"), {}).status_code == 404
    assert client.post(reverse("mentorship-end", args=[world.pk])).status_code == 302
    world.refresh_from_db()
    assert world.ended_on is None


def test_ticking_a_step_with_htmx_swaps_the_checklist(world, client, rep2):
    client.force_login(rep2)
    first = (
        OnboardingProgress.objects.filter(onboarding__person=rep2)
        .order_by("step__position")
        .first()
    )
    answer = client.post(
        reverse("onboarding-tick", args=[rep2.pk, first.pk]), {"done": "1"}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200
    assert (
        'id="onboarding-checklist"' in answer.content.decode()
        and "1 of 3" in answer.content.decode()
    )
    first.refresh_from_db()
    assert first.checked_by_id == rep2.pk


def _count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_training_page_runs_the_same_queries_for_3_and_15_people(
    world, client, manager, catalogue
):
    client.force_login(manager)
    url = reverse("training")
    third = UserFactory(username="third", manager=manager)
    courses_assign(
        by=manager,
        course=catalogue["demo"],
        people=[third],
        due_on=datetime.date.today() + datetime.timedelta(days=3),
    )
    small = _count_queries(client, url)
    for n in range(12):
        UserFactory(username=f"more{n}", manager=manager)
    large = _count_queries(client, url)
    assert small == large == 11


def test_the_mentoring_pages_run_a_fixed_number_of_queries(world, client, manager, rep, rep2):
    client.force_login(manager)
    few = _count_queries(client, reverse("mentorships"))
    detail = _count_queries(client, reverse("mentorship", args=[world.pk]))
    for n in range(6):
        mentor_meeting_record(mentorship=world, by=rep, held_on=day("2026-03-01"), notes=f"n{n}")
    assert _count_queries(client, reverse("mentorship", args=[world.pk])) == detail
    assert _count_queries(client, reverse("mentorships")) == few
    assert _count_queries(client, reverse("onboarding", args=[rep2.pk])) <= 6


def test_the_matrix_filters_narrow_columns_and_rows(world, client, manager, rep):
    client.force_login(manager)
    certs = client.get(reverse("training"), {"kind": "certification"}).content.decode()
    assert "Data protection" in certs and "Negotiation</th>" not in certs
    one = client.get(reverse("training"), {"person": rep.pk}).content.decode()
    matrix = one.split('data-testid="training-matrix"')[1].split("</table>")[0]
    assert "Riley Rep" in matrix and "Robin Rep" not in matrix
    bad = client.get(reverse("training"), {"person": "abc", "kind": "nope"})
    assert bad.status_code == 200  # an unreadable filter shows everything
