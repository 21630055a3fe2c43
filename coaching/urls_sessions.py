"""The coaching-session pages."""

from django.urls import path

from coaching import views_sessions as views

urlpatterns = [
    path("coaching/sessions/", views.sessions_page, name="coaching-sessions"),
    path("coaching/sessions/new/", views.session_new, name="coaching-session-new"),
    path("coaching/sessions/<int:session_id>/", views.session_page, name="coaching-session"),
    path(
        "coaching/sessions/<int:session_id>/edit/",
        views.session_edit,
        name="coaching-session-edit",
    ),
    path(
        "coaching/sessions/<int:session_id>/status/",
        views.session_status,
        name="coaching-session-status",
    ),
    path(
        "coaching/sessions/<int:session_id>/commitments/",
        views.commitment_create,
        name="coaching-session-commitment",
    ),
    path(
        "coaching/sessions/<int:session_id>/commitments/<int:item_id>/complete/",
        views.commitment_done,
        name="coaching-session-commitment-done",
    ),
]
