"""Browser pages of the reports: the home page and the dashboard."""

from django.urls import path

from reports import views

urlpatterns = [
    path("", views.home, name="home"),
    path("home/panels/", views.home_panels, name="home-panels"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("gap/", views.gap, name="gap"),
    path("dashboard/status/", views.dashboard_status, name="dashboard-status"),
    path("dashboard/refresh/", views.dashboard_refresh, name="dashboard-refresh"),
    path(
        "dashboard/refresh/<str:task_id>/",
        views.dashboard_refresh_status,
        name="dashboard-refresh-status",
    ),
]
