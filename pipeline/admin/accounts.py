"""The admin for accounts, written through the account services; deleting one hides it."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from pipeline.admin.contacts import ContactInline, contact_formset_save
from pipeline.admin.shared import DeletedFilter, ReadOnlyHistoryAdmin, SoftDeletes
from pipeline.checks.accounts import ACCOUNT_FIELDS, account_owner_errors, account_owner_refusal
from pipeline.models import Account
from pipeline.services import account_create, account_delete, account_restore, account_update
from salesmgr.admin import (
    ActingUserForms,
    AdminRoleOnly,
    add_refusal,
    adopt,
    is_autocomplete,
)


class AccountForm(forms.ModelForm):
    website = forms.URLField(required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = Account
        fields = ("owner", *ACCOUNT_FIELDS)

    def write(self, by) -> Account:
        """Create the account, or update it as stored: the form has already set its own copy's fields."""
        fields = {
            field: self.cleaned_data[field] for field in ACCOUNT_FIELDS if field in self.fields
        }
        owner = self.cleaned_data["owner"]
        if self.instance.pk:
            stored = Account.objects.get(pk=self.instance.pk)
            return account_update(account=stored, by=by, owner=owner, **fields)
        return account_create(by=by, owner=owner, **fields)

    def clean(self):
        cleaned = super().clean()
        if self.errors or not self.has_changed():
            return cleaned
        account = self.instance if self.instance.pk else None
        owner = cleaned["owner"]
        refusal = account_owner_refusal(by=self.acting_user, owner=owner, account=account)
        if refusal:
            self.add_error("owner", refusal)
        elif account is None or owner.pk != account.owner_id:
            errors = account_owner_errors(owner_active=owner.is_active)
            add_refusal(self, ValidationError(errors) if errors else None)
        return cleaned


@admin.register(Account)
class AccountAdmin(ActingUserForms, AdminRoleOnly, SoftDeletes, ReadOnlyHistoryAdmin):
    form = AccountForm
    list_display = ("name", "owner", "territory", "industry", "region", "is_deleted")
    list_select_related = ("owner", "territory")
    list_filter = (DeletedFilter, "industry", "region")
    search_fields = ("name", "owner__full_name", "owner__username")
    autocomplete_fields = ("owner", "territory")
    readonly_fields = ("created_at", "deleted_at")
    inlines = (ContactInline,)
    actions = ("restore",)
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

    def save_formset(self, request, form, formset, change):
        contact_formset_save(formset, by=request.user)

    def soft_delete(self, obj, *, by) -> None:
        account_delete(account=obj, by=by)

    @admin.action(description="Restore selected accounts", permissions=["change"])
    def restore(self, request, queryset):
        restored = 0
        for account in queryset.filter(deleted_at__isnull=False):
            account_restore(account=account, by=request.user)
            restored += 1
        self.message_user(request, f"Restored {restored} account(s).", messages.SUCCESS)
