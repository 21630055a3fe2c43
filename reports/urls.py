"""Browser pages of the reports: the home page and the dashboard."""

from django.urls import path

from reports import health, planner, territories, views
from reports.budget import views as budget
from reports.catalog import views as catalog
from reports.compensation import views as compensation

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("home/panels/", views.home_panels, name="home-panels"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("gap/", views.gap, name="gap"),
    path("reports/", catalog.report_index, name="reports"),
    path("reports/<slug:slug>/", catalog.report_page, name="report"),
    path("reports/<slug:slug>/export.<str:fmt>", catalog.report_export, name="report-export"),
    path("budget/", budget.budgets_page, name="budgets"),
    path("budget/<int:pk>/", budget.budget_page, name="budget"),
    path("compensation/", compensation.statements_page, name="compensation"),
    path(
        "compensation/compute/", compensation.statements_compute_view, name="compensation-compute"
    ),
    path(
        "compensation/export.<str:fmt>", compensation.statements_export, name="compensation-export"
    ),
    path("compensation/what-if/", compensation.what_if_page, name="compensation-what-if"),
    path("compensation/plans/", compensation.plans_page, name="compensation-plans"),
    path(
        "compensation/plans/<int:pk>/", compensation.plan_edit_page, name="compensation-plan-edit"
    ),
    path(
        "compensation/plans/<int:pk>/delete/",
        compensation.plan_delete_view,
        name="compensation-plan-delete",
    ),
    path(
        "compensation/statements/<int:pk>/",
        compensation.statement_page,
        name="compensation-statement",
    ),
    path(
        "compensation/statements/<int:pk>/<str:what>/",
        compensation.statement_action,
        name="compensation-statement-action",
    ),
    path("quotas/planner/", planner.planner, name="quota-planner"),
    path("quotas/planner/cell/", planner.planner_cell, name="quota-planner-cell"),
    path("quotas/planner/copy/", planner.planner_copy, name="quota-planner-copy"),
    path("quotas/planner/spread/", planner.planner_spread, name="quota-planner-spread"),
    path("quotas/planner/upload/", planner.planner_upload, name="quota-planner-upload"),
    path("quotas/planner/basis/", planner.planner_basis, name="quota-planner-basis"),
    path("territories/", territories.territory_tree, name="territory-tree"),
    path("territories/<int:pk>/", territories.territory_detail, name="territory-detail"),
    path(
        "territories/<int:pk>/handovers/",
        territories.territory_handovers,
        name="territory-handovers",
    ),
    path(
        "territories/<int:pk>/rules/preview/",
        territories.territory_rules_preview,
        name="territory-rules-preview",
    ),
    path(
        "territories/<int:pk>/rules/apply/",
        territories.territory_rules_apply,
        name="territory-rules-apply",
    ),
    path(
        "territories/<int:pk>/members/preview/",
        territories.territory_members_preview,
        name="territory-members-preview",
    ),
    path(
        "territories/<int:pk>/members/apply/",
        territories.territory_members_apply,
        name="territory-members-apply",
    ),
    path(
        "territories/<int:pk>/realignments/<int:job_id>/",
        territories.realignment_progress,
        name="territory-realignment",
    ),
    path("dashboard/status/", views.dashboard_status, name="dashboard-status"),
    path("dashboard/refresh/", views.dashboard_refresh, name="dashboard-refresh"),
    path(
        "dashboard/refresh/<str:task_id>/",
        views.dashboard_refresh_status,
        name="dashboard-refresh-status",
    ),
]
