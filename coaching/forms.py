"""The forms of the one-on-one pages: they parse input; the services decide."""

from django import forms

from coaching.checks import SHOUT_OUT_MAX, TEXT_MAX
from coaching.models import Cadence, MeetingStatus, OneOnOne, Weekday
from salesmgr.models import User


class ScheduleForm(forms.Form):
    rep = forms.ModelChoiceField(queryset=User.objects.none(), label="Rep")
    cadence = forms.ChoiceField(choices=Cadence.choices, initial=Cadence.WEEKLY)
    weekday = forms.TypedChoiceField(choices=Weekday.choices, coerce=int, label="Day")
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="Time")
    starts_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), label="First on or after"
    )

    def __init__(self, *args, reps, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = reps
        self.fields["rep"].label_from_instance = lambda user: user.display_name


class TalkingPointForm(forms.Form):
    prefix = "point"  # the meeting page also has the action item's text field
    text = forms.CharField(max_length=TEXT_MAX, label="Talking point")


class NotesForm(forms.Form):
    shared_notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Shared notes",
        help_text="The rep reads these.",
    )
    private_notes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Private notes",
        help_text="Only you, the rep's other managers and admins ever see these.",
    )


class ActionItemForm(forms.Form):
    prefix = "item"
    text = forms.CharField(max_length=TEXT_MAX, label="Action item")
    owner = forms.TypedChoiceField(coerce=int, label="Owner")
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Due")

    def __init__(self, *args, meeting: OneOnOne, **kwargs):
        super().__init__(*args, **kwargs)
        series = meeting.series
        self.fields["owner"].choices = [
            (series.rep_id, series.rep.display_name),
            (series.manager_id, series.manager.display_name),
        ]


class RecordForm(forms.Form):
    status = forms.ChoiceField(choices=MeetingStatus.choices)


class ShoutOutForm(forms.Form):
    prefix = "shout"
    rep = forms.ModelChoiceField(queryset=User.objects.none(), label="To")
    message = forms.CharField(max_length=SHOUT_OUT_MAX, label="Shout-out")

    def __init__(self, *args, reps, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rep"].queryset = reps
        self.fields["rep"].label_from_instance = lambda user: user.display_name
