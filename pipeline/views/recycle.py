"""Deleting deals and accounts from their pages, and the recycle bin that brings them back."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.checks.recycle import delete_refusal, restore_refusal
from pipeline.models import DELETED_KEPT_FOR
from pipeline.selectors import (
    accounts_visible_to,
    deals_visible_to,
    deleted_accounts_visible_to,
    deleted_deals_visible_to,
)
from pipeline.services import account_delete, account_restore, deal_delete, deal_restore
from salesmgr.models import User

BIN_SHOWN = 200
KEPT_DAYS = DELETED_KEPT_FOR.days


def _refuse_unless_may_delete(request: HttpRequest, owner_id: int) -> None:
    refusal = delete_refusal(by=request.user, owner_id=owner_id)
    if refusal:
        raise Forbidden(refusal)


def _refuse_unless_may_restore(request: HttpRequest) -> None:
    refusal = restore_refusal(by=request.user)
    if refusal:
        raise Forbidden(refusal)


def _confirm(
    request: HttpRequest, *, title: str, explanation: str, cancel_url: str, breadcrumbs, error=""
):
    context = {
        "title": title,
        "explanation": explanation,
        "cancel_url": cancel_url,
        "breadcrumbs": breadcrumbs,
        "error": error,
    }
    return render(request, "pipeline/confirm_delete.html", context, status=400 if error else 200)


def _restorable_note() -> str:
    return f"An admin can restore it from the recycle bin (under Accounts) for {KEPT_DAYS} days."


@login_required
@require_http_methods(["GET", "POST"])
def deal_delete_view(request, pk: int):
    deal = get_object_or_404(deals_visible_to(request.user), pk=pk)
    _refuse_unless_may_delete(request, deal.owner_id)
    if request.method == "POST":
        deal_delete(deal=deal, by=request.user)
        messages.success(request, f"Deal “{deal.name}” deleted. {_restorable_note()}")
        return redirect("deal-list")
    return _confirm(
        request,
        title=f"Delete the deal “{deal.name}”?",
        explanation=f"It leaves the board, the lists and the figures. {_restorable_note()}",
        cancel_url=reverse("deal-detail", args=[deal.pk]),
        breadcrumbs=[("Deals", reverse("deal-list"))],
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request, pk: int):
    account = get_object_or_404(accounts_visible_to(request.user), pk=pk)
    _refuse_unless_may_delete(request, account.owner_id)
    error = ""
    if request.method == "POST":
        try:
            account_delete(account=account, by=request.user)
        except ValidationError as refused:
            error = " ".join(refused.messages)
        else:
            messages.success(request, f"Account “{account.name}” deleted. {_restorable_note()}")
            return redirect("account-list")
    return _confirm(
        request,
        title=f"Delete the account “{account.name}”?",
        explanation=f"It leaves the lists, with its contacts. {_restorable_note()}",
        cancel_url=reverse("account-detail", args=[account.pk]),
        breadcrumbs=[("Accounts", reverse("account-list"))],
        error=error,
    )


@login_required
@require_GET
def recycle_bin(request):
    """Deals and accounts deleted in the last ``KEPT_DAYS`` days, for those who may restore them."""
    _refuse_unless_may_restore(request)
    now = timezone.now()
    deals = list(
        deleted_deals_visible_to(request.user, now=now).select_related("account", "owner", "stage")[
            :BIN_SHOWN
        ]
    )
    accounts = list(
        deleted_accounts_visible_to(request.user, now=now).select_related("owner")[:BIN_SHOWN]
    )
    deleters = {row.deleted_by_id for row in [*deals, *accounts]} - {None}
    names = {person.pk: person.display_name for person in User.objects.filter(pk__in=deleters)}
    for row in [*deals, *accounts]:
        row.deleted_by_name = names.get(row.deleted_by_id)
        row.purged_on = row.deleted_at + DELETED_KEPT_FOR
    context = {"deals": deals, "accounts": accounts, "kept_days": KEPT_DAYS, "shown": BIN_SHOWN}
    return render(request, "pipeline/recycle_bin.html", context)


@login_required
@require_POST
def deal_restore_view(request, pk: int):
    _refuse_unless_may_restore(request)
    deal = get_object_or_404(deleted_deals_visible_to(request.user, now=timezone.now()), pk=pk)
    try:
        deal_restore(deal=deal, by=request.user)
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
        return redirect("recycle-bin")
    messages.success(request, f"Deal “{deal.name}” restored.")
    return redirect("deal-detail", pk=deal.pk)


@login_required
@require_POST
def account_restore_view(request, pk: int):
    _refuse_unless_may_restore(request)
    account = get_object_or_404(
        deleted_accounts_visible_to(request.user, now=timezone.now()), pk=pk
    )
    account_restore(account=account, by=request.user)
    messages.success(request, f"Account “{account.name}” restored.")
    return redirect("account-detail", pk=account.pk)
