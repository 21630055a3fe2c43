"""Browser pages of the insights."""

from django.urls import path

from coaching import views_insights

urlpatterns = [
    path("insights/", views_insights.insights_page, name="insights"),
]
