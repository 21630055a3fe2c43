"""Contacts: the list, one contact with their deals and history, the forms to add and edit them,
and linking contacts to deals from either side."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.checks.contacts import contact_write_refusal
from pipeline.forms import ContactForm, DealContactForm, attach_service_errors
from pipeline.models import Deal
from pipeline.selectors import (
    account_owner_changes,
    accounts_visible_to,
    contact_deals_visible_to,
    contact_history,
    contacts_in_name_order,
    contacts_visible_to,
    deal_contacts_visible_to,
    deals_visible_to,
)
from pipeline.services import (
    contact_create,
    contact_delete,
    contact_update,
    deal_contact_link,
    deal_contact_unlink,
)
from pipeline.views.common import paginate, query_without
from salesmgr.errors import PermissionDenied
from salesmgr.selectors import may_act_for, owners_acted_for

CHOICES_SHOWN = 200
CONTACT_FIELD_LABELS = {
    "account": "Account",
    "first_name": "First name",
    "last_name": "Last name",
    "title": "Job title",
    "email": "Email",
    "phone": "Phone",
}


def _contact_for_page(request: HttpRequest, pk: int):
    return get_object_or_404(
        contacts_visible_to(request.user).select_related("account", "account__owner"), pk=pk
    )


def _deal_for_page(request: HttpRequest, pk: int) -> Deal:
    return get_object_or_404(deals_visible_to(request.user).select_related("owner"), pk=pk)


def _refuse_unless_may_write(request: HttpRequest, account) -> None:
    refusal = contact_write_refusal(by=request.user, account=account)
    if refusal:
        raise Forbidden(refusal)


@login_required
@require_GET
def contact_list(request):
    contacts = contacts_visible_to(request.user, reach_read=True)
    search = request.GET.get("q", "").strip()
    if search:
        contacts = contacts.filter(
            Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
            | Q(email__icontains=search)
            | Q(account__name__icontains=search)
        )
    page = paginate(
        contacts,
        request,
        read=lambda offset, limit, many: contacts_in_name_order(
            contacts, offset=offset, limit=limit, many=many
        ),
    )
    context = {"page": page, "search": search, "page_query": query_without(request, "page")}
    return render(request, "pipeline/contact_list.html", context)


def _contact_page_context(request: HttpRequest, contact) -> dict:
    user = request.user
    may_write = contact_write_refusal(by=user, account=contact.account) is None
    links = list(contact_deals_visible_to(user, contact))
    linkable = (
        deals_visible_to(user)
        .filter(account_id=contact.account_id)
        .exclude(pk__in=[link.deal_id for link in links])
        .order_by("name", "id")[:CHOICES_SHOWN]
    )
    acted_for = owners_acted_for(actor=user, owner_ids={link.deal.owner_id for link in links})
    for link in links:
        link.may_unlink = link.deal.owner_id in acted_for
    history = contact_history(contact)
    for entry in history:
        for change in entry["changes"]:
            change["label"] = CONTACT_FIELD_LABELS.get(change["field"], change["field"])
    return {
        "contact": contact,
        "links": links,
        "link_form": DealContactForm(deals=linkable),
        "history": history,
        "owner_changes": account_owner_changes(contact.account),
        "may_write": may_write,
    }


@login_required
@require_GET
def contact_detail(request, pk: int):
    contact = _contact_for_page(request, pk)
    return render(request, "pipeline/contact_detail.html", _contact_page_context(request, contact))


def _contact_fields(form: ContactForm) -> dict:
    return {name: value or "" for name, value in form.cleaned_data.items()}


@login_required
@require_http_methods(["GET", "POST"])
def contact_new(request, account_pk: int):
    account = get_object_or_404(accounts_visible_to(request.user), pk=account_pk)
    _refuse_unless_may_write(request, account)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = contact_create(by=request.user, account=account, **_contact_fields(form))
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, f"Contact “{contact}” added to {account.name}.")
            return redirect("contact-detail", pk=contact.pk)
    context = {"form": form, "account": account, "contact": None}
    return render(
        request, "pipeline/contact_form.html", context, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request, pk: int):
    contact = _contact_for_page(request, pk)
    _refuse_unless_may_write(request, contact.account)
    form = ContactForm(request.POST or None, contact=contact)
    if request.method == "POST" and form.is_valid():
        try:
            contact = contact_update(contact=contact, by=request.user, **_contact_fields(form))
        except ValidationError as error:
            attach_service_errors(form, error)
        else:
            messages.success(request, f"Contact “{contact}” saved.")
            return redirect("contact-detail", pk=contact.pk)
    context = {"form": form, "account": contact.account, "contact": contact}
    return render(
        request, "pipeline/contact_form.html", context, status=400 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_delete_view(request, pk: int):
    """Ask, then remove a contact for good (contacts have no recycle bin)."""
    contact = _contact_for_page(request, pk)
    _refuse_unless_may_write(request, contact.account)
    if request.method == "POST":
        contact_delete(contact=contact, by=request.user)
        messages.success(request, f"Contact “{contact}” deleted.")
        return redirect("account-detail", pk=contact.account_id)
    context = {
        "title": f"Delete {contact}?",
        "explanation": "The contact and their links to deals are removed for good; this cannot be undone.",
        "cancel_url": reverse("contact-detail", args=[contact.pk]),
        "breadcrumbs": [
            ("Accounts", reverse("account-list")),
            (contact.account.name, reverse("account-detail", args=[contact.account_id])),
        ],
    }
    return render(request, "pipeline/confirm_delete.html", context)


def _linked(request: HttpRequest, *, deal, contact, role: str) -> None:
    try:
        deal_contact_link(deal=deal, contact=contact, by=request.user, role=role)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"{contact} is linked to “{deal.name}”.")


@login_required
@require_POST
def contact_deal_link(request, pk: int):
    """Link the contact to one of the deals at their account (from the contact page)."""
    contact = _contact_for_page(request, pk)
    form = DealContactForm(request.POST, deals=deals_visible_to(request.user))
    if not form.is_valid():
        messages.error(request, "Choose a deal you can see, and the contact's role in it.")
        return redirect(reverse("contact-detail", args=[contact.pk]) + "#deals-heading")
    _linked(
        request, deal=form.cleaned_data["deal"], contact=contact, role=form.cleaned_data["role"]
    )
    return redirect("contact-detail", pk=contact.pk)


@login_required
@require_POST
def deal_contact_add(request, pk: int):
    """Link a contact to the deal (from the deal page)."""
    deal = _deal_for_page(request, pk)
    form = DealContactForm(request.POST, contacts=contacts_visible_to(request.user))
    if not form.is_valid():
        messages.error(request, "Choose a contact you can see, and their role in the deal.")
        return redirect(reverse("deal-detail", args=[deal.pk]) + "#contacts-heading")
    _linked(
        request, deal=deal, contact=form.cleaned_data["contact"], role=form.cleaned_data["role"]
    )
    return redirect(reverse("deal-detail", args=[deal.pk]) + "#contacts-heading")


@login_required
@require_POST
def deal_contact_remove(request, pk: int, contact_pk: int):
    """Take a contact off the deal; back to the page the button was on."""
    deal = _deal_for_page(request, pk)
    contact = get_object_or_404(contacts_visible_to(request.user), pk=contact_pk)
    try:
        deal_contact_unlink(deal=deal, contact=contact, by=request.user)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, f"{contact} is no longer linked to “{deal.name}”.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("deal-detail", args=[deal.pk])
    return redirect(back)


def deal_contacts_context(request: HttpRequest, deal) -> dict:
    """The deal page's contacts panel and delete button: who is linked, the form to link more.

    Changing the deal's contacts and deleting the deal are both the owner's rights, asked once.
    """
    user = request.user
    links = list(deal_contacts_visible_to(user, deal))
    may_change = may_act_for(actor=user, owner_id=deal.owner_id)
    candidates = (
        contacts_visible_to(user)
        .filter(account_id=deal.account_id)
        .exclude(pk__in=[link.contact_id for link in links])
        .order_by("last_name", "first_name", "id")[:CHOICES_SHOWN]
    )
    form, choices = None, []
    if may_change:
        # Read here, once: a model choice field would query while the template renders.
        choices = list(candidates)
        form = DealContactForm(contacts=candidates)
        field = form.fields["contact"]
        field.choices = [
            ("", field.empty_label),
            *((contact.pk, field.label_from_instance(contact)) for contact in choices),
        ]
    return {
        "contact_links": links,
        "contacts_may_change": may_change,
        "contact_link_form": form,
        "contact_choices": choices,
        "may_delete": may_change,
    }
