"""Forms of the pipeline's browser pages.

They parse input and show the rules of ``pipeline.checks`` early; the
services check them again, and ``attach_service_errors`` puts a service's
``ValidationError`` messages on the fields they name.
"""

import datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from pipeline.assignment import RuleSpec
from pipeline.checks.deals import deal_field_errors, stage_errors
from pipeline.checks.territories import PRIORITY_MAX, RULE_FIELDS, RuleValues, rule_errors
from pipeline.models import (
    Account,
    ActivityKind,
    Contact,
    ContactRole,
    Deal,
    ForecastCategory,
    LostReason,
    Pipeline,
    Stage,
    StageKind,
)
from pipeline.selectors import accounts_visible_to
from quotas.selectors import territories_visible_to
from salesmgr.models import User
from salesmgr.selectors import team_with_self

ACCOUNT_CHOICES_SHOWN = 200


def attach_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's errors on the form fields they name; the rest above the form."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class PageForm(forms.Form):
    """A form whose fields point assistive technology at their error messages."""

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                bound = self[name]
                described = [f"{bound.auto_id}_error"]
                if bound.help_text:
                    described.append(f"{bound.auto_id}_helptext")
                self.fields[name].widget.attrs["aria-describedby"] = " ".join(described)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return obj.display_name


class StageChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Stage) -> str:
        return f"{obj.pipeline.name}: {obj.name}"


def _owners_for(user: User):
    people = (
        User.objects.filter(is_active=True)
        if user.is_admin
        else team_with_self(user).filter(is_active=True)
    )
    return people.order_by("full_name", "username")


class _DealFieldsForm(PageForm):
    name = forms.CharField(max_length=200)
    account = forms.ModelChoiceField(queryset=None)
    owner = PersonChoiceField(queryset=None, required=False, empty_label=None)
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"), initial=Decimal("0.00")
    )
    currency = forms.CharField(max_length=3, min_length=3, initial=settings.DEFAULT_CURRENCY)
    expected_close_date = forms.DateField(widget=DateInput(), label="Expected close date")
    forecast_category = forms.ChoiceField(
        choices=ForecastCategory.choices, initial=ForecastCategory.PIPELINE
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["account"].queryset = accounts_visible_to(user)
        if user.is_rep:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = _owners_for(user)
            self.fields["owner"].required = True

    def limit_account_choices(self, selected_id=None) -> None:
        """Render at most a few hundred accounts; the search box refines the list (HTMX)."""
        shown = list(
            accounts_visible_to(self.user)
            .order_by("name", "id")
            .values_list("pk", "name")[:ACCOUNT_CHOICES_SHOWN]
        )
        raw = self.data.get(self.add_prefix("account")) if self.is_bound else selected_id
        try:
            wanted = int(raw) if raw not in (None, "") else None
        except (TypeError, ValueError):
            wanted = None
        if wanted is not None and all(pk != wanted for pk, _ in shown):
            extra = (
                accounts_visible_to(self.user).filter(pk=wanted).values_list("pk", "name").first()
            )
            if extra:
                shown.insert(0, extra)
        self.fields["account"].widget.choices = [("", "Choose an account")] + shown

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean(self):
        data = super().clean()
        fields = ("name", "amount", "currency", "expected_close_date", "forecast_category")
        if all(field in data for field in fields):
            for field, messages in deal_field_errors(
                **{field: data[field] for field in fields}
            ).items():
                self.add_error(field, messages)
        return data


class DealCreateForm(_DealFieldsForm):
    pipeline = forms.ModelChoiceField(
        queryset=Pipeline.objects.filter(is_active=True), empty_label=None
    )
    stage = StageChoiceField(
        queryset=Stage.objects.none(),
        required=False,
        empty_label="The pipeline's first stage",
        help_text="Closing a deal is a move on the board.",
    )

    field_order = [
        "name",
        "account",
        "pipeline",
        "stage",
        "owner",
        "amount",
        "currency",
        "expected_close_date",
    ]

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.fields["stage"].queryset = (
            Stage.objects.filter(kind=StageKind.OPEN, pipeline__is_active=True)
            .select_related("pipeline")
            .order_by("pipeline__name", "order")
        )
        if "owner" in self.fields:
            self.fields["owner"].initial = user.pk
        self.fields["expected_close_date"].initial = timezone.localdate() + datetime.timedelta(
            days=30
        )

    def clean(self):
        data = super().clean()
        stage, pipeline = data.get("stage"), data.get("pipeline")
        if stage and pipeline:
            errors = stage_errors(
                stage_name=stage.name, stage_pipeline_id=stage.pipeline_id, pipeline_id=pipeline.pk
            )
            for field, messages in errors.items():
                self.add_error(field, messages)
        return data


class DealEditForm(_DealFieldsForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args, user: User, deal: Deal, has_line_items: bool = False, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "name": deal.name,
                "account": deal.account_id,
                "owner": deal.owner_id,
                "amount": deal.amount,
                "currency": deal.currency,
                "expected_close_date": deal.expected_close_date,
                "forecast_category": deal.forecast_category,
                "version": deal.version,
            },
        )
        super().__init__(*args, user=user, **kwargs)
        self.deal = deal
        if has_line_items:
            self.fields["amount"].disabled = True
            self.fields["amount"].help_text = "The total of the line items."


class AccountForm(PageForm):
    name = forms.CharField(max_length=200)
    owner = PersonChoiceField(queryset=None, empty_label=None)
    territory = forms.ModelChoiceField(queryset=None, required=False, empty_label="No territory")
    industry = forms.CharField(max_length=80, required=False)
    region = forms.CharField(max_length=80, required=False)
    employee_count = forms.IntegerField(
        min_value=0, max_value=2_000_000_000, required=False, label="Employees"
    )
    website = forms.URLField(required=False, assume_scheme="https")

    def __init__(self, *args, user: User, account: Account | None = None, **kwargs):
        if account is not None:
            kwargs.setdefault(
                "initial",
                {
                    "name": account.name,
                    "owner": account.owner_id,
                    "territory": account.territory_id,
                    "industry": account.industry,
                    "region": account.region,
                    "employee_count": account.employee_count,
                    "website": account.website,
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories_visible_to(user).order_by("name")
        if user.is_rep:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = _owners_for(user)
            self.fields["owner"].initial = account.owner_id if account else user.pk
            if account is not None:
                self.fields[
                    "owner"
                ].help_text = "A new owner is kept in the account's owner history."


class ContactForm(PageForm):
    first_name = forms.CharField(max_length=80)
    last_name = forms.CharField(max_length=80, required=False)
    title = forms.CharField(max_length=120, required=False, label="Job title")
    email = forms.EmailField(required=False)
    phone = forms.CharField(
        max_length=40, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )

    def __init__(self, *args, contact: Contact | None = None, **kwargs):
        if contact is not None:
            kwargs.setdefault(
                "initial", {name: getattr(contact, name) for name in self.base_fields}
            )
        super().__init__(*args, **kwargs)


class DealContactForm(PageForm):
    """Link a contact to a deal: from the deal page (a contact) or the contact page (a deal)."""

    contact = forms.ModelChoiceField(queryset=None, empty_label="Choose a contact")
    deal = forms.ModelChoiceField(queryset=None, empty_label="Choose a deal")
    role = forms.ChoiceField(choices=ContactRole.choices, initial=ContactRole.OTHER)

    def __init__(self, *args, contacts=None, deals=None, **kwargs):
        super().__init__(*args, **kwargs)
        if contacts is None:
            del self.fields["contact"]
        else:
            self.fields["contact"].queryset = contacts
        if deals is None:
            del self.fields["deal"]
        else:
            self.fields["deal"].queryset = deals


class ActivityForm(PageForm):
    kind = forms.ChoiceField(
        choices=ActivityKind.choices, initial=ActivityKind.NOTE, widget=forms.RadioSelect
    )
    subject = forms.CharField(max_length=200)
    body = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Details"
    )
    occurred_at = forms.DateTimeField(
        required=False,
        label="When",
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )

    def clean_occurred_at(self):
        when = self.cleaned_data["occurred_at"]
        if when and when > timezone.now() + datetime.timedelta(days=1):
            raise ValidationError("Log what happened: the date cannot be in the future.")
        return when


class MoveForm(forms.Form):
    stage = forms.ModelChoiceField(
        queryset=Stage.objects.none(),
        error_messages={"invalid_choice": "That stage is not in this deal's pipeline."},
    )
    version = forms.IntegerField(min_value=1)
    lost_reason = forms.ModelChoiceField(
        queryset=LostReason.objects.filter(is_active=True),
        required=False,
        error_messages={"invalid_choice": "That reason is not offered."},
    )

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = Stage.objects.filter(pipeline_id=deal.pipeline_id)


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class TerritoryRuleForm(PageForm):
    """One assignment rule, typed as people write it: lists are comma-separated.

    ``clean`` runs ``rule_errors``, the check the rule services and the API
    apply, and puts each message on the field it names.
    """

    priority = forms.IntegerField(
        min_value=0,
        max_value=PRIORITY_MAX,
        initial=100,
        help_text="Lower wins where territories compete.",
    )
    countries = forms.CharField(
        required=False, max_length=2000, help_text="ISO codes, comma-separated, such as DE, AT."
    )
    regions = forms.CharField(required=False, max_length=4000, help_text="Comma-separated.")
    industries = forms.CharField(required=False, max_length=4000, help_text="Comma-separated.")
    employees_min = forms.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, label="Employees from"
    )
    employees_max = forms.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, label="Employees up to"
    )
    revenue_min = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, label="Annual revenue from"
    )
    revenue_max = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, label="Annual revenue up to"
    )
    postcode_prefixes = forms.CharField(
        required=False, max_length=4000, help_text="Comma-separated, such as 10, 20."
    )
    accounts = forms.CharField(
        required=False,
        max_length=4000,
        label="Named accounts",
        help_text="Account numbers, comma-separated.",
    )

    @classmethod
    def initial_of(cls, spec: RuleSpec) -> dict:
        """The form's initial values for a saved rule."""
        values = spec.values()
        for name in ("countries", "regions", "industries", "postcode_prefixes"):
            values[name] = ", ".join(values[name])
        values["accounts"] = ", ".join(str(pk) for pk in sorted(spec.account_ids))
        return values

    def clean_countries(self) -> list[str]:
        return [code.upper() for code in _comma_list(self.cleaned_data["countries"])]

    def clean_regions(self) -> list[str]:
        return _comma_list(self.cleaned_data["regions"])

    def clean_industries(self) -> list[str]:
        return _comma_list(self.cleaned_data["industries"])

    def clean_postcode_prefixes(self) -> list[str]:
        return _comma_list(self.cleaned_data["postcode_prefixes"])

    def clean_accounts(self) -> list[int]:
        ids = []
        for part in _comma_list(self.cleaned_data["accounts"]):
            if not part.isdigit() or not 0 < int(part) < 2**63:
                raise ValidationError(f"{part!r} is not an account number.")
            ids.append(int(part))
        if len(set(ids)) != len(ids):
            raise ValidationError("An account is named twice.")
        return ids

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        values = RuleValues(
            **{name: data[name] for name in RULE_FIELDS}, account_ids=data["accounts"]
        )
        for name, messages in rule_errors(values).items():
            self.add_error(name if name in self.fields else None, messages)
        return data

    def spec(self, *, territory_id: int, rule_id: int | None = None) -> RuleSpec:
        """The valid rule as the assignment code reads it."""
        data = self.cleaned_data
        return RuleSpec(
            territory_id=territory_id,
            priority=data["priority"],
            countries=tuple(data["countries"]),
            regions=tuple(data["regions"]),
            industries=tuple(data["industries"]),
            employees_min=data["employees_min"],
            employees_max=data["employees_max"],
            revenue_min=data["revenue_min"],
            revenue_max=data["revenue_max"],
            postcode_prefixes=tuple(data["postcode_prefixes"]),
            account_ids=frozenset(data["accounts"]),
            rule_id=rule_id,
        )
