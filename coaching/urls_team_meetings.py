"""Browser pages of the team meetings."""

from django.urls import path

from coaching import views_team_meetings as views

urlpatterns = [
    path("coaching/team-meetings/", views.team_meetings_page, name="team-meetings"),
    path(
        "coaching/team-meetings/schedule/",
        views.team_meeting_schedule_view,
        name="team-meeting-schedule",
    ),
    path("coaching/team-meetings/<int:meeting_id>/", views.team_meeting_page, name="team-meeting"),
    path(
        "coaching/team-meetings/<int:meeting_id>/status/",
        views.team_meeting_status,
        name="team-meeting-status",
    ),
    path(
        "coaching/team-meetings/<int:meeting_id>/minutes/",
        views.team_meeting_minutes,
        name="team-meeting-minutes",
    ),
    path(
        "coaching/team-meetings/<int:meeting_id>/next/",
        views.team_meeting_next,
        name="team-meeting-next",
    ),
    path(
        "coaching/team-meetings/<int:meeting_id>/action-items/",
        views.team_item_create,
        name="team-meeting-action-item",
    ),
    path(
        "coaching/team-meetings/<int:meeting_id>/action-items/<int:item_id>/complete/",
        views.team_item_done,
        name="team-meeting-action-item-complete",
    ),
]
