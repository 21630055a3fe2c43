"""The ride-along pages and the skills history."""

from django.urls import path

from coaching import views_ride_alongs as views

urlpatterns = [
    path("coaching/ride-alongs/", views.ride_alongs_page, name="ride-alongs"),
    path("coaching/ride-alongs/new/", views.ride_along_new, name="ride-along-new"),
    path("coaching/ride-alongs/<int:ride_along_id>/", views.ride_along_page, name="ride-along"),
    path(
        "coaching/ride-alongs/<int:ride_along_id>/edit/",
        views.ride_along_edit,
        name="ride-along-edit",
    ),
    path(
        "coaching/ride-alongs/<int:ride_along_id>/delete/",
        views.ride_along_remove,
        name="ride-along-delete",
    ),
    path("coaching/skills/<int:rep_id>/", views.skills_page, name="skills"),
]
