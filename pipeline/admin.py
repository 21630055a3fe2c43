"""The admin for pipelines, accounts, deals and what happens to them.

Deals, accounts, activities, line items and new stages are written through
``pipeline.services``; a deal changes stage only through the "Move to stage"
page, and deleting a deal or an account here hides it (soft delete).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from pipeline.checks.deals import (
    account_errors,
    deal_deleted_errors,
    deal_field_errors,
    line_item_errors,
    lost_reason_errors,
    merge_errors,
    owner_errors,
    pipeline_errors,
    stage_errors,
)
from pipeline.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealLineItem,
    LostReason,
    Pipeline,
    Product,
    Stage,
    StageKind,
    StageTransition,
)
from pipeline.services import (
    LineItemSpec,
    account_create,
    account_delete,
    account_restore,
    account_update,
    activity_log,
    deal_create,
    deal_delete,
    deal_edit,
    deal_move,
    deal_restore,
    pipeline_check_ready,
    stage_create,
)
from pipeline.services.accounts import ACCOUNT_FIELDS
from pipeline.services.deals import UPDATABLE_FIELDS as DEAL_UPDATABLE_FIELDS
from salesmgr.admin import (
    ActingUserForms,
    AdminRoleOnly,
    ReadOnlyForAdmins,
    add_refusal,
    adopt,
    deletion_summary,
    is_autocomplete,
    service_refusal,
)
from salesmgr.errors import ConflictError


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return (("no", "Not deleted"), ("yes", "Deleted"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class StageChoiceField(forms.ModelChoiceField):
    """Stages named with their pipeline, since every pipeline has its own "Won"."""

    def label_from_instance(self, stage: Stage) -> str:
        return f"{stage.pipeline.name}: {stage.name}"


def _stage_choices():
    return Stage.objects.select_related("pipeline").order_by("pipeline__name", "order")


# Pipelines and stages


class StageForm(forms.ModelForm):
    """A stage's won/lost uniqueness and kind, checked before the database refuses them."""

    class Meta:
        model = Stage
        fields = ("pipeline", "name", "order", "probability", "kind", "rot_days")

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        adding = self.instance._state.adding
        moved = {"kind", "pipeline"} & set(self.changed_data)
        if not adding and moved and self.instance.deals.exists():
            self.add_error(
                sorted(moved)[0],
                "Deals sit in this stage; move them out before changing its kind or pipeline.",
            )
        elif kind in (StageKind.WON, StageKind.LOST) and (adding or moved):
            # In the pipeline's stage inline this is the parent pipeline, unsaved when new.
            pipeline = cleaned.get("pipeline")
            if pipeline is not None and pipeline.pk is not None:
                others = Stage.objects.filter(pipeline=pipeline, kind=kind).exclude(
                    pk=self.instance.pk
                )
                if others.exists():
                    self.add_error(
                        "kind", f"Pipeline {pipeline.name!r} already has a {kind} stage."
                    )
        return cleaned


class StageFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kinds = [
            form.cleaned_data.get("kind")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        for kind in (StageKind.WON, StageKind.LOST):
            if kinds.count(kind) > 1:
                raise ValidationError(f"A pipeline has at most one {kind} stage.")


class StageInline(AdminRoleOnly, admin.TabularInline):
    model = Stage
    form = StageForm
    formset = StageFormSet
    fields = ("name", "order", "probability", "kind", "rot_days")
    ordering = ("order",)
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "is_active", "stage_count", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("readiness",)
    fields = ("name", "description", "is_active", "created_at", "readiness")
    inlines = (StageInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(stage_count=Count("stages"))

    @admin.display(description="Stages", ordering="stage_count")
    def stage_count(self, pipeline: Pipeline) -> int:
        return pipeline.stage_count

    @admin.display(description="Takes deals")
    def readiness(self, pipeline: Pipeline) -> str:
        if pipeline.pk is None:
            return "Not until it has an open, a won and a lost stage."
        try:
            pipeline_check_ready(pipeline)
        except ValidationError as exc:
            return " ".join(exc.messages)
        return "Yes"

    def save_formset(self, request, form, formset, change):
        """Save the stage inline: new stages through ``stage_create``.

        Deletions and edits go first, so that a stage given up frees its order
        or kind before a new stage takes it.
        """
        changed = formset.save(commit=False)
        for stage in formset.deleted_objects:
            stage.delete()
        for stage in changed:
            if stage.pk is not None:
                stage.save()
        for stage in changed:
            if stage.pk is None:
                stage_create(
                    pipeline=form.instance,
                    name=stage.name,
                    order=stage.order,
                    probability=stage.probability,
                    kind=stage.kind,
                    rot_days=stage.rot_days,
                )


@admin.register(Stage)
class StageAdmin(AdminRoleOnly, admin.ModelAdmin):
    form = StageForm
    list_display = ("name", "pipeline", "order", "probability", "kind", "rot_days")
    list_select_related = ("pipeline",)
    list_filter = ("pipeline", "kind")
    search_fields = ("name", "pipeline__name")
    ordering = ("pipeline__name", "order")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        adopt(
            obj,
            stage_create(
                pipeline=obj.pipeline,
                name=obj.name,
                order=obj.order,
                probability=obj.probability,
                kind=obj.kind,
                rot_days=obj.rot_days,
            ),
        )


@admin.register(Product)
class ProductAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "sku", "unit_price", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name", "sku")


@admin.register(LostReason)
class LostReasonAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("name", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)


# Accounts and contacts


class AccountForm(forms.ModelForm):
    website = forms.URLField(required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = Account
        fields = ("owner", *ACCOUNT_FIELDS)

    def write(self, by) -> Account:
        fields = {
            field: self.cleaned_data[field] for field in ACCOUNT_FIELDS if field in self.fields
        }
        owner = self.cleaned_data["owner"]
        if self.instance.pk:
            return account_update(account=self.instance, by=by, owner=owner, **fields)
        return account_create(by=by, owner=owner, **fields)

    def clean(self):
        cleaned = super().clean()
        if not self.errors and self.has_changed():
            add_refusal(self, service_refusal(lambda: self.write(by=self.acting_user)))
        return cleaned


class ContactInline(AdminRoleOnly, admin.TabularInline):
    model = Contact
    fields = ("first_name", "last_name", "title", "email", "phone")
    extra = 0


@admin.register(Account)
class AccountAdmin(ActingUserForms, AdminRoleOnly, admin.ModelAdmin):
    form = AccountForm
    list_display = ("name", "owner", "territory", "industry", "region", "is_deleted")
    list_select_related = ("owner", "territory")
    list_filter = (DeletedFilter, "industry", "region")
    search_fields = ("name", "owner__full_name", "owner__username")
    autocomplete_fields = ("owner", "territory")
    readonly_fields = ("created_at", "deleted_at")
    inlines = (ContactInline,)
    actions = ("restore",)
    delete_confirmation_template = "admin/pipeline/soft_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/pipeline/soft_delete_selected_confirmation.html"
    show_full_result_count = False

    @admin.display(description="Deleted", boolean=True, ordering="deleted_at")
    def is_deleted(self, account: Account) -> bool:
        return account.deleted_at is not None

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if is_autocomplete(request):
            queryset = queryset.filter(deleted_at__isnull=True)
        return queryset, may_have_duplicates

    def save_model(self, request, obj, form, change):
        if not change or form.has_changed():
            adopt(obj, form.write(by=request.user))

    def get_deleted_objects(self, objs, request):
        return deletion_summary(self, objs)

    def delete_model(self, request, obj):
        account_delete(account=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for account in queryset:
            account_delete(account=account, by=request.user)

    @admin.action(description="Restore selected accounts", permissions=["change"])
    def restore(self, request, queryset):
        restored = 0
        for account in queryset.filter(deleted_at__isnull=False):
            account_restore(account=account, by=request.user)
            restored += 1
        self.message_user(request, f"Restored {restored} account(s).", messages.SUCCESS)


@admin.register(Contact)
class ContactAdmin(AdminRoleOnly, admin.ModelAdmin):
    list_display = ("__str__", "account", "title", "email", "phone")
    list_select_related = ("account",)
    search_fields = ("first_name", "last_name", "email", "account__name")
    autocomplete_fields = ("account",)
    show_full_result_count = False


# Deals

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
        stage = cleaned.get("stage") or pipeline.stages.filter(kind=StageKind.OPEN).order_by("order").first()
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
                stage_errors(stage_name=stage.name, stage_pipeline_id=stage.pipeline_id, pipeline_id=pipeline.pk),
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
    return deal_field_errors(**{field: cleaned.get(field, getattr(deal, field)) for field in fields})


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


class LineItemForm(forms.ModelForm):
    class Meta:
        model = DealLineItem
        fields = ("product", "quantity", "unit_price", "discount_pct")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit_price"].required = False
        self.fields["unit_price"].help_text = "Empty for the product's list price."

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("unit_price") is None and cleaned.get("product") is not None:
            cleaned["unit_price"] = cleaned["product"].unit_price
        return cleaned


class LineItemFormSet(BaseInlineFormSet):
    """The deal's line items, replaced as a whole in the deal's one ``deal_edit``."""

    def specs(self) -> list[LineItemSpec]:
        return [
            LineItemSpec(
                product=form.cleaned_data["product"],
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                discount_pct=form.cleaned_data.get("discount_pct") or 0,
            )
            for form in self._kept_forms()
        ]

    def clean(self):
        super().clean()
        if any(self.errors) or not self.has_changed():
            return
        for form, spec in zip(self._kept_forms(), self.specs(), strict=True):
            errors = line_item_errors(
                product_active=spec.product.is_active,
                quantity=spec.quantity,
                unit_price=spec.unit_price,
                discount_pct=spec.discount_pct,
            )
            for field, problems in errors.items():
                form.add_error(field, problems)

    def _kept_forms(self) -> list[forms.Form]:
        return [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]


class LineItemInline(AdminRoleOnly, admin.TabularInline):
    model = DealLineItem
    form = LineItemForm
    formset = LineItemFormSet
    fields = ("product", "quantity", "unit_price", "discount_pct", "total")
    readonly_fields = ("total",)
    autocomplete_fields = ("product",)
    extra = 0
    verbose_name_plural = "Line items (a deal with line items is worth their total)"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.acting_user = request.user  # the factory built a fresh class for this request
        return formset

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")

    @admin.display(description="Line total")
    def total(self, item: DealLineItem):
        return item.total if item.pk else "-"


class TransitionInline(ReadOnlyForAdmins, admin.TabularInline):
    model = StageTransition
    fields = ("at", "from_stage", "to_stage", "by")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "Stage history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_stage", "to_stage", "by")


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
class DealAdmin(ActingUserForms, AdminRoleOnly, SimpleHistoryAdmin):
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
    delete_confirmation_template = "admin/pipeline/soft_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/pipeline/soft_delete_selected_confirmation.html"
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

    def get_deleted_objects(self, objs, request):
        return deletion_summary(self, objs)

    def delete_model(self, request, obj):
        deal_delete(deal=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for deal in queryset:
            deal_delete(deal=deal, by=request.user)

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

    def revert_disabled(self, request, obj=None):
        # An old version may not be saved back over a deal: that would skip the services.
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

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


@admin.register(DealLineItem)
class DealLineItemAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    """Line items across deals, to look up; they are edited on their deal's page."""

    list_display = ("deal", "product", "quantity", "unit_price", "discount_pct", "total")
    list_select_related = ("deal", "product")
    search_fields = ("deal__name", "product__name", "product__sku")
    ordering = ("-id",)
    show_full_result_count = False

    @admin.display(description="Line total")
    def total(self, item: DealLineItem):
        return item.total


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    list_display = ("deal", "from_stage", "to_stage", "at", "by")
    list_select_related = ("deal", "from_stage", "to_stage", "by")
    list_filter = ("to_stage__pipeline", "to_stage__kind")
    search_fields = ("deal__name",)
    ordering = ("-at", "-id")
    show_full_result_count = False


@admin.register(Deal.history.model)
class HistoricalDealAdmin(ReadOnlyForAdmins, admin.ModelAdmin):
    """Every recorded version of every deal, newest first."""

    list_display = (
        "history_date",
        "id",
        "name",
        "stage",
        "status",
        "amount",
        "history_type",
        "history_user",
    )
    list_select_related = ("stage", "history_user")
    list_filter = ("history_type", "status")
    search_fields = ("name",)
    ordering = ("-history_date", "-history_id")
    show_full_result_count = False


# Activities


ACTIVITY_LOG_FIELDS = ("kind", "subject", "body", "occurred_at", "deal", "account")


class ActivityAddForm(forms.ModelForm):
    class Meta:
        model = Activity
        fields = ACTIVITY_LOG_FIELDS

    def write(self, by) -> Activity:
        return activity_log(
            by=by, **{field: self.cleaned_data.get(field) for field in ACTIVITY_LOG_FIELDS}
        )

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            add_refusal(self, service_refusal(lambda: self.write(by=self.acting_user)))
        return cleaned


@admin.register(Activity)
class ActivityAdmin(ActingUserForms, AdminRoleOnly, admin.ModelAdmin):
    list_display = ("subject", "kind", "occurred_at", "author", "deal", "account")
    list_select_related = ("author", "deal", "account")
    list_filter = ("kind",)
    search_fields = ("subject", "deal__name", "account__name")
    autocomplete_fields = ("deal", "account")
    ordering = ("-occurred_at", "-id")
    show_full_result_count = False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ActivityAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ACTIVITY_LOG_FIELDS
        return ("kind", "subject", "body", "occurred_at", "author", "deal", "account", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # What an activity is about, and who logged it, is fixed once it is logged.
        return ("author", "deal", "account", "created_at") if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            adopt(obj, form.write(by=request.user))
