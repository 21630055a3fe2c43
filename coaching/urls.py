"""The one-on-one pages."""

from django.urls import path

from coaching import views, views_hub

urlpatterns = [
    path("coaching/", views_hub.hub, name="coaching"),
    path("one-on-ones/", views.one_on_ones, name="one-on-ones"),
    path("one-on-ones/schedule/", views.schedule, name="one-on-one-schedule"),
    path("one-on-ones/series/<int:series_id>/", views.series_detail, name="one-on-one-series"),
    path(
        "one-on-ones/series/<int:series_id>/stop/", views.series_end, name="one-on-one-series-stop"
    ),
    path("one-on-ones/<int:meeting_id>/", views.meeting_page, name="one-on-one"),
    path("one-on-ones/<int:meeting_id>/status/", views.meeting_status, name="one-on-one-status"),
    path("one-on-ones/<int:meeting_id>/notes/", views.meeting_notes, name="one-on-one-notes"),
    path(
        "one-on-ones/<int:meeting_id>/talking-points/",
        views.talking_point_create,
        name="one-on-one-talking-point",
    ),
    path(
        "one-on-ones/<int:meeting_id>/action-items/",
        views.action_item_create,
        name="one-on-one-action-item",
    ),
    path(
        "action-items/<int:item_id>/complete/",
        views.action_item_done,
        name="action-item-complete",
    ),
    path("home/action-items/", views.home_action_items, name="home-action-items"),
    path("home/celebrations/", views.home_celebrations, name="home-celebrations"),
    path("home/shout-outs/", views.shout_out_add, name="shout-out-add"),
]
