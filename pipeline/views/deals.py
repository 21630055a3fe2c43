"""The deal list (with its CSV export), the deal page, and the forms to open and edit deals."""

import csv
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline import services
from pipeline.filters import DealFilter
from pipeline.forms import ActivityForm, DealCreateForm, DealEditForm, attach_service_errors
from pipeline.models import ForecastCategory, Stage, StageKind
from pipeline.picker import picked, picker_options, scope_label
from pipeline.queries import (
    board_stages,
    deals_ahead_in_period,
    deals_in_period,
    deals_in_period_parts,
    export_rows,
    history_names,
    move_options_html,
    stage_stays,
    timeline,
)
from pipeline.selectors import (
    DealSort,
    activities_visible_to,
    deal_history,
    deal_ids_by_account,
    deal_ids_by_owner,
    deal_ids_by_stage,
    deal_list_page,
    deal_page_rows,
    deal_splits,
    deal_transitions,
    deals_listed_for,
    deals_visible_to,
    history_entries,
    lost_reasons_visible_to,
    stages_visible_to,
)
from pipeline.services import deal_create
from pipeline.views.activities import activity_logged
from pipeline.views.common import (
    PAGE_SIZE,
    Page,
    carried_along,
    page_number,
    paginate,
    query_without,
)
from pipeline.views.contacts import deal_contacts_context
from salesmgr.audit.models import AuditKind
from salesmgr.audit.services import audit_record
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.models import User
from salesmgr.selectors import team_with_self, users_visible_to

# What the table can be sorted by: a name in the query string -> the ordering it means.
SORTS = {
    "name": ("name", "id"),
    "account": ("account__name", "id"),
    "owner": ("owner__full_name", "owner__username", "id"),
    "stage": ("pipeline__name", "stage__order", "id"),
    "amount": ("amount", "id"),
    "close": ("expected_close_date", "id"),
    "created": ("created_at", "id"),
}
SORTABLE_COLUMNS = (
    ("name", "Deal"),
    ("account", "Account"),
    ("owner", "Owner"),
    ("stage", "Stage"),
    ("amount", "Amount"),
    ("close", "Expected close"),
)
# Unsorted, the table is a rep's to-do list: open deals soonest (or most overdue) close first,
# then what closed in the period, latest first (only closed deals have a closing time).
DEFAULT_ORDER = (
    F("closed_at").desc(nulls_first=True),
    "expected_close_date",
    "id",
)
# The same order as the deal's own columns, for the merged read (``deal_list_page``).
DEFAULT_KEYS = (("closed_at", True), ("expected_close_date", False), ("id", False))
# Sorts on the deal's own columns: read per owner from an index (see ``_merged_page``).
OWN_COLUMN_SORTS = frozenset({"name", "amount", "close", "created"})
# Ascending, these read each owner's open deals and those closed in the period apart (each
# part has an index to be read from: see ``deal_open_owner_created_idx``).
PARTS_SORTS = frozenset({"close", "created"})
LIST_FILTERS = (
    "stage",
    "status",
    "forecast_category",
    "close_after",
    "close_before",
    "amount_min",
    "amount_max",
)
# What the filter bar shows as its own fields; any other parameter (the sort) rides along hidden.
BAR_FIELDS = (*LIST_FILTERS, "q")
HISTORY_SHOWN = 100
EDIT_CONFLICT_MESSAGE = (
    "This deal was changed by someone else while you were editing it, so your changes were not saved. "
    "Its current values are listed below; check your changes and save again."
)


def _list_deals(request: HttpRequest, visible=None):
    """The deals the list (and its export) shows: the pick, the filters and the search, within reach."""
    pick = picked(request)
    if visible is None:
        visible = deals_visible_to(request.user)
    deals = deals_in_period(visible, scope=pick.scope, period=pick.period)
    filters = DealFilter(
        data={name: request.GET.get(name, "") for name in LIST_FILTERS}, queryset=deals
    )
    search = request.GET.get("q", "").strip()
    return pick, _searched(filters.qs, search), filters, search


def _searched(deals, search: str):
    if not search:
        return deals
    return deals.filter(Q(name__icontains=search) | Q(account__name__icontains=search))


def _list_parts(visible, pick, filters, search) -> list:
    """The list's deals as ``deals_in_period_parts`` splits them, each filtered and searched alike."""
    status = (filters.form.cleaned_data.get("status") or "") if filters.is_valid() else ""
    return [
        _searched(filters.filter_queryset(part), search)
        for part in deals_in_period_parts(
            visible, scope=pick.scope, period=pick.period, status=status
        )
    ]


def _sort(request: HttpRequest) -> tuple[str | None, bool]:
    """The column the table is sorted by and whether descending; no column means the default order."""
    raw = request.GET.get("sort", "")
    key = raw.removeprefix("-")
    if key not in SORTS:
        return None, False
    return key, raw.startswith("-")


def _ordering(sort: str | None, descending: bool) -> tuple:
    if sort is None:
        return DEFAULT_ORDER
    return tuple(f"-{field}" if descending else field for field in SORTS[sort])


def _headers(request: HttpRequest, sort: str | None, descending: bool) -> list[dict]:
    """The sortable headers; a sorted one links to the other direction, any other to ascending."""
    base_query = query_without(request, "sort", "page")
    headers = []
    for key, label in SORTABLE_COLUMNS:
        is_sorted = key == sort
        links_descending = is_sorted and not descending
        target = f"-{key}" if links_descending else key
        headers.append(
            {
                "key": key,
                "label": label,
                "sorted": is_sorted,
                "descending": is_sorted and descending,
                "links_descending": links_descending,
                "query": f"{base_query}&sort={target}" if base_query else f"sort={target}",
            }
        )
    return headers


def _merged_page(deals, owners, sort: str | None, descending: bool, request, parts, period) -> Page:
    """A page sorted on the deal's own columns: each owner's first rows from an (owner, sort, id)
    index, merged (``deal_list_page``), with a count exact up to a thousand and estimated beyond.

    Sorted by a key that runs from the oldest deals up (the close date or the creation,
    ascending), each owner's open deals and those closed in the period are read apart
    (``parts``): in one read the closed deals of every earlier period came first, each read and
    dropped (a second or two for a manager at 1,000,000 deals).

    In the default order the list is the front of the order over every live deal, so a deep page
    of a big reach may be found walking that (``front``)."""
    front = None
    if sort is None:
        order = DealSort(DEFAULT_KEYS)
        front = deals_ahead_in_period(period)
    else:
        order = DealSort(tuple((field, descending) for field in SORTS[sort]))

    def read(number: int):
        return deal_list_page(
            deals,
            owners=owners,
            sort=order,
            size=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
            live=True,
            parts=parts,
            front=front,
        )

    number = page_number(request)
    found = read(number)
    if not found.ids and number > 1 and found.count_exact:  # past the end: the last page
        number = max((found.count + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        found = read(number)
    return Page(
        rows=found.ids,
        number=number,
        per_page=PAGE_SIZE,
        count=found.count,
        count_capped=not found.count_exact,
        has_next=found.more,
        count_estimated=not found.count_exact,
    )


def _add_cells(rows: list[dict]) -> None:
    """What each row of the deals page shows beyond its values: its links, its forecast label,
    its amounts and close date formatted by the template filters the table used to apply
    (in the request's language), so that the template only places them."""
    forecast_names = dict(ForecastCategory.choices)
    for row in rows:
        row["href"] = reverse("deal-detail", args=[row["pk"]])
        row["account_href"] = reverse("account-detail", args=[row["account_id"]])
        row["forecast_label"] = forecast_names.get(
            row["forecast_category"], row["forecast_category"]
        )
        row["amount_text"] = floatformat(row["amount"], "2g")
        reported = row["amount_in_reporting_currency"]
        if row["currency"] == settings.REPORTING_CURRENCY or reported is None:
            row["reported_text"] = None  # not shown, or shown as a missing rate
        else:
            row["reported_text"] = floatformat(reported, "2g")
        row["close_iso"] = row["expected_close_date"].isoformat()  # the date filter's Y-m-d
        row["close_text"] = date_filter(row["expected_close_date"], "j M Y")


@login_required
@require_GET
def deal_list(request):
    visible, owners = deals_listed_for(request.user)
    pick, deals, filters, search = _list_deals(request, visible)
    sort, descending = _sort(request)
    if sort is None or sort in OWN_COLUMN_SORTS:
        parts = None
        if sort in PARTS_SORTS and not descending:
            parts = _list_parts(visible, pick, filters, search)
        page = _merged_page(deals, owners, sort, descending, request, parts, pick.period)
    elif sort == "owner":

        def read(offset: int, end: int, capped: bool) -> list[int]:
            return deal_ids_by_owner(
                deals, owners=owners, descending=descending, offset=offset, limit=end - offset
            )

        page = paginate(deals.values_list("pk", flat=True), request, read=read)
    elif sort == "stage":

        def read(offset: int, end: int, capped: bool) -> list[int]:
            return deal_ids_by_stage(
                deals, descending=descending, offset=offset, limit=end - offset
            )

        page = paginate(deals.values_list("pk", flat=True), request, read=read)
    else:  # by account

        def read(offset: int, end: int, capped: bool) -> list[int]:
            return deal_ids_by_account(
                deals, descending=descending, offset=offset, limit=end - offset, large=capped
            )

        page = paginate(deals.values_list("pk", flat=True), request, read=read)
    page.rows = deal_page_rows(page.rows)
    _add_cells(page.rows)
    options = picker_options(request, pick)
    context = {
        "page": page,
        "headers": _headers(request, sort, descending),
        "default_order": sort is None,
        "filters": filters,
        "search": search,
        "stages": stages_visible_to(request.user)
        .select_related("pipeline")
        .order_by("pipeline__name", "order"),
        "statuses": StageKind.choices,
        "forecast_categories": ForecastCategory.choices,
        "scope_label": scope_label(pick, options),
        "bar_hidden": carried_along(options, BAR_FIELDS),
        "page_query": query_without(request, "page"),
        "export_query": query_without(request, "page"),
        "reporting_currency": settings.REPORTING_CURRENCY,
        **options,
    }
    return render(request, "pipeline/deal_list.html", context)


class _Echo:
    """A file-like object whose write hands the line back, for streaming csv.writer output."""

    def write(self, value):
        return value


EXPORT_HEADER = [
    "ID",
    "Deal",
    "Account",
    "Owner username",
    "Owner",
    "Pipeline",
    "Stage",
    "Status",
    "Probability (%)",
    "Amount",
    "Currency",
    "Expected close date",
    "Forecast category",
    "Territory",
    "Lost reason",
    "Created at",
    "Closed at",
    "Updated at",
]


def export_header() -> list[str]:
    """The export's columns; the last one names the reporting currency its amounts are in."""
    return [*EXPORT_HEADER, f"Amount in {settings.REPORTING_CURRENCY}"]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if hasattr(value, "isoformat"):
        if hasattr(value, "tzinfo") and value.tzinfo is not None:
            value = timezone.localtime(value)
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _export_query(request: HttpRequest) -> str:
    return request.GET.urlencode()[:500]


@login_required
@require_GET
def deal_export(request):
    """The list as CSV with the table's filters and order, every row (not one page), from one query."""
    _, deals, _, _ = _list_deals(request)
    deals = deals.order_by(*_ordering(*_sort(request)))
    writer = csv.writer(_Echo())
    status_names = dict(StageKind.choices)
    forecast_names = dict(ForecastCategory.choices)

    def lines():
        yield writer.writerow(export_header())
        for row in export_rows(deals):
            row = list(row)
            row[7] = status_names.get(row[7], row[7])
            row[12] = forecast_names.get(row[12], row[12])
            yield writer.writerow([_cell(value) for value in row])

    stamp = timezone.localdate().isoformat()
    audit_record(
        AuditKind.EXPORT, request=request, what="deals", format="csv", query=_export_query(request)
    )
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deals-{stamp}.csv"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def deal_new(request):
    user = request.user
    if request.method == "POST":
        form = DealCreateForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                deal = deal_create(
                    by=user,
                    name=data["name"],
                    account=data["account"],
                    pipeline=data["pipeline"],
                    stage=data["stage"],
                    owner=data.get("owner") or user,
                    amount=data["amount"],
                    currency=data["currency"],
                    expected_close_date=data["expected_close_date"],
                    forecast_category=data["forecast_category"],
                )
            except ValidationError as error:
                attach_service_errors(form, error)
            except PermissionDenied as error:
                form.add_error("owner" if "owner" in form.fields else None, str(error))
            else:
                messages.success(request, f"Deal “{deal.name}” opened.")
                return redirect("deal-detail", pk=deal.pk)
    else:
        form = DealCreateForm(user=user, initial={"account": request.GET.get("account")})
    form.limit_account_choices(request.GET.get("account"))
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "pipeline/deal_form.html", {"form": form, "deal": None}, status=status)


def _deal_for_page(request: HttpRequest, pk: int):
    related = ("account", "account__territory", "owner", "pipeline", "stage", "lost_reason")
    return get_object_or_404(deals_visible_to(request.user).select_related(*related), pk=pk)


def _current_values(deal, form: DealEditForm) -> list[tuple[str, str]]:
    """Fields whose saved value differs from what was submitted, with the saved value, for the conflict notice."""
    shown = []
    for name in (
        "name",
        "account",
        "owner",
        "amount",
        "currency",
        "expected_close_date",
        "forecast_category",
    ):
        if name not in form.fields or name not in form.cleaned_data:
            continue
        mine = form.cleaned_data[name]
        theirs = getattr(deal, name)
        if mine != theirs:
            label = form.fields[name].label or name.replace("_", " ").capitalize()
            text = theirs.display_name if isinstance(theirs, User) else theirs
            if name == "forecast_category":
                text = deal.get_forecast_category_display()
            shown.append((label, str(text)))
    return shown


@login_required
@require_http_methods(["GET", "POST"])
def deal_edit(request, pk: int):
    user = request.user
    deal = _deal_for_page(request, pk)
    has_line_items = deal.line_items.exists()
    status = 200
    conflict = None
    if request.method == "POST":
        form = DealEditForm(request.POST, user=user, deal=deal, has_line_items=has_line_items)
        if form.is_valid():
            data = form.cleaned_data
            changes = {
                field: data[field]
                for field in (
                    "name",
                    "account",
                    "amount",
                    "currency",
                    "expected_close_date",
                    "forecast_category",
                )
                if not form.fields[field].disabled
            }
            try:
                saved = services.deal_edit(
                    deal=deal,
                    by=user,
                    expected_version=data["version"],
                    owner=data.get("owner"),
                    **changes,
                )
            except ConflictError:
                current = _deal_for_page(request, pk)
                conflict = _current_values(current, form)
                fresh = request.POST.copy()
                fresh["version"] = str(current.version)
                form = DealEditForm(fresh, user=user, deal=current, has_line_items=has_line_items)
                form.is_valid()
                deal = current
                status = 409
            except ValidationError as error:
                attach_service_errors(form, error)
            except PermissionDenied as error:
                form.add_error("owner" if "owner" in form.fields else None, str(error))
            else:
                messages.success(request, f"Deal “{saved.name}” saved.")
                return redirect("deal-detail", pk=deal.pk)
        if status == 200 and form.errors:
            status = 400
    else:
        form = DealEditForm(user=user, deal=deal, has_line_items=has_line_items)
    form.limit_account_choices(deal.account_id)
    context = {
        "form": form,
        "deal": deal,
        "conflict": conflict,
        "conflict_message": EDIT_CONFLICT_MESSAGE if conflict is not None else None,
    }
    return render(request, "pipeline/deal_form.html", context, status=status)


def _field_label(field: str) -> str:
    return {"expected_close_date": "Expected close date", "lost_reason": "Lost reason"}.get(
        field, field.replace("_", " ").capitalize()
    )


def _readable_history(deal, stages: list[Stage]) -> list[dict]:
    """Who changed what, newest first, with names instead of ids."""
    records = list(deal_history(deal)[: HISTORY_SHOWN + 1])
    truncated = len(records) > HISTORY_SHOWN
    entries = history_entries(records[::-1])
    if truncated:
        # The oldest record shown only serves as the base of the next one's changes.
        entries = entries[1:]
    ids = {"account": set(), "owner": set(), "lost_reason": set()}
    for entry in entries:
        for change in entry["changes"]:
            if change["field"] in ids:
                ids[change["field"]].update(v for v in (change["old"], change["new"]) if v)
    names = {
        **history_names(
            accounts=ids["account"], owners=ids["owner"], lost_reasons=ids["lost_reason"]
        ),
        "stage": {stage.pk: stage.name for stage in stages},
        "status": dict(StageKind.choices),
        "forecast_category": dict(ForecastCategory.choices),
    }
    for entry in entries:
        for change in entry["changes"]:
            labels = names.get(change["field"])
            if labels is not None:
                for side in ("old", "new"):
                    value = change[side]
                    if value is not None:
                        key = int(value) if value.isdigit() else value
                        change[side] = labels.get(key, value)
            change["label"] = _field_label(change["field"])
    return entries[::-1]


def deal_page_context(
    request: HttpRequest, deal, activity_form: ActivityForm | None = None
) -> dict:
    stages = board_stages(deal.pipeline)
    current = next(stage for stage in stages if stage.pk == deal.stage_id)
    return {
        "deal": deal,
        "move_options": move_options_html(stages, current),
        "lost_reasons": list(lost_reasons_visible_to(request.user).filter(is_active=True)),
        "line_items": list(deal.line_items.select_related("product")),
        "stays": stage_stays(list(deal_transitions(deal)), timezone.now()),
        "history": _readable_history(deal, stages),
        "activities": timeline(activities_visible_to(request.user, deal=deal)),
        "activity_form": activity_form or ActivityForm(),
        "activity_url": reverse("deal-activity", args=[deal.pk]),
        **deal_contacts_context(request, deal),
        **deal_splits_context(request, deal),
    }


@login_required
@require_GET
def deal_detail(request, pk: int):
    deal = _deal_for_page(request, pk)
    return render(request, "pipeline/deal_detail.html", deal_page_context(request, deal))


@login_required
@require_POST
def deal_activity(request, pk: int):
    """Log a note, call, email, meeting or visit on a deal (HTMX: answers the new timeline entry)."""
    deal = _deal_for_page(request, pk)
    return activity_logged(
        request,
        deal=deal,
        account=None,
        action_url=request.path,
        full_page=lambda form: render(
            request, "pipeline/deal_detail.html", deal_page_context(request, deal, form), status=400
        ),
        back=("deal-detail", deal.pk),
    )


SPLIT_ROWS = 4


def deal_splits_context(request: HttpRequest, deal) -> dict:
    """The deal page's split credit panel: the splits, and the form for the owner's manager or an admin."""
    splits = deal_splits(deal)
    user = request.user
    # The deal came through deals_visible_to: a manager who sees it acts for its owner.
    may_split = not user.is_rep
    if not may_split:
        return {"splits": splits, "may_split": False}
    people = (
        User.objects.filter(is_active=True)
        if user.is_admin
        else team_with_self(user).filter(is_active=True)
    )
    rows = [{"rep_id": s.rep_id, "share": s.share} for s in splits]
    rows += [{"rep_id": None, "share": None}] * max(SPLIT_ROWS - len(rows), 1)
    return {
        "splits": splits,
        "may_split": True,
        "split_people": list(people.order_by("full_name", "username")),
        "split_rows": rows,
    }


@login_required
@require_POST
def deal_splits_edit(request, pk: int):
    """Replace the deal's split credit from the deal page's form (rows of rep and share)."""
    deal = _deal_for_page(request, pk)
    back = reverse("deal-detail", args=[deal.pk]) + "#splits-heading"
    visible = users_visible_to(request.user)
    specs = []
    try:
        for rep_id, share in zip(
            request.POST.getlist("rep"), request.POST.getlist("share"), strict=False
        ):
            if not rep_id and not share.strip():
                continue
            rep = visible.filter(pk=int(rep_id)).first() if rep_id.isdigit() else None
            if rep is None:
                raise ValidationError({"splits": ["Choose a rep for every share."]})
            try:
                amount = Decimal(share.strip())
            except ArithmeticError:
                raise ValidationError({"splits": ["Each share is a number of percent."]}) from None
            specs.append(services.SplitSpec(rep=rep, share=amount))
        services.deal_splits_set(deal=deal, splits=specs, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    except PermissionDenied as error:
        raise Forbidden(str(error)) from error
    messages.success(request, "Split credit saved." if specs else "The owner takes all the credit.")
    return redirect(back)
