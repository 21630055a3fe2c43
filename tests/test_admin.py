"""The Django admin: every page answers, list pages run a fixed number of queries,
and writes go through the services, so their rules hold in the admin too."""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.db import connection
from django.forms import CheckboxInput, MultiWidget
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from pipeline.models import (
    Account,
    Activity,
    Contact,
    Deal,
    LostReason,
    Pipeline,
    Product,
    Stage,
    StageTransition,
)
from pipeline.services import (
    LineItemSpec,
    account_create,
    account_delete,
    activity_log,
    deal_create,
    deal_move,
    deal_update,
    exchange_rate_create,
    stage_create,
)
from pipeline.signals import deals_changed
from pipeline.webhooks.services import webhook_subscription_create
from quotas.models import Quota, Territory
from quotas.services import quota_set
from salesmgr.models import Role, User
from salesmgr.services import user_create, user_deactivate

OWN_APPS = {"salesmgr", "quotas", "pipeline"}
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)
OWN_MODELS = [model for model in REGISTERED if model._meta.app_label in OWN_APPS]
BIG_LISTS = [Deal, Account, Activity, StageTransition]
CLOSE = datetime.date(2026, 6, 30)


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def site_admin(db):
    """An admin by role only: no superuser flag, no Django permissions."""
    return user_create(
        username="siteadmin", password=None, role=Role.ADMIN, full_name="Sam Siteadmin"
    )


@pytest.fixture
def admin_browser(client, site_admin):
    client.force_login(site_admin)
    return client


@dataclass
class World:
    by: User
    manager: User
    rep: User
    pipeline: Pipeline
    stages: dict[str, Stage]
    product: Product
    reason: LostReason
    territory: Territory
    account: Account
    deal: Deal


def add_deals(world: World, count: int) -> None:
    """``count`` more deals, each on its own account, moved once and with one activity."""
    for index in range(count):
        account = account_create(
            by=world.by, name=f"Extra account {index}", owner=world.rep, territory=world.territory
        )
        deal = deal_create(
            by=world.by,
            name=f"Extra deal {index}",
            account=account,
            owner=world.rep,
            pipeline=world.pipeline,
            expected_close_date=CLOSE,
            amount=Decimal("1000.00"),
        )
        deal_move(
            deal=deal, to_stage=world.stages["Proposal"], by=world.by, expected_version=deal.version
        )
        activity_log(by=world.by, kind="call", subject=f"Call {index}", deal=deal)


@pytest.fixture
def world(site_admin) -> World:
    """A small sales team with a row in every table, all written through the services."""
    manager = user_create(
        username="mgr", password=None, role=Role.MANAGER, full_name="Dana Whitfield"
    )
    rep = user_create(
        username="rep", password=None, role=Role.REP, full_name="Riley Rep", manager=manager
    )
    pipeline = Pipeline.objects.create(name="New business")
    stages = {
        name: stage_create(
            pipeline=pipeline, name=name, order=order, probability=probability, kind=kind
        )
        for order, (name, probability, kind) in enumerate(
            [
                ("Qualification", 10, "open"),
                ("Proposal", 50, "open"),
                ("Won", 100, "won"),
                ("Lost", 0, "lost"),
            ],
            start=1,
        )
    }
    region = Territory.objects.create(name="EMEA")
    territory = Territory.objects.create(name="Benelux", parent=region)
    territory.reps.add(rep)
    quota_set(
        owner=rep,
        period_start=datetime.date(2026, 1, 1),
        period_end=datetime.date(2026, 3, 31),
        target=Decimal("50000"),
        period="quarter",
    )
    product = Product.objects.create(
        name="Seat licence", sku="SEAT-1", unit_price=Decimal("120.00")
    )
    reason = LostReason.objects.create(name="Price")
    account = account_create(
        by=site_admin, name="Acme", owner=rep, territory=territory, industry="Retail"
    )
    Contact.objects.create(
        account=account, first_name="Cleo", last_name="Contact", email="cleo@example.com"
    )
    deal = deal_create(
        by=site_admin,
        name="Acme seats",
        account=account,
        owner=rep,
        pipeline=pipeline,
        expected_close_date=CLOSE,
        line_items=[LineItemSpec(product=product, quantity=Decimal("10"))],
    )
    # A webhook subscription, so the move and the activity leave deliveries in the log.
    webhook_subscription_create(
        by=site_admin,
        name="CRM sync",
        url="https://hooks.example.com/salesmgr",
        events=["deal.moved", "activity.logged"],
    )
    deal = deal_move(
        deal=deal, to_stage=stages["Proposal"], by=site_admin, expected_version=deal.version
    )
    activity_log(by=site_admin, kind="meeting", subject="Kick-off", deal=deal)
    exchange_rate_create(
        currency="EUR", valid_from=datetime.date(2026, 1, 1), rate=Decimal("1.08"), by=site_admin
    )
    return World(
        site_admin, manager, rep, pipeline, stages, product, reason, territory, account, deal
    )


def form_data(form) -> dict:
    """What a browser would post back for ``form`` as rendered, unchanged."""
    data = {}
    for field in form:
        if field.field.disabled:
            continue
        value = field.value()
        widget = field.field.widget
        if isinstance(widget, MultiWidget):
            for suffix, part in zip(widget.widgets_names, widget.decompress(value), strict=True):
                data[field.html_name + suffix] = "" if part is None else str(part)
        elif isinstance(widget, CheckboxInput):
            if value:
                data[field.html_name] = "on"
        elif value is None:
            data[field.html_name] = ""
        elif isinstance(value, list | tuple):
            data[field.html_name] = [str(getattr(item, "pk", item)) for item in value]
        else:
            data[field.html_name] = str(getattr(value, "pk", value))
    return data


def page_data(response) -> dict:
    """The whole admin change page's form, inlines included, as a browser would post it."""
    data = form_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data.update(form_data(inline.formset.management_form))
        for form in inline.formset.forms:
            data.update(form_data(form))
    return data


def resubmit(client, page_url: str, **changes):
    """Open an admin form, change some fields and save it."""
    data = page_data(client.get(page_url))
    data.update({name: str(getattr(value, "pk", value)) for name, value in changes.items()})
    return client.post(page_url, data)


def errors_of(response) -> str:
    """Every error message the admin form page shows, as one string."""
    context = response.context
    messages = [str(error) for error in context["adminform"].form.errors.values()]
    for inline in context.get("inline_admin_formsets", []):
        messages.append(str(inline.formset.non_form_errors()))
        messages += [str(form.errors) for form in inline.formset.forms]
    return " ".join(messages)


# Every page answers, within a fixed number of queries


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_changelist_answers_within_bounded_queries(
    model, client, world, django_assert_max_num_queries
):
    superuser = user_create(username="root", password=None, role=Role.ADMIN)
    User.objects.filter(pk=superuser.pk).update(is_superuser=True)
    client.force_login(superuser)
    with django_assert_max_num_queries(12):
        response = client.get(url(model, "changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", OWN_MODELS, ids=lambda model: model._meta.label)
def test_admin_role_alone_opens_every_salesmgr_list(model, admin_browser, world):
    assert admin_browser.get(url(model, "changelist")).status_code == 200


def test_admin_is_closed_to_staff_who_are_not_admins(client, world):
    User.objects.filter(pk=world.rep.pk).update(is_staff=True)
    client.force_login(world.rep)
    assert client.get(url(Deal, "changelist")).status_code == 403
    assert "Pipeline" not in client.get(reverse("admin:index")).content.decode()


def _changelist_queries(client, model) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", BIG_LISTS, ids=lambda model: model._meta.label)
def test_big_lists_run_as_many_queries_for_30_rows_as_for_3(model, admin_browser, world):
    add_deals(world, 2)
    with_3 = _changelist_queries(admin_browser, model)
    add_deals(world, 27)
    assert model.objects.count() >= 30
    assert _changelist_queries(admin_browser, model) == with_3


@pytest.mark.parametrize("model", OWN_MODELS, ids=lambda model: model._meta.label)
def test_add_and_change_pages_answer(model, admin_browser, world, site_admin):
    model_admin = admin.site._registry[model]
    request = type("Request", (), {"user": site_admin})()
    expected_add = 200 if model_admin.has_add_permission(request) else 403
    assert admin_browser.get(url(model, "add")).status_code == expected_add
    obj = model._default_manager.order_by("pk").first()
    assert admin_browser.get(url(model, "change", obj.pk)).status_code == 200


def test_deal_history_page_answers_and_cannot_revert(admin_browser, world):
    assert admin_browser.get(url(Deal, "history", world.deal.pk)).status_code == 200
    record = Deal.history.filter(id=world.deal.pk).earliest("history_date")
    history_url = reverse(
        "admin:pipeline_deal_simple_history", args=[world.deal.pk, record.history_id]
    )
    assert admin_browser.get(history_url).status_code == 200
    assert admin_browser.post(history_url, {}).status_code == 403


# Users and the reporting line


def test_adding_an_admin_user_makes_them_staff(admin_browser, world):
    response = admin_browser.post(
        url(User, "add"),
        {
            "username": "newadmin",
            "full_name": "Nia Newadmin",
            "email": "nia@example.com",
            "role": "admin",
            "manager": world.manager.pk,
            "usable_password": "true",
            "password1": "a-long-unusual-password",
            "password2": "a-long-unusual-password",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newadmin")
    assert (user.role, user.is_staff, user.manager, user.full_name) == (
        "admin",
        True,
        world.manager,
        "Nia Newadmin",
    )
    assert user.check_password("a-long-unusual-password")


def test_promoting_a_rep_to_admin_makes_them_staff_and_back(admin_browser, world):
    page = url(User, "change", world.rep.pk)
    assert resubmit(admin_browser, page, role="admin").status_code == 302
    world.rep.refresh_from_db()
    assert (world.rep.role, world.rep.is_staff) == ("admin", True)
    assert resubmit(admin_browser, page, role="rep").status_code == 302
    world.rep.refresh_from_db()
    assert (world.rep.role, world.rep.is_staff) == ("rep", False)


def test_a_reporting_cycle_is_a_form_error_and_writes_nothing(admin_browser, world):
    response = resubmit(admin_browser, url(User, "change", world.manager.pk), manager=world.rep)
    assert response.status_code == 200
    assert "reporting cycle" in errors_of(response)
    world.manager.refresh_from_db()
    assert world.manager.manager is None


def test_changing_the_manager_goes_through(admin_browser, world):
    other = user_create(
        username="mgr2", password=None, role=Role.MANAGER, full_name="Other Manager"
    )
    response = resubmit(admin_browser, url(User, "change", world.rep.pk), manager=other)
    assert response.status_code == 302
    world.rep.refresh_from_db()
    assert world.rep.manager == other


# Territories and quotas


def test_an_overlapping_quota_is_a_form_error(admin_browser, world):
    response = admin_browser.post(
        url(Quota, "add"),
        {
            "owner": world.rep.pk,
            "period": "month",
            "period_start": "2026-03-01",
            "period_end": "2026-03-31",
            "target": "10000",
        },
    )
    assert response.status_code == 200
    assert "overlaps" in errors_of(response)
    assert Quota.objects.count() == 1


def test_a_quota_that_does_not_overlap_is_saved(admin_browser, world):
    response = admin_browser.post(
        url(Quota, "add"),
        {
            "owner": world.rep.pk,
            "period": "month",
            "period_start": "2026-04-01",
            "period_end": "2026-04-30",
            "target": "10000",
        },
    )
    assert response.status_code == 302
    assert Quota.objects.filter(owner=world.rep).count() == 2


def test_a_territory_loop_is_a_form_error(admin_browser, world):
    region = world.territory.parent
    response = resubmit(admin_browser, url(Territory, "change", region.pk), parent=world.territory)
    assert response.status_code == 200
    assert "inside itself" in errors_of(response)
    region.refresh_from_db()
    assert region.parent is None


# Pipelines and stages


def test_a_second_won_stage_is_a_form_error(admin_browser, world):
    response = admin_browser.post(
        url(Stage, "add"),
        {
            "pipeline": world.pipeline.pk,
            "name": "Won again",
            "order": 9,
            "probability": 100,
            "kind": "won",
        },
    )
    assert response.status_code == 200
    assert "already has a won stage" in errors_of(response)
    assert world.pipeline.stages.filter(kind="won").count() == 1


def test_a_stage_without_a_pipeline_is_a_form_error(admin_browser, world):
    response = admin_browser.post(
        url(Stage, "add"), {"name": "Adrift", "order": 9, "probability": 100, "kind": "won"}
    )
    assert response.status_code == 200
    assert "required" in errors_of(response)


def test_a_second_won_stage_in_the_pipeline_inline_is_a_form_error(admin_browser, world):
    page = url(Pipeline, "change", world.pipeline.pk)
    data = page_data(admin_browser.get(page))
    total = int(data["stages-TOTAL_FORMS"])
    data["stages-TOTAL_FORMS"] = str(total + 2)
    for offset, name in enumerate(["Won twice", "Won thrice"]):
        prefix = f"stages-{total + offset}"
        data.update(
            {
                f"{prefix}-name": name,
                f"{prefix}-order": str(20 + offset),
                f"{prefix}-probability": "100",
            }
        )
        data[f"{prefix}-kind"] = "won"
        data[f"{prefix}-pipeline"] = str(world.pipeline.pk)
    response = admin_browser.post(page, data)
    assert response.status_code == 200
    assert "won stage" in errors_of(response)
    assert world.pipeline.stages.count() == 4


def test_a_new_stage_in_the_pipeline_inline_is_created(admin_browser, world):
    page = url(Pipeline, "change", world.pipeline.pk)
    data = page_data(admin_browser.get(page))
    total = int(data["stages-TOTAL_FORMS"])
    data["stages-TOTAL_FORMS"] = str(total + 1)
    prefix = f"stages-{total}"
    data.update(
        {f"{prefix}-name": "Negotiation", f"{prefix}-order": "5", f"{prefix}-probability": "80"}
    )
    data.update({f"{prefix}-kind": "open", f"{prefix}-pipeline": str(world.pipeline.pk)})
    assert admin_browser.post(page, data).status_code == 302
    assert world.pipeline.stages.filter(name="Negotiation", order=5).exists()


def test_the_kind_of_a_stage_with_deals_cannot_change(admin_browser, world):
    proposal = world.stages["Proposal"]
    response = resubmit(admin_browser, url(Stage, "change", proposal.pk), kind="lost")
    assert response.status_code == 200
    assert "Deals sit in this stage" in errors_of(response)
    assert Stage.objects.get(pk=proposal.pk).kind == "open"


# Deals


def test_adding_a_deal_opens_it_through_the_service(admin_browser, world):
    response = admin_browser.post(
        url(Deal, "add"),
        {
            "name": "Globex renewal",
            "account": world.account.pk,
            "owner": world.rep.pk,
            "pipeline": world.pipeline.pk,
            "stage": "",
            "lost_reason": "",
            "amount": "2500.00",
            "currency": "EUR",
            "expected_close_date": "2026-05-31",
            "forecast_category": "commit",
        },
    )
    assert response.status_code == 302
    deal = Deal.objects.get(name="Globex renewal")
    assert deal.stage == world.stages["Qualification"]
    transition = deal.transitions.get()
    assert (transition.from_stage, transition.to_stage, transition.by) == (
        None,
        deal.stage,
        world.by,
    )


def test_adding_a_deal_to_a_deleted_account_is_a_form_error(admin_browser, world):
    Account.objects.filter(pk=world.account.pk).update(deleted_at=timezone.now())
    response = admin_browser.post(
        url(Deal, "add"),
        {
            "name": "Doomed",
            "account": world.account.pk,
            "owner": world.rep.pk,
            "pipeline": world.pipeline.pk,
            "amount": "10.00",
            "currency": "USD",
            "expected_close_date": "2026-05-31",
            "forecast_category": "pipeline",
        },
    )
    assert response.status_code == 200
    assert "is deleted" in errors_of(response)
    assert not Deal.objects.filter(name="Doomed").exists()


def test_the_deal_change_form_offers_no_stage_or_bookkeeping_fields(admin_browser, world):
    response = admin_browser.get(url(Deal, "change", world.deal.pk))
    fields = response.context["adminform"].form.fields
    for name in ("stage", "status", "closed_at", "version", "stage_entered_at", "pipeline"):
        assert name not in fields
    # The deal has line items, so its amount is their total and not typed in.
    assert "amount" not in fields
    assert "Move to stage" in response.content.decode()


def test_posting_a_stage_to_the_change_form_does_not_move_the_deal(admin_browser, world):
    won = world.stages["Won"]
    response = resubmit(
        admin_browser, url(Deal, "change", world.deal.pk), stage=won, name="Acme seats, phase 1"
    )
    assert response.status_code == 302
    deal = Deal.objects.get(pk=world.deal.pk)
    assert (deal.name, deal.stage, deal.version) == (
        "Acme seats, phase 1",
        world.stages["Proposal"],
        world.deal.version + 1,
    )
    assert deal.history.latest().history_user == world.by


def test_reassigning_a_deal_in_the_change_form(admin_browser, world):
    response = resubmit(admin_browser, url(Deal, "change", world.deal.pk), owner=world.manager)
    assert response.status_code == 302
    assert Deal.objects.get(pk=world.deal.pk).owner == world.manager


def test_a_stale_deal_change_is_a_form_error(admin_browser, world):
    page = url(Deal, "change", world.deal.pk)
    data = page_data(admin_browser.get(page))
    deal_update(
        deal=world.deal, by=world.by, expected_version=world.deal.version, name="Changed meanwhile"
    )
    data["name"] = "My change"
    response = admin_browser.post(page, data)
    assert response.status_code == 200
    assert "changed this deal" in errors_of(response)
    assert Deal.objects.get(pk=world.deal.pk).name == "Changed meanwhile"


def test_line_items_edited_on_the_deal_page_set_its_amount(admin_browser, world):
    page = url(Deal, "change", world.deal.pk)
    response = resubmit(
        admin_browser, page, **{"line_items-0-quantity": "3", "line_items-0-discount_pct": "10"}
    )
    assert response.status_code == 302
    deal = Deal.objects.get(pk=world.deal.pk)
    assert deal.amount == Decimal("324.00")  # 3 x 120.00 less 10 %
    assert deal.line_items.get().quantity == Decimal("3")


def test_a_deal_change_with_its_line_items_is_one_version_and_one_history_row(admin_browser, world):
    page = url(Deal, "change", world.deal.pk)
    before = Deal.history.filter(id=world.deal.pk).count()
    response = resubmit(
        admin_browser, page, name="Renamed", owner=world.manager, **{"line_items-0-quantity": "3"}
    )
    assert response.status_code == 302
    deal = Deal.objects.get(pk=world.deal.pk)
    assert (deal.name, deal.owner, deal.amount) == ("Renamed", world.manager, Decimal("360.00"))
    assert deal.version == world.deal.version + 1
    assert Deal.history.filter(id=world.deal.pk).count() == before + 1


def test_a_retired_product_on_the_deal_page_is_the_rule_s_error(admin_browser, world):
    page = url(Deal, "change", world.deal.pk)
    Product.objects.filter(pk=world.deal.line_items.get().product_id).update(is_active=False)
    response = resubmit(admin_browser, page, **{"line_items-0-quantity": "3"})
    assert response.status_code == 200
    assert "That product is no longer sold." in errors_of(response)
    assert Deal.objects.get(pk=world.deal.pk).version == world.deal.version


def test_the_move_view_moves_the_deal_and_writes_one_transition(admin_browser, world):
    move_url = url(Deal, "move", world.deal.pk)
    assert admin_browser.get(move_url).status_code == 200
    before = StageTransition.objects.filter(deal=world.deal).count()
    response = admin_browser.post(
        move_url, {"to_stage": world.stages["Won"].pk, "seen_version": world.deal.version}
    )
    assert response.status_code == 302
    deal = Deal.objects.get(pk=world.deal.pk)
    assert (deal.stage, deal.status) == (world.stages["Won"], "won")
    assert deal.closed_at is not None
    assert StageTransition.objects.filter(deal=deal).count() == before + 1
    last = deal.transitions.latest("at")
    assert (last.from_stage, last.to_stage, last.by) == (
        world.stages["Proposal"],
        world.stages["Won"],
        world.by,
    )


def test_a_stale_move_is_an_error_not_a_500(admin_browser, world):
    move_url = url(Deal, "move", world.deal.pk)
    seen = world.deal.version
    deal_update(deal=world.deal, by=world.by, expected_version=seen, name="Changed meanwhile")
    response = admin_browser.post(
        move_url, {"to_stage": world.stages["Won"].pk, "seen_version": seen}
    )
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    assert StageTransition.objects.filter(deal=world.deal).count() == 2


def test_a_lost_move_without_a_reason_is_an_error(admin_browser, world):
    move_url = url(Deal, "move", world.deal.pk)
    response = admin_browser.post(
        move_url, {"to_stage": world.stages["Lost"].pk, "seen_version": world.deal.version}
    )
    assert response.status_code == 200
    assert "Say why the deal was lost." in response.content.decode()
    data = {
        "to_stage": world.stages["Lost"].pk,
        "lost_reason": world.reason.pk,
        "seen_version": world.deal.version,
    }
    assert admin_browser.post(move_url, data).status_code == 302
    assert Deal.objects.get(pk=world.deal.pk).lost_reason == world.reason


def test_a_move_to_another_pipelines_stage_is_refused(admin_browser, world):
    other = Pipeline.objects.create(name="Renewals")
    foreign = stage_create(pipeline=other, name="Start", order=1, probability=10)
    response = admin_browser.post(
        url(Deal, "move", world.deal.pk),
        {"to_stage": foreign.pk, "seen_version": world.deal.version},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["to_stage"]
    assert Deal.objects.get(pk=world.deal.pk).stage == world.stages["Proposal"]


def test_deleting_a_deal_hides_it_and_restore_brings_it_back(admin_browser, world):
    deal_id = world.deal.pk
    confirm = admin_browser.get(url(Deal, "delete", deal_id))
    assert confirm.status_code == 200
    assert admin_browser.post(url(Deal, "delete", deal_id), {"post": "yes"}).status_code == 302
    deal = Deal.objects.get(pk=deal_id)
    assert deal.deleted_at is not None
    assert deal.transitions.exists()
    deleted_list = admin_browser.get(url(Deal, "changelist") + "?deleted=yes")
    assert list(deleted_list.context["cl"].result_list) == [deal]

    response = admin_browser.post(
        url(Deal, "changelist"), {"action": "restore", "_selected_action": [deal_id]}
    )
    assert response.status_code == 302
    assert Deal.objects.get(pk=deal_id).deleted_at is None


def test_the_delete_selected_action_soft_deletes_deals(admin_browser, world):
    data = {"action": "delete_selected", "_selected_action": [world.deal.pk], "post": "yes"}
    assert admin_browser.post(url(Deal, "changelist"), data).status_code == 302
    assert Deal.objects.get(pk=world.deal.pk).deleted_at is not None


# Accounts and activities


def test_accounts_are_added_through_the_service_and_deleted_softly(admin_browser, world):
    response = admin_browser.post(
        url(Account, "add"),
        {
            "owner": world.rep.pk,
            "name": "  Initech  ",
            "territory": world.territory.pk,
            "industry": "Software",
            "region": "",
            "employee_count": "",
            "website": "",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    account = Account.objects.get(name="Initech")
    assert (
        admin_browser.post(url(Account, "delete", account.pk), {"post": "yes"}).status_code == 302
    )
    account.refresh_from_db()
    assert account.deleted_at is not None


def _deactivated(world: World) -> User:
    gone = user_create(
        username="gone", password=None, role=Role.REP, full_name="Gail Gone", manager=world.manager
    )
    return user_deactivate(user=gone, by=world.by)


def test_an_account_for_a_deactivated_person_is_a_form_error_and_writes_nothing(
    admin_browser, world
):
    gone = _deactivated(world)
    response = admin_browser.post(
        url(Account, "add"),
        {
            "owner": gone.pk,
            "name": "Initech",
            "territory": "",
            "industry": "",
            "region": "",
            "employee_count": "",
            "website": "",
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "0",
            "contacts-0-first_name": "Ina",
        },
    )
    assert response.status_code == 200
    assert "The owner is deactivated." in errors_of(response)
    assert not Account.objects.filter(name="Initech").exists()
    assert not Contact.objects.filter(first_name="Ina").exists()


def test_giving_an_account_to_a_deactivated_person_is_a_form_error_and_writes_nothing(
    admin_browser, world
):
    gone = _deactivated(world)
    history_rows = Account.history.filter(id=world.account.pk).count()
    response = resubmit(
        admin_browser, url(Account, "change", world.account.pk), owner=gone, industry="Banking"
    )
    assert response.status_code == 200
    assert "The owner is deactivated." in errors_of(response)
    world.account.refresh_from_db()
    assert (world.account.owner, world.account.industry) == (world.rep, "Retail")
    assert Account.history.filter(id=world.account.pk).count() == history_rows


def test_an_account_owner_change_in_the_admin_is_kept_with_who_made_it(admin_browser, world):
    response = resubmit(
        admin_browser, url(Account, "change", world.account.pk), owner=world.manager
    )
    assert response.status_code == 302
    latest = Account.history.filter(id=world.account.pk).latest("history_date")
    assert (latest.owner_id, latest.history_user) == (world.manager.pk, world.by)
    assert admin_browser.get(url(Account, "history", world.account.pk)).status_code == 200


def test_moving_an_account_to_another_territory_in_the_admin_rings_for_its_deals(
    admin_browser, world, django_capture_on_commit_callbacks
):
    received = []

    def listener(sender, deal_ids, territory_ids=(), **kwargs):
        received.append((list(deal_ids), list(territory_ids)))

    elsewhere = Territory.objects.create(name="Nordics", parent=world.territory.parent)
    deals_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = resubmit(
                admin_browser, url(Account, "change", world.account.pk), territory=elsewhere
            )
    finally:
        deals_changed.disconnect(listener)
    assert response.status_code == 302
    assert received == [([world.deal.pk], [world.territory.pk])]


def test_no_admin_learns_a_refusal_by_running_a_service_and_rolling_back():
    import salesmgr.admin

    assert not hasattr(salesmgr.admin, "service_refusal")
    root = Path(settings.BASE_DIR)
    admin_modules = [
        path
        for app in OWN_APPS
        for path in (root / app).rglob("*.py")
        if "admin" in path.relative_to(root).with_suffix("").parts
    ]
    assert len(admin_modules) > 10
    assert [path.name for path in admin_modules if "service_refusal" in path.read_text()] == []


# Contacts, on their own and inline on their account


def _contact_post(world: World, **changes) -> dict:
    data = {
        "account": world.account.pk,
        "first_name": "Ina",
        "last_name": "Added",
        "title": "",
        "email": "",
        "phone": "",
    }
    data.update({name: str(getattr(value, "pk", value)) for name, value in changes.items()})
    return data


def _latest_history(contact_id: int):
    return Contact.history.filter(id=contact_id).latest("history_date", "history_id")


def test_a_contact_added_in_the_admin_is_created_by_the_admin(admin_browser, world):
    response = admin_browser.post(url(Contact, "add"), _contact_post(world, title="CTO"))
    assert response.status_code == 302
    contact = Contact.objects.get(first_name="Ina")
    assert (contact.account, contact.title) == (world.account, "CTO")
    created = _latest_history(contact.pk)
    assert (created.history_type, created.history_user) == ("+", world.by)


def test_a_contact_for_a_deleted_account_is_a_form_error_and_writes_nothing(admin_browser, world):
    account_delete(
        account=account_create(by=world.by, name="Gone Inc", owner=world.rep), by=world.by
    )
    gone = Account.objects.get(name="Gone Inc")
    response = admin_browser.post(url(Contact, "add"), _contact_post(world, account=gone))
    assert response.status_code == 200
    assert escape("Account 'Gone Inc' is deleted.") in errors_of(response)
    assert not Contact.objects.filter(first_name="Ina").exists()

    cleo = Contact.objects.get(first_name="Cleo")
    response = resubmit(admin_browser, url(Contact, "change", cleo.pk), account=gone, title="CEO")
    assert response.status_code == 200
    assert escape("Account 'Gone Inc' is deleted.") in errors_of(response)
    cleo.refresh_from_db()
    assert (cleo.account, cleo.title) == (world.account, "")


def test_a_contact_edited_in_the_admin_is_changed_by_the_admin(admin_browser, world):
    cleo = Contact.objects.get(first_name="Cleo")
    elsewhere = account_create(by=world.by, name="Globex", owner=world.manager)
    response = resubmit(
        admin_browser, url(Contact, "change", cleo.pk), account=elsewhere, title="CFO"
    )
    assert response.status_code == 302
    changed = _latest_history(cleo.pk)
    assert (changed.history_type, changed.history_user) == ("~", world.by)
    assert (changed.account_id, changed.title) == (elsewhere.pk, "CFO")
    history_rows = Contact.history.filter(id=cleo.pk).count()
    assert resubmit(admin_browser, url(Contact, "change", cleo.pk)).status_code == 302
    assert Contact.history.filter(id=cleo.pk).count() == history_rows


def test_a_contact_deleted_in_the_admin_keeps_their_history(admin_browser, world):
    cleo = Contact.objects.get(first_name="Cleo")
    Contact.history.filter(id=cleo.pk).delete()  # as the importer writes them
    assert admin_browser.post(url(Contact, "delete", cleo.pk), {"post": "yes"}).status_code == 302
    assert not Contact.objects.filter(pk=cleo.pk).exists()
    assert list(
        Contact.history.filter(id=cleo.pk)
        .order_by("history_date", "history_id")
        .values_list("history_type", "email", "history_user")
    ) == [("+", "cleo@example.com", None), ("-", "cleo@example.com", world.by.pk)]


def test_the_delete_selected_action_deletes_contacts_through_the_service(admin_browser, world):
    cleo = Contact.objects.get(first_name="Cleo")
    Contact.history.filter(id=cleo.pk).delete()
    data = {"action": "delete_selected", "_selected_action": [cleo.pk], "post": "yes"}
    assert admin_browser.post(url(Contact, "changelist"), data).status_code == 302
    assert not Contact.objects.filter(pk=cleo.pk).exists()
    assert Contact.history.filter(id=cleo.pk, history_type="+").exists()


def test_contacts_added_edited_and_removed_inline_go_through_the_services(admin_browser, world):
    page = url(Account, "change", world.account.pk)
    cleo = Contact.objects.get(first_name="Cleo")
    data = page_data(admin_browser.get(page))
    data.update(
        {
            "contacts-0-title": "COO",
            "contacts-TOTAL_FORMS": "2",
            "contacts-1-first_name": "Ina",
            "contacts-1-last_name": "Inline",
            "contacts-1-email": "ina@example.com",
        }
    )
    assert admin_browser.post(page, data).status_code == 302
    ina = Contact.objects.get(first_name="Ina")
    assert ina.account == world.account
    assert (_latest_history(ina.pk).history_type, _latest_history(ina.pk).history_user) == (
        "+",
        world.by,
    )
    changed = _latest_history(cleo.pk)
    assert (changed.history_type, changed.title, changed.history_user) == ("~", "COO", world.by)

    Contact.history.filter(id=cleo.pk).delete()  # as the importer writes them
    data = page_data(admin_browser.get(page))
    removed = next(
        key for key, value in data.items() if value == str(cleo.pk) and key.endswith("-id")
    )
    data[removed.replace("-id", "-DELETE")] = "on"
    assert admin_browser.post(page, data).status_code == 302
    assert list(Contact.objects.filter(account=world.account)) == [ina]
    assert list(
        Contact.history.filter(id=cleo.pk)
        .order_by("history_date", "history_id")
        .values_list("history_type", "history_user")
    ) == [("+", None), ("-", world.by.pk)]


def test_an_account_added_with_a_contact_inline_writes_both_through_the_services(
    admin_browser, world
):
    response = admin_browser.post(
        url(Account, "add"),
        {
            "owner": world.rep.pk,
            "name": "Initech",
            "territory": "",
            "industry": "",
            "region": "",
            "employee_count": "",
            "website": "",
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "0",
            "contacts-0-first_name": "Ina",
            "contacts-0-email": "ina@initech.test",
        },
    )
    assert response.status_code == 302
    ina = Contact.objects.get(first_name="Ina")
    assert ina.account == Account.objects.get(name="Initech")
    created = _latest_history(ina.pk)
    assert (created.history_type, created.history_user) == ("+", world.by)


def test_a_contact_added_inline_on_a_deleted_account_is_a_form_error(admin_browser, world):
    gone = account_create(by=world.by, name="Gone Inc", owner=world.rep)
    account_delete(account=gone, by=world.by)
    page = url(Account, "change", gone.pk)
    data = page_data(admin_browser.get(page))
    data.update({"contacts-TOTAL_FORMS": "1", "contacts-0-first_name": "Ina"})
    response = admin_browser.post(page, data)
    assert response.status_code == 200
    assert escape("Account 'Gone Inc' is deleted.") in errors_of(response)
    assert not Contact.objects.filter(first_name="Ina").exists()


@pytest.mark.parametrize("model", [Account, Contact], ids=lambda model: model.__name__)
def test_account_and_contact_history_pages_answer_and_cannot_revert(model, admin_browser, world):
    row = world.account if model is Account else Contact.objects.get(first_name="Cleo")
    page = admin_browser.get(url(model, "history", row.pk))
    assert page.status_code == 200
    record = model.history.filter(id=row.pk).earliest("history_date")
    history_url = reverse(
        f"admin:pipeline_{model._meta.model_name}_simple_history", args=[row.pk, record.history_id]
    )
    assert admin_browser.get(history_url).status_code == 200
    assert admin_browser.post(history_url, {}).status_code == 403


def test_an_activity_added_in_the_admin_is_logged_by_the_admin(admin_browser, world):
    response = admin_browser.post(
        url(Activity, "add"),
        {
            "kind": "note",
            "subject": "Budget confirmed",
            "body": "",
            "occurred_at_0": "2026-02-03",
            "occurred_at_1": "10:00:00",
            "deal": world.deal.pk,
            "account": "",
        },
    )
    assert response.status_code == 302
    activity = Activity.objects.get(subject="Budget confirmed")
    assert (activity.author, activity.account) == (world.by, world.account)


def test_an_activity_on_nothing_is_a_form_error(admin_browser, world):
    response = admin_browser.post(
        url(Activity, "add"),
        {
            "kind": "note",
            "subject": "Orphan",
            "occurred_at_0": "2026-02-03",
            "occurred_at_1": "10:00:00",
        },
    )
    assert response.status_code == 200
    assert "belongs to a deal or an account" in errors_of(response)


def test_autocomplete_offers_no_deleted_accounts_or_deactivated_people(admin_browser, world):
    Account.objects.filter(pk=world.account.pk).update(deleted_at=timezone.now())
    User.objects.filter(pk=world.rep.pk).update(is_active=False)
    lookup = reverse("admin:autocomplete")

    def offered(field_name: str, term: str) -> list[str]:
        query = {
            "app_label": "pipeline",
            "model_name": "deal",
            "field_name": field_name,
            "term": term,
        }
        return [row["text"] for row in admin_browser.get(lookup, query).json()["results"]]

    assert offered("account", "Acme") == []
    assert offered("owner", "Riley") == []
    assert offered("owner", "Dana") == ["Dana Whitfield"]


def test_the_kind_of_a_stage_deals_moved_through_cannot_change(admin_browser, world):
    """No deal sits in Qualification any more, but one moved through it."""
    qualification = world.stages["Qualification"]
    assert not qualification.deals.exists()
    response = resubmit(admin_browser, url(Stage, "change", qualification.pk), kind="lost")
    assert response.status_code == 200
    assert "Deals sit in this stage or have moved through it" in errors_of(response)
    assert Stage.objects.get(pk=qualification.pk).kind == "open"


def test_a_stage_stays_in_its_pipeline_in_the_admin(admin_browser, world):
    other = Pipeline.objects.create(name="Renewals")
    proposal = world.stages["Proposal"]
    page = url(Stage, "change", proposal.pk)
    data = page_data(admin_browser.get(page))
    assert "pipeline" not in data
    data.update({"pipeline": other.pk, "name": "Proposal sent"})
    assert admin_browser.post(page, data).status_code == 302
    proposal.refresh_from_db()
    assert (proposal.pipeline, proposal.name) == (world.pipeline, "Proposal sent")


def test_a_used_stage_deleted_in_the_pipeline_inline_is_a_form_error(admin_browser, world):
    page = url(Pipeline, "change", world.pipeline.pk)
    data = page_data(admin_browser.get(page))
    qualification = world.stages["Qualification"]
    index = next(
        index
        for index in range(int(data["stages-TOTAL_FORMS"]))
        if data[f"stages-{index}-id"] == str(qualification.pk)
    )
    data[f"stages-{index}-DELETE"] = "on"
    response = admin_browser.post(page, data)
    assert response.status_code == 200
    assert Stage.objects.filter(pk=qualification.pk).exists()


def test_stage_edits_in_the_pipeline_inline_go_through_the_service(admin_browser, world):
    page = url(Pipeline, "change", world.pipeline.pk)
    data = page_data(admin_browser.get(page))
    won = world.stages["Won"]
    index = next(
        index
        for index in range(int(data["stages-TOTAL_FORMS"]))
        if data[f"stages-{index}-id"] == str(won.pk)
    )
    data[f"stages-{index}-name"] = "Signed"
    data[f"stages-{index}-rot_days"] = "14"
    assert admin_browser.post(page, data).status_code == 302
    won.refresh_from_db()
    assert (won.name, won.rot_days, won.kind) == ("Signed", 14, "won")


def test_rot_days_says_what_it_means(admin_browser, world):
    page = admin_browser.get(url(Stage, "change", world.stages["Proposal"].pk)).content.decode()
    assert "Stalled after (days)" in page
    assert "Stalled after N days in this stage" in page
    assert "Rot days" not in page
    listing = admin_browser.get(url(Stage, "changelist")).content.decode()
    assert "Stalled after (days)" in listing
    assert "Rot days" not in listing


def test_a_product_a_deal_includes_is_not_deleted(admin_browser, world):
    response = admin_browser.post(url(Product, "delete", world.product.pk), {"post": "yes"})
    assert "Deals include this product; deactivate it instead." in response.content.decode()
    assert Product.objects.filter(pk=world.product.pk).exists()


def test_an_unused_lost_reason_is_deleted_through_the_admin(admin_browser, world):
    response = admin_browser.post(url(LostReason, "delete", world.reason.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not LostReason.objects.filter(pk=world.reason.pk).exists()


def test_an_activity_is_corrected_and_deleted_through_the_admin(admin_browser, world):
    activity = Activity.objects.get(subject="Kick-off")
    response = resubmit(
        admin_browser, url(Activity, "change", activity.pk), subject="  Kick-off call "
    )
    assert response.status_code == 302
    assert Activity.objects.get(pk=activity.pk).subject == "Kick-off call"
    deleted = admin_browser.post(url(Activity, "delete", activity.pk), {"post": "yes"})
    assert deleted.status_code == 302
    assert not Activity.objects.filter(pk=activity.pk).exists()


def test_the_territory_reps_picker_lists_only_active_reps(admin_browser, world):
    gone = user_create(username="gone", password=None, role=Role.REP, full_name="Gone Rep")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    form = admin_browser.get(url(Territory, "add")).context["adminform"].form
    assert list(form.fields["reps"].queryset) == [world.rep]
    kept = admin_browser.get(url(Territory, "change", world.territory.pk)).context["adminform"].form
    assert list(kept.fields["reps"].queryset) == [world.rep]


def test_a_territory_is_added_with_its_reps_through_the_service(admin_browser, world):
    response = admin_browser.post(
        url(Territory, "add"),
        {
            "name": "Nordics",
            "parent": world.territory.parent.pk,
            "region": "North",
            "reps": [world.rep.pk],
        },
    )
    assert response.status_code == 302
    nordics = Territory.objects.get(name="Nordics")
    assert (nordics.parent, list(nordics.reps.all())) == (world.territory.parent, [world.rep])


def test_a_territory_with_territories_inside_is_not_deleted_in_the_admin(admin_browser, world):
    region = world.territory.parent
    response = admin_browser.post(url(Territory, "delete", region.pk), {"post": "yes"})
    assert "Move or delete the territories inside it first." in response.content.decode()
    assert Territory.objects.filter(pk=region.pk).exists()


def test_nobody_deactivates_themselves_in_the_admin(admin_browser, world):
    response = resubmit(admin_browser, url(User, "change", world.by.pk), is_active="")
    assert response.status_code == 200
    assert "You cannot deactivate yourself." in errors_of(response)
    assert User.objects.get(pk=world.by.pk).is_active


def test_nobody_deletes_themselves_in_the_admin(admin_browser, world):
    response = admin_browser.post(url(User, "delete", world.by.pk), {"post": "yes"})
    assert "You cannot delete yourself." in response.content.decode()
    assert User.objects.filter(pk=world.by.pk).exists()
    spare = user_create(username="spare", password=None, full_name="Spare Person")
    assert admin_browser.post(url(User, "delete", spare.pk), {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=spare.pk).exists()


def test_the_index_shows_what_sets_up_a_sales_team_and_not_the_plumbing(client, world):
    superuser = user_create(username="root", password=None, role=Role.ADMIN)
    User.objects.filter(pk=superuser.pk).update(is_superuser=True)
    client.force_login(superuser)
    index = client.get(reverse("admin:index"))
    models = {model["object_name"] for app in index.context["app_list"] for model in app["models"]}
    assert not models & {
        "Group",
        "TokenProxy",
        "CrontabSchedule",
        "SolarSchedule",
        "IntervalSchedule",
        "ClockedSchedule",
    }
    assert {"User", "Pipeline", "Territory", "Quota", "PeriodicTask"} <= models
    page = index.content.decode()
    for label in ("Groups", "Tokens", "Crontabs", "Solar events", "Intervals", "Clocked"):
        assert f">{label}<" not in page


def test_an_admin_pauses_a_standing_job(admin_browser, world):
    nightly = PeriodicTask.objects.create(
        name="nightly-snapshots",
        task="reports.nightly_snapshots",
        crontab=CrontabSchedule.objects.create(minute="0", hour="1"),
    )
    assert admin_browser.get(url(PeriodicTask, "changelist")).status_code == 200
    assert admin_browser.get(url(PeriodicTask, "add")).status_code == 403
    response = resubmit(admin_browser, url(PeriodicTask, "change", nightly.pk), enabled="")
    assert response.status_code == 302
    nightly.refresh_from_db()
    assert (nightly.enabled, nightly.task) == (False, "reports.nightly_snapshots")
