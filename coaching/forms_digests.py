"""The digest settings form: it parses input; the service decides."""

from django import forms

from coaching.models import Weekday
from pipeline.forms import PageForm

HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]


class DigestPreferenceForm(PageForm):
    enabled = forms.BooleanField(required=False, label="Send me the weekly digest")
    weekday = forms.TypedChoiceField(choices=Weekday.choices, coerce=int, label="Day")
    hour = forms.TypedChoiceField(choices=HOURS, coerce=int, label="Hour")
    time_zone = forms.CharField(
        required=False,
        max_length=64,
        label="Time zone",
        help_text="A name such as Europe/Paris; blank for the site's time zone.",
    )
