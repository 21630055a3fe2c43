"""The board: one pipeline's deals as columns of cards, and moving them between stages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from pipeline.filters import DealFilter
from pipeline.forms import MoveForm
from pipeline.models import Pipeline, Stage, StageKind
from pipeline.picker import Pick, picked, picker_options
from pipeline.queries import (
    board_card,
    board_cards,
    board_deals,
    board_stages,
    card_deal,
    column_totals,
    move_options_html,
)
from pipeline.scopes import Scope
from pipeline.selectors import deals_visible_to, lost_reasons_visible_to, pipelines_visible_to
from pipeline.services import deal_move
from pipeline.views.common import carried_along, query_without, wants_json
from salesmgr.errors import ConflictError, PermissionDenied
from salesmgr.values import parse_int

# A column opens with its soonest-closing cards; "Load more" brings the next ones in larger pages.
FIRST_CARDS = 10
MORE_CARDS = 50
BOARD_FILTERS = ("close_after", "close_before")
# What the filter bar shows as its own fields; any other parameter rides along hidden.
BAR_FIELDS = ("pipeline", *BOARD_FILTERS)
CONFLICT_MESSAGE = "This deal was changed by someone else — reloaded."
LOST_REASON_MESSAGE = "Say why the deal was lost."
SESSION_PIPELINE = "board_pipeline"


def _board_pipeline(request: HttpRequest, pick: Pick, pipelines: list[Pipeline]) -> Pipeline | None:
    """The pipeline asked for, else the picked one, else the last one shown, else the first active one."""
    by_id = {p.pk: p for p in pipelines}
    wanted = [parse_int(request.GET.get("pipeline"))]
    if pick.kind == "pipeline":
        wanted.append(pick.id)
    wanted.append(request.session.get(SESSION_PIPELINE))
    for pipeline_id in wanted:
        if pipeline_id in by_id:
            chosen = by_id[pipeline_id]
            break
    else:
        chosen = next((p for p in pipelines if p.is_active), None)
    if chosen is not None and request.session.get(SESSION_PIPELINE) != chosen.pk:
        request.session[SESSION_PIPELINE] = chosen.pk
    return chosen


def _board_scope(pick: Pick) -> Scope:
    # The board shows one pipeline already: a pipeline pick is that choice, not a second filter.
    if pick.kind == "pipeline":
        return Scope()
    return pick.scope


def _board_deals(request: HttpRequest, pick: Pick, pipeline: Pipeline):
    """The board's deals with its close-date filters, before the period, and the date form."""
    deals = board_deals(request.user, pipeline=pipeline, scope=_board_scope(pick))
    dates = DealFilter(
        data={name: request.GET.get(name, "") for name in BOARD_FILTERS}, queryset=deals
    )
    return dates.qs, dates.form


def _column(stage: Stage, totals: dict) -> dict:
    column = totals.get(stage.pk) or {"count": 0, "values": []}
    return {"stage": stage, "count": column["count"], "values": column["values"]}


def _card_extras(request: HttpRequest) -> dict:
    """What every card's "Move" form shares: the CSRF field (one token for the page) and the way back."""
    return {
        "csrf_input": format_html(
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
        ),
        "next_url": _board_url(request),
    }


@login_required
@require_GET
def board(request):
    pick = picked(request)
    pipelines = list(pipelines_visible_to(request.user).filter(is_active=True))
    pipeline = _board_pipeline(request, pick, pipelines)
    options = picker_options(request, pick)
    context = {
        "pipelines": pipelines,
        "pipeline": pipeline,
        "picked": pick,
        "filter_query": query_without(request, "offset", "page"),
        "next_url": request.get_full_path(),
        **options,
        "bar_hidden": carried_along(options, BAR_FIELDS),
    }
    if pipeline is not None:
        stages = board_stages(pipeline)
        deals, date_form = _board_deals(request, pick, pipeline)
        totals = column_totals(deals, stages=stages, period=pick.period)
        pages = board_cards(deals, stages=stages, period=pick.period, offset=0, limit=FIRST_CARDS)
        columns = []
        for stage in stages:
            column = _column(stage, totals)
            column["cards"], column["has_more"] = pages[stage.pk]
            column["next_offset"] = FIRST_CARDS
            column["move_options"] = move_options_html(stages, stage)
            columns.append(column)
        context |= {
            **_card_extras(request),
            "stages": stages,
            "columns": columns,
            "date_form": date_form,
            "lost_reasons": list(lost_reasons_visible_to(request.user).filter(is_active=True)),
        }
    return render(request, "pipeline/board.html", context)


@login_required
@require_GET
def board_column(request, stage_id: int):
    """More cards of one column ("Load more"), with the board's filters.

    HTMX gets the cards to append; a browser without script gets them as a page of their own.
    """
    stage = get_object_or_404(Stage.objects.select_related("pipeline"), pk=stage_id)
    pick = picked(request)
    deals, _ = _board_deals(request, pick, stage.pipeline)
    offset = max(parse_int(request.GET.get("offset")) or 0, 0)
    stages = board_stages(stage.pipeline)
    stage = next(s for s in stages if s.pk == stage.pk)
    cards, has_more = board_cards(
        deals, stages=[stage], period=pick.period, offset=offset, limit=MORE_CARDS
    )[stage.pk]
    context = {
        **_card_extras(request),
        "column": {
            "stage": stage,
            "cards": cards,
            "has_more": has_more,
            "next_offset": offset + MORE_CARDS,
            "move_options": move_options_html(stages, stage),
        },
        "filter_query": query_without(request, "offset", "page"),
        "first_new": True,
    }
    if not request.htmx:
        context |= {"board_url": _board_url(request), "first_index": offset + 1}
        return render(request, "pipeline/board_column.html", context)
    return render(request, "pipeline/_column_cards.html", context)


def _board_url(request: HttpRequest) -> str:
    """The board with the filters this request carries, for the cards' no-script "Move" forms."""
    query = query_without(request, "offset", "page")
    return f"{reverse('board')}?{query}" if query else reverse("board")


def _card_html(request: HttpRequest, deal, stages: list[Stage]) -> str:
    stage = next(s for s in stages if s.pk == deal.stage_id)
    context = {
        **_card_extras(request),
        "card": board_card(deal, stages),
        "move_options": move_options_html(stages, stage),
    }
    return render_to_string("pipeline/_card.html", context, request=request)


def _headers(request: HttpRequest, stages: list[Stage]) -> dict:
    """The board's column headers after a change, with the board's filters from the move URL."""
    pick = picked(request)
    deals, _ = _board_deals(request, pick, stages[0].pipeline)
    totals = column_totals(deals, stages=stages, period=pick.period)
    return {
        stage.pk: render_to_string("pipeline/_column_meta.html", {"column": _column(stage, totals)})
        for stage in stages
    }


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("board")
    return redirect(target)


def _refused(request: HttpRequest, message: str, status: int, **extra) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"ok": False, "message": message, **extra}, status=status)
    messages.error(request, message)
    return _back(request)


@login_required
@require_POST
def deal_move_view(request, pk: int):
    """Move a deal to another stage with the version the page showed; answers JSON to the board's script.

    A stale version answers 409 with the deal as it is now; a lost stage
    without a reason answers 400 asking for one (a page with the question
    when the browser runs no script).
    """
    visible = deals_visible_to(request.user)
    deal = card_deal(visible, pk)
    if deal is None:
        raise Http404("No such deal.")
    stages = board_stages(deal.pipeline)
    form = MoveForm(request.POST, deal=deal)
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        return _refused(request, first, 400, errors=form.errors.get_json_data())
    to_stage = form.cleaned_data["stage"]
    lost_reason = form.cleaned_data["lost_reason"]
    if to_stage.kind == StageKind.LOST and lost_reason is None:
        if wants_json(request):
            return JsonResponse(
                {"ok": False, "needs_lost_reason": True, "message": LOST_REASON_MESSAGE}, status=400
            )
        return render(
            request,
            "pipeline/lost_reason.html",
            {
                "deal": deal,
                "stage": to_stage,
                "version": form.cleaned_data["version"],
                "lost_reasons": lost_reasons_visible_to(request.user).filter(is_active=True),
                "next": request.POST.get("next", ""),
            },
        )
    try:
        moved = deal_move(
            deal=deal,
            to_stage=to_stage,
            by=request.user,
            expected_version=form.cleaned_data["version"],
            lost_reason=lost_reason,
        )
    except ConflictError:
        current = card_deal(visible, pk)
        return _refused(
            request,
            CONFLICT_MESSAGE,
            409,
            conflict=True,
            stage=current.stage_id,
            card=_card_html(request, current, stages),
            columns=_headers(request, stages),
        )
    except ValidationError as error:
        return _refused(request, " ".join(error.messages), 400)
    except PermissionDenied as error:
        return _refused(request, str(error), 403)

    message = f"Moved “{deal.name}” to {to_stage.name}."
    if not wants_json(request):
        messages.success(request, message)
        return _back(request)
    moved = card_deal(visible, pk)
    return JsonResponse(
        {
            "ok": True,
            "message": message,
            "stage": moved.stage_id,
            "version": moved.version,
            "card": _card_html(request, moved, stages),
            "columns": _headers(request, stages),
        }
    )
