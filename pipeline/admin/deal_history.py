"""A deal's past, to look up: its stage transitions and recorded versions."""

from django.contrib import admin

from pipeline.models import Deal, StageTransition
from salesmgr.admin import ReadOnlyForAdmins


class TransitionInline(ReadOnlyForAdmins, admin.TabularInline):
    model = StageTransition
    fields = ("at", "from_stage", "to_stage", "by")
    readonly_fields = fields
    ordering = ("at", "id")
    verbose_name_plural = "Stage history"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_stage", "to_stage", "by")


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
