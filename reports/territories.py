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

from django import forms
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
from pipeline.checks.territories import territory_changes_errors
from pipeline.forms import PageForm, TerritoryRuleForm, attach_service_errors
from pipeline.models import Account, RealignmentStatus, TerritoryRule
from pipeline.money import merge_unconverted, reporting_currency, unconverted_notice
from pipeline.selectors import (
    handovers_visible_to,
    realignments_visible_to,
    territory_rules_visible_to,
)
from pipeline.services.territories import NOT_QUEUED, flat_errors, realignment_start
from pipeline.tasks import realign_territories
from pipeline.views.common import paginate
from quotas.models import Territory
from quotas.selectors import territories_visible_to
from reports.runners.gap import GAP_PERIODS, gap_period
from reports.runners.territories import TerritoryTreeRunner
from salesmgr.models import Role, User
from salesmgr.queue import task_publish
from salesmgr.selectors import users_visible_to
from salesmgr.values import parse_int

DEFAULT_SPAN = "quarter"
HANDOVERS_PER_PAGE = 25
MOVES_SHOWN = 20
# A refused rule answers 422 with the editor and its messages; the page tells HTMX to swap it in.
REFUSED = 422
REALIGNED_EVENT = "territory-realigned"
OPS = ("add", "edit", "delete")
QUEUE_DOWN = (
    "The {what} are saved, but the task queue cannot be reached: the realignment waits as "
    "queued and is queued again automatically once the queue answers."
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
    members_editor: dict | None = None,
    job=None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    rules = _rules(user, territory)
    if editor is None and user.is_admin:
        editor = _editor_for_query(request, territory, rules)
    members = list(territory.reps.order_by("full_name", "username"))
    if members_editor is None and user.is_admin:
        members_editor = {
            "form": _member_form(request, territory, member_ids=[m.pk for m in members])
        }
    context = {
        "territory": territory,
        "members": members,
        "rules": rules,
        "editor": editor,
        "members_editor": members_editor,
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


def _realignment_start(request: HttpRequest, *, changes, reason: str, what: str):
    """Write ``changes`` and queue their realignment. When the queue cannot take it the job says so
    (the sweeper queues it later), and so does a message on the page."""
    job = realignment_start(by=request.user, changes=changes, reason=reason, run=_queue_realignment)
    job.refresh_from_db(fields=["error"])
    if job.error == NOT_QUEUED:
        messages.warning(request, QUEUE_DOWN.format(what=what))
    return job


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
    try:
        job = _realignment_start(
            request,
            changes=[change],
            reason=f"A rule of {territory.name} {what} by {request.user.display_name}",
            what="rules",
        )
    except ValidationError as refused:
        attach_service_errors(editor["form"], refused)
        return _editor_response(request, territory, editor, status=REFUSED)
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


# The members editor: add a rep, remove one, or move one to another territory (two changes in one plan).

MEMBER_ACTIONS = (
    ("add", "Add a rep to this territory"),
    ("remove", "Remove a rep from this territory"),
    ("move", "Move a rep from this territory to another"),
)
NOT_A_MEMBER = "{name} is not a member of this territory."
ALREADY_A_MEMBER = "{name} is already a member of this territory."
MOVE_WHERE = "Choose the territory to move the rep to."
MOVE_HERE = "Choose another territory than this one."
NO_TERRITORY = "No territory {pk}."
NAMED_REP_LEAVING = (
    "{name} is the rep this territory names for new accounts: change its handover rule first."
)


class TerritoryMemberForm(PageForm):
    """One change to a territory's members; the reps and territories offered are the ones the admin sees.

    The choices are offered, not enforced here: a posted number that is not a
    rep, or no one at all, is refused by the service's own check, on its field.
    """

    action = forms.ChoiceField(label="What to do", choices=MEMBER_ACTIONS)
    rep = forms.IntegerField(label="Rep", min_value=1, widget=forms.Select)
    to_territory = forms.IntegerField(
        label="To territory",
        min_value=1,
        required=False,
        widget=forms.Select,
        help_text="Only when moving a rep.",
    )

    def __init__(self, *args, reps=(), territories=(), member_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        members = set(member_ids)
        self.member_ids = sorted(members)
        self.reps_offered = {rep.pk: rep for rep in reps}
        self.fields["rep"].widget.choices = [("", "Choose a rep")] + [
            (rep.pk, f"{rep.display_name}{' (member)' if rep.pk in members else ''}")
            for rep in reps
        ]
        self.fields["to_territory"].widget.choices = [("", "–")] + [
            (other.pk, other.name) for other in territories
        ]

    def clean(self):
        data = super().clean()
        if data.get("action") != "move":
            data["to_territory"] = None
        elif "to_territory" not in self.errors and not data.get("to_territory"):
            self.add_error("to_territory", MOVE_WHERE)
        return data


def _member_form(
    request: HttpRequest, territory: Territory, data=None, member_ids=None
) -> TerritoryMemberForm:
    """The members form, offering every rep and every other territory the admin sees (two queries,
    and one for the members unless given)."""
    reps = users_visible_to(request.user).filter(role=Role.REP, is_active=True)
    others = territories_visible_to(request.user).exclude(pk=territory.pk).only("pk", "name")
    return TerritoryMemberForm(
        data,
        reps=list(reps.order_by("full_name", "username")),
        territories=list(others.order_by("name", "pk")),
        member_ids=[m.pk for m in territory.reps.all()] if member_ids is None else member_ids,
    )


def _members_proposal(
    request: HttpRequest, territory: Territory
) -> tuple[dict, list[TerritoryChange] | None]:
    """The members editor's state, and the changes the posted action proposes when it is valid:
    this territory's members, and for a move the other territory's too."""
    form = _member_form(request, territory, request.POST)
    editor = {"form": form}
    if not form.is_valid():
        return editor, None
    action, rep_id = form.cleaned_data["action"], form.cleaned_data["rep"]
    members = form.member_ids
    offered = form.reps_offered.get(rep_id)
    name = offered.display_name if offered else _person_name(request.user, rep_id)
    if action == "add" and rep_id in members:
        form.add_error("rep", ALREADY_A_MEMBER.format(name=name))
    elif action != "add" and rep_id not in members:
        form.add_error("rep", NOT_A_MEMBER.format(name=name))
    elif action != "add" and rep_id == territory.named_rep_id:
        form.add_error("rep", NAMED_REP_LEAVING.format(name=name))
    target = None
    if action == "move":
        to_id = form.cleaned_data["to_territory"]
        target = territories_visible_to(request.user).filter(pk=to_id).first()
        if to_id == territory.pk:
            form.add_error("to_territory", MOVE_HERE)
        elif target is None:
            form.add_error("to_territory", NO_TERRITORY.format(pk=to_id))
    if form.errors:
        return editor, None
    if action == "add":
        changes = [TerritoryChange(territory.pk, member_ids=tuple(sorted({*members, rep_id})))]
        editor["summary"] = f"add {name} to {territory.name}"
    else:
        staying = tuple(member for member in members if member != rep_id)
        changes = [TerritoryChange(territory.pk, member_ids=staying)]
        editor["summary"] = f"remove {name} from {territory.name}"
        if target is not None:
            joined = {member.pk for member in target.reps.all()} | {rep_id}
            changes.append(TerritoryChange(target.pk, member_ids=tuple(sorted(joined))))
            editor["summary"] = f"move {name} from {territory.name} to {target.name}"
    errors = territory_changes_errors(changes)
    if errors:
        _attach_member_errors(form, flat_errors(errors))
        return editor, None
    return editor, changes


def _person_name(user: User, pk: int) -> str:
    person = users_visible_to(user).filter(pk=pk).first()
    return person.display_name if person is not None else f"Person {pk}"


def _attach_member_errors(form: TerritoryMemberForm, errors: dict[str, list[str]]) -> None:
    """The service's errors by change (``territories.<i>.<field>``) on the members form's fields:
    members on the rep, the second change's territory on the territory moved to."""
    for path, found in errors.items():
        _, index, name = (path.split(".", 2) + ["", ""])[:3]
        if name == "reps":
            form.add_error("rep", found)
        elif name == "territory" and index == "1":
            form.add_error("to_territory", found)
        else:
            form.add_error(None, found)


def _members_response(
    request: HttpRequest, territory: Territory, editor: dict, status: int = 200
) -> HttpResponse:
    if request.htmx:
        context = {"territory": territory, "members_editor": editor, "can_edit": True}
        return render(request, "reports/_territory_members.html", context, status=status)
    return _page(
        request, territory, members_editor=editor, status=400 if status == REFUSED else status
    )


@login_required
@require_POST
def territory_members_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What adding, removing or moving a rep would move: accounts and open deals, from whom to whom,
    how many and their value. Writes nothing."""
    _require_admin(request.user)
    territory = _territory(request, pk)
    editor, changes = _members_proposal(request, territory)
    if changes is None:
        return _members_response(request, territory, editor, status=REFUSED)
    editor["preview"] = preview_of(realignment_plan(changes=changes))
    return _members_response(request, territory, editor)


@login_required
@require_POST
def territory_members_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Write the previewed members and start the realignment in the background; the page then
    follows its progress."""
    _require_admin(request.user)
    territory = _territory(request, pk)
    editor, changes = _members_proposal(request, territory)
    if changes is None:
        return _members_response(request, territory, editor, status=REFUSED)
    summary = editor["summary"]
    try:
        job = _realignment_start(
            request,
            changes=changes,
            reason=f"{summary[0].upper()}{summary[1:]}, by {request.user.display_name}",
            what="members",
        )
    except ValidationError as refused:
        _attach_member_errors(editor["form"], refused.message_dict)
        return _members_response(request, territory, editor, status=REFUSED)
    return redirect(f"{reverse('territory-detail', args=[territory.pk])}?job={job.pk}#realignment")
