"""The hiring pages."""

from django.urls import path

from coaching import views_hiring as views

urlpatterns = [
    path("coaching/hiring/", views.hiring_hub, name="hiring"),
    path("coaching/hiring/capacity/", views.capacity_page, name="hiring-capacity"),
    path(
        "coaching/hiring/capacity/open/",
        views.capacity_open_positions,
        name="hiring-capacity-open",
    ),
    path("coaching/hiring/positions/", views.positions_page, name="hiring-positions"),
    path(
        "coaching/hiring/positions/<int:position_id>/",
        views.position_page,
        name="hiring-position",
    ),
    path(
        "coaching/hiring/positions/<int:position_id>/edit/",
        views.position_edit,
        name="hiring-position-edit",
    ),
    path(
        "coaching/hiring/positions/<int:position_id>/applicants/",
        views.applicant_new,
        name="hiring-applicant-new",
    ),
    path("coaching/hiring/board/", views.board_page, name="hiring-board"),
    path("coaching/hiring/board/<slug:stage>/", views.board_column, name="hiring-board-column"),
    path(
        "coaching/hiring/applicants/<int:applicant_id>/",
        views.applicant_page,
        name="hiring-applicant",
    ),
    path(
        "coaching/hiring/applicants/<int:applicant_id>/move/",
        views.applicant_move_view,
        name="hiring-applicant-move",
    ),
    path(
        "coaching/hiring/applicants/<int:applicant_id>/notes/",
        views.applicant_note,
        name="hiring-applicant-note",
    ),
    path(
        "coaching/hiring/applicants/<int:applicant_id>/scorecards/",
        views.applicant_scorecard,
        name="hiring-applicant-scorecard",
    ),
]
