"""The admin for exchange rates: edited one by one or loaded from a CSV, always through the rate services."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from pipeline.admin.shared import ServiceWrites
from pipeline.checks.rates import RATE_FIELDS, exchange_rate_delete_errors, exchange_rate_errors
from pipeline.models import ExchangeRate
from pipeline.services import (
    RowErrors,
    exchange_rate_create,
    exchange_rate_delete,
    exchange_rate_update,
    exchange_rates_import,
)
from salesmgr.admin import AdminRoleOnly

CSV_MAX_BYTES = 2 * 1024 * 1024


class ExchangeRateForm(forms.ModelForm):
    """Shows the rate rules' errors on the form before the service is called."""

    class Meta:
        model = ExchangeRate
        fields = RATE_FIELDS

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            errors = exchange_rate_errors(
                **{field: cleaned.get(field) for field in RATE_FIELDS}, exchange_rate=self.instance
            )
            for field, message in errors.items():
                self.add_error(field, message)
        return cleaned

    def validate_unique(self):
        """The check above words the clash; the model's own message would say it twice."""


class RatesUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns currency,date,rate with a header line, e.g. EUR,2026-01-01,1.0850: "
        "one unit of the currency in the reporting currency from that date.",
    )


@admin.register(ExchangeRate)
class ExchangeRateAdmin(ServiceWrites, AdminRoleOnly, admin.ModelAdmin):
    form = ExchangeRateForm
    list_display = ("currency", "valid_from", "rate")
    list_filter = ("currency",)
    search_fields = ("currency",)
    date_hierarchy = "valid_from"
    change_list_template = "admin/pipeline/exchangerate/change_list.html"
    entity = "exchange_rate"
    written_fields = RATE_FIELDS
    create_service = exchange_rate_create
    update_service = exchange_rate_update
    delete_service = exchange_rate_delete
    delete_errors = exchange_rate_delete_errors

    def changelist_view(self, request, extra_context=None):
        extra = {"reporting_currency": settings.REPORTING_CURRENCY, **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def get_urls(self):
        upload = path(
            "upload/",
            self.admin_site.admin_view(self.upload_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_upload",
        )
        return [upload, *super().get_urls()]

    def upload_view(self, request):
        """Load rates from a CSV through ``exchange_rates_import``: every row, or none and the rows' errors."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RatesUploadForm(request.POST or None, request.FILES or None)
        row_errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            text = None
            if upload.size > CSV_MAX_BYTES:
                form.add_error("file", "The file is larger than 2 MB; split it.")
            else:
                try:
                    text = upload.read().decode("utf-8-sig")
                except UnicodeDecodeError:
                    form.add_error("file", "The file must be UTF-8 text in CSV form.")
            if text is not None:
                try:
                    loaded = exchange_rates_import(text=text, by=request.user)
                except RowErrors as exc:
                    row_errors = exc.errors
                else:
                    self.message_user(
                        request,
                        f"Loaded {loaded.created} new rate(s) and replaced {loaded.updated}.",
                        messages.SUCCESS,
                    )
                    return redirect(
                        reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload exchange rates",
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "row_errors": row_errors,
            "reporting_currency": settings.REPORTING_CURRENCY,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/pipeline/exchangerate/upload.html", context)
