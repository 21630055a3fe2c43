"""The admin for deals, written through the deal services.

A deal changes stage only through the "Move to stage" page, and deleting one
hides it (soft delete).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from pipeline.admin.deal_history import TransitionInline
from pipeline.admin.line_items import LineItemInline
from pipeline.admin.shared import DeletedFilter, ReadOnlyHistoryAdmin, SoftDeletes
from pipeline.checks.deals import (
    account_errors,
    deal_deleted_errors,
    deal_field_errors,
    lost_reason_errors,
    merge_errors,
    owner_errors,
    pipeline_errors,
    stage_errors,
)
from pipeline.models import Deal, DealLineItem, LostReason, Stage, StageKind
from pipeline.services import (
    LineItemSpec,
    deal_create,
    deal_delete,
    deal_edit,
    deal_move,
    deal_restore,
)
from pipeline.services.deals import UPDATABLE_FIELDS as DEAL_UPDATABLE_FIELDS
from salesmgr.admin import (
    ActingUserForms,
    AdminRoleOnly,
    add_refusal,
    adopt,
    is_autocomplete,
)
from salesmgr.errors import ConflictError


class StageChoiceField(forms.ModelChoiceField):
    """Stages named with their pipeline, since every pipeline has its own "Won"."""

    def label_from_instance(self, stage: Stage) -> str:
        return f"{stage.pipeline.name}: {stage.name}"


def _stage_choices():
    return Stage.objects.select_related("pipeline").order_by("pipeline__name", "order")


DEAL_CREATE_FIELDS = (
    "name",
    "account",
    "owner",
    "pipeline",
    "stage",
    "lost_reason",
    "amount",
    "currency",
    "expected_close_date",
    "forecast_category",
)


class DealAddForm(forms.ModelForm):
    """A new deal, opened by ``deal_create`` (which also writes its first transition)."""

    class Meta:
        model = Deal
        fields = DEAL_CREATE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "stage" in self.fields:
            stage = self.fields["stage"]
            stage.required = False
            stage.help_text = "Leave empty to start in the pipeline's first open stage."
        if "lost_reason" in self.fields:
            self.fields["lost_reason"].help_text = "Only for a deal created in a lost stage."

    def write(self, by) -> Deal:
        return deal_create(
            by=by, **{field: self.cleaned_data.get(field) for field in DEAL_CREATE_FIELDS}
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        pipeline = cleaned["pipeline"]
        stage = (
            cleaned.get("stage")
            or pipeline.stages.filter(kind=StageKind.OPEN).order_by("order").first()
        )
        lost_reason = cleaned.get("lost_reason")
        owner = cleaned.get("owner") or self.acting_user
        errors = merge_errors(
            owner_errors(owner_active=owner.is_active),
            _deal_field_errors(cleaned, self.instance),
            account_errors(account_deleted=cleaned["account"].deleted_at is not None),
            pipeline_errors(
                pipeline_name=pipeline.name,
                is_active=pipeline.is_active,
                stage_kinds=set(pipeline.stages.values_list("kind", flat=True)),
            ),
        )
        if stage is not None:
            errors = merge_errors(
                errors,
                stage_errors(
                    stage_name=stage.name,
                    stage_pipeline_id=stage.pipeline_id,
                    pipeline_id=pipeline.pk,
                ),
                lost_reason_errors(
                    stage_kind=stage.kind,
                    lost_reason_id=lost_reason.pk if lost_reason else None,
                    lost_reason_active=lost_reason.is_active if lost_reason else None,
                ),
            )
        add_refusal(self, ValidationError(errors) if errors else None)
        return cleaned


def _deal_field_errors(cleaned: dict, deal: Deal) -> dict[str, list[str]]:
    """The deal field rules on the submitted values, the deal's own where a field is not on the form."""
    if isinstance(cleaned.get("currency"), str):
        cleaned["currency"] = cleaned["currency"].upper()
    fields = ("name", "amount", "currency", "expected_close_date", "forecast_category")
    return deal_field_errors(
        **{field: cleaned.get(field, getattr(deal, field)) for field in fields}
    )


class DealChangeForm(forms.ModelForm):
    """A deal's details, owner and line items, changed together by ``deal_edit``.

    ``seen_version`` is the version the page showed, so a change made meanwhile
    by someone else is refused instead of silently overwritten.
    """

    seen_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Deal
        fields = (
            "name",
            "account",
            "owner",
            "amount",
            "currency",
            "expected_close_date",
            "forecast_category",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seen_version"].initial = self.instance.version

    def write(self, by, line_items: list[LineItemSpec] | None = None) -> Deal:
        """Apply the changed fields, owner and line items as one edit of the version the page showed."""
        changes = {
            field: self.cleaned_data[field]
            for field in DEAL_UPDATABLE_FIELDS
            if field in self.fields and field in self.changed_data
        }
        owner = self.cleaned_data["owner"] if "owner" in self.changed_data else None
        return deal_edit(
            deal=self.instance,
            by=by,
            expected_version=self.cleaned_data["seen_version"],
            owner=owner,
            line_items=line_items,
            **changes,
        )

    def clean(self):
        cleaned = super().clean()
        seen = cleaned.get("seen_version")
        if seen is not None and seen != self.instance.version:
            raise ValidationError(
                f"Someone else changed this deal since you opened it (version {self.instance.version}, "
                f"you had {seen}). Reload the page to see the current values."
            )
        if self.errors:
            return cleaned
        deal = self.instance
        errors = merge_errors(
            deal_deleted_errors(deleted=deal.deleted_at is not None),
            _deal_field_errors(cleaned, deal),
        )
        if "account" in self.changed_data:
            errors = merge_errors(
                errors, account_errors(account_deleted=cleaned["account"].deleted_at is not None)
            )
        if "owner" in self.changed_data:
            errors = merge_errors(errors, owner_errors(owner_active=cleaned["owner"].is_active))
        add_refusal(self, ValidationError(errors) if errors else None)
        return cleaned


class DealMoveForm(forms.Form):
    to_stage = forms.ModelChoiceField(queryset=Stage.objects.none(), label="Move to stage")
    lost_reason = forms.ModelChoiceField(
        queryset=LostReason.objects.filter(is_active=True),
        required=False,
        label="Lost reason",
        help_text="Needed when the deal moves to a lost stage.",
    )
    seen_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, deal: Deal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].queryset = deal.pipeline.stages.exclude(pk=deal.stage_id).order_by(
            "order"
        )
        self.fields["seen_version"].initial = deal.version


@admin.register(Deal)
class DealAdmin(ActingUserForms, AdminRoleOnly, SoftDeletes, ReadOnlyHistoryAdmin):
    list_display = (
        "name",
        "account",
        "owner",
        "pipeline",
        "stage",
        "status",
        "amount",
        "currency",
        "expected_close_date",
        "forecast_category",
        "is_deleted",
    )
    list_select_related = ("account", "owner", "pipeline", "stage")
    list_filter = (DeletedFilter, "status", "forecast_category", "pipeline")
    search_fields = ("name", "external_id", "account__name", "owner__full_name", "owner__username")
    autocomplete_fields = ("account", "owner")
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("restore",)
    add_fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "account",
                    "owner",
                    "pipeline",
                    "stage",
                    "lost_reason",
                    ("amount", "currency"),
                    "expected_close_date",
                    "forecast_category",
                )
            },
        ),
    )
    change_fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "account",
                    "owner",
                    ("amount", "currency"),
                    "expected_close_date",
                    "forecast_category",
                    "seen_version",
                )
            },
        ),
        (
            "Stage (change it with “Move to stage”)",
            {
                "fields": (
                    "pipeline",
                    "stage",
                    "status",
                    "lost_reason",
                    "stage_entered_at",
                    "closed_at",
                )
            },
        ),
        (
            "Record",
            {"fields": ("version", "created_at", "updated_at", "deleted_at", "external_id")},
        ),
    )
    change_readonly_fields = (
        "pipeline",
        "stage",
        "status",
        "lost_reason",
        "stage_entered_at",
        "closed_at",
        "version",
        "created_at",
        "updated_at",
        "deleted_at",
        "external_id",
    )

    @admin.display(description="Deleted", boolean=True, ordering="deleted_at")
    def is_deleted(self, deal: Deal) -> bool:
        return deal.deleted_at is not None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account", "owner", "pipeline", "stage")

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if is_autocomplete(request):
            queryset = queryset.filter(deleted_at__isnull=True)
        return queryset, may_have_duplicates

    def get_fieldsets(self, request, obj=None):
        return self.change_fieldsets if obj else self.add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if self._has_line_items(obj):
            return (*self.change_readonly_fields, "amount")
        return self.change_readonly_fields

    @staticmethod
    def _has_line_items(deal: Deal) -> bool:
        if not hasattr(deal, "_admin_has_line_items"):
            deal._admin_has_line_items = deal.line_items.exists()
        return deal._admin_has_line_items

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = DealChangeForm if obj else DealAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "stage":
            kwargs["queryset"] = _stage_choices()
            kwargs["form_class"] = StageChoiceField
        if db_field.name == "lost_reason":
            kwargs["queryset"] = LostReason.objects.filter(is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_inlines(self, request, obj):
        return (LineItemInline, TransitionInline) if obj else ()

    def save_model(self, request, obj, form, change):
        if not change:
            adopt(obj, form.write(by=request.user))

    def save_related(self, request, form, formsets, change):
        """A change of the deal and of its line items is one edit, written by ``deal_edit``."""
        if not change:
            super().save_related(request, form, formsets, change)
            return
        line_items = None
        for formset in formsets:
            formset.save(commit=False)  # only lists what changed, for the admin's change message
            if formset.model is DealLineItem and formset.has_changed():
                line_items = formset.specs()
        adopt(form.instance, form.write(by=request.user, line_items=line_items))

    def soft_delete(self, obj, *, by) -> None:
        deal_delete(deal=obj, by=by)

    @admin.action(description="Restore selected deals", permissions=["change"])
    def restore(self, request, queryset):
        restored, refused = 0, []
        for deal in queryset.filter(deleted_at__isnull=False):
            try:
                deal_restore(deal=deal, by=request.user)
            except ValidationError as exc:
                refused.append(f"{deal}: {' '.join(exc.messages)}")
            else:
                restored += 1
        self.message_user(request, f"Restored {restored} deal(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not restored: " + "; ".join(refused), messages.ERROR)

    def get_urls(self):
        move = path(
            "<path:object_id>/move/",
            self.admin_site.admin_view(self.move_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_move",
        )
        return [move, *super().get_urls()]

    def move_view(self, request, object_id):
        """Move a deal to another stage of its pipeline through ``deal_move``."""
        deal = self.get_object(request, unquote(object_id))
        if deal is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, deal):
            raise PermissionDenied
        form = DealMoveForm(request.POST or None, deal=deal)
        if request.method == "POST" and form.is_valid():
            refusal = None
            try:
                with transaction.atomic():
                    moved = deal_move(
                        deal=deal,
                        to_stage=form.cleaned_data["to_stage"],
                        lost_reason=form.cleaned_data["lost_reason"],
                        by=request.user,
                        expected_version=form.cleaned_data["seen_version"],
                    )
                    self.log_change(request, moved, f"Moved to stage {moved.stage}.")
            except ValidationError as exc:
                refusal = exc
            except ConflictError as exc:
                refusal = ValidationError(f"{exc} Reload the page to see the current values.")
            if refusal is None:
                self.message_user(request, f"“{moved}” is now in {moved.stage}.", messages.SUCCESS)
                return redirect(
                    reverse(
                        f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[deal.pk]
                    )
                )
            add_refusal(form, _as_move_refusal(refusal))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Move {deal}",
            "subtitle": None,
            "opts": self.opts,
            "original": deal,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/pipeline/deal/move.html", context)


def _as_move_refusal(refusal: ValidationError) -> ValidationError:
    """Name the move form's field where ``deal_move`` says ``stage``."""
    if not hasattr(refusal, "error_dict"):
        return refusal
    return ValidationError(
        {
            ("to_stage" if field == "stage" else field): errors
            for field, errors in refusal.error_dict.items()
        }
    )
