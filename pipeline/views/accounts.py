"""Accounts: the list, one account with its contacts, deals, activity and owner history,
the forms to add and edit accounts, and the account search."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.forms import ACCOUNT_CHOICES_SHOWN, AccountForm, ActivityForm, attach_service_errors
from pipeline.queries import open_deals_by_account, timeline
from pipeline.selectors import (
    account_owner_changes,
    accounts_visible_to,
    activities_visible_to,
    contacts_visible_to,
    deals_visible_to,
)
from pipeline.services import account_create, account_update
from pipeline.views.activities import activity_logged
from pipeline.views.common import paginate, query_without
from quotas.selectors import territories_visible_to
from salesmgr.errors import PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import may_act_for, team_with_self
from salesmgr.values import parse_int

CONTACTS_SHOWN = 100
DEALS_SHOWN = 50


@login_required
@require_GET
def account_list(request):
    user = request.user
    accounts = accounts_visible_to(user)
    search = request.GET.get("q", "").strip()
    if search:
        accounts = accounts.filter(
            Q(name__icontains=search) | Q(industry__icontains=search) | Q(region__icontains=search)
        )
    owner_id = parse_int(request.GET.get("owner"))
    if owner_id:
        accounts = accounts.filter(owner_id=owner_id)
    territory_id = parse_int(request.GET.get("territory"))
    if territory_id:
        accounts = accounts.filter(territory_id=territory_id)
    page = paginate(accounts.select_related("owner", "territory").order_by("name", "id"), request)
    summary = open_deals_by_account(deals_visible_to(user), [account.pk for account in page.rows])
    for account in page.rows:
        account.open_deals = summary.get(account.pk, {"count": 0, "values": []})
    people = User.objects.filter(is_active=True) if user.is_admin else team_with_self(user)
    context = {
        "page": page,
        "search": search,
        "owner_id": owner_id,
        "territory_id": territory_id,
        "owners": people.order_by("full_name", "username"),
        "territories": territories_visible_to(user).only("pk", "name"),
        "page_query": query_without(request, "page"),
    }
    return render(request, "pipeline/account_list.html", context)


def _account_for_page(request: HttpRequest, pk: int):
    return get_object_or_404(
        accounts_visible_to(request.user).select_related("owner", "territory"), pk=pk
    )


def account_page_context(
    request: HttpRequest, account, activity_form: ActivityForm | None = None
) -> dict:
    user = request.user
    return {
        "account": account,
        "contacts": list(contacts_visible_to(user).filter(account=account)[:CONTACTS_SHOWN]),
        "deals": list(
            deals_visible_to(user)
            .filter(account=account)
            .select_related("owner", "stage")
            .order_by(F("closed_at").desc(nulls_first=True), "expected_close_date", "id")[
                :DEALS_SHOWN
            ]
        ),
        "activities": timeline(activities_visible_to(user, account=account)),
        "activity_form": activity_form or ActivityForm(),
        "activity_url": reverse("account-activity", args=[account.pk]),
        "owner_changes": account_owner_changes(account),
        **_account_rights(user, account),
    }


def _account_rights(user: User, account) -> dict:
    """What ``user`` may do to the account; the three rules are the owner's rights, asked once."""
    may_change = may_act_for(actor=user, owner_id=account.owner_id)
    return {"may_edit": may_change, "may_add_contacts": may_change, "may_delete": may_change}


@login_required
@require_GET
def account_detail(request, pk: int):
    account = _account_for_page(request, pk)
    return render(request, "pipeline/account_detail.html", account_page_context(request, account))


@login_required
@require_POST
def account_activity(request, pk: int):
    """Log a note, call, email, meeting or visit on an account."""
    account = _account_for_page(request, pk)
    return activity_logged(
        request,
        deal=None,
        account=account,
        action_url=request.path,
        full_page=lambda form: render(
            request,
            "pipeline/account_detail.html",
            account_page_context(request, account, form),
            status=400,
        ),
        back=("account-detail", account.pk),
    )


@login_required
@require_GET
def account_options(request):
    """The account choices of the deal form narrowed by a search (HTMX)."""
    search = request.GET.get("account_search", "").strip()
    accounts = accounts_visible_to(request.user)
    if search:
        accounts = accounts.filter(name__icontains=search)
    shown = accounts.order_by("name", "id").values_list("pk", "name")[:ACCOUNT_CHOICES_SHOWN]
    return render(
        request,
        "pipeline/_account_options.html",
        {"accounts": shown, "selected": parse_int(request.GET.get("account"))},
    )


def _account_form_page(request: HttpRequest, form: AccountForm, account=None, status: int = 200):
    return render(
        request, "pipeline/account_form.html", {"form": form, "account": account}, status=status
    )


def _account_fields(form: AccountForm) -> dict:
    data = dict(form.cleaned_data)
    for text in ("industry", "region", "website"):
        data[text] = data[text] or ""
    return data


@login_required
@require_http_methods(["GET", "POST"])
def account_new(request):
    user = request.user
    form = AccountForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            account = account_create(by=user, **_account_fields(form))
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Account “{account.name}” added.")
            return redirect("account-detail", pk=account.pk)
    return _account_form_page(request, form, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request, pk: int):
    user = request.user
    account = _account_for_page(request, pk)
    if not may_act_for(actor=user, owner_id=account.owner_id):
        raise Forbidden("Only the account's owner, their manager or an admin may edit it.")
    form = AccountForm(request.POST or None, user=user, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            saved = account_update(account=account, by=user, **_account_fields(form))
        except ValidationError as error:
            attach_service_errors(form, error)
        except PermissionDenied as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Account “{saved.name}” saved.")
            return redirect("account-detail", pk=saved.pk)
    return _account_form_page(request, form, account, status=400 if form.errors else 200)
