"""The ride-along form: it parses input and offers choices within reach; the services decide.

The account, deal and visit choices depend on the rep and account chosen, so
the form is built from what was chosen so far (the page reloads those fields
when a choice changes).
"""

from django import forms
from django.db.models import Q
from django.utils import timezone

from coaching.ride_along_checks import NOTE_MAX, OBSERVATIONS_MAX, ScoreLine
from coaching.ride_alongs import client_visits_of, ride_along_subjects_for
from coaching.skills import SCORE_MAX, SCORE_MIN, Skill
from pipeline.models import Account, Activity, Deal
from pipeline.selectors import accounts_visible_to, deals_visible_to
from salesmgr.models import User
from salesmgr.values import parse_int

NEW_VISIT = ""
SCORES = [(str(n), str(n)) for n in range(SCORE_MIN, SCORE_MAX + 1)]
# Few enough that the choice stays a plain select: a rep's accounts and an account's deals.
CHOICES_MAX = 200


def _chosen(data, initial, name: str) -> int | None:
    source = data if data is not None else initial
    value = source.get(name) if source else None
    if isinstance(value, int):
        return value
    return parse_int(str(value), positive=True) if value not in (None, "") else None


class RideAlongForm(forms.Form):
    rep = forms.ModelChoiceField(queryset=User.objects.none(), label="Rep")
    visited_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Day")
    account = forms.ModelChoiceField(
        queryset=Account.objects.none(),
        label="Account",
        help_text="The rep's accounts (choose the rep first).",
    )
    deal = forms.ModelChoiceField(
        queryset=Deal.objects.none(), required=False, label="Deal", empty_label="No deal"
    )
    activity = forms.ChoiceField(
        required=False,
        label="Client visit",
        help_text="The rep's visit at this account, or log a new one on its timeline.",
    )
    observations = forms.CharField(
        required=False,
        max_length=OBSERVATIONS_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Observations",
    )

    def __init__(
        self, *args, by: User, refresh_url: str = "", fixed_rep: User | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.by = by
        self.fields["rep"].queryset = ride_along_subjects_for(by).order_by("full_name", "username")
        self.fields["rep"].label_from_instance = lambda user: user.display_name
        if fixed_rep is not None:
            # A ride-along's people stay: its rep is shown, not chosen.
            self.fields["rep"].queryset = User.objects.filter(pk=fixed_rep.pk)
            self.fields["rep"].initial = fixed_rep.pk
            self.fields["rep"].disabled = True
            rep_id = fixed_rep.pk
        else:
            rep_id = _chosen(self.data or None, self.initial, "rep")
        if refresh_url:
            # A changed choice reloads the choices that follow it (the same page, its fields swapped in).
            reload = {
                "hx-get": refresh_url,
                "hx-include": "closest form",
                "hx-target": "#ride-visit-fields",
                "hx-select": "#ride-visit-fields",
                "hx-swap": "outerHTML",
            }
            for name in ("rep", "account", "deal"):
                if not self.fields[name].disabled:
                    self.fields[name].widget.attrs.update(reload)
        account_id = _chosen(self.data or None, self.initial, "account")
        deal_id = _chosen(self.data or None, self.initial, "deal")
        if rep_id is not None:
            self.fields["account"].queryset = (
                accounts_visible_to(by)
                .filter(Q(owner_id=rep_id) | Q(deals__owner_id=rep_id, deals__deleted_at=None))
                .distinct()
                .order_by("name", "id")
            )
        visits: list[Activity] = []
        if account_id is not None:
            self.fields["deal"].queryset = deals_visible_to(by).filter(account_id=account_id)
            self.fields["deal"].label_from_instance = lambda deal: deal.name
            if rep_id is not None:
                visits = list(
                    client_visits_of(
                        by=by, rep_id=rep_id, account_id=account_id, deal_id=deal_id
                    ).select_related("deal")[:CHOICES_MAX]
                )
        self.fields["activity"].choices = [(NEW_VISIT, "Log a new visit")] + [
            (str(visit.pk), _visit_label(visit)) for visit in visits
        ]
        for skill, label in Skill.choices:
            self.fields[f"score_{skill}"] = forms.TypedChoiceField(
                choices=SCORES, coerce=int, required=False, label=label, widget=forms.RadioSelect
            )
            self.fields[f"note_{skill}"] = forms.CharField(
                required=False, max_length=NOTE_MAX, label=f"Note on {label.lower()}"
            )

    def clean(self):
        data = super().clean()
        for skill, label in Skill.choices:
            if data.get(f"note_{skill}") and data.get(f"score_{skill}") in (None, ""):
                self.add_error(f"score_{skill}", f"Score {label.lower()} to keep its note.")
        return data

    def skill_rows(self) -> list[dict]:
        """Each skill's radio group and note, for the template's fieldsets."""
        return [
            {
                "skill": skill,
                "label": label,
                "score": self[f"score_{skill}"],
                "note": self[f"note_{skill}"],
            }
            for skill, label in Skill.choices
        ]

    def scores(self) -> list[ScoreLine]:
        """The scored skills; a skill without a score is left off the scorecard."""
        data = self.cleaned_data
        return [
            ScoreLine(skill=skill, score=data[f"score_{skill}"], note=data[f"note_{skill}"])
            for skill in Skill.values
            if data.get(f"score_{skill}") not in (None, "")
        ]

    def activity_chosen(self) -> Activity | None:
        value = self.cleaned_data.get("activity")
        if not value:
            return None
        return Activity.objects.filter(pk=int(value)).first()


def _visit_label(visit: Activity) -> str:
    deal = visit.shown_deal  # a deal since given outside the reader's scope goes unnamed
    on = f" ({deal.name})" if deal is not None else ""
    return f"{timezone.localtime(visit.occurred_at):%d %b %Y}: {visit.subject}{on}"
