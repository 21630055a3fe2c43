"""The forms of the team meeting pages: they parse input; the services decide."""

import datetime

from django import forms
from django.utils import timezone

from coaching.checks import TEXT_MAX
from coaching.models import TeamMeetingStatus
from coaching.services.team_meetings import MINUTES_MAX
from salesmgr.models import User


class TeamMeetingScheduleForm(forms.Form):
    manager = forms.ModelChoiceField(queryset=User.objects.none(), label="Team of", required=False)
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Day")
    time = forms.TimeField(widget=forms.TimeInput(attrs={"type": "time"}), label="Time")

    def __init__(self, *args, managers, **kwargs):
        super().__init__(*args, **kwargs)
        if managers is None:
            del self.fields["manager"]
        else:
            self.fields["manager"].queryset = managers
            self.fields["manager"].required = True
            self.fields["manager"].label_from_instance = lambda user: user.display_name

    def scheduled_at(self) -> datetime.datetime:
        data = self.cleaned_data
        return timezone.make_aware(datetime.datetime.combine(data["day"], data["time"]))


class MinutesForm(forms.Form):
    minutes = forms.CharField(
        required=False,
        max_length=MINUTES_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Minutes",
        help_text="The whole team reads these.",
    )


class TeamActionItemForm(forms.Form):
    prefix = "item"
    text = forms.CharField(max_length=TEXT_MAX, label="Action item")
    owner = forms.TypedChoiceField(coerce=int, label="Owner")
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Due")

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [(person.pk, person.display_name) for person in people]


class TeamRecordForm(forms.Form):
    status = forms.ChoiceField(choices=TeamMeetingStatus.choices)
