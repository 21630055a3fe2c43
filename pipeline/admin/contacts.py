"""The admin for contacts, on their own and inline on their account, written through the contact services."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from pipeline.admin.shared import ReadOnlyHistoryAdmin
from pipeline.checks.contacts import CONTACT_FIELDS, contact_account_errors
from pipeline.models import Account, Contact
from pipeline.services import contact_create, contact_delete, contact_update
from salesmgr.admin import ActingUserForms, AdminRoleOnly, add_refusal, adopt


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ("account", *CONTACT_FIELDS)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        account = cleaned["account"]
        if self.instance.pk is None or account.pk != self.instance.account_id:
            errors = contact_account_errors(account=account)
            add_refusal(self, ValidationError(errors) if errors else None)
        return cleaned


class ContactFormSet(BaseInlineFormSet):
    """An account's contacts: none is added while the account is deleted."""

    def clean(self):
        super().clean()
        adding = any(
            form.instance.pk is None and form.has_changed() and not form.cleaned_data.get("DELETE")
            for form in self.forms
        )
        if adding:
            for messages in contact_account_errors(account=self.instance).values():
                raise ValidationError(messages)


def contact_formset_save(formset: ContactFormSet, by) -> None:
    """Write an account's inline contacts through the contact services, ``by`` acting."""
    formset.save(commit=False)  # lists what changed, for the admin's change message
    for contact in formset.deleted_objects:
        contact_delete(contact=contact, by=by)
    for contact, changed in formset.changed_objects:
        changes = {field: getattr(contact, field) for field in changed if field in CONTACT_FIELDS}
        adopt(contact, contact_update(contact=contact, by=by, **changes))
    for contact in formset.new_objects:
        fields = {field: getattr(contact, field) for field in CONTACT_FIELDS}
        adopt(contact, contact_create(by=by, account=formset.instance, **fields))


class ContactInline(AdminRoleOnly, admin.TabularInline):
    model = Contact
    formset = ContactFormSet
    fields = CONTACT_FIELDS
    extra = 0


@admin.register(Contact)
class ContactAdmin(ActingUserForms, AdminRoleOnly, ReadOnlyHistoryAdmin):
    form = ContactForm
    list_display = ("__str__", "account", "title", "email", "phone")
    list_select_related = ("account",)
    search_fields = ("first_name", "last_name", "email", "account__name")
    autocomplete_fields = ("account",)
    readonly_fields = ("created_at",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        account: Account = form.cleaned_data["account"]
        if not change:
            fields = {field: form.cleaned_data[field] for field in CONTACT_FIELDS}
            adopt(obj, contact_create(by=request.user, account=account, **fields))
        elif form.has_changed():
            stored = Contact.objects.get(
                pk=obj.pk
            )  # the form has already set its own copy's fields
            changes = {
                field: form.cleaned_data[field]
                for field in form.changed_data
                if field in CONTACT_FIELDS
            }
            adopt(obj, contact_update(contact=stored, by=request.user, account=account, **changes))

    def delete_model(self, request, obj):
        contact_delete(contact=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for contact in queryset:
            contact_delete(contact=contact, by=request.user)
