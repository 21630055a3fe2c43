"""The forms of the coaching-session pages: they parse input; the services decide."""

from django import forms

from coaching.checks import TEXT_MAX
from coaching.models import CoachingSession, SessionFocus, SessionStatus
from coaching.skills import Skill
from pipeline.models import Stage
from salesmgr.models import User

DATE = forms.DateInput(attrs={"type": "date"})
GROW_LABELS = {
    "goal": ("Goal", "What the rep wants to be able to do, and by when."),
    "reality": (
        "Reality",
        "Where things stand; the rep's insight figures are kept with the session.",
    ),
    "options": ("Options", "The ways to get there you talked through."),
    "will": ("Will", "What the rep will do; add each commitment as an action item."),
}


def _grow(name: str) -> forms.CharField:
    label, help_text = GROW_LABELS[name]
    return forms.CharField(
        required=False, label=label, help_text=help_text, widget=forms.Textarea(attrs={"rows": 3})
    )


def _stage_label(stage: Stage) -> str:
    return f"{stage.name} ({stage.pipeline.name})"


class SessionForm(forms.Form):
    rep = forms.ModelChoiceField(queryset=User.objects.none(), label="Rep")
    scheduled_on = forms.DateField(widget=DATE, label="Day of the session")
    focus = forms.ChoiceField(choices=SessionFocus.choices, label="Coach on")
    skill = forms.ChoiceField(choices=[("", "—"), *Skill.choices], required=False, label="Skill")
    stage = forms.ModelChoiceField(queryset=Stage.objects.none(), required=False, label="Stage")
    deal = forms.ModelChoiceField(queryset=None, required=False, label="Deal")
    follow_up_on = forms.DateField(widget=DATE, required=False, label="Follow-up on")
    goal = _grow("goal")
    reality = _grow("reality")
    options = _grow("options")
    will = _grow("will")

    def __init__(self, *args, reps, stages, deals, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = reps
        self.fields["rep"].label_from_instance = lambda user: user.display_name
        self.fields["stage"].queryset = stages
        self.fields["stage"].label_from_instance = _stage_label
        self.fields["deal"].queryset = deals
        self.fields["deal"].label_from_instance = lambda deal: (
            f"{deal.name} ({deal.owner.display_name})"
        )


class SessionEditForm(forms.Form):
    """The GROW notes and the follow-up of a session, edited on its page."""

    prefix = "grow"
    goal = _grow("goal")
    reality = _grow("reality")
    options = _grow("options")
    will = _grow("will")
    follow_up_on = forms.DateField(widget=DATE, required=False, label="Follow-up on")

    @classmethod
    def of(cls, session: CoachingSession) -> "SessionEditForm":
        return cls(
            initial={
                field: getattr(session, field)
                for field in ("goal", "reality", "options", "will", "follow_up_on")
            }
        )


class CommitmentForm(forms.Form):
    prefix = "commitment"
    text = forms.CharField(max_length=TEXT_MAX, label="Commitment")
    owner = forms.TypedChoiceField(coerce=int, label="Owner")
    due_on = forms.DateField(widget=DATE, label="Due")

    def __init__(self, *args, session: CoachingSession, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [
            (session.rep_id, session.rep.display_name),
            (session.manager_id, session.manager.display_name),
        ]


class SessionStatusForm(forms.Form):
    status = forms.ChoiceField(choices=SessionStatus.choices)
