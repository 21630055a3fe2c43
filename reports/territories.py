"""The territory pages: the tree with its figures, and one territory with its rules and handover log.

Everyone reads the territories ``territories_visible_to`` gives them (admins
all, managers those they own or their team covers, reps their own); only
admins edit rules. An edit is never written straight away: the editor answers
with a preview of what would move (``realignment_plan``, the function the
realignment itself plans with), and its Apply button writes the rules and
starts the background realignment (``realignment_start``), whose progress the
page then polls.
"""

import dataclasses

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from pipeline.assignment import RuleSpec, TerritoryChange, realignment_plan
from pipeline.forms import TerritoryRuleForm, attach_service_errors
from pipeline.models import Account, RealignmentStatus, TerritoryRule
from pipeline.money import merge_unconverted, reporting_currency, unconverted_notice
from pipeline.selectors import (
    handovers_visible_to,
    realignments_visible_to,
    territory_rules_visible_to,
)
from pipeline.services.territories import realignment_start
from pipeline.tasks import realign_territories
from pipeline.views.common import paginate
from quotas.models import Territory
from quotas.selectors import territories_visible_to
from reports.runners.gap import GAP_PERIODS, gap_period
from reports.runners.territories import TerritoryTreeRunner
from salesmgr.models import User
from salesmgr.queue import task_publish
from salesmgr.values import parse_int

DEFAULT_SPAN = "quarter"
HANDOVERS_PER_PAGE = 25
MOVES_SHOWN = 20
# A refused rule answers 422 with the editor and its messages; the page tells HTMX to swap it in.
REFUSED = 422
REALIGNED_EVENT = "territory-realigned"
OPS = ("add", "edit", "delete")
QUEUE_DOWN = (
    "The rules are saved, but the task queue cannot be reached: the realignment waits "
    "as queued and moves nothing until it is run."
)


@login_required
@require_safe
def territory_tree(request: HttpRequest) -> HttpResponse:
    """Every territory the reader sees, as a tree, with owners, members, accounts, open pipeline,
    quota and attainment over this month, quarter or year."""
    span = request.GET.get("span")
    span = span if span in GAP_PERIODS else DEFAULT_SPAN
    today = timezone.localdate()
    tree = TerritoryTreeRunner(request.user, gap_period(span, today), today).run()
    context = {
        "tree": tree,
        "span": span,
        "spans": list(GAP_PERIODS.items()),
        "span_label": GAP_PERIODS[span],
        "reporting_currency": reporting_currency(),
    }
    return render(request, "reports/territories.html", context)


def _territory(request: HttpRequest, pk: int) -> Territory:
    return get_object_or_404(
        territories_visible_to(request.user).select_related("owner", "parent", "named_rep"), pk=pk
    )


def _rules(user: User, territory: Territory) -> list[TerritoryRule]:
    """The territory's rules in the order they are tried, each with its conditions in words (two queries)."""
    rules = list(
        territory_rules_visible_to(user)
        .filter(territory=territory)
        .prefetch_related(
            Prefetch("accounts", queryset=Account.objects.only("pk", "name").order_by("name"))
        )
        .order_by("priority", "pk")
    )
    for rule in rules:
        rule.conditions = rule_conditions(rule)
    return rules


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f"{low:,} to {high:,}"
    return f"at least {low:,}" if low is not None else f"at most {high:,}"


def rule_conditions(rule: TerritoryRule) -> list[str]:
    """A rule's conditions as short phrases, all of which must hold."""
    phrases = []
    for name, label in (
        ("countries", "Country"),
        ("regions", "Region"),
        ("industries", "Industry"),
        ("postcode_prefixes", "Postcode starts with"),
    ):
        values = getattr(rule, name)
        if values:
            phrases.append(f"{label}: {', '.join(values)}")
    if rule.employees_min is not None or rule.employees_max is not None:
        phrases.append(f"Employees: {_range(rule.employees_min, rule.employees_max)}")
    if rule.revenue_min is not None or rule.revenue_max is not None:
        phrases.append(f"Annual revenue: {_range(rule.revenue_min, rule.revenue_max)}")
    named = list(rule.accounts.all())
    if named:
        phrases.append("Named accounts: " + ", ".join(f"{a.name} (#{a.pk})" for a in named))
    return phrases


def _require_admin(user: User) -> None:
    if not user.is_admin:
        raise PermissionDenied("Only admins change territory rules.")


def _handover_page(request: HttpRequest, territory: Territory):
    handovers = (
        handovers_visible_to(request.user)
        .filter(Q(from_territory_id=territory.pk) | Q(to_territory_id=territory.pk))
        .select_related(
            "account", "deal", "from_owner", "to_owner", "by", "from_territory", "to_territory"
        )
        .order_by("-at", "-id")
    )
    return paginate(handovers, request, per_page=HANDOVERS_PER_PAGE)


def _page(
    request: HttpRequest,
    territory: Territory,
    *,
    editor: dict | None = None,
    job=None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    rules = _rules(user, territory)
    if editor is None and user.is_admin:
        editor = _editor_for_query(request, territory, rules)
    context = {
        "territory": territory,
        "members": list(territory.reps.order_by("full_name", "username")),
        "rules": rules,
        "editor": editor,
        "job": job,
        "handovers": _handover_page(request, territory),
        "can_edit": user.is_admin,
    }
    return render(request, "reports/territory_detail.html", context, status=status)


def _editor_for_query(request: HttpRequest, territory: Territory, rules: list) -> dict:
    """The editor the page opens with: a blank rule, or the rule named by ``?edit=``."""
    rule_id = parse_int(request.GET.get("edit"), positive=True)
    rule = next((rule for rule in rules if rule.pk == rule_id), None)
    if rule is None:
        return {"form": TerritoryRuleForm(), "op": "add", "rule": None}
    spec = RuleSpec.of(rule, [account.pk for account in rule.accounts.all()])
    form = TerritoryRuleForm(initial=TerritoryRuleForm.initial_of(spec))
    return {"form": form, "op": "edit", "rule": rule}


@login_required
@require_safe
def territory_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One territory: owner, members and rules; for admins the rules editor; the handover log."""
    territory = _territory(request, pk)
    job = None
    job_id = parse_int(request.GET.get("job"), positive=True)
    if job_id and request.user.is_admin:
        job = realignments_visible_to(request.user).filter(pk=job_id).first()
    return _page(request, territory, job=job)


@login_required
@require_safe
def territory_handovers(request: HttpRequest, pk: int) -> HttpResponse:
    """The territory's handover log alone, one page of it (the page reloads it after a realignment)."""
    territory = _territory(request, pk)
    context = {"territory": territory, "handovers": _handover_page(request, territory)}
    return render(request, "reports/_territory_handovers.html", context)


def _proposal(request: HttpRequest, territory: Territory) -> tuple[dict, TerritoryChange | None]:
    """The editor's state from the posted op, rule and fields, and the territory's whole proposed
    rule set when the input is valid (None when it is not)."""
    op = request.POST.get("op")
    if op not in OPS:
        raise Http404("No such edit.")
    rules = _rules(request.user, territory)
    rule = None
    if op != "add":
        rule_id = parse_int(request.POST.get("rule"), positive=True)
        rule = next((r for r in rules if r.pk == rule_id), None)
        if rule is None:
            raise Http404("No such rule in this territory.")
    saved = {r.pk: RuleSpec.of(r, [a.pk for a in r.accounts.all()]) for r in rules}
    if op == "delete":
        spec = saved[rule.pk]
        form = TerritoryRuleForm(initial=TerritoryRuleForm.initial_of(spec))
        proposed = [s for pk, s in saved.items() if pk != rule.pk]
    else:
        form = TerritoryRuleForm(request.POST)
        if not form.is_valid():
            return {"form": form, "op": op, "rule": rule}, None
        new = form.spec(territory_id=territory.pk)
        if op == "add":
            proposed = [*saved.values(), new]
        else:
            proposed = [new if pk == rule.pk else s for pk, s in saved.items()]
    # Applying recreates the rules in this order, so the preview tries them in it too.
    rules_in_order = tuple(dataclasses.replace(spec, rule_id=None) for spec in proposed)
    change = TerritoryChange(territory_id=territory.pk, rules=rules_in_order)
    return {"form": form, "op": op, "rule": rule}, change


def _editor_response(
    request: HttpRequest, territory: Territory, editor: dict, status: int = 200
) -> HttpResponse:
    if request.htmx:
        context = {"territory": territory, "editor": editor, "can_edit": True}
        return render(request, "reports/_territory_editor.html", context, status=status)
    return _page(request, territory, editor=editor, status=400 if status == REFUSED else status)


@login_required
@require_POST
def territory_rules_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What adding, changing or deleting a rule would move: accounts and open deals, from whom to whom,
    how many and their value. Writes nothing."""
    _require_admin(request.user)
    territory = _territory(request, pk)
    editor, change = _proposal(request, territory)
    if change is None:
        return _editor_response(request, territory, editor, status=REFUSED)
    editor["preview"] = preview_of(realignment_plan(changes=[change]))
    return _editor_response(request, territory, editor)


def preview_of(plan) -> dict:
    """A plan's moves grouped by from and to, with territories', people's and the first accounts'
    names (three queries)."""
    groups = plan.groups()
    territory_ids = {
        g[k] for g in groups for k in ("from_territory", "to_territory") if g[k] is not None
    }
    people_ids = {g[k] for g in groups for k in ("from_owner", "to_owner")}
    territories = dict(Territory.objects.filter(pk__in=territory_ids).values_list("pk", "name"))
    people = {user.pk: user.display_name for user in User.objects.filter(pk__in=people_ids)}
    for group in groups:
        for side in ("from", "to"):
            group[f"{side}_territory_name"] = territories.get(group[f"{side}_territory"])
            group[f"{side}_owner_name"] = people.get(group[f"{side}_owner"], "")
    shown = plan.moves[:MOVES_SHOWN]
    names = dict(
        Account.objects.filter(pk__in=[m.account_id for m in shown]).values_list("pk", "name")
    )
    moves = [
        {
            "account_id": move.account_id,
            "account": names.get(move.account_id, ""),
            "from_territory": territories.get(move.from_territory_id),
            "to_territory": territories.get(move.to_territory_id),
            "from_owner": people.get(move.from_owner_id, ""),
            "to_owner": people.get(move.to_owner_id, ""),
            "deals": move.deals,
            "value": move.value,
        }
        for move in shown
    ]
    return {
        "groups": groups,
        "moves": moves,
        "more": max(len(plan.moves) - MOVES_SHOWN, 0),
        "accounts": sum(g["accounts"] for g in groups),
        "deals": sum(g["deals"] for g in groups),
        "value": sum((g["value"] for g in groups), 0),
        "currency": reporting_currency(),
        "unconverted_notice": unconverted_notice(
            merge_unconverted(*(g["unconverted"] for g in groups))
        ),
    }


def _queue_realignment(job_id: int) -> str | None:
    return task_publish(realign_territories, args=[job_id], ignore_result=True)


@login_required
@require_POST
def territory_rules_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Write the previewed rule set and start the realignment in the background; the page then
    follows its progress."""
    _require_admin(request.user)
    territory = _territory(request, pk)
    editor, change = _proposal(request, territory)
    if change is None:
        return _editor_response(request, territory, editor, status=REFUSED)
    what = {"add": "added", "edit": "changed", "delete": "deleted"}[editor["op"]]
    queued: list[str | None] = []

    def run(job_id: int) -> str | None:  # the task id, or None when the queue is down
        queued.append(_queue_realignment(job_id))
        return queued[-1]

    try:
        job = realignment_start(
            by=request.user,
            changes=[change],
            reason=f"A rule of {territory.name} {what} by {request.user.display_name}",
            run=run,
        )
    except ValidationError as refused:
        attach_service_errors(editor["form"], refused)
        return _editor_response(request, territory, editor, status=REFUSED)
    if queued == [None]:
        messages.warning(request, QUEUE_DOWN)
    return redirect(f"{reverse('territory-detail', args=[territory.pk])}?job={job.pk}#realignment")


@login_required
@require_safe
def realignment_progress(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    """A realignment's progress; HTMX polls it every second until the job is done or failed."""
    _require_admin(request.user)
    territory = _territory(request, pk)
    job = get_object_or_404(realignments_visible_to(request.user), pk=job_id)
    response = render(
        request, "reports/_realignment_progress.html", {"territory": territory, "job": job}
    )
    if job.status == RealignmentStatus.DONE:
        response["HX-Trigger"] = REALIGNED_EVENT
    return response
