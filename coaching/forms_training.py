"""The forms of the training, mentoring and onboarding pages: they parse input; the services decide."""

from django import forms

from coaching.models import Course, CourseKind
from salesmgr.models import User


def _named(field: forms.ModelChoiceField) -> None:
    field.label_from_instance = lambda user: user.display_name


class AssignForm(forms.Form):
    course = forms.ModelChoiceField(queryset=Course.objects.none(), label="Course")
    people = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="People",
        help_text="Hold Ctrl (or ⌘) to choose several; or tick the whole team.",
    )
    team = forms.BooleanField(required=False, label="The whole team")
    due_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Due on")

    def __init__(self, *args, courses, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["course"].queryset = courses
        self.fields["people"].queryset = people
        _named(self.fields["people"])

    def clean(self):
        data = super().clean()
        if not data.get("team") and not data.get("people"):
            self.add_error("people", "Choose at least one person, or tick the whole team.")
        return data


class MatrixFilterForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("", "Courses and certifications"), *CourseKind.choices],
        required=False,
        label="Show",
    )
    person = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, label="Person", empty_label="Everyone"
    )
    gaps = forms.BooleanField(required=False, label="Only people missing something")

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people
        _named(self.fields["person"])


class MentorshipForm(forms.Form):
    mentor = forms.ModelChoiceField(queryset=User.objects.none(), label="Mentor")
    mentee = forms.ModelChoiceField(queryset=User.objects.none(), label="Mentee")
    started_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Starts on")
    goals = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Goals", max_length=20_000
    )

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("mentor", "mentee"):
            self.fields[name].queryset = people
            _named(self.fields[name])


class MentorMeetingForm(forms.Form):
    held_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Held on")
    notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Notes", max_length=20_000
    )


class OnboardingStartForm(forms.Form):
    prefix = "onboard"
    person = forms.ModelChoiceField(queryset=User.objects.none(), label="New rep")
    started_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), label="Started on")

    def __init__(self, *args, people, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = people
        _named(self.fields["person"])
