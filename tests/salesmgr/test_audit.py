"""The audit log: each kind of event recorded by doing the real thing, and who may read it."""

import datetime

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from pipeline.models import ImportJob
from salesmgr.audit.models import AuditEvent, AuditKind
from salesmgr.audit.services import audit_events_purge, audit_record
from salesmgr.models import User
from salesmgr.services import user_delete, user_update
from salesmgr.tasks import purge_audit_events
from tests.factories import PASSWORD, AccountFactory, UserFactory
from tests.pipeline.import_helpers import csv_upload, imported
from tests.test_admin import resubmit, url

API = "/api/v1/audit-events/"
PAGE = "/audit-log/"


def events(kind: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(kind=kind).order_by("id"))


def only(kind: str) -> AuditEvent:
    [event] = events(kind)
    return event


@pytest.fixture
def cast(admin, manager, rep, rep2, other_manager, outsider):
    return {
        "admin": admin,
        "manager": manager,
        "rep": rep,
        "teammate": rep2,
        "sibling_manager": other_manager,
        "other_rep": outsider,
    }


@pytest.fixture
def no_events(cast):
    """The cast's creation is recorded too; tests count from an empty log."""
    AuditEvent.objects.all().delete()


# Signing in and out


def test_signing_in_on_the_page_is_recorded_with_the_address_and_request_id(rep, client, no_events):
    response = client.post(
        "/login/", {"username": "rep", "password": PASSWORD}, HTTP_X_REQUEST_ID="page-signin"
    )
    assert response.status_code == 302
    event = only(AuditKind.SIGNIN)
    assert (event.actor, event.target, event.details) == (rep, rep, {"via": "page"})
    assert (event.ip_address, event.request_id) == ("127.0.0.1", "page-signin")


def test_a_failed_sign_in_on_the_page_is_recorded_with_the_name_tried(rep, client, no_events):
    client.post("/login/", {"username": "rep", "password": "wrong"})
    client.post("/login/", {"username": "nobody", "password": "wrong"})
    known, unknown = events(AuditKind.SIGNIN_FAILED)
    assert (known.actor, known.target, known.details) == (
        None,
        rep,
        {"username": "rep", "via": "page"},
    )
    assert (unknown.target, unknown.details["username"]) == (None, "nobody")
    assert not events(AuditKind.SIGNIN)


def test_a_lock_out_is_recorded_once_per_window(rep, client, settings, no_events):
    settings.SIGNIN_FAILURES_PER_ACCOUNT = 2
    for _ in range(5):
        client.post("/login/", {"username": "rep", "password": "wrong"})
    assert len(events(AuditKind.SIGNIN_FAILED)) == 2  # locked attempts check no password
    locked = only(AuditKind.SIGNIN_LOCKED)
    assert (locked.target, locked.details["username"], locked.details["by"]) == (
        rep,
        "rep",
        ["account"],
    )
    assert locked.details["retry_at"]


def test_an_api_sign_in_and_its_failure_and_a_token_revocation_are_recorded(rep, no_events):
    client = APIClient()
    assert (
        client.post("/api/v1/auth/token/", {"username": "rep", "password": "x"}).status_code == 400
    )
    token = client.post("/api/v1/auth/token/", {"username": "rep", "password": PASSWORD}).json()
    assert only(AuditKind.SIGNIN_FAILED).details == {"username": "rep", "via": "api"}
    assert (only(AuditKind.SIGNIN).actor, only(AuditKind.SIGNIN).details) == (rep, {"via": "api"})
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    revoked = only(AuditKind.TOKEN_REVOKED)
    assert (revoked.actor, revoked.target) == (rep, rep)


def test_signing_out_is_recorded(rep, client, no_events):
    client.force_login(rep)
    client.post("/logout/")
    event = only(AuditKind.SIGNOUT)
    assert (event.actor, event.target) == (rep, rep)


# People: roles, the reporting line, access, passwords


def test_role_team_access_and_password_changes_through_the_api_are_recorded(
    admin, rep, other_manager, client_for, no_events
):
    client = client_for(admin)
    user = f"/api/v1/users/{rep.pk}/"
    assert client.patch(user, {"role": "manager"}).status_code == 200
    assert client.patch(user, {"manager": other_manager.pk}).status_code == 200
    assert client.patch(user, {"password": "a-new-long-password-1"}).status_code == 200
    assert client.patch(user, {"is_active": False}).status_code == 200
    assert client.patch(user, {"is_active": True}).status_code == 200

    role = only(AuditKind.ROLE_CHANGED)
    assert (role.actor, role.target) == (admin, rep)
    assert role.details == {"field": "role", "old": "rep", "new": "manager"}
    team = only(AuditKind.MANAGER_CHANGED)
    assert (team.actor, team.target, team.details) == (
        admin,
        rep,
        {"old": "manager", "new": "othermanager"},
    )
    assert (only(AuditKind.PASSWORD_CHANGED).actor, only(AuditKind.PASSWORD_CHANGED).target) == (
        admin,
        rep,
    )
    assert only(AuditKind.USER_DEACTIVATED).target == rep
    assert only(AuditKind.USER_REACTIVATED).target == rep


def test_adding_and_deactivating_a_person_through_the_api_are_recorded(
    admin, rep, manager, client_for, no_events
):
    client = client_for(admin)
    created = client.post(
        "/api/v1/users/", {"username": "newbie", "role": "rep", "manager": manager.pk}
    )
    assert created.status_code == 201
    added = only(AuditKind.USER_CREATED)
    assert (added.actor, added.target_username, added.details) == (
        admin,
        "newbie",
        {"role": "rep", "manager": "manager"},
    )
    assert client.delete(f"/api/v1/users/{rep.pk}/").status_code == 204
    gone = only(AuditKind.USER_DEACTIVATED)
    assert (gone.actor, gone.target) == (admin, rep)


def test_role_team_and_password_changes_in_the_admin_are_recorded(
    admin, rep, other_manager, client, no_events
):
    client.force_login(admin)
    page = url(User, "change", rep.pk)
    assert resubmit(client, page, role="manager").status_code == 302
    assert resubmit(client, page, manager=other_manager).status_code == 302
    assert resubmit(client, page, is_active="").status_code == 302
    password_page = reverse("admin:auth_user_password_change", args=[rep.pk])
    answer = client.post(
        password_page,
        {
            "password1": "x-very-long-pass-7",
            "password2": "x-very-long-pass-7",
            "usable_password": "true",
        },
    )
    assert answer.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password("x-very-long-pass-7")

    assert only(AuditKind.ROLE_CHANGED).details == {"field": "role", "old": "rep", "new": "manager"}
    assert only(AuditKind.MANAGER_CHANGED).details == {"old": "manager", "new": "othermanager"}
    assert only(AuditKind.USER_DEACTIVATED).actor == admin
    password = only(AuditKind.PASSWORD_CHANGED)
    assert (password.actor, password.target, password.details) == (admin, rep, {"usable": True})


def test_deleting_a_person_keeps_their_name_in_the_log(admin, no_events):
    newbie = UserFactory(username="mistake")
    user_delete(user=newbie, by=admin)
    deleted = only(AuditKind.USER_DELETED)
    assert (deleted.target, deleted.target_username, deleted.actor) == (None, "mistake", admin)
    assert only(AuditKind.USER_CREATED).target is None  # the reference goes, the name stays
    assert only(AuditKind.USER_CREATED).target_username == "mistake"


# Exports and imports


def test_exports_are_recorded(manager, client, no_events):
    client.force_login(manager)
    response = client.get("/deals/export.csv?q=acme")
    b"".join(response.streaming_content)
    response = client.get("/reports/lost-reasons/export.xlsx?period=90d")
    assert response.status_code == 200
    deals, report = events(AuditKind.EXPORT)
    assert (deals.actor, deals.details) == (
        manager,
        {"what": "deals", "format": "csv", "query": "q=acme"},
    )
    assert (report.details["what"], report.details["format"]) == ("report lost-reasons", "xlsx")
    assert report.details["query"] == "period=90d"


def test_an_import_upload_and_its_finish_are_recorded(
    rep, pipeline, client_for, settings, tmp_path, no_events
):
    settings.MEDIA_ROOT = tmp_path
    AccountFactory(owner=rep, name="Acme")
    rows = [["a-1", "Deal 1", "Acme", "", "Discovery", "10", "USD", "2031-01-31"]]
    answer = client_for(rep).post(
        "/api/v1/imports/", {"kind": "deals", "file": csv_upload(rows)}, format="multipart"
    )
    assert answer.status_code == 201
    uploaded = only(AuditKind.IMPORT_UPLOADED)
    assert (uploaded.actor, uploaded.details["records"], uploaded.details["rows"]) == (
        rep,
        "deals",
        1,
    )
    job = imported(rep, csv_upload(rows, name="second.csv"))
    assert job.status == "done"
    finished = only(AuditKind.IMPORT_FINISHED)  # the dry run is not recorded
    assert finished.actor == rep
    assert finished.details == {
        "job": job.pk,
        "records": "deals",
        "file": "second.csv",
        "status": "done",
        "created": 1,
        "updated": 0,
        "rejected": 0,
    }
    assert ImportJob.objects.count() == 2


# Webhooks


def test_webhook_creation_rotation_and_deletion_are_recorded(
    admin, client_for, settings, no_events
):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    client = client_for(admin)
    created = client.post(
        "/api/v1/webhooks/",
        {"name": "Hook", "url": "http://127.0.0.1:9/hook", "events": ["deal.won"]},
    ).json()
    assert client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret/").status_code == 200
    assert client.delete(f"/api/v1/webhooks/{created['id']}/").status_code == 204
    made, rotated, deleted = (
        only(AuditKind.WEBHOOK_CREATED),
        only(AuditKind.WEBHOOK_SECRET_ROTATED),
        only(AuditKind.WEBHOOK_DELETED),
    )
    assert {made.actor, rotated.actor, deleted.actor} == {admin}
    assert made.details["events"] == ["deal.won"]
    assert deleted.details == {
        "webhook": created["id"],
        "name": "Hook",
        "url": "http://127.0.0.1:9/hook",
    }
    assert created["secret"] not in str([made.details, rotated.details])


def test_restores_have_a_kind_for_the_restore_command(no_events):
    event = audit_record(AuditKind.RESTORE, dump="backup-2026-12-01.dump")
    assert (event.kind, event.actor, event.details) == (
        "restore",
        None,
        {"dump": "backup-2026-12-01.dump"},
    )


# The write and its action


def test_an_event_rolls_back_with_its_action(admin, rep, no_events):
    with pytest.raises(RuntimeError), transaction.atomic():
        user_update(user=rep, by=admin, role="manager")
        assert only(AuditKind.ROLE_CHANGED)
        raise RuntimeError("the action failed after the change")
    assert not AuditEvent.objects.exists()
    rep.refresh_from_db()
    assert rep.role == "rep"


def test_an_event_that_cannot_be_written_does_not_break_its_action(admin, rep, caplog, no_events):
    with transaction.atomic():
        assert audit_record(AuditKind.EXPORT, actor=admin, when=object()) is None  # not JSON
        assert audit_record("k" * 40, actor=admin) is None  # refused by the database
        assert audit_record(AuditKind.EXPORT, actor=admin) is not None
        user_update(user=rep, by=admin, role="manager")
    rep.refresh_from_db()
    assert rep.role == "manager"
    assert "could not be recorded" in caplog.text
    assert [event.kind for event in AuditEvent.objects.order_by("id")] == ["export", "role_changed"]


def test_events_past_the_retention_are_purged_by_the_daily_task(admin, settings, no_events):
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    old = audit_record(AuditKind.EXPORT, actor=admin, what="old")
    kept = audit_record(AuditKind.EXPORT, actor=admin, what="kept")
    AuditEvent.objects.filter(pk=old.pk).update(at=now - datetime.timedelta(days=31))
    AuditEvent.objects.filter(pk=kept.pk).update(at=now - datetime.timedelta(days=29))
    assert purge_audit_events.apply().get() == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [kept.pk]
    assert audit_events_purge() == 0
    assert (
        settings.CELERY_BEAT_SCHEDULE["purge-audit-events"]["task"] == "salesmgr.purge_audit_events"
    )


# Who reads it: the page and the API


@pytest.mark.parametrize(
    "who, page_status, api_status",
    [
        ("admin", 200, 200),
        ("manager", 403, 403),
        ("sibling_manager", 403, 403),
        ("rep", 403, 403),
        ("teammate", 403, 403),
        ("other_rep", 403, 403),
    ],
)
def test_only_admins_read_the_audit_log(who, page_status, api_status, cast, client, client_for):
    event = audit_record(AuditKind.EXPORT, actor=cast["rep"], what="deals")
    client.force_login(cast[who])
    assert client.get(PAGE).status_code == page_status
    api = client_for(cast[who])
    assert api.get(API).status_code == api_status
    assert api.get(f"{API}{event.pk}/").status_code == api_status


def test_anonymous_readers_are_sent_to_sign_in_or_refused(client, cast):
    assert client.get(PAGE).status_code == 302
    assert APIClient().get(API).status_code == 401


def test_the_api_is_read_only(admin, client_for, cast):
    event = audit_record(AuditKind.EXPORT, actor=admin, what="deals")
    api = client_for(admin)
    assert api.post(API, {"kind": "export"}).status_code == 405
    assert api.patch(f"{API}{event.pk}/", {"kind": "signin"}).status_code == 405
    assert api.delete(f"{API}{event.pk}/").status_code == 405


def test_the_api_filters_by_kind_actor_and_day(admin, rep, manager, client_for, no_events):
    today = timezone.localdate()
    first = audit_record(AuditKind.EXPORT, actor=rep, what="a")
    second = audit_record(AuditKind.SIGNIN, actor=rep)
    third = audit_record(AuditKind.EXPORT, actor=manager, what="b")
    AuditEvent.objects.filter(pk=first.pk).update(at=timezone.now() - datetime.timedelta(days=3))
    api = client_for(admin)

    def ids(query: str) -> list[int]:
        response = api.get(f"{API}?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [third.pk, second.pk, first.pk]
    assert ids("kind=export") == [third.pk, first.pk]
    assert ids(f"actor={rep.pk}") == [second.pk, first.pk]
    assert ids(f"since={today.isoformat()}") == [third.pk, second.pk]
    before = today - datetime.timedelta(days=1)
    assert ids(f"until={before.isoformat()}") == [first.pk]
    assert ids("since=0001-01-01&until=9999-12-31") == [third.pk, second.pk, first.pk]
    row = api.get(f"{API}{second.pk}/").json()
    assert row["actor_username"] == "rep" and row["kind"] == "signin"


@pytest.mark.parametrize(
    "query, field",
    [
        ("kind=nope", "kind"),
        ("actor=abc", "actor"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(query, field, admin, client_for):
    response = client_for(admin).get(f"{API}?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_the_page_filters_and_pages_back_by_id(admin, rep, client, no_events, monkeypatch):
    from salesmgr.audit import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    made = [audit_record(AuditKind.EXPORT, actor=rep, what=str(n)) for n in range(3)]
    audit_record(AuditKind.SIGNIN, actor=admin)
    client.force_login(admin)
    first = client.get(f"{PAGE}?kind=export")
    assert [e.pk for e in first.context["events"]] == [made[2].pk, made[1].pk]
    assert first.context["older_query"] == f"kind=export&before={made[1].pk}"
    older = client.get(f"{PAGE}?{first.context['older_query']}")
    assert [e.pk for e in older.context["events"]] == [made[0].pk]
    assert older.context["older_query"] is None
    bad = client.get(f"{PAGE}?since=not-a-date")
    assert bad.status_code == 200 and list(bad.context["events"]) == []
    assert "Enter a valid date" in bad.content.decode()


def _fill(count: int, actor) -> None:
    AuditEvent.objects.bulk_create(
        AuditEvent(
            kind=AuditKind.EXPORT, actor=actor, actor_username=actor.username, details={"n": n}
        )
        for n in range(count)
    )


@pytest.mark.parametrize("size", [3, 60])
def test_the_page_and_the_api_run_the_same_queries_at_any_size(
    size, admin, rep, client, client_for, django_assert_num_queries, no_events
):
    _fill(size, rep)
    client.force_login(admin)
    client.get(PAGE)  # the session's first read
    with django_assert_num_queries(4):  # session, user, the people to filter by, the page
        assert client.get(PAGE).status_code == 200
    api = client_for(admin)
    with django_assert_num_queries(2):  # the count and the page
        assert api.get(API).status_code == 200


def test_the_api_is_in_the_schema(admin, client_for):
    schema = client_for(admin).get("/api/v1/schema/?format=json").json()
    operations = schema["paths"]["/api/v1/audit-events/"]
    assert set(operations) == {"get"}
    names = {p["name"] for p in operations["get"]["parameters"]}
    assert {"kind", "actor", "target", "since", "until", "page", "page_size"} <= names
    assert "/api/v1/audit-events/{id}/" in schema["paths"]
