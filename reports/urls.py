"""Browser pages of the reports: the home page and the dashboard."""

from django.urls import path

from reports import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
