"""Browser pages of the pipeline (placeholders until the pages land)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from pipeline.selectors import accounts_visible_to, deals_visible_to


@login_required
def board(request):
    return render(request, "home.html", {"greeting": "Board"})


@login_required
def deal_list(request):
    return render(request, "home.html", {"greeting": "Deals"})


@login_required
def deal_detail(request, pk):
    get_object_or_404(deals_visible_to(request.user), pk=pk)
    return render(request, "home.html", {"greeting": "Deal"})


@login_required
def account_list(request):
    return render(request, "home.html", {"greeting": "Accounts"})


@login_required
def account_detail(request, pk):
    get_object_or_404(accounts_visible_to(request.user), pk=pk)
    return render(request, "home.html", {"greeting": "Account"})
