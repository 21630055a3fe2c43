"""Accounts: the list, one account with its contacts, deals and activity, and the account search."""

from django.contrib.auth.decorators import login_required
from django.db.models import F, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from pipeline.forms import ACCOUNT_CHOICES_SHOWN, ActivityForm
from pipeline.queries import open_deals_by_account, timeline
from pipeline.selectors import (
    accounts_visible_to,
    activities_visible_to,
    contacts_visible_to,
    deals_visible_to,
)
from pipeline.views.activities import activity_logged
from pipeline.views.common import paginate, query_without
from quotas.selectors import territories_visible_to
from salesmgr.models import User
from salesmgr.selectors import team_with_self
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
        "activities": timeline(activities_visible_to(user).filter(account=account)),
        "activity_form": activity_form or ActivityForm(),
        "activity_url": reverse("account-activity", args=[account.pk]),
    }


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
